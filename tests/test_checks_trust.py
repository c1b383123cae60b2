"""Mutation tests for the lab 06 checkers: each accepts the reference (and a correct alternative) and
rejects plausible mistakes."""

import math

import numpy as np
import pytest
from mutation import case_id, mutation_cases, run_case

from xaihealth.checks import trust as tr
from xaihealth.instructor.references import trust as tr_ref

# --- Exercise 1: ECE ---------------------------------------------------------------------------------------


def _ece_from_index(y, p, index, n_bins, weighted=True, count_empty=False):
    y, p = np.asarray(y, float), np.asarray(p, float)
    parts, weights = [], []
    for b in range(n_bins):
        inside = index == b
        if inside.any():
            parts.append(abs(y[inside].mean() - p[inside].mean()))
            weights.append(inside.mean())
        elif count_empty:
            parts.append(0.0)
            weights.append(0.0)
    if weighted:
        return float(np.dot(parts, weights))
    return float(np.mean(parts))


def ece_floor_alternative(y_true, p, n_bins=10):
    """Correct: bin = min(floor(p * n_bins), n_bins - 1), weighted sum written as a histogram."""
    y, p = np.asarray(y_true, float), np.asarray(p, float)
    index = np.minimum((p * n_bins).astype(int), n_bins - 1)

    sum_y = np.bincount(index, weights=y, minlength=n_bins)
    sum_p = np.bincount(index, weights=p, minlength=n_bins)
    return float(np.abs(sum_y - sum_p).sum() / len(y))


def ece_drops_last_edge(y_true, p, n_bins=10):
    """Half-open bins everywhere: p = 1.0 falls past the last bin and is dropped."""
    p = np.asarray(p, float)
    index = np.digitize(p, np.linspace(0, 1, n_bins + 1)) - 1  # 1.0 -> n_bins
    keep = index < n_bins
    return _ece_from_index(np.asarray(y_true)[keep], p[keep], index[keep], n_bins)


def ece_unweighted(y_true, p, n_bins=10):
    """Plain mean over the non-empty bins."""
    index = np.minimum((np.asarray(p) * n_bins).astype(int), n_bins - 1)
    return _ece_from_index(y_true, p, index, n_bins, weighted=False)


def ece_counts_empty_bins(y_true, p, n_bins=10):
    """Mean over all n_bins bins, the empty ones counted as 0."""
    index = np.minimum((np.asarray(p) * n_bins).astype(int), n_bins - 1)
    return _ece_from_index(y_true, p, index, n_bins, weighted=False, count_empty=True)


def ece_calibration_in_the_large(y_true, p, n_bins=10):
    """|mean(y) - mean(p)| over all cases."""
    return float(abs(np.mean(y_true) - np.mean(p)))


def ece_quantile_bins(y_true, p, n_bins=10):
    """Equal-mass bins (quantiles of p) when equal-width bins are asked for."""
    p = np.asarray(p, float)
    edges = np.quantile(p, np.linspace(0, 1, n_bins + 1))
    index = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    return _ece_from_index(y_true, p, index, n_bins)


def ece_array_split_bins(y_true, p, n_bins=10):
    """Equal-mass bins written with np.array_split of the sorted cases (the review's version)."""
    y, p = np.asarray(y_true, float), np.asarray(p, float)
    index = np.empty(len(p), dtype=int)
    for b, part in enumerate(np.array_split(np.argsort(p, kind="stable"), n_bins)):
        index[part] = b
    return _ece_from_index(y, p, index, n_bins)


def ece_ignores_n_bins(y_true, p, n_bins=10):
    """Always 10 bins."""
    return tr_ref.reference_expected_calibration_error(y_true, p, 10)


def ece_squared(y_true, p, n_bins=10):
    """Squared gaps (an L2 calibration error), not absolute ones."""
    p = np.asarray(p, float)
    index = np.minimum((p * n_bins).astype(int), n_bins - 1)
    y = np.asarray(y_true, float)
    return float(
        sum(
            (index == b).mean() * (y[index == b].mean() - p[index == b].mean()) ** 2
            for b in range(n_bins)
            if (index == b).any()
        )
    )


def ece_n_bins_minus_one_edges(y_true, p, n_bins=10):
    """np.linspace(0, 1, n_bins) as edges: n_bins - 1 bins."""
    return tr_ref.reference_expected_calibration_error(y_true, p, max(n_bins - 1, 1))


def ece_data_range_bins(y_true, p, n_bins=10):
    """Equal-width bins over [min p, max p] instead of [0, 1] (review 06 finding 4)."""
    y, p = np.asarray(y_true, float), np.asarray(p, float)
    edges = np.linspace(p.min(), p.max(), n_bins + 1)
    index = np.clip(np.digitize(p, edges[1:-1]), 0, n_bins - 1)
    return _ece_from_index(y, p, index, n_bins)


def ece_zero_to_max_bins(y_true, p, n_bins=10):
    """Equal-width bins over [0, max p]: the top bin ends at the largest p seen."""
    y, p = np.asarray(y_true, float), np.asarray(p, float)
    index = np.minimum((p / p.max() * n_bins).astype(int), n_bins - 1)
    return _ece_from_index(y, p, index, n_bins)


# --- Exercise 2: temperature -------------------------------------------------------------------------------


def _nll(logits, y, t):
    return tr.nll(logits, y, t)


def temperature_beta_alternative(logits, y):
    """Correct: minimise over beta = 1/T (convex), then return T = 1/beta."""
    from scipy.optimize import minimize_scalar

    res = minimize_scalar(
        lambda b: _nll(logits, y, 1 / b), bounds=(0.01, 100), method="bounded", options={"xatol": 1e-9}
    )
    return 1 / res.x


def temperature_lbfgs_alternative(logits, y):
    """Correct: L-BFGS-B on log T from T = 1."""
    from scipy.optimize import minimize

    res = minimize(
        lambda s: _nll(logits, y, math.exp(s[0])),
        x0=[0.0],
        method="L-BFGS-B",
        options={"ftol": 1e-14, "gtol": 1e-10},
    )
    return float(math.exp(res.x[0]))


def _top_ece(logits, y, t):
    p = tr.softmax(np.asarray(logits) / t)
    conf, pred = p.max(1), p.argmax(1)
    return tr_ref.reference_expected_calibration_error((pred == y).astype(int), conf, 15)


