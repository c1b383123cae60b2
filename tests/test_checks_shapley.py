"""Mutation tests for the lab 03 checkers: each accepts the reference and rejects plausible mistakes."""

import itertools
import math

import numpy as np
import pytest
from mutation import case_id, mutation_cases, run_case

from xaihealth.checks import shapley as sh
from xaihealth.instructor.references import shapley as sh_ref

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


def _kernel(value, n, n_coalitions, seed, size_probs, weights=None, constrained=True, size_shift=0,
            forget_empty=False):
    rng = np.random.default_rng(seed)
    sizes = np.arange(1, n)
    masks = np.zeros((n_coalitions, n), dtype=bool)
    drawn = rng.choice(sizes, size=n_coalitions, p=size_probs / size_probs.sum())
    for row, size in zip(masks, drawn, strict=True):
        row[rng.choice(n, size=min(size + size_shift, n), replace=False)] = True
    v0, v1 = value(np.zeros(n, bool)), value(np.ones(n, bool))
    y = np.array([value(m) for m in masks]) - (0.0 if forget_empty else v0)
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


def kernel_forgets_empty(value, n, n_coalitions, seed=0):
    """Regresses v(S) instead of v(S) - v(empty): right only when v(empty) = 0."""
    return _kernel(value, n, n_coalitions, seed, _kernel_mass(n), forget_empty=True)


def kernel_ignores_seed(value, n, n_coalitions, seed=0):
    """Always default_rng(0): the seed argument is ignored."""
    return sh_ref.reference_kernel_shap(value, n, n_coalitions, seed=0)


def kernel_ignores_budget(value, n, n_coalitions, seed=0):
    """A fixed 3000 coalitions whatever n_coalitions says."""
    return sh_ref.reference_kernel_shap(value, n, 3000, seed=seed)


def kernel_includes_empty_and_full(value, n, n_coalitions, seed=0):
    """Sizes 0..n drawn (empty and full coalitions sampled, with an infinite kernel weight clipped)."""
    sizes = np.arange(0, n + 1)
    rng = np.random.default_rng(seed)
    masks = np.zeros((n_coalitions, n), dtype=bool)
    for row, size in zip(masks, rng.choice(sizes, size=n_coalitions), strict=True):
        row[rng.choice(n, size=size, replace=False)] = True
    v0, v1 = value(np.zeros(n, bool)), value(np.ones(n, bool))
    Z = masks.astype(float)
    y = np.array([value(m) for m in masks]) - v0
    A, b = Z[:, :-1] - Z[:, [-1]], y - Z[:, -1] * (v1 - v0)
    rest = np.linalg.lstsq(A, b, rcond=None)[0]
    return np.append(rest, (v1 - v0) - rest.sum())


def _lab_draw(rng, n, n_coalitions):
    sizes = np.arange(1, n)
    masks = np.zeros((n_coalitions, n), dtype=bool)
    p = _kernel_mass(n) / _kernel_mass(n).sum()
    for row, size in zip(masks, rng.choice(sizes, size=n_coalitions, p=p), strict=True):
        row[rng.choice(n, size=size, replace=False)] = True
    return masks


def kernel_unconstrained_then_spread(value, n, n_coalitions, seed=0):
    """The lab's draw, unconstrained least squares, then the efficiency residual spread evenly (review)."""
    masks = _lab_draw(np.random.default_rng(seed), n, n_coalitions)
    v0, v1 = value(np.zeros(n, bool)), value(np.ones(n, bool))
    phi = np.linalg.lstsq(masks.astype(float), np.array([value(m) for m in masks]) - v0, rcond=None)[0]
    return phi + ((v1 - v0) - phi.sum()) / n


def kernel_intercept_then_spread(value, n, n_coalitions, seed=0):
    """Least squares on v(S) with a free intercept (v(empty) never subtracted), then spread (review)."""
    masks = _lab_draw(np.random.default_rng(seed), n, n_coalitions)
    v0, v1 = value(np.zeros(n, bool)), value(np.ones(n, bool))
    D = np.column_stack([np.ones(n_coalitions), masks])
    phi = np.linalg.lstsq(D, np.array([value(m) for m in masks]), rcond=None)[0][1:]
    return phi + ((v1 - v0) - phi.sum()) / n


