"""The service's profile, read from environment variables and validated before anything starts.

Two profiles, the same code (DESIGN §14):

- ``embedded`` (default): the archive is a SQLite file and the queue is a :class:`huey.SqliteHuey` file,
  both in ``XAIHEALTH_SERVING_DIR`` (default: ``xaihealth-serving`` in the system's temporary folder).
  Nothing to install or start besides the app and the worker (``make serve``).
- ``production``: the queue is Redis (``XAIHEALTH_REDIS_URL``, several workers may consume it) and the
  archive is PostgreSQL (``XAIHEALTH_DATABASE_URL``, a SQLAlchemy URL ``postgresql+psycopg://...``).

Also: ``XAIHEALTH_SERVING_MODELS`` (comma-separated, default ``cardio,cxr``), ``XAIHEALTH_EXPLAIN_RETRIES``
(default 3) and ``XAIHEALTH_EXPLAIN_RETRY_DELAY`` (seconds, default 2) for a failed explanation job.

The pseudonymisation key (``XAIHEALTH_PSEUDONYM_KEY``, at least 32 characters) must be given in
production. In the embedded profile, when it is not given, a random key is made once and kept in
``pseudonym.key`` in the data folder (readable by its owner only), so that pseudonyms stay stable across
restarts of one installation and differ between installations.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROFILES = ("embedded", "production")
MIN_KEY_CHARS = 32
ENV = {
    "profile": "XAIHEALTH_SERVING_PROFILE",
    "dir": "XAIHEALTH_SERVING_DIR",
    "key": "XAIHEALTH_PSEUDONYM_KEY",
    "redis": "XAIHEALTH_REDIS_URL",
    "database": "XAIHEALTH_DATABASE_URL",
    "retries": "XAIHEALTH_EXPLAIN_RETRIES",
    "retry_delay": "XAIHEALTH_EXPLAIN_RETRY_DELAY",
    "models": "XAIHEALTH_SERVING_MODELS",
}
MODEL_NAMES = ("cardio", "cxr")


@dataclass(frozen=True)
class Settings:
    """Where the service keeps its archive and queue, and the key of its pseudonyms.

    ``queue_url`` is ``sqlite:///path`` (SqliteHuey), ``redis://...`` (RedisHuey) or ``memory://``
    (huey's in-process storage, for tests). ``archive_url`` is a SQLAlchemy URL.
    """

    profile: str
    archive_url: str
    queue_url: str
    pseudonym_key: bytes = field(repr=False)
    retries: int = 3
    retry_delay: float = 2.0
    models: tuple[str, ...] = MODEL_NAMES

    def __post_init__(self) -> None:
        if self.profile not in PROFILES:
            raise ValueError(f"profile={self.profile!r} is not a serving profile; allowed: {PROFILES}")
        if not self.queue_url.startswith(("sqlite:///", "redis://", "rediss://", "memory://")):
            raise ValueError(
                f"queue_url={self.queue_url!r} must start with sqlite:///, redis://, rediss:// or memory://"
            )
        if not self.archive_url.startswith(("sqlite://", "postgresql")):
            raise ValueError(
                f"archive_url={self.archive_url!r} must be a SQLAlchemy URL for SQLite (sqlite:///file) or "
                "PostgreSQL (postgresql+psycopg://user@host/db)"
            )
        if not isinstance(self.pseudonym_key, bytes) or len(self.pseudonym_key) < MIN_KEY_CHARS:
            raise ValueError(f"pseudonym_key must be bytes of at least {MIN_KEY_CHARS} characters")
        if not isinstance(self.retries, int) or not 0 <= self.retries <= 20:
            raise ValueError(f"retries={self.retries!r} must be an integer from 0 to 20")
        if not isinstance(self.retry_delay, int | float) or not 0 <= self.retry_delay <= 600:
            raise ValueError(f"retry_delay={self.retry_delay!r} must be a number of seconds from 0 to 600")
        if not self.models or not set(self.models) <= set(MODEL_NAMES):
            raise ValueError(f"models={self.models!r} must be a non-empty subset of {MODEL_NAMES}")


def _key_file(folder: Path) -> bytes:
    """The embedded profile's pseudonymisation key, made on first use and kept in ``folder``."""
    path = folder / "pseudonym.key"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def _parsed(env: Mapping[str, str], option: str, default: str, kind: type, allowed: str) -> Any:
    text = env.get(ENV[option], default)
    try:
        return kind(text)
    except ValueError:
        raise ValueError(f"{ENV[option]}={text!r} must be {allowed}") from None


def settings_from_env(env: Mapping[str, str] | None = None) -> Settings:
    """The :class:`Settings` named by the ``XAIHEALTH_*`` variables of ``env`` (default: ``os.environ``)."""
    env = os.environ if env is None else env
    profile = env.get(ENV["profile"], "embedded")
    if profile not in PROFILES:
        raise ValueError(f"{ENV['profile']}={profile!r} is not a serving profile; allowed: {PROFILES}")
    options = {
        "retries": _parsed(env, "retries", "3", int, "an integer from 0 to 20"),
        "retry_delay": _parsed(env, "retry_delay", "2", float, "a number of seconds from 0 to 600"),
        "models": tuple(name.strip() for name in env.get(ENV["models"], ",".join(MODEL_NAMES)).split(",")),
    }
    key = env.get(ENV["key"], "")
    if profile == "production":
        missing = [ENV[k] for k in ("redis", "database", "key") if not env.get(ENV[k])]
        if missing:
            raise ValueError(f"the production profile needs the environment variables {missing}")
        return Settings(profile, env[ENV["database"]], env[ENV["redis"]], key.encode(), **options)
    folder = Path(env.get(ENV["dir"]) or Path(tempfile.gettempdir()) / "xaihealth-serving")
    folder.mkdir(parents=True, exist_ok=True)
    return Settings(
        profile,
        archive_url=f"sqlite:///{folder / 'archive.sqlite'}",
        queue_url=f"sqlite:///{folder / 'queue.sqlite'}",
        pseudonym_key=key.encode() if key else _key_file(folder),
        **options,
    )
