"""Checkers for lab 01, *Glass-box models*.

Each checker runs the student's function on data it generates (with a planted answer) or on a small
EBM it fits itself, tests properties of the method (additivity, centring, shrinkage, the planted shape or
pair, an exact local edit) and compares with a reference (:mod:`xaihealth.instructor.references.glass_box`,
instructor-only, replayed in a student release; deliberately plain).
"""

from __future__ import annotations

import contextlib
import copy
import warnings
from collections.abc import Callable, Iterator, Sequence
from functools import cache, lru_cache
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from xaihealth.checks._core import exercise, replaced, written_answer
from xaihealth.checks._reference import references
from xaihealth.data.cohort import make_cardio_cohort
from xaihealth.data.heart import FEATURES, load_heart_disease

refs = references("glass_box")  # the reference implementations, or their replay

# ---------------------------------------------------------------------------------------------- helpers


def quantile_edges(x: Any, n_bins: int) -> np.ndarray:
    """Inner bin edges of ``x`` at its quantiles, duplicates removed; a value's bin: searchsorted, right."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 2:
        raise ValueError(f"n_bins={n_bins!r} must be an integer >= 2")
    x = np.asarray(x, dtype=float)
    if x.ndim != 1 or x.size == 0 or not np.all(np.isfinite(x)):
        raise ValueError(f"x must be a non-empty 1-D array of finite numbers; got shape {x.shape}")
    return np.unique(np.quantile(x, np.linspace(0, 1, n_bins + 1)[1:-1]))


def _lookup(scores: Sequence[np.ndarray], edges: Sequence[np.ndarray], X: np.ndarray) -> np.ndarray:
    """(n, p) matrix of per-feature scores looked up in binned tables."""
    return np.column_stack(
        [np.asarray(scores[j])[np.searchsorted(edges[j], X[:, j], side="right")] for j in range(X.shape[1])]
    )


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
    with warnings.catch_warnings():  # interpret warns that it does not plot missing-value bins; we know
        warnings.filterwarnings("ignore", message="Missing values detected", category=UserWarning)
        ebm.fit(X, y)
    return ebm, X, y


def _planted_ties(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
    """Integer-valued features and edges *on* those integers: a value's side of an edge matters."""
    rng = np.random.default_rng(seed)
    X = rng.integers(0, 10, (n, 3)).astype(float)
    logit = -0.3 + 0.25 * (X[:, 0] - 4.5) + 0.8 * (X[:, 1] >= 5) - 0.6 * (X[:, 2] >= 3)
    y = (rng.random(n) < expit(logit)).astype(int)
    return X, y, [np.array([2.0, 5.0, 7.0]), np.array([5.0]), np.array([1.0, 3.0, 6.0, 8.0])]


def _planted_sites(seed: int) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    """Three sites; ``marker`` is a recording habit that predicts the outcome at two sites and not the "
    "third."""
    rng = np.random.default_rng(seed)
    sizes = {"A": 300, "B": 250, "C": 200}
    site = np.repeat(list(sizes), list(sizes.values()))
    risk = rng.standard_normal(len(site))
    y = (rng.random(len(site)) < expit(1.2 * risk)).astype(int)
    marker = np.where(site == "C", rng.standard_normal(len(site)), y + 0.8 * rng.standard_normal(len(site)))
    noise = rng.standard_normal(len(site))
    X = pd.DataFrame(
        {"risk": risk + 0.5 * rng.standard_normal(len(site)), "marker": marker, "noise": noise},
        index=pd.RangeIndex(len(site)) * 7,
    )
    return X, y, site


def _same_tables(got: Sequence[Any], want: Sequence[np.ndarray], atol: float = 1e-8) -> bool:
    try:
        return len(got) == len(want) and all(
            np.shape(g) == np.shape(w) and np.allclose(np.asarray(g, dtype=float), w, rtol=1e-7, atol=atol)
            for g, w in zip(got, want, strict=True)
        )
    except (TypeError, ValueError):
        return False


