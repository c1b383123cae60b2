"""Mutation tests for the lab 01 checkers: each accepts the reference and rejects plausible mistakes."""

import copy

import numpy as np
import pandas as pd
import pytest
from mutation import case_id, mutation_cases, run_case
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from xaihealth.checks import glass_box as gb
from xaihealth.instructor.references import glass_box as gb_ref

# --- Exercise 1: mini-EBM -------------------------------------------------------------------------------


def _boost(X, y, edges, n_cycles, learning_rate, *, target="residual", features=None, start=True,
           report_intercept=True, centre=True, simultaneous=False, step_kind="newton", side="right",
           prevalence_intercept=False, centre_over="patients", order=None, split_step=False):  # fmt: skip
    """The reference with switches that introduce one mistake each."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    bins = [np.searchsorted(e, X[:, j], side=side) for j, e in enumerate(edges)]
    base = float(y.mean()) if prevalence_intercept else float(np.log(y.mean() / (1 - y.mean())))
    intercept = base if start else 0.0
    scores = [np.zeros(len(e) + 1) for e in edges]
    logit = np.full(len(y), intercept)
    for cycle in range(n_cycles):
        visit = list(features if features is not None else range(len(bins)))
        if order == "reverse":
            visit = visit[::-1]
        elif order == "random":
            visit = list(np.random.default_rng(cycle).permutation(visit))
        p_cycle = expit(logit)
        for j in visit:
            b = bins[j]
            p = p_cycle if simultaneous else expit(logit)
            r = {"residual": y - p, "y": y, "minus": p - y}[target]
            g = np.bincount(b, r, len(scores[j]))
            if step_kind == "newton":
                step = learning_rate * g / np.maximum(np.bincount(b, p * (1 - p), len(scores[j])), 1e-12)
            elif step_kind == "gradient":
                step = learning_rate * g
            else:  # mean residual per bin
                step = learning_rate * g / np.maximum(np.bincount(b, minlength=len(scores[j])), 1)
            scores[j] += step
            logit += (step / learning_rate if split_step else step)[b]
    if centre:
        for j, b in enumerate(bins):
            shift = scores[j][b].mean() if centre_over == "patients" else scores[j].mean()
            scores[j] -= shift
            intercept += shift
    if not report_intercept:
        intercept -= base
    return {"intercept": intercept, "scores": scores, "logit": logit}


def mini_ebm_fits_y_not_residuals(X, y, edges, n_cycles=100, learning_rate=0.1):
    return _boost(X, y, edges, n_cycles, learning_rate, target="y")


def mini_ebm_only_first_feature(X, y, edges, n_cycles=100, learning_rate=0.1):
    return _boost(X, y, edges, n_cycles, learning_rate, features=[0])


def mini_ebm_forgets_intercept(X, y, edges, n_cycles=100, learning_rate=0.1):
    """Starts the logit at the prevalence but returns an intercept without it."""
    return _boost(X, y, edges, n_cycles, learning_rate, report_intercept=False)


def mini_ebm_not_centred(X, y, edges, n_cycles=100, learning_rate=0.1):
    """Starts from 0 and never moves the term means into the intercept."""
    return _boost(X, y, edges, n_cycles, learning_rate, start=False, centre=False)


def mini_ebm_simultaneous_update(X, y, edges, n_cycles=100, learning_rate=0.1):
    """Computes p once per cycle and updates every feature from it (not round-robin)."""
    return _boost(X, y, edges, n_cycles, learning_rate, simultaneous=True)


def mini_ebm_without_hessian(X, y, edges, n_cycles=100, learning_rate=0.1):
    """A gradient step learning_rate * sum(residual), no division by sum(p(1 - p))."""
    return _boost(X, y, edges, n_cycles, learning_rate, step_kind="gradient")


def mini_ebm_mean_residual_step(X, y, edges, n_cycles=100, learning_rate=0.1):
    """Divides by the number of patients in the bin instead of the Hessian."""
    return _boost(X, y, edges, n_cycles, learning_rate, step_kind="mean")


def mini_ebm_ignores_learning_rate(X, y, edges, n_cycles=100, learning_rate=0.1):
    return _boost(X, y, edges, n_cycles, 0.1)


def mini_ebm_ignores_n_cycles(X, y, edges, n_cycles=100, learning_rate=0.1):
    return _boost(X, y, edges, 150, learning_rate)


def mini_ebm_wrong_sign(X, y, edges, n_cycles=100, learning_rate=0.1):
    return _boost(X, y, edges, n_cycles, learning_rate, target="minus")


def mini_ebm_prevalence_as_intercept(X, y, edges, n_cycles=100, learning_rate=0.1):
    """Starts from the prevalence (a probability) instead of its log-odds."""
    return _boost(X, y, edges, n_cycles, learning_rate, prevalence_intercept=True)


def mini_ebm_centres_over_bins(X, y, edges, n_cycles=100, learning_rate=0.1):
    """Subtracts the unweighted mean of the table's entries, not the mean over the patients."""
    return _boost(X, y, edges, n_cycles, learning_rate, centre_over="bins")


