"""Hidden tests, run by the instructor at grading only (left out of the student release).

One ``hidden_check_<name>(f)`` per lab exercise, in the module named like the public checkers'
(``xaihealth.instructor.hidden.shapley`` next to ``xaihealth.checks.shapley``). Each tests the same
exercise on cases the public checker does not show: other seeds, other parameter values, other shapes,
planted cases. They reach the references through ``refs = hidden_references("<module>")``: in the full
repository the real functions; in the grading kit that ``make grade`` runs submissions against (no
``xaihealth.instructor.references`` there, :mod:`xaihealth.instructor.kit`) the values recorded from the
solution's check cells, hidden blocks included, in ``expected/<module>.pkl`` (SHA-256 in
``expected/SHA256SUMS``). That store is not the public checkers' (``xaihealth.checks._reference``), so a
student release, recorded without the hidden blocks, never holds a hidden case's expected value. The
solution notebooks call the hidden tests between ``### BEGIN HIDDEN TESTS`` and ``### END HIDDEN TESTS`` in
the check cells; ``make labs`` and nbgrader strip them from what students get.
"""

from __future__ import annotations

from pathlib import Path

from xaihealth.checks._reference import References

HIDDEN_ENV = "XAIHEALTH_HIDDEN_REFERENCES"  # real, replay:<dir> or record:<dir>, as XAIHEALTH_REFERENCES
HIDDEN_EXPECTED = Path(__file__).resolve().with_name("expected")  # the grading kit's hidden store


def hidden_references(module: str) -> References:
    """The references the hidden tests of ``module`` compare with: real, or replayed in a grading kit."""
    known = sorted(p.stem for p in Path(__file__).parent.glob("[a-z]*.py"))
    if not isinstance(module, str) or module not in known:
        raise ValueError(f"module={module!r} is not a hidden-tests module; use one of {', '.join(known)}")
    return References(module, env=HIDDEN_ENV, expected=HIDDEN_EXPECTED)
