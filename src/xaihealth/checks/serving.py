"""Checkers for lab 07, *Explanations in production*.

Everything runs on the real archive (:class:`xaihealth.serving.archive.Archive`, SQLAlchemy on a SQLite
file in a temporary folder) and, for the queue, huey's :class:`~huey.MemoryHuey`: no server process.

- Exercise 1 (the idempotent job) is graded by planted faults, not by comparison: a retry, a crash inside
  the computation (the job must fail so that the queue retries it), a crash after the commit and before
  huey's acknowledgement (huey runs the task again), two workers racing in threads (a barrier inside the
  computation makes both compute before either writes, and fails a job that holds a lock while it
  computes), an unknown id (must raise), an id the service explained already, and an insert the database
  refuses (an OperationalError: the job must fail, not report a lost race).
- Exercises 2 and 3 (PSI, its no-drift threshold, the alert) by properties (0 on the same sample, growing
  with the shift, invariant to a monotone transform of both samples, finite with empty bins, a threshold
  that falls with the sample size and holds its false-alarm rate) and by exact comparison with the
  reference on fixed draws.
- Exercise 4 (the audit query) on an archive planted with decoys (same model name at another version,
  same version of another model, another site, a site whose name starts with the target's, predictions
  without explanation, feedback rows, rows on both ends of the time window, an explanation written days
  after its prediction), inserted in a shuffled order with three predictions at the same instant, so that
  only the order asked for (the prediction's time, then its id) passes.
- Exercise 5 (keyed pseudonyms) by exact comparison, normalisation, stability, key dependence, and a
  dictionary attack that reverses unkeyed SHA-256 pseudonyms of 7-digit record numbers and must fail on
  the student's.
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

from xaihealth.checks._core import describe, exercise, written_answer
from xaihealth.checks._reference import references

refs = references("serving")

LAB_KEY = b"lab-07-pseudonym-key-kept-apart!"
"""The lab's pseudonymisation key (a real service keeps its key out of the code and the archive)."""
FEATURES = ("age", "systolic_bp", "cholesterol", "max_hr")
WEIGHTS = {"age": 0.03, "systolic_bp": 0.01, "cholesterol": 0.004, "max_hr": -0.02}
RECORD_BLOCK = (4_200_000, 4_300_000)
"""The record numbers the lab's hospital issued recently: 7 digits, 100,000 of them."""
EXPLAIN_MS = 5.0  # the toy explainer takes this long, so a measured latency is visible
BARRIER_S = 1.5  # how long a racing worker waits inside explain for its rival to arrive


# --------------------------------------------------------------------------------------------- helpers


def lab_archive(folder: str | Path) -> Any:
    """A fresh archive on a SQLite file in ``folder`` (the real one the service uses)."""
    from xaihealth.serving.archive import Archive

    return Archive(f"sqlite:///{Path(folder) / 'archive.db'}", LAB_KEY)


def model_card() -> Any:
    from xaihealth.serving.archive import ModelCard

    return ModelCard(name="cohort-gbt", version="1.2.0", sha256="ab" * 32)


def plant_predictions(archive: Any, n: int, seed: int = 0, site: str = "north") -> list[str]:
    """Archive ``n`` predictions of generated patients; returns their ids."""
    rng = np.random.default_rng(seed)
    ids = []
    for i in range(n):
        inputs = {"age": int(rng.integers(30, 85)), "systolic_bp": int(rng.integers(100, 180)),
                  "cholesterol": int(rng.integers(150, 320)),
                  "max_hr": int(rng.integers(90, 190))}  # fmt: skip
        risk = float(1 / (1 + np.exp(-sum(WEIGHTS[k] * v for k, v in inputs.items()) + 4)))
        ids.append(archive.record_prediction(model=model_card(), inputs=inputs, patient_id=f"{4_200_000 + i}",
                                             site=site, output={"risk": round(risk, 4)}))  # fmt: skip
    return ids


def toy_explain(inputs: dict[str, Any]) -> dict[str, Any]:
    """A stand-in for TreeSHAP: weight x value per feature, taking :data:`EXPLAIN_MS` milliseconds."""
    time.sleep(EXPLAIN_MS / 1e3)
    return {"method": "linear-contributions", "parameters": {"weights": WEIGHTS},
            "attributions": {k: round(WEIGHTS[k] * float(inputs[k]), 6) for k in FEATURES},
            "background_sha256": "0" * 64}  # fmt: skip


def explanation_rows(archive: Any, prediction_id: str) -> list[dict[str, Any]]:
    """Every archived explanation of ``prediction_id`` (the checker reads the table itself)."""
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from xaihealth.serving.archive import Explanation

    with Session(archive.engine) as session:
        rows = session.scalars(select(Explanation).where(Explanation.prediction_id == prediction_id)).all()
        return [{c.key: getattr(r, c.key) for c in r.__mapper__.column_attrs} for r in rows]