def mini_ebm_left_side(X, y, edges, n_cycles=100, learning_rate=0.1):
    """np.searchsorted(..., side='left'): values on an edge go to the bin on its left."""
    return _boost(X, y, edges, n_cycles, learning_rate, side="left")


def mini_ebm_random_order(X, y, edges, n_cycles=100, learning_rate=0.1):
    return _boost(X, y, edges, n_cycles, learning_rate, order="random")


def mini_ebm_logit_gets_full_step(X, y, edges, n_cycles=100, learning_rate=0.1):
    """Shrinks the table's update but adds the unshrunk step to the logit."""
    return _boost(X, y, edges, n_cycles, learning_rate, split_step=True)


def mini_ebm_off_by_one_bins(X, y, edges, n_cycles=100, learning_rate=0.1):
    """One table entry per edge (len(edges)), the last bin folded into the one before it."""
    out = _boost(X, y, edges, n_cycles, learning_rate)
    out["scores"] = [s[:-1] for s in out["scores"]]
    return out


def mini_ebm_digitize(X, y, edges, n_cycles=100, learning_rate=0.1):
    """A correct alternative: np.digitize and an explicit guard for empty bins."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    bins = [np.digitize(X[:, j], e) for j, e in enumerate(edges)]
    intercept = float(np.log(y.sum() / (len(y) - y.sum())))
    scores = [np.zeros(len(e) + 1) for e in edges]
    logit = intercept + np.zeros(len(y))
    for _ in range(n_cycles):
        for j in range(X.shape[1]):
            p = 1 / (1 + np.exp(-logit))
            g = np.array([np.sum((y - p)[bins[j] == k]) for k in range(len(scores[j]))])
            h = np.array([np.sum((p * (1 - p))[bins[j] == k]) for k in range(len(scores[j]))])
            step = np.where(h > 0, learning_rate * g / np.where(h > 0, h, 1), 0.0)
            scores[j] = scores[j] + step
            logit = logit + step[bins[j]]
    for j in range(X.shape[1]):
        m = scores[j][bins[j]].mean()
        scores[j] = scores[j] - m
        intercept += m
    return {"intercept": intercept, "scores": scores, "logit": logit}


def mini_ebm_greedy_no_shrinkage(X, y, edges, n_cycles=100, learning_rate=0.1):
    """Each round fully fits (learning rate 1) the single feature with the largest gain."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    bins = [np.searchsorted(e, X[:, j], side="right") for j, e in enumerate(edges)]
    intercept = float(np.log(y.mean() / (1 - y.mean())))
    scores = [np.zeros(len(e) + 1) for e in edges]
    logit = np.full(len(y), intercept)
    for _ in range(n_cycles):
        p = expit(logit)
        steps, gains = [], []
        for j, b in enumerate(bins):
            g = np.bincount(b, y - p, len(scores[j]))
            h = np.maximum(np.bincount(b, p * (1 - p), len(scores[j])), 1e-12)
            steps.append(g / h)
            gains.append(np.sum(g**2 / h))
        j = int(np.argmax(gains))
        scores[j] += steps[j]
        logit += steps[j][bins[j]]
    for j, b in enumerate(bins):
        shift = scores[j][b].mean()
        scores[j] -= shift
        intercept += shift
    return {"intercept": intercept, "scores": scores, "logit": logit}


