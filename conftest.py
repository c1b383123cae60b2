"""Test-suite wide settings: the course must run offline.

Every test and every notebook kernel started by nbval runs with ``HF_HUB_OFFLINE=1`` and with the
``xaihealth.offline`` guard armed. Any attempt to open a connection to a non-loopback address is refused
and written to a log; a non-empty log fails the whole run, even if the code under test swallowed the
exception.
"""

import os
import tempfile
from pathlib import Path

import pytest

_LOG = Path(tempfile.mkdtemp(prefix="xaihealth-net-")) / "network-attempts.log"

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["XAIHEALTH_OFFLINE"] = "1"  # inherited by nbval's kernels: importing xaihealth arms the guard
os.environ["XAIHEALTH_NETWORK_LOG"] = str(_LOG)
os.environ.setdefault("TQDM_DISABLE", "1")

from xaihealth import offline  # noqa: E402

offline.install()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _LOG.exists() and _LOG.read_text().strip():
        print("\nNETWORK ACCESS ATTEMPTED during the tests (the course must run offline):")
        print(_LOG.read_text())
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
