"""Hidden tests for lab 06 (ECE, temperature scaling, split conformal, predictive values, leakage, kappa,
the site decision).

Other samples, sizes and numbers of bins; other class counts and logit scales; other (n, alpha) for the
conformal rank (an integer rank, alpha > 0.5, a rank past n) and for the sets (rounded probabilities too);
other sensitivities, specificities and prevalences; other planted splits; other agreement tables; and other
deployment sites (seeds) with the student's own thresholds and with limits at the site's own numbers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from xaihealth.checks._core import grid
from xaihealth.checks.trust import (
    SITE_KINDS,
    _a_number,
    _check_boundary,
    _check_site,
    _close,
    _scalar,
    calibration_data,
    conformal_data,
    planted_split,
    temperature_data,
    tied_conformal_data,
)
from xaihealth.instructor.hidden import hidden_references
from xaihealth.instructor.integrity import exercise

refs = hidden_references("trust")


def hidden_check_expected_calibration_error(expected_calibration_error: Callable[..., float]) -> None:
    """Other kinds of sample, sizes and seeds; 4, 12 and 20 bins; exact."""
    with exercise("Exercise 1 (expected calibration error) (hidden tests)") as ex:
        for kind, n, seed in (
            ("skewed", 450, 81),
            ("saturated", 220, 82),
            ("interior", 380, 83),
            ("balanced_in_the_large", 300, 84),
        ):
            y, p = calibration_data(n, seed, kind)
            for n_bins in (4, 12, 20):
                got = ex.call(expected_calibration_error, y.copy(), p.copy(), n_bins=n_bins)
                ex.expect(
                    _close(got, refs.reference_expected_calibration_error(y, p, n_bins)),
                    f"wrong ECE on another {kind!r} sample (n={n}) with n_bins={n_bins}",
                )


def hidden_check_fit_temperature(fit_temperature: Callable[..., float]) -> None:
    """Other class counts (3, 6) and logit scales (0.8, 2.5): within 0.1 % of the NLL optimum."""
    with exercise("Exercise 2 (temperature scaling by NLL) (hidden tests)") as ex:
        for n, k, scale, seed in ((700, 6, 2.5, 85), (500, 3, 0.8, 86)):
            logits, y = temperature_data(n, k, scale, seed)
            got = _a_number(ex, ex.call(fit_temperature, logits.copy(), y.copy()), "the temperature T")
            want = refs.reference_fit_temperature(logits, y)
            ex.expect(
                abs(got - want) <= 1e-3 * want,
                f"T = {got:.4f}, the NLL optimum is {want:.4f} (n={n}, K={k}, scale {scale})",
            )


def hidden_check_temperature_report(temperature_report: Callable[..., Mapping[str, float]]) -> None:
    """Other calibration and test scales and class counts: T from the calibration set, test NLLs."""
    with exercise("Exercise 2 (temperature scaling by NLL) (hidden tests)") as ex:
        for n, k, cal_scale, test_scale, seed in ((1200, 4, 1.8, 0.9, 87), (600, 3, 0.7, 2.0, 88)):
            logits_cal, y_cal = temperature_data(n, k, cal_scale, seed)
            logits_test, y_test = temperature_data(n, k, test_scale, seed + 100)
            out = ex.returns(
                ex.call(
                    temperature_report, logits_cal.copy(), y_cal.copy(), logits_test.copy(), y_test.copy()
                ),
                Mapping,
                "a dict with the keys 'T', 'nll_before', 'nll_after'",
                keys=("T", "nll_before", "nll_after"),
            )
            want = refs.reference_temperature_report(logits_cal, y_cal, logits_test, y_test)
            t = _scalar(out["T"])
            ex.expect(
                t is not None
                and abs(t - want["T"]) <= 1e-3 * want["T"]
                and _close(out["nll_before"], want["nll_before"], rtol=1e-6)
                and _close(out["nll_after"], want["nll_after"], rtol=1e-4),
                f"(n={n}, K={k}) T, nll_before or nll_after differ from the lab's: {dict(out)} vs {want}",
            )


def hidden_check_conformal_quantile(conformal_quantile: Callable[..., float]) -> None:
    """Other (n, alpha): integer ranks, alpha > 0.5, frac(n (1 - alpha)) <= alpha, and a rank past n."""
    with exercise("Exercise 3 (split-conformal quantile) (hidden tests)") as ex:
        rng = np.random.default_rng(89)
        for n, alpha in ((60, 0.25), (15, 0.4), (49, 0.02), (79, 0.1), (33, 0.55), (59, 0.1), (21, 0.8)):
            scores = rng.random(n)
            got = ex.call(conformal_quantile, scores.copy(), alpha)
            want = refs.reference_conformal_quantile(scores, alpha)
            ex.expect(
                _close(got, want, rtol=0, atol=0),
                f"yours {_scalar(got)!r}, expected the {math.ceil((n + 1) * (1 - alpha))}-th smallest score "
                f"(n={n}, alpha={alpha})",
            )
        got = ex.call(conformal_quantile, rng.random(6), 0.12)
        ex.expect(_close(got, math.inf), "with n=6 and alpha=0.12 the rank exceeds n: return float('inf')")


def hidden_check_prediction_sets(prediction_sets: Callable[..., np.ndarray]) -> None:
    """Other (n, K, alpha) on continuous and rounded (tied) probabilities; exact."""
    with exercise("Exercise 3 (split-conformal quantile) (hidden tests)") as ex:
        cases = [
            (conformal_data, 45, 6, 0.15, 91),
            (conformal_data, 79, 3, 0.1, 92),
            (conformal_data, 33, 4, 0.55, 93),
            (tied_conformal_data, 60, 5, 0.1, 94),
        ]
        for draw, n, k, alpha, seed in cases:
            p_cal, y_cal = draw(n, k, seed)
            p_test, _ = draw(70, k, seed + 500)
            got = ex.call(prediction_sets, p_cal.copy(), y_cal.copy(), p_test.copy(), alpha)
            want = refs.reference_prediction_sets(p_cal, y_cal, p_test, alpha)
            arr = np.asarray(got) if isinstance(got, np.ndarray | list) else None
            ex.expect(
                arr is not None and arr.shape == want.shape and arr.dtype == bool and (arr == want).all(),
                f"your sets differ from the lab's (n={n}, K={k}, alpha={alpha}"
                + (", rounded probabilities)" if draw is tied_conformal_data else ")"),
            )


def hidden_check_predictive_values(predictive_values: Callable[..., Mapping[str, float]]) -> None:
    """Other sensitivities, specificities and prevalences (also above one half); exact."""
    with exercise("Exercise 4 (PPV, NPV and likelihood ratios) (hidden tests)") as ex:
        keys = ("ppv", "npv", "lr_plus", "lr_minus")
        for case in grid(sensitivity=(0.99, 0.55), specificity=(0.995, 0.6), prevalence=(0.003, 0.3, 0.75)):
            out = ex.returns(
                ex.call(predictive_values, **case),
                Mapping,
                "a dict with the keys " + ", ".join(keys),
                keys=keys,
            )
            want = refs.reference_predictive_values(**case)
            wrong = [k for k in keys if not _close(out[k], want[k], rtol=1e-9)]
            ex.expect(not wrong, f"{wrong} differ from the formulas for {case}")


def hidden_check_leaked_fraction(leaked_fraction: Callable[..., float]) -> None:
    """Other planted splits (sizes, leaked shares 0.25 and 0.6)."""
    with exercise("Exercise 5 (patient leakage in a split) (hidden tests)") as ex:
        for n_patients, leaked, seed in ((180, 0.25, 57), (90, 0.6, 58)):
            train_idx, test_idx, patient, _ = planted_split(n_patients, leaked, seed)
            got = ex.call(leaked_fraction, train_idx.copy(), test_idx.copy(), patient.copy())
            ex.expect(
                _close(got, refs.reference_leaked_fraction(train_idx, test_idx, patient)),
                f"wrong leaked share on another planted split ({n_patients} patients, {leaked:.0%} leaked)",
            )


def hidden_check_cohen_kappa(cohen_kappa: Callable[..., float]) -> None:
    """Other tables (3 x 3 with an empty category, 5 x 5, a 2 x 2 at chance level), against statsmodels."""
    from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa

    tables = [
        np.array([[20, 4, 0], [3, 15, 0], [0, 0, 0]]),
        np.random.default_rng(95).integers(0, 12, (5, 5)) + np.diag([30, 5, 20, 8, 14]),
        np.array([[25, 25], [25, 25]]),
    ]
    with exercise("Exercise 6 (Cohen's kappa) (hidden tests)") as ex:
        for table in tables:
            got = ex.call(cohen_kappa, table.copy())
            want = float(sm_kappa(table).kappa)
            ex.expect(
                _close(got, want, rtol=1e-9, atol=1e-12),
                f"yours {_scalar(got)!r}, statsmodels {want:.6f} for another {len(table)}-category table",
            )


def hidden_check_fit_for_site(
    fit_for_site: Callable[..., Mapping[str, Any]], thresholds: Mapping[str, float]
) -> None:
    """Every planted kind of site on two other seeds with your thresholds; limits at a site's own numbers."""
    with exercise("Exercise 7 (is the model fit for this site?) (hidden tests)") as ex:
        for kind in SITE_KINDS:
            for seed in (74, 75):
                _check_site(ex, fit_for_site, kind, seed, dict(thresholds))
        for kind in ("healthy", "shifted"):
            _check_boundary(ex, fit_for_site, kind, 76)
