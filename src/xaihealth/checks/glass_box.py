"""Checkers for lab 01, *Glass-box models*.

Each checker runs the student's function on data it generates (with a planted answer) or on a small
EBM it fits itself, tests properties of the method (additivity, centring, shrinkage, the planted shape or
pair, an exact local edit) and compares with a reference. References live here and are deliberately plain.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from functools import lru_cache
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.metrics import log_loss, roc_auc_score

from xaihealth.checks._core import exercise
from xaihealth.data.cohort import make_cardio_cohort
from xaihealth.data.heart import FEATURES, load_heart_disease

# ---------------------------------------------------------------------------------------------- helpers


def quantile_edges(x: Any, n_bins: int) -> np.ndarray:
    """Inner bin edges of ``x`` at its quantiles, duplicates removed; a value's bin: searchsorted, right."""
    x = np.asarray(x, dtype=float)
    return np.unique(np.quantile(x, np.linspace(0, 1, n_bins + 1)[1:-1]))


def _lookup(scores: Sequence[np.ndarray], edges: Sequence[np.ndarray], X: np.ndarray) -> np.ndarray:
    """(n, p) matrix of per-feature scores looked up in binned tables."""
    return np.column_stack(
        [np.asarray(scores[j])[np.searchsorted(edges[j], X[:, j], side="right")] for j in range(X.shape[1])]
    )


# ---------------------------------------------------------------------------------------------- references


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
            index.append(np.searchsorted(cuts, X.iloc[:, f].to_numpy(dtype=float), side="right") + 1)
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


# ---------------------------------------------------------------------------------------- planted data