# --- Exercise 2: lookup ---------------------------------------------------------------------------------


def _lookup(ebm, X, *, offset=1, pair_level=True, with_pairs=True):
    out = {}
    for name, features, table in zip(ebm.term_names_, ebm.term_features_, ebm.term_scores_, strict=True):
        if len(features) > 1 and not with_pairs:
            out[name] = np.zeros(len(X))
            continue
        index = []
        for f in features:
            level = min(len(features), len(ebm.bins_[f])) - 1 if pair_level else 0
            cuts = ebm.bins_[f][level]
            position = np.searchsorted(cuts, X.iloc[:, f].to_numpy(float), side="right") + offset
            index.append(np.minimum(position, table.shape[len(index)] - 1))  # fmt: skip
        out[name] = table[tuple(index)]
    return pd.DataFrame(out, index=X.index)


def lookup_forgets_missing_bin(ebm, X):
    return _lookup(ebm, X, offset=0)


def lookup_main_cuts_for_pairs(ebm, X):
    return _lookup(ebm, X, pair_level=False)


def lookup_mains_only(ebm, X):
    return _lookup(ebm, X, with_pairs=False)


def lookup_with_eval_terms(ebm, X):
    return pd.DataFrame(ebm.eval_terms(X), columns=ebm.term_names_, index=X.index)


def lookup_with_explain_local(ebm, X):
    local = ebm.explain_local(X)
    return pd.DataFrame(
        [local.data(i)["scores"] for i in range(len(X))], columns=ebm.term_names_, index=X.index
    )


def lookup_left_side(ebm, X):
    out = {}
    for name, features, table in zip(ebm.term_names_, ebm.term_features_, ebm.term_scores_, strict=True):
        index = []
        for f in features:
            cuts = ebm.bins_[f][min(len(features), len(ebm.bins_[f])) - 1]
            x = X.iloc[:, f].to_numpy(float)
            index.append(np.where(np.isnan(x), 0, np.searchsorted(cuts, x, side="left") + 1))
        out[name] = table[tuple(index)]
    return pd.DataFrame(out, index=X.index)


def lookup_ignores_missing_values(ebm, X):
    """Forgets that NaN belongs in bin 0 (np.searchsorted puts it after the last cut)."""
    return _lookup(ebm, X)


def lookup_sorted_columns(ebm, X):
    out = gb_ref.reference_explain_by_lookup(ebm, X)
    return out[sorted(out.columns)]


def lookup_loses_index(ebm, X):
    return gb_ref.reference_explain_by_lookup(ebm, X).reset_index(drop=True)


def lookup_digitize(ebm, X):
    """A correct alternative: np.digitize, a loop over patients, NaN by pd.isna."""
    out = pd.DataFrame(index=X.index, columns=list(ebm.term_names_), dtype=float)
    values = X.to_numpy(float)
    for t, features in enumerate(ebm.term_features_):
        for i in range(len(X)):
            idx = []
            for f in features:
                cuts = ebm.bins_[f][0] if len(features) == 1 or len(ebm.bins_[f]) == 1 else ebm.bins_[f][1]
                idx.append(0 if pd.isna(values[i, f]) else int(np.digitize(values[i, f], cuts)) + 1)
            out.iloc[i, t] = ebm.term_scores_[t][tuple(idx)]
    return out


def lookup_unbound_eval_terms(ebm, X):
    """Calls the class's eval_terms on the instance: bypasses the instance's switched-off method."""
    from interpret.glassbox import ExplainableBoostingClassifier

    scores = ExplainableBoostingClassifier.eval_terms(ebm, X)
    return pd.DataFrame(scores, columns=ebm.term_names_, index=X.index)


