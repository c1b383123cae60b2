"""Shared paths for the tests."""

import os
import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOLUTIONS = ROOT / "solutions"
LABS = ROOT / "labs"
SLIDES = ROOT / "slides"


def sources(*folders: Path) -> list[Path]:
    """The py:percent sources of the course notebooks in ``folders``."""
    return [p for folder in folders for p in sorted(folder.glob("[0-9]*.py"))]


def chromium() -> str | None:
    """Debian's chromium (or ``XAIHEALTH_CHROMIUM``), the only browser the tests drive; None when absent."""
    found = os.environ.get("XAIHEALTH_CHROMIUM") or shutil.which("chromium")
    return found or shutil.which("chromium-browser")
