"""Checkers for lab 08, *Choosing and defending an explanation*.

The lab's model is a vendor's black box behind a query budget (:mod:`xaihealth.data.blackbox`), whose
planted truth the checkers know. Each checker runs the student's function on cases it draws itself (other
seeds, budgets, background sizes, columns, confidence levels, floors), compares with the reference where
the lab fixes the draw, and tests planted cases that a constant, transposed or wrong-sign answer fails.
The report checker scores the report against the planted truth: the ranking of the features against
their planted global importance (Spearman), the null features (decoy included) never called important,
the strong feature first and on the right scale.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from xaihealth.checks._core import describe, exercise, written_answer
from xaihealth.checks._reference import references
from xaihealth.data.blackbox import FEATURES, QueryBudgetExceeded, make_blackbox_case, planted_truth

refs = references("choosing")  # the reference implementations, or their replay

Predict = Callable[[np.ndarray], np.ndarray]
MIN_EFFECT = 0.1
"""The lab's smallest global importance (mean |log-odds contribution|) worth reporting, fixed in advance."""


def vendor_case(seed: int, budget: int, n: int = 120) -> tuple[Predict, np.ndarray, np.ndarray, object]:
    """A fresh vendor model (new counter) as a function of rows -> P(MI), the pool, 8 patients, the model."""
    case = make_blackbox_case(n, seed=seed, budget=budget)
    model = case.model

    def predict_mi(X: np.ndarray) -> np.ndarray:
        return model.predict_proba(X)[:, 1]

    X = case.X.to_numpy()
    return predict_mi, X[:-8], X[-8:], model


def _as_matrix(out: object, shape: tuple[int, int]) -> np.ndarray | None:
    try:
        arr = np.asarray(out, dtype=float)
    except (TypeError, ValueError):
        return None
    return arr if arr.shape == shape and np.all(np.isfinite(arr)) else None


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.asarray(p, dtype=float)
    return np.log(p / (1 - p))


