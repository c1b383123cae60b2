"""The explanation worker: a huey task that explains one archived prediction and archives the result.

The app enqueues only the prediction's id (``explain(prediction_id)``); the worker reads the inputs back
from the archive, checks that they still hash to the archived ``input_sha256`` and that the loaded model
is the one that predicted (same sha256), explains, and writes with
:meth:`~xaihealth.serving.archive.Archive.record_explanation`, which writes once per prediction. So a job
that fails is retried (``Settings.retries`` times, ``retry_delay`` seconds apart) and a job run twice, or
retried after it had already written, leaves exactly one explanation.

A job that never ran to the end is not retried by huey: a worker killed with ``kill -9`` after taking it
off the queue takes the job with it, and a queue that was down when the app tried never had it. The
*sweep* finds them in the archive: every consumer process runs a sweeper thread that, every
``XAIHEALTH_SWEEP_EVERY_S`` seconds (default 60) and only while the queue is empty, queues again every
prediction older than ``XAIHEALTH_SWEEP_AFTER_S`` seconds (default :data:`SWEEP_AFTER_S`) that has no
explanation. While the queue is empty, such a prediction's job is lost or still running (then the second
run writes nothing); while the queue is saturated, the sweep waits rather than pile up duplicates. (huey's
own periodic tasks wake once a minute at most: too coarse for the fault tests, hence a thread.) A job that
failed its last retry for a reason of its own (the explainer raised) is logged and not swept again by that
process, so a prediction that cannot be explained is not retried every minute forever; one that failed
because the database or the queue was down is.

Fault injection (tests only): ``XAIHEALTH_EXPLAIN_DELAY_S`` (default 0) makes every job sleep that many
seconds between reading its inputs and explaining, so that a test can kill a worker mid-job.

Run it with huey's consumer (``make serve`` does)::

    huey_consumer xaihealth.serving.worker.huey -w 1

``huey`` is built on first access from the environment's :class:`~xaihealth.serving.config.Settings`:
a :class:`huey.SqliteHuey` file (embedded), :class:`huey.RedisHuey` (production; several consumer
processes may share it) or huey's in-memory storage (``memory://``, tests). The consumer loads the models
when it starts, not at the first job.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey
from huey.signals import SIGNAL_ERROR
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy.exc import InterfaceError, OperationalError

from xaihealth.serving.archive import Archive, input_sha256
from xaihealth.serving.config import Settings, settings_from_env

QUEUE_NAME = "xaihealth-explanations"
SWEEP_AFTER_S = 120  # a prediction this old without an explanation has lost its job: queue it again
TIMING_ENV = {
    "sweep_every_s": "XAIHEALTH_SWEEP_EVERY_S",
    "sweep_after_s": "XAIHEALTH_SWEEP_AFTER_S",
    "explain_delay_s": "XAIHEALTH_EXPLAIN_DELAY_S",
}
log = logging.getLogger(__name__)
# a job that failed for one of these found the database or the queue down: not its own fault
TRANSIENT = (OperationalError, InterfaceError, RedisConnectionError, ConnectionError, TimeoutError)


@dataclass(frozen=True)
class Timing:
    """The worker's clock: how often the sweep runs, the age at which a job counts as lost, and the
    fault-injection delay of every job (seconds)."""

    sweep_every_s: float = 60.0
    sweep_after_s: float = float(SWEEP_AFTER_S)
    explain_delay_s: float = 0.0

    def __post_init__(self) -> None:
        limits = {"sweep_every_s": (0.1, 3600), "sweep_after_s": (0, 86400), "explain_delay_s": (0, 600)}
        for name, (low, high) in limits.items():
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise ValueError(f"{name}={value!r} must be a number of seconds from {low} to {high}")


def timing_from_env(env: Mapping[str, str] | None = None) -> Timing:
    """The :class:`Timing` of the ``XAIHEALTH_SWEEP_*`` and ``XAIHEALTH_EXPLAIN_DELAY_S`` variables."""
    env = os.environ if env is None else env
    values = {}
    for name, variable in TIMING_ENV.items():
        if variable in env:
            try:
                values[name] = float(env[variable])
            except ValueError:
                raise ValueError(f"{variable}={env[variable]!r} must be a number of seconds") from None
    try:
        return Timing(**values)
    except ValueError as error:
        name = str(error).split("=")[0]
        raise ValueError(f"{TIMING_ENV[name]}: {error}") from None


@dataclass
class Runtime:
    """What a process of the service holds: its settings, the archive and the served models."""

    settings: Settings
    archive: Archive
    models: dict[str, Any]

    def model_for(self, prediction: dict[str, Any]) -> Any:
        """The loaded model that made ``prediction`` (by name), refusing another version of its weights."""
        for model in self.models.values():
            if model.card.name == prediction["model_name"]:
                if model.card.sha256 != prediction["model_sha256"]:
                    raise RuntimeError(
                        f"prediction {prediction['id']} was made by {model.card.name} with weights "
                        f"{prediction['model_sha256']}, this worker has {model.card.sha256}: not explained"
                    )
                return model
        raise RuntimeError(f"prediction {prediction['id']}: model {prediction['model_name']!r} is not served")


@cache
def runtime(settings: Settings) -> Runtime:
    """The process's :class:`Runtime` for ``settings`` (made once; loading the models takes seconds)."""
    from xaihealth.serving.models import load_models

    archive = Archive(settings.archive_url, settings.pseudonym_key)
    return Runtime(settings, archive, load_models(settings.models))


