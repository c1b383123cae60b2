"""Hidden tests for lab 01 (mini-EBM, table lookup, pair scores, editing, leave-one-site-out AUC).

Other planted data sets, numbers of cycles, learning rates and bins; new patients and probes for the
same EBM the public checker fits; other features and values to edit on another subset; other sites.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd

from xaihealth.checks.glass_box import (
    _drop_marker,
    _heart_ebm,
    _library_lookup_off,
    _lookup,
    _planted_additive,
    _planted_pairs,
    _planted_sites,
    _planted_ties,
    _Recorder,
    _same_tables,
    _small_cohort_ebm,
    _tables_only,
    quantile_edges,
)
from xaihealth.data.cohort import make_cardio_cohort
from xaihealth.instructor.hidden import hidden_references
from xaihealth.instructor.integrity import exercise

refs = hidden_references("glass_box")


def hidden_check_fit_mini_ebm(fit_mini_ebm: Callable[..., dict]) -> None:
    """Other seeds, sizes, n_cycles, learning rates and bins (and integer ties): tables, intercept, logit."""
    with exercise("Exercise 1 (a mini-EBM by cyclic boosting) (hidden tests)") as ex:
        cases = []
        for n, seed, n_bins, n_cycles, rate in ((600, 30, 6, 7, 0.2), (900, 31, 12, 2, 1.0)):
            X, y, _ = _planted_additive(n, seed=seed)
            cases.append((X, y, [quantile_edges(X[:, j], n_bins) for j in range(4)], n_cycles, rate))
        Xt, yt, et = _planted_ties(700, seed=32)
        cases.append((Xt, yt, et, 4, 0.4))
        for X, y, edges, n_cycles, rate in cases:
            got = ex.call(fit_mini_ebm, X.copy(), y.copy(), [e.copy() for e in edges], n_cycles=n_cycles,
                          learning_rate=rate)  # fmt: skip
            ex.returns(got, dict, "a dict with the keys 'intercept', 'scores' and 'logit'",
                       keys=("intercept", "scores", "logit"))  # fmt: skip
            want = refs.reference_fit_mini_ebm(X, y, edges, n_cycles=n_cycles, learning_rate=rate)
            shown = f"n={len(y)}, n_cycles={n_cycles}, learning_rate={rate}, {len(edges[0]) + 1} bins"
            ex.expect(_same_tables(got["scores"], want["scores"], atol=1e-6)
                      and np.isclose(float(got["intercept"]), want["intercept"], atol=1e-6),
                      f"with {shown} your tables or intercept differ from the lab's")  # fmt: skip
            logit = np.asarray(got["logit"], dtype=float)
            total = float(got["intercept"]) + _lookup(got["scores"], edges, X).sum(axis=1)
            ex.expect(logit.shape == (len(y),) and np.allclose(total, logit, atol=1e-8),
                      f"with {shown} intercept + looked-up scores must equal the returned logit")  # fmt: skip


def hidden_check_explain_by_lookup(explain_by_lookup: Callable[[Any, pd.DataFrame], pd.DataFrame]) -> None:
    """The public checker's EBM on new patients and new probes (other cuts, other columns missing)."""
    with exercise("Exercise 2 (a local explanation by table lookup) (hidden tests)") as ex:
        ebm, X = _small_cohort_ebm()
        data = make_cardio_cohort(n=150, seed=77).X.drop(columns="site")[list(X.columns)].astype(float)
        rng = np.random.default_rng(78)
        for j in range(X.shape[1]):
            cuts = np.concatenate([np.asarray(c, dtype=float) for c in ebm.bins_[j]])
            rows = rng.choice(len(data), 12, replace=False)
            data.iloc[rows[:6], j] = rng.choice(cuts, 6)
            data.iloc[rows[6:9], j] = np.nextafter(rng.choice(cuts, 3), np.inf)
            data.iloc[rows[9:], j] = np.nan if j % 2 else X.iloc[:, j].min() - 5
        data.index = pd.RangeIndex(5000, 5000 + 3 * len(data), 3)
        with _library_lookup_off(ebm):
            out = ex.call(explain_by_lookup, _tables_only(ebm), data.copy())
        ex.returns(out, pd.DataFrame, "a pandas DataFrame, one row per patient and one column per term")
        truth = pd.DataFrame(ebm.eval_terms(data), columns=ebm.term_names_, index=data.index)
        ex.expect(list(out.columns) == list(truth.columns) and list(out.index) == list(data.index),
                  "one column per term (ebm.term_names_), the index of X")  # fmt: skip
        ex.expect(np.allclose(out.to_numpy(dtype=float), truth.to_numpy(), atol=1e-10),
                  "on new patients, values on and just above the cuts, below the range and missing, your "
                  "scores differ from the model's")  # fmt: skip


