"""The nbval sanitisers (tests/sanitize.cfg) replace what is never a result, and nothing that is.

nbval compares each cell's text output with the committed one after applying these regexes to both. A
regex that is too broad silently stops comparing results: the old "elapsed times" rule turned every
"QTc 470 ms" into TIME. Notebooks mark a wall-clock measurement with "⏱ " right before the number.
"""

import re
from collections import OrderedDict

import pytest
from helpers import ROOT
from nbval.plugin import get_sanitize_patterns

CONFIG = ROOT / "tests" / "sanitize.cfg"


def sanitise(text: str) -> str:
    """What nbval does with --nbval-sanitize-with: every (regex, replace) pair in file order, by re.sub."""
    patterns = OrderedDict(get_sanitize_patterns(CONFIG.read_text(encoding="utf-8")))
    for regex, replace in patterns.items():
        text = re.sub(regex, replace, text)
    return text


def test_config_is_read_as_nbval_reads_it():
    text = CONFIG.read_bytes()
    assert text.isascii(), "nbval opens sanitize.cfg in the locale's encoding: keep it ASCII (use \\uXXXX)"
    sections = re.findall(r"^\[(.+)\]$", text.decode(), re.M)
    patterns = get_sanitize_patterns(text.decode())
    assert len(patterns) == len(sections) >= 4, "every section needs a 'regex:' line followed by 'replace:'"
    for regex, _ in patterns:
        re.compile(regex)


CLINICAL = [
    "QTc 470 ms",
    "QRS 120 ms",
    "PR 160 ms",
    "QTc where the head flips: male 450 ms, female 470 ms",
    "patient 100: female, true QTc 489 ms, label 1",
    "qtc           10 ms       1.042 not linear",
    "a hinge above 450 ms; RMS error 6.250 ms",
    "HR 60 bpm",
    "10 s ECG",
    "a 10 s record at 500 Hz, 5 s shown",
    "RR 1.2 s, QT 0.44 s",
    "TreeSHAP is 285x faster",  # unmarked: a result, not a timing
    "age 65, 2.5 min walk, 30 sec hold",
    "p = 0.00246, 27.2% with an event, AUC 0.806",
]


@pytest.mark.parametrize("text", CLINICAL)
def test_clinical_values_survive(text):
    assert sanitise(text) == text


MARKED = [
    ("enumeration ⏱ 0.725 s, TreeSHAP ⏱ 0.0025 s: speed-up ⏱ 285x",
     "enumeration ⏱ TIME, TreeSHAP ⏱ TIME: speed-up ⏱ TIME"),
    ("fit ⏱ 12 ms", "fit ⏱ TIME"),
    ("training ⏱ 1.5 min; QTc 470 ms", "training ⏱ TIME; QTc 470 ms"),
    ("⏱ 3s", "⏱ TIME"),
    ("KernelSHAP ⏱ 1.2e-03 s", "KernelSHAP ⏱ TIME"),
    ("one call ⏱ 4E+02 us", "one call ⏱ TIME"),
    ("gradient ⏱ 850 µs", "gradient ⏱ TIME"),  # micro sign U+00B5
    ("gradient ⏱ 850 \u03bcs", "gradient ⏱ TIME"),  # Greek mu, as some libraries print it
    ("gradient ⏱ 850 us", "gradient ⏱ TIME"),
    ("⏱1.2 s", "⏱TIME"),
    ("epoch ⏱ 12.5 seconds", "epoch ⏱ TIME"),
    ("epoch ⏱ 3 sec", "epoch ⏱ TIME"),
    ("bootstrap ⏱ 1,250 ms; QTc 470 ms", "bootstrap ⏱ TIME; QTc 470 ms"),
    ("bootstrap ⏱ 1,250.5 ms", "bootstrap ⏱ TIME"),
    ("speed-up ⏱ 1,250x vs mean QTc 470 ms", "speed-up ⏱ TIME vs mean QTc 470 ms"),
]


@pytest.mark.parametrize(
    "text",
    [
        "mean QTc 470 ms",
        "QTc 470 ms, QT 1.2e-01 s, 1,250 ms total, 850 µs window",  # every number format, no marker
        "⏱ marks a wall-clock time; QTc 470 ms",  # the marker, but not right before the number
        "⏱ 470 msec",  # not one of the units
        "⏱  470 ms",  # two spaces: not how a notebook prints it
    ],
)
def test_only_a_number_right_after_the_marker_is_replaced(text):
    assert sanitise(text) == text


@pytest.mark.parametrize(("text", "expected"), MARKED)
def test_marked_timings_are_replaced(text, expected):
    assert sanitise(text) == expected


def test_memory_addresses_paths_and_library_locations_are_replaced():
    assert sanitise("<Figure at 0x7f3a2b1c9d40>") == "<Figure at 0xADDRESS>"
    assert sanitise("saved to /tmp/tmpab12_cd/cav.pkl") == "saved to TMPPATH"
    assert sanitise("/home/me/course/.venv/lib/python3.11/site-packages/interpret/x.py:871: UserWarning") == (
        "SITE-PACKAGES/interpret/x.py:871: UserWarning"
    )
    assert sanitise("QTc 470 ms at 0x1f") == "QTc 470 ms at 0x1f", "a short hex number is a value"
