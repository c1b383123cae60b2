"""The explanation worker: a huey task that explains one archived prediction and archives the result.

The app enqueues only the prediction's id (``explain(prediction_id)``); the worker reads the inputs back
from the archive, checks that they still hash to the archived ``input_sha256`` and that the loaded model
is the one that predicted (same sha256), explains, and writes with
:meth:`~xaihealth.serving.archive.Archive.record_explanation`, which writes once per prediction. So a job
that fails is retried (``Settings.retries`` times, ``retry_delay`` seconds apart) and a job run twice, or
retried after it had already written, leaves exactly one explanation. A job that never ran to the end (a
worker killed with ``kill -9`` after taking it off the queue, or a queue that was down when the app tried)
is found by the periodic ``sweep`` (every minute in the consumer): a prediction older than
:data:`SWEEP_AFTER_S` without an explanation is queued again.

Run it with huey's consumer (``make serve`` does)::

    huey_consumer xaihealth.serving.worker.huey -w 1

``huey`` is built on first access from the environment's :class:`~xaihealth.serving.config.Settings`:
a :class:`huey.SqliteHuey` file (embedded), :class:`huey.RedisHuey` (production) or huey's in-memory
storage (``memory://``, tests). The consumer loads the models when it starts, not at the first job.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from functools import cache
from typing import Any

from huey import Huey, MemoryHuey, RedisHuey, SqliteHuey, crontab

from xaihealth.serving.archive import Archive, input_sha256
from xaihealth.serving.config import Settings, settings_from_env

QUEUE_NAME = "xaihealth-explanations"
SWEEP_AFTER_S = 120  # a prediction this old without an explanation has lost its job: queue it again


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


def explain_and_record(rt: Runtime, prediction_id: str) -> bool:
    """Explain archived prediction ``prediction_id`` and archive it; False if it was already explained."""
    prediction = rt.archive.prediction(prediction_id)
    if prediction is None:
        raise LookupError(f"prediction_id={prediction_id!r} is not in the archive")
    if rt.archive.explanation(prediction_id) is not None:
        return False  # a retried or repeated job: done already, nothing to write
    if input_sha256(prediction["inputs"]) != prediction["input_sha256"]:
        raise RuntimeError(f"prediction {prediction_id}: its archived inputs no longer match their sha256")
    model = rt.model_for(prediction)
    start = time.perf_counter()
    result = model.explain(prediction["inputs"])
    latency_ms = (time.perf_counter() - start) * 1e3
    _, created = rt.archive.record_explanation(prediction_id, latency_ms=latency_ms, **result)
    return created


def sweep_unexplained(rt: Runtime, explain: Any, older_than_s: float = SWEEP_AFTER_S) -> int:
    """Queue ``explain`` again for every prediction without an explanation after ``older_than_s`` seconds;
    returns how many. Safe to repeat: a job for an already explained prediction writes nothing."""
    ids = rt.archive.unexplained(older_than_s)
    for prediction_id in ids:
        explain(prediction_id)
    return len(ids)


def make_queue(settings: Settings) -> Huey:
    """The huey instance of ``settings.queue_url`` (results are not stored: the archive is the result)."""
    url = settings.queue_url
    if url.startswith("sqlite:///"):
        return SqliteHuey(QUEUE_NAME, filename=url.removeprefix("sqlite:///"), results=False)
    if url.startswith(("redis://", "rediss://")):
        return RedisHuey(QUEUE_NAME, url=url, results=False)
    return MemoryHuey(QUEUE_NAME, results=False)


def build_worker(settings: Settings) -> tuple[Huey, Any]:
    """``(huey, explain)``: the queue of ``settings`` and its task ``explain(prediction_id)``."""
    huey = make_queue(settings)

    @huey.task(retries=settings.retries, retry_delay=settings.retry_delay, name="explain")
    def explain(prediction_id: str) -> bool:
        return explain_and_record(runtime(settings), prediction_id)

    @huey.periodic_task(crontab(minute="*"), name="sweep")
    def sweep() -> int:
        return sweep_unexplained(runtime(settings), explain)

    @huey.on_startup()
    def load() -> None:
        runtime(settings)

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
