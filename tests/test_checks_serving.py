"""Mutation tests for the lab 07 checkers: each accepts the reference and rejects plausible mistakes."""

import hashlib
import hmac
import json
import threading
import time
from datetime import timedelta

import numpy as np
import pytest
from mutation import case_id, mutation_cases, run_case
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from xaihealth.checks import serving as sv
from xaihealth.instructor.references import serving as ref
from xaihealth.serving.archive import Explanation, Feedback, Prediction

# --- Exercise 1: the idempotent job ------------------------------------------------------------------------


def _read(archive, prediction_id):
    with Session(archive.engine) as session:
        prediction = session.get(Prediction, prediction_id)
        inputs = None if prediction is None else prediction.inputs
        done = session.scalar(select(Explanation.id).where(Explanation.prediction_id == prediction_id))
    return prediction, inputs, done


def _insert(archive, prediction_id, result, latency_ms):
    with Session(archive.engine) as session, session.begin():
        session.add(
            Explanation(
                prediction_id=prediction_id,
                method=result["method"],
                parameters=result["parameters"],
                attributions=result["attributions"],
                background_sha256=result.get("background_sha256"),
                latency_ms=latency_ms,
            )
        )


def job_check_then_insert(archive, prediction_id, explain):
    """Checks, computes, inserts, but lets the unique key's IntegrityError out: the race's loser crashes."""
    prediction, inputs, done = _read(archive, prediction_id)
    if prediction is None:
        raise LookupError(prediction_id)
    if done is not None:
        return False
    start = time.perf_counter()
    result = explain(inputs)
    _insert(archive, prediction_id, result, (time.perf_counter() - start) * 1e3)
    return True


def job_catch_everything(archive, prediction_id, explain):
    """Wraps the reference in `except Exception: return False`: hides an unknown id and a failed compute."""
    try:
        return ref.reference_explain_job(archive, prediction_id, explain)
    except Exception:  # noqa: BLE001 (the mistake under test)
        return False


def job_always_recompute(archive, prediction_id, explain):
    """No look in the archive first: recomputes on every retry (the insert's unique key saves the row)."""
    prediction, inputs, _ = _read(archive, prediction_id)
    if prediction is None:
        raise LookupError(prediction_id)
    start = time.perf_counter()
    result = explain(inputs)
    try:
        _insert(archive, prediction_id, result, (time.perf_counter() - start) * 1e3)
    except IntegrityError:
        return False
    return True


def job_write_before_compute(archive, prediction_id, explain):
    """Claims the row first with empty attributions, then computes (and cannot update an archived row)."""
    prediction, inputs, done = _read(archive, prediction_id)
    if prediction is None:
        raise LookupError(prediction_id)
    if done is not None:
        return False
    try:
        _insert(archive, prediction_id, {"method": "pending", "parameters": {}, "attributions": {}}, 0.0)
    except IntegrityError:
        return False
    explain(inputs)
    return True


def job_unknown_is_done(archive, prediction_id, explain):
    """Treats an unknown id as nothing to do (returns False instead of raising)."""
    if _read(archive, prediction_id)[0] is None:
        return False
    return ref.reference_explain_job(archive, prediction_id, explain)


def job_no_latency(archive, prediction_id, explain):
    """Archives latency_ms = 0.0 instead of measuring explain."""
    prediction, inputs, done = _read(archive, prediction_id)
    if prediction is None:
        raise LookupError(prediction_id)
    if done is not None:
        return False
    try:
        _insert(archive, prediction_id, explain(inputs), 0.0)
    except IntegrityError:
        return False
    return True


_LOCK = threading.Lock()


def job_thread_lock(archive, prediction_id, explain):
    """The reference inside a process-wide threading.Lock: passes in one process, not across workers."""
    with _LOCK:
        return ref.reference_explain_job(archive, prediction_id, explain)


