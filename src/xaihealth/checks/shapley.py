"""Checkers for lab 03, *Model-agnostic post-hoc explanations: Shapley, SHAP, LIME*.

Each checker runs the student's function on games and models it generates itself and tests properties of
the method: the Shapley axioms (efficiency, symmetry, dummy), exact agreement with ``shap``'s TreeSHAP on a
small tree ensemble, convergence of KernelSHAP to the exact values, the local fidelity of LIME on functions
whose local slope is known, and the exact values of a deletion curve. The references live here and are
deliberately plain.

Value functions (``value``) take one boolean mask of length ``n`` (``True`` = the feature is *in* the
coalition, i.e. set to the patient's value) and return a float.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

import numpy as np

from xaihealth.checks._core import describe, exercise

Value = Callable[[np.ndarray], float]

# ---------------------------------------------------------------------------------------------- references


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


# ------------------------------------------------------------------------------------------------ games


def table_game(n: int, seed: int) -> Value:
    """A random game: every coalition gets an independent random worth (strong interactions)."""
    rng = np.random.default_rng(seed)
    table = rng.normal(size=2**n)
    powers = 2 ** np.arange(n)

    def value(mask: np.ndarray) -> float:
        return float(table[int(np.asarray(mask, dtype=int) @ powers)])

    return value


def _model_game(seed: int = 0) -> tuple[Value, np.ndarray, int]:
    """A small boosted tree model on 4 features; interventional value function and shap's TreeSHAP values."""
    import shap
    from sklearn.ensemble import GradientBoostingRegressor

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, 4)).astype(np.float32).astype(float)  # trees split in float32
    y = X[:, 0] * X[:, 1] + np.maximum(X[:, 2], 0) + 0.1 * rng.normal(size=300)
    model = GradientBoostingRegressor(n_estimators=20, max_depth=3, random_state=seed).fit(X, y)
    background, x = X[:30], X[200]

    def value(mask: np.ndarray) -> float:
        rows = background.copy()
        mask = np.asarray(mask, dtype=bool)
        rows[:, mask] = x[mask]
        return float(model.predict(rows).mean())

    explainer = shap.TreeExplainer(model, data=background, feature_perturbation="interventional")
    return value, np.asarray(explainer.shap_values(x[None, :]))[0], 4


def _as_vector(out: object, n: int) -> np.ndarray | None:
    try:
        arr = np.asarray(out, dtype=float).reshape(-1)
    except (TypeError, ValueError):
        return None
    return arr if arr.shape == (n,) and np.all(np.isfinite(arr)) else None


def _same_vector(got: object, want: np.ndarray, atol: float = 1e-9) -> bool:
    vector = _as_vector(got, len(want))
    return vector is not None and np.allclose(vector, want, atol=atol)


# ------------------------------------------------------------------------------------------------ checkers


def check_shapley_values(shapley_values: Callable[[Value, int], np.ndarray]) -> None:
    """Exercise 1: exact Shapley values; the axioms hold and TreeSHAP agrees on a small model."""
    with exercise("Exercise 1 (exact Shapley values)") as ex:
        game = table_game(4, seed=1)
        out = ex.call(shapley_values, game, 4)
        phi = _as_vector(out, 4)
        ex.expect(phi is not None, "return an array of n finite numbers, one Shapley value per feature "
                                   f"(yours: {describe(out)})")  # fmt: skip
        full, empty = game(np.ones(4, bool)), game(np.zeros(4, bool))
        ex.expect(abs(phi.sum() - (full - empty)) < 1e-9,
                  "efficiency fails: the values must add up to v(all features) - v(no feature); does every "
                  "coalition size from 0 to n-1 get the weight |S|! (n-|S|-1)! / n! ?")  # fmt: skip

        def symmetric(mask: np.ndarray) -> float:  # features 0 and 1 are interchangeable
            m = np.asarray(mask, dtype=int)
            return float((m[0] + m[1]) ** 2 + 3 * m[2] * (m[0] + m[1]) - m[3])

        phi_sym = _as_vector(ex.call(shapley_values, symmetric, 4), 4)
        ex.expect(phi_sym is not None and abs(phi_sym[0] - phi_sym[1]) < 1e-9,
                  "symmetry fails: two features that change every coalition's worth equally must get "
                  "equal values")  # fmt: skip

        def with_dummy(mask: np.ndarray) -> float:  # feature 2 never changes the worth
            m = np.asarray(mask, dtype=bool).copy()
            m[2] = False
            return game(m)

        phi_dummy = _as_vector(ex.call(shapley_values, with_dummy, 4), 4)
        ex.expect(phi_dummy is not None and abs(phi_dummy[2]) < 1e-9,
                  "dummy fails: a feature that never changes the worth of a coalition must get "
                  "exactly 0")  # fmt: skip
        games = [{"value": table_game(n, seed), "n": n} for n, seed in ((3, 2), (5, 3))]
        ex.over(shapley_values, cases=games,
                reference=reference_shapley_values, compare=_same_vector,
                hint="wrong values on a random game: average the marginal contribution v(S + i) - v(S) over "
                     "every coalition S without i, with the Shapley weight")  # fmt: skip
        value, tree_shap, n = _model_game()
        got = _as_vector(ex.call(shapley_values, value, n), n)
        ex.expect(got is not None and np.allclose(got, tree_shap, atol=1e-6),
                  "your values differ from shap's TreeSHAP on a small boosted-tree model explained with the "
                  "same "
                  "background (interventional): check the weights again")  # fmt: skip