def lookup_internal_ebm_eval_terms(ebm, X):
    """Calls interpret's internal scoring function directly."""
    from interpret.glassbox._ebm._bin import ebm_eval_terms
    from interpret.utils._clean_x import preclean_X

    cleaned = preclean_X(X, ebm.feature_names_in_, ebm.feature_types_in_)
    scores = ebm_eval_terms(*cleaned, 1, ebm.feature_names_in_, ebm.feature_types_in_, ebm.bins_,
                            ebm.term_scores_, ebm.term_features_)  # fmt: skip
    return pd.DataFrame(scores, columns=ebm.term_names_, index=X.index)


def lookup_by_name_bagged_mean(ebm, X):
    """A correct alternative: columns by name, tables as the mean of bagged_scores_ (= term_scores_)."""
    out = {}
    for t, (name, features) in enumerate(zip(ebm.term_names_, ebm.term_features_, strict=True)):
        table = ebm.bagged_scores_[t].mean(axis=0)
        index = []
        for f in features:
            cuts = ebm.bins_[f][min(len(features), len(ebm.bins_[f])) - 1]
            x = X[ebm.feature_names_in_[f]].to_numpy(float)
            index.append(np.where(np.isnan(x), 0, np.searchsorted(cuts, x, side="right") + 1))
        out[name] = table[tuple(index)]
    return pd.DataFrame(out, index=X.index)


def lookup_adds_intercept_to_each_term(ebm, X):
    return gb_ref.reference_explain_by_lookup(ebm, X) + ebm.intercept_[0] / len(ebm.term_names_)


# --- Exercise 3: pair scores ----------------------------------------------------------------------------


def _pairs(X, y, base_logit, n_bins=8, *, residual=True, score="gain", sort=True, fixed_bins=None,
           stride=None, side="right", hessian="p(1-p)", base="given"):  # fmt: skip
    base_logit = np.asarray(base_logit, float)
    if base == "intercept":
        base_logit = np.full(len(y), np.log(np.mean(y) / (1 - np.mean(y))))
    p = base_logit if base == "probability" else expit(base_logit)
    r = np.asarray(y, float) - (p if residual else np.mean(y))
    h = p * (1 - p) if hessian == "p(1-p)" else np.ones(len(y))
    k = fixed_bins or n_bins
    bins = {c: np.searchsorted(gb.quantile_edges(X[c], k), X[c].to_numpy(float), side=side) for c in X}
    out = {}
    for i, a in enumerate(X.columns):
        for b in X.columns[i + 1 :]:
            cell = bins[a] * (stride or (k + 1)) + bins[b]
            g, hh = np.bincount(cell, r), np.bincount(cell, h)
            keep = hh > 0
            if score == "gain":
                out[f"{a} & {b}"] = np.sum(g[keep] ** 2 / hh[keep])
            elif score == "additive":  # 1-D gains of each feature: no interaction at all
                out[f"{a} & {b}"] = sum(
                    np.sum(np.bincount(bins[c], r) ** 2 / np.bincount(bins[c], h)) for c in (a, b)
                )
            elif score == "sum_sq":  # squared residuals per cell: the same for every pair
                out[f"{a} & {b}"] = np.sum(np.bincount(cell, r**2))
    s = pd.Series(out)
    return s.sort_values(ascending=False) if sort else s


def pairs_on_y(X, y, base_logit, n_bins=8):
    return _pairs(X, y, base_logit, n_bins, residual=False)


def pairs_one_dimensional(X, y, base_logit, n_bins=8):
    return _pairs(X, y, base_logit, n_bins, score="additive")


def pairs_squared_residuals(X, y, base_logit, n_bins=8):
    return _pairs(X, y, base_logit, n_bins, score="sum_sq")


def pairs_unsorted(X, y, base_logit, n_bins=8):
    return _pairs(X, y, base_logit, n_bins).sort_values(ascending=True)