def temperature_minimises_ece(logits, y):
    """Grid search minimising the top-label ECE instead of the NLL."""
    grid = np.linspace(0.05, 10, 2000)
    return float(grid[np.argmin([_top_ece(logits, y, t) for t in grid])])


def temperature_maximises_accuracy(logits, y):
    """Accuracy does not depend on T: the first grid point wins."""
    grid = np.linspace(0.05, 10, 200)
    acc = [(np.argmax(logits / t, 1) == y).mean() for t in grid]
    return float(grid[np.argmax(acc)])


def temperature_inverted(logits, y):
    """Returns 1/T (the factor to multiply the logits by)."""
    return 1 / tr_ref.reference_fit_temperature(logits, y)


def temperature_coarse_grid(logits, y):
    """A grid with steps of 0.1."""
    grid = np.arange(0.1, 10.01, 0.1)
    return float(grid[np.argmin([_nll(logits, y, t) for t in grid])])


def temperature_per_class_mean(logits, y):
    """One T per class (fitted on that class's cases), averaged."""
    y = np.asarray(y)
    return float(np.mean([tr_ref.reference_fit_temperature(logits[y == k], y[y == k]) for k in np.unique(y)]))


def temperature_per_class_vector(logits, y):
    """One T per class, returned as a vector."""
    y = np.asarray(y)
    return np.array([tr_ref.reference_fit_temperature(logits[y == k], y[y == k]) for k in np.unique(y)])


def temperature_centred_per_class(logits, y):
    """Each class's logit centred over the cases first: changes the argmax, then fits T."""
    z = np.asarray(logits) - np.asarray(logits).mean(axis=0)
    return tr_ref.reference_fit_temperature(z, y)


def temperature_one_vs_rest(logits, y):
    """Sigmoid per class with binary cross-entropy (one-vs-rest) instead of the softmax NLL."""
    from scipy.optimize import minimize_scalar

    onehot = np.eye(logits.shape[1])[y]

    def loss(s):
        q = 1 / (1 + np.exp(-logits / math.exp(s)))
        q = np.clip(q, 1e-12, 1 - 1e-12)
        return -np.mean(onehot * np.log(q) + (1 - onehot) * np.log(1 - q))

    return float(math.exp(minimize_scalar(loss, bounds=(-5, 5), method="bounded").x))


def temperature_match_confidence(logits, y):
    """T such that the mean confidence equals the accuracy (a heuristic, not the NLL)."""
    from scipy.optimize import brentq

    acc = (np.argmax(logits, 1) == y).mean()
    return float(brentq(lambda t: tr.softmax(logits / t).max(1).mean() - acc, 0.01, 100))


def report_reference_alternative(logits_cal, y_cal, logits_test, y_test):
    t = temperature_lbfgs_alternative(logits_cal, y_cal)
    return {"T": t, "nll_before": _nll(logits_test, y_test, 1.0), "nll_after": _nll(logits_test, y_test, t)}


def report_fits_on_test(logits_cal, y_cal, logits_test, y_test):
    """T fitted on the test set."""
    t = tr_ref.reference_fit_temperature(logits_test, y_test)
    return {"T": t, "nll_before": _nll(logits_test, y_test, 1.0), "nll_after": _nll(logits_test, y_test, t)}


def report_fits_on_both(logits_cal, y_cal, logits_test, y_test):
    """T fitted on calibration and test cases pooled."""
    t = tr_ref.reference_fit_temperature(np.vstack([logits_cal, logits_test]), np.r_[y_cal, y_test])
    return {"T": t, "nll_before": _nll(logits_test, y_test, 1.0), "nll_after": _nll(logits_test, y_test, t)}


def report_nll_on_calibration(logits_cal, y_cal, logits_test, y_test):
    """NLL reported on the calibration set."""
    t = tr_ref.reference_fit_temperature(logits_cal, y_cal)
    return {"T": t, "nll_before": _nll(logits_cal, y_cal, 1.0), "nll_after": _nll(logits_cal, y_cal, t)}


def report_multiplies(logits_cal, y_cal, logits_test, y_test):
    """Applies T as logits * T."""
    t = tr_ref.reference_fit_temperature(logits_cal, y_cal)
    return {
        "T": t,
        "nll_before": _nll(logits_test, y_test, 1.0),
        "nll_after": _nll(logits_test, y_test, 1 / t),
    }


def report_swapped(logits_cal, y_cal, logits_test, y_test):
    """before and after swapped."""
    out = tr_ref.reference_temperature_report(logits_cal, y_cal, logits_test, y_test)
    return {"T": out["T"], "nll_before": out["nll_after"], "nll_after": out["nll_before"]}


# --- Exercise 3: conformal ---------------------------------------------------------------------------------


def quantile_partition_alternative(scores, alpha):
    """Correct: np.partition at the rank, infinity past n."""
    s = np.asarray(scores, float)
    k = int(np.ceil((len(s) + 1) * (1 - alpha)))
    return math.inf if k > len(s) else float(np.partition(s, k - 1)[k - 1])


def quantile_plain_numpy(scores, alpha):
    """np.quantile(scores, 1 - alpha): no finite-sample correction, interpolated."""
    return float(np.quantile(scores, 1 - alpha))


def quantile_floor(scores, alpha):
    """floor instead of ceil."""
    s = np.sort(scores)
    k = math.floor((len(s) + 1) * (1 - alpha))
    return math.inf if k > len(s) else float(s[k - 1])


def quantile_n_not_n_plus_one(scores, alpha):
    """ceil(n (1 - alpha))."""
    s = np.sort(scores)
    return float(s[math.ceil(len(s) * (1 - alpha)) - 1])


def quantile_alpha_not_one_minus_alpha(scores, alpha):
    """ceil((n + 1) alpha)."""
    s = np.sort(scores)
    return float(s[max(math.ceil((len(s) + 1) * alpha) - 1, 0)])


def quantile_interpolated(scores, alpha):
    """The corrected level, but np.quantile interpolates between scores."""
    n = len(scores)
    return float(np.quantile(scores, min((n + 1) * (1 - alpha) / n, 1.0)))


def quantile_clipped_to_max(scores, alpha):
    """Rank clipped to n: the largest score instead of infinity."""
    s = np.sort(scores)
    return float(s[min(math.ceil((len(s) + 1) * (1 - alpha)), len(s)) - 1])