def _planted_additive(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Four features: a step at 0.5 in x0 (+1.2), a line in x1, a U in x2, pure noise in x3."""
    rng = np.random.default_rng(seed)
    X = rng.random((n, 4))
    X[:, 1] = 0.6 * X[:, 0] + 0.4 * rng.random(n)  # correlated with x0
    logit = -0.8 + 1.2 * (X[:, 0] >= 0.5) + 2.0 * X[:, 1] - 1.0 + 6.0 * (X[:, 2] - 0.5) ** 2 - 0.5
    y = (rng.random(n) < expit(logit)).astype(int)
    return X, y, logit


def _planted_step(x: np.ndarray) -> np.ndarray:
    return 1.2 * (np.asarray(x) >= 0.5)


def _planted_pairs(seed: int, pair: tuple[int, int]) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Five features; strong main effects on x2 and x3, one pure product interaction on ``pair``."""
    rng = np.random.default_rng(seed)
    n = 4000
    X = pd.DataFrame(rng.standard_normal((n, 5)), columns=[f"x{i}" for i in range(5)])
    main = -0.5 + 1.5 * np.abs(X["x2"]) - 1.2 + 1.8 * (X["x3"] > 0.3)
    logit = main + 1.0 * X.iloc[:, pair[0]] * X.iloc[:, pair[1]]
    y = (rng.random(n) < expit(logit)).astype(int)
    return X, y, main.to_numpy()


@lru_cache(maxsize=1)
def _small_cohort_ebm() -> tuple[Any, pd.DataFrame]:
    from interpret.glassbox import ExplainableBoostingClassifier

    cohort = make_cardio_cohort(n=1500, seed=11)
    X = cohort.X.drop(columns="site")
    ebm = ExplainableBoostingClassifier(
        outer_bags=2, interactions=2, max_bins=32, max_interaction_bins=8, learning_rate=0.1,
        early_stopping_rounds=20, random_state=0, n_jobs=1,
    )  # fmt: skip
    return ebm.fit(X, cohort.y), X


@lru_cache(maxsize=1)
def _heart_ebm() -> tuple[Any, pd.DataFrame, np.ndarray]:
    from interpret.glassbox import ExplainableBoostingClassifier

    heart = load_heart_disease()
    X, y = heart[list(FEATURES)], heart["disease"].to_numpy()
    ebm = ExplainableBoostingClassifier(
        outer_bags=2, interactions=[("chol", "thalch"), ("age", "oldpeak")], max_bins=32,
        max_interaction_bins=8,
        learning_rate=0.1, early_stopping_rounds=20, random_state=0, n_jobs=1,
    )  # fmt: skip
    return ebm.fit(X, y), X, y


# ------------------------------------------------------------------------------------------------ checkers


def check_fit_mini_ebm(fit_mini_ebm: Callable[..., dict]) -> None:
    """Exercise 1: cyclic boosting of binned shape functions, with shrinkage, centred, exactly additive."""
    with exercise("Exercise 1 (a mini-EBM by cyclic boosting)") as ex:
        X, y, _ = _planted_additive(3000, seed=1)
        X_test, y_test, _ = _planted_additive(3000, seed=2)
        edges = [quantile_edges(X[:, j], 16) for j in range(X.shape[1])]
        out = ex.call(fit_mini_ebm, X.copy(), y.copy(), [e.copy() for e in edges], n_cycles=150,
                      learning_rate=0.1)  # fmt: skip
        ex.returns(out, dict, "a dict with the keys 'intercept', 'scores' and 'logit'",
                   keys=("intercept", "scores", "logit"))  # fmt: skip
        scores = [np.asarray(s, dtype=float) for s in out["scores"]]
        ex.expect(len(scores) == X.shape[1]
                  and all(s.shape == (len(e) + 1,) for s, e in zip(scores, edges, strict=False)),
                  "'scores' needs one table per feature, with len(edges[j]) + 1 entries (one per bin)")
        terms = _lookup(scores, edges, X)
        intercept = float(out["intercept"])
        logit = np.asarray(out["logit"], dtype=float)
        ex.expect(logit.shape == (len(y),),
                  "'logit' is the running log-odds of every training patient, shape (n,)")  # fmt: skip
        ex.expect(np.all(np.isfinite(logit)) and np.abs(logit).max() < 50,
                  "your logits explode: each bin must be fitted to the residuals y - sigmoid(logit) of the "
                  "current model (they shrink as the model improves), not to y")  # fmt: skip
        ex.expect(np.allclose(intercept + terms.sum(axis=1), logit, atol=1e-8),
                  "additivity fails: intercept + the looked-up scores of a patient must equal the running "
                  "logit you boosted. Did you leave the starting value (the intercept) out of the returned "
                  "intercept, or change a table without updating the logit?")  # fmt: skip
        ex.expect(np.allclose(terms.mean(axis=0), 0.0, atol=1e-8),
                  "centre each shape function: its mean over the training patients must be 0, with the "
                  "means moved into the intercept")  # fmt: skip
        ex.expect(np.all(terms[:, :3].std(axis=0) > 0.1),
                  "features 0, 1 and 2 all have an effect, but at least one of your tables is flat: do you "
                  "cycle through every feature in each round?")  # fmt: skip
        one = [ex.call(fit_mini_ebm, X.copy(), y.copy(), [e.copy() for e in edges], n_cycles=1,
                       learning_rate=lr)
               for lr in (0.02, 0.04)]  # fmt: skip
        size = [np.sqrt(sum(np.sum(np.asarray(s, dtype=float) ** 2) for s in o["scores"])) for o in one]
        ex.expect(size[0] > 0 and 1.8 < size[1] / size[0] < 2.2,
                  "after one cycle, doubling the learning rate should about double the tables: every update "
                  "must be shrunk by learning_rate (one small Newton step per bin, not a full fit)")
        ref = reference_fit_mini_ebm(X, y, edges, n_cycles=150, learning_rate=0.1)
        test_logit = intercept + _lookup(scores, edges, X_test).sum(axis=1)
        ref_logit = ref["intercept"] + _lookup(ref["scores"], edges, X_test).sum(axis=1)
        auc, ref_auc = roc_auc_score(y_test, test_logit), roc_auc_score(y_test, ref_logit)
        ex.expect(np.all(np.isfinite(test_logit)) and auc > ref_auc - 0.01,
                  f"held-out AUC {auc:.3f} is more than 0.01 below the reference's: fit each bin to the "
                  "residuals y - sigmoid(logit) of the current model, not to y")  # fmt: skip
        ex.expect(log_loss(y_test, expit(test_logit)) < log_loss(y_test, expit(ref_logit)) + 0.01,
                  "held-out log-loss is worse than the reference's: check the intercept (start from the "
                  "log-odds of the prevalence) and the Newton step sum(residual) / sum(p(1-p)) per bin")
        grid = np.linspace(0.05, 0.95, 91)
        learned = scores[0][np.searchsorted(edges[0], grid, side="right")]
        planted = _planted_step(grid)
        corr = np.corrcoef(learned - learned.mean(), planted - planted.mean())[0, 1]
        ex.expect(corr > 0.9,
                  f"the shape of feature 0 (a step at 0.5) is not recovered (correlation {corr:.2f})")


def check_explain_by_lookup(explain_by_lookup: Callable[[Any, pd.DataFrame], pd.DataFrame]) -> None:
    """Exercise 2: per-term scores of an interpret EBM by reading its tables, equal to ``eval_terms``."""
    with exercise("Exercise 2 (a local explanation by table lookup)") as ex:
        ebm, X = _small_cohort_ebm()
        rows = X.iloc[:200]
        out = ex.call(explain_by_lookup, copy.deepcopy(ebm), rows.copy())
        ex.returns(out, pd.DataFrame, "a pandas DataFrame, one row per patient and one column per term")
        ex.expect(out.shape == (len(rows), len(ebm.term_names_)),
                  "return a DataFrame with one row per patient and one column per term "
                  "(ebm.term_names_)")  # fmt: skip
        ex.expect(list(out.columns) == list(ebm.term_names_),
                  "name and order the columns like ebm.term_names_")
        truth = pd.DataFrame(ebm.eval_terms(rows), columns=ebm.term_names_)
        mains = [t for t in ebm.term_names_ if " & " not in t]
        pairs = [t for t in ebm.term_names_ if " & " in t]
        ex.expect(np.allclose(out[mains].to_numpy(dtype=float), truth[mains].to_numpy(), atol=1e-10),
                  "main-effect scores differ from the model's: a table's index 0 is the missing-value bin, "
                  "so the bin of x is np.searchsorted(cuts, x, side='right') + 1")  # fmt: skip
        ex.expect(np.allclose(out[pairs].to_numpy(dtype=float), truth[pairs].to_numpy(), atol=1e-10),
                  "pair scores differ from the model's: a pair table is indexed by both features' bins, "
                  "and pairs use the coarser cuts ebm.bins_[f][1] when a feature has them")  # fmt: skip
        total = ebm.intercept_[0] + out.to_numpy(dtype=float).sum(axis=1)
        ex.expect(np.allclose(total, ebm.decision_function(rows), atol=1e-9),
                  "intercept + your term scores must equal ebm.decision_function for every patient")


def check_pair_scores(pair_scores: Callable[..., pd.Series]) -> None:
    """Exercise 3: FAST-like pair scores on the residuals of an additive model rank the planted pair first."""
    with exercise("Exercise 3 (a FAST-like pair-interaction score)") as ex:
        for seed, pair in [(5, (0, 1)), (6, (1, 4))]:
            X, y, base = _planted_pairs(seed, pair)
            out = ex.call(pair_scores, X.copy(), y.copy(), base.copy(), n_bins=8)
            ref = reference_pair_scores(X, y, base, n_bins=8)
            ex.returns(out, pd.Series, "a pandas Series indexed 'a & b' for every pair of columns")
            ex.expect(set(out.index) == set(ref.index),
                      "index the Series 'a & b' for every pair of columns (a before b in X)")
            ex.expect(np.all(out.to_numpy(dtype=float) >= 0),
                      "a gain, sum of G^2 / H over cells, is never negative")  # fmt: skip
            planted = f"x{pair[0]} & x{pair[1]}"
            ex.expect(out.index[0] == planted,
                      f"the planted pair {planted} should rank first, you ranked {out.index[0]} first: score "
                      "the residuals y - sigmoid(base_logit), so that main effects are already explained, "
                      "and "
                      "sort from the largest score")  # fmt: skip
            ex.expect(np.allclose(out.loc[ref.index].to_numpy(dtype=float), ref.to_numpy(), rtol=1e-6),
                      "scores differ from the reference: bin each feature with quantile_edges(x, n_bins) and "
                      "np.searchsorted(edges, x, side='right'); per cell G = sum of residuals, H = sum of "
                      "p(1 - p); score = sum over cells of G**2 / H")  # fmt: skip
            ex.expect(list(out.index) == list(ref.index),
                      "sort the Series from the largest to the smallest score")


def check_edit_and_measure(edit_and_measure: Callable[..., tuple[Any, dict]]) -> None:
    """Exercise 4: zero one bin of a feature in every term that uses it, on a copy, and measure the effect."""
    with exercise("Exercise 4 (editing a shape function, and measuring the effect)") as ex:
        ebm, X, y = _heart_ebm()
        original = copy.deepcopy(ebm)
        kept = [s.copy() for s in original.term_scores_]
        out = ex.call(edit_and_measure, original, X.copy(), y.copy(), "chol", 0.0)
        keys = ["n_affected", "mean_risk_before", "mean_risk_after", "auc_before", "auc_after"]
        edited, effect = ex.returns(out, tuple, "a pair (edited_model, effect)", size=2)
        ex.returns(effect, dict, f"effect as a dict with the keys {keys}", keys=keys)
        ex.expect(all(np.array_equal(a, b) for a, b in zip(original.term_scores_, kept, strict=True)),
                  "the original model changed: edit a deep copy (copy.deepcopy), never the model you were "
                  "given")  # fmt: skip
        zero = (X["chol"] == 0).to_numpy()
        terms = edited.eval_terms(X)
        uses_chol = [i for i, t in enumerate(edited.term_names_) if "chol" in t.split(" & ")]
        ex.expect(np.allclose(terms[np.ix_(zero, uses_chol)], 0.0),
                  "patients with chol = 0 must get a score of 0 in *every* term that uses chol (pairs "
                  "too); remember that index 0 of a table is the missing-value bin")  # fmt: skip
        before, after = ebm.predict_proba(X)[:, 1], edited.predict_proba(X)[:, 1]
        ex.expect(np.array_equal(before[~zero], after[~zero]),
                  "patients whose cholesterol is not 0 changed: edit only the bin that holds the value")
        _, ref = reference_edit_and_measure(ebm, X, y, "chol", 0.0)
        ex.expect(int(effect["n_affected"]) == ref["n_affected"],
                  "n_affected counts the patients whose predicted risk changed")  # fmt: skip
        ex.expect(all(np.isclose(float(effect[k]), ref[k], atol=1e-9) for k in keys[1:]),
                  "mean risks are over the affected patients only, and AUCs use the predicted probabilities "
                  "(predict_proba[:, 1]) of all patients, before and after the edit")  # fmt: skip