def job_immediate_transaction(archive, prediction_id, explain):
    """Takes SQLite's write lock (BEGIN IMMEDIATE) before looking, and holds it while explaining."""
    with archive.engine.connect() as connection:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        try:
            found = connection.exec_driver_sql(
                "SELECT inputs FROM predictions WHERE id = ?", (prediction_id,)
            )
            row = found.first()
            if row is None:
                raise LookupError(prediction_id)
            done = connection.exec_driver_sql(
                "SELECT 1 FROM explanations WHERE prediction_id = ?", (prediction_id,)
            ).first()
            if done is not None:
                return False
            start = time.perf_counter()
            result = explain(json.loads(row[0]))
            connection.exec_driver_sql(
                "INSERT INTO explanations (prediction_id, created_at, method, parameters, background_sha256, "
                "attributions, latency_ms) VALUES (?, CURRENT_TIMESTAMP, ?, ?, ?, ?, ?)",
                (
                    prediction_id,
                    result["method"],
                    json.dumps(result["parameters"]),
                    result["background_sha256"],
                    json.dumps(result["attributions"]),
                    (time.perf_counter() - start) * 1e3,
                ),
            )
            connection.exec_driver_sql("COMMIT")
            return True
        finally:
            if connection.connection.dbapi_connection.in_transaction:
                connection.exec_driver_sql("ROLLBACK")


def job_swallows_compute_error(archive, prediction_id, explain):
    """Catches the explainer's failure and reports False: the job is acknowledged, the explanation lost."""
    prediction, inputs, done = _read(archive, prediction_id)
    if prediction is None:
        raise LookupError(prediction_id)
    if done is not None:
        return False
    try:
        result = explain(inputs)
    except ConnectionError:
        return False
    try:
        _insert(archive, prediction_id, result, 5.0)
    except IntegrityError:
        return False
    return True


def job_catches_database_errors(archive, prediction_id, explain):
    """Reports False for every SQLAlchemyError of the insert (a refused insert is not a lost race)."""
    prediction, inputs, done = _read(archive, prediction_id)
    if prediction is None:
        raise LookupError(prediction_id)
    if done is not None:
        return False
    start = time.perf_counter()
    result = explain(inputs)
    try:
        _insert(archive, prediction_id, result, (time.perf_counter() - start) * 1e3)
    except SQLAlchemyError:
        return False
    return True


def job_reports_true_on_duplicate(archive, prediction_id, explain):
    """Idempotent, but returns True whether or not it wrote."""
    ref.reference_explain_job(archive, prediction_id, explain)
    return True


JOB = mutation_cases(
    sv.check_explain_job,
    ref.reference_explain_job,
    [
        job_check_then_insert,
        job_catch_everything,
        job_always_recompute,
        job_write_before_compute,
        job_unknown_is_done,
        job_no_latency,
        job_swallows_compute_error,
        job_reports_true_on_duplicate,
        job_thread_lock,
        job_immediate_transaction,
        job_catches_database_errors,
    ],
)


@pytest.mark.parametrize(("checker", "function", "accept"), JOB, ids=case_id)
def test_explain_job_checker(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


# --- Exercise 2: PSI ---------------------------------------------------------------------------------------


def _shares(edges, x, bins, eps=1e-4):
    counts = np.bincount(np.searchsorted(edges, np.asarray(x, dtype=float), side="right"), minlength=bins)
    return np.maximum(counts / len(x), eps)


def psi_equal_width(reference, current, bins=10):
    """Equal-width bins over the reference's range: not invariant to a monotone transform."""
    reference, current = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    edges = np.linspace(reference.min(), reference.max(), bins + 1)[1:-1]
    r, c = _shares(edges, reference, bins), _shares(edges, current, bins)
    return float(np.sum((c - r) * np.log(c / r)))


def psi_current_quantiles(reference, current, bins=10):
    """Bins at the current sample's quantiles."""
    return ref.reference_psi(current, reference, bins)


def psi_no_floor(reference, current, bins=10):
    """No floor: an empty bin gives inf (or nan)."""
    reference, current = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    edges = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])
    r = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=bins) / len(reference)
    c = np.bincount(np.searchsorted(edges, current, side="right"), minlength=bins) / len(current)
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.sum((c - r) * np.log(c / r)))


def psi_skip_empty(reference, current, bins=10):
    """Skips empty bins instead of flooring them."""
    reference, current = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    edges = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])
    r = np.bincount(np.searchsorted(edges, reference, side="right"), minlength=bins) / len(reference)
    c = np.bincount(np.searchsorted(edges, current, side="right"), minlength=bins) / len(current)
    keep = (r > 0) & (c > 0)
    return float(np.sum((c[keep] - r[keep]) * np.log(c[keep] / r[keep])))


