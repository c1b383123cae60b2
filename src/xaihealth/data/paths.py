"""Where the shipped data lives.

The ``datasets/`` folder sits at the repository root, beside ``src/``. ``XAIHEALTH_DATASETS`` overrides
it (for an installed copy of the package that is not inside the repository).
"""

from __future__ import annotations

import os
from pathlib import Path


def datasets_dir() -> Path:
    """Return the folder that holds the shipped data sets and checkpoints."""
    override = os.environ.get("XAIHEALTH_DATASETS")
    folder = Path(override) if override else Path(__file__).resolve().parents[3] / "datasets"
    if not folder.is_dir():
        raise FileNotFoundError(
            f"datasets folder {str(folder)!r} not found; run from a clone of the course repository "
            "or set XAIHEALTH_DATASETS to its datasets/ folder"
        )
    return folder
