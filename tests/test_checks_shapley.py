"""Mutation tests for the lab 03 checkers: each accepts the reference and rejects plausible mistakes."""

import itertools
import math

import numpy as np
import pytest
from mutation import case_id, mutation_cases, run_case

from xaihealth.checks import shapley as sh

# --- Exercise 1: exact Shapley values ---------------------------------------------------------------------


def _marginals(value, n, weight):
    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            for subset in itertools.combinations(others, size):
                mask = np.zeros(n, dtype=bool)
                mask[list(subset)] = True
                without = value(mask)
                mask[i] = True
                phi[i] += weight(size, n) * (value(mask) - without)
    return phi


def shapley_banzhaf(value, n):
    """Every coalition weighted equally, 1 / 2^(n-1): the Banzhaf value, not Shapley."""
    return _marginals(value, n, lambda s, n: 1 / 2 ** (n - 1))


def shapley_off_by_one(value, n):
    """Coalition size off by one in the weight: (s+1)! (n-s-2)! / n!, with (-1)! taken as 1."""
    def weight(s, n):
        return math.factorial(s + 1) * math.factorial(max(n - s - 2, 0)) / math.factorial(n)

    return _marginals(value, n, weight)


def shapley_leave_one_out(value, n):
    """Only the last marginal contribution: v(N) - v(N without i)."""
    full = np.ones(n, dtype=bool)
    return np.array([value(full) - value(np.where(np.arange(n) == i, False, full)) for i in range(n)])


def shapley_n_instead_of_n_minus_one(value, n):
    """Weight s! (n-s)! / n!: uses n where n-1 belongs."""
    return _marginals(value, n, lambda s, n: math.factorial(s) * math.factorial(n - s) / math.factorial(n))


def shapley_normalised_by_hand(value, n):
    """Banzhaf values rescaled so that they add up (efficiency forced, weights still wrong)."""
    phi = shapley_banzhaf(value, n)
    gap = value(np.ones(n, bool)) - value(np.zeros(n, bool))
    return phi * gap / phi.sum()


# --- Exercise 2: KernelSHAP ------------------------------------------------------------------------------


def _kernel(value, n, n_coalitions, seed, size_probs, weights=None, constrained=True, size_shift=0):
    rng = np.random.default_rng(seed)
    sizes = np.arange(1, n)
    masks = np.zeros((n_coalitions, n), dtype=bool)
    drawn = rng.choice(sizes, size=n_coalitions, p=size_probs / size_probs.sum())
    for row, size in zip(masks, drawn, strict=True):
        row[rng.choice(n, size=min(size + size_shift, n), replace=False)] = True
    v0, v1 = value(np.zeros(n, bool)), value(np.ones(n, bool))
    y = np.array([value(m) for m in masks]) - v0
    Z = masks.astype(float)
    w = np.ones(n_coalitions) if weights is None else weights(Z.sum(1))
    sw = np.sqrt(w)
    if not constrained:
        D = np.column_stack([np.ones(n_coalitions), Z])
        return np.linalg.lstsq(D * sw[:, None], y * sw, rcond=None)[0][1:]
    A, b = Z[:, :-1] - Z[:, [-1]], y - Z[:, -1] * (v1 - v0)
    rest = np.linalg.lstsq(A * sw[:, None], b * sw, rcond=None)[0]
    return np.append(rest, (v1 - v0) - rest.sum())


def _kernel_mass(n):
    s = np.arange(1, n)
    return (n - 1) / (s * (n - s))


def kernel_uniform_sizes(value, n, n_coalitions, seed=0):
    """Coalition sizes drawn uniformly: the Shapley kernel is missing."""
    return _kernel(value, n, n_coalitions, seed, np.ones(n - 1))


def kernel_no_efficiency_constraint(value, n, n_coalitions, seed=0):
    """Free intercept, no constraint: the values need not add up to f(x) - E f."""
    return _kernel(value, n, n_coalitions, seed, _kernel_mass(n), constrained=False)


def kernel_size_off_by_one(value, n, n_coalitions, seed=0):
    """Coalitions one feature too large (sizes 2..n): full coalitions drawn, singletons never."""
    return _kernel(value, n, n_coalitions, seed, _kernel_mass(n), size_shift=1)


