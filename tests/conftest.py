"""Fixtures shared by the test modules."""

import os

import pytest
from helpers import chromium


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