def psi_one_way_kl(reference, current, bins=10):
    """KL(current || reference) only, not the symmetrised sum."""
    reference = np.asarray(reference, dtype=float)
    edges = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])
    r, c = _shares(edges, reference, bins), _shares(edges, current, bins)
    return float(np.sum(c * np.log(c / r)))


def psi_counts(reference, current, bins=10):
    """Counts instead of proportions (samples of unequal size)."""
    reference = np.asarray(reference, dtype=float)
    edges = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])
    r = np.maximum(np.bincount(np.searchsorted(edges, reference, side="right"), minlength=bins), 1e-4)
    c = np.maximum(
        np.bincount(np.searchsorted(edges, np.asarray(current, float), side="right"), minlength=bins), 1e-4
    )
    return float(np.sum((c - r) * np.log(c / r)))


def psi_left_side(reference, current, bins=10):
    """A value equal to an edge goes to the bin below (side="left"): continuous draws never show it."""
    reference = np.asarray(reference, dtype=float)
    edges = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])

    def shares(x):
        return np.maximum(np.bincount(np.searchsorted(edges, x, side="left"), minlength=bins) / len(x), 1e-4)

    r, c = shares(reference), shares(np.asarray(current, dtype=float))
    return float(np.sum((c - r) * np.log(c / r)))


def psi_ignores_bins(reference, current, bins=10):
    """Always 10 bins."""
    return ref.reference_psi(reference, current, 10)


PSI = mutation_cases(
    sv.check_psi,
    ref.reference_psi,
    [
        psi_equal_width,
        psi_current_quantiles,
        psi_no_floor,
        psi_skip_empty,
        psi_one_way_kl,
        psi_counts,
        psi_ignores_bins,
        psi_left_side,
    ],
)


@pytest.mark.parametrize(("checker", "function", "accept"), PSI, ids=case_id)
def test_psi_checker(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


# --- Exercise 3: the threshold and the alert ---------------------------------------------------------------


def threshold_current_only(reference, n, bins=10, q=0.99, n_draws=200, seed=0):
    """Holds the reference fixed and resamples only the current side (misses the reference's noise)."""
    reference = np.asarray(reference, dtype=float)
    rng = np.random.default_rng(seed)
    return float(
        np.quantile(
            [
                ref.reference_psi(reference, rng.choice(reference, size=n, replace=True), bins)
                for _ in range(n_draws)
            ],
            q,
        )
    )


def threshold_mean(reference, n, bins=10, q=0.99, n_draws=200, seed=0):
    """The mean of the null PSI instead of its q-quantile."""
    rng = np.random.default_rng(seed)
    values = [
        ref.reference_psi(rng.choice(reference, size=len(reference)), rng.choice(reference, size=n), bins)
        for _ in range(n_draws)
    ]
    return float(np.mean(values))


def threshold_full_size(reference, n, bins=10, q=0.99, n_draws=200, seed=0):
    """Ignores n: draws samples of the reference's size."""
    return ref.reference_psi_null_threshold(reference, len(reference), bins, q, n_draws, seed)


def threshold_gaussian(reference, n, bins=10, q=0.99, n_draws=200, seed=0):
    """Draws the null samples from a normal with the reference's mean and SD, not from the reference."""
    reference = np.asarray(reference, dtype=float)
    rng = np.random.default_rng(seed)
    mu, sd = reference.mean(), reference.std()
    return float(
        np.quantile(
            [
                ref.reference_psi(rng.normal(mu, sd, len(reference)), rng.normal(mu, sd, n), bins)
                for _ in range(n_draws)
            ],
            q,
        )
    )


def threshold_rule_of_thumb(reference, n, bins=10, q=0.99, n_draws=200, seed=0):
    """The 0.25 rule of thumb whatever the sample size."""
    return 0.25


def threshold_swapped_draws(reference, n, bins=10, q=0.99, n_draws=200, seed=0):
    """Draws the current sample before the resampled reference (another draw than the lab's)."""
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_draws):
        current = rng.choice(reference, size=n, replace=True)
        values.append(
            ref.reference_psi(rng.choice(reference, size=len(reference), replace=True), current, bins)
        )
    return float(np.quantile(values, q))


THRESHOLD = mutation_cases(
    sv.check_psi_null_threshold,
    ref.reference_psi_null_threshold,
    [
        threshold_current_only,
        threshold_mean,
        threshold_full_size,
        threshold_gaussian,
        threshold_rule_of_thumb,
        threshold_swapped_draws,
    ],
)


