"""Start the service: the app (uvicorn) and its explanation worker (huey_consumer), stopped together.

``python -m xaihealth.serving [--host 127.0.0.1] [--port 8000] [--workers 1] [--consumers 1]``
(``make serve``). The profile comes from the environment (:mod:`xaihealth.serving.config`, and the
worker's :func:`~xaihealth.serving.worker.timing_from_env`); it is read here first, so that a bad setting
fails before anything starts and the embedded profile's key and token files exist before the processes
read them (the app prints where the tokens are). ``--consumers N`` starts N consumer processes of
``--workers`` threads each: the production profile's way to explain on several cores (or, started by hand
on other machines against the same Redis and PostgreSQL, several hosts). Ctrl-C (or SIGTERM) stops them
all; if one of them dies, the others are stopped too.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time

from xaihealth.serving.archive import Archive
from xaihealth.serving.config import Settings, settings_from_env
from xaihealth.serving.worker import timing_from_env


def worker_command(workers: int = 1) -> list[str]:
    """A huey consumer of the environment's queue with ``workers`` threads, with this interpreter."""
    return [sys.executable, "-m", "huey.bin.huey_consumer", "xaihealth.serving.worker.huey",
            "--workers", str(workers)]  # fmt: skip


def app_command(host: str, port: int) -> list[str]:
    """uvicorn serving the app of the environment's settings, with this interpreter."""
    return [sys.executable, "-m", "uvicorn", "--factory", "xaihealth.serving.app:create_app",
            "--host", host, "--port", str(port)]  # fmt: skip


def commands(host: str, port: int, workers: int, consumers: int = 1) -> dict[str, list[str]]:
    """The command lines by name: ``worker`` (or ``worker-1`` ... ``worker-N``) and ``app``."""
    if not isinstance(consumers, int) or not 1 <= consumers <= 64:
        raise ValueError(f"consumers={consumers!r} must be an integer from 1 to 64")
    names = ["worker"] if consumers == 1 else [f"worker-{i + 1}" for i in range(consumers)]
    return {**{name: worker_command(workers) for name in names}, "app": app_command(host, port)}


def prepare(settings: Settings) -> None:
    """Create the archive's tables once, before the processes start (several processes creating them at
    once on an empty database race: one of them fails with 'already exists')."""
    Archive(settings.archive_url, settings.pseudonym_key).engine.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m xaihealth.serving", description=__doc__.split("\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1, help="huey worker threads per consumer (default 1)")
    parser.add_argument("--consumers", type=int, default=1, help="huey consumer processes (default 1)")
    args = parser.parse_args(argv)
    settings = settings_from_env()
    timing_from_env()
    lines = commands(args.host, args.port, args.workers, args.consumers)
    prepare(settings)
    print(f"xaihealth serving: {settings.profile} profile, archive {settings.archive_url}, "
          f"queue {settings.queue_url}, {args.consumers} consumer(s) of {args.workers} worker(s); "
          f"app on http://{args.host}:{args.port}", flush=True)  # fmt: skip
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
        print(f"xaihealth serving: {', '.join(died)} exited ({died}); stopped the others", file=sys.stderr)
        return max(abs(code) for code in died.values()) or 1
    return 0
