"""Test-suite wide settings: the course must run offline, and the scorecard's verdicts must not drift.

Every test and every notebook kernel started by nbval runs with ``HF_HUB_OFFLINE=1`` and with the
``xaihealth.offline`` guard armed. Any attempt to open a connection to a non-loopback address is refused
and written to a log; a non-empty log fails the whole run, even if the code under test swallowed the
exception.

The kernels also inherit ``XAIHEALTH_SCORECARD`` pointing at a scratch file of this session: the rows the
lecture notebooks record while nbval executes them land there (never in ``benchmarks/``), and the tests
marked ``after_notebooks`` (run last) compare them with the committed scorecard.
"""

import os
import shutil
import tempfile
from pathlib import Path

import pytest

_LOG = Path(tempfile.mkdtemp(prefix="xaihealth-net-")) / "network-attempts.log"

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["XAIHEALTH_OFFLINE"] = "1"  # inherited by nbval's kernels: importing xaihealth arms the guard
os.environ["XAIHEALTH_NETWORK_LOG"] = str(_LOG)
os.environ.setdefault("TQDM_DISABLE", "1")
os.environ.pop("XAIHEALTH_SEED", None)  # nbval checks the committed run: base seed 0
SCORECARD_ROWS = _LOG.parent / "scorecard-rows.jsonl"
os.environ["XAIHEALTH_SCORECARD"] = str(SCORECARD_ROWS)

from xaihealth import offline  # noqa: E402

offline.install()


def chromium() -> str | None:
    """Debian's chromium (or ``XAIHEALTH_CHROMIUM``), the only browser the tests drive; None when absent."""
    found = os.environ.get("XAIHEALTH_CHROMIUM") or shutil.which("chromium")
    return found or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    """Headless Debian chromium driven by Playwright (never ``playwright install``); one per test module.

    Skipped where there is no chromium, except under CI, where its absence is a failure.
    """
    path = chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("no chromium: install Debian's `chromium` (.ci/run does as root)")
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium; or set XAIHEALTH_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "after_notebooks: runs after every notebook has been executed")
    config.addinivalue_line(
        "markers", "cross_cpu: re-runs notebooks with AVX2 maths kernels (a laptop): no CPU-dependent prints"
    )


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list) -> None:
    """Tests marked ``after_notebooks`` go last, so that they see what the nbval run recorded."""
    items.sort(key=lambda item: item.get_closest_marker("after_notebooks") is not None)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _LOG.exists() and _LOG.read_text().strip():
        print("\nNETWORK ACCESS ATTEMPTED during the tests (the course must run offline):")
        print(_LOG.read_text())
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