def check_kernel_shap_within_budget(kernel_shap_within_budget: Callable[..., np.ndarray]) -> None:
    """Exercise 1: KernelSHAP of the log-odds, nsamples from the budget, the lab's fixed draw.

    On fresh vendor models (each with its own counter) the function must stay within the budget, use all
    but less than one patient's worth of it, return one row per patient that adds up to the log-odds gap
    (link="logit"), equal the reference exactly for several seeds, budgets and background sizes, and
    refuse a budget too small for KernelSHAP.
    """
    with exercise("Exercise 1 (KernelSHAP within the budget)") as ex:
        budget = 20_000
        predict, pool, patients, model = vendor_case(11, budget)
        try:
            phi = ex.call(kernel_shap_within_budget, predict, pool, patients, budget, n_background=20, seed=0)
        except AssertionError as err:
            if isinstance(err.__cause__, QueryBudgetExceeded):
                ex.fail("your pipeline ran past the vendor's budget: with B background rows and P patients "
                        "shap queries B rows once, then 1 + nsamples * B rows per patient; choose nsamples "
                        "= (budget - B - P) // (P * B)")  # fmt: skip
            raise
        got = _as_matrix(phi, patients.shape)
        ex.expect(got is not None, f"return an array (patients, features) = {patients.shape} of finite "
                                   f"attributions (yours: {describe(phi)})")  # fmt: skip
        waste = budget - model.queries
        ex.expect(0 <= waste < len(patients) * 20,
                  f"your pipeline used {model.queries} of {budget} rows: with nsamples = (budget - B - P) "
                  "// (P * B) it uses all but less than P * B of them; the budget is the precision you "
                  "paid for")  # fmt: skip
        pick = np.random.default_rng(0).choice(len(pool), 20, replace=False)  # the lab's background draw
        fresh = make_blackbox_case(120, seed=11, budget=10**6).model  # a separate counter
        p_x, p_background = fresh.predict_proba(patients)[:, 1], fresh.predict_proba(pool[pick])[:, 1]
        gap = _logit(p_x) - _logit(p_background.mean())
        ex.expect(np.allclose(got.sum(axis=1), gap, atol=1e-6),
                  "each patient's attributions must add up to logit(f(x)) - logit(mean f(background)): "
                  "explain the log-odds (shap.KernelExplainer(..., link='logit')), with the background "
                  "drawn by np.random.default_rng(seed).choice(len(X_pool), n_background, "
                  "replace=False)")  # fmt: skip
        hint = ("your attributions differ from the lab's fixed pipeline: background from "
                "np.random.default_rng(seed), nsamples from the budget, np.random.seed(seed) just before "
                "explainer.shap_values(patients, nsamples=..., l1_reg=False, silent=True)")
        reference_predict, *_ = vendor_case(11, budget)
        want = refs.reference_kernel_shap_within_budget(reference_predict, pool, patients, budget,
                                                         n_background=20, seed=0)  # fmt: skip
        ex.expect(np.allclose(got, want, atol=1e-8), f"with seed=0, budget={budget}, n_background=20 {hint}")
        for seed, budget_k, n_bg in ((3, 16_000, 15), (5, 24_000, 25)):
            predict_s, pool_s, patients_s, _ = vendor_case(11 + seed, budget_k)
            want = refs.reference_kernel_shap_within_budget(predict_s, pool_s, patients_s, budget_k,
                                                             n_background=n_bg, seed=seed)  # fmt: skip
            predict_s, pool_s, patients_s, _ = vendor_case(11 + seed, budget_k)
            got_s = _as_matrix(ex.call(kernel_shap_within_budget, predict_s, pool_s, patients_s, budget_k,
                                       n_background=n_bg, seed=seed), patients_s.shape)  # fmt: skip
            ex.expect(got_s is not None and np.allclose(got_s, want, atol=1e-8),
                      f"with seed={seed}, budget={budget_k}, n_background={n_bg} {hint}")
        predict_t, pool_t, patients_t, _ = vendor_case(19, 2_000)
        try:
            kernel_shap_within_budget(predict_t, pool_t, patients_t, 2_000, n_background=20, seed=0)
        except ValueError:
            ex.expect(True, "")
        except Exception as err:  # noqa: BLE001 (any other outcome is the student's to fix)
            ex.fail(f"with budget=2000 (nsamples below 2 * features + 2) raise a ValueError naming the "
                    f"budget, not {type(err).__name__}")  # fmt: skip
        else:
            ex.fail("with budget=2000, 8 patients and 20 background rows nsamples falls below "
                    "2 * features + 2: raise a ValueError naming the budget instead of explaining with "
                    "too few coalitions")  # fmt: skip


def _linear_rows(w: np.ndarray) -> Predict:
    def predict(X: np.ndarray) -> np.ndarray:
        return np.tanh(np.asarray(X, dtype=float) @ w)

    return predict


def check_ablated(ablated: Callable[[Predict, int, float], Predict]) -> None:
    """Exercise 2: the null model, one column fixed; same rows queried, input untouched, any column."""
    with exercise("Exercise 2 (a null model for the sanity check)") as ex:
        rng = np.random.default_rng(21)
        w = rng.normal(size=6)
        X = rng.normal(size=(15, 6))
        for column, value in ((0, 0.5), (3, -1.2), (5, 2.0)):
            calls: list[int] = []

            def counted(Z: np.ndarray, calls: list[int] = calls) -> np.ndarray:
                calls.append(len(Z))
                return _linear_rows(w)(Z)

            null = ex.call(ablated, counted, column, value)
            ex.expect(callable(null), f"return a function of the rows (yours: {describe(null)})")
            before = X.copy()
            out = np.asarray(ex.call(null, X), dtype=float).reshape(-1)
            ex.expect(np.array_equal(X, before), "do not change the rows you are given: copy them, then "
                                                 "fix the column in the copy")  # fmt: skip
            want = refs.reference_ablated(_linear_rows(w), column, value)(X)
            ex.expect(out.shape == want.shape and np.allclose(out, want, atol=1e-12),
                      f"with column={column}, value={value} your null model does not answer predict(rows "
                      "with that column set to value) (is the column index or the value wrong?)")  # fmt: skip
            ex.expect(calls == [len(X)], f"your null model queried {sum(calls)} rows for {len(X)}: query "
                                         "each row once (the queries are paid for)")  # fmt: skip
            moved = X.copy()
            moved[:, column] += 3.0
            ex.expect(np.allclose(np.asarray(null(moved), dtype=float).reshape(-1), out, atol=1e-12),
                      f"the null model must not depend on column {column} at all")


