"""Checkers for lab 06, *Can we trust the confidence?*

Each checker builds its own data with a planted truth (a known calibration error, a known temperature, a
known leaked fraction, annotators with known flip rates, a site with a planted shift), compares the
student's function exactly with the plain reference implementation
(:mod:`xaihealth.instructor.references.trust`, instructor-only, replayed in a student release) wherever
the draw is fixed, and tests properties on varied inputs (coverage of conformal sets over many fresh
draws, the monotonicity of PPV in prevalence, kappa against its theoretical value). Every reference
validates its inputs and raises a ``ValueError``/``TypeError`` naming the parameter.

Conventions: binary problems use ``y`` in {0, 1} and ``p`` = the predicted probability of class 1;
multiclass problems use integer labels ``0..K-1`` and arrays of shape ``(n, K)``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from xaihealth import validate
from xaihealth.checks._core import describe, exercise, grid, written_answer
from xaihealth.checks._reference import ReferenceUnavailable, references

refs = references("trust")  # the reference implementations, or their replay

# ---------------------------------------------------------------------------------------------- validation


def _binary(y_true: Any, p: Any) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_true, dtype=float).reshape(-1) if not isinstance(y_true, str) else None
    if y is None or np.asarray(y_true).ndim != 1:
        raise ValueError(f"y_true must be a 1-d array of 0/1 labels, got {describe(y_true)}")
    if not np.isin(y, (0.0, 1.0)).all():
        raise ValueError(f"y_true must contain only 0 and 1, got the values {np.unique(y)[:5]}")
    q = np.asarray(p, dtype=float)
    if q.shape != y.shape:
        raise ValueError(f"p must have the shape of y_true {y.shape}, got {describe(p)}")
    if not (np.isfinite(q).all() and (q >= 0).all() and (q <= 1).all()):
        raise ValueError("p must hold probabilities in [0, 1] (no NaN)")
    if len(y) == 0:
        raise ValueError("y_true and p must not be empty")
    return y, q


def _multiclass(logits: Any, y: Any, name: str = "logits") -> tuple[np.ndarray, np.ndarray]:
    z = np.asarray(logits, dtype=float)
    if z.ndim != 2 or z.shape[1] < 2 or not np.isfinite(z).all():
        raise ValueError(f"{name} must be a finite array of shape (n, K) with K >= 2, got {describe(logits)}")
    labels = np.asarray(y)
    if labels.shape != (len(z),) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"y must be integer labels of shape ({len(z)},), got {describe(y)}")
    if labels.min() < 0 or labels.max() >= z.shape[1]:
        raise ValueError(f"y must hold labels 0..{z.shape[1] - 1}, got {labels.min()}..{labels.max()}")
    return z, labels.astype(int)


def _probability(name: str, value: Any, *, open_interval: bool = True) -> float:
    value = validate.number(name, value, minimum=0.0, maximum=1.0)
    if open_interval and value in (0.0, 1.0):
        raise ValueError(f"{name}={value!r} must lie strictly between 0 and 1")
    return value


# ------------------------------------------------------------------------- helpers the references share


def softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise softmax, stable (the maximum is subtracted first)."""
    z = np.asarray(logits, dtype=float)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def nll(logits: Any, y: Any, temperature: float = 1.0) -> float:
    """Mean negative log-likelihood of ``softmax(logits / temperature)`` at the labels ``y``."""
    z, labels = _multiclass(logits, y)
    t = validate.number("temperature", temperature, minimum=1e-12)
    z = z / t
    z = z - z.max(axis=1, keepdims=True)
    lse = np.log(np.exp(z).sum(axis=1))
    return float(np.mean(lse - z[np.arange(len(z)), labels]))


THRESHOLD_KEYS = ("max_ece", "min_coverage")


# ---------------------------------------------------------------------------------------------- planted data


def _off_edges(p: np.ndarray, bins: tuple[int, ...]) -> np.ndarray:
    """Move probabilities that sit within 1e-6 of an interior bin edge (floor and digitize may disagree)."""
    p = p.copy()
    for k in bins:
        near = np.abs(p * k - np.round(p * k)) < 1e-6 * k
        interior = near & (p > 0) & (p < 1)
        p[interior] += 3e-6
    return p


def calibration_data(n: int, seed: int, kind: str = "overconfident") -> tuple[np.ndarray, np.ndarray]:
    """Binary labels and predicted probabilities with a planted miscalibration.

    ``kind``: ``"calibrated"`` (y drawn from p), ``"overconfident"`` (y drawn from a flattened p),
    ``"skewed"`` (most p near 0, as in screening), ``"saturated"`` (a third of the cases at exactly
    p = 1.0, of which only 70 % are positive) or ``"balanced_in_the_large"`` (p in {0.2, 0.8} with
    y ~ Bernoulli(0.5) in both: mean(y) = mean(p), yet ECE = 0.3) or ``"interior"`` (p in
    [0.05, 0.90], y drawn from p, and *no* case at 0 or 1: bins over [min p, max p] differ from bins over
    [0, 1] here, while every other kind has cases at both ends).
    """
    n = validate.integer("n", n, minimum=20)
    validate.one_of(
        "kind", kind,
        ("calibrated", "overconfident", "skewed", "saturated", "balanced_in_the_large", "interior"),
    )
    rng = np.random.default_rng(seed)
    if kind == "interior":
        p = _off_edges(0.05 + 0.85 * rng.beta(1.2, 1.2, n), (3, 4, 5, 7, 10, 15))
        return (rng.random(n) < p).astype(int), p
    if kind == "balanced_in_the_large":
        p = np.where(rng.random(n) < 0.5, 0.2, 0.8)
        return (rng.random(n) < 0.5).astype(int), _off_edges(p, (3, 4, 5, 7, 10, 15))
    p = rng.beta(0.6, 4.0, n) if kind == "skewed" else rng.beta(1.2, 1.2, n)
    p = _off_edges(p, (3, 4, 5, 7, 10, 15))
    if kind == "overconfident":
        truth = 0.5 + 0.6 * (p - 0.5)
    elif kind == "skewed":
        truth = np.clip(1.4 * p, 0, 1)
    else:
        truth = p
    y = (rng.random(n) < truth).astype(int)
    if kind == "saturated":
        ones = rng.random(n) < 1 / 3
        p[ones] = 1.0
        y[ones] = (rng.random(ones.sum()) < 0.7).astype(int)
    p[:3] = (0.0, 1.0, 1.0)  # both ends of [0, 1] are always present
    return y, p