def quantile_plus_one_after_ceil(scores, alpha):
    """ceil(n (1 - alpha)) + 1: "n(1 - alpha), then + 1 for the test point"."""
    s = np.sort(np.asarray(scores, float))
    k = math.ceil(len(s) * (1 - alpha)) + 1
    return float("inf") if k > len(s) else float(s[k - 1])


def quantile_int_plus_one(scores, alpha):
    """ceil written as int(x) + 1 (wrong when (n + 1)(1 - alpha) is an integer)."""
    s = np.sort(np.asarray(scores, float))
    k = int((len(s) + 1) * (1 - alpha)) + 1
    return float("inf") if k > len(s) else float(s[k - 1])


def quantile_zero_based_rank(scores, alpha):
    """s[k] instead of s[k - 1]."""
    s = np.sort(scores)
    k = math.ceil((len(s) + 1) * (1 - alpha))
    return math.inf if k >= len(s) else float(s[k])


def quantile_numpy_higher(scores, alpha):
    """Angelopoulos & Bates's tutorial code: np.quantile(s, ceil((n+1)(1-a))/n, method='higher').

    numpy puts level q at position q (n - 1), so this is the (k+1)-th smallest whenever k < n: one rank
    too conservative (valid, but not the rule the exercise asks for).
    """
    n = len(scores)
    level = math.ceil((n + 1) * (1 - alpha)) / n
    return math.inf if level > 1 else float(np.quantile(scores, level, method="higher"))


def quantile_numpy_nearest(scores, alpha):
    """np.quantile(s, ceil((n+1)(1-a))/n, method='nearest'): exact for alpha <= 0.5, one rank high above
    (review 06 finding 5)."""
    n = len(scores)
    level = math.ceil((n + 1) * (1 - alpha)) / n
    return math.inf if level > 1 else float(np.quantile(scores, level, method="nearest"))


def quantile_numpy_lower_of_one_minus_alpha(scores, alpha):
    """np.quantile(s, 1 - alpha, method='lower'): an actual score, but no finite-sample correction."""
    return float(np.quantile(scores, 1 - alpha, method="lower"))


def quantile_inverted_cdf_alternative(scores, alpha):
    """Correct on the checker's (n, alpha): np.quantile(s, k / n, method='inverted_cdf') is the k-th smallest
    (except where k / n * n rounds above k, e.g. n=29, alpha=0.5, which the lab text names)."""
    n = len(scores)
    level = math.ceil((n + 1) * (1 - alpha)) / n
    return math.inf if level > 1 else float(np.quantile(scores, level, method="inverted_cdf"))


def sets_strict_less_than(probs_cal, y_cal, probs_test, alpha):
    """Strict 1 - p < q: drops the classes whose score ties with q (coverage < 1 - alpha with ties)."""
    q = tr_ref.reference_conformal_quantile(1 - probs_cal[np.arange(len(y_cal)), y_cal], alpha)
    return (1 - probs_test) < q


def sets_numpy_higher(probs_cal, y_cal, probs_test, alpha):
    """Sets from the tutorial's np.quantile(..., method='higher') (one rank too conservative)."""
    q = quantile_numpy_higher(1 - probs_cal[np.arange(len(y_cal)), y_cal], alpha)
    return (1 - probs_test) <= q


def sets_ge_alternative(probs_cal, y_cal, probs_test, alpha):
    """Correct: p >= 1 - q, with the partition quantile."""
    scores = 1 - probs_cal[np.arange(len(y_cal)), y_cal]
    q = quantile_partition_alternative(scores, alpha)
    return probs_test >= 1 - q


def sets_score_is_p(probs_cal, y_cal, probs_test, alpha):
    """Score = p(true class) instead of 1 - p."""
    q = tr_ref.reference_conformal_quantile(probs_cal[np.arange(len(y_cal)), y_cal], alpha)
    return probs_test <= q


def sets_plain_quantile(probs_cal, y_cal, probs_test, alpha):
    """np.quantile without the correction."""
    q = quantile_plain_numpy(1 - probs_cal[np.arange(len(y_cal)), y_cal], alpha)
    return (1 - probs_test) <= q


def sets_max_score_over_classes(probs_cal, y_cal, probs_test, alpha):
    """Score from the top class, not the true class."""
    q = tr_ref.reference_conformal_quantile(1 - probs_cal.max(axis=1), alpha)
    return (1 - probs_test) <= q


def sets_half_alpha(probs_cal, y_cal, probs_test, alpha):
    """Uses alpha / 2 (a two-sided habit)."""
    return tr_ref.reference_prediction_sets(probs_cal, y_cal, probs_test, alpha / 2)


def sets_top_class_only(probs_cal, y_cal, probs_test, alpha):
    """Always the single top class."""
    return probs_test == probs_test.max(axis=1, keepdims=True)


def sets_plus_one_after_ceil(probs_cal, y_cal, probs_test, alpha):
    """Sets from the quantile ceil(n (1 - alpha)) + 1."""
    q = quantile_plus_one_after_ceil(1 - probs_cal[np.arange(len(y_cal)), y_cal], alpha)
    return (1 - probs_test) <= q


def sets_int_plus_one(probs_cal, y_cal, probs_test, alpha):
    """Sets from the quantile int((n + 1)(1 - alpha)) + 1."""
    q = quantile_int_plus_one(1 - probs_cal[np.arange(len(y_cal)), y_cal], alpha)
    return (1 - probs_test) <= q


def sets_force_top_class(probs_cal, y_cal, probs_test, alpha):
    """Adds the most probable class to every set (never an empty set)."""
    sets = tr_ref.reference_prediction_sets(probs_cal, y_cal, probs_test, alpha)
    sets[np.arange(len(sets)), np.asarray(probs_test).argmax(axis=1)] = True
    return sets


def sets_floor(probs_cal, y_cal, probs_test, alpha):
    """floor rank."""
    q = quantile_floor(1 - probs_cal[np.arange(len(y_cal)), y_cal], alpha)
    return (1 - probs_test) <= q


# --- Exercise 4: predictive values -------------------------------------------------------------------------


def pv_odds_alternative(sensitivity, specificity, prevalence):
    """Correct: post-test odds = pre-test odds x LR."""
    lr_p, lr_m = sensitivity / (1 - specificity), (1 - sensitivity) / specificity
    odds = prevalence / (1 - prevalence)
    post_p, post_m = odds * lr_p, odds * lr_m
    return {"ppv": post_p / (1 + post_p), "npv": 1 - post_m / (1 + post_m), "lr_plus": lr_p, "lr_minus": lr_m}