def pairs_ignores_n_bins(X, y, base_logit, n_bins=8):
    return _pairs(X, y, base_logit, n_bins, fixed_bins=8)


def pairs_cells_collide(X, y, base_logit, n_bins=8):
    """cell = bin_a + bin_b: different pairs of bins share a cell."""
    return _pairs(X, y, base_logit, n_bins, stride=1)


def pairs_other_cell_code(X, y, base_logit, n_bins=8):
    """A correct alternative: bin_a * n_bins + bin_b is one-to-one too (bins run 0 .. n_bins - 1)."""
    return _pairs(X, y, base_logit, n_bins, stride=n_bins)


def pairs_left_side(X, y, base_logit, n_bins=8):
    return _pairs(X, y, base_logit, n_bins, side="left")


def pairs_count_not_hessian(X, y, base_logit, n_bins=8):
    return _pairs(X, y, base_logit, n_bins, hessian="count")


def pairs_own_intercept_base(X, y, base_logit, n_bins=8):
    return _pairs(X, y, base_logit, n_bins, base="intercept")


def pairs_logit_as_probability(X, y, base_logit, n_bins=8):
    return _pairs(X, y, base_logit, n_bins, base="probability")


def pairs_groupby(X, y, base_logit, n_bins=8):
    """A correct alternative: pandas groupby on the two bin columns."""
    p = 1 / (1 + np.exp(-np.asarray(base_logit, float)))
    frame = pd.DataFrame({"r": np.asarray(y, float) - p, "h": p * (1 - p)})
    binned = {c: np.digitize(X[c].to_numpy(float), gb.quantile_edges(X[c], n_bins)) for c in X.columns}
    out = {}
    for i, a in enumerate(X.columns):
        for b in X.columns[i + 1 :]:
            sums = frame.groupby([binned[a], binned[b]]).sum()
            sums = sums[sums["h"] > 0]
            out[f"{a} & {b}"] = float((sums["r"] ** 2 / sums["h"]).sum())
    return pd.Series(out).sort_values(ascending=False)


# --- Exercise 4: edit -----------------------------------------------------------------------------------


def _edit(ebm, X, y, feature, value, *, in_place=False, offset=1, pairs=True, whole_term=False,
          main_cuts=False, side="right", mean_over="affected", count="changed"):  # fmt: skip
    edited = ebm if in_place else copy.deepcopy(ebm)
    before = ebm.predict_proba(X)[:, 1] if not in_place else copy.deepcopy(ebm).predict_proba(X)[:, 1]
    f = list(ebm.feature_names_in_).index(feature)
    for t, features in enumerate(edited.term_features_):
        if f not in features or (len(features) > 1 and not pairs):
            continue
        if whole_term:
            edited.term_scores_[t][...] = 0.0
            continue
        cuts = edited.bins_[f][0 if main_cuts else min(len(features), len(edited.bins_[f])) - 1]
        index = [slice(None)] * len(features)
        index[features.index(f)] = np.searchsorted(cuts, value, side=side) + offset
        edited.term_scores_[t][tuple(index)] = 0.0
    after = edited.predict_proba(X)[:, 1]
    changed = before != after
    chosen = changed if mean_over == "affected" else np.ones(len(changed), bool)
    n = int(changed.sum()) if count == "changed" else int((X[feature] == value).sum())
    return edited, {"n_affected": n, "mean_risk_before": float(before[chosen].mean()),
                    "mean_risk_after": float(after[chosen].mean()), "auc_before": roc_auc_score(y, before),
                    "auc_after": roc_auc_score(y, after)}  # fmt: skip


def edit_in_place(ebm, X, y, feature, value):
    return _edit(ebm, X, y, feature, value, in_place=True)


def edit_missing_bin_instead(ebm, X, y, feature, value):
    return _edit(ebm, X, y, feature, value, offset=0)


def edit_main_term_only(ebm, X, y, feature, value):
    return _edit(ebm, X, y, feature, value, pairs=False)


def edit_whole_term(ebm, X, y, feature, value):
    return _edit(ebm, X, y, feature, value, whole_term=True)


