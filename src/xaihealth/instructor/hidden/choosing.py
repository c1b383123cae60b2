"""Hidden tests for lab 08 (KernelSHAP within a budget, the null model, importance intervals, the report).

Other vendor seeds, budgets and background sizes; other columns, values and row counts for the null model;
other numbers of patients, features and seeds for the intervals; other floors and a third planted case for
the report, and the report scored against the planted truth of another vendor case.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from xaihealth.checks.choosing import MIN_EFFECT, _as_matrix, _linear_rows, _scored, vendor_case
from xaihealth.data.blackbox import FEATURES, make_blackbox_case, planted_truth
from xaihealth.instructor.hidden import hidden_references
from xaihealth.instructor.integrity import exercise

refs = hidden_references("choosing")


def hidden_check_kernel_shap_within_budget(kernel_shap_within_budget: Callable[..., np.ndarray]) -> None:
    """Exact comparison on other vendor seeds, budgets and background sizes, and the budget kept."""
    with exercise("Exercise 1 (KernelSHAP within the budget) (hidden tests)") as ex:
        for vendor_seed, seed, budget, n_bg in ((61, 7, 20_000, 12), (62, 9, 33_000, 30)):
            predict, pool, patients, _ = vendor_case(vendor_seed, budget)
            want = refs.reference_kernel_shap_within_budget(predict, pool, patients, budget,
                                                             n_background=n_bg, seed=seed)  # fmt: skip
            predict, pool, patients, model = vendor_case(vendor_seed, budget)
            got = _as_matrix(ex.call(kernel_shap_within_budget, predict, pool, patients, budget,
                                     n_background=n_bg, seed=seed), patients.shape)  # fmt: skip
            ex.expect(got is not None and np.allclose(got, want, atol=1e-8),
                      f"with seed={seed}, budget={budget}, n_background={n_bg} your attributions differ from "
                      "the lab's fixed pipeline")  # fmt: skip
            ex.expect(0 <= budget - model.queries < len(patients) * n_bg,
                      f"with budget={budget} your pipeline used {model.queries} rows")


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
    """A planted case with ties in importance broken by order, another floor, and another vendor case."""
    with exercise("Exercise 4 (the report) (hidden tests)") as ex:
        planted = pd.DataFrame({"importance": [0.5, 0.05, 0.5, 0.9], "low": [0.31, 0.0, 0.29, 0.2],
                                "high": [0.7, 0.1, 0.7, 1.6]}, index=["p", "q", "r", "s"])  # fmt: skip
        got = ex.call(make_report, planted.copy(), 0.3)
        want = refs.reference_make_report(planted, 0.3)
        ex.expect(list(got.index) == list(want.index) and list(got["matters"]) == list(want["matters"]),
                  "with floor=0.3: sort by decreasing importance (ties in their given order) and call a "
                  "feature important when its lower end is above the floor")  # fmt: skip
        case = make_blackbox_case(70, seed=43, budget=60_000)
        model = case.model

        def predict_mi(X: np.ndarray) -> np.ndarray:
            return model.predict_proba(X)[:, 1]

        X = case.X.to_numpy()
        phi = refs.reference_kernel_shap_within_budget(predict_mi, X[:40], X[40:], 60_000, n_background=20,
                                                       seed=43)  # fmt: skip
        report = ex.call(make_report, refs.reference_importance_intervals(phi, list(FEATURES), seed=43),
                         MIN_EFFECT)  # fmt: skip
        truth = planted_truth(case)
        _scored(report, truth.importance, truth.null_features, ex)
