"""The app and the worker in one process: validation, predict -> pending -> done through huey, retries
that never duplicate or lose an explanation, feedback, and the model sha256 the archive records.

huey runs for real here with its in-memory storage: jobs are taken off the queue and executed with
``huey.dequeue()`` / ``huey.execute()`` (what a consumer does), or at once in immediate mode.
``tests/test_serving_integration.py`` runs the real consumer and uvicorn as processes.
"""

import json

import numpy as np
import pytest
from fastapi.testclient import TestClient
from scipy.special import logit

from xaihealth.serving.app import MAX_BODY_BYTES, create_app
from xaihealth.serving.archive import Explanation, ModelCard, Prediction
from xaihealth.serving.config import Access, Settings
from xaihealth.serving.models import CARDIO_FEATURES, CardioModel, tree_sha256
from xaihealth.serving.worker import Runtime, build_worker, explain_and_record, runtime, sweep_unexplained

FEATURES = dict(age=70.5, male=1, bmi=31.2, sbp=150, chol=6.2, smoker=1, diabetes=0, qtc=430, qt_drug=0,
                site=2)  # fmt: skip
CASE = {"model": "cardio", "patient_id": "MRN 7654321", "site": "north", "note": "seen by Dr. Berg",
        "features": FEATURES}  # fmt: skip
TOKENS = {"doctor-north-0123456789": Access("doctor", "north"),
          "doctor-south-0123456789": Access("doctor", "south"),
          "scientist-0123456789": Access("data_scientist")}  # fmt: skip
NORTH, SOUTH, SCIENTIST = ({"Authorization": f"Bearer {t}"} for t in TOKENS)


def _client(settings, rt, explain, **options):
    """A TestClient that sends the north doctor's token unless a request gives other headers."""
    return TestClient(create_app(settings, rt=rt, explain=explain, **options), headers=NORTH)


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    folder = tmp_path_factory.mktemp("serving")
    settings = Settings("embedded", f"sqlite:///{folder / 'archive.sqlite'}", "memory://", b"k" * 32,
                        retries=2, retry_delay=0, models=("cardio",), tokens=TOKENS)  # fmt: skip
    huey, explain = build_worker(settings)
    rt = runtime(settings)
    return huey, rt, _client(settings, rt, explain), explain


def _drain(huey):
    """Run every queued job, as the consumer would; returns what each job returned."""
    results = []
    while (task := huey.dequeue()) is not None:
        results.append(huey.execute(task))
    return results


@pytest.mark.parametrize("field, value", [
    ("age", 300), ("male", 2), ("sbp", "high"), ("site", 7), ("weight", 80), ("sbp", None),
])  # fmt: skip
def test_a_bad_feature_is_a_422_naming_it(service, field, value):
    _, _, client, _ = service
    features = dict(FEATURES, **{field: value})
    if value is None:
        del features[field]  # missing
    response = client.post("/predict", json=dict(CASE, features=features))
    assert response.status_code == 422
    assert [e["loc"][-1] for e in response.json()["detail"]] == [field]


@pytest.mark.parametrize("value", ["NaN", "Infinity", "-Infinity"])
def test_a_non_finite_number_is_a_422_naming_it(service, value):
    _, _, client, _ = service
    body = json.dumps(CASE).replace('"sbp": 150', f'"sbp": {value}')  # what json.dumps writes for nan/inf
    response = client.post("/predict", content=body, headers={"Content-Type": "application/json"})
    assert response.status_code == 422 and response.json()["detail"][0]["loc"][-1] == "sbp"


@pytest.mark.parametrize("field, value", [("patient_id", ""), ("site", "north wing!"), ("model", "gpt")])
def test_a_bad_case_field_is_a_422_naming_it(service, field, value):
    _, _, client, _ = service
    response = client.post("/predict", json=dict(CASE, **{field: value}))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"][-1] == field or field in detail[0]["msg"]


def test_predict_is_pending_then_done_through_the_queue(service):
    huey, rt, client, _ = service
    response = client.post("/predict", json=CASE)
    assert response.status_code == 200
    body = response.json()
    assert body["explanation"] == "pending" and body["model"]["sha256"] == rt.models["cardio"].card.sha256
    assert client.get(f"/explanations/{body['id']}").json() == {"id": body["id"], "status": "pending"}
    assert _drain(huey) == [True]
    done = client.get(f"/explanations/{body['id']}").json()
    assert done["status"] == "done"
    explanation = done["explanation"]
    assert explanation["method"] == "shap.TreeExplainer" and explanation["latency_ms"] > 0
    # the explanation is of this prediction: TreeSHAP values add up to the model's log-odds
    values = explanation["attributions"]["values"]
    assert list(values) == list(CARDIO_FEATURES)
    total = explanation["attributions"]["base_value"] + sum(values.values())
    assert total == pytest.approx(logit(body["risk"]), abs=1e-6)
    archived = rt.archive.prediction(body["id"])
    assert archived["patient_pseudonym"] != CASE["patient_id"] and "Berg" not in archived["note"]


