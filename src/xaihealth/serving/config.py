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

Access tokens (``XAIHEALTH_SERVING_TOKENS``): a JSON object mapping each bearer token to its :class:`Access`,
``{"<token>": {"role": "doctor", "site": "north"}, "<token2>": {"role": "data_scientist"}}``. A doctor
works at one site (and sees only its records); a data scientist has no site and reads every site's
records and the monitoring page. Required in production. In the embedded profile, when it is not given,
``tokens.json`` is made once in the data folder (owner-only, 0600) with one doctor token for each of
:data:`DEFAULT_SITES` and one data-scientist token; :func:`token_for` picks a token of a role.
"""

from __future__ import annotations

import json
import os
import re
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
    "tokens": "XAIHEALTH_SERVING_TOKENS",
}
MODEL_NAMES = ("cardio", "cxr")
ROLES = ("doctor", "data_scientist")
DEFAULT_SITES = ("north", "south")
SITE_PATTERN = r"^[A-Za-z0-9_-]{1,32}$"  # the same pattern as a case's ``site`` (app.py)
MIN_TOKEN_CHARS = 16


@dataclass(frozen=True)
class Access:
    """What a bearer token may do: its ``role`` and, for a doctor, the ``site`` whose records it sees."""

    role: str
    site: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ROLES:
            raise ValueError(f"role={self.role!r} is not a serving role; allowed: {ROLES}")
        if self.role == "doctor" and not (isinstance(self.site, str) and re.match(SITE_PATTERN, self.site)):
            raise ValueError(f"site={self.site!r}: a doctor needs a site matching {SITE_PATTERN}")
        if self.role == "data_scientist" and self.site is not None:
            raise ValueError(f"site={self.site!r}: a data scientist has no site (every site's records)")


def _checked_tokens(tokens: Any) -> dict[str, Access]:
    if not isinstance(tokens, Mapping):
        raise TypeError(f"tokens={type(tokens).__name__} must be a mapping of token -> Access")
    for token, access in tokens.items():
        if not isinstance(token, str) or len(token) < MIN_TOKEN_CHARS or not token.isprintable():
            raise ValueError(f"a token must be a printable string of at least {MIN_TOKEN_CHARS} characters")
        if not isinstance(access, Access):
            raise TypeError(f"tokens[...]={access!r} must be an Access(role, site)")
    return dict(tokens)


def parse_tokens(text: str, source: str = ENV["tokens"]) -> dict[str, Access]:
    """The tokens of JSON ``{"<token>": {"role": ..., "site": ...}}``; ``source`` names it in errors."""
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"{source} is not valid JSON ({error.msg} at character {error.pos})") from None
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{source} must be a non-empty JSON object {{token: {{role, site}}}}")
    tokens = {}
    for i, (token, entry) in enumerate(raw.items()):
        if not isinstance(entry, dict) or set(entry) - {"role", "site"} or "role" not in entry:
            raise ValueError(f"{source}: entry {i + 1} must be {{'role': ..., 'site': ...}}, got {entry!r}")
        try:
            tokens[token] = Access(entry["role"], entry.get("site"))
        except ValueError as error:
            raise ValueError(f"{source}: entry {i + 1}: {error}") from None
    try:
        return _checked_tokens(tokens)
    except ValueError as error:
        raise ValueError(f"{source}: {error}") from None


def default_tokens(sites: tuple[str, ...] = DEFAULT_SITES) -> dict[str, Access]:
    """Fresh random tokens: one doctor per site in ``sites`` and one data scientist."""
    tokens = {secrets.token_urlsafe(24): Access("doctor", site) for site in sites}
    tokens[secrets.token_urlsafe(24)] = Access("data_scientist")
    return tokens


def tokens_json(tokens: Mapping[str, Access]) -> str:
    """``tokens`` in the JSON form of ``XAIHEALTH_SERVING_TOKENS`` (what ``tokens.json`` holds)."""
    entries = {t: {"role": a.role, **({"site": a.site} if a.site else {})} for t, a in tokens.items()}
    return json.dumps(entries, indent=1)


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
    tokens: Mapping[str, Access] = field(default_factory=dict, repr=False, compare=False)
    tokens_path: str | None = field(default=None, compare=False)  # the embedded profile's tokens.json

    def __post_init__(self) -> None:
        object.__setattr__(self, "tokens", _checked_tokens(self.tokens))
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


def tokens_file(folder: Path) -> Path:
    """The embedded profile's ``tokens.json`` in ``folder``, made on first use (owner-only, 0600)."""
    path = folder / "tokens.json"
    if not path.exists():  # written aside, then linked in: a reader never sees a half-written file
        draft = folder / f".tokens-{secrets.token_hex(8)}.json"
        fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(tokens_json(default_tokens()))
        try:
            os.link(draft, path)
        except FileExistsError:  # another process (the app, the worker) made it first: keep theirs
            pass
        finally:
            draft.unlink()
    return path


def token_for(settings: Settings, role: str, site: str | None = None) -> str:
    """A token of ``settings`` with ``role`` (and, for a doctor, ``site``); ValueError if there is none."""
    if role not in ROLES:
        raise ValueError(f"role={role!r} is not a serving role; allowed: {ROLES}")
    for token, access in settings.tokens.items():
        if access.role == role and (site is None or access.site == site):
            return token
    have = sorted({(a.role, a.site or "") for a in settings.tokens.values()})
    raise ValueError(f"no token with role={role!r} and site={site!r}; the settings have {have}")


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
        missing = [ENV[k] for k in ("redis", "database", "key", "tokens") if not env.get(ENV[k])]
        if missing:
            raise ValueError(f"the production profile needs the environment variables {missing}")
        tokens = parse_tokens(env[ENV["tokens"]])
        return Settings(profile, env[ENV["database"]], env[ENV["redis"]], key.encode(), **options,
                        tokens=tokens)  # fmt: skip
    folder = Path(env.get(ENV["dir"]) or Path(tempfile.gettempdir()) / "xaihealth-serving")
    folder.mkdir(parents=True, exist_ok=True)
    path = None
    if env.get(ENV["tokens"]):
        tokens = parse_tokens(env[ENV["tokens"]])
    else:
        path = tokens_file(folder)
        tokens = parse_tokens(path.read_text(), source=str(path))
    return Settings(
        profile,
        archive_url=f"sqlite:///{folder / 'archive.sqlite'}",
        queue_url=f"sqlite:///{folder / 'queue.sqlite'}",
        pseudonym_key=key.encode() if key else _key_file(folder),
        **options,
        tokens=tokens,
        tokens_path=None if path is None else str(path),
    )
