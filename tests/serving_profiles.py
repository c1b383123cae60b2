"""Module 07's service as real processes, on either profile, for the end-to-end and fault tests.

- ``embedded``: SQLite archive and SqliteHuey queue in a fresh folder (nothing else to run).
- ``production``: PostgreSQL archive and Redis queue, at ``XAIHEALTH_TEST_DATABASE_URL`` and
  ``XAIHEALTH_TEST_REDIS_URL`` (``.ci/run`` starts both and exports them). Each use gets a fresh
  PostgreSQL schema (``search_path`` in the URL), dropped afterwards, so reruns and other tests (which use
  the database's ``public`` schema) never see its rows; the Redis queue is flushed before and after.
  Without those URLs the production cases skip, except under CI (``CI`` set), where they fail.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from helpers import ROOT

from xaihealth.serving.archive import Archive
from xaihealth.serving.config import default_tokens, settings_from_env, token_for, tokens_json
from xaihealth.serving.worker import make_queue

PROFILES = ("embedded", "production")
START_S = 180  # generous: each process trains the cohort model (seconds) on a shared 2-core machine
CASE = {"model": "cardio", "patient_id": "MRN 5550001", "site": "north",
        "features": dict(age=58.0, male=0, bmi=24.5, sbp=128, chol=5.1, smoker=0, diabetes=1, qtc=455,
                         qt_drug=1, site=1)}  # fmt: skip


def production_urls() -> tuple[str, str]:
    """``(database_url, redis_url)`` of the test services; skip without them (fail under CI)."""
    database, redis = (os.environ.get(f"XAIHEALTH_TEST_{name}_URL") for name in ("DATABASE", "REDIS"))
    if not (database and redis):
        why = ("the production profile needs XAIHEALTH_TEST_DATABASE_URL=postgresql+psycopg://... and "
               "XAIHEALTH_TEST_REDIS_URL=redis://... (.ci/run starts both)")  # fmt: skip
        if os.environ.get("CI"):
            pytest.fail(f"under CI {why}")
        pytest.skip(why)
    return database, redis


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def busy_port():
    """A loopback port that something listens on (a service cannot bind it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@contextlib.contextmanager
def fresh_schema(database_url: str):
    """A new schema in ``database_url``'s database; yields the URL whose connections use it; drops it."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(database_url, pool_pre_ping=True)
    with admin.begin() as connection:
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    url = sa.engine.make_url(database_url).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


@contextlib.contextmanager
def profile_env(profile: str, folder: Path, **extra: str):
    """The environment of a service of ``profile`` keeping its files in ``folder`` (plus ``extra``)."""
    env = dict(os.environ, XAIHEALTH_SERVING_DIR=str(folder), XAIHEALTH_SERVING_MODELS="cardio",
               OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", **extra)  # fmt: skip
    for name in ("XAIHEALTH_SERVING_PROFILE", "XAIHEALTH_DATABASE_URL", "XAIHEALTH_REDIS_URL",
                 "XAIHEALTH_SERVING_TOKENS", "XAIHEALTH_PSEUDONYM_KEY"):  # fmt: skip
        env.pop(name, None)
    if profile == "embedded":
        yield env
        return
    database, redis = production_urls()
    with fresh_schema(database) as url:
        env.update(XAIHEALTH_SERVING_PROFILE="production", XAIHEALTH_DATABASE_URL=url,
                   XAIHEALTH_REDIS_URL=redis, XAIHEALTH_PSEUDONYM_KEY=secrets.token_hex(32),
                   XAIHEALTH_SERVING_TOKENS=tokens_json(default_tokens()))  # fmt: skip
        queue = make_queue(settings_from_env(env))
        queue.flush()
        try:
            yield env
        finally:
            queue.flush()


def archive(env: dict[str, str]) -> Archive:
    """The archive of the service of ``env`` (its tables made if missing)."""
    settings = settings_from_env(env)
    return Archive(settings.archive_url, settings.pseudonym_key)


def doctor(env: dict[str, str], site: str = "north") -> dict[str, str]:
    """The headers of a doctor of ``site`` of the service of ``env``."""
    return {"Authorization": f"Bearer {token_for(settings_from_env(env), 'doctor', site)}"}


class Processes:
    """Named processes of one service (``start``), their output in ``folder/<name>.log``; ``stop_all``."""

    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.env, self.folder, self.procs = env, folder, {}

    def start(self, name: str, command: list[str], **env: str) -> subprocess.Popen:
        """Start ``command`` as ``name``, with the service's environment plus ``env``."""
        log = open(self.folder / f"{name}.log", "ab")
        self.procs[name] = subprocess.Popen(command, cwd=ROOT, env={**self.env, **env}, stdout=log,
                                            stderr=subprocess.STDOUT)  # fmt: skip
        log.close()
        return self.procs[name]

    def log(self, name: str) -> str:
        return (self.folder / f"{name}.log").read_text(errors="replace")

    def logs(self) -> str:
        return "\n".join(f"--- {name}\n{self.log(name)[-3000:]}" for name in self.procs)

    def kill(self, name: str) -> None:
        """``kill -9`` the process ``name``."""
        self.procs[name].send_signal(signal.SIGKILL)
        self.procs[name].wait(timeout=30)

    def stop_all(self) -> dict[str, int]:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        return {name: proc.wait(timeout=60) for name, proc in self.procs.items()}

    def wait_until(self, condition, timeout: float, what: str, alive: tuple[str, ...] = ()) -> None:
        """Poll ``condition()`` until true; fail after ``timeout`` s or if a process of ``alive`` exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name in alive:
                code = self.procs[name].poll()
                assert code is None, f"{name} exited with {code} while waiting for {what}\n{self.logs()}"
            try:
                if condition():
                    return
            except httpx.TransportError:
                pass
            time.sleep(0.3)
        pytest.fail(f"no {what} within {timeout} s\n{self.logs()}")