def test_immediate_mode_explains_before_answering(service):
    _, rt, _, _ = service
    huey, explain = build_worker(rt.settings)
    huey.immediate = True
    client = _client(rt.settings, rt, explain)
    prediction_id = client.post("/predict", json=CASE).json()["id"]
    assert client.get(f"/explanations/{prediction_id}").json()["status"] == "done"


def test_a_job_run_twice_leaves_one_explanation_computed_once(service, monkeypatch):
    huey, rt, client, _ = service
    model, calls = rt.models["cardio"], []
    real = model.explain
    monkeypatch.setattr(model, "explain", lambda inputs: calls.append(1) or real(inputs))
    prediction_id = client.post("/predict", json=CASE).json()["id"]
    service[3](prediction_id)  # the same job enqueued again
    assert _drain(huey) == [True, False]
    assert _explanations_of(rt, prediction_id) == 1
    assert len(calls) == 1  # the second run finds the archived explanation and does not recompute it


def _explanations_of(rt, prediction_id):
    from sqlalchemy import func, select
    from sqlalchemy.orm import Session

    with Session(rt.archive.engine) as session:
        query = select(func.count()).select_from(Explanation)
        return session.scalar(query.where(Explanation.prediction_id == prediction_id))


def test_a_crash_after_the_write_is_retried_without_a_duplicate(service, monkeypatch):
    huey, rt, client, _ = service
    real = rt.archive.record_explanation

    def write_then_crash(*args, **kwargs):  # the worker dies after committing, before huey sees success
        monkeypatch.setattr(rt.archive, "record_explanation", real)
        real(*args, **kwargs)
        raise ConnectionError("worker lost after the commit")

    monkeypatch.setattr(rt.archive, "record_explanation", write_then_crash)
    prediction_id = client.post("/predict", json=CASE).json()["id"]
    assert _drain(huey) == [None, False]  # the failed run, then the retry that finds the row
    assert _explanations_of(rt, prediction_id) == 1


def test_a_crash_before_the_write_is_retried_and_nothing_is_lost(service, monkeypatch):
    huey, rt, client, _ = service
    model = rt.models["cardio"]
    real = model.explain

    def crash_once(inputs):
        monkeypatch.setattr(model, "explain", real)
        raise MemoryError("worker lost mid-explanation")

    monkeypatch.setattr(model, "explain", crash_once)
    prediction_id = client.post("/predict", json=CASE).json()["id"]
    assert _drain(huey) == [None, True]
    assert _explanations_of(rt, prediction_id) == 1


def test_the_worker_refuses_other_weights_and_unknown_ids(service):
    _, rt, client, _ = service
    prediction = rt.archive.prediction(client.post("/predict", json=CASE).json()["id"])
    retrained = type("Retrained", (), {"card": ModelCard("cardio", "2", "0" * 64)})()
    with pytest.raises(RuntimeError, match="weights"):
        Runtime(rt.settings, rt.archive, {"cardio": retrained}).model_for(prediction)
    with pytest.raises(LookupError, match="prediction_id"):
        explain_and_record(rt, "f" * 32)


def test_queue_down_still_answers_and_archives(service):
    _, rt, _, _ = service

    def broken(prediction_id):
        raise ConnectionError("queue unreachable")

    client = _client(rt.settings, rt, broken)
    before = rt.archive.count(Prediction)
    body = client.post("/predict", json=CASE).json()
    assert body["explanation"] == "not queued" and rt.archive.prediction(body["id"]) is not None
    assert rt.archive.count(Prediction) == before + 1


def test_the_sweep_queues_a_lost_job_again_and_it_is_explained(service):
    huey, rt, _, explain = service
    _drain(huey)
    lost = _client(rt.settings, rt, lambda pid: None)  # the job never gets queued
    prediction_id = lost.post("/predict", json=CASE).json()["id"]
    assert _drain(huey) == [] and prediction_id in (waiting := rt.archive.unexplained(older_than_s=0))
    assert sweep_unexplained(rt, explain, older_than_s=0) == len(waiting)
    assert set(_drain(huey)) == {True}
    assert rt.archive.explanation(prediction_id) is not None and rt.archive.unexplained(older_than_s=0) == []
    assert sweep_unexplained(rt, explain, older_than_s=0) == 0  # nothing left to redo


