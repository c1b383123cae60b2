"""Reference implementations for the checkers of :mod:`xaihealth.checks.glass_box` (instructor-only).

Moved verbatim out of the module the labs import, so that student code cannot call them; the
checkers reach them only through ``xaihealth.checks._reference.references("glass_box")``, which in a
student release replays the values these functions returned when the solutions were checked.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.metrics import roc_auc_score

from xaihealth.checks.glass_box import quantile_edges


def reference_fit_mini_ebm(
    X: Any, y: Any, edges: Sequence[np.ndarray], n_cycles: int = 100, learning_rate: float = 0.1
) -> dict[str, Any]:
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    bins = [np.searchsorted(e, X[:, j], side="right") for j, e in enumerate(edges)]
    intercept = float(np.log(y.mean() / (1 - y.mean())))
    scores = [np.zeros(len(e) + 1) for e in edges]
    logit = np.full(len(y), intercept)
    for _ in range(n_cycles):
        for j, b in enumerate(bins):
            p = expit(logit)
            gradient = np.bincount(b, weights=y - p, minlength=len(scores[j]))
            hessian = np.bincount(b, weights=p * (1 - p), minlength=len(scores[j]))
            step = learning_rate * gradient / np.maximum(hessian, 1e-12)
            scores[j] += step
            logit += step[b]
    for j, b in enumerate(bins):
        shift = scores[j][b].mean()
        scores[j] -= shift
        intercept += shift
    return {"intercept": intercept, "scores": scores, "logit": logit}


def reference_explain_by_lookup(ebm: Any, X: pd.DataFrame) -> pd.DataFrame:
    columns = {}
    for name, features, table in zip(ebm.term_names_, ebm.term_features_, ebm.term_scores_, strict=True):
        index = []
        for f in features:
            cuts = ebm.bins_[f][min(len(features), len(ebm.bins_[f])) - 1]
            x = X.iloc[:, f].to_numpy(dtype=float)
            index.append(np.where(np.isnan(x), 0, np.searchsorted(cuts, x, side="right") + 1))
        columns[name] = table[tuple(index)]
    return pd.DataFrame(columns, index=X.index)


def reference_pair_scores(X: pd.DataFrame, y: Any, base_logit: Any, n_bins: int = 8) -> pd.Series:
    p = expit(np.asarray(base_logit, dtype=float))
    residual, hessian = np.asarray(y, dtype=float) - p, p * (1 - p)
    bins = {c: np.searchsorted(quantile_edges(X[c], n_bins), X[c].to_numpy(dtype=float), side="right")
            for c in X.columns}  # fmt: skip
    scores = {}
    for a, b in combinations(X.columns, 2):
        cell = bins[a] * (n_bins + 1) + bins[b]
        g = np.bincount(cell, weights=residual)
        h = np.bincount(cell, weights=hessian)
        scores[f"{a} & {b}"] = float(np.sum(g[h > 0] ** 2 / h[h > 0]))
    return pd.Series(scores).sort_values(ascending=False)


def reference_edit_and_measure(
    ebm: Any, X: pd.DataFrame, y: Any, feature: str, value: float
) -> tuple[Any, dict]:
    edited = copy.deepcopy(ebm)
    f = list(ebm.feature_names_in_).index(feature)
    for t, features in enumerate(edited.term_features_):
        if f in features:
            cuts = edited.bins_[f][min(len(features), len(edited.bins_[f])) - 1]
            index = [slice(None)] * len(features)
            index[features.index(f)] = np.searchsorted(cuts, value, side="right") + 1
            edited.term_scores_[t][tuple(index)] = 0.0
    before, after = ebm.predict_proba(X)[:, 1], edited.predict_proba(X)[:, 1]
    affected = before != after
    effect = {
        "n_affected": int(affected.sum()),
        "mean_risk_before": float(before[affected].mean()) if affected.any() else float("nan"),
        "mean_risk_after": float(after[affected].mean()) if affected.any() else float("nan"),
        "auc_before": float(roc_auc_score(y, before)),
        "auc_after": float(roc_auc_score(y, after)),
    }
    return edited, effect


def reference_auc_change_at_new_site(
    fit: Callable[[pd.DataFrame, np.ndarray], Any],
    edit: Callable[[Any], Any],
    X: pd.DataFrame,
    y: Any,
    site: Any,
) -> pd.DataFrame:
    y, site = np.asarray(y), np.asarray(site)
    rows = {}
    for held_out in pd.unique(site):
        out = site == held_out
        model = fit(X[~out], y[~out])
        edited = edit(model)
        before = roc_auc_score(y[out], model.decision_function(X[out]))
        after = roc_auc_score(y[out], edited.decision_function(X[out]))
        rows[held_out] = {"auc_before": before, "auc_after": after, "change": after - before}
    return pd.DataFrame(rows).T[["auc_before", "auc_after", "change"]]
