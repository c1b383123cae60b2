"""Hidden tests for lab 08 (KernelSHAP within a budget, the null model, importance intervals, the report).

Other vendor seeds, budgets and background sizes; other columns, values and row counts for the null model;
other numbers of patients, features and seeds for the intervals; other floors and a third planted case for
the report (the student's own report is scored against the planted truth by the visible check).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from xaihealth.checks.choosing import MIN_EFFECT, _linear_rows, graded_kernel_shap
from xaihealth.data.blackbox import BlackBoxCase, planted_truth
from xaihealth.instructor.hidden import hidden_references
from xaihealth.instructor.integrity import exercise

refs = hidden_references("choosing")


def hidden_check_kernel_shap_within_budget(kernel_shap_within_budget: Callable[..., np.ndarray]) -> None:
    """The property grading of Exercise 1 on other vendor seeds, budgets and background sizes."""
    with exercise("Exercise 1 (KernelSHAP within the budget) (hidden tests)") as ex:
        for vendor_seed, seed, budget, n_bg in ((61, 7, 20_000, 12), (62, 9, 33_000, 30)):
            graded_kernel_shap(ex, kernel_shap_within_budget, vendor_seed, budget, n_bg, seed)


def hidden_check_ablated(ablated: Callable[..., Callable[[np.ndarray], np.ndarray]]) -> None:
    """Other columns and values, 4 and 9 columns, one row."""
    with exercise("Exercise 2 (a null model for the sanity check) (hidden tests)") as ex:
        rng = np.random.default_rng(71)
        for n_cols, column, value, n_rows in ((4, 2, 7.5, 1), (9, 8, -0.25, 23)):
            w = rng.normal(size=n_cols)
            X = rng.normal(size=(n_rows, n_cols))
            null = ex.call(ablated, _linear_rows(w), column, value)
            got = np.asarray(ex.call(null, X.copy()), dtype=float).reshape(-1)
            want = refs.reference_ablated(_linear_rows(w), column, value)(X)
            ex.expect(got.shape == want.shape and np.allclose(got, want, atol=1e-12),
                      f"with {n_cols} columns, column={column}, value={value} your null model does not "
                      "answer predict on the rows with that column fixed")  # fmt: skip


def hidden_check_importance_intervals(importance_intervals: Callable[..., pd.DataFrame]) -> None:
    """Other shapes (25 x 3, 60 x 7) and seeds; importance exact, interval ends within 15 % of the width."""
    with exercise("Exercise 3 (global importance with an interval) (hidden tests)") as ex:
        rng = np.random.default_rng(81)
        for n, m, seed in ((25, 3, 5), (60, 7, 8)):
            phi = rng.standard_t(4, size=(n, m)) * rng.uniform(0.05, 1.5, size=m)
            names = [f"x{j}" for j in range(m)]
            got = ex.returns(ex.call(importance_intervals, phi, names, seed=seed), pd.DataFrame,
                             "a DataFrame indexed by feature",
                             keys=("importance", "low", "high"))  # fmt: skip
            want = refs.reference_importance_intervals(phi, names, seed=seed)
            width = (want["high"] - want["low"]).to_numpy()
            ex.expect(list(got.index) == names and np.allclose(got["importance"], want["importance"])
                      and np.all(np.abs(got["low"] - want["low"]) < 0.15 * width)
                      and np.all(np.abs(got["high"] - want["high"]) < 0.15 * width),
                      f"with {n} patients and {m} features your importance or interval differs from a "
                      "patient bootstrap of mean |phi|")  # fmt: skip


def hidden_check_make_report(make_report: Callable[[pd.DataFrame, float], pd.DataFrame]) -> None:
    """A planted case with ties in importance broken by order and another floor."""
    with exercise("Exercise 4 (the report) (hidden tests)") as ex:
        planted = pd.DataFrame({"importance": [0.5, 0.05, 0.5, 0.9], "low": [0.31, 0.0, 0.29, 0.2],
                                "high": [0.7, 0.1, 0.7, 1.6]}, index=["p", "q", "r", "s"])  # fmt: skip
        got = ex.call(make_report, planted.copy(), 0.3)
        want = refs.reference_make_report(planted, 0.3)
        ex.expect(list(got.index) == list(want.index) and list(got["matters"]) == list(want["matters"]),
                  "with floor=0.3: sort by decreasing importance (ties in their given order) and call a "
                  "feature important when its lower end is above the floor")  # fmt: skip


def hidden_check_my_report(report: object, case: object) -> None:
    """The student's own report: every planted effect on its planted scale (0.5 to 2 times), not only the
    strongest (the visible check scores the ranking, the nulls, the calls and the intervals)."""
    with exercise("Exercise 4 (the report) (hidden tests)") as ex:
        ex.expect(isinstance(case, BlackBoxCase) and isinstance(report, pd.DataFrame)
                  and "importance" in report.columns, "pass your report and the lab's case")
        truth = planted_truth(case).importance
        effects = [f for f in truth.index if truth[f] > 2 * MIN_EFFECT]
        ratio = (report["importance"].reindex(effects).astype(float) / truth[effects]).to_numpy()
        ex.expect(bool(np.all((ratio > 0.5) & (ratio < 2.0))),
                  f"your importances of {effects} are {np.round(ratio, 2).tolist()} times the planted ones: "
                  "report mean |attribution| on the log-odds scale")  # fmt: skip
