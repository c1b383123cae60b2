"""Monitoring statistics of the data scientist's page: input drift, explanation drift, calibration, latency.

*Input drift.* The population stability index (PSI) comes from credit scoring, where banks compare the
applicants of today with those a scorecard was developed on (Siddiqi 2006, *Credit Risk Scorecards*,
Wiley). With the reference's bins at its quantiles, reference shares ``r_i`` and current shares ``c_i``,
``PSI = sum_i (c_i - r_i) ln(c_i / r_i)``. The usual reading, below 0.1 stable, 0.1 to 0.25 a moderate
shift, above 0.25 a major one, is a rule of thumb with no correction for sample size: with no drift at
all, the PSI of ``n`` rows is about ``(bins - 1) (1/n + 1/N)`` on average, so a hundred cases cross 0.1
by chance alone about half the time, while with very many rows a real shift whose PSI stays below 0.1 is
never flagged (Yurdakul & Naranjo 2020, "Statistical properties of the population stability index",
*Journal of Risk Model Validation*, on the cut-offs' missing error rates).
So the page alerts when a feature's PSI exceeds :func:`psi_null_threshold`, the ``q``-quantile of the PSI
between two no-drift samples of the same sizes (bootstrap draws from the reference), and shows the
Kolmogorov-Smirnov two-sample test beside it (``scipy.stats.ks_2samp``; its p-value is conservative on
rounded or discrete values). Every feature is tested: with 10 features at ``q = 0.99`` about one page in
ten shows some alert under no drift. An alert says the shift is beyond chance at this size, not that it
matters clinically: read the PSI's size beside it.

*Explanation drift*: the mean |attribution| of each feature over consecutive windows of explanations: the
model relying on a feature more, or less, than it used to (a change of inputs or of their mix).

*Calibration* of recent labelled cases (labels from clinicians' feedback ``correct_label``): the expected
calibration error over equal-width risk bins, with the counts, and its own no-drift null: the
``q``-quantile of the ECE when the labels are drawn from the risks themselves (a calibrated model still
has an ECE above 0 on finitely many cases).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import numpy as np
from scipy import stats

EPSILON = 1e-4  # an empty bin's share is floored here, so that ln(c / r) stays finite
RULE_OF_THUMB = (0.1, 0.25)  # stable / moderate / major, whatever the sample size
MIN_LABELS = 30  # fewer labelled cases than this: the page says calibration cannot be judged yet


def _sample(values: Any, name: str) -> np.ndarray:
    array = np.asarray(values, dtype=float).ravel() if not isinstance(values, str) else None
    if array is None or array.size == 0 or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be a non-empty sequence of finite numbers")
    return array


def _positive_int(value: Any, name: str, low: int = 1) -> int:
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name}={value!r} must be an integer >= {low}")
    return int(value)


def _quantile_level(q: Any) -> float:
    if not isinstance(q, int | float) or not 0 < q < 1:
        raise ValueError(f"q={q!r} must be a number strictly between 0 and 1")
    return float(q)


def _shares(reference: np.ndarray, current: np.ndarray, bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Bin shares of both samples: the reference's own values when it has at most ``bins`` distinct ones
    (binary or coded features; current values it never took go to one extra bin), else its quantiles."""
    levels = np.unique(reference)
    if levels.size <= bins:
        def index(x: np.ndarray) -> np.ndarray:
            i = np.clip(np.searchsorted(levels, x), 0, levels.size - 1)
            return np.where(levels[i] == x, i, levels.size)

        size = levels.size + 1
    else:
        edges = np.unique(np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1]))

        def index(x: np.ndarray) -> np.ndarray:
            return np.searchsorted(edges, x, side="right")

        size = edges.size + 1
    r = np.bincount(index(reference), minlength=size) / reference.size
    c = np.bincount(index(current), minlength=size) / current.size
    return np.maximum(r, EPSILON), np.maximum(c, EPSILON)


def psi(reference: Any, current: Any, bins: int = 10) -> float:
    """Population stability index of ``current`` against ``reference`` (bins at the reference's
    quantiles, or its levels when it has at most ``bins`` distinct values; shares floored at
    :data:`EPSILON`). 0 for identical distributions; grows with the shift."""
    bins = _positive_int(bins, "bins", 2)
    r, c = _shares(_sample(reference, "reference"), _sample(current, "current"), bins)
    return float(np.sum((c - r) * np.log(c / r)))


