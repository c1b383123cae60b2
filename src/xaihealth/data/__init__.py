"""Data for the course: real data sets shipped in ``datasets/`` and synthetic generators with ground truth.

Every data set has a datasheet in ``datasets/`` (source, licence, columns, quirks, how it was made).
Generators are deterministic for a given seed.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from xaihealth.data.heart import FEATURES, SITES, load_heart_disease

# Generators live in their own modules and are imported on first use, so that a student who only needs
# the heart disease data does not pay for importing torch.
_LAZY = {
    "make_cardio_cohort": "xaihealth.data.cohort",
    "make_ecgs": "xaihealth.data.ecg",
    "make_chest_xrays": "xaihealth.data.cxr",
    "make_notes": "xaihealth.data.notes",
    "make_trust_cohort": "xaihealth.data.trust",
}

__all__ = ["FEATURES", "SITES", "load_heart_disease", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'xaihealth.data' has no attribute {name!r}")
