"""The audit archive: append-only at both layers, one explanation per prediction, no raw identifier stored,
and the service's settings validated.

The archive tests run on SQLite (the embedded profile) and, when ``XAIHEALTH_TEST_DATABASE_URL`` names a
PostgreSQL database (``postgresql+psycopg://user@127.0.0.1:5432/db``; the production profile), there too:
they drop and re-create the archive's tables in that database.
"""

import os

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from xaihealth.serving.archive import (
    TABLES,
    AppendOnlyError,
    Archive,
    Base,
    Explanation,
    ModelCard,
    Prediction,
    _existing_triggers,
    _triggers,
    input_sha256,
)
from xaihealth.serving.config import Access, Settings, parse_tokens, settings_from_env, token_for
from xaihealth.serving.privacy import pseudonymise

KEY = b"k" * 32
CARD = ModelCard("cardio", "1", "ab" * 32)
PATIENT = "MRN0012345"
NOTE = "seen by Dr. Lindqvist , call 555-867-5309 , mrn 0012345 ."


DATABASE_URL = os.environ.get("XAIHEALTH_TEST_DATABASE_URL")


@pytest.fixture
def sqlite_archive(tmp_path):
    return Archive(f"sqlite:///{tmp_path / 'archive.sqlite'}", KEY)


@pytest.fixture(params=["sqlite", "postgresql"])
def archive(request, tmp_path):
    if request.param == "sqlite":
        yield Archive(f"sqlite:///{tmp_path / 'archive.sqlite'}", KEY)
        return
    if not DATABASE_URL:
        why = "PostgreSQL: set XAIHEALTH_TEST_DATABASE_URL=postgresql+psycopg://... to run (.ci/run does)"
        if os.environ.get("CI"):
            pytest.fail(f"under CI, {why}")
        pytest.skip(why)
    engine = sa.create_engine(DATABASE_URL)
    Base.metadata.drop_all(engine)  # a clean archive (the triggers go with their tables)
    engine.dispose()
    archive = Archive(DATABASE_URL, KEY)
    yield archive
    Base.metadata.drop_all(archive.engine)
    archive.engine.dispose()


def _predict(archive, patient=PATIENT, note=NOTE):
    return archive.record_prediction(model=CARD, inputs={"age": 70.0}, patient_id=patient, site="north",
                                     output={"risk": 0.3, "label": 0}, note=note)  # fmt: skip


def _explain(archive, prediction_id, value=1.0):
    return archive.record_explanation(prediction_id, method="m", parameters={"n": 1},
                                      attributions={"age": value}, latency_ms=2.0)  # fmt: skip


def test_a_prediction_is_archived_with_model_input_hash_and_pseudonym(archive):
    row = archive.prediction(_predict(archive))
    assert (row["model_name"], row["model_version"], row["model_sha256"]) == (CARD.name, "1", CARD.sha256)
    assert row["input_sha256"] == input_sha256({"age": 70.0}) == input_sha256({"age": 70.0})
    assert row["input_sha256"] != input_sha256({"age": 70.1})
    assert row["patient_pseudonym"] == pseudonymise(PATIENT, KEY)
    assert row["note"] == "seen by Dr. [NAME] , call [PHONE] , mrn [ID] ."


def test_no_raw_identifier_reaches_the_database_file(sqlite_archive, tmp_path):
    archive = sqlite_archive
    ids = [_predict(archive, patient=f"MRN{n:07d}") for n in range(5)]
    comment = "per Dr. Lindqvist call 555-867-5309"
    archive.record_feedback(ids[0], agrees=False, correct_label=1, comment=comment)
    archive.engine.dispose()
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("archive.sqlite*"))  # with the WAL file
    assert pseudonymise("MRN0000003", KEY).encode() in stored  # the check can see what is stored ...
    for raw in [f"MRN{n:07d}" for n in range(5)] + ["Lindqvist", "555-867-5309", "0012345"]:
        assert raw.encode() not in stored, raw  # ... and no raw identifier is


@pytest.mark.parametrize("statement", ["UPDATE {t} SET created_at = created_at", "DELETE FROM {t}"])
def test_the_database_refuses_updates_and_deletes(archive, statement):
    prediction_id = _predict(archive)
    _explain(archive, prediction_id)
    archive.record_feedback(prediction_id, agrees=True)
    for table in TABLES:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), archive.engine.begin() as conn:
            conn.execute(sa.text(statement.format(t=table.__tablename__)))
        assert archive.count(table) == 1


_FORGED = {"predictions": ("site", "'south'"), "explanations": ("method", "'forged'"),
           "feedback": ("comment", "'forged'")}
