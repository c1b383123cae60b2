"""The two views in headless Debian chromium against a real service: uvicorn and a real huey consumer, each
its own process (embedded profile: SQLite archive and SqliteHuey queue in a temporary folder, the cardio
model only, trained once per process).

- the doctor enters the token, submits a case, sees the risk at once, then the explanation appears on the
  same page (no navigation: a window marker and the single navigation entry survive);
- the data scientist's page shows no drift alert for 200 cases of the training population, then, with the
  page refreshing itself, the alert for age and blood pressure when an older, hypertensive hospital sends
  200 cases, and none for an unshifted feature;
- a doctor's token is refused by the monitoring page.
"""

import json
import os
import re
import socket
import subprocess
import sys
import time

import httpx
import pytest
from test_serving_views import cases

START_S = 180  # two processes each train the cardio model, on 2 busy cores
TOKENS = {"doctor-north-0123456789": {"role": "doctor", "site": "north"},
          "doctor-south-0123456789": {"role": "doctor", "site": "south"},
          "scientist-0123456789": {"role": "data_scientist"}}  # fmt: skip
NORTH, SOUTH, SCIENTIST = TOKENS


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    folder = tmp_path_factory.mktemp("browser")
    env = dict(os.environ, XAIHEALTH_SERVING_PROFILE="embedded", XAIHEALTH_SERVING_DIR=str(folder),
               XAIHEALTH_SERVING_MODELS="cardio", XAIHEALTH_SERVING_TOKENS=json.dumps(TOKENS),
               XAIHEALTH_EXPLAIN_RETRIES="0", OMP_NUM_THREADS="1")  # fmt: skip
    port = _free_port()
    commands = {
        "app": [sys.executable, "-m", "uvicorn", "--factory", "xaihealth.serving.app:create_app",
                "--host", "127.0.0.1", "--port", str(port)],
        "worker": [sys.executable, "-m", "huey.bin.huey_consumer", "xaihealth.serving.worker.huey",
                   "-w", "1", "-d", "0.1", "-m", "0.5"],
    }  # fmt: skip
    logs = {name: open(folder / f"{name}.log", "w") for name in commands}  # noqa: SIM115
    procs = {name: subprocess.Popen(cmd, env=env, stdout=logs[name], stderr=subprocess.STDOUT)
             for name, cmd in commands.items()}  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_S
        while True:
            dead = [name for name, proc in procs.items() if proc.poll() is not None]
            assert not dead, f"{dead} exited: " + (folder / f"{dead[0]}.log").read_text()[-3000:]
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the app did not start in time"
            time.sleep(0.5)
        yield base
    finally:
        for proc in procs.values():
            proc.terminate()
        for proc in procs.values():
            proc.wait(timeout=30)
        for fh in logs.values():
            fh.close()


def _post_all(base, batch, token):
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"}, timeout=30) as client:
        for case in batch:
            assert client.post("/predict", json=case).status_code == 200


def _set_token(page, token):
    page.fill("#token", token)
    page.click("#token-form button")


@pytest.fixture
def page(browser):
    context = browser.new_context()
    page = context.new_page()
    yield page
    context.close()


def test_the_doctor_sees_the_risk_then_the_explanation_without_a_reload(server, page):
    page.goto(f"{server}/doctor")
    page.evaluate("window.__marker = 'same page'")
    _set_token(page, NORTH)
    page.evaluate("""() => {
        window.__events = [];
        const watch = (id) => new MutationObserver(() => {
            const shown = !document.getElementById(id).hidden;
            if (shown && !window.__events.includes(id)) window.__events.push(id);
        }).observe(document.getElementById(id), {attributes: true});
        watch("diagnosis"); watch("explanation");
    }""")
    page.click("#submit-case")
    page.wait_for_function("!document.getElementById('diagnosis').hidden"
                           " || document.getElementById('case-error').textContent",
                           timeout=10_000)  # fmt: skip
    assert page.text_content("#case-error") == ""
    text = page.text_content("#risk-text")
    risk_words = r"Estimated 10-year risk of a cardiovascular event: (\d+) % \((low|moderate|high)\)"
    match = re.fullmatch(risk_words, text)
    assert match, text
    page.wait_for_selector("#explanation", state="visible", timeout=60_000)
    assert page.evaluate("window.__events") == ["diagnosis", "explanation"]
    assert page.evaluate("window.__marker") == "same page"
    assert page.evaluate("performance.getEntriesByType('navigation').length") == 1
    # the page shows what the API says, for this prediction, in words, largest first
    prediction_id = page.evaluate("current")
    auth = {"Authorization": f"Bearer {NORTH}"}
    answer = httpx.get(f"{server}/explanations/{prediction_id}", headers=auth).json()
    factors = page.locator("#factors li").all_text_contents()
    assert factors == [w["text"] for w in answer["in_words"]] and len(factors) == 10
    assert any(f.startswith("systolic blood pressure 150 mmHg: ") for f in factors)
    assert "log-odds" not in " ".join(factors) and page.get_attribute("#log-odds", "open") is None
    assert "explains the model, not the patient's biology" in page.text_content("#explanation-warning")
    risk = httpx.post(f"{server}/predict", json=_form_case(), headers=auth).json()["risk"]
    assert int(match.group(1)) == round(risk * 100)  # the same model, the same case
    page.check("input[name=agrees][value=false]")
    page.select_option("#correct_label", "1")
    page.fill("#comment", "event at 2 years")
    page.click("#feedback-form button")
    page.wait_for_function("document.getElementById('feedback-status').textContent")
    assert page.text_content("#feedback-status") == "Feedback recorded. Thank you."


def _form_case():
    """The doctor page's default case (its form's values)."""
    from xaihealth.serving.views import FEATURE_FORM

    return {"model": "cardio", "patient_id": "MRN 0000001", "site": "north",
            "features": {name: default for name, _, default, _ in FEATURE_FORM}}  # fmt: skip


def _alerts(page):
    return {f: page.text_content(f"#drift-{f} td:last-child") for f in ("age", "sbp", "male")}


def test_the_monitoring_page_raises_the_alert_of_a_planted_drift(server, page):
    _post_all(server, cases(200, seed=21), NORTH)  # the training population
    page.goto(f"{server}/monitor")
    page.evaluate("window.__marker = 'same page'")
    _set_token(page, SCIENTIST)
    page.wait_for_function("document.getElementById('drift-note').textContent.startsWith('200 of')",
                           timeout=30_000)  # fmt: skip
    assert page.locator("#drift tr").count() == 11  # a header and the 10 features
    assert _alerts(page) == {"age": "no alert", "sbp": "no alert", "male": "no alert"}
    _post_all(server, cases(200, seed=22, site="south", age=10, sbp=15), SOUTH)  # the new hospital
    page.wait_for_function("document.querySelector('#drift-age td:last-child').textContent === 'ALERT'",
                           timeout=30_000)  # fmt: skip
    assert _alerts(page) == {"age": "ALERT", "sbp": "ALERT", "male": "no alert"}
    assert page.evaluate("window.__marker") == "same page"  # it refreshed itself, no reload
    assert page.text_content("#queue-depth").isdigit()


def test_a_doctors_token_is_refused_by_the_monitoring_page(server, page):
    page.goto(f"{server}/monitor")
    _set_token(page, NORTH)
    page.wait_for_function("document.getElementById('status').textContent.includes('403')", timeout=10_000)
    assert page.text_content("#status").startswith("Refused: this page needs a data-scientist token.")
    assert not page.is_visible("#panels")
