"""The lab 08 vendor case: its planted truth is what datasets/blackbox_cohort.md says."""

import numpy as np
import pandas as pd
import pytest
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from xaihealth.data import blackbox as bb
from xaihealth.data.blackbox import (
    CANDIDATES,
    FEATURES,
    QueryBudgetExceeded,
    make_blackbox_case,
    planted_truth,
)


@pytest.fixture(scope="module")
def big():
    case = make_blackbox_case(200_000, seed=3, budget=10**9)
    return case, planted_truth(case)


def test_logit_is_the_sum_of_contributions_and_null_features_contribute_nothing(big):
    case, truth = big
    assert np.allclose(truth.logit, truth.intercept + truth.contributions.sum(axis=1), atol=1e-12)
    nulls = list(truth.null_features)
    assert set(nulls) == {"ck_mb", *CANDIDATES} - set(truth.weak) and truth.weak
    assert (truth.contributions[nulls] == 0).all().all()
    assert (truth.importance[nulls] == 0).all()
    assert truth.importance.idxmax() == "troponin" and set(truth.importance[truth.importance > 0].index) == {
        "troponin", *truth.weak, "sbp", "heart_rate"}


def test_each_seed_draws_its_own_roles_and_magnitudes_within_the_documented_ranges():
    truths = [planted_truth(make_blackbox_case(5, seed=seed)) for seed in range(40)]
    roles = {t.weak for t in truths}
    assert len(roles) >= 10 and {len(w) for w in roles} == {1, 2, 3}  # 25 possible sets of weak effects
    for t in truths:
        assert set(t.coefficients) == {"troponin", *t.weak} and set(t.weak) <= set(CANDIDATES)
        assert bb.STRONG_RANGE[0] <= t.coefficients["troponin"] <= bb.STRONG_RANGE[1]
        assert all(bb.WEAK_RANGE[0] <= abs(t.coefficients[f]) <= bb.WEAK_RANGE[1] for f in t.weak)
        assert bb.INTERACTION_RANGE[0] <= -t.interaction_coef <= bb.INTERACTION_RANGE[1]
        assert t.decoy == "ck_mb" and "ck_mb" in t.null_features
    strong = [t.coefficients["troponin"] for t in truths]
    assert np.ptp(strong) > 0.5 and len({round(v, 6) for v in strong}) == len(strong)
    # the same seed gives the same truth; a bigger or smaller cohort does not change it
    again = planted_truth(make_blackbox_case(50, seed=7, n_train=500))
    assert dict(again.coefficients) == dict(truths[7].coefficients)


def test_importance_is_the_mean_absolute_contribution_and_contributions_are_centred(big):
    _, truth = big
    sample = truth.contributions.abs().mean()
    assert np.allclose(sample, truth.importance, rtol=0.01, atol=1e-12)
    assert np.all(np.abs(truth.contributions.mean()) < 0.01)
    # the interaction is pure: no main effect of sbp or heart rate (its mean is ~0 within sbp bins)
    sbp_bins = pd.qcut(big[0].X["sbp"], 5)
    assert np.abs(truth.contributions["sbp"].groupby(sbp_bins, observed=True).mean()).max() < 0.02


def test_outcome_follows_the_logit_and_an_oracle_recovers_the_coefficients(big):
    case, truth = big
    p = expit(truth.logit)
    assert abs(case.y.mean() - p.mean()) < 0.005
    z = bb._standardise(case.X.to_numpy())
    a, b = FEATURES.index("sbp"), FEATURES.index("heart_rate")
    oracle = LogisticRegression(C=1e6, max_iter=2000).fit(np.column_stack([z, z[:, a] * z[:, b]]), case.y)
    want = np.zeros(len(FEATURES) + 1)
    for name, coef in truth.coefficients.items():
        want[FEATURES.index(name)] = coef
    want[-1] = truth.interaction_coef
    assert np.abs(oracle.coef_[0] - want).max() < 0.05
    assert abs(oracle.intercept_[0] - bb.INTERCEPT) < 0.05


def test_the_decoy_is_associated_with_the_outcome_but_has_no_effect(big):
    case, truth = big
    r = np.corrcoef(np.log(case.X["ck_mb"]), np.log(case.X["troponin"]))[0, 1]
    assert abs(r - bb.DECOY_CORRELATION) < 0.01
    assert roc_auc_score(case.y, case.X["ck_mb"]) > 0.65  # a tempting shortcut ...
    assert (truth.contributions["ck_mb"] == 0).all()  # ... with no effect