def pv_swapped(sensitivity, specificity, prevalence):
    """Sensitivity and specificity swapped."""
    return tr_ref.reference_predictive_values(specificity, sensitivity, prevalence)


def pv_at_half(sensitivity, specificity, prevalence):
    """Prevalence ignored (50 %)."""
    return tr_ref.reference_predictive_values(sensitivity, specificity, 0.5)


def pv_lr_sens_over_spec(sensitivity, specificity, prevalence):
    """LR+ = sens / spec."""
    out = tr_ref.reference_predictive_values(sensitivity, specificity, prevalence)
    return {**out, "lr_plus": sensitivity / specificity}


def pv_lr_minus_inverted(sensitivity, specificity, prevalence):
    """LR- = spec / (1 - sens)."""
    out = tr_ref.reference_predictive_values(sensitivity, specificity, prevalence)
    return {**out, "lr_minus": specificity / (1 - sensitivity)}


def pv_probability_times_lr(sensitivity, specificity, prevalence):
    """Pre-test probability (not odds) times LR."""
    lr_p, lr_m = sensitivity / (1 - specificity), (1 - sensitivity) / specificity
    post_p, post_m = prevalence * lr_p, prevalence * lr_m
    return {"ppv": post_p / (1 + post_p), "npv": 1 - post_m / (1 + post_m), "lr_plus": lr_p, "lr_minus": lr_m}


def pv_ppv_is_sensitivity(sensitivity, specificity, prevalence):
    """PPV confused with sensitivity, NPV with specificity."""
    out = tr_ref.reference_predictive_values(sensitivity, specificity, prevalence)
    return {**out, "ppv": sensitivity, "npv": specificity}


def pv_npv_prevalence_flipped(sensitivity, specificity, prevalence):
    """NPV with prevalence and 1 - prevalence exchanged."""
    out = tr_ref.reference_predictive_values(sensitivity, specificity, prevalence)
    npv = specificity * prevalence / (specificity * prevalence + (1 - sensitivity) * (1 - prevalence))
    return {**out, "npv": npv}


# --- Exercise 5: leakage -----------------------------------------------------------------------------------


def leak_set_alternative(train_idx, test_idx, patient):
    """Correct: a Python set of training patients and a loop."""
    seen = {patient[i] for i in train_idx}
    return sum(patient[i] in seen for i in test_idx) / len(test_idx)


def leak_per_patient(train_idx, test_idx, patient):
    """Share of test *patients*, not records."""
    test_p = np.unique(patient[test_idx])
    return float(np.isin(test_p, patient[train_idx]).mean())


def leak_record_overlap(train_idx, test_idx, patient):
    """Overlap of record indices (always 0 for a proper split)."""
    return float(np.isin(test_idx, train_idx).mean())


def leak_count(train_idx, test_idx, patient):
    """A count, not a fraction."""
    return float(np.isin(patient[test_idx], patient[train_idx]).sum())


def leak_over_all_records(train_idx, test_idx, patient):
    """Divides by all records."""
    return float(np.isin(patient[test_idx], patient[train_idx]).sum() / len(patient))


def leak_train_side(train_idx, test_idx, patient):
    """Share of training records whose patient is in the test set."""
    return float(np.isin(patient[train_idx], patient[test_idx]).mean())


def leak_ids_as_positions(train_idx, test_idx, patient):
    """Compares patient ids of the test records with training *positions*."""
    ids = np.array([int(str(p).lstrip("P")) for p in patient[test_idx]])
    return float(np.isin(ids, train_idx).mean())


# --- Exercise 6: kappa -------------------------------------------------------------------------------------


def kappa_loop_alternative(table):
    """Correct: explicit loops over the categories."""
    t = np.asarray(table, float)
    n, k = t.sum(), len(t)
    po = sum(t[i, i] for i in range(k)) / n
    pe = sum(t[i, :].sum() * t[:, i].sum() for i in range(k)) / n**2
    return (po - pe) / (1 - pe)


def kappa_observed_only(table):
    """Observed agreement, no chance correction."""
    t = np.asarray(table, float)
    return float(np.trace(t) / t.sum())


def kappa_rows_only(table):
    """Chance agreement from rater A's marginals only (squared)."""
    t = np.asarray(table, float)
    po, rows = np.trace(t) / t.sum(), t.sum(1) / t.sum()
    pe = float(rows @ rows)
    return (po - pe) / (1 - pe)


def kappa_uniform(table):
    """Chance agreement 1/K (uniform marginals)."""
    t = np.asarray(table, float)
    po, pe = np.trace(t) / t.sum(), 1 / len(t)
    return (po - pe) / (1 - pe)


def kappa_off_by_one(table):
    """Loops over range(K - 1): the last category is left out."""
    t = np.asarray(table, float)
    n, k = t.sum(), len(t) - 1
    po = sum(t[i, i] for i in range(k)) / n
    pe = sum(t[i, :].sum() * t[:, i].sum() for i in range(k)) / n**2
    return (po - pe) / (1 - pe)


def kappa_pe_over_n(table):
    """Chance agreement divided by n instead of n squared (then clipped to stay below 1)."""
    t = np.asarray(table, float)
    po = np.trace(t) / t.sum()
    pe = min(float(t.sum(1) @ t.sum(0)) / t.sum() / 1000, 0.99)
    return (po - pe) / (1 - pe)


def kappa_linear_weighted(table):
    """Linearly weighted kappa (statsmodels wt='linear'): not Cohen's unweighted kappa."""
    from statsmodels.stats.inter_rater import cohens_kappa

    return float(cohens_kappa(np.asarray(table), wt="linear").kappa)


def kappa_plus_in_denominator(table):
    """(po - pe) / (1 + pe)."""
    t = np.asarray(table, float)
    po, pe = np.trace(t) / t.sum(), float(t.sum(1) @ t.sum(0)) / t.sum() ** 2
    return (po - pe) / (1 + pe)


# --- Exercise 7: site decision -----------------------------------------------------------------------------

GOOD = {"max_ece": 0.10, "min_coverage": 0.84}


