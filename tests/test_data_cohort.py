"""The synthetic cardiovascular cohort: its ground truth is real, exact and recoverable from data alone.

Large samples are drawn once per module; the two GAM fits (with and without the age x BMI term) are
shared by the shape and interaction tests.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from scipy.stats import chi2
from sklearn.compose import ColumnTransformer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, SplineTransformer

from xaihealth.data import make_cardio_cohort
from xaihealth.data.cohort import (
    AGE_MEAN,
    BMI_MEAN,
    FEATURES,
    INTERACTION_COEF,
    INTERACTION_NAME,
    LEAK_FEATURE,
    CardioCohort,
)

EFFECT_FEATURES = ["age", "male", "bmi", "sbp", "chol", "smoker", "diabetes", "qtc"]
AGE_EDGES = np.arange(35.0, 95.1, 2.5)  # 2.5-year bins; 65 and 80 are bin edges


@pytest.fixture(scope="module")
def big() -> CardioCohort:
    return make_cardio_cohort(200_000, seed=2024, leak=True)


@pytest.fixture(scope="module")
def train() -> CardioCohort:
    return make_cardio_cohort(20_000, seed=11)


@pytest.fixture(scope="module")
def test_set() -> CardioCohort:
    return make_cardio_cohort(20_000, seed=12)


@pytest.fixture(scope="module")
def gams(train: CardioCohort) -> dict[bool, Pipeline]:
    """Logistic GAMs fitted on data alone: binned age, splines, one-hots; with/without an age x BMI term."""
    return {with_term: _gam(with_term).fit(train.X, train.y) for with_term in (False, True)}


# ---- determinism and the shape of the output ---------------------------------------------------------------


def test_same_seed_gives_identical_outputs_and_another_seed_does_not() -> None:
    a = make_cardio_cohort(500, seed=7, leak=True, n_noise=3)
    b = make_cardio_cohort(500, seed=7, leak=True, n_noise=3)
    pd.testing.assert_frame_equal(a.X, b.X, check_exact=True)
    pd.testing.assert_frame_equal(a.contributions, b.contributions, check_exact=True)
    assert a.X.to_numpy().tobytes() == b.X.to_numpy().tobytes()
    assert a.y.tobytes() == b.y.tobytes() and a.logit.tobytes() == b.logit.tobytes()
    assert a.intercept == b.intercept

    c = make_cardio_cohort(500, seed=8, leak=True, n_noise=3)
    for column in a.X.columns:
        assert not np.array_equal(a.X[column], c.X[column]), column
    assert not np.array_equal(a.logit, c.logit)


def test_a_smaller_cohort_is_a_prefix_and_options_only_add_columns() -> None:
    small = make_cardio_cohort(50, seed=3)
    large = make_cardio_cohort(5000, seed=3)
    pd.testing.assert_frame_equal(small.X, large.X.iloc[:50], check_exact=True)
    pd.testing.assert_frame_equal(small.contributions, large.contributions.iloc[:50], check_exact=True)
    np.testing.assert_array_equal(small.y, large.y[:50])

    more = make_cardio_cohort(5000, seed=3, leak=True, n_noise=5)
    assert list(more.X.columns) == [*FEATURES, *(f"noise_{j}" for j in range(1, 6)), LEAK_FEATURE]
    pd.testing.assert_frame_equal(more.X[large.X.columns], large.X, check_exact=True)
    np.testing.assert_array_equal(more.y, large.y)
    np.testing.assert_array_equal(more.logit, large.logit)

    none = make_cardio_cohort(5000, seed=3, n_noise=0)
    assert list(none.X.columns) == list(FEATURES)
    np.testing.assert_array_equal(none.logit, large.logit)


def test_output_types_columns_and_frozen() -> None:
    c = make_cardio_cohort(300, seed=1, leak=True)
    assert isinstance(c.X, pd.DataFrame) and len(c.X) == 300
    assert c.y.dtype == np.int64 and set(np.unique(c.y)) <= {0, 1}
    assert c.logit.shape == (300,) and c.logit.dtype == np.float64
    assert isinstance(c.intercept, float)
    assert list(c.contributions.columns) == [*c.X.columns, INTERACTION_NAME]
    assert set(c.shape_functions) == set(c.contributions.columns)
    assert c.interaction == ("age", "bmi")
    assert set(c.X["site"].unique()) <= {0, 1, 2, 3}
    for column in ["male", "smoker", "diabetes", "qt_drug"]:
        assert set(c.X[column].unique()) <= {0, 1}, column
    np.testing.assert_allclose(c.risk, expit(c.logit))
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.intercept = 0.0  # type: ignore[misc]


# ---- the ground truth is exact -----------------------------------------------------------------------------


def test_logit_is_intercept_plus_contributions_and_shape_functions_reproduce_them(big: CardioCohort) -> None:
    np.testing.assert_allclose(big.logit, big.intercept + big.contributions.sum(axis=1), rtol=0, atol=1e-12)
    for name, phi in big.shape_functions.items():
        if name == INTERACTION_NAME:
            got = phi(big.X["age"], big.X["bmi"])
        else:
            got = phi(big.X[name])
        np.testing.assert_array_equal(np.asarray(got), big.contributions[name].to_numpy(), err_msg=name)


def test_zero_effect_columns_have_exactly_zero_contribution(big: CardioCohort) -> None:
    zero = ["qt_drug", "site", "noise_1", "noise_2", LEAK_FEATURE]
    assert (big.contributions[zero].to_numpy() == 0.0).all()
    for name in EFFECT_FEATURES + [INTERACTION_NAME]:
        assert big.contributions[name].std() > 0.1, name
    assert (big.shape_functions["site"](np.array([0, 1, 2, 3])) == 0.0).all()


def test_contributions_are_centred_by_fixed_constants_not_by_the_sample(big: CardioCohort) -> None:
    # Mean zero over a large independent sample, within 5 standard errors.
    contrib = big.contributions
    tolerance = 5 * contrib.std() / math.sqrt(len(contrib)) + 1e-12
    assert (contrib.mean().abs() <= tolerance).all(), (contrib.mean() / tolerance).round(2).to_dict()
    assert abs(big.logit.mean() - big.intercept) < 5 * big.logit.std() / math.sqrt(len(big.logit))
    assert abs(big.X["age"].mean() - AGE_MEAN) < 5 * big.X["age"].std() / math.sqrt(len(big.X))
    assert abs(big.X["bmi"].mean() - BMI_MEAN) < 5 * big.X["bmi"].std() / math.sqrt(len(big.X))
    # A one-row cohort is not centred on itself: its row keeps the contribution it has in a large cohort.
    one = make_cardio_cohort(1, seed=5)
    many = make_cardio_cohort(1000, seed=5)
    pd.testing.assert_frame_equal(one.contributions, many.contributions.iloc[:1], check_exact=True)
    assert (one.contributions[EFFECT_FEATURES].abs() > 0).any(axis=None)


def test_contributions_are_interventional_shapley_values_of_the_true_logit() -> None:
    """Exact interventional Shapley values (2^8 coalitions, 20,000-row background) of the true logit
    equal the contributions, with half of the age x BMI term given to each of age and BMI."""
    background = make_cardio_cohort(20_000, seed=5)
    explained = make_cardio_cohort(3, seed=6)
    phi = explained.shape_functions
    p = len(EFFECT_FEATURES)

    def true_logit(a: np.ndarray) -> np.ndarray:
        main = sum(phi[name](a[:, i]) for i, name in enumerate(EFFECT_FEATURES))
        return explained.intercept + main + phi[INTERACTION_NAME](a[:, 0], a[:, 2])

    bg = background.X[EFFECT_FEATURES].to_numpy(float)
    np.testing.assert_allclose(true_logit(explained.X[EFFECT_FEATURES].to_numpy(float)), explained.logit)
    weights = [math.factorial(s) * math.factorial(p - s - 1) / math.factorial(p) for s in range(p)]
    for row in range(3):
        x = explained.X[EFFECT_FEATURES].to_numpy(float)[row]
        value = np.empty(1 << p)
        for mask in range(1 << p):
            a = bg.copy()
            members = [i for i in range(p) if mask >> i & 1]
            a[:, members] = x[members]
            value[mask] = true_logit(a).mean()
        shap = np.zeros(p)
        for i in range(p):
            for mask in range(1 << p):
                if not mask >> i & 1:
                    shap[i] += weights[bin(mask).count("1")] * (value[mask | 1 << i] - value[mask])
        expected = explained.contributions[EFFECT_FEATURES].to_numpy()[row].copy()
        half = 0.5 * explained.contributions[INTERACTION_NAME].to_numpy()[row]
        expected[0] += half
        expected[2] += half
        np.testing.assert_allclose(shap, expected, atol=0.03)
        assert abs(value[0] - explained.intercept) < 0.05  # base value = intercept, up to background error


# ---- the outcome: prevalence, discrimination, zero-effect features -----------------------------------------


def test_prevalence_and_auc_of_the_true_logit_are_in_the_stated_ranges(big: CardioCohort) -> None:
    assert 0.20 <= big.y.mean() <= 0.35
    assert 0.80 <= roc_auc_score(big.y, big.logit) <= 0.85
    # y really is Bernoulli(sigmoid(logit)): calibrated in each decile of risk.
    risk = big.risk
    deciles = np.quantile(risk, np.linspace(0, 1, 11))
    idx = np.clip(np.searchsorted(deciles, risk, side="right") - 1, 0, 9)
    for d in range(10):
        assert abs(big.y[idx == d].mean() - risk[idx == d].mean()) < 0.015, d


def test_noise_site_and_qt_drug_carry_no_information_given_the_true_logit(big: CardioCohort) -> None:
    """Likelihood-ratio test with the true logit as an offset: adding the zero-effect columns does not
    improve the fit (chi-square, p > 0.001); the same test detects smoking once smoking is left out."""
    X = big.X
    site = np.eye(4)[X["site"].to_numpy()][:, 1:]
    zero_effect = np.column_stack([X["noise_1"], X["noise_2"], X["qt_drug"], site])
    stat = _lr_statistic(big.y, big.logit, zero_effect)
    assert stat < chi2.ppf(0.999, df=zero_effect.shape[1]), stat

    # Power: smoking has a real effect, and the test sees it when the offset omits it.
    without_smoking = big.logit - big.contributions["smoker"].to_numpy()
    assert _lr_statistic(big.y, without_smoking, X[["smoker"]].to_numpy(float)) > 100
    # Site is marginally associated with the outcome (site 3 sees older patients), only not given the rest.
    marginal = np.full(len(big.y), np.log(big.y.mean() / (1 - big.y.mean())))
    assert _lr_statistic(big.y, marginal, site) > 50
    assert X.loc[X["site"] == 3, "age"].mean() > X.loc[X["site"] != 3, "age"].mean() + 3


def test_leak_column_predicts_the_outcome_but_has_zero_contribution(big: CardioCohort) -> None:
    leak_auc = roc_auc_score(big.y, big.X[LEAK_FEATURE])
    assert leak_auc > 0.9
    assert leak_auc > roc_auc_score(big.y, big.logit)  # the leak "beats" the true risk model
    assert (big.contributions[LEAK_FEATURE] == 0).all()
    assert big.X[LEAK_FEATURE].dtype == np.int64 and (big.X[LEAK_FEATURE] >= 0).all()
    plain = make_cardio_cohort(1000, seed=2024)
    leaky = make_cardio_cohort(1000, seed=2024, leak=True)
    np.testing.assert_array_equal(plain.logit, leaky.logit)
    np.testing.assert_array_equal(plain.y, leaky.y)


def test_feature_correlations_have_the_stated_signs(big: CardioCohort) -> None:
    X = big.X
    corr = X.corr()
    assert corr.loc["sbp", "age"] > 0.2  # blood pressure rises with age
    assert corr.loc["sbp", "bmi"] > 0.2  # ... and with BMI
    assert corr.loc["diabetes", "bmi"] > 0.1  # diabetes is more common with obesity
    assert corr.loc["diabetes", "age"] > 0.05
    assert corr.loc["chol", "age"] > 0.05
    assert corr.loc["smoker", "male"] > 0.05
    assert corr.loc["qt_drug", "age"] > 0.05
    assert abs(corr.loc["age", "bmi"]) < 0.01  # independent by design: the interaction stays pure
    women, men = X.loc[X["male"] == 0, "qtc"].mean(), X.loc[X["male"] == 1, "qtc"].mean()
    assert women - men > 8  # QTc is longer in women
    on_drug, off_drug = X.loc[X["qt_drug"] == 1, "qtc"].mean(), X.loc[X["qt_drug"] == 0, "qtc"].mean()
    assert on_drug - off_drug > 15  # and with a QT-prolonging drug
    noise = corr.loc[["noise_1", "noise_2"], list(FEATURES)].abs().to_numpy()
    assert noise.max() < 0.015
    for column, low, high in [("age", 35, 92), ("bmi", 15, 55), ("sbp", 80, 230), ("qtc", 340, 580)]:
        assert X[column].between(low, high).all(), column


# ---- the planted shapes are recoverable from data alone ----------------------------------------------------


def test_a_gam_recovers_the_age_steps_at_65_and_80(gams: dict[bool, Pipeline], train: CardioCohort) -> None:
    model = gams[True]
    grid = np.arange(36.0, 90.0, 0.5)
    fitted = _partial_curve(model, train.X, "age", grid)
    planted = train.shape_functions["age"](grid)
    assert np.corrcoef(fitted, planted)[0, 1] > 0.95

    coef = model[-1].coef_[0][: len(AGE_EDGES) - 1]
    steps = np.diff(coef)  # steps[k]: from bin k to bin k+1
    mids = AGE_EDGES[:-1] + 1.25
    planted_steps = np.diff(train.shape_functions["age"](mids))
    for age in (65.0, 80.0):
        k = int(np.flatnonzero(AGE_EDGES == age)[0]) - 1
        assert abs(steps[k] - planted_steps[k]) < 0.3, (age, steps[k], planted_steps[k])
        assert steps[k] > max(steps[k - 1], steps[k - 2]) + 0.3, (age, steps[k - 2 : k + 1])


def test_a_gam_recovers_the_bmi_u_shape_and_the_qtc_hinge(
    gams: dict[bool, Pipeline], train: CardioCohort
) -> None:
    model = gams[True]
    bmi = np.arange(17.0, 45.0, 0.5)
    fitted = _partial_curve(model, train.X, "bmi", bmi)
    assert np.corrcoef(fitted, train.shape_functions["bmi"](bmi))[0, 1] > 0.95
    assert 22 <= bmi[np.argmin(fitted)] <= 29  # planted nadir at 25 kg/m2

    qtc = np.arange(370.0, 520.0, 2.0)
    fitted = _partial_curve(model, train.X, "qtc", qtc)
    assert np.corrcoef(fitted, train.shape_functions["qtc"](qtc))[0, 1] > 0.9
    flat = np.ptp(fitted[qtc <= 440])
    rise = fitted[qtc == 500.0][0] - fitted[qtc == 450.0][0]  # planted: 0.04 * 50 = 2.0
    assert flat < 0.4 and rise > 1.0, (flat, rise)


def test_the_age_bmi_interaction_is_real(
    gams: dict[bool, Pipeline], test_set: CardioCohort, train: CardioCohort
) -> None:
    held_out = {
        with_term: log_loss(test_set.y, m.predict_proba(test_set.X)[:, 1]) for with_term, m in gams.items()
    }
    assert held_out[True] < held_out[False] - 0.005, held_out
    coef = gams[True][-1].coef_[0][-1]  # per (10 years x 5 kg/m2)
    assert abs(coef - INTERACTION_COEF) < 0.15, coef
    # The interaction is pure: zero mean within every age decile (and BMI decile) of a large sample.
    inter = train.contributions[INTERACTION_NAME]
    for column in ("age", "bmi"):
        means = inter.groupby(pd.qcut(train.X[column], 10), observed=True).mean()
        assert means.abs().max() < 0.05, (column, means.round(3).to_dict())


# ---- bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"n": 0}, ValueError, "n"),
        ({"n": -5}, ValueError, "n"),
        ({"n": 2.5}, TypeError, "n"),
        ({"n": True}, TypeError, "n"),
        ({"n": 10**9}, ValueError, "n"),
        ({"seed": "0"}, TypeError, "seed"),
        ({"seed": 1.0}, TypeError, "seed"),
        ({"seed": -1}, ValueError, "seed"),
        ({"n_noise": -1}, ValueError, "n_noise"),
        ({"n_noise": 1.5}, TypeError, "n_noise"),
        ({"n_noise": 1000}, ValueError, "n_noise"),
        ({"leak": "yes"}, TypeError, "leak"),
        ({"leak": 1}, TypeError, "leak"),
    ],
)
def test_bad_input_is_refused_with_a_message_naming_the_parameter(
    kwargs: dict, error: type, name: str
) -> None:
    with pytest.raises(error, match=rf"^{name}="):
        make_cardio_cohort(**kwargs)


def test_unknown_option_is_refused() -> None:
    with pytest.raises(TypeError, match="leakage"):
        make_cardio_cohort(10, leakage=True)  # type: ignore[call-arg]


# ---- helpers -----------------------------------------------------------------------------------------------


def _age_bins(age: pd.DataFrame) -> np.ndarray:
    values = np.asarray(age, dtype=float).ravel()
    idx = np.clip(np.searchsorted(AGE_EDGES, values, side="right") - 1, 0, len(AGE_EDGES) - 2)
    return np.eye(len(AGE_EDGES) - 1)[idx]


def _age_x_bmi(frame: pd.DataFrame) -> np.ndarray:
    return (((frame["age"] - 60) / 10) * ((frame["bmi"] - 27) / 5)).to_numpy()[:, None]


def _as_float(frame: pd.DataFrame) -> np.ndarray:
    return frame.to_numpy(float)


def _gam(with_interaction: bool) -> Pipeline:
    """Logistic GAM fitted on data alone: one-hot 2.5-year age bins, cubic splines, linear binaries."""
    parts = [
        ("age", FunctionTransformer(_age_bins), ["age"]),
        (
            "splines",
            SplineTransformer(n_knots=6, degree=3, extrapolation="linear"),
            ["bmi", "sbp", "chol", "qtc"],
        ),
        (
            "linear",
            FunctionTransformer(_as_float),
            ["male", "smoker", "diabetes", "qt_drug", "noise_1", "noise_2"],
        ),
        ("site", OneHotEncoder(), ["site"]),
    ]
    if with_interaction:
        parts.append(("age_x_bmi", FunctionTransformer(_age_x_bmi), ["age", "bmi"]))
    return Pipeline(
        [
            ("features", ColumnTransformer(parts)),
            ("logistic", LogisticRegression(C=100.0, solver="newton-cholesky")),
        ]
    )


def _partial_curve(model: Pipeline, X: pd.DataFrame, column: str, grid: np.ndarray) -> np.ndarray:
    """Fitted logit along ``grid`` for one column, others fixed at the first row, age and BMI at their means
    (so that the age x BMI term does not tilt the age or the BMI curve)."""
    rows = X.iloc[[0] * len(grid)].reset_index(drop=True).copy()
    rows["age"], rows["bmi"] = AGE_MEAN, BMI_MEAN
    rows[column] = grid
    return model.decision_function(rows)


def _lr_statistic(y: np.ndarray, offset: np.ndarray, Z: np.ndarray, iterations: int = 25) -> float:
    """Deviance drop from adding columns ``Z`` to a logistic model whose linear predictor is ``offset``."""
    beta = np.zeros(Z.shape[1])
    for _ in range(iterations):  # Newton-Raphson
        p = expit(offset + Z @ beta)
        step = np.linalg.solve(Z.T @ (Z * (p * (1 - p))[:, None]), Z.T @ (y - p))
        beta += step
        if np.abs(step).max() < 1e-10:
            break
    return float(2 * (_loglik(y, offset + Z @ beta) - _loglik(y, offset)))


def _loglik(y: np.ndarray, eta: np.ndarray) -> float:
    return float(np.sum(y * eta - np.logaddexp(0.0, eta)))