_REWRITES = {  # each would replace an archived row (an insert whose key is already archived)
    "insert or replace": "INSERT OR REPLACE INTO {t} ({cols}) SELECT {values} FROM {t}",
    "replace into": "REPLACE INTO {t} ({cols}) SELECT {values} FROM {t}",
    "on conflict do update": "INSERT INTO {t} ({cols}) SELECT {values} FROM {t} WHERE true "
                             "ON CONFLICT ({key}) DO UPDATE SET {col} = excluded.{col}",
}  # fmt: skip


def _rewrite(table, form, *, new_id=False):
    cols = [c.name for c in table.__table__.columns]
    col, forged = _FORGED[table.__tablename__]
    values = [forged if c == col else ("id + 1000" if new_id and c == "id" else c) for c in cols]
    key = "prediction_id" if new_id else "id"
    return _REWRITES[form].format(t=table.__tablename__, cols=", ".join(cols), values=", ".join(values),
                                  key=key, col=col)


@pytest.mark.parametrize("form", list(_REWRITES))
def test_an_insert_cannot_replace_an_archived_row(archive, form):
    if archive.engine.dialect.name == "postgresql" and form != "on conflict do update":
        pytest.skip("INSERT OR REPLACE and REPLACE INTO are SQLite's")
    prediction_id = _predict(archive)
    _explain(archive, prediction_id)
    archive.record_feedback(prediction_id, agrees=True, comment="kept")
    cases = [(table, False) for table in TABLES] + [(Explanation, True)]  # + a clash on prediction_id
    for table, new_id in cases:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), archive.engine.begin() as conn:
            conn.execute(sa.text(_rewrite(table, form, new_id=new_id)))
        assert archive.count(table) == 1
    assert archive.prediction(prediction_id)["site"] == "north"
    assert archive.explanation(prediction_id)["method"] == "m"
    assert archive.recent_feedback()[0]["comment"] == "kept"


def test_postgresql_refuses_truncate(archive):
    if archive.engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is PostgreSQL's (SQLite has none)")
    prediction_id = _predict(archive)
    _explain(archive, prediction_id)
    archive.record_feedback(prediction_id, agrees=True)
    for table in TABLES:
        with pytest.raises(sa.exc.DBAPIError, match="append-only"), archive.engine.begin() as conn:
            conn.execute(sa.text(f"TRUNCATE {table.__tablename__} CASCADE"))
        assert archive.count(table) == 1


def test_the_orm_refuses_to_change_or_delete_a_row(archive):
    prediction_id = _predict(archive)
    with pytest.raises(AppendOnlyError), Session(archive.engine) as session, session.begin():
        session.get(Prediction, prediction_id).site = "south"
    with pytest.raises(AppendOnlyError), Session(archive.engine) as session, session.begin():
        session.delete(session.get(Prediction, prediction_id))
    assert archive.prediction(prediction_id)["site"] == "north"


def test_record_explanation_writes_once_per_prediction(archive):
    prediction_id = _predict(archive)
    first, created = _explain(archive, prediction_id, value=1.0)
    again, created_again = _explain(archive, prediction_id, value=2.0)
    assert (created, created_again) == (True, False)
    assert again["attributions"] == first["attributions"] == {"age": 1.0}
    assert archive.count(Explanation) == 1


def test_two_workers_racing_leave_one_row(archive, monkeypatch):
    # the second worker checked before the first one wrote: its insert hits the unique key
    prediction_id = _predict(archive)
    _explain(archive, prediction_id, value=1.0)
    real, calls = archive.explanation, []

    def stale_then_real(pid):  # the first look misses the row that the other worker is committing
        calls.append(pid)
        return None if len(calls) == 1 else real(pid)

    monkeypatch.setattr(archive, "explanation", stale_then_real)
    row, created = _explain(archive, prediction_id, value=2.0)
    assert not created and row["attributions"] == {"age": 1.0} and len(calls) == 2
    assert archive.count(Explanation) == 1


def test_an_explanation_of_an_unknown_prediction_is_refused(archive):
    with pytest.raises(sa.exc.IntegrityError):
        _explain(archive, "0" * 32)
    assert archive.count(Explanation) == 0