def kernel_ignores_budget_cached(value, n, n_coalitions, seed=0):
    """20,000 coalitions whatever n_coalitions says, with the value function cached (review)."""
    cache = {}

    def cached(mask):
        key = tuple(np.asarray(mask, bool))
        if key not in cache:
            cache[key] = value(mask)
        return cache[key]

    return sh_ref.reference_kernel_shap(cached, n, 20000, seed=seed)


def kernel_first_features(value, n, n_coalitions, seed=0):
    """Sizes from the kernel, but always the first s features (not s features drawn uniformly)."""
    rng = np.random.default_rng(seed)
    sizes = rng.choice(np.arange(1, n), size=n_coalitions, p=_kernel_mass(n) / _kernel_mass(n).sum())
    masks = np.arange(n)[None, :] < sizes[:, None]
    v0, v1 = value(np.zeros(n, bool)), value(np.ones(n, bool))
    Z = masks.astype(float)
    y = np.array([value(m) for m in masks]) - v0
    rest = np.linalg.lstsq(Z[:, :-1] - Z[:, [-1]], y - Z[:, -1] * (v1 - v0), rcond=None)[0]
    return np.append(rest, (v1 - v0) - rest.sum())


def kernel_legacy_global_seed(value, n, n_coalitions, seed=0):
    """A valid other generator: np.random.seed(seed) and the legacy functions (must be accepted)."""
    np.random.seed(seed)
    sizes = np.random.choice(np.arange(1, n), size=n_coalitions, p=_kernel_mass(n) / _kernel_mass(n).sum())
    masks = np.zeros((n_coalitions, n), dtype=bool)
    for row, size in zip(masks, sizes, strict=True):
        row[np.random.choice(n, size=size, replace=False)] = True
    v0, v1 = value(np.zeros(n, bool)), value(np.ones(n, bool))
    Z = masks.astype(float)
    y = np.array([value(m) for m in masks]) - v0
    rest = np.linalg.lstsq(Z[:, :-1] - Z[:, [-1]], y - Z[:, -1] * (v1 - v0), rcond=None)[0]
    return np.append(rest, (v1 - v0) - rest.sum())


def kernel_sizes_drawn_row_by_row(value, n, n_coalitions, seed=0):
    """A valid other draw: size and features drawn row by row from the same generator (must be accepted)."""
    rng = np.random.default_rng(seed)
    sizes = np.arange(1, n)
    p = _kernel_mass(n) / _kernel_mass(n).sum()
    masks = np.zeros((n_coalitions, n), dtype=bool)
    for row in masks:
        row[rng.permutation(n)[: rng.choice(sizes, p=p)]] = True
    v0, v1 = value(np.zeros(n, bool)), value(np.ones(n, bool))
    Z = masks.astype(float)
    y = np.array([value(m) for m in masks]) - v0
    A, b = Z[:, :-1] - Z[:, [-1]], y - Z[:, -1] * (v1 - v0)
    rest = np.linalg.lstsq(A, b, rcond=None)[0]
    return np.append(rest, (v1 - v0) - rest.sum())


# --- Exercise 3: LIME ------------------------------------------------------------------------------------


def _lime(predict, x, X_train, n_samples=1000, kernel_width=None, seed=0, kernel="lime", units="sd",
          distance="sd", default=lambda m: 0.75 * math.sqrt(m), scale_ddof=0):
    x, X_train = np.asarray(x, float), np.asarray(X_train, float)
    m = len(x)
    width = default(m) if kernel_width is None else kernel_width
    rng = np.random.default_rng(seed)
    scale = X_train.std(0, ddof=scale_ddof)
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


def lime_default_width_sqrt_m(predict, x, X_train, n_samples=1000, kernel_width=None, seed=0):
    """Default width sqrt(m), without LIME's factor 0.75."""
    return _lime(predict, x, X_train, n_samples, kernel_width, seed, default=math.sqrt)