def hidden_check_pair_scores(pair_scores: Callable[..., pd.Series]) -> None:
    """Other seeds, planted pairs ((0, 4), (2, 3): one overlaps the main effects) and n_bins 3 and 7."""
    with exercise("Exercise 3 (a FAST-like pair-interaction score) (hidden tests)") as ex:
        for seed, pair, n_bins in ((45, (0, 4), 7), (46, (2, 3), 3)):
            X, y, base = _planted_pairs(seed, pair)
            out = ex.call(pair_scores, X.copy(), y.copy(), base.copy(), n_bins=n_bins)
            ex.returns(out, pd.Series, "a pandas Series indexed 'a & b' for every pair of columns")
            ref = refs.reference_pair_scores(X, y, base, n_bins=n_bins)
            ex.expect(set(out.index) == set(ref.index) and list(out.index) == list(ref.index)
                      and np.allclose(out.loc[ref.index].to_numpy(dtype=float), ref.to_numpy(), rtol=1e-6),
                      f"with the pair {pair} planted and n_bins={n_bins} your sorted scores differ from the "
                      "lab's")  # fmt: skip


def hidden_check_edit_and_measure(edit_and_measure: Callable[..., tuple[Any, dict]]) -> None:
    """Other features and values (a pair's coarse cut, a main cut, a value between cuts), other patients."""
    with exercise("Exercise 4 (editing a shape function, and measuring the effect) (hidden tests)") as ex:
        ebm, X, y = _heart_ebm()
        names = list(ebm.feature_names_in_)
        keys = ["n_affected", "mean_risk_before", "mean_risk_after", "auc_before", "auc_after"]
        cases = [("oldpeak", float(ebm.bins_[names.index("oldpeak")][-1][0])),
                 ("chol", float(ebm.bins_[names.index("chol")][0][7])), ("age", 57.5)]  # fmt: skip
        for feature, value in cases:
            Xs, ys = X.iloc[1::3], y[1::3]
            given = copy.deepcopy(ebm)
            got = ex.call(edit_and_measure, given, Xs.copy(), ys.copy(), feature, value)
            ex.returns(got, tuple, "a pair (edited_model, effect)", size=2)
            ex.expect(_same_tables(given.term_scores_, ebm.term_scores_, atol=0.0),
                      "the model you were given changed: edit a deep copy")  # fmt: skip
            want_model, want = refs.reference_edit_and_measure(ebm, Xs, ys, feature, value)
            ex.expect(hasattr(got[0], "term_scores_")
                      and _same_tables(got[0].term_scores_, want_model.term_scores_, atol=0.0),
                      f"editing {feature} = {value:g}: your tables differ from the lab's")  # fmt: skip
            ex.expect(isinstance(got[1], dict) and int(got[1].get("n_affected", -1)) == want["n_affected"]
                      and all(np.isclose(float(got[1].get(k, np.nan)), want[k], atol=1e-9) for k in keys[1:]),
                      f"editing {feature} = {value:g}: the effect differs from the lab's")  # fmt: skip


def hidden_check_auc_change_at_new_site(auc_change_at_new_site: Callable[..., pd.DataFrame]) -> None:
    """Two other planted seeds: trained without the held-out site, AUCs before and after, the change."""
    with exercise("Exercise 5 (which term would you edit before a new hospital?) (hidden tests)") as ex:
        for seed in (5, 6):
            X, y, site = _planted_sites(seed)
            recorder = _Recorder()
            out = ex.call(auc_change_at_new_site, recorder, _drop_marker, X.copy(), y.copy(), site.copy())
            ex.returns(out, pd.DataFrame, "a DataFrame indexed by site")
            ref = refs.reference_auc_change_at_new_site(_Recorder(), _drop_marker, X, y, site)
            columns = ["auc_before", "auc_after", "change"]
            ex.expect(set(out.index) == set(ref.index) and set(columns) <= set(out.columns),
                      "one row per site and the columns auc_before, auc_after, change")  # fmt: skip
            for held_out in pd.unique(site):
                others = frozenset(X["noise"].to_numpy()[site != held_out].tolist())
                ex.expect(others in recorder.seen,
                          f"(seed {seed}) no model was trained on exactly the patients of the sites "
                          f"other than {held_out}")  # fmt: skip
            ex.expect(np.allclose(out.loc[ref.index, columns].to_numpy(dtype=float),
                                  ref[columns].to_numpy(dtype=float), atol=1e-9),
                      f"(seed {seed}) your AUCs or changes differ from the lab's")  # fmt: skip
