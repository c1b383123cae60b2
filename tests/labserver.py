"""`make lab`, started for a test: on a free localhost port, with a token, in throw-away Jupyter folders.

The user's own Jupyter config, settings and saved workspaces (``~/.jupyter``) are replaced by empty folders
under ``home``, so that the test sees what a new student sees: the course's settings installed in the
environment by ``make setup`` (``etc/prefix``) and nothing else.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from helpers import ROOT

START_TIMEOUT_S = 180  # make lab runs make setup first: a lock newer than the venv is reinstalled


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running_lab(home: Path, token: str = "course-test-token", env: dict | None = None) -> Iterator[str]:
    """Run ``make lab`` (headless) with Jupyter's folders under ``home``; yield its base URL.

    ``env`` adds environment variables (e.g. ``JUPYTER_CONFIG_PATH`` for an extra config folder). The server
    and ``make`` are stopped on exit. Raises RuntimeError with the end of the log when it does not start.
    """
    if not token.replace("-", "").isalnum():
        raise ValueError(f"token={token!r}: use letters, digits and '-' only (it goes into a make argument)")
    port = free_port()
    folders = {name: home / name for name in ("config", "data", "runtime")}
    for folder in folders.values():
        folder.mkdir(parents=True, exist_ok=True)
    full_env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(folders["config"]),
        JUPYTER_DATA_DIR=str(folders["data"]),
        JUPYTER_RUNTIME_DIR=str(folders["runtime"]),
        **(env or {}),
    )
    args = f"--no-browser --ip=127.0.0.1 --port={port} --IdentityProvider.token={token}"
    log_path = home / "lab.log"
    with open(log_path, "w+") as log:
        # the README's command itself, with arguments for a headless test
        proc = subprocess.Popen(
            ["make", "--no-print-directory", "lab", f"LAB_ARGS={args}"],
            cwd=ROOT,
            env=full_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + START_TIMEOUT_S
            while True:
                try:
                    urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=2)
                    break
                except OSError as error:
                    if proc.poll() is not None:
                        raise RuntimeError(f"make lab exited: {log_path.read_text()[-2000:]}") from error
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"jupyter lab did not answer within {START_TIMEOUT_S} s: "
                                           f"{log_path.read_text()[-2000:]}") from error
                    time.sleep(0.3)
            yield base
        finally:
            os.killpg(proc.pid, signal.SIGTERM)  # make and the server it started
            proc.wait(timeout=20)
