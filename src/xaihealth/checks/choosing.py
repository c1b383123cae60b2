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
from math import factorial

import numpy as np
import pandas as pd

from xaihealth.checks._core import describe, exercise, written_answer
from xaihealth.checks._reference import references
from xaihealth.data.blackbox import (
    FEATURES,
    MAX_BUDGET,
    QueryBudgetExceeded,
    make_blackbox_case,
    planted_truth,
)

refs = references("choosing")  # the reference implementations, or their replay

Predict = Callable[[np.ndarray], np.ndarray]
MIN_EFFECT = 0.1
"""The lab's smallest global importance (mean |log-odds contribution|) worth reporting, fixed in advance."""
SHAPLEY_RTOL = 0.1
"""Exercise 1's tolerance: RMS distance to the exact Shapley values over their RMS (KernelSHAP: ~0.03)."""
ENDS_TOL = 0.08
"""Exercise 3: how far (as a fraction of the reference's width) an interval's ends may lie from its ends."""
MISS_WIDTHS = 1.5
"""Exercise 4: how far (in interval widths) outside an effect's interval its planted importance may lie."""


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


def exact_shapley(predict: Predict, patients: np.ndarray, background: np.ndarray) -> dict[str, np.ndarray]:
    """Exact interventional Shapley values of each patient, relative to ``background``, by enumeration.

    All ``2**M`` coalitions are evaluated (``2**M * len(background)`` rows per patient, on the checker's own
    unbudgeted copy of the model), for the two log-odds games a KernelSHAP pipeline may estimate:
    ``"logit of mean"`` v(S) = logit E_b f(x_S, b) (``shap.KernelExplainer(..., link="logit")``) and
    ``"mean of logit"`` v(S) = E_b logit f(x_S, b) (the identity link on the model's log-odds; for the
    vendor's logistic regression it is w_j (z_j(x_j) - mean_b z_j(b_j)) on each linear term).
    """
    P, M = patients.shape
    masks = ((np.arange(2**M)[:, None] >> np.arange(M)) & 1).astype(bool)  # coalition k: the bits of k
    rows = np.where(masks[None, :, None, :], patients[:, None, None, :], background[None, None, :, :])
    p = np.clip(np.asarray(predict(rows.reshape(-1, M)), dtype=float).reshape(P, 2**M, len(background)),
                1e-12, 1 - 1e-12)
    size = masks.sum(axis=1)
    weight = np.array([factorial(s) * factorial(M - s - 1) / factorial(M) for s in range(M)])
    games = {"logit of mean": _logit(p.mean(axis=2)), "mean of logit": _logit(p).mean(axis=2)}
    out = {}
    for name, v in games.items():
        phi = np.zeros((P, M))
        for j in range(M):
            without = np.flatnonzero(~masks[:, j])  # coalitions without j; adding j sets bit j
            phi[:, j] = (v[:, without + 2**j] - v[:, without]) @ weight[size[without]]
        out[name] = phi
    return out


def graded_kernel_shap(ex: object, kernel_shap_within_budget: Callable[..., np.ndarray], vendor_seed: int,
                       budget: int, n_background: int, seed: int) -> None:
    """Run the student's pipeline on a fresh vendor model and grade what any sound estimator satisfies.

    Within the budget (the vendor refuses more), at least half of it spent, the shape, efficiency on the
    log-odds relative to the lab's background draw (the sum of a patient's attributions equals the game's
    v(all) - v(none) for one of the two log-odds games of :func:`exact_shapley`), and closeness to that
    game's exact Shapley values: root-mean-square error at most :data:`SHAPLEY_RTOL` of the exact values'
    root mean square. KernelSHAP with any seeding, per patient or in one call, passes (its error here is
    about 3 % on 8 patients and 9 features); a wrong background, scale, sign or method does not.
    """
    where = f"with vendor seed {vendor_seed}, budget={budget}, n_background={n_background}, seed={seed}"
    predict, pool, patients, model = vendor_case(vendor_seed, budget)
    try:
        phi = ex.call(kernel_shap_within_budget, predict, pool, patients, budget, n_background=n_background,
                      seed=seed)  # fmt: skip
    except AssertionError as err:
        if isinstance(err.__cause__, QueryBudgetExceeded):
            ex.fail(f"{where} your pipeline ran past the vendor's budget: with B background rows and P "
                    "patients shap queries B rows once, then 1 + nsamples * B rows per patient; choose "
                    "nsamples = (budget - B - P) // (P * B)")  # fmt: skip
        raise
    got = _as_matrix(phi, patients.shape)
    ex.expect(got is not None, f"return an array (patients, features) = {patients.shape} of finite "
                               f"attributions (yours: {describe(phi)})")  # fmt: skip
    ex.expect(model.queries >= budget // 2,
              f"{where} your pipeline used {model.queries} of {budget} rows: the budget is the precision you "
              "paid for; take the largest nsamples it allows")  # fmt: skip
    background = pool[np.random.default_rng(seed).choice(len(pool), n_background, replace=False)]
    fresh = make_blackbox_case(len(pool) + len(patients), seed=vendor_seed, budget=MAX_BUDGET).model

    def predict_free(X: np.ndarray) -> np.ndarray:
        return fresh.predict_proba(X)[:, 1]

    exact = exact_shapley(predict_free, patients, background)
    gap = {name: float(np.abs(got.sum(axis=1) - want.sum(axis=1)).max()) for name, want in exact.items()}
    game = min(gap, key=gap.get)  # the log-odds game whose efficiency the attributions meet
    want = exact[game]
    error = float(np.sqrt(np.mean((got - want) ** 2)))
    ex.expect(gap[game] < 1e-4,
              f"{where} each patient's attributions must add up to the gap between the patient's log-odds "
              "and the background's: logit f(x) - logit(mean f(background)) (shap.KernelExplainer(..., "
              "link='logit')) with the background drawn by np.random.default_rng(seed).choice(len(X_pool), "
              "n_background, replace=False)")  # fmt: skip
    scale = float(np.sqrt(np.mean(want**2)))
    ex.expect(error <= SHAPLEY_RTOL * scale,
              f"{where} your attributions are {error / scale:.0%} (root mean square) away from the "
              f"exact Shapley values of the log-odds relative to the lab's background (allowed "
              f"{SHAPLEY_RTOL:.0%}): is the background the lab's draw, the sign right, and every feature "
              "kept (l1_reg=False)?")  # fmt: skip


