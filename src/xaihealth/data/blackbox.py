"""An unfamiliar vendor model behind a query budget, with a planted truth kept for the checkers (lab 08).

See ``datasets/blackbox_cohort.md`` for the datasheet. A hospital receives a risk model for acute
myocardial infarction in chest-pain patients from a vendor. It can query the model's probabilities, and
nothing else, and each query (one patient row) costs: the vendor's API stops answering after ``budget``
rows. The student must choose a method for that access, run it within the budget, sanity-check it and
report which features the model uses. Because the data are generated here, the true answer is known.

Outcome model (log-odds of an infarction), on standardised clinical scales ``z_j`` (exact population
means and standard deviations, written below)::

    logit = INTERCEPT + b_troponin z_troponin + sum_{j in W} b_j z_j - c z_sbp z_heart_rate

The structure is fixed, the values are drawn per ``seed`` (:func:`_plant`, its own random stream), so no
answer typed in from this docstring or the datasheet holds across seeds: ``b_troponin`` ~ U(1.2, 2.0);
the set ``W`` of weak effects is 1, 2 or 3 markers (uniformly) drawn without replacement from
:data:`CANDIDATES`, each ``|b_j|`` ~ U(0.4, 0.8) with a random sign; ``c`` ~ U(0.8, 1.3). The candidates
left out of ``W`` are pure noise. ``z_troponin``, ``z_ck_mb`` and ``z_crp`` standardise the logarithm of
the laboratory value. The last term is a pure pairwise interaction (low blood pressure with a fast heart
rate, a shock pattern, raises the risk; neither has a main effect). ``ck_mb`` is a *decoy*: correlated
with troponin (r = 0.8 on the log scale), so it is associated with the outcome, but it has no effect.
Every ``z`` has mean 0 over the population and the features are independent except the decoy, so each
contribution is centred: the per-patient contribution of a main effect is its term, and the interaction
is split half and half between its two features (their interventional Shapley values).

The vendor's model is a logistic regression on the log-transformed laboratory values and the product of
standardised blood pressure and heart rate, fitted by this module on its own draw of ``n_train``
patients (never on the hospital's rows): it is close to, not equal to, the truth.

Randomness: ``seed`` feeds a :class:`numpy.random.SeedSequence` with independent streams for the
vendor's training draw, for the hospital's patients and for the planted values, so the hospital's rows
do not depend on ``n_train`` and a smaller cohort is a prefix of a larger one.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy.special import expit, ndtr

from xaihealth import validate

FEATURES = ("troponin", "ck_mb", "age", "crp", "sbp", "heart_rate", "sodium", "potassium", "hemoglobin")
"""Columns of ``X``, in order (units in the datasheet)."""
STRONG = ("troponin",)
INTERACTION = ("sbp", "heart_rate")
DECOY = "ck_mb"
CANDIDATES = ("age", "crp", "sodium", "potassium", "hemoglobin")
"""The markers among which each seed draws its 1 to 3 weak effects; the others are null for that seed."""

INTERCEPT = -1.3
STRONG_RANGE = (1.2, 2.0)  # |log-odds per SD| of troponin
WEAK_RANGE = (0.4, 0.8)  # |log-odds per SD| of each weak effect (random sign)
INTERACTION_RANGE = (0.8, 1.3)  # log-odds per (SD of sbp x SD of heart rate), entering with a minus sign
DECOY_CORRELATION = 0.8  # correlation of log ck_mb with log troponin

# Population distribution: (mean, sd) of each feature on the scale z is taken on (log for the labs).
SCALES: MappingProxyType[str, tuple[float, float]] = MappingProxyType(
    {
        "troponin": (float(np.log(12.0)), 1.1),  # log ng/L (high-sensitivity troponin T)
        "ck_mb": (float(np.log(3.0)), 0.6),  # log ug/L
        "age": (63.0, 12.0),  # years
        "crp": (float(np.log(5.0)), 0.9),  # log mg/L
        "sbp": (132.0, 21.0),  # mmHg
        "heart_rate": (84.0, 16.0),  # beats/min
        "sodium": (139.0, 3.0),  # mmol/L
        "potassium": (4.2, 0.45),  # mmol/L
        "hemoglobin": (13.6, 1.7),  # g/dL
    }
)
LOG_FEATURES = ("troponin", "ck_mb", "crp")
MAX_N = 1_000_000
MAX_BUDGET = 10**9
_MEAN_ABS_Z = float(np.sqrt(2.0 / np.pi))  # E|Z| for a standard normal
_MEAN_ABS_PRODUCT = 2.0 / np.pi  # E|Z1 Z2| for two independent standard normals


class QueryBudgetExceeded(RuntimeError):
    """The vendor's API refuses a call that would take the number of queried rows past the budget."""