def lime_default_width_075(predict, x, X_train, n_samples=1000, kernel_width=None, seed=0):
    """Default width 0.75, without the sqrt(m)."""
    return _lime(predict, x, X_train, n_samples, kernel_width, seed, default=lambda m: 0.75)


def lime_default_width_hard_coded(predict, x, X_train, n_samples=1000, kernel_width=None, seed=0):
    """Default width 0.75 * sqrt(3) hard-coded (right for the lecture's 3-feature case only)."""
    return _lime(predict, x, X_train, n_samples, kernel_width, seed, default=lambda m: 0.75 * math.sqrt(3))


def lime_ignores_seed(predict, x, X_train, n_samples=1000, kernel_width=None, seed=0):
    return _lime(predict, x, X_train, n_samples, kernel_width, 0)


def lime_ignores_n_samples(predict, x, X_train, n_samples=1000, kernel_width=None, seed=0):
    return _lime(predict, x, X_train, 5000, kernel_width, seed)


def lime_sample_std(predict, x, X_train, n_samples=1000, kernel_width=None, seed=0):
    """Scale by the sample standard deviation (ddof=1) where the exercise says X_train.std(axis=0)."""
    return _lime(predict, x, X_train, n_samples, kernel_width, seed, scale_ddof=1)


def lime_with_normal(predict, x, X_train, n_samples=1000, kernel_width=None, seed=0):
    """A valid other spelling: rng.normal(size=...) draws the same numbers (must be accepted)."""
    x, X_train = np.asarray(x, float), np.asarray(X_train, float)
    m = x.size
    width = kernel_width or 0.75 * m**0.5
    Z = np.random.default_rng(seed).normal(size=(n_samples, m))
    y = predict(x + Z * X_train.std(0))
    w = np.exp(-(Z**2).sum(1) / width**2) ** 0.5
    D = np.column_stack([np.ones(n_samples), Z])
    beta = np.linalg.solve(D.T @ (w[:, None] * D), D.T @ (w * y))
    mean = (w * y).sum() / w.sum()
    return beta[1:], float(1 - (w * (y - D @ beta) ** 2).sum() / (w * (y - mean) ** 2).sum())


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
    curve, _ = sh_ref.reference_deletion_curve(predict, x, baseline, order)
    return curve[1:], _area(curve[1:])


def deletion_reversed_order(predict, x, baseline, order):
    return sh_ref.reference_deletion_curve(predict, x, baseline, np.asarray(order)[::-1])


def deletion_unnormalised_area(predict, x, baseline, order):
    curve, _ = sh_ref.reference_deletion_curve(predict, x, baseline, order)
    return curve, float(np.trapezoid(curve, np.linspace(0, 1, len(curve))))


def deletion_zero_baseline(predict, x, baseline, order):
    return sh_ref.reference_deletion_curve(predict, x, np.zeros_like(np.asarray(x, float)), order)


def deletion_baseline_at_step_index(predict, x, baseline, order):
    """Sets feature order[k-1] to baseline[k-1] (the baseline read at the step, not at the feature)."""
    x, baseline = np.asarray(x, float), np.asarray(baseline, float)
    rows = np.repeat(x[None], len(order) + 1, axis=0)
    for k in range(1, len(order) + 1):
        rows[k:, order[k - 1]] = baseline[k - 1]
    curve = predict(rows)
    return curve, _area(curve)


def deletion_scalar_baseline(predict, x, baseline, order):
    """One number for every feature: the mean of the baseline."""
    b = np.full(len(x), float(np.mean(baseline)))
    return sh_ref.reference_deletion_curve(predict, x, b, order)


def deletion_identity_order(predict, x, baseline, order):
    """Ignores the order: deletes features 0, 1, 2, ..."""
    return sh_ref.reference_deletion_curve(predict, x, baseline, np.arange(len(x)))