def test_feedback_is_archived_and_unknown_ids_are_404(service):
    _, _, client, _ = service
    prediction_id = client.post("/predict", json=CASE).json()["id"]
    verdict = {"prediction_id": prediction_id, "agrees": False, "correct_label": 1,
               "comment": "call 555-123-4567"}  # fmt: skip
    assert client.post("/feedback", json=verdict).status_code == 201
    assert client.post("/feedback", json=dict(verdict, prediction_id="x" * 32)).status_code == 404
    assert client.post("/feedback", json=dict(verdict, agrees="maybe")).status_code == 422
    assert client.get(f"/explanations/{'x' * 32}").status_code == 404


def test_the_tabular_sha256_is_a_digest_of_the_fitted_trees(service):
    _, rt, _, _ = service
    model = rt.models["cardio"]
    assert model.card.sha256 == tree_sha256(model.model) == CardioModel().card.sha256  # same recipe
    from sklearn.ensemble import GradientBoostingClassifier

    X, y = np.random.default_rng(0).normal(size=(200, 3)), np.arange(200) % 2
    fits = [GradientBoostingClassifier(n_estimators=n, random_state=0).fit(X, y) for n in (5, 5, 6)]
    assert len({tree_sha256(fit) for fit in fits}) == 2  # the same trees: the same digest; one more: another


def test_the_archive_records_the_checkpoint_sha256_that_was_verified(tmp_path):
    import torch

    from xaihealth.checkpoints import checkpoint_entry, models_dir, sha256
    from xaihealth.serving.models import CXR_CHECKPOINT

    torch.set_num_threads(1)
    settings = Settings("embedded", f"sqlite:///{tmp_path / 'archive.sqlite'}", "memory://", b"k" * 32,
                        retries=0, models=("cxr",), tokens=TOKENS)  # fmt: skip
    huey, explain = build_worker(settings)
    rt = runtime(settings)
    client = _client(settings, rt, explain)
    entry = checkpoint_entry(CXR_CHECKPOINT)
    on_disk = sha256(models_dir() / entry["file"])
    image = np.random.default_rng(0).random((64, 64)).round(3).tolist()
    body = client.post("/predict", json={"model": "cxr", "patient_id": "MRN1", "site": "north",
                                         "image": image}).json()  # fmt: skip
    assert rt.archive.prediction(body["id"])["model_sha256"] == entry["sha256"] == on_disk
    assert client.post("/predict", json={"model": "cxr", "patient_id": "MRN1", "site": "north",
                                         "image": image[:10]}).status_code == 422  # fmt: skip
    assert _drain(huey) == [True]
    explanation = client.get(f"/explanations/{body['id']}").json()["explanation"]
    assert explanation["method"] == "captum.attr.IntegratedGradients"
    assert np.asarray(explanation["attributions"]["map"]).shape == (64, 64)


def test_predict_reports_and_archives_its_latency(service):
    _, rt, client, _ = service
    body = client.post("/predict", json=CASE).json()
    assert body["latency_ms"] > 0
    assert rt.archive.prediction(body["id"])["latency_ms"] == pytest.approx(body["latency_ms"])


def test_inline_mode_answers_with_the_explanation_archived(service):
    huey, rt, _, _ = service
    _drain(huey)
    client = _client(rt.settings, rt, None, inline=True)
    body = client.post("/predict", json=CASE).json()
    assert body["explanation"] == "done" and _drain(huey) == []  # nothing was queued
    done = client.get(f"/explanations/{body['id']}").json()["explanation"]
    total = done["attributions"]["base_value"] + sum(done["attributions"]["values"].values())
    assert total == pytest.approx(logit(body["risk"]), abs=1e-6) and done["latency_ms"] < body["latency_ms"]


@pytest.mark.parametrize("headers, status", [
    ({}, 401), ({"Authorization": "Bearer not-a-token-at-all"}, 401), ({"Authorization": "Basic eDp5"}, 401),
    (SOUTH, 403), (SCIENTIST, 403), (NORTH, 200),
])  # fmt: skip
def test_who_may_post_a_case(service, headers, status):
    _, _, client, _ = service
    client.headers.clear()
    try:
        response = client.post("/predict", json=CASE, headers=headers)
    finally:
        client.headers.update(NORTH)
    assert response.status_code == status, response.text
    if status == 401:
        assert response.headers["www-authenticate"] == "Bearer"