def kernel_weighted_twice(value, n, n_coalitions, seed=0):
    """Sampled from the kernel AND weighted by the kernel again."""
    return _kernel(value, n, n_coalitions, seed, _kernel_mass(n),
                   weights=lambda s: (n - 1) / (np.array([math.comb(n, int(k)) for k in s]) * s * (n - s)))


def kernel_size_mass_without_binomial(value, n, n_coalitions, seed=0):
    """Size drawn with the weight of ONE coalition, (n-1)/(C(n,s) s (n-s)), forgetting there are C(n,s)."""
    s = np.arange(1, n)
    return _kernel(value, n, n_coalitions, seed, _kernel_mass(n) / np.array([math.comb(n, k) for k in s]))


# --- Exercise 3: LIME ------------------------------------------------------------------------------------


def _lime(predict, x, X_train, n_samples=1000, kernel_width=None, seed=0, kernel="lime", units="sd",
          distance="sd"):
    x, X_train = np.asarray(x, float), np.asarray(X_train, float)
    m = len(x)
    width = 0.75 * math.sqrt(m) if kernel_width is None else kernel_width
    rng = np.random.default_rng(seed)
    scale = X_train.std(0)
    Z = rng.standard_normal((n_samples, m))
    y = predict(x + Z * scale)
    d = np.sqrt(((Z if distance == "sd" else Z * scale) ** 2).sum(1))
    w = {"lime": np.sqrt(np.exp(-d**2 / width**2)), "none": np.ones(n_samples),
         "no_sqrt": np.exp(-d**2 / width**2)}[kernel]
    regressors = Z if units == "sd" else Z * scale
    D = np.column_stack([np.ones(n_samples), regressors])
    sw = np.sqrt(w)
    beta = np.linalg.lstsq(D * sw[:, None], y * sw, rcond=None)[0]
    res = y - D @ beta
    r2 = 1 - np.sum(w * res**2) / np.sum(w * (y - np.average(y, weights=w)) ** 2)
    return beta[1:], float(r2)


def lime_no_kernel(predict, x, X_train, n_samples=1000, kernel_width=None, seed=0):
    return _lime(predict, x, X_train, n_samples, kernel_width, seed, kernel="none")


def lime_kernel_without_sqrt(predict, x, X_train, n_samples=1000, kernel_width=None, seed=0):
    return _lime(predict, x, X_train, n_samples, kernel_width, seed, kernel="no_sqrt")


def lime_raw_units(predict, x, X_train, n_samples=1000, kernel_width=None, seed=0):
    """Slopes per raw unit instead of per standard deviation."""
    return _lime(predict, x, X_train, n_samples, kernel_width, seed, units="raw")


def lime_raw_distance(predict, x, X_train, n_samples=1000, kernel_width=None, seed=0):
    """Distance measured in raw units: features with a large scale dominate the kernel."""
    return _lime(predict, x, X_train, n_samples, kernel_width, seed, distance="raw")


def lime_unweighted_r2(predict, x, X_train, n_samples=1000, kernel_width=None, seed=0):
    coef, _ = _lime(predict, x, X_train, n_samples, kernel_width, seed)
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n_samples, len(x)))
    y = predict(np.asarray(x, float) + Z * np.asarray(X_train, float).std(0))
    D = np.column_stack([np.ones(n_samples), Z])
    beta = np.linalg.lstsq(D, y, rcond=None)[0]
    return coef, float(1 - np.sum((y - D @ beta) ** 2) / np.sum((y - y.mean()) ** 2))


# --- Exercise 4: top-k Jaccard ---------------------------------------------------------------------------


def _tops(coefs, k, key=np.abs):
    return [set(np.argsort(-key(np.asarray(r, float)), kind="stable")[:k]) for r in coefs]


def jaccard_signed(coefs, k):
    """Ranks by the signed weight: large negative weights never count as top features."""
    tops = _tops(coefs, k, key=lambda r: r)
    return float(np.mean([len(a & b) / len(a | b) for a, b in itertools.combinations(tops, 2)]))


def jaccard_with_self_pairs(coefs, k):
    """Averages over all ordered pairs, including each run with itself (inflated)."""
    tops = _tops(coefs, k)
    return float(np.mean([len(a & b) / len(a | b) for a in tops for b in tops]))


def jaccard_top_k_plus_one(coefs, k):
    tops = _tops(coefs, k + 1)
    return float(np.mean([len(a & b) / len(a | b) for a, b in itertools.combinations(tops, 2)]))


