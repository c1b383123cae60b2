"""The package, scripts and tests stay ruff-clean (DESIGN §10)."""

import subprocess
import sys

from helpers import ROOT


def test_ruff_check_is_clean():
    result = subprocess.run(
        [sys.executable, "-m", "ruff", "check", "--no-cache", "src", "tests", "scripts", "conftest.py"],
        cwd=ROOT, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode == 0, f"ruff found problems (`ruff check --fix` mends some):\n{result.stdout}"