def site_alternative(y, p, covered, thresholds):
    """Correct: floor-binned ECE, other wording."""
    ece = ece_floor_alternative(y, p, 10)
    cov = float(np.mean(covered))
    reasons = []
    if ece > thresholds["max_ece"]:
        reasons.append(f"miscalibrated: ECE = {ece:.2f} > {thresholds['max_ece']}")
    if cov < thresholds["min_coverage"]:
        reasons.append(f"conformal sets cover only {100 * cov:.0f} % of cases")
    return {"fit": len(reasons) == 0, "ece": ece, "coverage": cov, "reasons": reasons}


def _site(ece, cov, fit, reasons):
    return {"fit": fit, "ece": ece, "coverage": cov, "reasons": reasons}


def site_always_fit(y, p, covered, thresholds):
    out = tr_ref.reference_fit_for_site(y, p, covered, thresholds)
    return {**out, "fit": True, "reasons": []}


def site_never_fit(y, p, covered, thresholds):
    out = tr_ref.reference_fit_for_site(y, p, covered, thresholds)
    return {**out, "fit": False, "reasons": ["ECE 0.0 not trusted", "coverage 0 not trusted"]}


def site_ignores_coverage(y, p, covered, thresholds):
    out = tr_ref.reference_fit_for_site(y, p, covered, {**thresholds, "min_coverage": 0.0})
    return {**out, "coverage": float(np.mean(covered))}


def site_ignores_ece(y, p, covered, thresholds):
    return tr_ref.reference_fit_for_site(y, p, covered, {**thresholds, "max_ece": 1.0})


def site_inverted_ece(y, p, covered, thresholds):
    """Refuses when ECE is *below* the limit."""
    ece, cov = tr_ref.reference_expected_calibration_error(y, p, 10), float(np.mean(covered))
    reasons = [f"ECE {ece:.3f}"] * (ece < thresholds["max_ece"]) + [f"coverage {cov:.3f}"] * (
        cov < thresholds["min_coverage"]
    )
    return _site(ece, cov, not reasons, reasons)


def site_citl(y, p, covered, thresholds):
    """Calibration-in-the-large instead of ECE."""
    ece, cov = abs(np.mean(y) - np.mean(p)), float(np.mean(covered))
    reasons = [f"ECE {ece:.3f}"] * bool(ece > thresholds["max_ece"]) + [f"coverage {cov:.3f}"] * bool(
        cov < thresholds["min_coverage"]
    )
    return _site(float(ece), cov, not reasons, reasons)


def site_no_reasons(y, p, covered, thresholds):
    out = tr_ref.reference_fit_for_site(y, p, covered, thresholds)
    return {**out, "reasons": []}


def site_reasons_without_numbers(y, p, covered, thresholds):
    out = tr_ref.reference_fit_for_site(y, p, covered, thresholds)
    return {
        **out,
        "reasons": ["not calibrated" if r.startswith("ECE") else "coverage too low" for r in out["reasons"]],
    }


def site_coverage_against_alpha(y, p, covered, thresholds):
    """Compares the miss rate with min_coverage (coverage and alpha confused)."""
    ece, miss = tr_ref.reference_expected_calibration_error(y, p, 10), 1 - float(np.mean(covered))
    reasons = [f"ECE {ece:.3f}"] * (ece > thresholds["max_ece"]) + [f"coverage {miss:.3f}"] * (
        miss > thresholds["min_coverage"]
    )
    return _site(ece, miss, not reasons, reasons)


def site_ignores_thresholds(y, p, covered, thresholds):
    """Hard-coded limits: the thresholds argument is ignored."""
    return tr_ref.reference_fit_for_site(y, p, covered, {"max_ece": 0.1, "min_coverage": 0.8})


def site_generic_reason(y, p, covered, thresholds):
    """One generic reason per failure, naming both criteria."""
    out = tr_ref.reference_fit_for_site(y, p, covered, thresholds)
    text = f"ECE {out['ece']:.3f} or coverage {out['coverage']:.3f} out of range"
    return {**out, "reasons": [text] * len(out["reasons"])}


def site_blames_both(y, p, covered, thresholds):
    """Every refusal blames both criteria, even when only one failed."""
    out = tr_ref.reference_fit_for_site(y, p, covered, thresholds)
    if out["reasons"]:
        out["reasons"] = [f"ECE {out['ece']:.3f} is checked", f"coverage {out['coverage']:.3f} is checked"]
    return out


def site_refuses_only_when_both_fail(y, p, covered, thresholds):
    out = tr_ref.reference_fit_for_site(y, p, covered, thresholds)
    both = len(out["reasons"]) == 2
    return {**out, "fit": not both, "reasons": out["reasons"] if both else []}


def site_ge_max_ece(y, p, covered, thresholds):
    """Refuses when ece >= max_ece (the rule says fit when ece <= max_ece)."""
    ece, cov = tr_ref.reference_expected_calibration_error(y, p, 10), float(np.mean(covered))
    reasons = [f"ECE {ece:.3f} too high"] * (ece >= thresholds["max_ece"]) + [f"coverage {cov:.3f}"] * (
        cov < thresholds["min_coverage"]
    )
    return _site(ece, cov, not reasons, reasons)


def site_le_min_coverage(y, p, covered, thresholds):
    """Refuses when coverage <= min_coverage (the rule says fit when coverage >= min_coverage)."""
    ece, cov = tr_ref.reference_expected_calibration_error(y, p, 10), float(np.mean(covered))
    reasons = [f"ECE {ece:.3f} too high"] * (ece > thresholds["max_ece"]) + [f"coverage {cov:.3f}"] * (
        cov <= thresholds["min_coverage"]
    )
    return _site(ece, cov, not reasons, reasons)


def site_decides_on_15_bins(y, p, covered, thresholds):
    """Reports the 10-bin ECE but decides on the 15-bin one (review 06 finding 2)."""
    ece, cov = tr_ref.reference_expected_calibration_error(y, p, 10), float(np.mean(covered))
    ece15 = tr_ref.reference_expected_calibration_error(y, p, 15)
    reasons = [f"ECE {ece15:.3f} high"] * (ece15 > thresholds["max_ece"]) + [f"coverage {cov:.3f} low"] * (
        cov < thresholds["min_coverage"]
    )
    return _site(ece, cov, not reasons, reasons)