def edit_pairs_with_main_cuts(ebm, X, y, feature, value):
    return _edit(ebm, X, y, feature, value, main_cuts=True)


def edit_left_side(ebm, X, y, feature, value):
    return _edit(ebm, X, y, feature, value, side="left")


def edit_mean_risk_of_everyone(ebm, X, y, feature, value):
    return _edit(ebm, X, y, feature, value, mean_over="all")


def edit_counts_exact_value(ebm, X, y, feature, value):
    """Counts the patients whose value equals `value`, not those whose risk changed."""
    return _edit(ebm, X, y, feature, value, count="value")


def edit_digitize_and_logit_auc(ebm, X, y, feature, value):
    """A correct alternative: np.digitize, a loop over axes, AUC of the logit (same ranking as the risk)."""
    edited = copy.deepcopy(ebm)
    f = list(ebm.feature_names_in_).index(feature)
    for t, features in enumerate(edited.term_features_):
        for axis, g in enumerate(features):
            if g == f:
                levels = edited.bins_[f]
                cuts = levels[0] if len(features) == 1 else levels[min(len(features), len(levels)) - 1]
                table = np.moveaxis(edited.term_scores_[t], axis, 0)  # a view: writing it edits the table
                table[int(np.digitize(value, cuts)) + 1] = 0.0
    before, after = ebm.predict_proba(X)[:, 1], edited.predict_proba(X)[:, 1]
    changed = ~np.isclose(before, after, rtol=0, atol=0)
    return edited, {"n_affected": int(changed.sum()), "mean_risk_before": before[changed].mean(),
                    "mean_risk_after": after[changed].mean(),
                    "auc_before": roc_auc_score(y, ebm.decision_function(X)),
                    "auc_after": roc_auc_score(y, edited.decision_function(X))}  # fmt: skip


def edit_auc_of_hard_labels(ebm, X, y, feature, value):
    edited, effect = gb_ref.reference_edit_and_measure(ebm, X, y, feature, value)
    effect["auc_after"] = roc_auc_score(y, edited.predict(X))
    return edited, effect


# --- Exercise 5: leave one site out ----------------------------------------------------------------------


def _loso(fit, edit, X, y, site, *, train="others", measure="site", sign=1, swap=False, labels=False,
          edit_first=False):  # fmt: skip
    y, site = np.asarray(y), np.asarray(site)
    rows = {}
    for held_out in pd.unique(site):
        out = site == held_out
        mask = {"others": ~out, "all": np.ones(len(y), bool), "site": out}[train]
        model = fit(X[mask], y[mask])
        edited = edit(model)
        if edit_first:
            model = edited
        rows_eval = out if measure == "site" else np.ones(len(y), bool)
        scored = [
            m.predict(X[rows_eval]) if labels else m.decision_function(X[rows_eval]) for m in (model, edited)
        ]
        before, after = roc_auc_score(y[rows_eval], scored[0]), roc_auc_score(y[rows_eval], scored[1])
        if swap:
            before, after = after, before
        rows[held_out] = {"auc_before": before, "auc_after": after, "change": sign * (after - before)}
    return pd.DataFrame(rows).T


def loso_trains_on_every_site(fit, edit, X, y, site):
    return _loso(fit, edit, X, y, site, train="all")


def loso_trains_on_the_held_out_site(fit, edit, X, y, site):
    return _loso(fit, edit, X, y, site, train="site")


def loso_measures_on_everyone(fit, edit, X, y, site):
    return _loso(fit, edit, X, y, site, measure="all")


def loso_change_before_minus_after(fit, edit, X, y, site):
    return _loso(fit, edit, X, y, site, sign=-1)


def loso_swaps_before_and_after(fit, edit, X, y, site):
    return _loso(fit, edit, X, y, site, swap=True)


def loso_auc_of_hard_labels(fit, edit, X, y, site):
    return _loso(fit, edit, X, y, site, labels=True)


def loso_before_is_the_edited_model(fit, edit, X, y, site):
    return _loso(fit, edit, X, y, site, edit_first=True)