class _TablesOnly:
    """Mixin for a copy of an EBM whose prediction methods refuse: Exercise 2 reads the tables itself."""

    def _refuse(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(
            "Exercise 2 asks you to read the scores from the tables (ebm.term_scores_, ebm.bins_, "
            "ebm.term_features_) yourself; the model's own eval_terms / predict / explain methods are "
            "switched off in this check"
        )

    eval_terms = decision_function = predict = predict_proba = explain_local = explain_global = _refuse


@cache
def _tables_only_class(base: type) -> type:
    """``base`` with its prediction methods refused; for interpret's classifier it is this module's
    ``EBMTablesOnly`` (importable by name, so the grader can send the twin to a submission's process)."""
    ebc = base.__name__ == "ExplainableBoostingClassifier"
    name = "EBMTablesOnly" if ebc else f"TablesOnly{base.__name__}"
    return type(name, (_TablesOnly, base), {"__module__": __name__, "__qualname__": name})


def __getattr__(name: str) -> Any:
    if name == "EBMTablesOnly":  # made on first use: interpret is imported only by the checks that need it
        from interpret.glassbox import ExplainableBoostingClassifier

        return _tables_only_class(ExplainableBoostingClassifier)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _tables_only(ebm: Any) -> Any:
    twin = copy.deepcopy(ebm)
    twin.__class__ = _tables_only_class(type(ebm))
    return twin


_EBM_METHODS = ("eval_terms", "decision_function", "predict", "predict_proba", "explain_local",
                "explain_global", "_predict_score", "predict_with_uncertainty")  # fmt: skip
_EBM_FUNCTIONS = ("ebm_eval_terms", "ebm_predict_scores", "eval_terms")


@contextlib.contextmanager
def _library_lookup_off(ebm: Any) -> Iterator[None]:
    """Switch off interpret's own scoring while the student's Exercise 2 runs.

    The twin of :func:`_tables_only` refuses instance calls; this also refuses the unbound class methods
    (``ExplainableBoostingClassifier.eval_terms(ebm, X)``) and interpret's internal scoring functions
    (``interpret.glassbox._ebm._bin.ebm_eval_terms`` ...), restored when the call returns.
    """
    import importlib

    targets = [(klass, name) for klass in type(ebm).__mro__ for name in _EBM_METHODS if name in vars(klass)]
    for module_name in ("interpret.glassbox._ebm._bin", "interpret.glassbox._ebm._ebm"):
        module = importlib.import_module(module_name)
        targets += [(module, name) for name in _EBM_FUNCTIONS if hasattr(module, name)]
    with replaced(targets, _TablesOnly._refuse):
        yield


class _Recorder:
    """A model-fitting function that records which patients it was given (to catch training on the test site).

    Patients are recognised by their ``noise`` value (all distinct), so a student may pass a DataFrame or an
    array.
    """

    def __init__(self) -> None:
        self.seen: list[frozenset[float]] = []

    def __call__(self, X: Any, y: Any) -> Any:
        values = np.asarray(X, dtype=float)
        self.seen.append(frozenset(values[:, 2].tolist()))
        return _PlainLogistic(max_iter=1000).fit(values, np.asarray(y))


class _PlainLogistic(LogisticRegression):
    """A logistic regression that takes a DataFrame or an array alike (fitted on arrays)."""

    def decision_function(self, X: Any) -> np.ndarray:
        return super().decision_function(np.asarray(X, dtype=float))

    def predict_proba(self, X: Any) -> np.ndarray:
        return super().predict_proba(np.asarray(X, dtype=float))

    def predict(self, X: Any) -> np.ndarray:
        return super().predict(np.asarray(X, dtype=float))


def _drop_marker(model: Any) -> Any:
    edited = copy.deepcopy(model)
    edited.coef_[0, 1] = 0.0  # column 1 is the site-specific marker
    return edited


# ------------------------------------------------------------------------------------------------ checkers


def check_fit_mini_ebm(fit_mini_ebm: Callable[..., dict]) -> None:
    """Exercise 1: round-robin boosting of binned shape functions, Newton steps, shrunk, centred, additive."""
    with exercise("Exercise 1 (a mini-EBM by cyclic boosting)") as ex:
        X, y, _ = _planted_additive(3000, seed=1)
        X_test, y_test, _ = _planted_additive(3000, seed=2)
        edges = [quantile_edges(X[:, j], 16) for j in range(X.shape[1])]
        out = ex.call(fit_mini_ebm, X.copy(), y.copy(), [e.copy() for e in edges], n_cycles=150,
                      learning_rate=0.1)  # fmt: skip
        ex.returns(out, dict, "a dict with the keys 'intercept', 'scores' and 'logit'",
                   keys=("intercept", "scores", "logit"))  # fmt: skip
        scores = [np.asarray(s, dtype=float) for s in out["scores"]]
        ex.expect(
            len(scores) == X.shape[1]
            and all(s.shape == (len(e) + 1,) for s, e in zip(scores, edges, strict=False)),
            "'scores' needs one table per feature, with len(edges[j]) + 1 entries (one per bin)",
        )
        terms = _lookup(scores, edges, X)
        intercept = float(out["intercept"])
        logit = np.asarray(out["logit"], dtype=float)
        ex.expect(logit.shape == (len(y),),
                  "'logit' is the running log-odds of every training patient, shape (n,)")  # fmt: skip
        ex.expect(
            np.all(np.isfinite(logit)) and np.abs(logit).max() < 50,
            "your logits explode: each bin must be fitted to the residuals y - sigmoid(logit) of the "
            "current model (they shrink as the model improves), not to y, and added with a + sign",
        )
        ex.expect(np.allclose(intercept + terms.sum(axis=1), logit, atol=1e-8),
                  "additivity fails: intercept + the looked-up scores of a patient must equal the running "
                  "logit you boosted. Did you leave the starting value (the intercept) out of the returned "
                  "intercept, or change a table without updating the logit?")  # fmt: skip
        ex.expect(np.allclose(terms.mean(axis=0), 0.0, atol=1e-8),
                  "centre each shape function: its mean over the training *patients* (not over the bins) "
                  "must be 0, with the means moved into the intercept")  # fmt: skip
        ex.expect(np.all(terms[:, :3].std(axis=0) > 0.1),
                  "features 0, 1 and 2 all have an effect, but at least one of your tables is flat: do you "
                  "cycle through every feature in each round?")  # fmt: skip
        ref = refs.reference_fit_mini_ebm(X, y, edges, n_cycles=150, learning_rate=0.1)
        ex.expect(np.isclose(intercept, ref["intercept"], atol=1e-6),
                  f"your intercept {intercept:.4f} differs from the reference's {ref['intercept']:.4f}: "
                  f"start "
                  "from the log-odds of the prevalence, log(p / (1 - p)) (not the prevalence p itself), and "
                  "add each table's mean over the patients when you centre it")  # fmt: skip
        ex.expect(_same_tables(scores, ref["scores"], atol=1e-6),
                  "your tables differ from the reference's: within a cycle, update the features one after "
                  "the other (0, 1, ..., p - 1), recomputing p = sigmoid(logit) before each feature (not "
                  "once "
                  "per cycle for all features); per bin take learning_rate * G / H with G = sum(y - p) and "
                  "H = sum(p(1 - p)), the Newton step (not G alone, nor the mean residual)")  # fmt: skip
        grid = np.linspace(0.05, 0.95, 91)
        learned = scores[0][np.searchsorted(edges[0], grid, side="right")]
        r2 = 1 - np.sum(
            (learned - learned.mean() - (_planted_step(grid) - _planted_step(grid).mean())) ** 2
        ) / (np.sum((_planted_step(grid) - _planted_step(grid).mean()) ** 2))
        ref_auc = roc_auc_score(y_test, ref["intercept"] + _lookup(ref["scores"], edges, X_test).sum(axis=1))
        auc = roc_auc_score(y_test, intercept + _lookup(scores, edges, X_test).sum(axis=1))
        ex.expect(r2 > 0.5 and auc > ref_auc - 1e-6,
                  f"the planted step of feature 0 is not recovered (R² {r2:.2f}) or the held-out AUC "
                  f"{auc:.3f} is below the reference's {ref_auc:.3f}")  # fmt: skip
        for case in ({"n_cycles": 3, "learning_rate": 0.5, "n_bins": 5, "seed": 3},
                     {"n_cycles": 25, "learning_rate": 0.02, "n_bins": 9, "seed": 4}):  # fmt: skip
            Xc, yc, _ = _planted_additive(800, seed=case["seed"])
            ec = [quantile_edges(Xc[:, j], case["n_bins"]) for j in range(Xc.shape[1])]
            got = ex.call(fit_mini_ebm, Xc.copy(), yc.copy(), [e.copy() for e in ec],
                          n_cycles=case["n_cycles"],
                          learning_rate=case["learning_rate"])  # fmt: skip
            want = refs.reference_fit_mini_ebm(
                Xc, yc, ec, n_cycles=case["n_cycles"], learning_rate=case["learning_rate"]
            )
            ex.expect(isinstance(got, dict) and _same_tables(got.get("scores", []), want["scores"], atol=1e-6)
                      and np.isclose(float(got["intercept"]), want["intercept"], atol=1e-6),
                      f"with n_cycles={case['n_cycles']}, learning_rate={case['learning_rate']} and "
                      f"{case['n_bins']} bins your tables differ from the reference's: use the n_cycles, "
                      "learning_rate and edges you are given (not fixed values)")  # fmt: skip
        Xt, yt, et = _planted_ties(1200, seed=7)
        got = ex.call(
            fit_mini_ebm, Xt.copy(), yt.copy(), [e.copy() for e in et], n_cycles=10, learning_rate=0.3
        )
        want = refs.reference_fit_mini_ebm(Xt, yt, et, n_cycles=10, learning_rate=0.3)
        ex.expect(isinstance(got, dict) and _same_tables(got.get("scores", []), want["scores"], atol=1e-6),
                  "on integer-valued features whose values fall exactly on the edges, your tables differ: a "
                  "value equal to an edge belongs to the bin on its right, np.searchsorted(edges, x, "
                  "side='right') (np.digitize(x, edges) is the same)")  # fmt: skip


def check_explain_by_lookup(explain_by_lookup: Callable[[Any, pd.DataFrame], pd.DataFrame]) -> None:
    """Exercise 2: per-term scores of an interpret EBM read from its tables, equal to ``eval_terms``."""
    with exercise("Exercise 2 (a local explanation by table lookup)") as ex:
        ebm, X = _small_cohort_ebm()
        rows = X.iloc[:200].copy()
        # probe rows at and around the cut points (main and pair cuts), beyond the range, and missing values
        rng = np.random.default_rng(0)
        probes = X.iloc[rng.integers(0, len(X), 60)].astype(float).reset_index(drop=True)
        for j, column in enumerate(X.columns):
            cuts = np.concatenate([np.asarray(c, dtype=float) for c in ebm.bins_[j]])
            choice = rng.choice(cuts, 60)
            probes.loc[:20, column] = choice[:21]
            probes.loc[21:30, column] = np.nextafter(choice[21:31], -np.inf)
        probes.loc[31:35, X.columns[0]] = X.iloc[:, 0].max() + 10
        probes.loc[36:40, X.columns[2]] = X.iloc[:, 2].min() - 10
        probes.loc[41:45, X.columns[0]] = np.nan
        probes.loc[46:50, X.columns[2]] = np.nan
        probes.index = pd.RangeIndex(1000, 1060)
        data = pd.concat([rows, probes])
        with _library_lookup_off(ebm):
            out = ex.call(explain_by_lookup, _tables_only(ebm), data.copy())
        ex.returns(out, pd.DataFrame, "a pandas DataFrame, one row per patient and one column per term")
        ex.expect(out.shape == (len(data), len(ebm.term_names_)),
                  "return a DataFrame with one row per patient and one column per term "
                  "(ebm.term_names_)")  # fmt: skip
        ex.expect(
            list(out.columns) == list(ebm.term_names_), "name and order the columns like ebm.term_names_"
        )
        ex.expect(
            list(out.index) == list(data.index), "keep the index of X (one row per patient, same order)"
        )
        truth = pd.DataFrame(ebm.eval_terms(data), columns=ebm.term_names_, index=data.index)
        mains = [t for t in ebm.term_names_ if " & " not in t]
        got = out.to_numpy(dtype=float)
        ok_rows = np.allclose(got[:200], truth.to_numpy()[:200], atol=1e-10)
        main_ok = np.allclose(
            out[mains].to_numpy(dtype=float)[:200], truth[mains].to_numpy()[:200], atol=1e-10
        )
        ex.expect(main_ok,
                  "main-effect scores differ from the model's: a table's index 0 is the missing-value bin, "
                  "so the bin of x is np.searchsorted(cuts, x, side='right') + 1")  # fmt: skip
        ex.expect(ok_rows,
                  "pair scores differ from the model's: a pair table is indexed by both features' bins, "
                  "and pairs use the coarser cuts ebm.bins_[f][1] when a feature has them")  # fmt: skip
        probe_ok = np.allclose(got[200:251], truth.to_numpy()[200:251], atol=1e-10)
        ex.expect(probe_ok,
                  "scores differ for values exactly on a cut point, just below one, or outside the training "
                  "range: a value equal to a cut belongs to the bin on its right (side='right'), and a "
                  "value beyond the last cut is in the last bin")  # fmt: skip
        ex.expect(np.allclose(got[251:], truth.to_numpy()[251:], atol=1e-10),
                  "scores differ for missing values (NaN): a missing value is read at index 0 of the table, "
                  "the missing-value bin (np.searchsorted would put NaN in the last bin)")  # fmt: skip
        total = ebm.intercept_[0] + got.sum(axis=1)
        ex.expect(
            np.allclose(total, ebm.decision_function(data), atol=1e-9),
            "intercept + your term scores must equal ebm.decision_function for every patient",
        )


def check_pair_scores(pair_scores: Callable[..., pd.Series]) -> None:
    """Exercise 3: FAST-like pair scores on the residuals of an additive model rank the planted pair first."""
    with exercise("Exercise 3 (a FAST-like pair-interaction score)") as ex:
        for seed, pair, n_bins in [(5, (0, 1), 8), (6, (1, 4), 5)]:
            X, y, base = _planted_pairs(seed, pair)
            out = ex.call(pair_scores, X.copy(), y.copy(), base.copy(), n_bins=n_bins)
            ref = refs.reference_pair_scores(X, y, base, n_bins=n_bins)
            ex.returns(out, pd.Series, "a pandas Series indexed 'a & b' for every pair of columns")
            ex.expect(
                set(out.index) == set(ref.index),
                "index the Series 'a & b' for every pair of columns (a before b in X)",
            )
            ex.expect(np.all(out.to_numpy(dtype=float) >= 0),
                      "a gain, sum of G^2 / H over cells, is never negative")  # fmt: skip
            planted = f"x{pair[0]} & x{pair[1]}"
            ex.expect(out.index[0] == planted,
                      f"the planted pair {planted} should rank first, you ranked {out.index[0]} first: score "
                      "the residuals y - sigmoid(base_logit), so that main effects are already explained, "
                      "and sort from the largest score")  # fmt: skip
            ex.expect(
                np.allclose(out.loc[ref.index].to_numpy(dtype=float), ref.to_numpy(), rtol=1e-6),
                f"with n_bins={n_bins} your scores differ from the reference: bin each feature with "
                "quantile_edges(x, n_bins) (the n_bins you are given) and np.searchsorted(edges, x, "
                "side='right'); give every pair of bins its own cell (a bin index runs from 0 to "
                "n_bins - 1); per cell G = sum of residuals, H = sum of p(1 - p); score = sum of G**2 / H",
            )
            ex.expect(
                list(out.index) == list(ref.index), "sort the Series from the largest to the smallest score"
            )
        # the base model matters: from the intercept alone the strong main effects leak into the pairs
        X, y, base = _planted_pairs(5, (0, 1))
        flat = np.full(len(y), float(np.log(y.mean() / (1 - y.mean()))))
        out = ex.call(pair_scores, X.copy(), y.copy(), flat.copy(), n_bins=6)
        ref = refs.reference_pair_scores(X, y, flat, n_bins=6)
        ex.expect(isinstance(out, pd.Series) and set(out.index) == set(ref.index)
                  and np.allclose(out.loc[ref.index].to_numpy(dtype=float), ref.to_numpy(), rtol=1e-6),
                  "with a constant base_logit (and n_bins=6) your scores differ from the reference: use the "
                  "base_logit you are given for p, not a model of your own")  # fmt: skip
        Xd = X.copy()
        Xd["x0"] = np.round(Xd["x0"] * 2) / 2  # values on a half-integer grid: ties at the edges
        Xd["x4"] = (Xd["x4"] > 0).astype(float)
        out = ex.call(pair_scores, Xd.copy(), y.copy(), base.copy(), n_bins=4)
        ref = refs.reference_pair_scores(Xd, y, base, n_bins=4)
        ex.expect(isinstance(out, pd.Series) and set(out.index) == set(ref.index)
                  and np.allclose(out.loc[ref.index].to_numpy(dtype=float), ref.to_numpy(), rtol=1e-6),
                  "with discrete features (values equal to the edges) your scores differ: a value equal to "
                  "an edge belongs to the bin on its right, np.searchsorted(edges, x, side='right')",
                  )  # fmt: skip


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
        ex.expect(
            np.array_equal(before[~zero], after[~zero]),
            "patients whose cholesterol is not 0 changed: edit only the bin that holds the value",
        )
        ref_model, ref = refs.reference_edit_and_measure(ebm, X, y, "chol", 0.0)
        ex.expect(int(effect["n_affected"]) == ref["n_affected"],
                  "n_affected counts the patients whose predicted risk changed")  # fmt: skip
        ex.expect(all(np.isclose(float(effect[k]), ref[k], atol=1e-9) for k in keys[1:]),
                  "mean risks are over the affected patients only, and AUCs use the predicted probabilities "
                  "(predict_proba[:, 1]) of all patients, before and after the edit")  # fmt: skip
        # values inside the range, where a pair's coarse cuts and the main cuts give different bins, and
        # values exactly on a cut point; measured on a subset of patients
        f_thalch, f_age = (
            list(ebm.feature_names_in_).index("thalch"),
            list(ebm.feature_names_in_).index("age"),
        )
        cases = [("thalch", 150.0), ("thalch", float(ebm.bins_[f_thalch][-1][2])),
                 ("age", float(ebm.bins_[f_age][0][5])), ("age", float(ebm.bins_[f_age][-1][1]))]  # fmt: skip
        for feature, value in cases:
            got = ex.call(
                edit_and_measure, copy.deepcopy(ebm), X.iloc[::2].copy(), y[::2].copy(), feature, value
            )
            want_model, want = refs.reference_edit_and_measure(ebm, X.iloc[::2], y[::2], feature, value)
            ok = (isinstance(got, tuple) and len(got) == 2 and hasattr(got[0], "term_scores_")
                  and _same_tables(got[0].term_scores_, want_model.term_scores_, atol=0.0))  # fmt: skip
            ex.expect(ok,
                      f"editing {feature} = {value:g}: your tables differ from the reference's. In a pair "
                      f"term "
                      "find the bin with the pair's own (coarser) cuts, ebm.bins_[f][min(k, "
                      "len(ebm.bins_[f])) "
                      "- 1] for a term of k features; a value on a cut belongs to the bin on its right "
                      "(side='right'), and index 0 is the missing-value bin")  # fmt: skip
            ex.expect(isinstance(got[1], dict) and int(got[1].get("n_affected", -1)) == want["n_affected"]
                      and all(np.isclose(float(got[1].get(k, np.nan)), want[k], atol=1e-9, equal_nan=True)
                              for k in keys[1:]),
                      f"editing {feature} = {value:g}: the effect differs from the reference's; measure on "
                      f"the "
                      "patients X and outcomes y you are given")  # fmt: skip


def check_auc_change_at_new_site(auc_change_at_new_site: Callable[..., pd.DataFrame]) -> None:
    """Exercise 5: leave-one-site-out AUC before and after an edit, trained without the held-out site."""
    with exercise("Exercise 5 (which term would you edit before a new hospital?)") as ex:
        for seed in (0, 1):
            X, y, site = _planted_sites(seed)
            recorder = _Recorder()
            out = ex.call(auc_change_at_new_site, recorder, _drop_marker, X.copy(), y.copy(), site.copy())
            columns = "auc_before, auc_after, change"
            ex.returns(out, pd.DataFrame, f"a DataFrame indexed by site with the columns {columns}")
            ref = refs.reference_auc_change_at_new_site(_Recorder(), _drop_marker, X, y, site)
            ex.expect(
                set(out.index) == set(ref.index)
                and {"auc_before", "auc_after", "change"} <= set(out.columns),
                "one row per site (index: the site names) and the columns auc_before, auc_after, change",
            )
            for held_out in pd.unique(site):
                others = frozenset(X["noise"].to_numpy()[site != held_out].tolist())
                ex.expect(others in recorder.seen,
                          f"no model was trained on exactly the patients of the other sites when site "
                          f"{held_out} is left out: train on every site but the held-out one, and only on "
                          "them")  # fmt: skip
            got = out.loc[ref.index, ["auc_before", "auc_after", "change"]].to_numpy(dtype=float)
            ex.expect(np.allclose(got[:, 0], ref["auc_before"].to_numpy(dtype=float), atol=1e-9),
                      "auc_before differs: the AUC, on the held-out site's patients only, of the unedited "
                      "model's "
                      "decision_function (or predicted probability; not hard 0/1 predictions)")  # fmt: skip
            ex.expect(np.allclose(got[:, 1], ref["auc_after"].to_numpy(dtype=float), atol=1e-9),
                      "auc_after differs: the AUC on the held-out site of edit(model), the model trained "
                      "without that site")  # fmt: skip
            ex.expect(
                np.allclose(got[:, 2], got[:, 1] - got[:, 0], atol=1e-9),
                "change is auc_after - auc_before (positive when the edit helps)",
            )


# ------------------------------------------------------------------------------ written answers (rubric)




def check_answer_1(answer: object) -> None:
    """Exercise 1, written: which of bagging, early stopping and interactions to add first."""
    with exercise("Exercise 1 (a mini-EBM by cyclic boosting)") as ex:
        written_answer(ex, answer, "answer_1", [("stopping", "validation"), ("bagging", "bag"), ("band",),
                                          ("interaction", "pair")], 30, sentences=2)  # fmt: skip


def check_answer_4(answer: object) -> None:
    """Exercise 4, written: what the chol-0 edit changed and whether to ship it."""
    with exercise("Exercise 4 (editing a shape function, and measuring the effect)") as ex:
        written_answer(ex, answer, "answer_4", [("risk",), ("auc",), ("missing", "thal", "slope"),
                                          ("ship", "deploy")], 30, sentences=2)  # fmt: skip


def check_answer_5(answer: object) -> None:
    """Exercise 5, written: which edit to ship for a new hospital, defended with the measurement."""
    with exercise("Exercise 5 (which term would you edit before a new hospital?)") as ex:
        written_answer(ex, answer, "answer_5", [("(a)", "(b)", "(c)", "edit"), ("interval",),
                                          ("four", "evidence"), ("monitor",)], 40, sentences=2)  # fmt: skip