def explain_and_record(rt: Runtime, prediction_id: str, delay_s: float = 0.0) -> bool:
    """Explain archived prediction ``prediction_id`` and archive it; False if it was already explained.

    ``delay_s`` (fault injection, :class:`Timing`) sleeps between reading the inputs and explaining."""
    prediction = rt.archive.prediction(prediction_id)
    if prediction is None:
        raise LookupError(f"prediction_id={prediction_id!r} is not in the archive")
    if rt.archive.explanation(prediction_id) is not None:
        return False  # a retried or repeated job: done already, nothing to write
    if input_sha256(prediction["inputs"]) != prediction["input_sha256"]:
        raise RuntimeError(f"prediction {prediction_id}: its archived inputs no longer match their sha256")
    model = rt.model_for(prediction)
    if delay_s:
        time.sleep(delay_s)
    start = time.perf_counter()
    result = model.explain(prediction["inputs"])
    latency_ms = (time.perf_counter() - start) * 1e3
    _, created = rt.archive.record_explanation(prediction_id, latency_ms=latency_ms, **result)
    return created


def sweep_unexplained(rt: Runtime, explain: Any, older_than_s: float = SWEEP_AFTER_S,
                      skip: frozenset[str] | set[str] = frozenset()) -> int:  # fmt: skip
    """Queue ``explain`` again for every prediction without an explanation after ``older_than_s`` seconds,
    but those in ``skip``; returns how many. Safe to repeat: a job for an explained prediction writes
    nothing."""
    ids = [i for i in rt.archive.unexplained(older_than_s) if i not in skip]
    for prediction_id in ids:
        explain(prediction_id)
    return len(ids)


def sweep_forever(huey: Huey, explain: Any, rt: Runtime, timing: Timing, failed: set[str]) -> None:
    """The sweeper thread's loop: every ``timing.sweep_every_s``, while the queue is empty, queue the lost
    jobs again (:func:`sweep_unexplained`), not those in ``failed``; a database or queue that is down is
    logged and tried later."""
    passes = 0
    while True:
        time.sleep(timing.sweep_every_s)
        try:
            if huey.pending_count() > 0:
                outcome = "skipped: queue busy"
            else:
                n = sweep_unexplained(rt, explain, timing.sweep_after_s, set(failed))
                if n:
                    log.warning("sweep: queued %d explanation job(s) again (lost or still running)", n)
                outcome = f"re-queued {n}"
        except Exception:
            log.exception("sweep failed; trying again in %s s", timing.sweep_every_s)
            outcome = "failed"
        passes += 1
        log.info("sweep: pass %d done: %s", passes, outcome)  # one line a pass: what a reader or test counts


def make_queue(settings: Settings) -> Huey:
    """The huey instance of ``settings.queue_url`` (results are not stored: the archive is the result)."""
    url = settings.queue_url
    if url.startswith("sqlite:///"):
        return SqliteHuey(QUEUE_NAME, filename=url.removeprefix("sqlite:///"), results=False)
    if url.startswith(("redis://", "rediss://")):
        return RedisHuey(QUEUE_NAME, url=url, results=False)
    return MemoryHuey(QUEUE_NAME, results=False)


def build_worker(settings: Settings, timing: Timing | None = None) -> tuple[Huey, Any]:
    """``(huey, explain)``: the queue of ``settings`` and its task ``explain(prediction_id)``; a consumer
    of ``huey`` loads the models and starts one sweeper thread per process (``timing``: from the env)."""
    timing = timing_from_env() if timing is None else timing
    huey = make_queue(settings)
    sweeper = threading.Lock()  # held for good by the first worker thread of a process that starts it
    failed: set[str] = set()  # predictions whose job failed every retry, not for a connection: not swept

    @huey.task(retries=settings.retries, retry_delay=settings.retry_delay, name="explain")
    def explain(prediction_id: str) -> bool:
        return explain_and_record(runtime(settings), prediction_id, timing.explain_delay_s)

    @huey.on_startup()
    def load() -> None:  # run by each worker thread (or process) of a consumer when it starts
        rt = runtime(settings)
        if sweeper.acquire(blocking=False):
            if not log.handlers and not logging.getLogger().handlers:  # in a consumer: huey's own handler
                for handler in logging.getLogger("huey").handlers:
                    log.addHandler(handler)
                log.setLevel(logging.INFO)
            threading.Thread(target=sweep_forever, args=(huey, explain, rt, timing, failed), daemon=True,
                             name="xaihealth-sweep").start()  # fmt: skip

    @huey.signal(SIGNAL_ERROR)
    def gave_up(signal: str, task: Any, exc: Exception | None = None) -> None:
        """A job that failed its last retry for a reason of its own (the explainer, the model's weights,
        its inputs) would fail again: the sweep of this process leaves it (logged). A database or queue
        that was down (a connection error) is not the job's fault: the sweep queues it again."""
        if task.name.endswith("explain") and task.retries == 0 and not isinstance(exc, TRANSIENT):
            failed.add(task.args[0])
            log.error("explanation of %s failed every retry (%r): not swept again", task.args[0], exc)

    explain.unexplainable = failed  # what this process's sweep leaves (read by tests and the logs' reader)
    return huey, explain


@cache
def _default() -> tuple[Huey, Any]:
    return build_worker(settings_from_env())


def __getattr__(name: str) -> Any:
    """``huey`` and ``explain`` of the environment's settings, made on first access (for huey_consumer)."""
    if name == "huey":
        return _default()[0]
    if name == "explain":
        return _default()[1]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
