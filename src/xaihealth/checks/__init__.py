"""Lab checkers: one small pattern for every module.

A check cell in a lab calls ``check_<exercise>(student_function)``. The checker runs the student's
function on inputs it builds itself, tests properties of the method (an invariant, agreement with a
reference implementation, behaviour on a planted case) and then either prints one success line or raises
:class:`CheckFailed` (an ``AssertionError``) with a hint the student can act on; Jupyter shows the hint
alone, not a traceback. Checkers never print the solution.

Write a checker like this::

    def check_site_table(site_table):
        with exercise("Exercise 1 (per-site table)") as ex:
            out = ex.returns(ex.call(site_table, df), pd.DataFrame, "a pandas DataFrame, one row per site")
            ex.expect(set(out.index) == set(df["site"]), "index the rows by site")

The title is the lab's heading ``Exercise N — T`` written ``Exercise N (T)``, as in the lab's stubs
(``tests/test_checker_titles.py``). ``ex.over`` runs the student's function on several cases (seeds,
parameter values, see :func:`grid`) against a reference. Module checkers live in
``xaihealth.checks.<topic>``; each has a mutation test in ``tests/``.
"""

from xaihealth.checks._core import CheckFailed, Exercise, exercise, grid

__all__ = ["CheckFailed", "Exercise", "exercise", "grid"]