def test_another_sites_records_do_not_exist_for_a_doctor(service):
    huey, _, client, _ = service
    prediction_id = client.post("/predict", json=CASE).json()["id"]
    _drain(huey)
    unknown = "0" * 32
    for headers in (SOUTH, NORTH, SCIENTIST):
        assert client.get(f"/explanations/{unknown}", headers=headers).status_code == 404
    south = client.get(f"/explanations/{prediction_id}", headers=SOUTH)
    assert south.status_code == 404 and south.json() == {"detail": f"no prediction with id {prediction_id!r}"}
    assert client.get(f"/explanations/{prediction_id}", headers=NORTH).json()["status"] == "done"
    assert client.get(f"/explanations/{prediction_id}", headers=SCIENTIST).json()["status"] == "done"
    verdict = {"prediction_id": prediction_id, "agrees": True}
    assert client.post("/feedback", json=verdict, headers=SOUTH).status_code == 404
    assert client.post("/feedback", json=verdict, headers=SCIENTIST).status_code == 403
    assert client.post("/feedback", json=verdict, headers=NORTH).status_code == 201
    assert client.get("/health", headers={}).status_code == 200


@pytest.mark.parametrize("typed", [dict(age=59.2, bmi=28.5, sbp=118, chol=3.9, qtc=480, site=3),
                                   dict(age=80.5, bmi=23.2, sbp=103, chol=7.7, qtc=412, site=2)])  # fmt: skip
def test_a_value_on_a_float32_split_point_is_explained_and_adds_up(service, typed):
    """Typed values that tie with a split as float32 (chol 3.9, bmi 23.2) sent scikit-learn's trees and
    shap's down different branches, and shap refused them; they are explained on scikit-learn's path."""
    _, rt, _, _ = service
    model = rt.models["cardio"]
    inputs = dict(FEATURES, male=1, smoker=0, diabetes=0, qt_drug=0, **typed)
    out = model.explain(inputs)
    assert out["parameters"]["float32_nudged"]  # the tie was there, and was handled
    logodds = model.model.decision_function(model._row(inputs))[0]
    total = out["attributions"]["base_value"] + sum(out["attributions"]["values"].values())
    assert abs(total - logodds) < 1e-6
    plain = model.explain(dict(FEATURES))  # no tie: nothing moved
    assert plain["parameters"]["float32_nudged"] == []


def test_a_422_names_the_field_without_echoing_identifiers(service):
    _, _, client, _ = service
    bad = dict(CASE, patient_id="MRN 7654321", note="seen by Dr. Berg", features=dict(FEATURES, sbp="high"))
    for body in (bad, dict(bad, model="nope")):
        response = client.post("/predict", json=body, headers=NORTH)
        assert response.status_code == 422
        assert "7654321" not in response.text and "Berg" not in response.text
    assert client.post("/predict", json=bad, headers=NORTH).json()["detail"][0]["loc"][-1] == "sbp"


def test_an_oversized_body_is_a_413_before_it_is_parsed(service):
    _, _, client, _ = service
    headers = dict(NORTH, **{"content-type": "application/json"})
    big = b"{" + b" " * (MAX_BODY_BYTES + 1) + b"}"
    assert client.post("/predict", content=big, headers=headers).status_code == 413

    def chunks():  # no Content-Length: counted as it streams in
        for _ in range(11):
            yield b" " * (MAX_BODY_BYTES // 10)

    response = client.post("/predict", content=chunks(), headers=headers)
    assert response.status_code == 413 and str(MAX_BODY_BYTES) in response.json()["detail"]
    assert client.post("/predict", json=CASE, headers=NORTH).status_code == 200


def test_an_unreachable_archive_is_a_503_and_the_service_recovers(service, monkeypatch):
    from sqlalchemy.exc import OperationalError

    _, rt, client, _ = service
    before = rt.archive.count(Prediction)

    def down(**_):
        raise OperationalError("INSERT ...", {}, ConnectionRefusedError("connection refused"))

    monkeypatch.setattr(rt.archive, "record_prediction", down)
    response = client.post("/predict", json=CASE, headers=NORTH)
    assert response.status_code == 503 and "nothing was recorded" in response.json()["detail"]
    assert response.headers["retry-after"] == "5"
    monkeypatch.undo()
    assert client.post("/predict", json=CASE, headers=NORTH).status_code == 200
    assert rt.archive.count(Prediction) == before + 1