class BudgetedModel:
    """The vendor's model as the hospital sees it: ``predict_proba`` and a query counter, nothing else.

    Every row passed to :meth:`predict_proba` is one query. A call that would exceed ``budget`` rows in
    total raises :class:`QueryBudgetExceeded` and is not counted (nor answered).
    """

    def __init__(self, budget: int, *, _fitted: tuple[np.ndarray, float]) -> None:
        self.budget = validate.integer("budget", budget, minimum=1, maximum=MAX_BUDGET)
        self.queries = 0
        self.__weights, self.__bias = _fitted

    @property
    def remaining(self) -> int:
        """Rows that can still be queried."""
        return self.budget - self.queries

    def with_budget(self, budget: int) -> BudgetedModel:
        """The same vendor model with a fresh counter and another budget (a new contract with the vendor)."""
        return BudgetedModel(budget, _fitted=(self.__weights, self.__bias))

    def predict_proba(self, X: pd.DataFrame | np.ndarray) -> np.ndarray:
        """Probabilities ``[[P(no MI), P(MI)], ...]`` for the rows of ``X`` (columns :data:`FEATURES`)."""
        rows = _as_rows(X)
        if self.queries + len(rows) > self.budget:
            raise QueryBudgetExceeded(
                f"the vendor's API refuses this call of {len(rows)} rows: {self.queries} of the budget of "
                f"{self.budget} rows are used, {self.remaining} remain. Compute how many rows your method "
                "needs before calling it (KernelSHAP: len(background) rows per coalition sample)"
            )
        self.queries += len(rows)
        p = expit(_design(rows) @ self.__weights + self.__bias)
        return np.column_stack([1.0 - p, p])

    def __repr__(self) -> str:
        return f"BudgetedModel(budget={self.budget}, queries={self.queries})"


@dataclass(frozen=True)
class BlackBoxCase:
    """What the hospital has: its patients ``X`` and outcomes ``y``, and the vendor's ``model``."""

    X: pd.DataFrame
    y: np.ndarray
    model: BudgetedModel
    seed: int
    n_train: int

    @property
    def budget(self) -> int:
        return self.model.budget


@dataclass(frozen=True)
class PlantedTruth:
    """The truth behind a :class:`BlackBoxCase` (for checkers; the lab never shows it to the student).

    ``contributions``: per patient of ``case.X`` and feature, the centred contribution to the true logit
    (the interaction split half/half). ``importance``: the population mean of |contribution| per feature
    (exact, closed form). ``logit``: the true log-odds of each patient. ``coefficients`` (main effects)
    and ``interaction_coef`` are this seed's draw; ``weak`` its weak effects, ``null_features`` the rest.
    """

    contributions: pd.DataFrame
    importance: pd.Series
    logit: np.ndarray
    intercept: float
    coefficients: MappingProxyType[str, float]
    interaction_coef: float
    null_features: tuple[str, ...]
    strong: tuple[str, ...]
    weak: tuple[str, ...]
    interaction: tuple[str, str]
    decoy: str


def make_blackbox_case(n: int = 400, seed: int = 0, *, budget: int = 200_000, n_train: int = 20_000
                       ) -> BlackBoxCase:  # fmt: skip
    """Draw ``n`` hospital patients and the vendor's model (trained on its own ``n_train`` patients).

    Parameters
    ----------
    n:
        Number of hospital patients, 1 to 1,000,000.
    seed:
        Non-negative integer; the same seed gives the same patients and the same model.
    budget:
        Number of rows the vendor's API answers in total, 1 to 10^9.
    n_train:
        Size of the vendor's private training draw, 200 to 1,000,000.
    """
    n = validate.integer("n", n, minimum=1, maximum=MAX_N)
    seed = validate.integer("seed", seed, minimum=0)
    budget = validate.integer("budget", budget, minimum=1, maximum=MAX_BUDGET)
    n_train = validate.integer("n_train", n_train, minimum=200, maximum=MAX_N)
    _, hospital_seq, _ = np.random.SeedSequence(seed).spawn(3)
    X, _, y = _draw(n, hospital_seq, _plant(seed))
    model = BudgetedModel(budget, _fitted=_vendor_fit(seed, n_train))
    return BlackBoxCase(X=X, y=y, model=model, seed=seed, n_train=n_train)


def planted_truth(case: BlackBoxCase) -> PlantedTruth:
    """The planted truth of ``case``: per-patient contributions, global importance, the null features."""
    if not isinstance(case, BlackBoxCase):
        raise TypeError(f"case={case!r} must be a BlackBoxCase from make_blackbox_case")
    plant = _plant(case.seed)
    contributions = _contributions(_standardise(case.X.to_numpy()), plant)
    importance = pd.Series(0.0, index=list(FEATURES), name="importance")
    for name, coef in plant.coefficients.items():
        importance[name] = abs(coef) * _MEAN_ABS_Z
    for name in INTERACTION:
        importance[name] = 0.5 * abs(plant.interaction_coef) * _MEAN_ABS_PRODUCT
    frame = pd.DataFrame(contributions, columns=list(FEATURES), index=case.X.index)
    weak = tuple(f for f in CANDIDATES if f in plant.coefficients)
    nulls = tuple(f for f in FEATURES if f not in plant.coefficients and f not in INTERACTION)
    return PlantedTruth(contributions=frame, importance=importance,
                        logit=INTERCEPT + contributions.sum(axis=1), intercept=INTERCEPT,
                        coefficients=plant.coefficients, interaction_coef=plant.interaction_coef,
                        null_features=nulls, strong=STRONG, weak=weak, interaction=INTERACTION,
                        decoy=DECOY)  # fmt: skip