def check_kernel_shap_within_budget(kernel_shap_within_budget: Callable[..., np.ndarray]) -> None:
    """Exercise 1: Shapley values of the log-odds within the budget, graded by their properties.

    On three fresh vendor models (other seeds, budgets, background sizes; each with its own counter) the
    pipeline is graded by :func:`graded_kernel_shap` (budget, shape, efficiency, closeness to the exact
    Shapley values relative to the lab's background draw), not compared with one recipe; a budget that
    leaves too few coalitions must raise a ValueError.
    """
    with exercise("Exercise 1 (KernelSHAP within the budget)") as ex:
        for vendor_seed, budget, n_bg, seed in ((11, 20_000, 20, 0), (14, 16_000, 15, 3),
                                                (16, 24_000, 25, 5)):
            graded_kernel_shap(ex, kernel_shap_within_budget, vendor_seed, budget, n_bg, seed)
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

    Compared with the reference (importance exactly, the interval's ends within :data:`ENDS_TOL` of its
    width: one's own percentile bootstrap, BCa and a t-interval are 3.5 %, 6.4 % and 4.5 % away on this
    case, a 90 % interval labelled 95 % 10 %); planted signed attributions (|phi| needed), a shape that is not
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
        ex.expect(np.all(np.abs(out["low"] - want["low"]) < ENDS_TOL * width)
                  and np.all(np.abs(out["high"] - want["high"]) < ENDS_TOL * width),
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
    """Exercise 4: the report function on planted intervals (sorting, the lower end, the floor).

    The student's own report, computed in the notebook, is scored against the planted truth by
    :func:`check_my_report`.
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


def check_my_report(report: object, case: object) -> None:
    """Exercise 4: the student's own report of the notebook's vendor ``case``, scored against its truth.

    The truth comes from the generator (:func:`xaihealth.data.blackbox.planted_truth`), never from the
    student. The report must have one row per feature with finite importance, low <= high; rank the
    features like the planted importance (Spearman 0.7 or more); call no null feature (the decoy
    included) important; call important every feature whose planted importance is above twice the floor
    (``MIN_EFFECT``); put the strong feature first on the log-odds scale; and each such feature's interval,
    widened by 1.5 times its width on each side, must contain the planted importance (:data:`MISS_WIDTHS`:
    the lab's intervals are conditional on one background and one KernelSHAP draw and, with the truth
    drawn per seed, missed the planted population importance by up to 1.2 of their width over base seeds
    1-12, /tmp/b5/F17c/cover_f17c.py; so a wider miss, or a point interval, is a report that overstates
    its certainty).
    """
    with exercise("Exercise 4 (the report)") as ex:
        from xaihealth.data.blackbox import BlackBoxCase

        ex.expect(isinstance(case, BlackBoxCase), f"pass the lab's case (yours: {describe(case)})")
        ex.returns(report, pd.DataFrame, "your report: a DataFrame indexed by feature",
                   keys=("importance", "low", "high", "matters"))  # fmt: skip
        ex.expect(sorted(map(str, report.index)) == sorted(FEATURES),
                  f"your report needs one row per feature {list(FEATURES)} (yours: {list(report.index)})")
        values = report[["importance", "low", "high"]].to_numpy(dtype=float)
        ex.expect(np.all(np.isfinite(values)) and np.all(values[:, 1] <= values[:, 2]),
                  "every importance and interval end must be finite, with low <= high")
        truth = planted_truth(case)
        _scored(report, truth.importance, truth.null_features, ex)
        effects = [f for f in FEATURES if truth.importance[f] > 2 * MIN_EFFECT]
        missed = [f for f in effects if not bool(report.loc[f, "matters"])]
        ex.expect(not missed, f"your report does not call {missed} important, yet the planted truth gives "
                              "each an effect well above the floor: is the floor too high, or the budget "
                              "too small for a precise interval?")  # fmt: skip
        width = report.loc[effects, "high"] - report.loc[effects, "low"]
        far = [f for f in effects if not (report.loc[f, "low"] - MISS_WIDTHS * width[f] <= truth.importance[f]
                                          <= report.loc[f, "high"] + MISS_WIDTHS * width[f])]
        ex.expect(not far and bool(np.all(width > 0)),
                  f"the planted importance of {far or 'a feature'} lies more than {MISS_WIDTHS:g} interval "
                  "width(s) outside your interval: the interval claims more certainty than the pipeline "
                  "has (a patient bootstrap of mean |phi|)")  # fmt: skip


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
