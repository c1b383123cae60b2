"""Mutation tests for the lab 01 checkers: each accepts the reference and rejects plausible mistakes."""

import copy

import numpy as np
import pandas as pd
import pytest
from mutation import case_id, mutation_cases, run_case
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from xaihealth.checks import glass_box as gb

# --- Exercise 1: mini-EBM -------------------------------------------------------------------------------


def _boost(X, y, edges, n_cycles, learning_rate, *, target="residual", features=None, start=True,
           report_intercept=True, centre=True):  # fmt: skip
    """The reference with switches that introduce one mistake each."""
    X, y = np.asarray(X, float), np.asarray(y, float)
    bins = [np.searchsorted(e, X[:, j], side="right") for j, e in enumerate(edges)]
    base = float(np.log(y.mean() / (1 - y.mean())))
    intercept = base if start else 0.0
    scores = [np.zeros(len(e) + 1) for e in edges]
    logit = np.full(len(y), intercept)
    for _ in range(n_cycles):
        for j in features if features is not None else range(len(bins)):
            b = bins[j]
            p = expit(logit)
            r = y - p if target == "residual" else y
            step = learning_rate * np.bincount(b, r, len(scores[j])) / np.maximum(
                np.bincount(b, p * (1 - p), len(scores[j])), 1e-12)
            scores[j] += step
            logit += step[b]
    if centre:
        for j, b in enumerate(bins):
            shift = scores[j][b].mean()
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


def lookup_adds_intercept_to_each_term(ebm, X):
    return gb.reference_explain_by_lookup(ebm, X) + ebm.intercept_[0] / len(ebm.term_names_)


# --- Exercise 3: pair scores ----------------------------------------------------------------------------


def _pairs(X, y, base_logit, n_bins=8, *, residual=True, score="gain", sort=True):
    p = expit(np.asarray(base_logit, float))
    r = np.asarray(y, float) - (p if residual else np.mean(y))
    h = p * (1 - p)
    bins = {c: np.searchsorted(gb.quantile_edges(X[c], n_bins), X[c].to_numpy(float), side="right")
            for c in X}
    out = {}
    for i, a in enumerate(X.columns):
        for b in X.columns[i + 1:]:
            cell = bins[a] * (n_bins + 1) + bins[b]
            g, hh = np.bincount(cell, r), np.bincount(cell, h)
            keep = hh > 0
            if score == "gain":
                out[f"{a} & {b}"] = np.sum(g[keep] ** 2 / hh[keep])
            elif score == "additive":  # 1-D gains of each feature: no interaction at all
                out[f"{a} & {b}"] = sum(np.sum(np.bincount(bins[c], r) ** 2 / np.bincount(bins[c], h))
                                        for c in (a, b))
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


# --- Exercise 4: edit -----------------------------------------------------------------------------------


def _edit(ebm, X, y, feature, value, *, in_place=False, offset=1, pairs=True, whole_term=False):
    edited = ebm if in_place else copy.deepcopy(ebm)
    before = ebm.predict_proba(X)[:, 1] if not in_place else copy.deepcopy(ebm).predict_proba(X)[:, 1]
    f = list(ebm.feature_names_in_).index(feature)
    for t, features in enumerate(edited.term_features_):
        if f not in features or (len(features) > 1 and not pairs):
            continue
        if whole_term:
            edited.term_scores_[t][...] = 0.0
            continue
        cuts = edited.bins_[f][min(len(features), len(edited.bins_[f])) - 1]
        index = [slice(None)] * len(features)
        index[features.index(f)] = np.searchsorted(cuts, value, side="right") + offset
        edited.term_scores_[t][tuple(index)] = 0.0
    after = edited.predict_proba(X)[:, 1]
    changed = before != after
    return edited, {"n_affected": int(changed.sum()), "mean_risk_before": float(before[changed].mean()),
                    "mean_risk_after": float(after[changed].mean()), "auc_before": roc_auc_score(y, before),
                    "auc_after": roc_auc_score(y, after)}  # fmt: skip


def edit_in_place(ebm, X, y, feature, value):
    return _edit(ebm, X, y, feature, value, in_place=True)


def edit_missing_bin_instead(ebm, X, y, feature, value):
    return _edit(ebm, X, y, feature, value, offset=0)


def edit_main_term_only(ebm, X, y, feature, value):
    return _edit(ebm, X, y, feature, value, pairs=False)


def edit_whole_term(ebm, X, y, feature, value):
    return _edit(ebm, X, y, feature, value, whole_term=True)


def edit_auc_of_hard_labels(ebm, X, y, feature, value):
    edited, effect = gb.reference_edit_and_measure(ebm, X, y, feature, value)
    effect["auc_after"] = roc_auc_score(y, edited.predict(X))
    return edited, effect


CASES = (
    mutation_cases(gb.check_fit_mini_ebm, gb.reference_fit_mini_ebm,
                   [mini_ebm_fits_y_not_residuals, mini_ebm_only_first_feature, mini_ebm_forgets_intercept,
                    mini_ebm_not_centred, mini_ebm_greedy_no_shrinkage])
    + mutation_cases(gb.check_explain_by_lookup, gb.reference_explain_by_lookup,
                     [lookup_forgets_missing_bin, lookup_main_cuts_for_pairs, lookup_mains_only,
                      lookup_adds_intercept_to_each_term])
    + mutation_cases(gb.check_pair_scores, gb.reference_pair_scores,
                     [pairs_on_y, pairs_one_dimensional, pairs_squared_residuals, pairs_unsorted])
    + mutation_cases(gb.check_edit_and_measure, gb.reference_edit_and_measure,
                     [edit_in_place, edit_missing_bin_instead, edit_main_term_only, edit_whole_term,
                      edit_auc_of_hard_labels])
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
