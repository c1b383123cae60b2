"""Start the service: the app (uvicorn) and its explanation worker (huey_consumer), stopped together.

``python -m xaihealth.serving [--host 127.0.0.1] [--port 8000] [--workers 1]`` (``make serve``). The
profile comes from the environment (:mod:`xaihealth.serving.config`); it is read here first, so that a bad
setting fails before anything starts and the embedded profile's key file exists before both processes
read it. Ctrl-C (or SIGTERM) stops both; if one of them dies, the other is stopped too.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

from xaihealth.serving.config import settings_from_env


def commands(host: str, port: int, workers: int) -> dict[str, list[str]]:
    """The two command lines, with this interpreter."""
    return {
        "worker": [sys.executable, "-m", "huey.bin.huey_consumer", "xaihealth.serving.worker.huey",
                   "--workers", str(workers)],
        "app": [sys.executable, "-m", "uvicorn", "--factory", "xaihealth.serving.app:create_app",
                "--host", host, "--port", str(port)],
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xaihealth.serving", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="huey worker threads (default 1)")
    args = parser.parse_args(argv)
    settings = settings_from_env()
    print(f"xaihealth serving: {settings.profile} profile, archive {settings.archive_url}, "
          f"queue {settings.queue_url}; app on http://{args.host}:{args.port}", flush=True)  # fmt: skip
    lines = commands(args.host, args.port, args.workers)
    procs = {name: subprocess.Popen(cmd) for name, cmd in lines.items()}

    asked = []

    def stop(*_: object) -> None:
        asked.append(True)

    signal.signal(signal.SIGTERM, stop)
    try:
        while not asked and all(proc.poll() is None for proc in procs.values()):
            time.sleep(0.2)
    except KeyboardInterrupt:
        asked.append(True)
    died = {name: proc.returncode for name, proc in procs.items() if proc.poll() is not None}
    for proc in procs.values():
        if proc.poll() is None:
            proc.terminate()
    for proc in procs.values():
        proc.wait(timeout=30)
    if died and not asked:  # one of them stopped on its own: say which, fail with its code
        print(f"xaihealth serving: {', '.join(died)} exited ({died}); stopped the other", file=sys.stderr)
        return max(abs(code) for code in died.values()) or 1
    return 0
