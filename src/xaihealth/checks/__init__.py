"""Lab checkers: one small pattern for every module.

A check cell in a lab calls ``check_<exercise>(student_function)``. The checker runs the student's
function on inputs it builds itself, tests properties of the method (an invariant, agreement with a
reference implementation, behaviour on a planted case) and then either prints one success line or raises
``AssertionError`` with a hint the student can act on. Checkers never print the solution.

Write a checker like this::

    def check_site_table(site_table):
        with exercise("Exercise 1 - per-site table") as ex:
            out = ex.call(site_table, df)
            ex.expect(isinstance(out, pd.DataFrame), "return a pandas DataFrame, one row per site")

Module checkers live in ``xaihealth.checks.<topic>``; each has a mutation test in ``tests/``.
"""

from xaihealth.checks._core import Exercise, exercise

__all__ = ["Exercise", "exercise"]
