"""The embedded profile end to end: ``python -m xaihealth.serving`` (what ``make serve`` runs) starts a real
uvicorn and a real huey_consumer on a free port, a case goes pending -> done, and both stop together."""

import os
import signal
import socket
import subprocess
import sys
import time

import httpx
import pytest
from helpers import ROOT

from xaihealth.serving.archive import Archive, Explanation, Prediction
from xaihealth.serving.config import settings_from_env

CASE = {"model": "cardio", "patient_id": "MRN 5550001", "site": "north",
        "features": dict(age=58.0, male=0, bmi=24.5, sbp=128, chol=5.1, smoker=0, diabetes=1, qtc=455,
                         qt_drug=1, site=1)}  # fmt: skip
START_S, EXPLAIN_S = 180, 60  # generous: two processes train the cohort model on a shared 2-core machine


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait(condition, timeout, what, proc):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"the service exited with {proc.returncode} while waiting for {what}"
        try:
            if condition():
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    pytest.fail(f"no {what} within {timeout} s")


def test_make_serve_runs_app_and_worker_end_to_end(tmp_path):
    port = _free_port()
    env = dict(os.environ, XAIHEALTH_SERVING_DIR=str(tmp_path), XAIHEALTH_SERVING_MODELS="cardio",
               OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1")  # fmt: skip
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "xaihealth.serving", "--port", str(port)], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(lambda: httpx.get(f"{base}/health").status_code == 200, START_S, "app", proc)
        assert httpx.post(f"{base}/predict", json=dict(CASE, site="a b")).status_code == 422
        body = httpx.post(f"{base}/predict", json=CASE).json()
        assert body["explanation"] == "pending" and 0 < body["risk"] < 1
        url = f"{base}/explanations/{body['id']}"
        _wait(lambda: httpx.get(url).json()["status"] == "done", START_S + EXPLAIN_S, "explanation", proc)
        assert httpx.get(url).json()["explanation"]["method"] == "shap.TreeExplainer"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=60)
        log.close()
    output = (tmp_path / "serve.log").read_text()
    assert code == 0, output
    assert "Consumer exiting" in output and "Application shutdown complete" in output  # both stopped
    archive = Archive(settings_from_env(env).archive_url, settings_from_env(env).pseudonym_key)
    assert (archive.count(Prediction), archive.count(Explanation)) == (1, 1)
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("*.sqlite*"))  # archive and queue files
    assert b"MRN 5550001" not in stored


def test_when_one_process_dies_the_other_is_stopped_and_the_launch_fails(tmp_path):
    env = dict(os.environ, XAIHEALTH_SERVING_DIR=str(tmp_path), XAIHEALTH_SERVING_MODELS="cardio",
               OMP_NUM_THREADS="1")  # fmt: skip
    with socket.socket() as busy:  # the app cannot bind its port
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "xaihealth.serving", "--port", str(port)], cwd=ROOT,
                              env=env, capture_output=True, text=True, timeout=START_S)  # fmt: skip
    assert done.returncode != 0
    assert "app exited" in done.stderr and "stopped the other" in done.stderr, done.stderr[-2000:]