def site_decides_on_rounded_numbers(y, p, covered, thresholds):
    """Compares the numbers rounded to 2 decimals with the limits."""
    ece, cov = tr_ref.reference_expected_calibration_error(y, p, 10), float(np.mean(covered))
    reasons = [f"ECE {ece:.3f} high"] * (round(ece, 2) > thresholds["max_ece"]) + [
        f"coverage {cov:.3f} low"
    ] * (round(cov, 2) < thresholds["min_coverage"])
    return _site(ece, cov, not reasons, reasons)


def site_reason_shows_limit_only(y, p, covered, thresholds):
    """Each reason gives the limit, not the measured number (review 06 finding 3)."""
    out = tr_ref.reference_fit_for_site(y, p, covered, thresholds)
    return {
        **out,
        "reasons": [
            f"ECE above the limit {thresholds['max_ece']}"
            if r.startswith("ECE")
            else f"coverage below the limit {thresholds['min_coverage']}"
            for r in out["reasons"]
        ],
    }


def site_reason_swaps_numbers(y, p, covered, thresholds):
    """Each reason names its criterion but quotes the other criterion's number."""
    out = tr_ref.reference_fit_for_site(y, p, covered, thresholds)
    return {
        **out,
        "reasons": [
            f"ECE too high: {out['coverage']:.3f}"
            if r.startswith("ECE")
            else f"coverage too low: {out['ece']:.3f}"
            for r in out["reasons"]
        ],
    }


def site_coverage_reason_in_percent_alternative(y, p, covered, thresholds):
    """Correct: ECE to 2 decimals, coverage in per cent with one decimal."""
    out = tr_ref.reference_fit_for_site(y, p, covered, thresholds)
    reasons = []
    if out["ece"] > thresholds["max_ece"]:
        reasons.append(f"calibration error {out['ece']:.2f} exceeds {thresholds['max_ece']}")
    if out["coverage"] < thresholds["min_coverage"]:
        reasons.append(f"only {100 * out['coverage']:.1f}% of the sets covered the truth")
    return {**out, "reasons": reasons}


def _with(thresholds):
    def checker(function):
        tr.check_fit_for_site(function, thresholds)

    checker.__name__ = f"check_fit_for_site_{'_'.join(str(v) for v in thresholds.values())}"
    return checker


check_site_good = _with(GOOD)

CASES = (
    mutation_cases(
        tr.check_expected_calibration_error,
        tr_ref.reference_expected_calibration_error,
        [
            ece_drops_last_edge,
            ece_unweighted,
            ece_counts_empty_bins,
            ece_calibration_in_the_large,
            ece_quantile_bins,
            ece_array_split_bins,
            ece_ignores_n_bins,
            ece_squared,
            ece_n_bins_minus_one_edges,
            ece_data_range_bins,
            ece_zero_to_max_bins,
        ],
    )
    + [(tr.check_expected_calibration_error, ece_floor_alternative, True)]
    + mutation_cases(
        tr.check_fit_temperature,
        tr_ref.reference_fit_temperature,
        [
            temperature_minimises_ece,
            temperature_maximises_accuracy,
            temperature_inverted,
            temperature_coarse_grid,
            temperature_per_class_mean,
            temperature_per_class_vector,
            temperature_centred_per_class,
            temperature_one_vs_rest,
            temperature_match_confidence,
        ],
    )
    + [
        (tr.check_fit_temperature, temperature_beta_alternative, True),
        (tr.check_fit_temperature, temperature_lbfgs_alternative, True),
    ]
    + mutation_cases(
        tr.check_temperature_report,
        tr_ref.reference_temperature_report,
        [
            report_fits_on_test,
            report_fits_on_both,
            report_nll_on_calibration,
            report_multiplies,
            report_swapped,
        ],
    )
    + [(tr.check_temperature_report, report_reference_alternative, True)]
    + mutation_cases(
        tr.check_conformal_quantile,
        tr_ref.reference_conformal_quantile,
        [
            quantile_plain_numpy,
            quantile_floor,
            quantile_n_not_n_plus_one,
            quantile_alpha_not_one_minus_alpha,
            quantile_interpolated,
            quantile_clipped_to_max,
            quantile_zero_based_rank,
            quantile_plus_one_after_ceil,
            quantile_int_plus_one,
            quantile_numpy_higher,
            quantile_numpy_nearest,
            quantile_numpy_lower_of_one_minus_alpha,
        ],
    )
    + [
        (tr.check_conformal_quantile, quantile_partition_alternative, True),
        (tr.check_conformal_quantile, quantile_inverted_cdf_alternative, True),
    ]
    + mutation_cases(
        tr.check_prediction_sets,
        tr_ref.reference_prediction_sets,
        [
            sets_score_is_p,
            sets_plain_quantile,
            sets_max_score_over_classes,
            sets_half_alpha,
            sets_strict_less_than,
            sets_numpy_higher,
            sets_top_class_only,
            sets_floor,
            sets_force_top_class,
            sets_plus_one_after_ceil,
            sets_int_plus_one,
        ],
    )
    + [(tr.check_prediction_sets, sets_ge_alternative, True)]
    + mutation_cases(
        tr.check_predictive_values,
        tr_ref.reference_predictive_values,
        [
            pv_swapped,
            pv_at_half,
            pv_lr_sens_over_spec,
            pv_lr_minus_inverted,
            pv_probability_times_lr,
            pv_ppv_is_sensitivity,
            pv_npv_prevalence_flipped,
        ],
    )
    + [(tr.check_predictive_values, pv_odds_alternative, True)]
    + mutation_cases(
        tr.check_leaked_fraction,
        tr_ref.reference_leaked_fraction,
        [
            leak_per_patient,
            leak_record_overlap,
            leak_count,
            leak_over_all_records,
            leak_train_side,
            leak_ids_as_positions,
        ],
    )
    + [(tr.check_leaked_fraction, leak_set_alternative, True)]
    + mutation_cases(
        tr.check_cohen_kappa,
        tr_ref.reference_cohen_kappa,
        [
            kappa_observed_only,
            kappa_rows_only,
            kappa_uniform,
            kappa_off_by_one,
            kappa_pe_over_n,
            kappa_linear_weighted,
            kappa_plus_in_denominator,
        ],
    )
    + [(tr.check_cohen_kappa, kappa_loop_alternative, True)]
    + mutation_cases(
        check_site_good,
        tr_ref.reference_fit_for_site,
        [
            site_always_fit,
            site_never_fit,
            site_ignores_coverage,
            site_ignores_ece,
            site_inverted_ece,
            site_citl,
            site_no_reasons,
            site_reasons_without_numbers,
            site_coverage_against_alpha,
            site_ignores_thresholds,
            site_generic_reason,
            site_blames_both,
            site_refuses_only_when_both_fail,
            site_ge_max_ece,
            site_le_min_coverage,
            site_decides_on_15_bins,
            site_decides_on_rounded_numbers,
            site_reason_shows_limit_only,
            site_reason_swaps_numbers,
        ],
    )
    + [(check_site_good, site_alternative, True)]
    + [(check_site_good, site_coverage_reason_in_percent_alternative, True)]
)