def temperature_data(n: int, n_classes: int, scale: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Logits ``scale * Z`` with y ~ softmax(Z): the true temperature is ``scale`` (logits / T = Z)."""
    n = validate.integer("n", n, minimum=10)
    n_classes = validate.integer("n_classes", n_classes, minimum=2)
    scale = validate.number("scale", scale, minimum=0.05, maximum=20)
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.5, (n, n_classes)) + rng.normal(0.0, 0.5, n_classes)
    p = softmax(z)
    y = (rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1)
    return scale * z, np.minimum(y, n_classes - 1)


def conformal_data(n: int, n_classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Exchangeable cases: true class probabilities, labels drawn from them, a model's noisy probabilities."""
    n = validate.integer("n", n, minimum=1)
    n_classes = validate.integer("n_classes", n_classes, minimum=2)
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 1.2, (n, n_classes))
    truth = softmax(z)
    y = np.minimum((rng.random(n)[:, None] > np.cumsum(truth, axis=1)).sum(axis=1), n_classes - 1)
    return softmax(1.6 * z + rng.normal(0.0, 0.7, (n, n_classes))), y


def tied_conformal_data(n: int, n_classes: int, seed: int, grid: int = 16) -> tuple[np.ndarray, np.ndarray]:
    """Probabilities on a grid of multiples of 1/grid (rounded outputs: many exactly tied scores).

    With grid a power of 2, ``1 - p`` and ``1 - q`` are exact in floating point, so ``1 - p <= q`` and
    ``p >= 1 - q`` agree exactly, while a strict ``<`` drops every class whose score equals ``q``.
    """
    n = validate.integer("n", n, minimum=1)
    n_classes = validate.integer("n_classes", n_classes, minimum=2)
    rng = np.random.default_rng(seed)
    counts = np.array([rng.multinomial(grid, rng.dirichlet(np.full(n_classes, 1.5))) for _ in range(n)])
    p = counts / grid
    y = np.minimum((rng.random(n)[:, None] > np.cumsum(p, axis=1)).sum(axis=1), n_classes - 1)
    return p, y