def test_settings_from_env(tmp_path):
    s = settings_from_env({"XAIHEALTH_SERVING_DIR": str(tmp_path)})
    assert s.profile == "embedded" and s.archive_url.startswith("sqlite:///")
    assert s.queue_url == f"sqlite:///{tmp_path / 'queue.sqlite'}"
    assert settings_from_env({"XAIHEALTH_SERVING_DIR": str(tmp_path)}).pseudonym_key == s.pseudonym_key
    assert (tmp_path / "pseudonym.key").stat().st_mode & 0o077 == 0  # the owner's only
    prod = {"XAIHEALTH_SERVING_PROFILE": "production", "XAIHEALTH_REDIS_URL": "redis://localhost:6379/0",
            "XAIHEALTH_DATABASE_URL": "postgresql+psycopg://xai@localhost/xai",
            "XAIHEALTH_PSEUDONYM_KEY": "p" * 40,
            "XAIHEALTH_SERVING_TOKENS": '{"d-0123456789abcdef": {"role": "doctor", "site": "north"}}',
            }  # fmt: skip
    assert settings_from_env(prod).queue_url.startswith("redis://")
    assert settings_from_env(prod).tokens == {"d-0123456789abcdef": Access("doctor", "north")}
    with pytest.raises(ValueError, match="XAIHEALTH_SERVING_TOKENS"):
        settings_from_env({k: v for k, v in prod.items() if k != "XAIHEALTH_SERVING_TOKENS"})
    with pytest.raises(ValueError, match="XAIHEALTH_PSEUDONYM_KEY"):
        settings_from_env({k: v for k, v in prod.items() if k != "XAIHEALTH_PSEUDONYM_KEY"})
    with pytest.raises(ValueError, match="XAIHEALTH_SERVING_PROFILE='cloud'"):
        settings_from_env({"XAIHEALTH_SERVING_PROFILE": "cloud"})
    with pytest.raises(ValueError, match="XAIHEALTH_EXPLAIN_RETRIES='many'"):
        settings_from_env({"XAIHEALTH_SERVING_DIR": str(tmp_path), "XAIHEALTH_EXPLAIN_RETRIES": "many"})
    with pytest.raises(ValueError, match="models"):
        settings_from_env({"XAIHEALTH_SERVING_DIR": str(tmp_path), "XAIHEALTH_SERVING_MODELS": "gpt"})
    with pytest.raises(ValueError, match="queue_url"):
        Settings("embedded", "sqlite:///a", "amqp://x", KEY)


def test_unexplained_lists_old_predictions_without_an_explanation(archive):
    explained, waiting = _predict(archive), _predict(archive)
    _explain(archive, explained)
    assert archive.unexplained(older_than_s=0) == [waiting]
    assert archive.unexplained(older_than_s=3600) == []  # too recent to be called lost
    with pytest.raises(ValueError, match="older_than_s"):
        archive.unexplained(older_than_s=-1)


def test_embedded_tokens_are_made_once_owner_only_one_doctor_per_site(tmp_path):
    env = {"XAIHEALTH_SERVING_DIR": str(tmp_path)}
    s = settings_from_env(env)
    assert (tmp_path / "tokens.json").stat().st_mode & 0o077 == 0
    assert sorted((a.role, a.site or "") for a in s.tokens.values()) == [
        ("data_scientist", ""), ("doctor", "north"), ("doctor", "south")]
    assert settings_from_env(env).tokens == s.tokens  # kept, not remade
    assert s.tokens_path == str(tmp_path / "tokens.json")
    north = token_for(s, "doctor", "north")
    assert s.tokens[north] == Access("doctor", "north")
    assert s.tokens[token_for(s, "data_scientist")] == Access("data_scientist")
    with pytest.raises(ValueError, match="site='east'"):
        token_for(s, "doctor", "east")
    given = '{"scientist-0123456789": {"role": "data_scientist"}}'
    assert list(settings_from_env(dict(env, XAIHEALTH_SERVING_TOKENS=given)).tokens) == [
        "scientist-0123456789"]
    assert "0123456789" not in repr(settings_from_env(dict(env, XAIHEALTH_SERVING_TOKENS=given)))


@pytest.mark.parametrize("text, message", [
    ("{", "not valid JSON"), ("[]", "non-empty JSON object"), ("{}", "non-empty JSON object"),
    ('{"t-0123456789abcdef": {"role": "nurse"}}', "role='nurse'"),
    ('{"t-0123456789abcdef": {"role": "doctor"}}', "a doctor needs a site"),
    ('{"t-0123456789abcdef": {"role": "doctor", "site": "north wing"}}', "site='north wing'"),
    ('{"t-0123456789abcdef": {"role": "data_scientist", "site": "north"}}', "a data scientist has no site"),
    ('{"t-0123456789abcdef": {"role": "doctor", "site": "north", "admin": true}}', "entry 1"),
    ('{"short": {"role": "data_scientist"}}', "at least 16 characters"),
])  # fmt: skip
def test_bad_tokens_are_refused_naming_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        parse_tokens(text)