def deletion_vectorised(predict, x, baseline, order):
    """A valid other formula: a lower-triangular mask of deletions (must be accepted)."""
    x, baseline = np.asarray(x, float), np.asarray(baseline, float)
    n = len(x)
    deleted = np.zeros((n + 1, n), dtype=bool)
    for k in range(1, n + 1):
        deleted[k, np.asarray(order)[:k]] = True
    curve = predict(np.where(deleted, baseline, x))
    y = (curve - curve[-1]) / (curve[0] - curve[-1])
    return curve, float(((y[1:] + y[:-1]) / 2).sum() / n)


def deletion_mean_not_trapezoid(predict, x, baseline, order):
    curve, _ = sh_ref.reference_deletion_curve(predict, x, baseline, order)
    return curve, float(np.mean((curve - curve[-1]) / (curve[0] - curve[-1])))


# --- Exercise 6a: scaffold -----------------------------------------------------------------------------


def _scaffold(biased, innocuous, X_real, seed, synthetic="lime", invert=False, always=None, soft=False,
              rng_seed=None, via_predict=False):
    from sklearn.ensemble import RandomForestClassifier

    X_real = np.asarray(X_real, float)
    rng = np.random.default_rng(seed if rng_seed is None else rng_seed)
    if synthetic == "lime":
        fake = sh.scaffold_synthetic(X_real, X_real, rng)
    elif synthetic == "normal":  # rng.normal(size=...) draws the same numbers as standard_normal
        fake = X_real + rng.normal(size=X_real.shape) * X_real.std(0)
        fake[:, 1] = (rng.random(len(X_real)) < X_real[:, 1].mean()).astype(float)
    elif synthetic == "twice":  # two LIME-style points per real record
        doubled = np.vstack([X_real, X_real])
        fake = sh.scaffold_synthetic(doubled, X_real, rng)
    elif synthetic == "rounded_sex":  # Gaussian noise on sex, rounded back to 0/1: leaks the record's sex
        fake = X_real + rng.standard_normal(X_real.shape) * X_real.std(0)
        fake[:, 1] = np.clip(np.round(fake[:, 1]), 0, 1)
    elif synthetic == "gaussian_sex":  # the old draw: Gaussian noise on the 0/1 sex column too
        fake = X_real + rng.standard_normal(X_real.shape) * X_real.std(0)
    elif synthetic == "unit_noise":  # standard-deviation scaling dropped
        fake = X_real + rng.standard_normal(X_real.shape)
        fake[:, 1] = (rng.random(len(X_real)) < X_real[:, 1].mean()).astype(float)
    elif synthetic == "half_men":  # sex drawn with probability 0.5, not its frequency
        fake = X_real + rng.standard_normal(X_real.shape) * X_real.std(0)
        fake[:, 1] = (rng.random(len(X_real)) < 0.5).astype(float)
    elif synthetic == "kernel":  # KernelSHAP-style hybrids: half the features from another patient
        swap = rng.random(X_real.shape) < 0.5
        fake = np.where(swap, X_real[rng.permutation(len(X_real))], X_real)
    detector = RandomForestClassifier(n_estimators=20, max_depth=8, random_state=seed).fit(
        np.vstack([X_real, fake]), np.r_[np.ones(len(X_real)), np.zeros(len(fake))])

    def predict(Z):
        Z = np.asarray(Z, float)
        if always is not None:
            return (biased if always == "biased" else innocuous)(Z)
        p_real = detector.predict_proba(Z)[:, 1]
        if soft:
            return p_real * biased(Z) + (1 - p_real) * innocuous(Z)
        real = detector.predict(Z) == 1 if via_predict else p_real > 0.5
        if invert:
            real = ~real
        return np.where(real, biased(Z), innocuous(Z))

    return predict


def scaffold_no_scaffold(biased, innocuous, X_real, seed=0):
    """Ships the biased model as is."""
    return _scaffold(biased, innocuous, X_real, seed, always="biased")


def scaffold_always_innocuous(biased, innocuous, X_real, seed=0):
    """Hides the bias everywhere, also from the real patients (not the attack)."""
    return _scaffold(biased, innocuous, X_real, seed, always="innocuous")