def planted_split(
    n_patients: int, leaked: float, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Records of patients with 1..4 records each, a split and its known leaked fraction of test records.

    A quarter of the patients go to the test set. A share ``leaked`` of them (chosen among those with two
    records or more) have one record moved to the training set: their remaining test records are leaked.
    Patient ids are non-contiguous strings and the records are shuffled.
    """
    n_patients = validate.integer("n_patients", n_patients, minimum=8)
    leaked = validate.number("leaked", leaked, minimum=0.0, maximum=1.0)
    rng = np.random.default_rng(seed)
    counts = rng.integers(2 if leaked == 1.0 else 1, 5, n_patients)
    ids = np.array([f"P{v:05d}" for v in rng.choice(90_000, n_patients, replace=False) + 10_000])
    patient = np.repeat(ids, counts)
    order = rng.permutation(len(patient))
    patient = patient[order]
    test_patients = rng.choice(ids, max(2, n_patients // 4), replace=False)
    multi = [pid for pid in test_patients if counts[np.flatnonzero(ids == pid)[0]] >= 2]
    chosen = set(rng.choice(multi, round(leaked * len(multi)), replace=False)) if multi else set()
    in_test = np.isin(patient, test_patients)
    for pid in chosen:
        first = np.flatnonzero(patient == pid)[0]
        in_test[first] = False  # one record of this test patient goes to training
    train_idx, test_idx = np.flatnonzero(~in_test), np.flatnonzero(in_test)
    truth = float(np.isin(patient[test_idx], list(chosen)).mean()) if chosen else 0.0
    return train_idx, test_idx, patient, truth


def annotators(
    n: int, flip_rates: tuple[float, ...], seed: int, n_classes: int = 2
) -> tuple[np.ndarray, np.ndarray]:
    """Balanced true labels and one column of labels per annotator, with known flip rates.

    Each annotator independently replaces a true label, with probability ``rate``, by another class chosen
    uniformly (symmetric noise). On two balanced classes, kappa(annotator, truth) = 1 - 2 rate and kappa
    between two annotators = (1 - 2 rate_1)(1 - 2 rate_2). Returns ``(truth, labels)``, ``labels`` of shape
    ``(n, len(flip_rates))``.
    """
    n = validate.integer("n", n, minimum=2)
    n_classes = validate.integer("n_classes", n_classes, minimum=2)
    rates = [validate.number("flip_rates", r, minimum=0.0, maximum=0.5) for r in flip_rates]
    rng = np.random.default_rng(seed)
    truth = rng.permutation(np.arange(n) % n_classes)
    labels = np.empty((n, len(rates)), dtype=int)
    for j, rate in enumerate(rates):
        flip = rng.random(n) < rate
        shift = rng.integers(1, n_classes, n)
        labels[:, j] = np.where(flip, (truth + shift) % n_classes, truth)
    return truth, labels


def confusion(a: np.ndarray, b: np.ndarray, n_classes: int) -> np.ndarray:
    """The K x K table of counts of (a, b) label pairs (rows: a)."""
    table = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(table, (np.asarray(a, dtype=int), np.asarray(b, dtype=int)), 1)
    return table


SITE_KINDS = ("healthy", "healthy_edge", "shifted", "miscalibrated", "undercovered")
# Thresholds the Exercise 7 checker accepts. On the lab's deployment sites (base seeds 0-10) the healthy sites
# 0-3 reach ECE <= 0.070 and coverage >= 0.862, and the shifted site 4 has ECE >= 0.159: every pair of limits
# in this box accepts the former and refuses the latter.
SENSIBLE_MAX_ECE = (0.075, 0.12)
SENSIBLE_MIN_COVERAGE = (0.80, 0.85)


def site_data(kind: str, n: int, seed: int, alpha: float = 0.1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One site: labels, the model's probabilities, and whether each case's conformal set covered it.

    ``kind``: ``"healthy"`` (y drawn from p, coverage drawn at 1 - alpha), ``"healthy_edge"`` (a healthy
    site as the lab's deployment sites 0-3 can look: mildly underconfident, ECE about 0.05-0.065, coverage
    drawn at 0.87), ``"shifted"`` (overconfident: y drawn from a flattened p, coverage about 0.70),
    ``"miscalibrated"`` (overconfident, coverage kept at 1 - alpha) or ``"undercovered"`` (calibrated,
    coverage about 0.72).
    """
    validate.one_of("kind", kind, SITE_KINDS)
    n = validate.integer("n", n, minimum=50)
    rng = np.random.default_rng(seed)
    p = _off_edges(rng.beta(0.9, 0.9, n), (10,))
    if kind in ("shifted", "miscalibrated"):
        truth = 0.5 + 0.45 * (p - 0.5)
    elif kind == "healthy_edge":
        truth = np.clip(0.5 + 1.25 * (p - 0.5), 0.0, 1.0)
    else:
        truth = p
    y = (rng.random(n) < truth).astype(int)
    rate = {"healthy": 1 - alpha, "healthy_edge": 0.87, "miscalibrated": 1 - alpha, "shifted": 0.70,
            "undercovered": 0.72}[kind]
    return y, p, rng.random(n) < rate


# ---------------------------------------------------------------------------------------------- helpers


def _scalar(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        if isinstance(value, np.ndarray) and value.shape == ():
            return float(value)
        return None
    return float(value)


def _close(got: Any, want: float, rtol: float = 1e-9, atol: float = 1e-12) -> bool:
    value = _scalar(got)
    if value is None:
        return False
    if math.isinf(want):
        return value == want
    return math.isfinite(value) and abs(value - want) <= atol + rtol * abs(want)


def _a_number(ex: Any, value: Any, what: str) -> float:
    number = _scalar(value)
    ex.expect(
        number is not None and not math.isnan(number),
        f"return {what} as one number (a float); yours: {describe(value)}",
    )
    return float(number)


def _ece_mistakes(y: np.ndarray, p: np.ndarray, n_bins: int) -> list[tuple[str, float]]:
    """The values of the usual wrong ECEs on (y, p), each with the hint that names the mistake."""
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    index = np.digitize(p, edges[1:-1])
    gaps = [
        (float((index == b).mean()), abs(y[index == b].mean() - p[index == b].mean()))
        for b in range(n_bins)
        if (index == b).any()
    ]
    half_open = np.digitize(p, edges) - 1  # p = 1.0 lands in bin n_bins and is lost
    keep = half_open < n_bins
    dropped = (
        refs.reference_expected_calibration_error(y[keep], p[keep], n_bins) * keep.mean()
        if keep.any()
        else 0.0
    )
    dropped_renormalised = (
        refs.reference_expected_calibration_error(y[keep], p[keep], n_bins) if keep.any() else 0.0
    )
    q_edges = np.quantile(p, np.linspace(0, 1, n_bins + 1))
    q_index = np.clip(np.searchsorted(q_edges, p, side="right") - 1, 0, n_bins - 1)
    quantile = sum(
        float((q_index == b).mean()) * abs(y[q_index == b].mean() - p[q_index == b].mean())
        for b in range(n_bins)
        if (q_index == b).any()
    )
    split_index = np.empty(len(p), dtype=int)
    for b, part in enumerate(np.array_split(np.argsort(p, kind="stable"), n_bins)):
        split_index[part] = b
    equal_mass = sum(
        float((split_index == b).mean()) * abs(y[split_index == b].mean() - p[split_index == b].mean())
        for b in range(n_bins)
        if (split_index == b).any()
    )
    closed = "the last bin is closed, [1 - 1/n_bins, 1]: cases with p = 1.0 belong to it"
    not_quantiles = "bins are equal-width on [0, 1] (edges np.linspace(0, 1, n_bins + 1)), not quantiles of p"
    return [
        (closed, dropped),
        (closed, dropped_renormalised),
        (not_quantiles, float(equal_mass)),
    ] + list({
        "weight each bin by its share of the cases (n_b / n), not a plain mean over bins": float(
            np.mean([g for _, g in gaps])
        ),
        "empty bins add nothing: weight by n_b / n instead of averaging over all n_bins bins": float(
            sum(g for _, g in gaps) / n_bins
        ),
        "compare mean(y) and mean(p) bin by bin; over all cases at once it is calibration-in-the-large, not "
        "the ECE": float(abs(y.mean() - p.mean())),
        not_quantiles: float(quantile),
        "use the n_bins you are given (yours looks like 10 bins)": refs.reference_expected_calibration_error(
            y, p, 10
        ),
    }.items())


def _ece_hint(got: float | None, y: np.ndarray, p: np.ndarray, n_bins: int, want: float) -> str:
    shown = "not a number" if got is None else f"{got:.6f}"
    try:
        mistakes = _ece_mistakes(y, p, n_bins)
    except ReferenceUnavailable:  # a student release stores no value for a hint: give the generic advice
        mistakes = []
    named = {
        hint
        for hint, value in mistakes
        if got is not None and abs(value - want) > 1e-9 and abs(got - value) <= 1e-9 * max(1, abs(value))
    }
    advice = (
        named.pop()
        if len(named) == 1  # several mistakes give this value on this sample: name none of them
        else (
            "sum over the non-empty equal-width bins of (bin count / n) * |mean(y) - mean(p)|, "
            "the last bin closed at 1.0"
        )
    )
    return f"{advice} (n_bins={n_bins}: yours {shown}, expected {want:.6f})"


# ---------------------------------------------------------------------------------------------- checkers


def check_expected_calibration_error(expected_calibration_error: Callable[..., float]) -> None:
    """Exercise 1: ECE with equal-width bins, the last closed at 1.0, weighted by counts; exact."""
    with exercise("Exercise 1 (expected calibration error)") as ex:
        y, p = calibration_data(400, 1, "overconfident")
        value = _a_number(ex, ex.call(expected_calibration_error, y.copy(), p.copy(), n_bins=10), "the ECE")
        ex.expect(0 <= value <= 1, f"an ECE lies in [0, 1]; yours is {value:.4g}")
        # the sample where mean(y) = mean(p) comes first, and 3 bins (none empty) last, so that the first
        # failure tells the usual mistakes apart and its hint names the right one
        for kind, n, seed in (
            ("balanced_in_the_large", 500, 3),
            ("saturated", 300, 2),
            ("skewed", 600, 4),
            ("overconfident", 350, 5),
            ("calibrated", 250, 6),
            ("interior", 300, 9),
        ):
            y, p = calibration_data(n, seed, kind)
            for n_bins in (7, 10, 15, 3):
                got = ex.call(expected_calibration_error, y.copy(), p.copy(), n_bins=n_bins)
                want = refs.reference_expected_calibration_error(y, p, n_bins)
                same = _close(got, want)
                ex.expect(same, "" if same else _ece_hint(_scalar(got), y, p, n_bins, want))
        y, p = calibration_data(200, 7, "overconfident")
        one = _a_number(ex, ex.call(expected_calibration_error, y, p, n_bins=1), "the ECE")
        ex.expect(
            _close(one, abs(y.mean() - p.mean())),
            "with n_bins=1 the ECE is |mean(y) - mean(p)|: is n_bins used?",
        )
        perm = np.random.default_rng(8).permutation(len(y))
        again = ex.call(expected_calibration_error, y[perm], p[perm], n_bins=10)
        ex.expect(
            _close(again, refs.reference_expected_calibration_error(y, p, 10)),
            "the ECE must not depend on the order of the cases",
        )


def check_fit_temperature(fit_temperature: Callable[..., float]) -> None:
    """Exercise 2: T minimising the NLL of softmax(logits / T), within 0.1 % of the reference's optimum."""
    with exercise("Exercise 2 (temperature scaling by NLL)") as ex:
        logits, y = temperature_data(3000, 3, 2.0, seed=11)
        t = _a_number(ex, ex.call(fit_temperature, logits.copy(), y.copy()), "the temperature T")
        ex.expect(t > 0 and math.isfinite(t), f"T must be a positive finite number; yours is {t!r}")
        want = refs.reference_fit_temperature(logits, y)
        ex.expect(
            abs(t - want) <= 1e-3 * want,
            f"T = {t:.4f}, but the NLL of softmax(logits / T) is lowest at T = {want:.4f} (within 0.1 %): "
            "minimise the NLL, not the ECE or the error rate, return T itself (not 1/T), and search finely "
            "(a bounded scalar optimiser, not a coarse grid)",
        )
        ex.expect(
            abs(t - 2.0) < 0.15,
            f"the logits are 2 x the true logits, so T should be close to 2; yours is {t:.3f}",
        )
        for n, k, scale, seed in (
            (800, 2, 0.5, 12),
            (1500, 5, 3.0, 13),
            (600, 4, 1.0, 14),
            (400, 2, 1.7, 15),
        ):
            logits, y = temperature_data(n, k, scale, seed)
            got = ex.call(fit_temperature, logits.copy(), y.copy())
            want = refs.reference_fit_temperature(logits, y)
            value = _scalar(got)
            ex.expect(
                value is not None and abs(value - want) <= 1e-3 * want,
                f"T = {value if value is None else round(value, 4)} but the NLL optimum is {want:.4f} "
                f"(n={n}, K={k} classes, logits = {scale} x the true ones): one T for all classes, "
                "applied as softmax(logits / T)",
            )


def check_temperature_report(temperature_report: Callable[..., Mapping[str, float]]) -> None:
    """Exercise 2: T fitted on the calibration set only; the test set's NLL before and after."""
    with exercise("Exercise 2 (temperature scaling by NLL)") as ex:
        for n, k, cal_scale, test_scale, seed in ((1500, 3, 2.5, 1.2, 21), (900, 2, 0.6, 1.5, 22)):
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
            test_t = refs.reference_fit_temperature(logits_test, y_test)
            ex.expect(
                t is not None and abs(t - want["T"]) <= 1e-3 * want["T"],
                f"T = {t} but the calibration set's NLL optimum is {want['T']:.4f}"
                + (
                    " and the *test* set's is yours: fit on the calibration set only"
                    if t is not None and abs(t - test_t) <= 1e-3 * test_t
                    else ""
                ),
            )
            ex.expect(
                _close(out["nll_before"], want["nll_before"], rtol=1e-6),
                f"nll_before must be the test set's mean NLL at T = 1 ({want['nll_before']:.5f}); "
                f"yours: {out['nll_before']!r}",
            )
            ex.expect(
                _close(out["nll_after"], want["nll_after"], rtol=1e-4),
                f"nll_after must be the test set's mean NLL of softmax(logits_test / T) with the T fitted "
                f"on the calibration set ({want['nll_after']:.5f}); yours: {out['nll_after']!r}",
            )


def check_conformal_quantile(conformal_quantile: Callable[..., float]) -> None:
    """Exercise 3: the ceil((n+1)(1-alpha))-th smallest score, infinity past n; exact."""
    with exercise("Exercise 3 (split-conformal quantile)") as ex:
        rng = np.random.default_rng(31)
        # the first seven: (n + 1)(1 - alpha) is not within 0.04 of an integer, so ceil and floor differ;
        # (99, .1), (19, .05), (9, .1): (n + 1)(1 - alpha) is an integer, so int(...) + 1 != ceil(...);
        # (29, .1), (39, .05): frac(n (1 - alpha)) <= alpha, so
        # ceil(n (1 - alpha)) + 1 != ceil((n + 1)(1 - alpha))
        for n, alpha in (
            (30, 0.1), (50, 0.1), (12, 0.2), (98, 0.05), (200, 0.33), (7, 0.3), (40, 0.15),
            (99, 0.1), (19, 0.05), (9, 0.1), (29, 0.1), (39, 0.05),
            # alpha > 0.5: np.quantile(scores, rank / n, method='nearest') is exact for alpha <= 0.5 only
            (40, 0.6), (25, 0.7),
        ):
            scores = rng.random(n)
            got = ex.call(conformal_quantile, scores.copy(), alpha)
            want = refs.reference_conformal_quantile(scores, alpha)
            rank = math.ceil((n + 1) * (1 - alpha))
            ex.expect(
                not (rank < n and _close(got, float(np.sort(scores)[rank]), rtol=0, atol=0)),
                f"yours {_scalar(got)!r} is the {rank + 1}-th smallest score, one rank above the "
                f"{rank}-th ({want:.6f}) (n={n}, alpha={alpha}). This is what "
                "np.quantile(scores, ceil((n + 1)(1 - alpha)) / n, method='higher') returns (the code of "
                "Angelopoulos & Bates's tutorial): numpy places a level q at position q (n - 1) of the "
                "sorted scores, and 'higher' rounds that up to the next rank whenever the rank is below n "
                "(method='nearest' lands there too when alpha > 0.5). "
                "Such sets still cover, but one rank more conservatively than the rule asks: sort the scores "
                "and take the rank-th (np.quantile's method='inverted_cdf' gives it too, except where "
                "rank / n * n rounds above the rank, e.g. n=29, alpha=0.5)",
            )
            ex.expect(
                _close(got, want, rtol=0, atol=0),
                f"yours {_scalar(got)!r}, expected the {math.ceil((n + 1) * (1 - alpha))}-th smallest score "
                f"{want:.6f}: the rank is ceil((n + 1)(1 - alpha)), an actual score (no "
                f"interpolation) (n={n}, alpha={alpha})",
            )
        for n, alpha in ((10, 0.05), (3, 0.2)):
            scores = rng.random(n)
            got = ex.call(conformal_quantile, scores, alpha)
            ex.expect(
                _close(got, math.inf),
                f"with n={n} and alpha={alpha} the rank ceil((n + 1)(1 - alpha)) = "
                f"{math.ceil((n + 1) * (1 - alpha))} exceeds n: return float('inf') (every set is the full "
                f"set); yours: {_scalar(got)!r}",
            )
        scores = rng.random(50)
        ex.expect(
            _close(
                ex.call(conformal_quantile, scores[::-1].copy(), 0.1),
                refs.reference_conformal_quantile(scores, 0.1),
            ),
            "sort the scores: the quantile must not depend on their order",
        )


def check_prediction_sets(prediction_sets: Callable[..., np.ndarray]) -> None:
    """Exercise 3: classes with 1 - p <= q; exact on fixed draws, coverage >= 1 - alpha on fresh ones."""
    with exercise("Exercise 3 (split-conformal quantile)") as ex:
        # (40, alpha = 0.6) has a small q: there the reference gives some empty sets; (19, .05), (9, .1) and
        # (29, .1) are the quantile's integer-rank and frac <= alpha cases (see check_conformal_quantile)
        for n, k, alpha, seed in (
            (60, 3, 0.1, 41), (200, 5, 0.2, 42), (25, 4, 0.1, 43), (40, 5, 0.6, 44),
            (19, 4, 0.05, 45), (9, 4, 0.1, 46), (29, 3, 0.1, 47),
        ):
            p_cal, y_cal = conformal_data(n, k, seed)
            p_test, _ = conformal_data(80, k, seed + 500)
            got = ex.call(prediction_sets, p_cal.copy(), y_cal.copy(), p_test.copy(), alpha)
            arr = np.asarray(got) if isinstance(got, np.ndarray | list) else None
            ex.expect(
                arr is not None and arr.shape == p_test.shape and arr.dtype == bool,
                f"return a boolean array of shape {p_test.shape} (True = class in the set); yours: "
                f"{describe(got)}",
            )
            want = refs.reference_prediction_sets(p_cal, y_cal, p_test, alpha)
            scores = np.sort(1.0 - p_cal[np.arange(n), y_cal])
            rank = math.ceil((n + 1) * (1 - alpha))
            ex.expect(
                (arr == want).all() or rank >= n or not (((1.0 - p_test) <= scores[rank]) == arr).all(),
                f"your sets use the {rank + 1}-th smallest calibration score, one rank above the {rank}-th "
                f"(n={n}, alpha={alpha}): np.quantile(scores, ceil((n + 1)(1 - alpha)) / n, method='higher') "
                "(the code of Angelopoulos & Bates's tutorial) lands there, because numpy places a level q "
                "at position q (n - 1). Valid but one rank too conservative: use your conformal_quantile",
            )
            ex.expect(
                (arr == want).all(),
                f"your sets differ from the reference in {(arr != want).any(axis=1).sum()} of 80 cases: the "
                "score of a calibration case is 1 - p(its true class); keep the classes with 1 - p <= q "
                f"(n={n}, K={k}, alpha={alpha})",
            )
        # rounded probabilities (multiples of 1/16): test scores equal to q exactly; a strict 1 - p < q drops
        # those classes, and with ties its coverage falls below 1 - alpha (0.869, SE 0.005, vs 0.926 with
        # <= over 300 draws of 30 calibration cases at alpha = 0.1: /tmp/06labfix2/t.py)
        for n, k, alpha, seed in ((50, 4, 0.1, 48), (100, 3, 0.2, 49)):
            p_cal, y_cal = tied_conformal_data(n, k, seed)
            p_test, _ = tied_conformal_data(80, k, seed + 500)
            got = np.asarray(ex.call(prediction_sets, p_cal.copy(), y_cal.copy(), p_test.copy(), alpha))
            want = refs.reference_prediction_sets(p_cal, y_cal, p_test, alpha)
            q = refs.reference_conformal_quantile(1.0 - p_cal[np.arange(n), y_cal], alpha)
            strict = (1.0 - p_test) < q
            ex.expect(
                got.shape == want.shape and not (got == strict).all(),
                f"with rounded probabilities (multiples of 1/16) many test scores 1 - p equal q = {q} "
                "exactly, and your sets leave those classes out: keep a class when 1 - p <= q (not <). "
                "The guarantee P(score <= q) >= 1 - alpha counts ties; with < the coverage falls below "
                f"1 - alpha on rounded outputs (n={n}, K={k}, alpha={alpha})",
            )
            ex.expect(
                got.shape == want.shape and (got == want).all(),
                f"with rounded probabilities (ties) your sets differ from the reference in "
                f"{(got != want).any(axis=1).sum() if got.shape == want.shape else 'all'} of 80 cases: "
                f"keep the classes with 1 - p <= q (n={n}, K={k}, alpha={alpha})",
            )
        covered, alpha = [], 0.1
        for r in range(300):
            p, y = conformal_data(70, 3, 10_000 + r)
            sets = np.asarray(ex.call(prediction_sets, p[:30], y[:30], p[30:], alpha), dtype=bool)
            covered.append(sets[np.arange(40), y[30:]].mean())
        mean, se = float(np.mean(covered)), float(np.std(covered, ddof=1) / math.sqrt(len(covered)))
        ex.expect(
            mean >= 1 - alpha - 2.5 * se,
            f"over 300 fresh draws (30 calibration cases each) your sets covered the true class in "
            f"{mean:.3f} of test cases (SE {se:.3f}); split conformal guarantees at least {1 - alpha}",
        )


def check_predictive_values(predictive_values: Callable[..., Mapping[str, float]]) -> None:
    """Exercise 4: PPV, NPV (Bayes at the given prevalence), LR+ and LR-; exact."""
    with exercise("Exercise 4 (PPV, NPV and likelihood ratios)") as ex:
        keys = ("ppv", "npv", "lr_plus", "lr_minus")
        for case in grid(
            sensitivity=(0.97, 0.8, 0.62), specificity=(0.98, 0.9, 0.71), prevalence=(0.001, 0.01, 0.1, 0.5)
        ):
            out = ex.returns(
                ex.call(predictive_values, **case),
                Mapping,
                "a dict with the keys 'ppv', 'npv', 'lr_plus', 'lr_minus'",
                keys=keys,
            )
            want = refs.reference_predictive_values(**case)
            shown = ", ".join(f"{k}={v}" for k, v in case.items())
            for key in keys:
                ex.expect(
                    _close(out[key], want[key], rtol=1e-9),
                    f"{key} = {out[key]!r}, expected {want[key]:.6g} ({shown}): compare your {key} with "
                    "its formula in the exercise text (which of sensitivity and specificity goes where, and "
                    "is the prevalence used?)",
                )
        ppvs = [
            _scalar(ex.call(predictive_values, 0.9, 0.95, prev)["ppv"]) for prev in (0.001, 0.01, 0.1, 0.5)
        ]
        ex.expect(
            all(a is not None and b is not None and a < b for a, b in zip(ppvs, ppvs[1:], strict=False)),
            "PPV must rise with the prevalence (Bayes' rule): is prevalence used?",
        )


def check_leaked_fraction(leaked_fraction: Callable[..., float]) -> None:
    """Exercise 5: share of test records whose patient is also in training, on planted splits."""
    with exercise("Exercise 5 (patient leakage in a split)") as ex:
        for n_patients, leaked, seed in (
            (200, 0.0, 51),
            (160, 1.0, 52),
            (240, 0.5, 53),
            (300, 0.3, 54),
            (120, 0.8, 55),
        ):
            train_idx, test_idx, patient, truth = planted_split(n_patients, leaked, seed)
            got = ex.call(leaked_fraction, train_idx.copy(), test_idx.copy(), patient.copy())
            want = refs.reference_leaked_fraction(train_idx, test_idx, patient)
            ex.expect(abs(want - truth) < 1e-12, "internal: planted fraction")
            label = {
                0.0: "no patient is in both sets",
                1.0: "every test patient also has a record in training",
            }
            ex.expect(
                _close(got, want),
                f"yours {_scalar(got)!r}, planted {want:.4f} "
                f"({label.get(leaked, 'a known share of leaked test records')}): "
                "the share of *test records* (not patients, not record indices) whose patient id also "
                "appears among the training records' patient ids",
            )
        train_idx, test_idx, patient, _ = planted_split(100, 0.5, 56)
        got = ex.call(leaked_fraction, train_idx, test_idx, patient)
        ex.expect(
            _close(got, refs.reference_leaked_fraction(train_idx, test_idx, patient)),
            "patient ids are strings like 'P12345'; compare ids, not positions",
        )


def check_cohen_kappa(cohen_kappa: Callable[..., float]) -> None:
    """Exercise 6: Cohen's kappa from a confusion matrix, exact against statsmodels; planted annotators."""
    from statsmodels.stats.inter_rater import cohens_kappa as sm_kappa

    with exercise("Exercise 6 (Cohen's kappa)") as ex:
        tables = [
            np.array([[30, 5], [10, 55]]),
            np.array([[40, 9, 1], [6, 30, 4], [2, 8, 20]]),
            np.array([[12, 3, 0, 1], [2, 25, 4, 0], [1, 2, 9, 3], [0, 1, 5, 32]]),
            np.array([[80, 15], [2, 3]]),
        ]
        for table in tables:
            got = ex.call(cohen_kappa, table.copy())
            want = float(sm_kappa(table).kappa)
            ex.expect(
                _close(got, want, rtol=1e-9),
                f"yours {_scalar(got)!r}, statsmodels {want:.6f} for a {len(table)} x {len(table)} table: "
                "kappa = (p_o - p_e) / (1 - p_e), p_o the share on the diagonal, p_e = sum_k (row total_k "
                "/ n)(column total_k / n), over every one of the K categories",
            )
        truth, labels = annotators(20_000, (0.1, 0.2), 61)
        got = _a_number(ex, ex.call(cohen_kappa, confusion(labels[:, 0], labels[:, 1], 2)), "kappa")
        theory = (1 - 2 * 0.1) * (1 - 2 * 0.2)
        ex.expect(
            abs(got - theory) < 0.03,
            f"two annotators with flip rates 0.1 and 0.2 on balanced classes: kappa should be near "
            f"(1 - 0.2)(1 - 0.4) = {theory:.2f}; yours {got:.3f}",
        )
        got = _a_number(ex, ex.call(cohen_kappa, confusion(truth, labels[:, 0], 2)), "kappa")
        ex.expect(
            abs(got - 0.8) < 0.03,
            f"an annotator with flip rate 0.1 against the truth: kappa near 0.8; yours {got:.3f}",
        )


SITE_SEEDS = (71, 72, 73)


def _criteria(reason: str) -> set[str]:
    """Which criteria a reason names: 'ECE' (ECE, calibration) and/or 'coverage' (coverage, covered)."""
    text = reason.lower()
    named = set()
    if re.search(r"\bece\b", text) or "calibrat" in text:
        named.add("ECE")
    if "cover" in text:
        named.add("coverage")
    return named


def _probe_thresholds() -> list[tuple[str, dict[str, float]]]:
    """Limits placed next to a planted site's own numbers, so that a right rule's decision flips there."""
    y, p, covered = site_data("healthy_edge", 1000, SITE_SEEDS[1])
    ece, cov = refs.reference_expected_calibration_error(y, p, 10), float(np.mean(covered))
    return [
        ("healthy_edge", {"max_ece": round(ece - 0.01, 3), "min_coverage": 0.5}),  # refused: ECE only
        ("healthy_edge", {"max_ece": round(ece + 0.01, 3), "min_coverage": round(cov + 0.01, 3)}),  # coverage
        ("healthy_edge", {"max_ece": round(ece + 0.002, 4), "min_coverage": round(cov - 0.002, 4)}),  # fit
        ("shifted", {"max_ece": 0.5, "min_coverage": 0.5}),  # loose limits: even the shifted site passes
        ("shifted", {"max_ece": 0.5, "min_coverage": 0.8}),  # refused: coverage only
        ("miscalibrated", {"max_ece": 0.1, "min_coverage": 0.95}),  # refused: both
    ]


def _expected_site(y: np.ndarray, p: np.ndarray, covered: np.ndarray,
                   thresholds: Mapping[str, float], ece: float | None = None) -> dict:  # fmt: skip
    """What a right ``fit_for_site`` finds: the site's ECE (the reference's, 10 bins, unless ``ece`` is
    given) and coverage, and the decision under ``thresholds``, with the failed criteria. The thresholds are
    the student's choice, so the decision is taken here, not by the reference: only the site's numbers need
    stored values in a release.
    """
    ece = refs.reference_expected_calibration_error(y, p, 10) if ece is None else ece
    coverage = float(np.mean(covered))
    failed = ["ECE"] * (ece > thresholds["max_ece"]) + ["coverage"] * (coverage < thresholds["min_coverage"])
    return {"fit": not failed, "ece": ece, "coverage": coverage, "failed": failed}


def _check_site(ex: Any, fit_for_site: Callable[..., Mapping[str, Any]], kind: str, seed: int,
                thresholds: Mapping[str, float]) -> None:
    y, p, covered = site_data(kind, 1000, seed)
    out = ex.returns(
        ex.call(fit_for_site, y.copy(), p.copy(), covered.copy(), dict(thresholds)),
        Mapping,
        "a dict with the keys 'fit', 'ece', 'coverage', 'reasons'",
        keys=("fit", "ece", "coverage", "reasons"),
    )
    want = _expected_site(y, p, covered, thresholds)
    own = _own_ece(fit_for_site, y, p)
    if own is not None and not _close(own, want["ece"], rtol=1e-9) and _close(out["ece"], own, rtol=1e-9):
        want = _expected_site(y, p, covered, thresholds, ece=own)  # Exercise 1's error is not charged twice
    where = f"site {kind!r}, thresholds {dict(thresholds)}"
    ex.expect(
        _close(out["ece"], want["ece"], rtol=1e-9),
        f"'ece' = {out['ece']!r}, expected {want['ece']:.5f}: your Exercise 1 ECE with 10 bins ({where})",
    )
    ex.expect(
        _close(out["coverage"], want["coverage"]),
        f"'coverage' = {out['coverage']!r}: the share of cases whose set covered the truth "
        f"({want['coverage']:.3f}, {where})",
    )
    fit = out["fit"]
    ex.expect(isinstance(fit, bool | np.bool_), f"'fit' must be True or False; yours: {describe(fit)}")
    ex.expect(
        bool(fit) == want["fit"],
        f"{where}: ECE {want['ece']:.3f}, coverage {want['coverage']:.3f}: must be "
        + ("accepted" if want["fit"] else "refused")
        + "; yours: "
        + ("accepted" if fit else "refused")
        + ". Compare with the limits passed in `thresholds` (not with fixed numbers)",
    )
    reasons = out["reasons"]
    ex.expect(
        isinstance(reasons, list | tuple) and all(isinstance(r, str) for r in reasons),
        f"'reasons' must be a list of strings; yours: {describe(reasons)}",
    )
    if want["fit"]:
        ex.expect(len(reasons) == 0, f"{where} is accepted: 'reasons' should be empty")
        return
    failed = sorted(want["failed"])
    named = [_criteria(r) for r in reasons]
    ex.expect(
        all(len(c) == 1 for c in named) and sorted(next(iter(c)) for c in named) == failed,
        f"{where} is refused for {' and '.join(failed)}: give one reason per failed criterion, each naming "
        f"only its own criterion (ECE or coverage) and giving the measured number; yours: {list(reasons)}",
    )
    for reason, criteria in zip(reasons, named, strict=True):
        measured = want["ece"] if "ECE" in criteria else want["coverage"]
        ex.expect(
            _gives_number(reason, measured),
            f"{where}: the reason {reason!r} must give the site's measured {next(iter(criteria))} "
            f"({measured:.3f}; as a fraction or in %, to within 0.005), not only the limit",
        )


def _own_ece(fit_for_site: Callable[..., Any], y: np.ndarray, p: np.ndarray) -> float | None:
    """The student's own Exercise 1 ECE (10 bins) on a site, or None (none found, or it fails).

    Looked up in the namespace ``fit_for_site`` was defined in (the notebook's), under the name Exercise 1
    asks for. Exercise 7 is then judged on what it adds (the coverage, the decision against the limits, the
    reasons) with the ECE the student's Exercise 1 gives, so a wrong Exercise 1 does not cost Exercise 7 as
    well (review R15, m1); an ECE that matches neither the reference nor their own Exercise 1 still fails.
    """
    own = getattr(fit_for_site, "__globals__", {}).get("expected_calibration_error")
    if not callable(own):
        return None
    try:
        return _scalar(own(y.copy(), p.copy(), n_bins=10))
    except Exception:  # an unfinished or crashing Exercise 1: judged against the reference alone
        return None


def _gives_number(reason: str, measured: float, tol: float = 0.006) -> bool:
    """Whether the text contains ``measured`` as a number (to within ``tol``, also as a percentage)."""
    numbers = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", reason)]
    return any(abs(x - measured) <= tol or abs(x / 100 - measured) <= tol for x in numbers)


def _check_boundary(ex: Any, fit_for_site: Callable[..., Mapping[str, Any]], kind: str, seed: int) -> None:
    """A limit equal to the site's own number (the student's, so no rounding differs) must accept it, and a
    limit one float past it must refuse it: the decision is taken on the very numbers reported."""
    y, p, covered = site_data(kind, 1000, seed)
    loose = {"max_ece": 1.0, "min_coverage": 0.0}
    out = ex.call(fit_for_site, y.copy(), p.copy(), covered.copy(), dict(loose))
    ece, cov = _scalar(out.get("ece")), _scalar(out.get("coverage"))
    ex.expect(ece is not None and cov is not None, f"'ece' and 'coverage' must be numbers; yours: {out!r}")
    for limits, which in (
        ({"max_ece": ece, "min_coverage": 0.0}, f"max_ece equal to the site's ECE {ece!r}"),
        ({"max_ece": 1.0, "min_coverage": cov}, f"min_coverage equal to the site's coverage {cov!r}"),
    ):
        got = ex.call(fit_for_site, y.copy(), p.copy(), covered.copy(), dict(limits))
        ex.expect(
            bool(got["fit"]),
            f"site {kind!r} with {which}: the site meets the limit (ece <= max_ece and coverage >= "
            "min_coverage), so it must be accepted; refuse only when ece > max_ece or coverage < "
            "min_coverage",
        )
    if ece is None or cov is None:
        return
    for limits, which in (
        ({"max_ece": float(np.nextafter(ece, 0.0)), "min_coverage": 0.0},
         f"max_ece just below the site's ECE {ece!r}"),
        ({"max_ece": 1.0, "min_coverage": float(np.nextafter(cov, 1.0))},
         f"min_coverage just above the site's coverage {cov!r}"),
    ):
        if not (0.0 < ece and cov < 1.0):
            continue
        got = ex.call(fit_for_site, y.copy(), p.copy(), covered.copy(), dict(limits))
        ex.expect(
            not bool(got["fit"]),
            f"site {kind!r} with {which}: the site misses the limit, so it must be refused. Decide on the "
            "very 'ece' and 'coverage' you report (the ECE with 10 bins, the share covered), not on "
            "another statistic",
        )


def check_fit_for_site(
    fit_for_site: Callable[..., Mapping[str, Any]], thresholds: Mapping[str, float]
) -> None:
    """Exercise 7: refuse the shifted site, accept healthy ones, with sensible thresholds and reasons."""
    with exercise("Exercise 7 (is the model fit for this site?)") as ex:
        ex.expect(
            isinstance(thresholds, Mapping) and all(k in thresholds for k in THRESHOLD_KEYS),
            f"state your thresholds as a dict with the keys {THRESHOLD_KEYS}; yours: {describe(thresholds)}",
        )
        max_ece, min_cov = _scalar(thresholds["max_ece"]), _scalar(thresholds["min_coverage"])
        (ece_low, ece_high), (cov_low, cov_high) = SENSIBLE_MAX_ECE, SENSIBLE_MIN_COVERAGE
        ex.expect(
            max_ece is not None and ece_low <= max_ece <= ece_high,
            f"max_ece={thresholds['max_ece']!r} should lie in [{ece_low}, {ece_high}]: healthy sites of "
            "about 1,000 records reach an ECE of 0.05-0.07 (the ECE's own bias and noise, and a slightly "
            f"misspecified model), so a lower limit refuses them; above {ece_high} a site whose risks are "
            "off by 10 points or more can pass",
        )
        ex.expect(
            min_cov is not None and cov_low <= min_cov <= cov_high,
            f"min_coverage={thresholds['min_coverage']!r} should lie in [{cov_low}, {cov_high}] for sets "
            "built with alpha = 0.1: one calibration set and correlated records of a patient make a healthy "
            "site's coverage scatter between about 0.86 and 0.94, so a higher limit refuses healthy sites; "
            f"below {cov_low} a site whose sets miss one case in five passes",
        )
        for kind in SITE_KINDS:
            for seed in SITE_SEEDS:
                _check_site(ex, fit_for_site, kind, seed, thresholds)
        for kind, probe in _probe_thresholds():
            _check_site(ex, fit_for_site, kind, SITE_SEEDS[1], probe)
        for kind in SITE_KINDS:
            for seed in SITE_SEEDS:
                _check_boundary(ex, fit_for_site, kind, seed)
        for kind in ("shifted", "miscalibrated", "undercovered"):
            ex.expect(
                not _expected_site(*site_data(kind, 1000, SITE_SEEDS[0]), thresholds)["fit"],
                f"with your thresholds the planted failing site {kind!r} would pass",
            )
        ex.expect(
            all(
                _expected_site(*site_data(kind, 1000, s), thresholds)["fit"]
                for s in SITE_SEEDS
                for kind in ("healthy", "healthy_edge")
            ),
            "with your thresholds a healthy site is refused",
        )




def check_answer_4b(answer: object) -> None:
    """Exercise 4b: the hospital's 0.97 / 0.98 read at two prevalences; marked by a person with the rubric."""
    with exercise("Exercise 4b (a threshold a hospital can sign)") as ex:
        written_answer(
            ex,
            answer,
            "answer_4b",
            [("prevalence",), ("ppv", "positive predictive"), ("npv", "negative")],
            60,
        )


def check_answer_7b(answer: object) -> None:
    """Exercise 7b: what the site check can and cannot tell; marked by a person with the rubric."""
    with exercise("Exercise 7b (what the site check cannot tell)") as ex:
        written_answer(
            ex,
            answer,
            "answer_7b",
            [
                ("calibrat", "ece"),
                ("coverage", "conformal"),
                ("interval", "uncertain", "sample size", "cases"),
            ],
            60,
        )
