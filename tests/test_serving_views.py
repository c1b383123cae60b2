"""The two views through the API (TestClient): who may read what, the pages render with no outside script,
the explanation in words, and the monitoring JSON on planted data (drift of a shifted hospital, queue
depth, latency, calibration counts, masked feedback)."""

import re

import pytest
from fastapi.testclient import TestClient

from xaihealth.data import make_cardio_cohort
from xaihealth.serving.app import create_app
from xaihealth.serving.config import Access, Settings
from xaihealth.serving.models import CARDIO_FEATURES
from xaihealth.serving.views import explanation_in_words
from xaihealth.serving.worker import build_worker, runtime

TOKENS = {"doctor-north-0123456789": Access("doctor", "north"),
          "doctor-south-0123456789": Access("doctor", "south"),
          "scientist-0123456789": Access("data_scientist")}  # fmt: skip
NORTH, SOUTH, SCIENTIST = ({"Authorization": f"Bearer {t}"} for t in TOKENS)


def cases(n, seed, site="north", age=0.0, sbp=0.0):
    """``n`` cardio cases of a fresh cohort draw, optionally older (+``age`` years) and with higher blood
    pressure (+``sbp`` mmHg): a shifted hospital."""
    X = make_cardio_cohort(n, seed=seed, n_noise=0).X
    for i in range(n):
        features = {f: float(X[f].iloc[i]) for f in CARDIO_FEATURES}
        for f in ("male", "smoker", "diabetes", "qt_drug", "site"):
            features[f] = int(features[f])
        features["age"] += age
        features["sbp"] += sbp
        yield {"model": "cardio", "patient_id": f"P{seed}-{i}", "site": site, "features": features}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    folder = tmp_path_factory.mktemp("views")
    settings = Settings("embedded", f"sqlite:///{folder / 'archive.sqlite'}", "memory://", b"v" * 32,
                        retries=0, models=("cardio",), tokens=TOKENS)  # fmt: skip
    huey, explain = build_worker(settings)
    client = TestClient(create_app(settings, rt=runtime(settings), explain=explain))
    return huey, client


def _drain(huey):
    while (task := huey.dequeue()) is not None:
        huey.execute(task)


def _monitor(client):
    response = client.get("/monitor/data", headers=SCIENTIST)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.mark.parametrize("page", ["/doctor", "/monitor"])
def test_the_pages_render_with_no_outside_script(service, page):
    _, client = service
    response = client.get(page)  # a page asks for the token itself; the data behind it needs one
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    html = response.text
    assert 'id="token-form"' in html and "sessionStorage" in html and "Authorization" in html
    assert not re.search(r"<script[^>]+src=|<link[^>]+href=|https?://", html)  # nothing from outside


def test_the_doctor_page_states_its_bands_and_its_warning(service):
    html = service[1].get("/doctor").text
    assert "low below 10 %" in html and "high\n    20 % and above" in html
    assert "explains the model, not the patient's biology" in html
    assert all(f'name="{f}"' in html for f in CARDIO_FEATURES)


@pytest.mark.parametrize("headers, status", [
    ({}, 401), ({"Authorization": "Bearer nope-nope-nope-nope"}, 401),
    (NORTH, 403), (SOUTH, 403), (SCIENTIST, 200),
])  # fmt: skip
def test_only_a_data_scientist_reads_the_monitoring_data(service, headers, status):
    assert service[1].get("/monitor/data", headers=headers).status_code == status


def test_the_explanation_in_words_for_the_doctor(service):
    huey, client = service
    case = next(cases(1, seed=9))
    case["features"].update(sbp=150.0, age=70.0, smoker=1)
    body = client.post("/predict", json=case, headers=NORTH).json()
    assert client.get(f"/explanations/{body['id']}", headers=NORTH).json()["status"] == "pending"
    _drain(huey)
    answer = client.get(f"/explanations/{body['id']}", headers=NORTH).json()
    words = answer["in_words"]
    values = answer["explanation"]["attributions"]["values"]
    assert [w["feature"] for w in words] == sorted(values, key=lambda f: -abs(values[f]))
    sbp = next(w for w in words if w["feature"] == "sbp")
    effect = "raises" if values["sbp"] > 0.05 else "lowers" if values["sbp"] < -0.05 else "hardly changes"
    assert sbp["text"] == f"systolic blood pressure 150 mmHg: {effect} the estimated risk"
    assert client.get(f"/explanations/{body['id']}", headers=SOUTH).status_code == 404


