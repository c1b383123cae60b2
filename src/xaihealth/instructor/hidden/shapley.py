"""Hidden tests for lab 03 (Shapley, KernelSHAP, LIME, stability, deletion curves, scaffolds).

Other games (sizes 2 and 6, a planted additive game), other KernelSHAP budgets and seeds, LIME with 2 and
5 features and other widths, other run counts and k, deletion curves on 3 and 8 features, and a scaffold
on a third planted data set shifted downwards.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from xaihealth.checks.shapley import (
    _as_vector,
    _constrained_solution,
    _recording,
    _same_vector,
    scaffold_biased,
    scaffold_data,
    scaffold_innocuous,
    scaffold_synthetic,
    table_game,
)
from xaihealth.instructor.hidden import hidden_references
from xaihealth.instructor.integrity import exercise

refs = hidden_references("shapley")


def hidden_check_shapley_values(shapley_values: Callable[..., np.ndarray]) -> None:
    """Random games with 2 and 6 players (other seeds and offset), and an additive game with one pair effect.

    In ``v(S) = sum_{i in S} w_i + c [0 in S and 5 in S]`` the Shapley value is ``w_i``, plus ``c / 2`` for
    players 0 and 5: a closed form that does not depend on the reference.
    """
    with exercise("Exercise 1 (exact Shapley values) (hidden tests)") as ex:
        cases = [{"value": table_game(n, seed, offset=-3.0), "n": n} for n, seed in ((2, 40), (6, 41))]
        ex.over(shapley_values, cases=cases, reference=refs.reference_shapley_values, compare=_same_vector,
                hint="wrong values on a random game with another number of players")  # fmt: skip
        w = np.array([1.5, -0.5, 2.0, 0.25, -1.0, 0.75])

        def additive(mask: np.ndarray) -> float:
            m = np.asarray(mask, dtype=bool)
            return float(w[m].sum() + 3.0 * (m[0] and m[5]))

        got = _as_vector(ex.call(shapley_values, additive, 6), 6)
        ex.expect(got is not None and np.allclose(got, w + np.array([1.5, 0, 0, 0, 0, 1.5]), atol=1e-9),
                  "on an additive game with one pairwise interaction each player must get its own weight, "
                  "and the two interacting players half of the interaction each")  # fmt: skip


def hidden_check_kernel_shap(kernel_shap: Callable[..., np.ndarray]) -> None:
    """Other (n, n_coalitions, seed) and games: n_coalitions draws, the lab's least squares, the kernel.

    The draw is not fixed (any valid one passes): on the coalitions the function drew, its values must be
    the constrained least squares; n = 6 with 4,000 draws tests the size distribution and uniform features;
    two other seeds must give different values.
    """
    with exercise("Exercise 2 (KernelSHAP from scratch) (hidden tests)") as ex:
        for n, budget, seed, game_seed in ((3, 25, 5, 50), (5, 90, 8, 51), (8, 120, 6, 52)):
            game = table_game(n, seed=game_seed, offset=-6.0)
            counted, calls = _recording(game, n)
            got = _as_vector(ex.call(kernel_shap, counted, n, budget, seed=seed), n)
            ex.expect(got is not None, "return an array of n finite numbers")
            drawn = [c for c in calls if 0 < c.sum() < n]
            shown = f"n={n}, n_coalitions={budget}, seed={seed}"
            ex.expect(len(drawn) == budget,
                      f"with {shown} your function evaluated {len(drawn)} coalitions that are neither empty "
                      "nor full: draw exactly n_coalitions of them")  # fmt: skip
            want = _constrained_solution(np.array(drawn), np.array([game(c) for c in drawn]),
                                         game(np.zeros(n, bool)), game(np.ones(n, bool)))
            ex.expect(np.allclose(got, want, atol=1e-8),
                      f"with {shown}: on the coalitions your function drew, your values are not the lab's "
                      "constrained least squares of v(S) - v(empty)")  # fmt: skip
        counted, calls = _recording(table_game(6, seed=53), 6)
        ex.call(kernel_shap, counted, 6, 4000, seed=10)
        sizes = np.array([c.sum() for c in calls if 0 < c.sum() < 6])
        kernel = 5 / (np.arange(1, 6) * (6 - np.arange(1, 6)))
        freq = np.bincount(sizes, minlength=6)[1:6] / max(len(sizes), 1)
        ex.expect(np.abs(freq - kernel / kernel.sum()).max() < 0.03,
                  "with n=6 the coalition sizes do not follow the Shapley kernel")  # fmt: skip
        masks = np.array([c for c in calls if 0 < c.sum() < 6]).reshape(-1, 6)
        tilt = np.abs((masks - masks.sum(axis=1, keepdims=True) / 6).mean(axis=0)).max() if len(masks) else 1
        ex.expect(tilt < 0.04, "with n=6 some feature is drawn more often than its coalition size allows: "
                               "draw s distinct features uniformly")  # fmt: skip
        game = table_game(4, seed=54)
        first, second = (_as_vector(ex.call(kernel_shap, game, 4, 30, seed=s), 4) for s in (12, 13))
        ex.expect(first is not None and second is not None and not np.allclose(first, second),
                  "seed=12 and seed=13 gave the same values: draw from np.random.default_rng(seed)")


def hidden_check_lime_tabular(lime_tabular: Callable[..., tuple[np.ndarray, float]]) -> None:
    """Exact comparison on 2 and 5 features, other seeds, sample sizes and kernel widths."""
    with exercise("Exercise 3 (LIME for tabular data, from scratch) (hidden tests)") as ex:
        rng = np.random.default_rng(60)
        spread, centre = np.array([2.0, 0.3, 15.0, 1.0, 4.0]), np.array([1, 0, 80, 3, -2])
        train5 = rng.normal(size=(400, 5)) * spread + centre
        train2 = train5[:, [1, 2]]

        def smooth5(X: np.ndarray) -> np.ndarray:
            X = np.asarray(X, dtype=float)
            return np.tanh(X[:, 0] - 1) + 0.02 * X[:, 2] + np.sin(X[:, 3]) * X[:, 4] / 4

        def smooth2(X: np.ndarray) -> np.ndarray:
            X = np.asarray(X, dtype=float)
            return 1 / (1 + np.exp(-(X[:, 1] - 80) / 10)) + X[:, 0] ** 2

        for predict, train, n_samples, width, seed in (
            (smooth5, train5, 350, None, 13),
            (smooth2, train2, 150, None, 21),
            (smooth5, train5, 220, 1.1, 17),
            (smooth2, train2, 300, 0.8, 4),
        ):
            x = train[7]
            ref_coef, ref_r2 = refs.reference_lime_tabular(predict, x, train, n_samples, width, seed)
            got = ex.call(lime_tabular, predict, x, train, n_samples=n_samples, kernel_width=width, seed=seed)
            ex.returns(got, tuple, "a tuple (coefficients, r2)", size=2)
            coef = _as_vector(got[0], len(x))
            ex.expect(coef is not None and np.allclose(coef, ref_coef, rtol=1e-7, atol=1e-9)
                      and abs(float(got[1]) - ref_r2) < 1e-7,
                      f"with {len(x)} features, n_samples={n_samples}, kernel_width={width}, seed={seed} "
                      "your answer is not the one the exercise defines")  # fmt: skip


def hidden_check_topk_jaccard(topk_jaccard: Callable[[np.ndarray, int], float]) -> None:
    """Other numbers of runs and features, k = 2 and 4, and a planted case with a known overlap."""
    with exercise("Exercise 4 (stability across seeds) (hidden tests)") as ex:
        rng = np.random.default_rng(70)
        cases = [{"coefs": rng.normal(size=shape), "k": k} for shape, k in (((3, 5), 2), ((10, 12), 4))]
        ex.over(topk_jaccard, cases=cases, reference=refs.reference_topk_jaccard,
                compare=lambda got, want: abs(float(got) - want) < 1e-12,
                hint="wrong mean Jaccard overlap for other numbers of runs and features")  # fmt: skip
        planted = np.array([[5.0, -4.0, 3.0, 0.0, 0.0], [5.0, 0.0, -3.0, 4.0, 0.0],
                            [-5.0, 4.0, 0.0, 0.0, 3.0]])
        # top-3 sets {0,1,2}, {0,2,3}, {0,1,4}: overlaps 2/4, 2/4, 1/5
        got = float(ex.call(topk_jaccard, planted, 3))
        ex.expect(abs(got - (0.5 + 0.5 + 0.2) / 3) < 1e-12,
                  "three runs with top-3 sets {0,1,2}, {0,2,3}, {0,1,4} overlap 0.4 on average")  # fmt: skip


def hidden_check_deletion_curve(deletion_curve: Callable[..., tuple[np.ndarray, float]]) -> None:
    """Curves on 3 and 8 features with other models, baselines and orders."""
    with exercise("Exercise 5 (a deletion curve) (hidden tests)") as ex:
        W = np.random.default_rng(80).normal(size=8)

        def model(X: np.ndarray) -> np.ndarray:
            X = np.atleast_2d(np.asarray(X, dtype=float))
            return 1 / (1 + np.exp(-X @ W[: X.shape[1]])) + 0.2 * X[:, -1] ** 2

        cases = []
        for n, seed in ((3, 81), (8, 82)):
            r = np.random.default_rng(seed)
            cases.append({"x": r.normal(size=n) + 1, "baseline": r.normal(size=n) - 1,
                          "order": r.permutation(n)})
        ex.over(deletion_curve, model, cases=cases, reference=refs.reference_deletion_curve,
                compare=lambda got, want: (_same_vector(got[0], want[0])
                                           and abs(float(got[1]) - want[1]) < 1e-9),
                hint="wrong curve or area with another number of features, baseline and order")  # fmt: skip


def hidden_check_make_scaffold(make_scaffold: Callable[..., Callable[[np.ndarray], np.ndarray]]) -> None:
    """A third planted data set (another seed, ages and pressures shifted down): behaviour and agreement."""
    with exercise("Exercise 6a (build a scaffold) (hidden tests)") as ex:
        seed = 37
        X_real, new_real = scaffold_data(800, seed), scaffold_data(200, seed + 100)
        for data in (X_real, new_real):
            data[:, [0, 2, 3]] -= 15.0
        predict = ex.call(make_scaffold, scaffold_biased, scaffold_innocuous, X_real, seed=seed)
        ex.expect(callable(predict), "return a function predict(Z)")
        queried = scaffold_synthetic(new_real[:100], X_real, np.random.default_rng(seed + 200))
        probe = np.vstack([new_real[100:], queried])
        got = np.asarray(ex.call(predict, probe), dtype=float).reshape(-1)
        ex.expect(got.shape == (200,), "predict(Z) must return one number per row of Z")
        real_ok = float(np.mean(np.isclose(got[:100], scaffold_biased(new_real[100:]))))
        ex.expect(real_ok >= 0.8,
                  f"on new real records your scaffold follows the biased model for only {real_ok:.0%}")
        want = refs.reference_make_scaffold(scaffold_biased, scaffold_innocuous, X_real, seed=seed)(probe)
        agree = float(np.mean(np.isclose(got, want))) if got.shape == want.shape else 0.0
        ex.expect(agree >= 0.99, f"on another data set (seed={seed}) your scaffold agrees with the lab's on "
                                 f"only {agree:.0%} of the probe points")  # fmt: skip