def scaffold_inverted_detector(biased, innocuous, X_real, seed=0):
    """Labels swapped: the biased model answers the synthetic points."""
    return _scaffold(biased, innocuous, X_real, seed, invert=True)


def scaffold_kernel_shap_points(biased, innocuous, X_real, seed=0):
    """Detector trained on KernelSHAP-style hybrids, not on LIME's points (hides from the wrong one)."""
    return _scaffold(biased, innocuous, X_real, seed, synthetic="kernel")


def scaffold_hard_coded_rule(biased, innocuous, X_real, seed=0):
    """A rule tuned by hand on one data set: 'real' when age is in 40..80 (ignores the data given)."""
    def predict(Z):
        Z = np.asarray(Z, float)
        return np.where((Z[:, 0] > 40) & (Z[:, 0] < 80), biased(Z), innocuous(Z))

    return predict


def scaffold_two_points_per_record(biased, innocuous, X_real, seed=0):
    """Two LIME-style points per real record: the lab fixes one per record (and the draw), so rejected."""
    return _scaffold(biased, innocuous, X_real, seed, synthetic="twice")


def scaffold_ignores_seed(biased, innocuous, X_real, seed=0):
    """default_rng(0) for the synthetic points whatever the seed (review)."""
    return _scaffold(biased, innocuous, X_real, seed, rng_seed=0)


def scaffold_unit_noise(biased, innocuous, X_real, seed=0):
    """Perturbations of standard deviation 1 in raw units: the std scaling dropped (review)."""
    return _scaffold(biased, innocuous, X_real, seed, synthetic="unit_noise")


def scaffold_gaussian_sex(biased, innocuous, X_real, seed=0):
    """Gaussian noise on the 0/1 sex column too (the old draw: the detector learns 'sex is not 0/1')."""
    return _scaffold(biased, innocuous, X_real, seed, synthetic="gaussian_sex")


def scaffold_rounded_gaussian_sex(biased, innocuous, X_real, seed=0):
    """Verification M8: Gaussian sex rounded to 0/1 passes the behavioural thresholds (real 87-88 %, fake
    63 %); only the 99 % agreement gate rejects it (98 % and 95.7 %)."""
    return _scaffold(biased, innocuous, X_real, seed, synthetic="rounded_sex")


def scaffold_half_men(biased, innocuous, X_real, seed=0):
    """Sex of the synthetic points drawn with probability 0.5, not its frequency in the records."""
    return _scaffold(biased, innocuous, X_real, seed, synthetic="half_men")


def scaffold_soft_mixture(biased, innocuous, X_real, seed=0):
    """P(real) * biased + (1 - P(real)) * innocuous instead of the detector's decision."""
    return _scaffold(biased, innocuous, X_real, seed, soft=True)


def scaffold_binary_sex_rule(biased, innocuous, X_real, seed=0):
    """No detector, X_real unused: 'real' whenever sex is exactly 0 or 1 (review)."""
    def predict(Z):
        Z = np.asarray(Z, float)
        return np.where(np.isin(Z[:, 1], [0.0, 1.0]), biased(Z), innocuous(Z))

    return predict


def scaffold_with_normal_and_predict(biased, innocuous, X_real, seed=0):
    """A valid other spelling: rng.normal(size=...) and detector.predict(Z) == 1 (must be accepted)."""
    return _scaffold(biased, innocuous, X_real, seed, synthetic="normal", via_predict=True)