def check_importance_intervals(importance_intervals: Callable[..., pd.DataFrame]) -> None:
    """Exercise 3: mean |phi| per feature with a patient bootstrap interval.

    Compared with the reference (importance exactly, the interval's ends within 15 % of its width, so that
    one's own percentile bootstrap passes); planted signed attributions (|phi| needed), a shape that is not
    square (patients vs features), 60 columns drawn from one known distribution (coverage 85 % or more at
    95 %), and a narrower interval at a lower level.
    """
    with exercise("Exercise 3 (global importance with an interval)") as ex:
        rng = np.random.default_rng(31)
        names = [f"f{j}" for j in range(5)]
        phi = rng.normal(size=(40, 5)) * np.array([1.0, 0.2, 0.5, 0.05, 0.3]) - np.array([0.8, 0, 0, 0, 0.4])
        out = ex.returns(ex.call(importance_intervals, phi, names, seed=0), pd.DataFrame,
                         "a DataFrame indexed by feature with the columns importance, low, high",
                         keys=("importance", "low", "high"))  # fmt: skip
        ex.expect(list(out.index) == names, f"index the rows by feature, in the given order (yours: "
                                            f"{list(out.index)[:6]}); one row per column of phi")  # fmt: skip
        want = refs.reference_importance_intervals(phi, names, seed=0)
        ex.expect(np.allclose(out["importance"], want["importance"], atol=1e-12),
                  "importance is the mean over patients of |phi| (the magnitude: a large negative "
                  "attribution matters as much as a positive one)")  # fmt: skip
        width = (want["high"] - want["low"]).to_numpy()
        ex.expect(np.all(np.abs(out["low"] - want["low"]) < 0.15 * width)
                  and np.all(np.abs(out["high"] - want["high"]) < 0.15 * width),
                  "the interval is not a 95 % bootstrap over patients of mean |phi|: resample the rows "
                  "(patients) with replacement, e.g. scipy.stats.bootstrap((np.abs(phi),), np.mean, axis=0, "
                  "method='percentile')")  # fmt: skip
        many = np.abs(rng.normal(loc=0.5, size=(40, 60)))
        truth = 0.5 * (1 - 2 * _ndtr(-0.5)) + 2 * np.exp(-0.125) / np.sqrt(2 * np.pi)  # E|N(0.5, 1)|
        cover = ex.call(importance_intervals, many, [f"g{j}" for j in range(60)], seed=1)
        covered = float(np.mean((cover["low"] <= truth) & (truth <= cover["high"])))
        ex.expect(0.85 <= covered <= 1.0 and (cover["high"] - cover["low"]).mean() < 0.5,
                  f"over 60 independent columns of 40 patients your 95 % intervals cover the true mean "
                  f"{covered:.0%} of the time: resample patients, and take the 2.5 % and 97.5 % "
                  "quantiles")  # fmt: skip
        narrow = ex.call(importance_intervals, phi, names, seed=0, level=0.5)
        ratio = float(((narrow["high"] - narrow["low"]) / (out["high"] - out["low"])).mean())
        ex.expect(0.25 < ratio < 0.6, f"at level=0.5 your intervals are {ratio:.2f} times as wide as at 0.95 "
                                      "(about 0.35 expected): use the level argument")  # fmt: skip


def _ndtr(x: float) -> float:
    from scipy.special import ndtr

    return float(ndtr(x))


def _planted_intervals() -> pd.DataFrame:
    """Importance, low, high where sorting by importance, by low or by high give different orders."""
    return pd.DataFrame({"importance": [0.30, 1.20, 0.02, 0.25, 0.12],
                         "low": [0.05, 0.90, 0.00, 0.15, 0.11],
                         "high": [0.60, 1.40, 0.04, 0.35, 0.13]},
                        index=["a", "b", "c", "d", "e"])  # fmt: skip