def test_latency_is_archived_and_an_older_archive_gets_the_column(archive):
    fast = archive.record_prediction(model=CARD, inputs={"age": 70.0}, patient_id=PATIENT, site="north",
                                     output={"risk": 0.3, "label": 0}, latency_ms=4.5)  # fmt: skip
    assert archive.prediction(fast)["latency_ms"] == 4.5
    assert archive.prediction(_predict(archive))["latency_ms"] is None  # not measured: NULL
    with archive.engine.begin() as connection:  # an archive made before the column existed
        connection.execute(sa.text("ALTER TABLE predictions DROP COLUMN latency_ms"))
    reopened = Archive(archive.engine.url.render_as_string(hide_password=False), KEY)
    assert reopened.prediction(fast)["latency_ms"] is None and reopened.prediction(fast)["site"] == "north"
    assert reopened.prediction(_predict(reopened))["latency_ms"] is None
    reopened.engine.dispose()


def _trigger_names(engine):
    with engine.connect() as connection:
        return _existing_triggers(connection)


def test_an_older_archive_gets_the_missing_triggers_when_it_opens(archive):
    dialect = archive.engine.dialect.name
    prediction_id = _predict(archive)
    _explain(archive, prediction_id)
    archive.record_feedback(prediction_id, agrees=True, comment="kept")
    names = set(_triggers(dialect))
    assert _trigger_names(archive.engine) == names and len(names) == (9 if dialect == "sqlite" else 6)
    with archive.engine.begin() as connection:  # an archive made before the triggers existed
        for name in names:
            on = f" ON {name.split('_', 1)[0]}" if dialect == "postgresql" else ""
            connection.execute(sa.text(f"DROP TRIGGER {name}{on}"))
    assert _trigger_names(archive.engine) == set()
    with archive.engine.begin() as connection:  # the test can see a missing trigger: an update goes through
        connection.execute(sa.text("UPDATE predictions SET site = site"))
    reopened = Archive(archive.engine.url.render_as_string(hide_password=False), KEY)
    assert _trigger_names(reopened.engine) == names
    for table in TABLES:
        statements = [f"UPDATE {table.__tablename__} SET created_at = created_at",
                      f"DELETE FROM {table.__tablename__}",
                      f"TRUNCATE {table.__tablename__} CASCADE" if dialect == "postgresql"
                      else _rewrite(table, "insert or replace")]  # fmt: skip
        for statement in statements:
            with pytest.raises(sa.exc.DBAPIError, match="append-only"), reopened.engine.begin() as conn:
                conn.execute(sa.text(statement))
        assert reopened.count(table) == 1
    assert reopened.recent_feedback()[0]["comment"] == "kept"
    reopened.engine.dispose()


def test_recent_rows_are_the_latest_oldest_first_and_scoped_by_site(archive):
    ids = [archive.record_prediction(model=CARD, inputs={"age": float(i)}, patient_id=PATIENT, site=site,
                                     output={"risk": i / 10, "label": 0}) for i, site in
           enumerate(["north", "south", "north", "north"])]  # fmt: skip
    assert [p["id"] for p in archive.recent_predictions(2)] == ids[2:]
    assert [p["id"] for p in archive.recent_predictions(10, site="north")] == [ids[0], ids[2], ids[3]]
    assert archive.recent_predictions(10, model_name="cxr") == []
    for i in (1, 3):
        _explain(archive, ids[i])
        archive.record_feedback(ids[i], agrees=False, correct_label=1, comment="call 555-867-5309")
    assert [e["prediction_id"] for e in archive.recent_explanations(10, site="north")] == [ids[3]]
    feedback = archive.recent_feedback(10)
    assert [(f["prediction_id"], f["risk"], f["site"]) for f in feedback] == [(ids[1], 0.1, "south"),
                                                                               (ids[3], 0.3, "north")]
    assert "867" not in feedback[0]["comment"]
    with pytest.raises(ValueError, match="limit=0"):
        archive.recent_predictions(0)


def test_the_patients_own_id_is_masked_in_note_and_feedback(archive):
    prediction_id = _predict(archive, patient="AB-771", note="ab-771 seen, e-mail x.y@example.org")
    assert archive.prediction(prediction_id)["note"] == "[ID] seen, e-mail [EMAIL]"
    archive.record_feedback(prediction_id, agrees=False, comment="AB-771 rang back; AB-772 did not")
    assert archive.recent_feedback()[0]["comment"] == "[ID] rang back; AB-772 did not"
    other = _predict(archive, patient="P_000123", note="P_000123 seen")  # punctuation inside the id (R18b)
    archive.record_feedback(other, agrees=True, comment="p_000123 rang; mrn: ab-123456 is her sister's")
    assert archive.recent_feedback()[-1]["comment"] == "[ID] rang; mrn: [ID] is her sister's"