def check_kernel_shap(kernel_shap: Callable[..., np.ndarray]) -> None:
    """Exercise 2: KernelSHAP from sampled coalitions converges to the exact values and is efficient."""
    with exercise("Exercise 2 (KernelSHAP from scratch)") as ex:
        n = 5
        game = table_game(n, seed=11)
        gap = game(np.ones(n, bool)) - game(np.zeros(n, bool))
        out = ex.call(kernel_shap, game, n, 40, seed=0)
        small = _as_vector(out, n)
        ex.expect(small is not None,
                  f"return an array of n finite numbers, one value per feature (yours: {describe(out)})")
        ex.expect(abs(small.sum() - gap) < 1e-8,
                  "efficiency must hold exactly, whatever the number of coalitions: solve the least squares "
                  "*under the constraint* sum(phi) = v(all) - v(none) (substitute the last "
                  "feature's value)")  # fmt: skip
        again = _as_vector(ex.call(kernel_shap, game, n, 40, seed=0), n)
        ex.expect(again is not None and np.array_equal(small, again),
                  "the same seed must give the same values: draw every random number from "
                  "np.random.default_rng(seed)")  # fmt: skip
        other = _as_vector(ex.call(kernel_shap, game, n, 40, seed=1), n)
        ex.expect(other is not None and not np.allclose(small, other),
                  "a different seed should draw different coalitions and give (slightly) "
                  "different values")  # fmt: skip
        n_big = 6
        big_game = table_game(n_big, seed=12)
        exact_big = reference_shapley_values(big_game, n_big)
        runs = []
        for seed in range(3):
            got = _as_vector(ex.call(kernel_shap, big_game, n_big, 6000, seed=seed), n_big)
            ex.expect(got is not None, "return an array of n finite numbers")
            runs.append(got)
        error = float(np.abs(np.mean(runs, axis=0) - exact_big).max())
        ex.expect(error < 0.07,
                  f"averaged over 3 seeds of 6000 coalitions, your values are still {error:.2f} away from "
                  f"the exact "
                  "Shapley values (a bias, not noise): draw the coalition *size* s with probability "
                  "proportional "
                  "to (n-1)/(s(n-s)) for s = 1..n-1 (never empty, never full), then s distinct features "
                  "uniformly; since the kernel is in the sampling, do not weight the "
                  "regression again")  # fmt: skip


def check_lime_tabular(lime_tabular: Callable[..., tuple[np.ndarray, float]]) -> None:
    """Exercise 3: LIME's slopes per standard deviation, its kernel, its weighted R^2."""
    with exercise("Exercise 3 (LIME for tabular data, from scratch)") as ex:
        rng = np.random.default_rng(5)
        X_train = rng.normal(size=(500, 3)) * np.array([1.0, 10.0, 0.5]) + np.array([0.0, 120.0, 5.0])
        x = X_train[0]
        slopes = np.array([2.0, -0.1, 4.0])

        def linear(X: np.ndarray) -> np.ndarray:
            return np.asarray(X) @ slopes + 1.0

        out = ex.call(lime_tabular, linear, x, X_train, n_samples=300, seed=0)
        ex.returns(out, tuple, "a tuple (coefficients, r2)", size=2)
        coef, r2 = _as_vector(out[0], 3), out[1]
        scale = X_train.std(axis=0)
        ex.expect(coef is not None and np.allclose(coef, slopes * scale, rtol=1e-6, atol=1e-8),
                  "on a linear model the surrogate must recover the slope times the feature's standard "
                  "deviation (regress on the perturbations in standard-deviation units, with "
                  "an intercept)")  # fmt: skip
        ex.expect(abs(float(r2) - 1.0) < 1e-8, "a linear model is fitted perfectly: the weighted R^2 must "
                                               "be 1")
        again = ex.call(lime_tabular, linear, x, X_train, n_samples=300, seed=0)
        ex.expect(np.allclose(np.asarray(again[0], dtype=float), coef),
                  "the same seed must give the same explanation")  # fmt: skip

        def hinge(X: np.ndarray) -> np.ndarray:  # kink at x0 = 0; x1 matters through a smooth step
            X = np.asarray(X)
            return np.maximum(X[:, 0], 0.0) + np.tanh((X[:, 1] - 125.0) / 5.0) + 0.0 * X[:, 2]

        x_local = np.array([0.3, 128.0, 5.0])
        for width in (0.4, 1.5):
            ref_coef, ref_r2 = reference_lime_tabular(hinge, x_local, X_train, 40_000, width, seed=99)
            got = ex.call(lime_tabular, hinge, x_local, X_train, n_samples=40_000, kernel_width=width, seed=3)
            got_coef = _as_vector(got[0], 3)
            shown = describe(got[0]) if got_coef is None else np.round(got_coef, 2)
            ex.expect(got_coef is not None and np.allclose(got_coef, ref_coef, atol=0.03),
                      f"with kernel_width={width} your slopes {shown} are not the local ones: "
                      "measure the distance to x in standard-deviation units, weight each sample by "
                      "sqrt(exp(-d^2 / kernel_width^2)), and fit a *weighted* linear regression")  # fmt: skip
            ex.expect(abs(float(got[1]) - ref_r2) < 0.03,
                      "the surrogate's R^2 must be weighted by the kernel too (weighted residual and total "
                      "sums "
                      "of squares around the weighted mean)")  # fmt: skip


