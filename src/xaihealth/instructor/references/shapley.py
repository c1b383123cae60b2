"""Reference implementations for the checkers of :mod:`xaihealth.checks.shapley` (instructor-only).

Moved verbatim out of the module the labs import, so that student code cannot call them; the
checkers reach them only through ``xaihealth.checks._reference.references("shapley")``, which in a
student release replays the values these functions returned when the solutions were checked.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

from xaihealth.checks.shapley import Value, scaffold_synthetic


def reference_shapley_values(value: Value, n: int) -> np.ndarray:
    """Exact Shapley values by enumerating every coalition S that excludes feature i."""
    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in itertools.combinations(others, size):
                mask = np.zeros(n, dtype=bool)
                mask[list(subset)] = True
                without = value(mask)
                mask[i] = True
                phi[i] += weight * (value(mask) - without)
    return phi


def reference_kernel_shap(value: Value, n: int, n_coalitions: int, seed: int = 0) -> np.ndarray:
    """KernelSHAP: coalitions drawn from the Shapley kernel, least squares under the efficiency constraint.

    The Shapley kernel gives a coalition of size s (0 < s < n) the weight (n-1) / (C(n,s) s (n-s)); all
    C(n,s) coalitions of that size together weigh (n-1) / (s (n-s)). We draw the size with that
    probability, then a uniformly random coalition of that size: the kernel is then in the sampling, so
    every drawn coalition gets weight 1 in the regression.
    """
    rng = np.random.default_rng(seed)
    sizes = np.arange(1, n)
    p = (n - 1) / (sizes * (n - sizes))
    masks = np.zeros((n_coalitions, n), dtype=bool)
    for row, size in zip(masks, rng.choice(sizes, size=n_coalitions, p=p / p.sum()), strict=True):
        row[rng.choice(n, size=size, replace=False)] = True
    v_empty, v_full = value(np.zeros(n, dtype=bool)), value(np.ones(n, dtype=bool))
    y = np.array([value(m) for m in masks]) - v_empty
    # Efficiency: phi_last = (v_full - v_empty) - sum(other phi); substitute and solve for the others.
    Z = masks.astype(float)
    A = Z[:, :-1] - Z[:, [-1]]
    b = y - Z[:, -1] * (v_full - v_empty)
    phi_rest = np.linalg.lstsq(A, b, rcond=None)[0]
    return np.append(phi_rest, (v_full - v_empty) - phi_rest.sum())


def reference_lime_tabular(
    predict: Callable[[np.ndarray], np.ndarray],
    x: np.ndarray,
    X_train: np.ndarray,
    n_samples: int = 1000,
    kernel_width: float | None = None,
    seed: int = 0,
) -> tuple[np.ndarray, float]:
    """LIME for tabular data: Gaussian perturbations around x, exponential kernel, weighted linear fit.

    Returns the surrogate's slopes *per standard deviation* of each feature and its weighted R^2.
    """
    x, X_train = np.asarray(x, dtype=float), np.asarray(X_train, dtype=float)
    m = x.shape[0]
    width = 0.75 * math.sqrt(m) if kernel_width is None else kernel_width
    rng = np.random.default_rng(seed)
    scale = X_train.std(axis=0)
    Z = rng.standard_normal((n_samples, m))  # perturbations in standard-deviation units
    y = np.asarray(predict(x + Z * scale), dtype=float)
    distance = np.sqrt((Z**2).sum(axis=1))
    w = np.sqrt(np.exp(-(distance**2) / width**2))
    D = np.column_stack([np.ones(n_samples), Z])
    sw = np.sqrt(w)
    beta = np.linalg.lstsq(D * sw[:, None], y * sw, rcond=None)[0]
    residual = y - D @ beta
    y_bar = np.average(y, weights=w)
    r2 = 1.0 - np.sum(w * residual**2) / np.sum(w * (y - y_bar) ** 2)
    return beta[1:], float(r2)


def reference_topk_jaccard(coefs: np.ndarray, k: int) -> float:
    """Mean Jaccard overlap of the top-k features (by |coefficient|) over all pairs of runs."""
    tops = [set(np.argsort(-np.abs(row), kind="stable")[:k]) for row in np.asarray(coefs, dtype=float)]
    pairs = list(itertools.combinations(tops, 2))
    return float(np.mean([len(a & b) / len(a | b) for a, b in pairs]))


def reference_deletion_curve(
    predict: Callable[[np.ndarray], np.ndarray], x: np.ndarray, baseline: np.ndarray, order: np.ndarray
) -> tuple[np.ndarray, float]:
    """Prediction as features are replaced by the baseline one by one, in ``order``; normalised area.

    ``curve[k]`` is the prediction with the first k features of ``order`` deleted (``curve[0] = f(x)``,
    ``curve[-1] = f(baseline)``). The area under the curve rescaled to run from 1 to 0, over the fraction
    of features deleted, is small when the order puts the features that matter first.
    """
    x, baseline = np.asarray(x, dtype=float), np.asarray(baseline, dtype=float)
    rows = np.repeat(x[None, :], len(order) + 1, axis=0)
    for k in range(1, len(order) + 1):
        rows[k:, order[k - 1]] = baseline[order[k - 1]]
    curve = np.asarray(predict(rows), dtype=float)
    normalised = (curve - curve[-1]) / (curve[0] - curve[-1])
    return curve, float(np.trapezoid(normalised, np.linspace(0, 1, len(curve))))


def reference_make_scaffold(
    biased: Callable[[np.ndarray], np.ndarray],
    innocuous: Callable[[np.ndarray], np.ndarray],
    X_real: np.ndarray,
    seed: int = 0,
) -> Callable[[np.ndarray], np.ndarray]:
    """Slack et al. (2020): a detector of LIME-style points decides which model answers."""
    from sklearn.ensemble import RandomForestClassifier

    X_real = np.asarray(X_real, dtype=float)
    synthetic = scaffold_synthetic(X_real, X_real, np.random.default_rng(seed))
    detector = RandomForestClassifier(n_estimators=20, max_depth=8, random_state=seed).fit(
        np.vstack([X_real, synthetic]), np.r_[np.ones(len(X_real)), np.zeros(len(synthetic))])

    def predict(Z: np.ndarray) -> np.ndarray:
        Z = np.asarray(Z, dtype=float)
        looks_real = detector.predict_proba(Z)[:, 1] > 0.5
        return np.where(looks_real, biased(Z), innocuous(Z))

    return predict