def loso_with_arrays_and_probabilities(fit, edit, X, y, site):
    """A correct alternative: numpy arrays to fit, predicted probabilities for the AUC, a list of rows."""
    values, y, site = X.to_numpy(), np.asarray(y), np.asarray(site)
    rows = []
    for held_out in sorted(set(site)):
        out = site == held_out
        model = fit(values[~out], y[~out])
        edited = edit(model)
        before = roc_auc_score(y[out], model.predict_proba(values[out])[:, 1])
        after = roc_auc_score(y[out], edited.predict_proba(values[out])[:, 1])
        rows.append(
            pd.Series({"auc_before": before, "auc_after": after, "change": after - before}, name=held_out)
        )
    return pd.DataFrame(rows)


def _accept(checker, function):
    return [(checker, function, True)]


CASES = (
    mutation_cases(gb.check_fit_mini_ebm, gb_ref.reference_fit_mini_ebm,
                   [mini_ebm_fits_y_not_residuals, mini_ebm_only_first_feature, mini_ebm_forgets_intercept,
                    mini_ebm_not_centred, mini_ebm_greedy_no_shrinkage, mini_ebm_simultaneous_update,
                    mini_ebm_without_hessian, mini_ebm_mean_residual_step, mini_ebm_ignores_learning_rate,
                    mini_ebm_ignores_n_cycles, mini_ebm_wrong_sign, mini_ebm_prevalence_as_intercept,
                    mini_ebm_centres_over_bins, mini_ebm_left_side, mini_ebm_random_order,
                    mini_ebm_logit_gets_full_step, mini_ebm_off_by_one_bins])
    + _accept(gb.check_fit_mini_ebm, mini_ebm_digitize)
    + mutation_cases(gb.check_explain_by_lookup, gb_ref.reference_explain_by_lookup,
                     [lookup_forgets_missing_bin, lookup_main_cuts_for_pairs, lookup_mains_only,
                      lookup_adds_intercept_to_each_term, lookup_with_eval_terms, lookup_with_explain_local,
                      lookup_left_side, lookup_ignores_missing_values, lookup_sorted_columns,
                      lookup_loses_index, lookup_unbound_eval_terms, lookup_internal_ebm_eval_terms])
    + _accept(gb.check_explain_by_lookup, lookup_digitize)
    + _accept(gb.check_explain_by_lookup, lookup_by_name_bagged_mean)
    + mutation_cases(gb.check_pair_scores, gb_ref.reference_pair_scores,
                     [pairs_on_y, pairs_one_dimensional, pairs_squared_residuals, pairs_unsorted,
                      pairs_ignores_n_bins, pairs_cells_collide, pairs_left_side, pairs_count_not_hessian,
                      pairs_own_intercept_base, pairs_logit_as_probability])
    + _accept(gb.check_pair_scores, pairs_groupby) + _accept(gb.check_pair_scores, pairs_other_cell_code)
    + mutation_cases(gb.check_edit_and_measure, gb_ref.reference_edit_and_measure,
                     [edit_in_place, edit_missing_bin_instead, edit_main_term_only, edit_whole_term,
                      edit_auc_of_hard_labels, edit_pairs_with_main_cuts, edit_left_side,
                      edit_mean_risk_of_everyone, edit_counts_exact_value])
    + _accept(gb.check_edit_and_measure, edit_digitize_and_logit_auc)
    + mutation_cases(gb.check_auc_change_at_new_site, gb_ref.reference_auc_change_at_new_site,
                     [loso_trains_on_every_site, loso_trains_on_the_held_out_site, loso_measures_on_everyone,
                      loso_change_before_minus_after, loso_swaps_before_and_after, loso_auc_of_hard_labels,
                      loso_before_is_the_edited_model])
    + _accept(gb.check_auc_change_at_new_site, loso_with_arrays_and_probabilities)
)  # fmt: skip