def check_topk_jaccard(topk_jaccard: Callable[[np.ndarray, int], float]) -> None:
    """Exercise 4: mean pairwise Jaccard overlap of the top-k features by absolute weight."""
    with exercise("Exercise 4 (stability across seeds)") as ex:
        same = np.tile(np.array([[0.5, -2.0, 0.1, 1.0, 0.0]]), (4, 1))
        first = ex.returns(ex.call(topk_jaccard, same, 2), (float, int, np.floating, np.integer),
                           "one number, the mean Jaccard overlap")  # fmt: skip
        ex.expect(abs(float(first) - 1.0) < 1e-12,
                  "identical explanations must overlap perfectly (1.0)")  # fmt: skip
        disjoint = np.array([[3.0, 2.0, 0.0, 0.0], [0.0, 0.0, 2.0, 3.0]])
        ex.expect(abs(float(ex.call(topk_jaccard, disjoint, 2))) < 1e-12,
                  "explanations with no top feature in common must score 0")  # fmt: skip
        signs = np.array([[-3.0, 2.0, 0.1, 0.0], [3.0, 2.0, 0.0, 0.1]])
        ex.expect(abs(float(ex.call(topk_jaccard, signs, 2)) - 1.0) < 1e-12,
                  "rank features by the *absolute* weight: a large negative weight is a top "
                  "feature too")  # fmt: skip
        rng = np.random.default_rng(0)
        ex.over(topk_jaccard, cases=[{"coefs": rng.normal(size=(6, 8)), "k": k} for k in (1, 3)],
                reference=reference_topk_jaccard, compare=lambda got, want: abs(float(got) - want) < 1e-12,
                hint="average |A & B| / |A | B| of the top-k sets over every pair of different runs (i < j), "
                     "exactly k features per set")  # fmt: skip


def check_deletion_curve(deletion_curve: Callable[..., tuple[np.ndarray, float]]) -> None:
    """Exercise 5: the deletion curve and its normalised area."""
    with exercise("Exercise 5 (a deletion curve)") as ex:
        rng = np.random.default_rng(2)
        W = rng.normal(size=5)

        def model(X: np.ndarray) -> np.ndarray:
            X = np.atleast_2d(np.asarray(X, dtype=float))
            return np.tanh(X @ W) + 0.3 * X[:, 0] * X[:, 1]

        x, baseline = rng.normal(size=5), np.zeros(5)
        order = np.array([3, 0, 4, 1, 2])
        out = ex.call(deletion_curve, model, x, baseline, order)
        ex.returns(out, tuple, "a tuple (curve, area)", size=2)
        curve = np.asarray(out[0], dtype=float).reshape(-1)
        ex.expect(curve.shape == (6,), "the curve has n + 1 points: before any deletion, then after each one")
        ex.expect(abs(curve[0] - model(x)[0]) < 1e-9 and abs(curve[-1] - model(baseline)[0]) < 1e-9,
                  "the curve starts at f(x) (nothing deleted) and ends at f(baseline) "
                  "(everything deleted)")  # fmt: skip
        ref_curve, ref_area = reference_deletion_curve(model, x, baseline, order)
        ex.expect(np.allclose(curve, ref_curve, atol=1e-9),
                  "point k must be the prediction with the *first k* features of `order` all replaced by the "
                  "baseline (deletions accumulate, in the given order)")  # fmt: skip
        ex.expect(abs(float(out[1]) - ref_area) < 1e-9,
                  "area: rescale the curve to (curve - curve[-1]) / (curve[0] - curve[-1]) and integrate it "
                  "with "
                  "the trapezoid rule over the fraction deleted, np.linspace(0, 1, n + 1)")  # fmt: skip
        order2 = np.array([1, 2, 0, 4, 3])
        curve2, area2 = ex.call(deletion_curve, model, x + 0.5, baseline + 0.2, order2)
        ref2 = reference_deletion_curve(model, x + 0.5, baseline + 0.2, order2)
        same = np.allclose(np.asarray(curve2, float), ref2[0], atol=1e-9) and abs(area2 - ref2[1]) < 1e-9
        ex.expect(same,
                  "right on the first case but not on a second one: use the baseline's own values, "
                  "not zeros")  # fmt: skip
