"""Shared paths for the tests."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
SOLUTIONS = ROOT / "solutions"
LABS = ROOT / "labs"
SLIDES = ROOT / "slides"


def sources(*folders: Path) -> list[Path]:
    """The py:percent sources of the course notebooks in ``folders``."""
    return [p for folder in folders for p in sorted(folder.glob("[0-9]*.py"))]

