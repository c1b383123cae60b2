"""`make lab`'s server: JupyterLab starts on the course and opens paired .py files as notebooks."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest
from helpers import ROOT


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port, token = _free_port(), "course-test-token"
    runtime = tmp_path_factory.mktemp("jupyter-runtime")
    env = dict(os.environ, JUPYTER_RUNTIME_DIR=str(runtime))
    args = f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token}"
    # the README's command itself, with arguments for a headless test
    log = open(runtime / "lab.log", "w+")  # noqa: SIM115 - closed in the finally block
    proc = subprocess.Popen(
        ["make", "--no-print-directory", "lab", f"LAB_ARGS={args}"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(120):
            try:
                urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail(f"make lab exited: {(runtime / 'lab.log').read_text()[-2000:]}")
                time.sleep(0.5)
        else:
            pytest.fail("jupyter lab did not answer within 60 s")
        yield base, token
    finally:
        os.killpg(proc.pid, signal.SIGTERM)  # make and the server it started
        proc.wait(timeout=20)
        log.close()


def _get(server, path):
    base, token = server
    with urllib.request.urlopen(f"{base}{path}?token={token}", timeout=30) as reply:
        return reply.status, reply.read()


def test_lab_page_is_served(server):
    status, body = _get(server, "/lab")
    assert status == 200 and b"JupyterLab" in body


def test_py_source_opens_as_a_notebook(server):
    status, body = _get(server, "/api/contents/notebooks/00_clever_hans.py")
    model = json.loads(body)
    assert status == 200 and model["type"] == "notebook", "jupytext's contents manager is not active"
    assert any("Clever Hans" in "".join(cell["source"]) for cell in model["content"]["cells"])


def test_default_viewer_for_python_files_is_the_notebook():
    overrides = json.loads((ROOT / "etc" / "jupyterlab-overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers["python"] == "Jupytext Notebook"
    installed = os.path.join(sys.prefix, "share", "jupyter", "lab", "settings", "overrides.json")
    assert os.path.exists(installed), "make setup should install the JupyterLab overrides into the venv"