CASES = (
    mutation_cases(sh.check_shapley_values, sh_ref.reference_shapley_values,
                   [shapley_banzhaf, shapley_off_by_one, shapley_leave_one_out,
                    shapley_n_instead_of_n_minus_one, shapley_normalised_by_hand])
    + mutation_cases(sh.check_kernel_shap, sh_ref.reference_kernel_shap,
                     [kernel_uniform_sizes, kernel_no_efficiency_constraint, kernel_size_off_by_one,
                      kernel_weighted_twice, kernel_size_mass_without_binomial, kernel_forgets_empty,
                      kernel_ignores_seed, kernel_ignores_budget, kernel_includes_empty_and_full,
                      kernel_unconstrained_then_spread, kernel_intercept_then_spread,
                      kernel_ignores_budget_cached, kernel_first_features])
    + [(sh.check_kernel_shap, kernel_sizes_drawn_row_by_row, True),
       (sh.check_kernel_shap, kernel_legacy_global_seed, True)]
    + mutation_cases(sh.check_lime_tabular, sh_ref.reference_lime_tabular,
                     [lime_no_kernel, lime_kernel_without_sqrt, lime_raw_units, lime_raw_distance,
                      lime_unweighted_r2, lime_default_width_sqrt_m, lime_default_width_075,
                      lime_default_width_hard_coded, lime_ignores_seed, lime_ignores_n_samples,
                      lime_sample_std])
    + [(sh.check_lime_tabular, lime_with_normal, True)]
    + mutation_cases(sh.check_topk_jaccard, sh_ref.reference_topk_jaccard,
                     [jaccard_signed, jaccard_with_self_pairs, jaccard_top_k_plus_one,
                      jaccard_overlap_over_k])
    + mutation_cases(sh.check_deletion_curve, sh_ref.reference_deletion_curve,
                     [deletion_not_cumulative, deletion_without_start, deletion_reversed_order,
                      deletion_unnormalised_area, deletion_zero_baseline, deletion_mean_not_trapezoid,
                      deletion_baseline_at_step_index, deletion_scalar_baseline, deletion_identity_order])
    + [(sh.check_deletion_curve, deletion_vectorised, True)]
    + mutation_cases(sh.check_make_scaffold, sh_ref.reference_make_scaffold,
                     [scaffold_no_scaffold, scaffold_always_innocuous, scaffold_inverted_detector,
                      scaffold_kernel_shap_points, scaffold_hard_coded_rule, scaffold_two_points_per_record,
                      scaffold_ignores_seed, scaffold_unit_noise, scaffold_gaussian_sex, scaffold_half_men,
                      scaffold_soft_mixture, scaffold_binary_sex_rule, scaffold_rounded_gaussian_sex])
    + [(sh.check_make_scaffold, scaffold_with_normal_and_predict, True)]
)  # fmt: skip


@pytest.mark.parametrize(("checker", "function", "accept"), CASES, ids=case_id)
def test_checker_accepts_reference_and_rejects_mutants(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


def test_efficiency_and_dummy_of_the_reference_on_a_random_game():
    game = sh.table_game(6, seed=4)
    phi = sh_ref.reference_shapley_values(game, 6)
    assert abs(phi.sum() - (game(np.ones(6, bool)) - game(np.zeros(6, bool)))) < 1e-9


def test_kernel_shap_reference_converges():
    game = sh.table_game(5, seed=11)
    exact = sh_ref.reference_shapley_values(game, 5)
    errors = [np.abs(sh_ref.reference_kernel_shap(game, 5, k, seed=0) - exact).max() for k in (50, 5000)]
    assert errors[1] < errors[0] and errors[1] < 0.08


def test_checker_reports_an_unfinished_stub():
    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise 1 (exact Shapley values): replace this line with your code")

    with pytest.raises(AssertionError, match="not done yet"):
        sh.check_shapley_values(stub)


def test_planted_games_have_v_empty_far_from_zero():
    for n, seed in ((4, 1), (3, 2), (5, 3), (5, 11), (6, 12), (4, 13)):
        assert abs(sh.table_game(n, seed)(np.zeros(n, bool))) > 2


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="n must be"):
        sh.table_game(0, 1)
    with pytest.raises(ValueError, match="n must be"):
        sh.scaffold_data(3, 1)


@pytest.mark.parametrize("answer", [None, "seed width fit", "seed " * 60])
def test_written_answers_need_sentences(answer, capsys):
    with pytest.raises(AssertionError):
        sh.check_answer_3b(answer)
