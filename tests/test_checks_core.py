"""The checker pattern: one success line, or an AssertionError with the hint."""

import pytest

from xaihealth.checks import exercise


def test_success_prints_one_line(capsys):
    with exercise("Exercise 9 (demo)") as ex:
        ex.expect(1 + 1 == 2, "arithmetic")
        ex.expect(True, "second property")
    out = capsys.readouterr().out.strip().splitlines()
    assert out == ["\u2714 Exercise 9 (demo): passed (2 checks)"]


def test_failure_raises_with_the_hint_and_prints_nothing(capsys):
    with pytest.raises(AssertionError, match="Exercise 9 \\(demo\\): return a DataFrame"):
        with exercise("Exercise 9 (demo)") as ex:
            ex.expect(False, "return a DataFrame")
    assert capsys.readouterr().out == ""


def test_stub_and_crash_become_actionable_messages():
    def stub(x):
        raise NotImplementedError("Exercise 9 (demo): replace this line with your code")

    with pytest.raises(AssertionError, match="not done yet"):
        with exercise("Exercise 9 (demo)") as ex:
            ex.call(stub, 1)
    with pytest.raises(AssertionError, match="raised ZeroDivisionError"):
        with exercise("Exercise 9 (demo)") as ex:
            ex.call(lambda x: x / 0, 1)


def test_a_checker_that_checks_nothing_is_an_error():
    with pytest.raises(RuntimeError, match="verified nothing"):
        with exercise("Exercise 9 (demo)"):
            pass


@pytest.mark.parametrize("title", ["", "   ", None, 3])
def test_bad_title(title):
    with pytest.raises(ValueError, match="title="):
        with exercise(title):
            pass


def test_call_requires_a_function():
    with pytest.raises(TypeError, match="function=42"):
        with exercise("Exercise 9 (demo)") as ex:
            ex.call(42)