# ---- internals -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Plant:
    coefficients: MappingProxyType[str, float]
    interaction_coef: float


@lru_cache(maxsize=64)
def _plant(seed: int) -> _Plant:
    """This seed's planted values (module docstring): troponin's effect, the weak effects, the interaction."""
    rng = np.random.default_rng(np.random.SeedSequence(seed).spawn(3)[2])
    coefficients = {"troponin": float(rng.uniform(*STRONG_RANGE))}
    weak = rng.choice(len(CANDIDATES), size=int(rng.integers(1, 4)), replace=False)
    for j in sorted(weak):
        coefficients[CANDIDATES[j]] = float(rng.choice((-1.0, 1.0)) * rng.uniform(*WEAK_RANGE))
    return _Plant(MappingProxyType(coefficients), -float(rng.uniform(*INTERACTION_RANGE)))


def _draw(n: int, seq: np.random.SeedSequence, plant: _Plant) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """``n`` patients (features, true logit, outcome); each row uses a fixed block of random numbers."""
    u = np.random.default_rng(seq).standard_normal((n, len(FEATURES) + 1))
    z = u[:, : len(FEATURES)].copy()
    k = FEATURES.index(DECOY), FEATURES.index("troponin")
    z[:, k[0]] = DECOY_CORRELATION * z[:, k[1]] + np.sqrt(1 - DECOY_CORRELATION**2) * u[:, k[0]]
    values = {}
    for j, name in enumerate(FEATURES):
        mean, sd = SCALES[name]
        scaled = mean + sd * z[:, j]
        values[name] = np.exp(scaled) if name in LOG_FEATURES else scaled
    logit = INTERCEPT + _contributions(z, plant).sum(axis=1)
    y = (expit(logit) > ndtr(u[:, -1])).astype(np.int64)
    return pd.DataFrame(values), logit, y


def _standardise(rows: np.ndarray) -> np.ndarray:
    """The population z-scores of each column (log scale for the laboratory values)."""
    z = np.empty_like(rows, dtype=np.float64)
    for j, name in enumerate(FEATURES):
        mean, sd = SCALES[name]
        column = np.log(rows[:, j]) if name in LOG_FEATURES else rows[:, j]
        z[:, j] = (column - mean) / sd
    return z


def _contributions(z: np.ndarray, plant: _Plant) -> np.ndarray:
    out = np.zeros_like(z)
    for name, coef in plant.coefficients.items():
        out[:, FEATURES.index(name)] = coef * z[:, FEATURES.index(name)]
    a, b = (FEATURES.index(name) for name in INTERACTION)
    half = 0.5 * plant.interaction_coef * z[:, a] * z[:, b]
    out[:, a], out[:, b] = half, half
    return out


def _design(rows: np.ndarray) -> np.ndarray:
    """The vendor's features: the z-scores and the product of standardised sbp and heart rate."""
    z = _standardise(rows)
    a, b = (FEATURES.index(name) for name in INTERACTION)
    return np.column_stack([z, z[:, a] * z[:, b]])


@lru_cache(maxsize=16)
def _vendor_fit(seed: int, n_train: int) -> tuple[np.ndarray, float]:
    """The vendor's logistic regression (almost unpenalised) on its own draw of ``n_train`` patients."""
    from sklearn.linear_model import LogisticRegression

    train_seq, _, _ = np.random.SeedSequence(seed).spawn(3)
    X, _, y = _draw(n_train, train_seq, _plant(seed))
    fit = LogisticRegression(C=1e4, max_iter=1000).fit(_design(X.to_numpy()), y)
    weights, bias = fit.coef_[0].copy(), float(fit.intercept_[0])
    weights.flags.writeable = False
    return weights, bias


def _as_rows(X: pd.DataFrame | np.ndarray) -> np.ndarray:
    if isinstance(X, pd.DataFrame):
        missing = [c for c in FEATURES if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the columns {missing}; the model needs {list(FEATURES)}")
        X = X[list(FEATURES)].to_numpy()
    rows = np.asarray(X, dtype=np.float64)
    if rows.ndim == 1:
        rows = rows[None, :]
    if rows.ndim != 2 or rows.shape[1] != len(FEATURES):
        raise ValueError(f"X has shape {rows.shape}; the model needs (rows, {len(FEATURES)}) with the "
                         f"columns {list(FEATURES)}")  # fmt: skip
    if not np.all(np.isfinite(rows)):
        raise ValueError("X contains NaN or infinite values; the model needs finite values")
    logs = [FEATURES.index(name) for name in LOG_FEATURES]
    if np.any(rows[:, logs] <= 0):
        raise ValueError(f"X has a value <= 0 in {list(LOG_FEATURES)}; laboratory values are positive")
    return rows