@pytest.mark.parametrize(("checker", "function", "accept"), CASES, ids=case_id)
def test_checker_accepts_reference_and_rejects_mutants(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


def test_checker_reports_an_unfinished_stub():
    def stub(*args, **kwargs):
        raise NotImplementedError("Exercise 1 (a mini-EBM by cyclic boosting): replace this line")

    with pytest.raises(AssertionError, match="not done yet"):
        gb.check_fit_mini_ebm(stub)


def test_quantile_edges_rejects_nothing_silently():
    edges = gb.quantile_edges(np.arange(100.0), 4)
    assert np.allclose(edges, [24.75, 49.5, 74.25])


@pytest.mark.parametrize(
    ("x", "n_bins"),
    [
        (np.arange(10.0), 1),
        (np.arange(10.0), 2.5),
        (np.arange(10.0), True),
        (np.zeros((3, 2)), 4),
        (np.array([]), 4),
        (np.array([1.0, np.nan]), 4),
    ],
)
def test_quantile_edges_rejects_bad_input(x, n_bins):
    with pytest.raises(ValueError, match="n_bins|x must"):
        gb.quantile_edges(x, n_bins)


# --- written answers (Exercises 1, 4 and 5): completeness only -------------------------------------------

GOOD_1 = (
    "Early stopping on a validation set comes first, because without it every small bin is fitted to its "
    "own few patients. Bagging comes next: its band shows where a curve rests on few patients, but it is "
    "not a confidence interval. Interaction terms come last, only when a pair score shows one is missing."
)
GOOD_4 = (
    "The edit lowered the mean predicted risk of the 49 patients and changed nobody else. The AUC at VA "
    "Long Beach barely moved, because ca, thal and slope are missing for the same patients. I would not "
    "ship it before measuring the missing-value bins at a hospital left out."
)
GOOD_5 = (
    "I would ship edit (c), because its mean change at a new site is at or above zero and its interval "
    "includes 0, so the honest claim is no measurable loss. Four hospitals, one with 8 healthy patients, "
    "are weak evidence. After deployment I would monitor calibration, AUC and the missingness pattern."
)
WRITTEN = [
    (gb.check_answer_1, GOOD_1, True),
    (gb.check_answer_1, GOOD_1.replace("Early stopping on a validation set", "Early exits"), False),
    (gb.check_answer_1, GOOD_1.replace("Bagging comes next: its band", "Next, the curve"), False),
    (gb.check_answer_1, GOOD_1.replace("Interaction terms", "Other terms").replace("pair score", "score"),
     False),
    (gb.check_answer_4, GOOD_4, True),
    (gb.check_answer_4, GOOD_4.replace("The AUC at VA Long Beach", "The ranking at VA Long Beach"), False),
    (gb.check_answer_4, GOOD_4.replace("ca, thal and slope are missing", "other values differ")
     .replace("missing-value bins", "bins"), False),
    (gb.check_answer_4, GOOD_4.replace("ship it", "use it"), False),
    (gb.check_answer_5, GOOD_5, True),
    (gb.check_answer_5, GOOD_5.replace("and its interval includes 0", "on average"), False),
    (gb.check_answer_5, GOOD_5.replace("Four hospitals, one with 8 healthy patients, are weak evidence",
                                       "The hospitals differ a lot from one another"), False),
    (gb.check_answer_5, GOOD_5.replace("I would monitor", "I would look at"), False),
    (gb.check_answer_5, GOOD_5[:150], False),
    (gb.check_answer_1, None, False),
    (gb.check_answer_4, "risk auc ca ship. " * 10, False),
]  # fmt: skip


@pytest.mark.parametrize(("checker", "answer", "accept"), WRITTEN,
                         ids=[f"{c.__name__}-{i}" for i, (c, _, _) in enumerate(WRITTEN)])  # fmt: skip
def test_written_answer_checkers(checker, answer, accept, capsys):
    if accept:
        checker(answer)
        assert "passed" in capsys.readouterr().out
    else:
        with pytest.raises(AssertionError):
            checker(answer)
        assert "passed" not in capsys.readouterr().out