@pytest.mark.parametrize(("checker", "function", "accept"), CASES, ids=case_id)
def test_checker_accepts_reference_and_rejects_mutants(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


@pytest.mark.parametrize(
    "thresholds",
    [
        {"max_ece": 0.01, "min_coverage": 0.85},
        {"max_ece": 0.3, "min_coverage": 0.85},
        {"max_ece": 0.10, "min_coverage": 0.9},
        {"max_ece": 0.10, "min_coverage": 0.5},
        # accepted before the review, yet they refuse healthy deployment sites of the lab (seed 0)
        {"max_ece": 0.04, "min_coverage": 0.80},
        {"max_ece": 0.10, "min_coverage": 0.89},
        {"max_ece": 0.06},
        None,
    ],
)
def test_thresholds_without_sense_are_refused(thresholds, capsys):
    with pytest.raises(AssertionError):
        tr.check_fit_for_site(tr_ref.reference_fit_for_site, thresholds)
    assert "passed" not in capsys.readouterr().out


@pytest.mark.parametrize(
    "thresholds",
    [
        {"max_ece": tr.SENSIBLE_MAX_ECE[0], "min_coverage": tr.SENSIBLE_MIN_COVERAGE[0]},
        {"max_ece": tr.SENSIBLE_MAX_ECE[1], "min_coverage": tr.SENSIBLE_MIN_COVERAGE[1]},
        {"max_ece": tr.SENSIBLE_MAX_ECE[0], "min_coverage": tr.SENSIBLE_MIN_COVERAGE[1]},
    ],
)
def test_sensible_thresholds_at_the_ends_are_accepted(thresholds, capsys):
    tr.check_fit_for_site(tr_ref.reference_fit_for_site, thresholds)
    assert "passed" in capsys.readouterr().out


def test_planted_truths():
    for leaked in (0.0, 0.4, 1.0):
        train_idx, test_idx, patient, truth = tr.planted_split(150, leaked, 3)
        assert not set(train_idx) & set(test_idx)
        assert tr_ref.reference_leaked_fraction(train_idx, test_idx, patient) == pytest.approx(truth)
    assert tr.planted_split(150, 1.0, 3)[3] == 1.0
    y, p = tr.calibration_data(2000, 1, "balanced_in_the_large")
    assert abs(y.mean() - p.mean()) < 0.03 and tr_ref.reference_expected_calibration_error(y, p, 10) > 0.25
    logits, y = tr.temperature_data(20_000, 3, 2.5, 4)
    assert tr_ref.reference_fit_temperature(logits, y) == pytest.approx(2.5, rel=0.05)
    truth, labels = tr.annotators(40_000, (0.1, 0.25), 5)
    kappa = tr_ref.reference_cohen_kappa(tr.confusion(labels[:, 0], labels[:, 1], 2))
    assert kappa == pytest.approx(0.8 * 0.5, abs=0.02)


def test_conformal_reference_covers_on_fresh_draws():
    covered = []
    for r in range(400):
        p, y = tr.conformal_data(60, 4, 900 + r)
        sets = tr_ref.reference_prediction_sets(p[:20], y[:20], p[20:], 0.2)
        covered.append(sets[np.arange(40), y[20:]].mean())
    assert np.mean(covered) >= 0.8 - 0.01


def test_checker_reports_an_unfinished_stub():
    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise 1 (expected calibration error): replace this line with your code")

    with pytest.raises(AssertionError, match="not done yet"):
        tr.check_expected_calibration_error(stub)


def test_bad_input_is_named():
    with pytest.raises(ValueError, match="n_bins"):
        tr_ref.reference_expected_calibration_error([0, 1], [0.2, 0.9], 0)
    with pytest.raises(ValueError, match="p must"):
        tr_ref.reference_expected_calibration_error([0, 1], [0.2], 10)
    with pytest.raises(ValueError, match="y_true"):
        tr_ref.reference_expected_calibration_error([0, 2], [0.2, 0.3], 10)
    with pytest.raises(ValueError, match="alpha"):
        tr_ref.reference_conformal_quantile([0.1, 0.2], 1.5)
    with pytest.raises(ValueError, match="logits"):
        tr_ref.reference_fit_temperature(np.zeros(5), np.zeros(5, int))
    with pytest.raises(ValueError, match="prevalence"):
        tr_ref.reference_predictive_values(0.9, 0.9, 0.0)
    with pytest.raises(ValueError, match="table"):
        tr_ref.reference_cohen_kappa([[1, 2, 3]])
    with pytest.raises(ValueError, match="test_idx"):
        tr_ref.reference_leaked_fraction([0, 1], [7], ["a", "b", "c"])
    with pytest.raises(ValueError, match="kind"):
        tr.site_data("broken", 100, 1)


@pytest.mark.parametrize("answer", [None, "prevalence ppv npv", "prevalence " * 70])
def test_written_answers_need_sentences(answer, capsys):
    with pytest.raises(AssertionError):
        tr.check_answer_4b(answer)


@pytest.mark.parametrize(
    ("mistake", "words"),
    [
        (ece_array_split_bins, "quantiles"),
        (ece_quantile_bins, "quantiles"),
        (ece_counts_empty_bins, "empty bins"),
        (ece_unweighted, "share of the cases"),
        (ece_calibration_in_the_large, "calibration-in-the-large"),
        (ece_drops_last_edge, "last bin is closed"),
    ],
)
def test_ece_hint_names_the_mistake(mistake, words):
    with pytest.raises(AssertionError) as failure:
        tr.check_expected_calibration_error(mistake)
    assert words in str(failure.value)


def test_ece_hint_names_no_mistake_when_several_match():
    with pytest.raises(AssertionError) as failure:
        tr.check_expected_calibration_error(ece_n_bins_minus_one_edges)
    text = str(failure.value)
    assert "calibration-in-the-large" not in text and "quantiles" not in text


def test_reference_prediction_sets_include_empty_ones():
    p_cal, y_cal = tr.conformal_data(40, 5, 44)
    p_test, _ = tr.conformal_data(80, 5, 544)
    assert (tr_ref.reference_prediction_sets(p_cal, y_cal, p_test, 0.6).sum(axis=1) == 0).any()


def test_quantile_hint_names_the_tutorials_numpy_call(capsys):
    with pytest.raises(AssertionError) as err:
        tr.check_conformal_quantile(quantile_numpy_higher)
    assert "method='higher'" in str(err.value) and "one rank" in str(err.value)


def test_sets_hint_names_the_tutorials_numpy_call(capsys):
    with pytest.raises(AssertionError) as err:
        tr.check_prediction_sets(sets_numpy_higher)
    assert "method='higher'" in str(err.value)


def test_strict_sets_get_the_ties_hint(capsys):
    with pytest.raises(AssertionError) as err:
        tr.check_prediction_sets(sets_strict_less_than)
    assert "<= q (not <)" in str(err.value)


def test_tied_probe_separates_strict_from_non_strict():
    p_cal, y_cal = tr.tied_conformal_data(50, 4, 48)
    p_test, _ = tr.tied_conformal_data(80, 4, 548)
    want = tr_ref.reference_prediction_sets(p_cal, y_cal, p_test, 0.1)
    assert (sets_strict_less_than(p_cal, y_cal, p_test, 0.1) != want).any(axis=1).sum() >= 10
    assert (sets_ge_alternative(p_cal, y_cal, p_test, 0.1) == want).all()


def test_numpy_higher_is_one_rank_above_the_rule():
    rng = np.random.default_rng(5)
    for n, alpha in ((30, 0.1), (50, 0.2), (100, 0.05), (12, 0.2)):
        s = rng.random(n)
        k = math.ceil((n + 1) * (1 - alpha))
        want = tr_ref.reference_conformal_quantile(s, alpha)
        assert k < n and quantile_numpy_higher(s, alpha) == np.sort(s)[k] > want


# --- m1 (review R15): Exercise 7 is judged with the student's own Exercise 1 ECE --------------------------
def _notebook_fit_for_site(y, p, covered, thresholds):
    """fit_for_site as the lab's solution writes it, calling the notebook's ``expected_calibration_error``
    (Exercise 1); the notebook's ``MISTAKE`` plants an Exercise 7 error: ``n_bins`` other than 10, ``flip``
    (decide on the reference's ECE, report one's own), ``inline`` (an inline unweighted ECE)."""
    mistake = MISTAKE  # noqa: F821 (the notebook's namespace, see _in_notebook)
    ece = expected_calibration_error(y, p, n_bins=mistake.get("n_bins", 10))  # noqa: F821
    if mistake.get("inline"):
        ece = ece_unweighted(y, p, 10)
    decided = tr_ref.reference_expected_calibration_error(y, p, 10) if mistake.get("flip") else ece
    coverage = float(np.mean(covered))
    reasons = []
    if decided > thresholds["max_ece"]:
        reasons.append(f"ECE {ece:.3f} is above the limit {thresholds['max_ece']}")
    if coverage < thresholds["min_coverage"]:
        reasons.append(f"coverage {coverage:.3f} is below the limit {thresholds['min_coverage']}")
    return {"fit": not reasons, "ece": ece, "coverage": coverage, "reasons": reasons}


def _in_notebook(ece, **mistake):
    """``_notebook_fit_for_site`` defined in a namespace (a notebook's) whose Exercise 1 is ``ece``."""
    import types

    namespace = {**globals(), "expected_calibration_error": ece, "MISTAKE": mistake}
    return types.FunctionType(_notebook_fit_for_site.__code__, namespace, "fit_for_site")


def _constant_ece(y_true, p, n_bins=10):
    return 0.1


WRONG_EXERCISE_1 = [_constant_ece, ece_unweighted]


@pytest.mark.parametrize("wrong", WRONG_EXERCISE_1, ids=lambda f: f.__name__)
def test_a_wrong_exercise_1_does_not_cost_exercise_7(wrong, capsys):
    from xaihealth.instructor.hidden.trust import hidden_check_fit_for_site

    with pytest.raises(AssertionError):
        tr.check_expected_calibration_error(wrong)  # Exercise 1 is wrong ...
    tr.check_fit_for_site(_in_notebook(wrong), GOOD)  # ... and Exercise 7, built on it, still passes
    hidden_check_fit_for_site(_in_notebook(wrong), GOOD)
    assert "Exercise 7 (is the model fit for this site?): passed" in capsys.readouterr().out


@pytest.mark.parametrize("exercise_1", [tr_ref.reference_expected_calibration_error, *WRONG_EXERCISE_1],
                         ids=lambda f: f.__name__)
@pytest.mark.parametrize("mistake", [{"n_bins": 5}, {"flip": True}, {"inline": True}],
                         ids=["five_bins", "decides_on_another_ece", "inline_wrong_ece"])
def test_exercise_7_errors_still_fail_whatever_exercise_1(exercise_1, mistake, capsys):
    if mistake == {"inline": True} and exercise_1 is ece_unweighted:
        pytest.skip("the inline ECE is this Exercise 1 itself: no Exercise 7 error left")
    if mistake == {"flip": True} and exercise_1 is tr_ref.reference_expected_calibration_error:
        pytest.skip("with a right Exercise 1 both ECEs agree: no Exercise 7 error left")
    if mistake == {"n_bins": 5} and exercise_1 is _constant_ece:
        pytest.skip("a constant Exercise 1 ignores n_bins: no Exercise 7 error left")
    with pytest.raises(AssertionError):
        tr.check_fit_for_site(_in_notebook(exercise_1, **mistake), GOOD)
    assert "Exercise 7 (is the model fit for this site?): passed" not in capsys.readouterr().out


def test_the_solution_form_passes_with_a_right_exercise_1(capsys):
    tr.check_fit_for_site(_in_notebook(tr_ref.reference_expected_calibration_error), GOOD)
    assert "passed" in capsys.readouterr().out
