"""Reference implementations for the checkers of :mod:`xaihealth.checks.serving` (instructor-only).

The checkers reach them only through ``xaihealth.checks._reference.references("serving")``, which in a
student release replays the values these functions returned when the solutions were checked. So every
reference here takes plain values (ids, arrays, planted records, keys) and returns plain values; the
idempotent job (Exercise 1) is written against a live archive and is graded by its properties, its
reference is only run by the mutation tests.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

import numpy as np

PSI_EPSILON = 1e-4  # the floor of an empty bin's proportion (the lab states it)


def reference_explain_job(archive: Any, prediction_id: str, explain: Callable[[Any], dict[str, Any]]) -> bool:
    """Explain archived prediction ``prediction_id`` once: True if this call wrote the row, else False.

    Reads the prediction (LookupError if unknown), returns False without computing if it is explained
    already, computes, then inserts in one transaction and lets the unique key on ``prediction_id`` decide
    a race: the loser's IntegrityError is rolled back and reported as False. Any other error propagates
    (the queue retries the job).
    """
    from sqlalchemy import select
    from sqlalchemy.exc import IntegrityError
    from sqlalchemy.orm import Session

    from xaihealth.serving.archive import Explanation, Prediction

    with Session(archive.engine) as session:
        prediction = session.get(Prediction, prediction_id)
        if prediction is None:
            raise LookupError(f"prediction_id={prediction_id!r} is not in the archive")
        inputs = prediction.inputs
        done = session.scalar(select(Explanation.id).where(Explanation.prediction_id == prediction_id))
    if done is not None:
        return False
    start = time.perf_counter()
    result = explain(inputs)
    latency_ms = (time.perf_counter() - start) * 1e3
    row = Explanation(prediction_id=prediction_id, method=result["method"], parameters=result["parameters"],
                      attributions=result["attributions"], background_sha256=result.get("background_sha256"),
                      latency_ms=latency_ms)  # fmt: skip
    try:
        with Session(archive.engine) as session, session.begin():
            session.add(row)
    except IntegrityError:
        return False
    return True


def _edges(reference: np.ndarray, bins: int) -> np.ndarray:
    return np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])


def reference_psi(reference: Sequence[float], current: Sequence[float], bins: int = 10) -> float:
    """PSI = sum_i (c_i - r_i) ln(c_i / r_i) over ``bins`` bins cut at the reference's quantiles.

    Proportions below :data:`PSI_EPSILON` are raised to it (an empty bin would give an infinite PSI).
    A value lands in bin ``searchsorted(edges, x, side="right")``.
    """
    reference, current = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    edges = _edges(reference, bins)

    def shares(x: np.ndarray) -> np.ndarray:
        counts = np.bincount(np.searchsorted(edges, x, side="right"), minlength=bins)
        return np.maximum(counts / len(x), PSI_EPSILON)

    r, c = shares(reference), shares(current)
    return float(np.sum((c - r) * np.log(c / r)))


def reference_psi_of_samples(reference: Sequence[float], samples: np.ndarray, bins: int = 10) -> np.ndarray:
    """The PSI of each row of ``samples`` against ``reference`` (one call, so a release stores one value)."""
    return np.array([reference_psi(reference, row, bins) for row in np.asarray(samples, dtype=float)])


def reference_psi_null_threshold(reference: Sequence[float], n: int, bins: int = 10, q: float = 0.99,
                                 n_draws: int = 200, seed: int = 0) -> float:  # fmt: skip
    """The q-quantile of the PSI between two samples drawn with replacement from the reference, one of its
    own size and one of ``n`` rows, ``n_draws`` times (``rng = default_rng(seed)``; in each draw
    ``rng.choice(reference, size=len(reference), replace=True)`` then ``rng.choice(reference, size=n,
    replace=True)``): the no-drift null of a PSI whose reference is itself a sample.

    Resampling only the current side (the reference held fixed) misses the reference's own sampling noise
    (about (bins - 1)(1/n + 1/N) rather than (bins - 1)/n): with a reference of 2,000 rows it flagged 38
    of 50 no-drift samples of 5,000 rows in the lab (base seed 0).
    """
    reference = np.asarray(reference, dtype=float)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_draws):
        resampled = rng.choice(reference, size=len(reference), replace=True)
        values.append(reference_psi(resampled, rng.choice(reference, size=n, replace=True), bins))
    return float(np.quantile(values, q))


def reference_drift_alert(reference: Sequence[float], current: Sequence[float], bins: int = 10,
                          q: float = 0.99, n_draws: int = 200, seed: int = 0) -> dict[str, Any]:  # fmt: skip
    """``{"psi", "threshold", "alert"}``: the threshold at the current sample's size; alert if psi > it."""
    value = reference_psi(reference, current, bins)
    threshold = reference_psi_null_threshold(reference, len(current), bins, q, n_draws, seed)
    return {"psi": value, "threshold": threshold, "alert": bool(value > threshold)}


AUDIT_COLUMNS = ("prediction_id", "created_at", "model_name", "model_version", "site", "output", "method",
                 "attributions")  # fmt: skip


def reference_audit_rows(planted: Sequence[dict[str, Any]], model_name: str, model_version: str, site: str,
                         start: datetime, end: datetime) -> list[tuple]:  # fmt: skip
    """What the audit query must return on a planted archive, computed from the planted records.

    ``planted`` holds one dict per prediction (its columns, and ``"explanation"``: None or the dict of its
    explanation). The rows: explained predictions of that model name and version at that site with
    ``start <= created_at < end``, as tuples in :data:`AUDIT_COLUMNS` order, by created_at then id.
    """
    rows = [(p["id"], p["created_at"], p["model_name"], p["model_version"], p["site"], p["output"],
             p["explanation"]["method"], p["explanation"]["attributions"])
            for p in planted
            if p["explanation"] is not None and p["model_name"] == model_name
            and p["model_version"] == model_version and p["site"] == site
            and start <= p["created_at"] < end]  # fmt: skip
    return sorted(rows, key=lambda r: (r[1], r[0]))


def normalise_record_number(identifier: str) -> str:
    """The lab's normalisation: surrounding white space removed, letters upper-cased."""
    if not isinstance(identifier, str):
        raise TypeError(f"identifier={identifier!r} must be a string, not {type(identifier).__name__}")
    text = identifier.strip().upper()
    if not text:
        raise ValueError(f"identifier={identifier!r} is empty once white space is removed")
    return text


def reference_pseudonym(identifier: str, key: bytes) -> str:
    """Hex HMAC-SHA256 (RFC 2104) of the normalised identifier's UTF-8 bytes under ``key``."""
    if not isinstance(key, bytes) or len(key) < 16:
        raise ValueError(f"key must be bytes of 16 or more (got {type(key).__name__} of length "
                         f"{len(key) if hasattr(key, '__len__') else '?'})")  # fmt: skip
    return hmac.new(key, normalise_record_number(identifier).encode("utf-8"), hashlib.sha256).hexdigest()