def psi_null_threshold(reference: Any, n: int, bins: int = 10, q: float = 0.99, n_draws: int = 200,
                       seed: int = 0) -> float:  # fmt: skip
    """The ``q``-quantile of the PSI between a resampled reference and ``n`` rows resampled from it: the
    PSI that no drift exceeds with probability about ``1 - q`` at that sample size (it falls as ``n``
    grows, unlike the fixed 0.1 / 0.25 rule of thumb)."""
    ref = _sample(reference, "reference")
    n, n_draws = _positive_int(n, "n"), _positive_int(n_draws, "n_draws", 10)
    bins, q = _positive_int(bins, "bins", 2), _quantile_level(q)
    rng = np.random.default_rng(_positive_int(seed, "seed", 0))
    draws = [psi(rng.choice(ref, ref.size), rng.choice(ref, n), bins) for _ in range(n_draws)]
    return float(np.quantile(draws, q))


def rule_of_thumb(value: float) -> str:
    """The credit-scoring reading of a PSI: ``stable`` (< 0.1), ``moderate`` (< 0.25) or ``major``."""
    return "stable" if value < RULE_OF_THUMB[0] else "moderate" if value < RULE_OF_THUMB[1] else "major"


def input_drift(reference_frame: Any, recent_frame: Any, features: Sequence[str], *, bins: int = 10,
                q: float = 0.99, n_draws: int = 200, seed: int = 0,
                cache: dict | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Per feature of ``features`` (columns of both pandas frames): ``n``, ``psi``, its no-drift
    ``threshold`` at this ``n`` (``cache``, a dict, keeps thresholds between calls), ``rule_of_thumb``,
    the KS statistic and p-value, and ``alert`` (PSI above the threshold)."""
    if isinstance(features, str) or not features:
        raise ValueError(f"features={features!r} must be a non-empty list of column names")
    missing = [f for f in features if f not in reference_frame or f not in recent_frame]
    if missing:
        raise ValueError(f"features {missing} are not columns of both frames")
    cache = {} if cache is None else cache
    rows = []
    for feature in features:
        ref, cur = _sample(reference_frame[feature], "reference"), _sample(recent_frame[feature], feature)
        key = (feature, cur.size, ref.size, bins, q, n_draws, seed)
        if key not in cache:
            cache[key] = psi_null_threshold(ref, cur.size, bins, q, n_draws, seed)
        value, ks = psi(ref, cur, bins), stats.ks_2samp(ref, cur)
        rows.append({"feature": feature, "n": int(cur.size), "psi": value, "threshold": cache[key],
                     "rule_of_thumb": rule_of_thumb(value), "ks": float(ks.statistic),
                     "ks_pvalue": float(ks.pvalue), "alert": bool(value > cache[key])})  # fmt: skip
    return rows


def explanation_drift(rows: Iterable[Mapping[str, Any]], window: int | timedelta) -> list[dict[str, Any]]:
    """Mean |attribution| per feature over windows of ``rows`` (each ``{"created_at": datetime, "values":
    {feature: attribution}}``, in time order): ``window`` consecutive rows (an int) or a time span (a
    timedelta, windows counted from the first row). Each window: ``start``, ``end``, ``n``, ``mean_abs``."""
    rows = list(rows)
    if isinstance(window, timedelta):
        if window <= timedelta(0):
            raise ValueError(f"window={window!r} must be a positive timedelta")
    else:
        window = _positive_int(window, "window")
    groups: dict[int, list[Mapping[str, Any]]] = {}
    for i, row in enumerate(rows):
        if not isinstance(row.get("created_at"), datetime) or not isinstance(row.get("values"), Mapping):
            raise ValueError(f"rows[{i}] must have a datetime 'created_at' and a mapping 'values'")
        if isinstance(window, int):
            slot = i // window
        else:
            slot = int((row["created_at"] - rows[0]["created_at"]) / window)
        groups.setdefault(slot, []).append(row)
    out = []
    for members in groups.values():
        features = list(members[0]["values"])
        mean_abs = {f: float(np.mean([abs(m["values"][f]) for m in members])) for f in features}
        first, last = members[0]["created_at"], members[-1]["created_at"]
        out.append({"start": first.isoformat(), "end": last.isoformat(), "n": len(members),
                    "mean_abs": mean_abs})  # fmt: skip
    return out


def _ece(risks: np.ndarray, labels: np.ndarray, index: np.ndarray, bins: int) -> float:
    """sum_b n_b |mean risk_b - observed_b| / n, i.e. sum_b |sum of risks_b - sum of labels_b| / n."""
    gap = np.bincount(index, risks, minlength=bins) - np.bincount(index, labels, minlength=bins)
    return float(np.abs(gap).sum() / risks.size)


def calibration(risks: Any, labels: Any, bins: int = 5, *, q: float = 0.95, n_draws: int = 500,
                seed: int = 0, min_labels: int = MIN_LABELS) -> dict[str, Any]:  # fmt: skip
    """Expected calibration error of ``risks`` (in [0, 1]) against ``labels`` (0/1) over ``bins``
    equal-width bins: ``n``, ``ece``, ``bins`` (``lo``, ``hi``, ``n``, ``mean_risk``, ``observed``),
    ``ece_null`` (the ``q``-quantile of the ECE of labels drawn from the risks: a calibrated model),
    ``miscalibrated`` (ECE above it) and ``enough`` (at least ``min_labels`` cases)."""
    r, y = np.asarray(risks, dtype=float).ravel(), np.asarray(labels, dtype=float).ravel()
    if r.size != y.size:
        raise ValueError(f"risks ({r.size}) and labels ({y.size}) must have the same length")
    if np.any(~np.isfinite(r)) or np.any((r < 0) | (r > 1)):
        raise ValueError("risks must be probabilities in [0, 1]")
    if not np.all(np.isin(y, (0, 1))):
        raise ValueError(f"labels must be 0 or 1; got {sorted(set(y.tolist()) - {0.0, 1.0})[:5]}")
    bins, q = _positive_int(bins, "bins"), _quantile_level(q)
    edges = np.linspace(0, 1, bins + 1)
    report: dict[str, Any] = {"n": int(r.size), "enough": bool(r.size >= min_labels), "bins": []}
    if r.size == 0:
        return {**report, "ece": None, "ece_null": None, "miscalibrated": None}
    index = np.clip(np.searchsorted(edges, r, side="right") - 1, 0, bins - 1)
    for b in range(bins):
        inside = index == b
        report["bins"].append({"lo": float(edges[b]), "hi": float(edges[b + 1]), "n": int(inside.sum()),
                               "mean_risk": float(r[inside].mean()) if inside.any() else None,
                               "observed": float(y[inside].mean()) if inside.any() else None})  # fmt: skip
    ece = _ece(r, y, index, bins)
    rng = np.random.default_rng(_positive_int(seed, "seed", 0))
    null = [_ece(r, (rng.random(r.size) < r).astype(float), index, bins) for _ in range(n_draws)]
    ece_null = float(np.quantile(null, q))
    return {**report, "ece": ece, "ece_null": ece_null, "miscalibrated": bool(ece > ece_null)}


def latency_summary(values_ms: Iterable[float | None]) -> dict[str, Any]:
    """``{"n", "p50", "p99"}`` of the latencies in ``values_ms`` (None entries skipped; p's None if empty)."""
    values = np.asarray([v for v in values_ms if v is not None], dtype=float)
    if values.size == 0:
        return {"n": 0, "p50": None, "p99": None}
    p50, p99 = np.percentile(values, [50, 99])
    return {"n": int(values.size), "p50": float(p50), "p99": float(p99)}


@cache
def cardio_reference() -> Any:
    """The served cardio model's training data (``CARDIO_RECIPE``'s draw of ``make_cardio_cohort``), the
    input-drift reference: a pandas frame with the model's features."""
    from xaihealth.data import make_cardio_cohort
    from xaihealth.serving.models import CARDIO_FEATURES, CARDIO_RECIPE

    r = CARDIO_RECIPE
    return make_cardio_cohort(r["n"], seed=r["seed"], n_noise=r["n_noise"]).X[list(CARDIO_FEATURES)].copy()