def jaccard_overlap_over_k(coefs, k):
    """|A & B| / k: the overlap coefficient, not Jaccard."""
    tops = _tops(coefs, k)
    return float(np.mean([len(a & b) / k for a, b in itertools.combinations(tops, 2)]))


# --- Exercise 5: deletion curve --------------------------------------------------------------------------


def _area(curve):
    curve = np.asarray(curve, float)
    return float(np.trapezoid((curve - curve[-1]) / (curve[0] - curve[-1]), np.linspace(0, 1, len(curve))))


def deletion_not_cumulative(predict, x, baseline, order):
    """Deletes only feature order[k-1] at step k, restoring the previous ones."""
    rows = [np.asarray(x, float)]
    for j in order:
        row = np.asarray(x, float).copy()
        row[j] = baseline[j]
        rows.append(row)
    curve = predict(np.array(rows))
    return curve, _area(curve)


def deletion_without_start(predict, x, baseline, order):
    """Forgets the point before any deletion (n points instead of n + 1)."""
    curve, _ = sh.reference_deletion_curve(predict, x, baseline, order)
    return curve[1:], _area(curve[1:])


def deletion_reversed_order(predict, x, baseline, order):
    return sh.reference_deletion_curve(predict, x, baseline, np.asarray(order)[::-1])


def deletion_unnormalised_area(predict, x, baseline, order):
    curve, _ = sh.reference_deletion_curve(predict, x, baseline, order)
    return curve, float(np.trapezoid(curve, np.linspace(0, 1, len(curve))))


def deletion_zero_baseline(predict, x, baseline, order):
    return sh.reference_deletion_curve(predict, x, np.zeros_like(np.asarray(x, float)), order)


def deletion_mean_not_trapezoid(predict, x, baseline, order):
    curve, _ = sh.reference_deletion_curve(predict, x, baseline, order)
    return curve, float(np.mean((curve - curve[-1]) / (curve[0] - curve[-1])))


CASES = (
    mutation_cases(sh.check_shapley_values, sh.reference_shapley_values,
                   [shapley_banzhaf, shapley_off_by_one, shapley_leave_one_out,
                    shapley_n_instead_of_n_minus_one, shapley_normalised_by_hand])
    + mutation_cases(sh.check_kernel_shap, sh.reference_kernel_shap,
                     [kernel_uniform_sizes, kernel_no_efficiency_constraint, kernel_size_off_by_one,
                      kernel_weighted_twice, kernel_size_mass_without_binomial])
    + mutation_cases(sh.check_lime_tabular, sh.reference_lime_tabular,
                     [lime_no_kernel, lime_kernel_without_sqrt, lime_raw_units, lime_raw_distance,
                      lime_unweighted_r2])
    + mutation_cases(sh.check_topk_jaccard, sh.reference_topk_jaccard,
                     [jaccard_signed, jaccard_with_self_pairs, jaccard_top_k_plus_one,
                      jaccard_overlap_over_k])
    + mutation_cases(sh.check_deletion_curve, sh.reference_deletion_curve,
                     [deletion_not_cumulative, deletion_without_start, deletion_reversed_order,
                      deletion_unnormalised_area, deletion_zero_baseline, deletion_mean_not_trapezoid])
)  # fmt: skip


@pytest.mark.parametrize(("checker", "function", "accept"), CASES, ids=case_id)
def test_checker_accepts_reference_and_rejects_mutants(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


def test_efficiency_and_dummy_of_the_reference_on_a_random_game():
    game = sh.table_game(6, seed=4)
    phi = sh.reference_shapley_values(game, 6)
    assert abs(phi.sum() - (game(np.ones(6, bool)) - game(np.zeros(6, bool)))) < 1e-9


def test_kernel_shap_reference_converges():
    game = sh.table_game(5, seed=11)
    exact = sh.reference_shapley_values(game, 5)
    errors = [np.abs(sh.reference_kernel_shap(game, 5, k, seed=0) - exact).max() for k in (50, 5000)]
    assert errors[1] < errors[0] and errors[1] < 0.08


def test_checker_reports_an_unfinished_stub():
    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise 1 (exact Shapley values): replace this line with your code")

    with pytest.raises(AssertionError, match="not done yet"):
        sh.check_shapley_values(stub)
