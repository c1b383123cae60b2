"""Synthetic cardiovascular cohort whose outcome has a known, additive-plus-one-interaction logit.

See ``datasets/cardio_cohort.md`` for the datasheet. The generator exists so that explanations can be
*scored*: every row comes with the true per-feature contribution to its logit, so a SHAP value, an EBM
shape function or a GAM term can be compared with the truth instead of with intuition.

Outcome model (log-odds of a 10-year cardiovascular event)::

    logit = intercept + sum_j phi_j(x_j) + phi_age:bmi(age, bmi)

with planted shapes: a step function in age (jumps at 65 and 80 on top of a gentle slope), a U-shape in
BMI, linear effects of systolic blood pressure and cholesterol, binary effects of sex, smoking and diabetes,
a hinge in QTc above 450 ms, and one pure pairwise interaction age x BMI (obesity matters less with age).
``qt_drug``, ``site``, the ``noise_k`` columns and the optional leak column ``followup_visits`` have
exactly zero contribution, although ``qt_drug`` (through QTc), ``site`` (through its older case mix) and
``followup_visits`` (recorded after the outcome) are all associated with the outcome.

What "contribution" means here
------------------------------
``phi_j(x_j) = f_j(x_j) - E_ref[f_j(X_j)]``: the raw shape function ``f_j`` minus its mean over a large
*reference population* drawn from this generator. The centring constants are fixed numbers written in this
module (estimated once from 4,000,000 reference rows, seed 20240601), never estimated from the returned
sample, so a given row gets the same contribution whatever ``n`` is. The interaction term is *pure*: its
mean is zero for every fixed age and for every fixed BMI, because age and BMI are drawn independently and
the term is a product of the two centred variables. Consequences worth knowing:

- ``intercept`` is the mean logit over the reference population (the base value of a SHAP explanation of
  the true logit with a large background sample from this generator);
- for every main-effect feature, the interventional SHAP value of the true logit is
  ``contributions[j]``, plus ``0.5 * contributions["age:bmi"]`` for ``age`` and for ``bmi`` (the
  interaction is split equally between its two features); all up to Monte Carlo error of the background.

Randomness: ``seed`` feeds a :class:`numpy.random.SeedSequence` with independent child streams for the
core variables, for each noise column and for the leak column. Hence row ``i`` is the same for every
``n > i`` (a smaller cohort is a prefix of a larger one), and switching ``leak`` or changing ``n_noise``
adds or removes columns without changing any other value.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr

from xaihealth import validate

FEATURES = ("age", "male", "bmi", "sbp", "chol", "smoker", "diabetes", "qtc", "qt_drug", "site")
"""Clinical columns of ``X``, in order; ``noise_1..noise_k`` and the optional leak column follow."""
INTERACTION = ("age", "bmi")
INTERACTION_NAME = "age:bmi"
LEAK_FEATURE = "followup_visits"
ZERO_EFFECT = ("qt_drug", "site")
"""Clinical features with exactly zero contribution (noise columns and the leak column also have none)."""
SITES = (0, 1, 2, 3)
SITE_PROBS = (0.35, 0.30, 0.20, 0.15)
MAX_N = 10_000_000
MAX_NOISE = 100

# ---- planted outcome model (raw, uncentred shape functions; see the datasheet for the formulas) -------
RAW_INTERCEPT = -2.6
AGE_SLOPE, AGE_KNOT_SLOPE = 0.03, 60.0  # log-odds per year, around 60 years
AGE_JUMP_65, AGE_JUMP_80 = 0.7, 0.9  # extra log-odds from 65 and again from 80 years
MALE_EFFECT = 0.35
BMI_CURV, BMI_NADIR = 0.012, 25.0  # log-odds per (kg/m^2)^2 away from the nadir
SBP_SLOPE, SBP_REF = 0.02, 120.0  # log-odds per mmHg
CHOL_SLOPE, CHOL_REF = 0.3, 5.0  # log-odds per mmol/L
SMOKER_EFFECT = 0.65
DIABETES_EFFECT = 0.8
QTC_SLOPE, QTC_HINGE = 0.04, 450.0  # log-odds per ms above 450 ms
INTERACTION_COEF = -0.45  # log-odds per (10 years x 5 kg/m^2), both centred at their reference means

# ---- fixed reference-population constants (4,000,000 rows, seed REFERENCE_SEED; see _reference_constants)
REFERENCE_SEED = 20240601
REFERENCE_N = 4_000_000
AGE_MEAN = 61.329560
BMI_MEAN = 27.567691
CENTRING: MappingProxyType[str, float] = MappingProxyType(
    {
        "age": 0.362492,
        "male": 0.168197,
        "bmi": 0.332731,
        "sbp": 0.028959,
        "chol": 0.079856,
        "smoker": 0.164427,
        "diabetes": 0.090732,
        "qtc": 0.050090,
        INTERACTION_NAME: 0.000147,
    }
)
"""Mean of each raw shape function over the reference population, subtracted to centre it."""

# ---- leak column: cardiology follow-up visits counted over the 10 years, i.e. after the outcome ---------
LEAK_LOG_BASE, LEAK_LOG_EVENT, LEAK_LOG_SD = 0.3, 1.7, 0.35

_N_CORE = 11  # standard normal columns drawn per row for the core variables and the outcome


@dataclass(frozen=True)
class CardioCohort:
    """A sample from :func:`make_cardio_cohort` with its ground truth.

    Attributes
    ----------
    X:
        Features only, one row per patient (see the datasheet for units and dtypes).
    y:
        Outcome, int 0/1: a cardiovascular event within 10 years.
    logit:
        True log-odds of the event for each row; ``y`` was drawn as Bernoulli(sigmoid(logit)).
    intercept:
        Mean logit over the reference population; ``logit == intercept + contributions.sum(axis=1)``.
    contributions:
        One column per column of ``X`` (zero for ``qt_drug``, ``site``, noise and leak columns) plus
        ``"age:bmi"``: the centred contribution of each term to each row's logit.
    shape_functions:
        Name -> vectorised callable returning the centred contribution; one argument for a feature,
        two (``age``, ``bmi``) for ``"age:bmi"``. Keys are the columns of ``contributions``.
    interaction:
        The features of the planted pairwise interaction, ``("age", "bmi")``.
    """

    X: pd.DataFrame
    y: np.ndarray
    logit: np.ndarray
    intercept: float
    contributions: pd.DataFrame
    shape_functions: dict[str, Callable[..., np.ndarray]]
    interaction: tuple[str, str]

    @property
    def risk(self) -> np.ndarray:
        """True probability of the event, ``sigmoid(logit)``."""
        return expit(self.logit)


def make_cardio_cohort(n: int = 2000, seed: int = 0, *, leak: bool = False, n_noise: int = 2) -> CardioCohort:
    """Draw ``n`` patients from the synthetic cardiovascular cohort, with their true logit contributions.

    Parameters
    ----------
    n:
        Number of patients, 1 to 10,000,000.
    seed:
        Non-negative integer; the same seed gives byte-identical outputs.
    leak:
        If True, add the column ``followup_visits`` (count of cardiology visits during the 10-year
        follow-up, so recorded *after* the outcome): it predicts ``y`` strongly but has zero contribution
        to the true logit. For teaching target leakage.
    n_noise:
        Number of pure-noise columns ``noise_1 .. noise_{n_noise}`` (standard normal, independent of
        everything), 0 to 100.

    Returns
    -------
    :class:`CardioCohort` with ``X``, ``y``, ``logit``, ``intercept``, ``contributions``,
    ``shape_functions`` and ``interaction``.
    """
    n = validate.integer("n", n, minimum=1, maximum=MAX_N)
    seed = validate.integer("seed", seed, minimum=0)
    leak = validate.boolean("leak", leak)
    n_noise = validate.integer("n_noise", n_noise, minimum=0, maximum=MAX_NOISE)

    core_seq, noise_seq, leak_seq = np.random.SeedSequence(seed).spawn(3)
    z = np.random.default_rng(core_seq).standard_normal((n, _N_CORE))
    columns = _simulate_features(z)

    contributions = {name: _shape(name)(columns[name]) for name in FEATURES}
    inter = _interaction(columns["age"], columns["bmi"])
    intercept = _intercept()
    logit = intercept + sum(contributions.values()) + inter
    y = (ndtr(z[:, 10]) < expit(logit)).astype(np.int64)

    for j, child in enumerate(noise_seq.spawn(n_noise), start=1):
        columns[f"noise_{j}"] = np.random.default_rng(child).standard_normal(n)
        contributions[f"noise_{j}"] = np.zeros(n)
    if leak:
        columns[LEAK_FEATURE] = _followup_visits(y, leak_seq)
        contributions[LEAK_FEATURE] = np.zeros(n)
    contributions[INTERACTION_NAME] = inter

    X = pd.DataFrame(columns)
    shape_functions = {name: _shape(name) for name in X.columns}
    shape_functions[INTERACTION_NAME] = _interaction
    return CardioCohort(
        X=X,
        y=y,
        logit=logit,
        intercept=intercept,
        contributions=pd.DataFrame(contributions, index=X.index),
        shape_functions=shape_functions,
        interaction=INTERACTION,
    )


# ---- the feature distribution --------------------------------------------------------------------------


def _simulate_features(z: np.ndarray) -> dict[str, np.ndarray]:
    """Turn a (n, 11) block of standard normals into the clinical columns (columns 0-9 of ``z``).

    Binary and categorical variables use ``ndtr(z)``, a uniform, so that each row consumes a fixed
    number of random numbers (the prefix property). Recorded values are rounded as a registry would
    record them, and every contribution is computed from the rounded value.
    """
    u = ndtr(z)
    site = np.searchsorted(np.cumsum(SITE_PROBS)[:-1], u[:, 0], side="right").astype(np.int64)
    # Age 35-92 years, logit-normal; site 3 (a geriatric referral centre) sees older patients.
    age = np.round(35.0 + 57.0 * expit(-0.25 + 0.95 * z[:, 1] + 0.45 * (site == 3)), 1)
    male = (u[:, 2] < 0.48).astype(np.int64)
    # BMI log-normal, independent of age (keeps the age x BMI interaction pure).
    bmi = np.round(np.clip(np.exp(np.log(26.8) + 0.03 * male + 0.165 * z[:, 3]), 15.0, 55.0), 1)
    sbp = np.round(
        np.clip(118.0 + 0.6 * (age - 60) + 1.2 * (bmi - 27) + 4.0 * male + 15.0 * z[:, 4], 80, 230)
    )
    chol = np.round(
        np.clip(5.3 + 0.012 * (age - 60) + 0.04 * (bmi - 27) - 0.15 * male + z[:, 5], 2.0, 11.0), 1
    )
    smoker = (u[:, 6] < expit(-1.3 + 0.45 * male - 0.03 * (age - 60))).astype(np.int64)
    diabetes = (u[:, 7] < expit(-2.4 + 0.14 * (bmi - 27) + 0.035 * (age - 60))).astype(np.int64)
    qt_drug = (u[:, 8] < expit(-2.1 + 0.03 * (age - 60))).astype(np.int64)
    qtc = np.round(
        np.clip(412.0 + 12.0 * (1 - male) + 24.0 * qt_drug + 0.35 * (age - 60) + 20.0 * z[:, 9], 340, 580)
    )
    return {
        "age": age,
        "male": male,
        "bmi": bmi,
        "sbp": sbp.astype(np.int64),
        "chol": chol,
        "smoker": smoker,
        "diabetes": diabetes,
        "qtc": qtc.astype(np.int64),
        "qt_drug": qt_drug,
        "site": site,
    }


def _followup_visits(y: np.ndarray, seq: np.random.SeedSequence) -> np.ndarray:
    """Cardiology visits over follow-up: Poisson with a log-normal rate, about 5x higher after an event."""
    frailty_seq, count_seq = seq.spawn(2)
    frailty = np.random.default_rng(frailty_seq).standard_normal(y.shape[0])
    rate = np.exp(LEAK_LOG_BASE + LEAK_LOG_EVENT * y + LEAK_LOG_SD * frailty)
    return np.random.default_rng(count_seq).poisson(rate).astype(np.int64)


# ---- the outcome model ---------------------------------------------------------------------------------


def _raw(name: str, x: np.ndarray) -> np.ndarray:
    """Uncentred shape function ``f_name`` (log-odds); zero for features with no effect."""
    x = np.asarray(x, dtype=np.float64)
    if name == "age":
        return AGE_SLOPE * (x - AGE_KNOT_SLOPE) + AGE_JUMP_65 * (x >= 65.0) + AGE_JUMP_80 * (x >= 80.0)
    if name == "male":
        return MALE_EFFECT * x
    if name == "bmi":
        return BMI_CURV * (x - BMI_NADIR) ** 2
    if name == "sbp":
        return SBP_SLOPE * (x - SBP_REF)
    if name == "chol":
        return CHOL_SLOPE * (x - CHOL_REF)
    if name == "smoker":
        return SMOKER_EFFECT * x
    if name == "diabetes":
        return DIABETES_EFFECT * x
    if name == "qtc":
        return QTC_SLOPE * np.maximum(x - QTC_HINGE, 0.0)
    return np.zeros_like(x)


def _raw_interaction(age: np.ndarray, bmi: np.ndarray) -> np.ndarray:
    age = np.asarray(age, dtype=np.float64)
    bmi = np.asarray(bmi, dtype=np.float64)
    return INTERACTION_COEF * ((age - AGE_MEAN) / 10.0) * ((bmi - BMI_MEAN) / 5.0)


def _shape(name: str) -> Callable[[Any], np.ndarray]:
    """Centred shape function of one feature: ``f(x) - CENTRING[name]`` (zero function if no effect)."""
    offset = CENTRING.get(name, 0.0)

    def phi(x: Any) -> np.ndarray:
        return _raw(name, x) - offset

    phi.__name__ = f"phi_{name}"
    phi.__doc__ = f"Centred contribution of {name!r} to the true logit (log-odds)."
    return phi


def _interaction(age: Any, bmi: Any) -> np.ndarray:
    """Centred contribution of the age x BMI interaction to the true logit (log-odds)."""
    return _raw_interaction(age, bmi) - CENTRING[INTERACTION_NAME]


def _intercept() -> float:
    """Mean logit over the reference population: the raw intercept plus every centring constant."""
    return float(RAW_INTERCEPT + sum(CENTRING.values()))


def _reference_constants(
    n: int = REFERENCE_N, seed: int = REFERENCE_SEED, chunk: int = 500_000
) -> dict[str, float]:
    """Estimate AGE_MEAN, BMI_MEAN and the CENTRING constants from ``n`` reference rows.

    This is how the constants written above were made (with the defaults); the tests re-estimate them
    from an independent sample to check them. The interaction constant is computed with the module's
    AGE_MEAN and BMI_MEAN, so run it twice when those change.
    """
    sums: dict[str, float] = {name: 0.0 for name in [*CENTRING, "AGE_MEAN", "BMI_MEAN"]}
    rng = np.random.default_rng(np.random.SeedSequence(seed))
    done = 0
    while done < n:
        m = min(chunk, n - done)
        cols = _simulate_features(rng.standard_normal((m, _N_CORE)))
        for name in CENTRING:
            if name != INTERACTION_NAME:
                sums[name] += float(_raw(name, cols[name]).sum())
        sums[INTERACTION_NAME] += float(_raw_interaction(cols["age"], cols["bmi"]).sum())
        sums["AGE_MEAN"] += float(cols["age"].sum())
        sums["BMI_MEAN"] += float(cols["bmi"].sum())
        done += m
    return {name: total / n for name, total in sums.items()}
