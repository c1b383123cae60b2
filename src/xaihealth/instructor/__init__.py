"""Instructor-only tools: reference implementations, hidden tests, grading and the student release.

Everything a student must not be able to call lives here. The package is part of the full repository
(self-study and grading from the repository keep working) and is LEFT OUT of the student release that
``make release`` builds (:mod:`xaihealth.instructor.release`); the release's checkers replay stored
expected values instead (:mod:`xaihealth.checks._reference`).
"""