def _scored(report: object, truth: pd.Series, nulls: tuple[str, ...], ex: object) -> None:
    """Score a report against the planted truth (ranking, null features, strong feature, scale)."""
    from scipy.stats import spearmanr

    rho = spearmanr(report["importance"].reindex(truth.index).to_numpy(), truth.to_numpy()).statistic
    ex.expect(np.isfinite(rho) and rho >= 0.7,
              f"scored against the planted truth your report ranks the features with Spearman {rho:.2f} "
              "(want 0.7 or more): report importance per feature, from the pipeline's attributions")
    called = [f for f in nulls if bool(report.loc[f, "matters"])]
    ex.expect(not called, f"your report calls {called} important, yet the planted truth gives them no "
                          "effect: call a feature important only when its interval's LOWER end is above the "
                          "floor")  # fmt: skip
    strong = truth.idxmax()
    ex.expect(report.index[0] == strong and bool(report.loc[strong, "matters"]),
              "the strongest planted feature must come first and be called important")
    ratio = float(report.loc[strong, "importance"] / truth[strong])
    ex.expect(0.6 < ratio < 1.7, f"the strongest feature's importance is {ratio:.2f} times the planted one "
                                 "(a log-odds scale is expected)")  # fmt: skip


def check_make_report(make_report: Callable[[pd.DataFrame, float], pd.DataFrame]) -> None:
    """Exercise 4: the report; planted intervals (sorting, the lower end, the floor) and the planted truth.

    The truth scoring runs the lab's pipeline (the reference) on two fresh vendor cases and gives the
    intervals to your function: the report must rank the features like the planted importance (Spearman
    0.7 or more), call no null feature important (the decoy included), put the strong feature first.
    """
    with exercise("Exercise 4 (the report)") as ex:
        planted = _planted_intervals()
        for floor in (0.1, 0.2):
            out = ex.returns(ex.call(make_report, planted.copy(), floor), pd.DataFrame,
                             "a DataFrame indexed by feature with importance, low, high, matters",
                             keys=("importance", "low", "high", "matters"))  # fmt: skip
            want = refs.reference_make_report(planted, floor)
            ex.expect(list(out.index) == list(want.index),
                      f"sort the features by decreasing importance (yours: {list(out.index)})")
            ex.expect(list(out["matters"].astype(bool)) == list(want["matters"]),
                      f"with floor={floor}: a feature matters when the LOWER end of its interval is above "
                      "the floor (strictly), not its importance or its upper end")  # fmt: skip
            ex.expect(np.allclose(out[["importance", "low", "high"]].to_numpy(dtype=float),
                                  want[["importance", "low", "high"]].to_numpy(), atol=1e-12),
                      "keep each feature's importance, low and high unchanged in the report")
        for seed in (41, 42):
            case = make_blackbox_case(70, seed=seed, budget=60_000)
            model = case.model

            def predict_mi(X: np.ndarray, model: object = model) -> np.ndarray:
                return model.predict_proba(X)[:, 1]

            X = case.X.to_numpy()
            phi = refs.reference_kernel_shap_within_budget(predict_mi, X[:40], X[40:], 60_000,
                                                           n_background=20, seed=seed)  # fmt: skip
            intervals = refs.reference_importance_intervals(phi, list(FEATURES), seed=seed)
            report = ex.call(make_report, intervals.copy(), MIN_EFFECT)
            ex.returns(report, pd.DataFrame, "a DataFrame indexed by feature", keys=("importance", "matters"))
            truth = planted_truth(case)
            _scored(report, truth.importance, truth.null_features, ex)


def check_answer_1b(answer: object) -> None:
    """Exercise 1b: why this method for this access and budget; marked by a person with the rubric."""
    with exercise("Exercise 1b (why KernelSHAP here)") as ex:
        written_answer(ex, answer, "answer_1b", [("black box", "black-box", "access", "api"),
                                                 ("budget", "queries", "query"),
                                                 ("lime",), ("treeshap", "tree", "gradient", "ebm")], 60)


def check_answer_4b(answer: object) -> None:
    """Exercise 4b: what to tell the clinician, what not, and what to archive; marked with the rubric."""
    with exercise("Exercise 4b (what to tell, what to archive)") as ex:
        written_answer(ex, answer, "answer_4b", [("caus",), ("decoy", "ck_mb", "correlat"),
                                                 ("archive", "audit", "log"),
                                                 ("interval", "uncertain")], 70)
