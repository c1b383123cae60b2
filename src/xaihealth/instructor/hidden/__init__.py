"""Hidden tests, run by the instructor at grading only (left out of the student release).

One ``hidden_check_<name>(f)`` per lab exercise, in the module named like the public checkers'
(``xaihealth.instructor.hidden.shapley`` next to ``xaihealth.checks.shapley``). Each tests the same
exercise on cases the public checker does not show: other seeds, other parameter values, other shapes,
planted cases. They reach the references by importing ``xaihealth.instructor.references.<module>``
directly, never through ``xaihealth.checks._reference.references``, so recording a release never stores a
hidden case's expected value. The solution notebooks call them between ``### BEGIN HIDDEN TESTS`` and
``### END HIDDEN TESTS`` in the check cells; ``make labs`` and nbgrader strip them from what students get.
"""