def test_explanation_in_words_on_planted_values():
    inputs = {f: 1 for f in CARDIO_FEATURES} | {"sbp": 160, "age": 45}
    values = {f: 0.0 for f in CARDIO_FEATURES} | {"sbp": 0.8, "age": -1.2, "smoker": 0.3}
    words = explanation_in_words(inputs, values)
    assert [w["text"] for w in words[:3]] == ["age 45 years: lowers the estimated risk",
                                              "systolic blood pressure 160 mmHg: raises the estimated risk",
                                              "smoker: raises the estimated risk"]  # fmt: skip
    assert {w["effect"] for w in words[3:]} == {"hardly changes"}
    with pytest.raises(ValueError, match="weight"):
        explanation_in_words(inputs, {"weight": 1.0})


def test_the_monitoring_data_sees_a_shifted_hospital_and_the_queue(service):
    huey, client = service
    _drain(huey)
    before = _monitor(client)
    for case in cases(200, seed=21):  # the same population as the training data
        assert client.post("/predict", json=case, headers=NORTH).status_code == 200
    data = _monitor(client)
    assert data["queue"]["pending"] == 200 and data["latency_ms"]["predict"]["n"] == 200
    assert data["counts"]["predictions"] == before["counts"]["predictions"] + 200
    drift = {f["feature"]: f for f in data["input_drift"]["features"]}
    assert data["input_drift"]["used"] == 200 and set(drift) == set(CARDIO_FEATURES)
    assert not drift["age"]["alert"] and not drift["sbp"]["alert"]
    _drain(huey)
    assert _monitor(client)["queue"]["pending"] == 0
    for case in cases(200, seed=22, site="south", age=10, sbp=15):  # an older, hypertensive hospital
        assert client.post("/predict", json=case, headers=SOUTH).status_code == 200
    drift = {f["feature"]: f for f in _monitor(client)["input_drift"]["features"]}
    assert drift["age"]["alert"] and drift["sbp"]["alert"] and drift["age"]["psi"] > drift["age"]["threshold"]
    assert not drift["male"]["alert"]  # unshifted; its null alerts 1 % of the time
    _drain(huey)
    windows = _monitor(client)["explanation_drift"]["windows"]
    assert {w["n"] for w in windows[:-1]} == {50} and sum(w["n"] for w in windows) >= 399
    assert set(windows[0]["mean_abs"]) == set(CARDIO_FEATURES)
    # the older hospital leans on age: its windows' mean |age attribution| is well above the first ones'
    assert windows[-1]["mean_abs"]["age"] > 1.5 * windows[1]["mean_abs"]["age"]


def test_calibration_says_when_labels_are_too_few_then_counts_them(service):
    huey, client = service
    ids = [client.post("/predict", json=c, headers=NORTH).json()["id"] for c in cases(40, seed=31)]
    calibration = _monitor(client)["calibration"]
    already = calibration["n"]
    for i, prediction_id in enumerate(ids):
        verdict = {"prediction_id": prediction_id, "agrees": i % 4 != 0, "correct_label": i % 2}
        if i == len(ids) - 1:
            verdict["comment"] = "wrong: call Dr. Berg at 555-123-4567"
        assert client.post("/feedback", json=verdict, headers=NORTH).status_code == 201
    if already < 30:
        assert calibration["enough"] is False
    data = _monitor(client)
    assert data["calibration"]["n"] == already + 40 and data["calibration"]["enough"] is True
    assert sum(b["n"] for b in data["calibration"]["bins"]) == already + 40
    assert data["feedback"]["disagree"] >= 10
    latest = data["feedback"]["latest_comments"][0]["comment"]
    assert "555-123-4567" not in latest and "Berg" not in latest and latest.startswith("wrong")


def test_the_calibration_panel_says_its_labels_are_a_selected_sample(service):
    client = service[1]
    assert "selected sample" in _monitor(client)["calibration"]["sample"]
    assert "selected sample" in client.get("/monitor").text
