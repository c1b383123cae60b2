"""The audit archive: append-only records of predictions, their explanations and clinicians' feedback.

Three tables (SQLAlchemy 2 models, the same on SQLite and PostgreSQL):

- ``predictions``: when, which model (name, version and the sha256 of its weights), the input (features
  or image, which the worker explains, so that a lost job can be redone) and its sha256, the pseudonymised
  patient, the site, the output, the note with its identifiers masked, and the time the app took to
  answer (``latency_ms``, nullable: rows archived before it was recorded have none);
- ``explanations``: at most one per prediction (a unique key on ``prediction_id``), with the method, its
  parameters, the sha256 of the background data, the attributions and the time it took;
- ``feedback``: a clinician's verdict on a prediction (agree or not, the correct label if known).

*Append-only*, twice over: the ORM refuses to flush an update or a delete of an archived row
(:class:`AppendOnlyError`), and the database itself refuses ``UPDATE`` and ``DELETE`` on the three tables
(triggers), so that a raw SQL statement cannot rewrite the record either: on SQLite an insert whose id
(or, for explanations, prediction id) is already archived is refused before conflict resolution, so
``INSERT OR REPLACE``/``REPLACE INTO`` cannot swap a row; on PostgreSQL ``ON CONFLICT DO UPDATE`` is an
update (refused) and ``TRUNCATE`` is refused by a statement trigger. Opening an archive creates any
trigger it lacks (an archive made before a trigger was added gets it; PostgreSQL >= 14 for ``CREATE OR
REPLACE TRIGGER``). Outside the guarantee: on PostgreSQL the tables' owner can ``DROP TRIGGER``, so
production should connect with a role that holds only INSERT and SELECT on the tables and owns nothing;
SQLite has no roles, so there the file's permissions are the boundary: any process that can write the
file can ``DROP TRIGGER`` or ``DROP TABLE``.

*Idempotent*: :meth:`Archive.record_explanation` inserts the explanation of a prediction once; a second
call for the same prediction (a retried job, two workers racing) leaves the first row and reports that
nothing was written. Raw patient identifiers never reach the database: :meth:`Archive.record_prediction`
stores the keyed pseudonym (:func:`xaihealth.serving.privacy.pseudonymise`) and the masked note.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    String,
    Text,
    create_engine,
    event,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from xaihealth.serving.privacy import mask_identifiers, mask_pseudonym, pseudonymise


class AppendOnlyError(RuntimeError):
    """An archived row was about to be updated or deleted."""


class Base(DeclarativeBase):
    pass


def _now() -> datetime:
    return datetime.now(UTC)


class Prediction(Base):
    __tablename__ = "predictions"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    model_name: Mapped[str] = mapped_column(String(64))
    model_version: Mapped[str] = mapped_column(String(32))
    model_sha256: Mapped[str] = mapped_column(String(64))
    input_sha256: Mapped[str] = mapped_column(String(64))
    inputs: Mapped[Any] = mapped_column(JSON)  # clinical features or image only: no identifier
    patient_pseudonym: Mapped[str] = mapped_column(String(64), index=True)
    site: Mapped[str] = mapped_column(String(32), index=True)
    output: Mapped[dict[str, Any]] = mapped_column(JSON)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Float, nullable=True)


class Explanation(Base):
    __tablename__ = "explanations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prediction_id: Mapped[str] = mapped_column(ForeignKey("predictions.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    method: Mapped[str] = mapped_column(String(64))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON)
    background_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    attributions: Mapped[dict[str, Any]] = mapped_column(JSON)
    latency_ms: Mapped[float] = mapped_column(Float)


class Feedback(Base):
    __tablename__ = "feedback"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    prediction_id: Mapped[str] = mapped_column(ForeignKey("predictions.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=_now)
    agrees: Mapped[bool] = mapped_column(Boolean)
    correct_label: Mapped[int | None] = mapped_column(Integer, nullable=True)
    comment: Mapped[str | None] = mapped_column(Text, nullable=True)


TABLES = (Prediction, Explanation, Feedback)

# --- append-only in the database itself -----------------------------------------------------------------
_PG_FUNCTION = (  # %: plpgsql's placeholder
    "CREATE OR REPLACE FUNCTION xaihealth_append_only() RETURNS trigger AS $$ BEGIN "
    "RAISE EXCEPTION 'append-only archive: % on % is refused', TG_OP, TG_TABLE_NAME; END $$ "
    "LANGUAGE plpgsql"
)


def _triggers(dialect: str) -> dict[str, str]:
    """The append-only triggers of ``dialect`` (``sqlite`` or ``postgresql``; none for another): name ->
    the statement that creates it if missing (SQLite ``IF NOT EXISTS``, PostgreSQL >= 14 ``OR REPLACE``,
    so that two processes opening the archive at once do not clash)."""
    triggers = {}
    for model in TABLES:
        name = model.__tablename__
        if dialect == "sqlite":
            for op in ("UPDATE", "DELETE"):
                triggers[f"{name}_no_{op.lower()}"] = (
                    f"CREATE TRIGGER IF NOT EXISTS {name}_no_{op.lower()} BEFORE {op} ON {name} BEGIN "
                    f"SELECT RAISE(ABORT, 'append-only archive: {op} on {name} is refused'); END"
                )
            # INSERT OR REPLACE / REPLACE INTO deletes the old row without firing DELETE triggers (unless
            # recursive_triggers is on): refuse, before conflict resolution, an insert that would replace one.
            clash = f"id = NEW.id{' OR prediction_id = NEW.prediction_id' if model is Explanation else ''}"
            triggers[f"{name}_no_replace"] = (
                f"CREATE TRIGGER IF NOT EXISTS {name}_no_replace BEFORE INSERT ON {name} "
                f"WHEN EXISTS (SELECT 1 FROM {name} WHERE {clash}) BEGIN "
                f"SELECT RAISE(ABORT, 'append-only archive: replacing a row of {name} is refused'); END"
            )
        elif dialect == "postgresql":
            triggers[f"{name}_append_only"] = (
                f"CREATE OR REPLACE TRIGGER {name}_append_only BEFORE UPDATE OR DELETE ON {name} "
                "FOR EACH ROW EXECUTE FUNCTION xaihealth_append_only()"
            )
            triggers[f"{name}_no_truncate"] = (  # row triggers do not fire on TRUNCATE
                f"CREATE OR REPLACE TRIGGER {name}_no_truncate BEFORE TRUNCATE ON {name} "
                "FOR EACH STATEMENT EXECUTE FUNCTION xaihealth_append_only()"
            )
    return triggers


def _existing_triggers(connection: Any) -> set[str]:
    """Names of the triggers on the archive's tables."""
    if connection.dialect.name == "sqlite":
        query = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
    else:
        tables = ", ".join(f"'{model.__tablename__}'::regclass" for model in TABLES)
        query = f"SELECT tgname FROM pg_trigger WHERE NOT tgisinternal AND tgrelid IN ({tables})"
    return set(connection.execute(text(query)).scalars())