class _Explainer:
    """The explain function given to the student's job: counts its calls, can fail or wait for a rival."""

    def __init__(self, fail_first: bool = False, barrier: threading.Barrier | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.fail_first, self.barrier, self.met = fail_first, barrier, True
        self._lock = threading.Lock()

    def __call__(self, inputs: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.calls.append(dict(inputs))
            fail = self.fail_first and len(self.calls) == 1
        if fail:
            raise ConnectionError("the explainer's model server dropped the connection (planted fault)")
        if self.barrier is not None:
            try:
                self.barrier.wait(timeout=BARRIER_S)
            except threading.BrokenBarrierError:
                self.met = False
        return toy_explain(inputs)


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    """Silence a library's logger (huey logs a failed task on stderr, which nbgrader scores 0)."""
    logger = logging.getLogger(name)
    saved = logger.disabled
    logger.disabled = True
    try:
        yield
    finally:
        logger.disabled = saved


def _one_row(ex: Any, archive: Any, pid: str, inputs: dict[str, Any], when: str) -> None:
    rows = explanation_rows(archive, pid)
    ex.expect(len(rows) == 1, f"{when}: the archive holds {len(rows)} explanations of the prediction, not "
                              "exactly 1")  # fmt: skip
    row = rows[0]
    want = {"method": "linear-contributions", "parameters": {"weights": WEIGHTS},
            "attributions": {k: round(WEIGHTS[k] * float(inputs[k]), 6) for k in FEATURES},
            "background_sha256": "0" * 64}  # fmt: skip
    for key, value in want.items():
        ex.expect(row[key] == value, f"{when}: the archived {key} is {row[key]!r}, not what explain returned "
                                     f"for this prediction's inputs ({value!r})")  # fmt: skip
    latency = row["latency_ms"]
    ex.expect(isinstance(latency, float) and EXPLAIN_MS * 0.8 <= latency < 2000,
              f"{when}: latency_ms={latency!r}: measure how long explain took, in milliseconds (it takes "
              f"about {EXPLAIN_MS:g} ms here)")  # fmt: skip


@contextmanager
def _insert_fails(archive: Any) -> Iterator[None]:
    """Every INSERT into explanations on ``archive.engine`` raises SQLite's OperationalError meanwhile."""
    import sqlite3

    from sqlalchemy import event

    def refuse(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO EXPLANATIONS"):
            raise sqlite3.OperationalError("database is locked (planted fault)")

    event.listen(archive.engine, "before_cursor_execute", refuse)
    try:
        yield
    finally:
        event.remove(archive.engine, "before_cursor_execute", refuse)


# ----------------------------------------------------------------------------------- Exercise 1: the job


def _run_raising(job: Callable[..., Any], *args: Any) -> BaseException | None:
    try:
        job(*args)
    except NotImplementedError:
        raise
    except Exception as err:  # noqa: BLE001 (the planted fault must surface, any type)
        return err
    return None


def graded_explain_job(ex: Any, explain_job: Callable[..., Any], folder: str, seed: int) -> None:
    """The faults of Exercise 1 on a fresh archive in ``folder`` with predictions drawn from ``seed``."""
    from huey import MemoryHuey

    archive = lab_archive(folder)
    ids = plant_predictions(archive, 6, seed=seed)
    inputs = {pid: archive.prediction(pid)["inputs"] for pid in ids}

    # a first run, then the same job again (a retry): one row, True then False, no second computation
    explain = _Explainer()
    first = ex.call(explain_job, archive, ids[0], explain)
    ex.expect(first is True, f"the first job for a prediction must write its explanation and return True "
                             f"(yours returned {describe(first)})")  # fmt: skip
    _one_row(ex, archive, ids[0], inputs[ids[0]], "after one job")
    ex.expect(explain.calls == [inputs[ids[0]]], "call explain once, with the prediction's archived inputs "
                                                 f"(yours called it with {explain.calls[:2]})")  # fmt: skip
    again = ex.call(explain_job, archive, ids[0], explain)
    ex.expect(again is False, f"a retried job must return False: the explanation was there already (yours "
                              f"returned {describe(again)})")  # fmt: skip
    _one_row(ex, archive, ids[0], inputs[ids[0]], "after the same job twice")
    ex.expect(len(explain.calls) == 1, "a retried job recomputed the explanation: look in the archive first "
                                       "(an explanation costs 10-100 predictions)")  # fmt: skip

    # an id the service explained already: nothing written, nothing computed
    archive.record_explanation(ids[1], latency_ms=1.0, **toy_explain(inputs[ids[1]]))
    explain = _Explainer()
    done = ex.call(explain_job, archive, ids[1], explain)
    ex.expect(done is False and not explain.calls and len(explanation_rows(archive, ids[1])) == 1,
              "for a prediction explained already the job must write nothing, compute nothing and return "
              "False")  # fmt: skip

    # an unknown id must raise (a job that says 'done' for it hides a lost prediction)
    unknown = "0" * 32
    err = _run_raising(explain_job, archive, unknown, _Explainer())
    ex.expect(isinstance(err, LookupError),
              f"for an unknown prediction_id the job must raise a LookupError naming it (yours: "
              f"{'returned normally' if err is None else type(err).__name__}); a job that succeeds on "
              "it hides a lost prediction")  # fmt: skip
    ex.expect(not explanation_rows(archive, unknown), "nothing may be written for an unknown id")

    # a crash inside the computation: the job must fail (so the queue retries it) and write nothing
    explain = _Explainer(fail_first=True)
    err = _run_raising(explain_job, archive, ids[2], explain)
    ex.expect(err is not None, "when explain fails the job must fail too (let the exception through): a "
                               "job that returns normally is acknowledged and never retried, so the "
                               "explanation is lost")  # fmt: skip
    ex.expect(not explanation_rows(archive, ids[2]), "explain failed, yet the job archived a row: compute "
                                                     "first, then write")  # fmt: skip
    retried = ex.call(explain_job, archive, ids[2], explain)
    ex.expect(retried is True, "the retry after a failed computation must write the explanation (True)")
    _one_row(ex, archive, ids[2], inputs[ids[2]], "after a crash and its retry")

    # the database fails the insert (SQLite's "database is locked"): not a lost race, the job must fail
    explain = _Explainer()
    with _insert_fails(archive):
        err = _run_raising(explain_job, archive, ids[5], explain)
    ex.expect(err is not None, "the database refused the insert (an OperationalError, 'database is locked'), "
                               "and your job returned normally: only the IntegrityError of the unique key "
                               "is a lost race; catch that one and let every other error through, or the "
                               "queue acknowledges a job that wrote nothing")  # fmt: skip
    ex.expect(not explanation_rows(archive, ids[5]), "the insert failed, yet a row is archived")
    retried = ex.call(explain_job, archive, ids[5], explain)
    ex.expect(retried is True, "the retry after a failed insert must write the explanation (True)")
    _one_row(ex, archive, ids[5], inputs[ids[5]], "after a failed insert and its retry")

    # a crash after the commit, before huey acknowledges the task: huey runs it again
    queue = MemoryHuey(f"lab07-check-{seed}", results=False)
    explain, lost = _Explainer(), []

    @queue.task(retries=2, retry_delay=0)
    def job(prediction_id: str) -> None:
        explain_job(archive, prediction_id, explain)
        if not lost:
            lost.append(prediction_id)
            raise ConnectionError("the worker died after the commit, before the acknowledgement (planted)")

    job(ids[3])
    with _quiet("huey"):
        runs = 0
        while (task := queue.dequeue()) is not None and runs < 5:
            queue.execute(task)
            runs += 1
    ex.expect(runs == 2, f"huey ran the task {runs} times (2 expected: the run lost before its "
                         "acknowledgement, then the retry); did the retry raise?")  # fmt: skip
    _one_row(ex, archive, ids[3], inputs[ids[3]], "after a crash between the commit and the acknowledgement")

    # two workers racing: both find no explanation and compute before either writes
    barrier = threading.Barrier(2)
    explain = _Explainer(barrier=barrier)
    results: dict[int, Any] = {}

    def worker(i: int) -> None:
        try:
            results[i] = explain_job(archive, ids[4], explain)
        except BaseException as err:  # noqa: BLE001 (reported below)
            results[i] = err

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=15)
    errors = [r for r in results.values() if isinstance(r, BaseException)]
    raised = f"{type(errors[0]).__name__}: {errors[0]}" if errors else ""
    ex.expect(not errors, f"two workers ran the job at once and one raised {raised}. Losing the race is not "
                          "an error: the other worker wrote the row; let the unique key on prediction_id "
                          "decide and report False")  # fmt: skip
    ex.expect(explain.met and len(explain.calls) == 2,
              "the two workers never computed at the same time: your job holds a lock while it explains (a "
              "threading lock, or a database transaction). A lock in one process does not exist for a worker "
              "in another, and a database lock held for the 10-100x cost of an explanation stalls every "
              "prediction the app archives meanwhile: read, compute outside any transaction, then insert and "
              "let the unique key decide")  # fmt: skip
    ex.expect(sorted(map(repr, results.values())) == ["False", "True"],
              f"of two racing workers exactly one writes (True) and the other reports False (yours: "
              f"{list(results.values())})")  # fmt: skip
    _one_row(ex, archive, ids[4], inputs[ids[4]], "after two workers raced")
    archive.engine.dispose()


def check_explain_job(explain_job: Callable[..., Any]) -> None:
    """Exercise 1: the idempotent explanation job, graded by planted faults on a fresh real archive."""
    with exercise("Exercise 1 (the idempotent explanation job)") as ex, tempfile.TemporaryDirectory() as tmp:
        graded_explain_job(ex, explain_job, tmp, seed=1)


# ----------------------------------------------------------------------------------- Exercises 2 and 3


def _value(ex: Any, out: Any, what: str) -> float:
    ex.expect(isinstance(out, float | int | np.floating) and not isinstance(out, bool),
              f"return {what} as a float (yours: {describe(out)})")  # fmt: skip
    return float(out)


def check_psi(psi: Callable[..., float]) -> None:
    """Exercise 2: PSI at the reference's quantiles, by properties and against the reference.

    0 for the same sample; growing with a mean shift; invariant (within 2 %) to a monotone transform of
    both samples (equal-width bins are not); finite with empty bins, equal to the reference with the
    stated floor; exactly the reference (1e-9) on fixed draws, 10 and 5 bins, samples of unequal size, and
    on ages rounded to 0.1 year (values on the edges: the bin side, ``side="right"``, shows).
    """
    with exercise("Exercise 2 (the population stability index)") as ex:
        rng = np.random.default_rng(21)
        ref = rng.normal(size=1500)
        same = _value(ex, ex.call(psi, ref, ref.copy()), "the PSI")
        ex.expect(abs(same) < 1e-12, f"the PSI of a sample against itself must be 0 (yours: {same:.3g})")
        for bins, cur in (
            (10, rng.normal(0.3, 1.2, size=700)),
            (5, rng.standard_t(3, size=400)),
            (10, rng.normal(-0.5, 0.8, size=2500)),
        ):
            got = _value(ex, ex.call(psi, ref, cur, bins=bins), "the PSI")
            want = refs.reference_psi(ref, cur, bins=bins)
            ex.expect(np.isclose(got, want, rtol=1e-9, atol=1e-12),
                      f"with bins={bins} and {len(cur)} current rows your PSI is {got:.6f}, not {want:.6f}: "
                      "cut the bins at the reference's quantiles, compare proportions (not counts), and sum "
                      "(current - reference) * ln(current / reference)")  # fmt: skip
        # ages recorded to 0.1 year: many values sit exactly on a quantile edge, so the bin side shows
        # (a continuous draw never lands on an edge; a binary column cannot show it either, since either
        # side puts the 0s and the 1s in two bins of the same shares)
        age = np.round(rng.normal(62, 11, size=1500), 1)
        older = np.round(rng.normal(64, 11, size=600), 1)
        got = _value(ex, ex.call(psi, age, older), "the PSI")
        want = refs.reference_psi(age, older)
        ex.expect(np.isclose(got, want, rtol=1e-9, atol=1e-12),
                  f"on ages rounded to 0.1 year your PSI is {got:.6f}, not {want:.6f}: a value equal to an "
                  "edge goes to the bin above it, np.searchsorted(edges, x, side=\"right\")")  # fmt: skip
        shifts = [0.0, 0.2, 0.5, 1.0, 2.0]
        values = [float(ex.call(psi, ref, rng.normal(s, size=3000))) for s in shifts]
        ex.expect(all(a < b for a, b in zip(values, values[1:], strict=False)),
                  f"a larger mean shift must give a larger PSI (yours for shifts {shifts}: "
                  f"{np.round(values, 4).tolist()})")  # fmt: skip
        cur = rng.normal(0.4, 1.0, size=900)
        plain, transformed = float(ex.call(psi, ref, cur)), float(ex.call(psi, np.exp(ref), np.exp(cur)))
        ex.expect(
            abs(transformed - plain) <= 0.02 * plain,
            f"PSI at the reference's quantiles depends only on the order of the values: exp() applied "
            f"to both samples moved yours from {plain:.4f} to {transformed:.4f} (equal-width bins?)",
        )
        empty = np.full(50, ref.max() + 1.0)  # every current value in the top bin: nine empty bins
        got = _value(ex, ex.call(psi, ref, empty), "the PSI")
        want = refs.reference_psi(ref, empty)
        ex.expect(np.isfinite(got) and np.isclose(got, want, rtol=1e-9),
                  f"with empty bins your PSI is {got!r}, not {want:.6f}: raise each proportion below "
                  "epsilon = 1e-4 to epsilon before the logarithm (an empty bin is not skipped)")  # fmt: skip


def check_psi_null_threshold(psi_null_threshold: Callable[..., float]) -> None:
    """Exercise 3: the no-drift threshold at the sample sizes (both samples bootstrapped from the reference).

    Exactly the reference (1e-9) on fixed draws (n, bins, q, seeds varied); about 1/n (n=50 vs n=800:
    8 to 64 times higher); at q=0.99 the share of fresh no-drift samples above it at most 5 %.
    """
    with exercise("Exercise 3 (the no-drift threshold and the alert)") as ex:
        rng = np.random.default_rng(31)
        ref = rng.gamma(2.0, size=1200)
        for n, bins, q, seed in ((200, 10, 0.99, 0), (60, 5, 0.95, 3), (800, 10, 0.99, 7)):
            got = _value(ex, ex.call(psi_null_threshold, ref, n, bins=bins, q=q, n_draws=100, seed=seed),
                         "the threshold")  # fmt: skip
            want = refs.reference_psi_null_threshold(ref, n, bins=bins, q=q, n_draws=100, seed=seed)
            ex.expect(np.isclose(got, want, rtol=1e-9),
                      f"with n={n}, bins={bins}, q={q}, seed={seed} your threshold is {got:.6f}, not "
                      f"{want:.6f}: in each of n_draws draws take a sample of the reference's size, then "
                      "one of n rows, both with rng.choice(reference, size=..., replace=True) and rng = "
                      "np.random.default_rng(seed); the PSI between them; then the q-quantile")  # fmt: skip
        small = float(ex.call(psi_null_threshold, ref, 50, n_draws=100, seed=1))
        large = float(ex.call(psi_null_threshold, ref, 800, n_draws=100, seed=1))
        ex.expect(8 < small / large < 64, f"the threshold must fall with the sample size: yours "
                                          f"is {small:.4f} at n=50 and {large:.4f} at n=800")  # fmt: skip
        threshold = float(ex.call(psi_null_threshold, ref, 150, n_draws=200, seed=2))
        fresh = refs.reference_psi_of_samples(ref, rng.gamma(2.0, size=(200, 150)))  # one stored call
        alarms = float(np.mean(np.asarray(fresh) > threshold))
        ex.expect(alarms <= 0.05, f"{alarms:.0%} of fresh no-drift samples of 150 rows exceed your q=0.99 "
                                  "threshold (about 1 % expected)")  # fmt: skip


def check_drift_alert(drift_alert: Callable[..., dict[str, Any]]) -> None:
    """Exercise 3: the alert = PSI above the threshold at the current sample's size.

    Against the reference on fixed draws (psi, threshold, alert): a small no-drift sample (30 rows, whose
    PSI is often above the 0.25 rule of thumb: 69 % of such samples in the lab's measurement), a 0.2-SD
    shift seen on 5,000 rows (PSI about 0.05, under the 0.1 rule, far above the threshold) and a 1-SD shift
    on 100 rows.
    """
    with exercise("Exercise 3 (the no-drift threshold and the alert)") as ex:
        rng = np.random.default_rng(41)
        ref = rng.normal(size=2000)
        cases = {"no drift, 30 rows": rng.normal(size=30),
                 "a 0.2-SD shift, 5000 rows": rng.normal(0.2, size=5000),
                 "a 1-SD shift, 100 rows": rng.normal(1.0, size=100)}  # fmt: skip
        for name, cur in cases.items():
            out = ex.returns(
                ex.call(drift_alert, ref, cur, n_draws=100, seed=4),
                dict,
                "a dict with psi, threshold and alert",
                keys=("psi", "threshold", "alert"),
            )
            want = refs.reference_drift_alert(ref, cur, n_draws=100, seed=4)
            ex.expect(np.isclose(float(out["psi"]), want["psi"], rtol=1e-9)
                      and np.isclose(float(out["threshold"]), want["threshold"], rtol=1e-9),
                      f"{name}: psi {out['psi']!r} and threshold {out['threshold']!r}, not "
                      f"{want['psi']:.5f} and {want['threshold']:.5f}: the threshold is taken at the current "
                      "sample's size")  # fmt: skip
            ex.expect(
                isinstance(out["alert"], bool | np.bool_) and bool(out["alert"]) == want["alert"],
                f"{name}: alert must be psi > threshold ({want['alert']}), not {out['alert']!r}",
            )


# -------------------------------------------------------------------------------- Exercise 4: the audit

AUDIT_COLUMNS = ("prediction_id", "created_at", "model_name", "model_version", "site", "output", "method",
                 "attributions")  # fmt: skip
WINDOW = (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC))


def planted_audit_records(
    target: tuple[str, str, str] = ("cohort-gbt", "1.2.0", "north"),
    window: tuple[datetime, datetime] = WINDOW,
    *,
    old_version: str = "1.1.0",
    other_model: str = "cxr-resnet",
    other_site: str = "south",
    seed: int = 0,
) -> list[dict[str, Any]]:
    """The predictions of the audit archive, in the (shuffled) order they are inserted.

    Each has its explanation (or None) and feedback count. Target: ``target`` (model name, version, site)
    in ``window``. Decoys: the same model at ``old_version`` and at the target version + ``-rc1``,
    ``other_model`` at the target version, ``other_site`` and a site named the target's + ``-annex``, the
    target without an explanation, rows at the window's start (in), its end (out) and just before it,
    feedback rows (two on one target prediction, one on a decoy), and three target predictions at the same
    instant (the tie the order's second key, the id, breaks). Explanations are written 4 s after their
    prediction, except that of an early target prediction, written 8 days later (as the sweep redoes a job
    lost in an outage), after those of later predictions. The ids are random hex, and the rows are inserted
    in an order drawn from ``seed`` in which neither the creation time nor the id increases, the tied rows
    by decreasing id: a query without the order, ordered by one key only or by the explanation's time
    returns them in another order than the one asked for.
    """
    name, version, site = target
    start, end = window
    day = timedelta(days=1)
    tie = start + 15 * day + timedelta(hours=9)
    soon, late = timedelta(seconds=4), 8 * day  # late: redone by the sweep after an outage
    specs = [  # (name, version, site, created_at, explained after (None: not), feedback)
        (name, version, site, start, soon, 0),
        (name, version, site, start + 3 * day, late, 2),
        (name, version, site, start + 10 * day + timedelta(hours=5), soon, 0),
        (name, version, site, end - timedelta(seconds=1), soon, 1),
        (name, version, site, start + 12 * day, None, 0),
        (name, version, site, end, soon, 0),
        (name, version, site, start - timedelta(microseconds=1), soon, 0),
        (name, old_version, site, start + 4 * day, soon, 1),
        (name, f"{version}-rc1", site, start + 5 * day, soon, 0),
        (other_model, version, site, start + 6 * day, soon, 0),
        (name, version, other_site, start + 7 * day, soon, 0),
        (name, version, f"{site}-annex", start + 8 * day, soon, 0),
        (name, version, other_site, start + 20 * day, soon, 3),
        (name, version, other_site, start + 21 * day, None, 0),
        (name, version, site, tie, soon, 0),
        (name, version, site, tie, soon, 1),
        (name, version, site, tie, soon, 0),
        (name, version, other_site, tie, soon, 0),
    ]
    records = []
    for i, (model, model_version, where, created, after, feedback) in enumerate(specs):
        inputs = {"age": 40 + i, "systolic_bp": 120 + 2 * i, "cholesterol": 200 + 5 * i, "max_hr": 150 - i}
        records.append({
            "id": hashlib.sha256(f"audit-{seed}-{i}".encode()).hexdigest()[:32], "created_at": created,
            "model_name": model, "model_version": model_version, "site": where, "inputs": inputs,
            "output": {"risk": round(0.05 + 0.05 * i, 2)}, "feedback": feedback,
            "explanation": ({"method": "treeshap", "created_at": created + after,
                             "attributions": {k: round(WEIGHTS[k] * v, 6) for k, v in inputs.items()}}
                            if after is not None else None),
        })  # fmt: skip
    order = [records[j] for j in np.random.default_rng(seed).permutation(len(records))]
    slots = [k for k, r in enumerate(order) if r["created_at"] == tie and r["site"] == site]
    tied = sorted((order[k] for k in slots), key=lambda r: r["id"], reverse=True)
    for k, r in zip(slots, tied, strict=True):
        order[k] = r
    shown = [r for r in order if r["model_name"] == name and r["model_version"] == version
             and r["site"] == site and r["explanation"] is not None]  # fmt: skip
    by_time = sorted(shown, key=lambda r: (r["created_at"], r["id"]))
    by_explanation = sorted(shown, key=lambda r: (r["explanation"]["created_at"], r["id"]))
    if by_time in (shown, sorted(shown, key=lambda r: r["id"]), by_explanation):  # pragma: no cover
        raise RuntimeError(f"seed={seed} plants an audit archive whose order a query need not set (checker)")
    return order


def plant_audit_archive(folder: str | Path, **planted: Any) -> tuple[Any, list[dict[str, Any]]]:
    """A fresh archive in ``folder`` holding :func:`planted_audit_records` (``**planted``), in that order."""
    from sqlalchemy.orm import Session

    from xaihealth.serving.archive import Explanation, Feedback, Prediction, input_sha256
    from xaihealth.serving.privacy import pseudonymise

    archive = lab_archive(folder)
    records = planted_audit_records(**planted)
    with Session(archive.engine) as session, session.begin():
        for i, r in enumerate(records):
            session.add(Prediction(id=r["id"], created_at=r["created_at"], model_name=r["model_name"],
                                   model_version=r["model_version"], model_sha256="cd" * 32,
                                   input_sha256=input_sha256(r["inputs"]), inputs=r["inputs"],
                                   patient_pseudonym=pseudonymise(f"{4_250_000 + i}", LAB_KEY),
                                   site=r["site"], output=r["output"]))  # fmt: skip
            session.flush()  # one INSERT per row, in this order (the rowids follow it)
        for r in records:
            if r["explanation"] is not None:
                session.add(
                    Explanation(
                        prediction_id=r["id"],
                        created_at=r["explanation"]["created_at"],
                        method=r["explanation"]["method"],
                        parameters={},
                        attributions=r["explanation"]["attributions"],
                        latency_ms=12.0,
                    )
                )
            for k in range(r["feedback"]):
                session.add(Feedback(prediction_id=r["id"], agrees=k % 2 == 0, correct_label=k % 2))
            session.flush()
    return archive, records


def _naive(value: Any) -> Any:
    return value.replace(tzinfo=None) if isinstance(value, datetime) else value


def _rows(archive: Any, statement: Any) -> list[dict[str, Any]]:
    with archive.engine.connect() as connection:
        return [dict(m) for m in connection.execute(statement).mappings().all()]


def graded_audit_query(
    ex: Any,
    audit_query: Callable[..., Any],
    archive: Any,
    records: list[dict[str, Any]],
    model_name: str,
    model_version: str,
    site: str,
    start: datetime,
    end: datetime,
) -> None:
    """Run the student's select on the planted archive and compare ids, columns and order exactly."""
    from sqlalchemy import Select

    where = (
        f"for {model_name} {model_version} at {site}, {start:%Y-%m-%d %H:%M} <= time < {end:%Y-%m-%d %H:%M}"
    )
    statement = ex.call(audit_query, model_name, model_version, site, start, end)
    ex.expect(isinstance(statement, Select), f"return a SQLAlchemy select (sqlalchemy.select(...)), not "
                                             f"{describe(statement)}; the checker runs it")  # fmt: skip
    got = _rows(archive, statement)
    want = refs.reference_audit_rows(records, model_name, model_version, site, start, end)
    ex.expect(
        not got or all(set(AUDIT_COLUMNS) <= set(row) for row in got),
        f"{where}: label the columns {list(AUDIT_COLUMNS)} (yours: {list(got[0]) if got else []})",
    )
    got_ids = [row["prediction_id"] for row in got]
    want_ids = [row[0] for row in want]
    wrong = sorted(set(got_ids) - set(want_ids))
    kinds = {r["id"]: r for r in records}
    decoys = [f"{kinds[i]['model_name']} {kinds[i]['model_version']} at {kinds[i]['site']}, "
              f"{kinds[i]['created_at']:%Y-%m-%d %H:%M:%S.%f}, "
              f"explained: {kinds[i]['explanation'] is not None}"
              for i in wrong[:2] if i in kinds]  # fmt: skip
    ex.expect(len(got_ids) == len(set(got_ids)),
              f"{where}: your query returns some predictions more than once ({len(got_ids)} rows, "
              f"{len(set(got_ids))} predictions): is a join (feedback?) multiplying the rows?")  # fmt: skip
    ex.expect(not wrong, f"{where}: your query returns predictions it should not: {decoys}")
    missing = sorted(set(want_ids) - set(got_ids))
    ex.expect(not missing, f"{where}: your query misses {len(missing)} explained predictions (at the "
                           "window's start? the window is start <= created_at < end)")  # fmt: skip
    ex.expect(got_ids == want_ids, f"{where}: order the rows by the prediction's created_at, then its id")
    for row, expected in zip(got, want, strict=True):
        values = tuple(_naive(row[c]) for c in AUDIT_COLUMNS)
        ex.expect(
            values == tuple(_naive(v) for v in expected),
            f"{where}: the columns of prediction {row['prediction_id'][:8]}... differ from the archive's "
            "(created_at is the prediction's time; method and attributions its explanation's)",
        )


def check_audit_query(audit_query: Callable[..., Any]) -> None:
    """Exercise 4: the auditor's question as a select, run on an archive planted with decoys."""
    with exercise("Exercise 4 (the audit query)") as ex, tempfile.TemporaryDirectory() as tmp:
        archive, records = plant_audit_archive(tmp)
        start, end = WINDOW
        graded_audit_query(ex, audit_query, archive, records, "cohort-gbt", "1.2.0", "north", start, end)
        graded_audit_query(ex, audit_query, archive, records, "cohort-gbt", "1.2.0", "south", start,
                           start + timedelta(days=21))  # fmt: skip
        archive.engine.dispose()


# -------------------------------------------------------------------------- Exercise 5: keyed pseudonyms


def dictionary_attack(pseudonyms: dict[str, str], block: tuple[int, int] = RECORD_BLOCK) -> dict[str, str]:
    """Reverse pseudonyms by enumerating every 7-digit record number of ``block`` through unkeyed hashes.

    The attacker knows the format and the block the hospital issues, not the key: for each candidate it
    computes sha256 (and sha1, md5) of the number (and of its normalised forms) and looks the result up.
    Returns ``{pseudonym: record number}`` for those it reversed.
    """
    wanted = {p.lower(): p for p in pseudonyms.values()}
    found: dict[str, str] = {}
    for number in range(*block):
        text = b"%07d" % number
        for digest in (hashlib.sha256(text).hexdigest(), hashlib.sha1(text).hexdigest(),
                       hashlib.md5(text).hexdigest()):  # fmt: skip
            if digest in wanted:
                found[wanted[digest]] = text.decode()
    return found


def check_pseudonym(pseudonym: Callable[[str, bytes], str]) -> None:
    """Exercise 5: HMAC-SHA256 of the normalised record number, and what an attacker without the key gets.

    Exact comparison with the reference on several ids and keys; the normalisation (white space, case);
    stability; another key gives an unrelated pseudonym (about half the 256 bits differ); a bad key or an
    empty id is refused; and the dictionary attack of :func:`dictionary_attack`, which reverses every
    unkeyed sha256 pseudonym of the planted record numbers, reverses none of the student's.
    """
    with exercise("Exercise 5 (keyed pseudonyms)") as ex:
        rng = np.random.default_rng(51)
        numbers = [f"{n:07d}" for n in rng.integers(*RECORD_BLOCK, size=12)]
        other = b"another-hospital-key-0123456789"
        for identifier, key in [(n, LAB_KEY) for n in numbers[:4]] + [
            (numbers[4], other),
            ("ab-771", LAB_KEY),
        ]:
            got = ex.call(pseudonym, identifier, key)
            ex.expect(isinstance(got, str), f"return the pseudonym as a hex string (yours: {describe(got)})")
            want = refs.reference_pseudonym(identifier, key)
            ex.expect(got == want, f"pseudonym({identifier!r}, key) is {got[:16]}..., not {want[:16]}...: "
                                   "hmac.new(key, normalised.encode('utf-8'), hashlib.sha256).hexdigest() "
                                   "with "
                                   "the record number stripped and upper-cased")  # fmt: skip
        base = ex.call(pseudonym, numbers[0], LAB_KEY)
        for variant in (f"  {numbers[0]}\n", f"\t{numbers[0]}"):
            ex.expect(
                ex.call(pseudonym, variant, LAB_KEY) == base,
                f"{variant!r} and {numbers[0]!r} are the same record: normalise before hashing",
            )
        ex.expect(
            ex.call(pseudonym, " ab-771 ", LAB_KEY) == ex.call(pseudonym, "AB-771", LAB_KEY),
            "'ab-771' and 'AB-771' are the same record: upper-case before hashing",
        )
        ex.expect(ex.call(pseudonym, numbers[0], LAB_KEY) == base, "the same id and key must give the same "
                                                                   "pseudonym every time")  # fmt: skip
        elsewhere = ex.call(pseudonym, numbers[0], other)
        bits = bin(int(base, 16) ^ int(elsewhere, 16)).count("1") if len(base) == len(elsewhere) == 64 else 0
        ex.expect(90 <= bits <= 166, f"under another key the pseudonym must be unrelated (about 128 of 256 "
                                     "bits "
                                     f"differ; yours: {bits}): is the key used?")  # fmt: skip
        for bad_id, bad_key, name in (
            ("", LAB_KEY, "an empty id"),
            ("   ", LAB_KEY, "a blank id"),
            (numbers[0], b"short", "a key of 5 bytes"),
            (numbers[0], "a text key of 32 characters......", "a str key"),
        ):
            try:
                pseudonym(bad_id, bad_key)
            except (ValueError, TypeError):
                ex.expect(True, "")
            except NotImplementedError:
                raise
            except Exception as err:  # noqa: BLE001 (the student's to fix)
                ex.fail(f"for {name} raise a ValueError or TypeError naming it, not {type(err).__name__}")
            else:
                ex.fail(f"for {name} raise a ValueError or TypeError: a pseudonym under a weak or missing "
                        "key "
                        "(or of nothing) protects nobody")  # fmt: skip
        unkeyed = {n: hashlib.sha256(n.encode()).hexdigest() for n in numbers}
        reversed_unkeyed = dictionary_attack(unkeyed)
        ex.expect(
            len(reversed_unkeyed) == len(set(numbers)),
            "the dictionary attack must reverse the unkeyed hashes (a checker error)",
        )
        yours = {n: ex.call(pseudonym, n, LAB_KEY) for n in numbers}
        reversed_yours = dictionary_attack(yours)
        ex.expect(not reversed_yours, f"enumerating the {RECORD_BLOCK[1] - RECORD_BLOCK[0]:,} record numbers "
                                      f"reversed {len(reversed_yours)} of your pseudonyms without the key: "
                                      "an unkeyed hash of a small id space is not a pseudonym")  # fmt: skip


# ------------------------------------------------------------------------------------- written answers


def check_answer_3b(answer: object) -> None:
    """Exercise 3b: is a PSI alert a reason to retrain? Marked by a person with the rubric."""
    with exercise("Exercise 3b (is an alert a reason to retrain?)") as ex:
        written_answer(
            ex,
            answer,
            "answer_3b",
            [
                ("psi", "drift", "alert"),
                ("retrain",),
                ("label", "outcome", "calibrat", "performance"),
                ("sample size", "rows", "n=", "threshold", "rule of thumb"),
            ],
            80,
        )


def check_answer_5b(answer: object) -> None:
    """Exercise 5b: what the archive proves and what pseudonyms protect; marked with the rubric."""
    with exercise("Exercise 5b (what the archive proves, what the pseudonyms protect)") as ex:
        written_answer(
            ex,
            answer,
            "answer_5b",
            [
                ("article 12", "art. 12", "record-keeping"),
                ("article 86", "art. 86", "article 26", "art. 26"),
                ("faithful", "correct", "prove"),
                ("recital 26", "personal data", "gdpr"),
                ("key",),
            ],
            120,
        )
