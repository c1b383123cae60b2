"""Reference implementations for the checkers of :mod:`xaihealth.checks.choosing` (instructor-only).

The checkers reach them only through ``xaihealth.checks._reference.references("choosing")``, which in a
student release replays the values these functions returned when the solutions were checked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd


def reference_kernel_shap_within_budget(
    predict: Callable[[np.ndarray], np.ndarray],
    X_pool: np.ndarray,
    patients: np.ndarray,
    budget: int,
    n_background: int = 40,
    seed: int = 0,
) -> np.ndarray:
    """KernelSHAP of the log-odds for each patient, with the largest nsamples the budget allows.

    Background: ``n_background`` rows of ``X_pool`` drawn without replacement by
    ``np.random.default_rng(seed)``. ``nsamples = (budget - B - P) // (P * B)``. shap draws its
    coalitions from numpy's global generator, seeded with ``np.random.seed(seed)`` just before.
    """
    import shap

    X_pool, patients = np.asarray(X_pool, dtype=float), np.asarray(patients, dtype=float)
    background = X_pool[np.random.default_rng(seed).choice(len(X_pool), n_background, replace=False)]
    n_patients = len(patients)
    nsamples = (budget - n_background - n_patients) // (n_patients * n_background)
    if nsamples < 2 * patients.shape[1] + 2:
        raise ValueError(f"budget={budget} allows only nsamples={nsamples} per patient; KernelSHAP needs "
                         f"at least {2 * patients.shape[1] + 2} here")  # fmt: skip
    explainer = shap.KernelExplainer(predict, background, link="logit")
    np.random.seed(seed)
    return np.asarray(explainer.shap_values(patients, nsamples=nsamples, l1_reg=False, silent=True))


def reference_ablated(predict: Callable[[np.ndarray], np.ndarray], column: int, value: float
                      ) -> Callable[[np.ndarray], np.ndarray]:  # fmt: skip
    """The model with one input column fixed at ``value``: that feature cannot matter to it."""

    def ablated_predict(X: np.ndarray) -> np.ndarray:
        rows = np.array(X, dtype=float, copy=True)
        rows[:, column] = value
        return predict(rows)

    return ablated_predict


def reference_importance_intervals(
    phi: np.ndarray, features: Sequence[str], seed: int = 0, n_resamples: int = 2000, level: float = 0.95
) -> pd.DataFrame:
    """Mean |phi| over patients per feature, with a percentile bootstrap interval resampling patients."""
    from scipy import stats

    magnitude = np.abs(np.asarray(phi, dtype=float))
    result = stats.bootstrap((magnitude,), np.mean, axis=0, n_resamples=n_resamples, confidence_level=level,
                             method="percentile", rng=np.random.default_rng(seed))  # fmt: skip
    return pd.DataFrame({"importance": magnitude.mean(axis=0), "low": result.confidence_interval.low,
                         "high": result.confidence_interval.high}, index=list(features))  # fmt: skip


def reference_make_report(intervals: pd.DataFrame, floor: float) -> pd.DataFrame:
    """Features by decreasing importance, with ``matters`` = the interval's lower end is above ``floor``."""
    report = intervals[["importance", "low", "high"]]
    report = report.sort_values("importance", ascending=False, kind="stable")
    return report.assign(matters=report["low"] > floor)
