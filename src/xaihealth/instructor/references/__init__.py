"""The ``reference_*`` implementations the lab checkers compare with, one module per checks module.

``xaihealth.instructor.references.<module>`` holds the references of ``xaihealth.checks.<module>``.
Checkers reach them only through ``xaihealth.checks._reference.references("<module>")``; hidden tests and
the checkers' own tests import them directly.
"""