@event.listens_for(Session, "before_flush")
def _refuse_changes(session: Session, flush_context: Any, instances: Any) -> None:
    """The ORM layer of append-only: no archived row is ever updated or deleted through a session."""
    for obj in list(session.dirty) + list(session.deleted):
        if isinstance(obj, TABLES) and (obj in session.deleted or session.is_modified(obj)):
            raise AppendOnlyError(f"append-only archive: {type(obj).__name__} {obj.id!r} cannot be changed")


def _sqlite_pragmas(dbapi_connection: Any, connection_record: Any) -> None:
    """WAL lets the app read while the worker writes; wait (not fail) when the other process holds a lock."""
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "busy_timeout=10000", "foreign_keys=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def input_sha256(inputs: Any) -> str:
    """sha256 of the canonical JSON of a request's inputs (sorted keys, no spaces)."""
    text = json.dumps(inputs, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


@dataclass(frozen=True)
class ModelCard:
    """What the archive records of the model behind a prediction."""

    name: str
    version: str
    sha256: str


def _limit(limit: Any) -> int:
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 100_000:
        raise ValueError(f"limit={limit!r} must be an integer from 1 to 100000")
    return limit


def _row(obj: Base) -> dict[str, Any]:
    return {column.key: getattr(obj, column.key) for column in obj.__mapper__.column_attrs}


class Archive:
    """The archive at SQLAlchemy URL ``url``; tables, columns and triggers are created if missing."""

    def __init__(self, url: str, pseudonym_key: bytes) -> None:
        if not isinstance(url, str) or not url:
            raise TypeError(f"url={url!r} must be a SQLAlchemy database URL")
        self._key = pseudonym_key
        pseudonymise("check", pseudonym_key)  # refuses a bad key now, not at the first request
        self.engine = create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        Base.metadata.create_all(self.engine)
        self._add_missing_columns()
        self._add_missing_triggers()

    def _add_missing_columns(self) -> None:
        """An archive made before ``predictions.latency_ms`` existed gets the (nullable) column; adding a
        column rewrites no row, so the append-only triggers do not object."""
        if "latency_ms" not in {c["name"] for c in inspect(self.engine).get_columns("predictions")}:
            with self.engine.begin() as connection:
                connection.execute(text("ALTER TABLE predictions ADD COLUMN latency_ms FLOAT"))

    def _add_missing_triggers(self) -> None:
        """Create the append-only triggers the archive lacks (all of them with new tables; those added
        since for an older archive). With every trigger there, nothing is created: a role that may not
        create triggers can open a complete archive."""
        wanted = _triggers(self.engine.dialect.name)
        with self.engine.begin() as connection:
            existing = _existing_triggers(connection) if wanted else set()
            missing = [ddl for name, ddl in wanted.items() if name not in existing]
            if missing and self.engine.dialect.name == "postgresql":
                has_function = "SELECT to_regprocedure('xaihealth_append_only()') IS NOT NULL"
                if not connection.execute(text(has_function)).scalar():
                    connection.execute(text(_PG_FUNCTION))
            for ddl in missing:
                connection.execute(text(ddl))

    def record_prediction(self, *, model: ModelCard, inputs: Any, patient_id: str, site: str,
                          output: dict[str, Any], note: str | None = None,
                          latency_ms: float | None = None) -> str:  # fmt: skip
        """Archive one prediction and return its id; the patient id is pseudonymised, the note masked."""
        row = Prediction(
            id=uuid.uuid4().hex, model_name=model.name, model_version=model.version,
            model_sha256=model.sha256, input_sha256=input_sha256(inputs), inputs=inputs,
            patient_pseudonym=pseudonymise(patient_id, self._key), site=site, output=output,
            note=None if note is None else mask_identifiers(note, patient_id),
            latency_ms=None if latency_ms is None else float(latency_ms),
        )  # fmt: skip
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            session.add(row)
        return row.id

    def record_explanation(self, prediction_id: str, *, method: str, parameters: dict[str, Any],
                           attributions: dict[str, Any], latency_ms: float,
                           background_sha256: str | None = None) -> tuple[dict[str, Any], bool]:  # fmt: skip
        """Archive the explanation of ``prediction_id`` once: ``(row, True)`` if written now, else the row
        already there and ``False`` (a retried or duplicated job changes nothing)."""
        existing = self.explanation(prediction_id)
        if existing is not None:
            return existing, False
        row = Explanation(prediction_id=prediction_id, method=method, parameters=parameters,
                          background_sha256=background_sha256, attributions=attributions,
                          latency_ms=float(latency_ms))  # fmt: skip
        try:
            with Session(self.engine, expire_on_commit=False) as session, session.begin():
                session.add(row)
        except IntegrityError:
            existing = self.explanation(prediction_id)
            if existing is None:  # not a duplicate: an unknown prediction id (foreign key)
                raise
            return existing, False
        return _row(row), True

    def record_feedback(self, prediction_id: str, *, agrees: bool, correct_label: int | None = None,
                        comment: str | None = None) -> int:  # fmt: skip
        """Archive a clinician's feedback on a prediction (the comment masked); returns its row id."""
        if comment is not None:  # the patient's own id is known here only by its pseudonym
            prediction = self.prediction(prediction_id)
            if prediction is not None:
                comment = mask_pseudonym(comment, prediction["patient_pseudonym"], self._key)
            comment = mask_identifiers(comment)
        row = Feedback(prediction_id=prediction_id, agrees=agrees, correct_label=correct_label,
                       comment=comment)  # fmt: skip
        with Session(self.engine, expire_on_commit=False) as session, session.begin():
            session.add(row)
        return row.id

    def prediction(self, prediction_id: str) -> dict[str, Any] | None:
        """The archived prediction as a dict, or None."""
        with Session(self.engine) as session:
            row = session.get(Prediction, prediction_id)
            return None if row is None else _row(row)

    def explanation(self, prediction_id: str) -> dict[str, Any] | None:
        """The archived explanation of a prediction as a dict, or None while there is none."""
        with Session(self.engine) as session:
            query = select(Explanation).where(Explanation.prediction_id == prediction_id)
            row = session.scalars(query).first()
            return None if row is None else _row(row)

    def unexplained(self, older_than_s: float, limit: int = 1000) -> list[str]:
        """Ids of predictions archived more than ``older_than_s`` seconds ago that have no explanation yet
        (a job lost by a killed worker, or never queued), oldest first."""
        if not isinstance(older_than_s, int | float) or older_than_s < 0:
            raise ValueError(f"older_than_s={older_than_s!r} must be a number of seconds >= 0")
        cutoff = _now() - timedelta(seconds=older_than_s)
        query = (select(Prediction.id).outerjoin(Explanation, Explanation.prediction_id == Prediction.id)
                 .where(Explanation.id.is_(None), Prediction.created_at <= cutoff)
                 .order_by(Prediction.created_at).limit(limit))  # fmt: skip
        with Session(self.engine) as session:
            return list(session.scalars(query))

    def recent_predictions(self, limit: int = 500, *, model_name: str | None = None,
                           site: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
        """The ``limit`` latest predictions (of ``model_name``, of ``site`` if given), oldest first."""
        query = select(Prediction).order_by(Prediction.created_at.desc()).limit(_limit(limit))
        if model_name is not None:
            query = query.where(Prediction.model_name == model_name)
        if site is not None:
            query = query.where(Prediction.site == site)
        with Session(self.engine) as session:
            return [_row(row) for row in reversed(session.scalars(query).all())]

    def recent_explanations(self, limit: int = 500, *, model_name: str | None = None,
                            site: str | None = None) -> list[dict[str, Any]]:  # fmt: skip
        """The ``limit`` latest explanations (of ``model_name``'s predictions, of ``site``), oldest first."""
        query = (select(Explanation).join(Prediction, Prediction.id == Explanation.prediction_id)
                 .order_by(Explanation.created_at.desc()).limit(_limit(limit)))  # fmt: skip
        if model_name is not None:
            query = query.where(Prediction.model_name == model_name)
        if site is not None:
            query = query.where(Prediction.site == site)
        with Session(self.engine) as session:
            return [_row(row) for row in reversed(session.scalars(query).all())]

    def recent_feedback(self, limit: int = 500, *, site: str | None = None) -> list[dict[str, Any]]:
        """The ``limit`` latest feedback rows, oldest first, each with its prediction's ``risk``,
        ``model_name`` and ``site``."""
        query = (select(Feedback, Prediction.output, Prediction.model_name, Prediction.site)
                 .join(Prediction, Prediction.id == Feedback.prediction_id)
                 .order_by(Feedback.created_at.desc()).limit(_limit(limit)))  # fmt: skip
        if site is not None:
            query = query.where(Prediction.site == site)
        with Session(self.engine) as session:
            rows = session.execute(query).all()
        return [{**_row(f), "risk": output.get("risk"), "model_name": name, "site": where}
                for f, output, name, where in reversed(rows)]  # fmt: skip

    def count(self, table: type[Base]) -> int:
        """Number of rows in one of :data:`TABLES`."""
        if table not in TABLES:
            allowed = [t.__name__ for t in TABLES]
            raise ValueError(f"table={table!r} is not an archive table; allowed: {allowed}")
        with Session(self.engine) as session:
            return session.scalar(select(func.count()).select_from(table)) or 0