@pytest.mark.parametrize(("checker", "function", "accept"), THRESHOLD, ids=case_id)
def test_threshold_checker(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


def alert_rule_of_thumb(reference, current, bins=10, q=0.99, n_draws=200, seed=0):
    out = ref.reference_drift_alert(reference, current, bins, q, n_draws, seed)
    return {**out, "alert": out["psi"] > 0.25}


def alert_reference_size(reference, current, bins=10, q=0.99, n_draws=200, seed=0):
    """The threshold at the reference's size instead of the current sample's."""
    value = ref.reference_psi(reference, current, bins)
    threshold = ref.reference_psi_null_threshold(reference, len(reference), bins, q, n_draws, seed)
    return {"psi": value, "threshold": threshold, "alert": value > threshold}


def alert_ignores_q(reference, current, bins=10, q=0.99, n_draws=200, seed=0):
    return ref.reference_drift_alert(reference, current, bins, 0.95, n_draws, seed)


def alert_greater_equal_string(reference, current, bins=10, q=0.99, n_draws=200, seed=0):
    """Returns the alert as the string 'yes'/'no'."""
    out = ref.reference_drift_alert(reference, current, bins, q, n_draws, seed)
    return {**out, "alert": "yes" if out["alert"] else "no"}


def alert_inverted(reference, current, bins=10, q=0.99, n_draws=200, seed=0):
    out = ref.reference_drift_alert(reference, current, bins, q, n_draws, seed)
    return {**out, "alert": not out["alert"]}


ALERT = mutation_cases(
    sv.check_drift_alert,
    ref.reference_drift_alert,
    [alert_rule_of_thumb, alert_reference_size, alert_ignores_q, alert_greater_equal_string, alert_inverted],
)


@pytest.mark.parametrize(("checker", "function", "accept"), ALERT, ids=case_id)
def test_alert_checker(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


# --- Exercise 4: the audit query ---------------------------------------------------------------------------

_COLUMNS = (
    Prediction.id.label("prediction_id"),
    Prediction.created_at,
    Prediction.model_name,
    Prediction.model_version,
    Prediction.site,
    Prediction.output,
    Explanation.method,
    Explanation.attributions,
)


def reference_audit_query(model_name, model_version, site, start, end):
    return (
        select(*_COLUMNS)
        .join(Explanation, Explanation.prediction_id == Prediction.id)
        .where(
            Prediction.model_name == model_name,
            Prediction.model_version == model_version,
            Prediction.site == site,
            Prediction.created_at >= start,
            Prediction.created_at < end,
        )
        .order_by(Prediction.created_at, Prediction.id)
    )


def audit_version_only(model_name, model_version, site, start, end):
    """Filters the version but not the model name (another model at 1.2.0 comes in)."""
    return (
        select(*_COLUMNS)
        .join(Explanation, Explanation.prediction_id == Prediction.id)
        .where(
            Prediction.model_version == model_version,
            Prediction.site == site,
            Prediction.created_at >= start,
            Prediction.created_at < end,
        )
        .order_by(Prediction.created_at, Prediction.id)
    )


def audit_outer_join(model_name, model_version, site, start, end):
    """A left outer join: predictions without an explanation come in with NULLs."""
    return (
        select(*_COLUMNS)
        .outerjoin(Explanation, Explanation.prediction_id == Prediction.id)
        .where(
            Prediction.model_name == model_name,
            Prediction.model_version == model_version,
            Prediction.site == site,
            Prediction.created_at >= start,
            Prediction.created_at < end,
        )
        .order_by(Prediction.created_at, Prediction.id)
    )


def audit_closed_window(model_name, model_version, site, start, end):
    """start <= t <= end: the prediction at the end comes in."""
    return (
        select(*_COLUMNS)
        .join(Explanation, Explanation.prediction_id == Prediction.id)
        .where(
            Prediction.model_name == model_name,
            Prediction.model_version == model_version,
            Prediction.site == site,
            Prediction.created_at.between(start, end),
        )
        .order_by(Prediction.created_at, Prediction.id)
    )


def audit_open_start(model_name, model_version, site, start, end):
    """start < t: the prediction at the start is lost."""
    return (
        select(*_COLUMNS)
        .join(Explanation, Explanation.prediction_id == Prediction.id)
        .where(
            Prediction.model_name == model_name,
            Prediction.model_version == model_version,
            Prediction.site == site,
            Prediction.created_at > start,
            Prediction.created_at < end,
        )
        .order_by(Prediction.created_at, Prediction.id)
    )


def audit_site_prefix(model_name, model_version, site, start, end):
    """site LIKE 'north%': north-annex comes in."""
    return (
        select(*_COLUMNS)
        .join(Explanation, Explanation.prediction_id == Prediction.id)
        .where(
            Prediction.model_name == model_name,
            Prediction.model_version == model_version,
            Prediction.site.like(f"{site}%"),
            Prediction.created_at >= start,
            Prediction.created_at < end,
        )
        .order_by(Prediction.created_at, Prediction.id)
    )


def audit_version_prefix(model_name, model_version, site, start, end):
    """version LIKE '1.2.0%': the release candidate comes in."""
    return (
        select(*_COLUMNS)
        .join(Explanation, Explanation.prediction_id == Prediction.id)
        .where(
            Prediction.model_name == model_name,
            Prediction.model_version.startswith(model_version),
            Prediction.site == site,
            Prediction.created_at >= start,
            Prediction.created_at < end,
        )
        .order_by(Prediction.created_at, Prediction.id)
    )


def audit_joins_feedback(model_name, model_version, site, start, end):
    """Also joins feedback (to show the clinicians' verdicts): a prediction with two verdicts comes twice."""
    return (
        select(*_COLUMNS)
        .join(Explanation, Explanation.prediction_id == Prediction.id)
        .outerjoin(Feedback, Feedback.prediction_id == Prediction.id)
        .where(
            Prediction.model_name == model_name,
            Prediction.model_version == model_version,
            Prediction.site == site,
            Prediction.created_at >= start,
            Prediction.created_at < end,
        )
        .order_by(Prediction.created_at, Prediction.id)
    )


def audit_explanation_time(model_name, model_version, site, start, end):
    """Labels the explanation's time as created_at (the window on the explanation, not the prediction)."""
    return (
        select(
            Prediction.id.label("prediction_id"),
            Explanation.created_at,
            Prediction.model_name,
            Prediction.model_version,
            Prediction.site,
            Prediction.output,
            Explanation.method,
            Explanation.attributions,
        )
        .join(Explanation, Explanation.prediction_id == Prediction.id)
        .where(
            Prediction.model_name == model_name,
            Prediction.model_version == model_version,
            Prediction.site == site,
            Explanation.created_at >= start,
            Explanation.created_at < end,
        )
        .order_by(Explanation.created_at, Prediction.id)
    )


def audit_explanation_order(model_name, model_version, site, start, end):
    """Ordered by the explanation's time, then the id: right while each job runs seconds after its
    prediction, wrong for a job the sweep redid days later (R18b)."""
    return (
        reference_audit_query(model_name, model_version, site, start, end)
        .order_by(None)
        .order_by(Explanation.created_at, Prediction.id)
    )


def audit_unordered(model_name, model_version, site, start, end):
    """Ordered by id only."""
    return (
        reference_audit_query(model_name, model_version, site, start, end)
        .order_by(None)
        .order_by(Prediction.id.desc())
    )


def audit_no_order(model_name, model_version, site, start, end):
    """No order_by: the rows come in whatever order the database stored or indexed them."""
    return reference_audit_query(model_name, model_version, site, start, end).order_by(None)


def audit_id_order(model_name, model_version, site, start, end):
    """Ordered by the id only (ids are random, not in time order)."""
    return (
        reference_audit_query(model_name, model_version, site, start, end)
        .order_by(None)
        .order_by(Prediction.id)
    )


def audit_time_order_only(model_name, model_version, site, start, end):
    """Ordered by created_at only: predictions made at the same instant come in the stored order."""
    return (
        reference_audit_query(model_name, model_version, site, start, end)
        .order_by(None)
        .order_by(Prediction.created_at)
    )


AUDIT = mutation_cases(
    sv.check_audit_query,
    reference_audit_query,
    [
        audit_version_only,
        audit_outer_join,
        audit_closed_window,
        audit_open_start,
        audit_site_prefix,
        audit_version_prefix,
        audit_joins_feedback,
        audit_explanation_time,
        audit_explanation_order,
        audit_unordered,
        audit_no_order,
        audit_id_order,
        audit_time_order_only,
    ],
)


@pytest.mark.parametrize(("checker", "function", "accept"), AUDIT, ids=case_id)
def test_audit_checker(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


# --- Exercise 5: pseudonyms --------------------------------------------------------------------------------


def _checked(record_number, key):
    if not isinstance(key, bytes) or len(key) < 16:
        raise ValueError("key")
    text = record_number.strip().upper()
    if not text:
        raise ValueError("empty")
    return text


def pseudo_unkeyed(record_number, key):
    """sha256 of the record number: reversed by enumeration."""
    return hashlib.sha256(_checked(record_number, key).encode()).hexdigest()


def pseudo_fixed_key(record_number, key):
    """HMAC under a key written in the code: the key argument is ignored."""
    _checked(record_number, key)
    return hmac.new(
        b"hard-coded-key-0000", record_number.strip().upper().encode(), hashlib.sha256
    ).hexdigest()


def pseudo_no_normalisation(record_number, key):
    _checked(record_number, key)
    return hmac.new(key, record_number.encode(), hashlib.sha256).hexdigest()


def pseudo_strip_only(record_number, key):
    _checked(record_number, key)
    return hmac.new(key, record_number.strip().encode(), hashlib.sha256).hexdigest()


def pseudo_key_concat(record_number, key):
    """sha256(key + id): keyed, but not HMAC (RFC 2104)."""
    return hashlib.sha256(key + _checked(record_number, key).encode()).hexdigest()


def pseudo_truncated(record_number, key):
    return ref.reference_pseudonym(record_number, key)[:16]


def pseudo_accepts_weak_key(record_number, key):
    """Accepts any key (a short one, a str)."""
    key = key.encode() if isinstance(key, str) else key
    text = record_number.strip().upper()
    if not text:
        raise ValueError("empty")
    return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()


def pseudo_md5(record_number, key):
    return hmac.new(key, _checked(record_number, key).encode(), hashlib.md5).hexdigest()


def pseudo_swallows_errors(record_number, key):
    """Returns "" instead of raising for a bad key or a blank id."""
    try:
        return ref.reference_pseudonym(record_number, key)
    except (ValueError, TypeError):
        return ""


PSEUDO = mutation_cases(
    sv.check_pseudonym,
    ref.reference_pseudonym,
    [
        pseudo_unkeyed,
        pseudo_fixed_key,
        pseudo_no_normalisation,
        pseudo_strip_only,
        pseudo_key_concat,
        pseudo_truncated,
        pseudo_accepts_weak_key,
        pseudo_md5,
        pseudo_swallows_errors,
    ],
)


@pytest.mark.parametrize(("checker", "function", "accept"), PSEUDO, ids=case_id)
def test_pseudonym_checker(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


def _hidden_cases():
    from xaihealth.instructor.hidden import serving as hidden

    return [
        *mutation_cases(hidden.hidden_check_explain_job, ref.reference_explain_job,
                        [m for _, m, accept in JOB if not accept]),
        *mutation_cases(hidden.hidden_check_psi, ref.reference_psi,
                        [psi_no_floor, psi_skip_empty, psi_counts, psi_ignores_bins, psi_left_side]),
        *mutation_cases(hidden.hidden_check_audit_query, reference_audit_query,
                        [m for _, m, accept in AUDIT if not accept]),
        *mutation_cases(hidden.hidden_check_pseudonym, ref.reference_pseudonym,
                        [pseudo_unkeyed, pseudo_fixed_key, pseudo_no_normalisation, pseudo_strip_only,
                         pseudo_key_concat, pseudo_truncated, pseudo_accepts_weak_key, pseudo_md5,
                         pseudo_swallows_errors]),
    ]  # fmt: skip


@pytest.mark.parametrize(("checker", "function", "accept"), _hidden_cases(), ids=case_id)
def test_hidden_checker_alone(checker, function, accept, capsys):
    """Each hidden test alone rejects the mutants of its exercise (R18: six passed the hidden tests)."""
    run_case(checker, function, accept, capsys)


def test_the_audit_archive_is_stored_out_of_order(tmp_path):
    """Neither the time nor the id increases in the stored order, and tied rows come by decreasing id."""
    tie = sv.WINDOW[0] + timedelta(days=15, hours=9)
    for seed in (0, 5):
        records = sv.planted_audit_records(seed=seed)
        times, ids = [r["created_at"] for r in records], [r["id"] for r in records]
        assert times != sorted(times) and ids != sorted(ids)
        tied = [r["id"] for r in records if r["created_at"] == tie and r["site"] == "north"]
        assert len(tied) == 3 and tied == sorted(tied, reverse=True)
    archive, stored = sv.plant_audit_archive(tmp_path)
    with archive.engine.connect() as connection:
        rowids = connection.exec_driver_sql("SELECT id FROM predictions ORDER BY rowid").scalars().all()
    archive.engine.dispose()
    assert rowids == [r["id"] for r in stored]


def test_the_attack_reverses_unkeyed_hashes_only():
    numbers = ["4200000", "4299999", "4251234"]
    assert sv.dictionary_attack({n: hashlib.sha256(n.encode()).hexdigest() for n in numbers}) == {
        hashlib.sha256(n.encode()).hexdigest(): n for n in numbers
    }
    assert sv.dictionary_attack({n: ref.reference_pseudonym(n, sv.LAB_KEY) for n in numbers}) == {}


# --- the written answers and the stubs ----------------------------------------------------------------------


@pytest.mark.parametrize("checker", [sv.check_answer_3b, sv.check_answer_5b])
def test_written_answers_reject_a_stub_and_a_keyword_list(checker):
    for answer in ("(your answer here)", "psi drift retrain label threshold article 12 gdpr key " * 20, None):
        with pytest.raises(AssertionError):
            checker(answer)


@pytest.mark.parametrize(
    ("checker", "name"),
    [
        (sv.check_explain_job, "Exercise 1"),
        (sv.check_psi, "Exercise 2"),
        (sv.check_psi_null_threshold, "Exercise 3"),
        (sv.check_drift_alert, "Exercise 3"),
        (sv.check_audit_query, "Exercise 4"),
        (sv.check_pseudonym, "Exercise 5"),
    ],
)
def test_a_stub_is_reported_as_not_done(checker, name, capsys):
    def stub(*args, **kwargs):
        raise NotImplementedError(f"{name}: replace this line with your code")

    with pytest.raises(AssertionError, match="not done yet"):
        checker(stub)


# --- the lab 07 flag rules ------------------------------------------------------------------------------


def _flags(source, exercise, lab="07"):
    from xaihealth.instructor.flags import Cell, flag_cells

    return flag_cells([Cell(source, True, exercise)], lab)


def test_lab_07_may_use_sqlalchemy_but_not_open_another_database():
    honest = "from sqlalchemy import select\nfrom sqlalchemy.orm import Session\n"
    honest += "q = select(1)\ns = Session(a.engine)"
    assert _flags(honest, "4") == {}
    assert _flags(honest, "4", lab="08") != {}  # elsewhere SQLAlchemy is still the gradebook's machinery
    for opener in (
        "from sqlalchemy import create_engine\ne = create_engine('sqlite:///x.db')",
        "import sqlalchemy\ne = sqlalchemy.engine.create_engine('sqlite:///x.db')",
        "import sqlite3\nc = sqlite3.connect('x.db')",
    ):
        assert any("tampering" in text for text in _flags(opener, "4").get("*", [])), opener


@pytest.mark.parametrize(
    ("source", "exercise"),
    [
        ("y = archive.record_explanation('p', method='m')", "1"),
        ("from xaihealth.serving.worker import explain_and_record\ny = explain_and_record(rt, 'p')", "1"),
        ("from xaihealth.serving.monitor import psi\ny = psi(a, b)", "2"),
        ("from xaihealth.serving import monitor\ny = monitor.psi_null_threshold(a, 5)", "3"),
        ("from xaihealth.serving.privacy import pseudonymise\ny = pseudonymise('1', k)", "5"),
        ("from xaihealth.serving.archive import Archive\na = Archive('sqlite:///g.db', k)", "4"),
        ("from xaihealth.checks.serving import lab_archive\na = lab_archive('/somewhere')", "1"),
    ],
)
def test_lab_07_flags_the_services_own_versions(source, exercise):
    assert any("not your own implementation" in text for text in _flags(source, exercise)[exercise])


def test_hmac_is_the_tool_of_exercise_5_not_a_flag():
    assert _flags("import hmac, hashlib\ny = hmac.new(k, b'1', hashlib.sha256).hexdigest()", "5") == {}