@pytest.mark.parametrize("seed", range(5))
def test_the_vendor_model_is_close_to_the_truth(seed):
    case = make_blackbox_case(2000, seed=seed, budget=10**6)
    truth = planted_truth(case)
    p = case.model.predict_proba(case.X)[:, 1]
    logit = np.log(p / (1 - p))
    assert np.corrcoef(logit, truth.logit)[0, 1] > 0.99
    weights, _ = bb._vendor_fit(seed, case.n_train)
    nulls = [FEATURES.index(f) for f in truth.null_features]
    assert np.abs(weights[nulls]).max() < 0.1  # about 3 standard errors at n_train = 20,000


def test_exact_kernel_shap_of_the_vendor_model_recovers_the_contributions():
    import shap

    case = make_blackbox_case(300, seed=8, budget=10**7)
    truth = planted_truth(case)
    X = case.X.to_numpy()
    explainer = shap.KernelExplainer(lambda Z: case.model.predict_proba(Z)[:, 1], X[:100], link="logit")
    phi = explainer.shap_values(X[100:112], nsamples=2**9 - 2, l1_reg=False, silent=True)  # every coalition
    contributions = truth.contributions.to_numpy()[100:112]
    for name in ("troponin", *truth.weak, "sbp", "heart_rate"):
        j = FEATURES.index(name)
        assert np.corrcoef(phi[:, j], contributions[:, j])[0, 1] > 0.95, name
    assert np.abs(phi[:, [FEATURES.index(f) for f in truth.null_features]]).max() < 0.15


def test_the_budget_counts_rows_and_refuses_past_it():
    case = make_blackbox_case(80, seed=1, budget=100)
    model = case.model
    assert model.predict_proba(case.X.iloc[:60]).shape == (60, 2)
    assert (model.queries, model.remaining) == (60, 40)
    with pytest.raises(QueryBudgetExceeded, match="budget of 100"):
        model.predict_proba(case.X.iloc[:41])
    assert model.queries == 60  # a refused call is not counted
    model.predict_proba(case.X.iloc[:40].to_numpy())
    assert model.remaining == 0
    fresh = model.with_budget(10)
    assert fresh.queries == 0 and fresh.budget == 10
    rows = case.X.iloc[:5]
    assert np.allclose(fresh.predict_proba(rows), model.with_budget(5).predict_proba(rows))


def test_seeds_reproduce_differ_and_smaller_cohorts_are_prefixes():
    a, b = make_blackbox_case(100, seed=4), make_blackbox_case(100, seed=4)
    pd.testing.assert_frame_equal(a.X, b.X)
    assert np.array_equal(a.y, b.y)
    assert not np.allclose(a.X.to_numpy(), make_blackbox_case(100, seed=5).X.to_numpy())
    pd.testing.assert_frame_equal(make_blackbox_case(30, seed=4).X, a.X.iloc[:30])
    assert not np.array_equal(bb._vendor_fit(4, 20_000)[0], bb._vendor_fit(5, 20_000)[0])


@pytest.mark.parametrize(("kwargs", "error", "name"), [
    ({"n": 0}, ValueError, "n="), ({"seed": -1}, ValueError, "seed="), ({"budget": 0}, ValueError, "budget="),
    ({"n_train": 10}, ValueError, "n_train="), ({"n": 2.5}, TypeError, "n="), ({"budget": "many"}, TypeError,
                                                                              "budget="),
])  # fmt: skip
def test_bad_arguments_raise_naming_the_parameter(kwargs, error, name):
    with pytest.raises(error, match=name):
        make_blackbox_case(**kwargs)


def test_bad_rows_raise_clear_errors():
    case = make_blackbox_case(10, seed=0)
    with pytest.raises(ValueError, match="shape"):
        case.model.predict_proba(np.ones((3, 4)))
    with pytest.raises(ValueError, match="lacks the columns"):
        case.model.predict_proba(case.X.drop(columns="age"))
    rows = case.X.to_numpy().copy()
    rows[0, 0] = -1.0
    with pytest.raises(ValueError, match="<= 0"):
        case.model.predict_proba(rows)
    rows[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        case.model.predict_proba(rows)
    with pytest.raises(TypeError, match="case="):
        planted_truth(case.X)
