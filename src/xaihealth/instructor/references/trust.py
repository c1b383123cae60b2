"""Reference implementations for the checkers of :mod:`xaihealth.checks.trust` (instructor-only).

Moved verbatim out of the module the labs import, so that student code cannot call them; the
checkers reach them only through ``xaihealth.checks._reference.references("trust")``, which in a
student release replays the values these functions returned when the solutions were checked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from xaihealth import validate
from xaihealth.checks._core import describe
from xaihealth.checks.trust import THRESHOLD_KEYS, _binary, _multiclass, _probability, nll


def reference_expected_calibration_error(y_true: Any, p: Any, n_bins: int = 10) -> float:
    """ECE with ``n_bins`` equal-width bins on [0, 1], the last one closed at 1.0, weighted by counts.

    ``sum_b (n_b / n) |mean(y in b) - mean(p in b)|`` over the non-empty bins b. Bin b is
    ``[b/n_bins, (b+1)/n_bins)``, except the last, ``[1 - 1/n_bins, 1]``.
    """
    y, q = _binary(y_true, p)
    n_bins = validate.integer("n_bins", n_bins, minimum=1)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.digitize(q, edges[1:-1])  # 0..n_bins-1; p = 1.0 falls in the last bin
    ece = 0.0
    for b in range(n_bins):
        inside = index == b
        if inside.any():
            ece += inside.mean() * abs(y[inside].mean() - q[inside].mean())
    return float(ece)


def reference_fit_temperature(logits: Any, y: Any) -> float:
    """The T > 0 minimising the NLL of softmax(logits / T): bounded search on log T in [1/100, 100].

    The NLL is convex in 1/T (a log-sum-exp of a linear function minus a linear one), so the minimum is
    unique.
    """
    from scipy.optimize import minimize_scalar

    z, labels = _multiclass(logits, y)
    result = minimize_scalar(
        lambda s: nll(z, labels, math.exp(s)),
        bounds=(math.log(0.01), math.log(100.0)),
        method="bounded",
        options={"xatol": 1e-10},
    )
    return float(math.exp(result.x))


def reference_temperature_report(
    logits_cal: Any, y_cal: Any, logits_test: Any, y_test: Any
) -> dict[str, float]:
    """T fitted on the calibration set; the test set's NLL before (T = 1) and after scaling."""
    t = reference_fit_temperature(logits_cal, y_cal)
    _multiclass(logits_test, y_test, "logits_test")
    return {"T": t, "nll_before": nll(logits_test, y_test, 1.0), "nll_after": nll(logits_test, y_test, t)}


def reference_conformal_quantile(scores: Any, alpha: float) -> float:
    """The ceil((n + 1)(1 - alpha))-th smallest score; infinity when that rank exceeds n."""
    s = np.asarray(scores, dtype=float)
    if s.ndim != 1 or len(s) == 0 or not np.isfinite(s).all():
        raise ValueError(f"scores must be a non-empty 1-d array of finite numbers, got {describe(scores)}")
    alpha = _probability("alpha", alpha)
    n = len(s)
    rank = math.ceil((n + 1) * (1 - alpha))
    return float("inf") if rank > n else float(np.sort(s)[rank - 1])


def reference_prediction_sets(probs_cal: Any, y_cal: Any, probs_test: Any, alpha: float) -> np.ndarray:
    """Split-conformal sets: score 1 - p(true class) on the calibration set; keep classes with 1 - p <= q."""
    p_cal, labels = _multiclass(probs_cal, y_cal, "probs_cal")
    p_test = np.asarray(probs_test, dtype=float)
    if p_test.ndim != 2 or p_test.shape[1] != p_cal.shape[1]:
        raise ValueError(f"probs_test must have shape (m, {p_cal.shape[1]}), got {describe(probs_test)}")
    q = reference_conformal_quantile(1.0 - p_cal[np.arange(len(p_cal)), labels], alpha)
    return (1.0 - p_test) <= q


def reference_predictive_values(
    sensitivity: float, specificity: float, prevalence: float
) -> dict[str, float]:
    """PPV and NPV by Bayes' rule at ``prevalence``; the likelihood ratios LR+ and LR-."""
    se = _probability("sensitivity", sensitivity)
    sp = _probability("specificity", specificity)
    pi = _probability("prevalence", prevalence)
    return {
        "ppv": se * pi / (se * pi + (1 - sp) * (1 - pi)),
        "npv": sp * (1 - pi) / (sp * (1 - pi) + (1 - se) * pi),
        "lr_plus": se / (1 - sp),
        "lr_minus": (1 - se) / sp,
    }


def reference_leaked_fraction(train_idx: Any, test_idx: Any, patient: Any) -> float:
    """Share of the test *records* whose patient also has a record in the training set."""
    patient = np.asarray(patient)
    if patient.ndim != 1:
        raise ValueError(
            f"patient must be a 1-d array of patient ids, one per record, got {describe(patient)}"
        )
    idx = []
    for name, value in (("train_idx", train_idx), ("test_idx", test_idx)):
        arr = np.asarray(value)
        if arr.ndim != 1 or not np.issubdtype(arr.dtype, np.integer) or len(arr) == 0:
            raise ValueError(
                f"{name} must be a non-empty 1-d array of integer record positions, got {describe(value)}"
            )
        if arr.min() < 0 or arr.max() >= len(patient):
            raise ValueError(f"{name} holds positions outside 0..{len(patient) - 1}")
        idx.append(arr)
    return float(np.isin(patient[idx[1]], patient[idx[0]]).mean())


def reference_cohen_kappa(table: Any) -> float:
    """Cohen's kappa of a K x K confusion matrix of counts (rows: rater A, columns: rater B)."""
    t = np.asarray(table, dtype=float)
    if t.ndim != 2 or t.shape[0] != t.shape[1] or t.shape[0] < 2 or (t < 0).any() or t.sum() <= 0:
        raise ValueError(
            f"table must be a square K x K matrix of non-negative counts (K >= 2), got {describe(table)}"
        )
    n = t.sum()
    observed = np.trace(t) / n
    chance = float(t.sum(axis=1) @ t.sum(axis=0)) / n**2
    return float((observed - chance) / (1 - chance))


def reference_fit_for_site(y: Any, p: Any, covered: Any, thresholds: Mapping[str, float]) -> dict[str, Any]:
    """Fit for the site when its ECE (10 bins) <= max_ece and its conformal coverage >= min_coverage."""
    ece = reference_expected_calibration_error(y, p, 10)
    cov = np.asarray(covered)
    if cov.shape != np.shape(p) or cov.dtype != bool:
        raise ValueError(f"covered must be a boolean array of the shape of p, got {describe(covered)}")
    if not isinstance(thresholds, Mapping) or any(k not in thresholds for k in THRESHOLD_KEYS):
        raise ValueError(
            f"thresholds must be a dict with the keys {THRESHOLD_KEYS}, got {describe(thresholds)}"
        )
    coverage = float(cov.mean())
    reasons = []
    if ece > thresholds["max_ece"]:
        reasons.append(f"ECE {ece:.3f} is above the limit {thresholds['max_ece']}")
    if coverage < thresholds["min_coverage"]:
        reasons.append(f"coverage {coverage:.3f} is below the limit {thresholds['min_coverage']}")
    return {"fit": not reasons, "ece": ece, "coverage": coverage, "reasons": reasons}
