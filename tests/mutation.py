"""The mutation-test pattern for lab checkers.

For every checker: the reference implementation must pass, and each plausible wrong implementation
(a *mutant*) must be rejected with an ``AssertionError``. Use it as::

    CASES = mutation_cases(check_x, reference_x, [mutant_a, mutant_b, mutant_c])

    @pytest.mark.parametrize(("checker", "function", "accept"), CASES, ids=case_id)
    def test_checker(checker, function, accept, capsys):
        run_case(checker, function, accept, capsys)
"""

import pytest


def mutation_cases(checker, reference, mutants):
    assert len(mutants) >= 3, "each checker must be tested against at least three wrong implementations"
    return [(checker, reference, True)] + [(checker, m, False) for m in mutants]


def case_id(value):
    return getattr(value, "__name__", str(value))


def run_case(checker, function, accept, capsys):
    if accept:
        checker(function)
        assert "passed" in capsys.readouterr().out, "an accepted solution must print its success line"
    else:
        with pytest.raises(AssertionError):
            checker(function)
        assert "passed" not in capsys.readouterr().out
