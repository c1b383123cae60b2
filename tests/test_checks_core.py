"""The checker pattern: one success line, or an AssertionError with the hint (DESIGN §13)."""

import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

import xaihealth.checks
from xaihealth.checks import CheckFailed, exercise, grid
from xaihealth.checks import circuits_sae as cs
from xaihealth.checks import clever_hans as ch
from xaihealth.checks import concepts as co
from xaihealth.checks import glass_box as gb
from xaihealth.checks import gradients as gr
from xaihealth.checks import llm_internals as li
from xaihealth.checks import shapley as sh
from xaihealth.checks._core import is_student_code


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
    """A value instead of a function is the student's slip: a hint, not a TypeError through the checker."""
    with pytest.raises(CheckFailed) as info:
        with exercise("Exercise 9 (demo)") as ex:
            ex.call(42)
    assert info.value.hint == "pass the function itself, not what it returns; you passed an int"
    assert info.value.__cause__ is None and info.value.__suppress_context__


def check_demo(my_function):
    """A checker as the modules write them, for the hint that names it and its parameter."""
    with exercise("Exercise 9 (demo)") as ex:
        ex.over(my_function, np.arange(3.0), cases=grid(k=(1, 2)), reference=lambda x, k: x**k,
                compare=np.allclose, hint="wrong")  # fmt: skip


@pytest.mark.parametrize(
    ("value", "passed"),
    [(0.3, "a float"), ((0.01, True), "a tuple of 2 items"), (None, "None"), (np.zeros(3), "a numpy array")],
    ids=["float", "tuple", "None", "array"],
)
def test_passing_the_result_instead_of_the_function_is_a_hint_naming_the_checker(value, passed):
    with pytest.raises(CheckFailed) as info:
        check_demo(value)
    err = info.value
    assert err.hint.startswith(
        "pass the function itself: check_demo(my_function), not check_demo(my_function(...)); "
        f"you passed {passed}"
    ), err.hint
    assert err.where is None and isinstance(err, AssertionError)
    _short_block(err._render_traceback_())


def test_a_real_checker_given_a_float_says_pass_the_function(capsys):
    with pytest.raises(CheckFailed) as info:
        co.check_tcav_significance(0.3)
    assert str(info.value) == (
        "Exercise 3 (is the concept significant?): pass the function itself: "
        "check_tcav_significance(tcav_significance), not check_tcav_significance(tcav_significance(...)); "
        "you passed a float"
    )
    assert info.value._render_traceback_() == [f"\u2718 {info.value}"] and capsys.readouterr().out == ""


def test_a_programming_error_in_checker_code_still_raises():
    """A bad title is the checker author's bug: a ValueError, even with a non-function in the block."""
    with pytest.raises(ValueError, match="title=''") as info:
        with exercise("") as ex:
            ex.call(0.3)
    assert not isinstance(info.value, AssertionError)


# --- a failure is one short block, not a traceback --------------------------------------------------------


def _failure(function, *args):
    """The CheckFailed raised by a checker block that calls ``function`` and expects a 3-vector."""
    with pytest.raises(CheckFailed) as info:
        with exercise("Exercise 9 (demo)") as ex:
            out = ex.call(function, *args)
            ex.expect(np.asarray(out).shape == (3,), "return 3 numbers")
    return info.value


def _short_block(lines):
    assert 1 <= len(lines) <= 4, lines
    assert not any(line.lstrip().startswith(("File ", "Traceback")) for line in lines), lines


def test_a_failed_check_is_an_assertion_error_with_a_short_rendering():
    with pytest.raises(AssertionError) as info:
        with exercise("Exercise 9 (demo)") as ex:
            ex.expect(False, "return a DataFrame")
    err = info.value
    assert isinstance(err, CheckFailed)
    assert str(err) == "Exercise 9 (demo): return a DataFrame"
    assert err._render_traceback_() == ["\u2718 Exercise 9 (demo): return a DataFrame"]


def broken_student(x):
    total = x + 1
    return total / 0


def student_calling_a_library(x):
    # numpy raises, deep inside numpy: the student's line is the one that called it
    return np.linalg.inv(np.zeros((2, 2)))


def test_a_student_exception_names_its_type_message_and_the_students_line():
    err = _failure(broken_student, 1)
    line = broken_student.__code__.co_firstlineno + 2
    assert err.hint == "your function raised ZeroDivisionError: division by zero"
    assert err.where == f"test_checks_core.py, line {line}, in broken_student: return total / 0"
    assert str(err) == f"Exercise 9 (demo): {err.hint} [{err.where}]"
    assert isinstance(err.__cause__, ZeroDivisionError)
    _short_block(err._render_traceback_())
    assert err._render_traceback_()[1].strip() == err.where


def test_the_innermost_student_frame_is_shown_not_the_librarys():
    err = _failure(student_calling_a_library, 1)
    assert "raised LinAlgError: Singular matrix" in err.hint
    assert err.where.endswith("in student_calling_a_library: return np.linalg.inv(np.zeros((2, 2)))")


def test_a_library_function_passed_as_is_has_no_student_line():
    err = _failure(np.linalg.inv, np.zeros((2, 2)))
    assert err.where is None and "Run it on the example in the cell above" in err.hint


def test_the_stub_says_not_done_yet_without_a_line():
    def stub(x):
        raise NotImplementedError("Exercise 9 (demo): replace this line with your code")

    err = _failure(stub, 1)
    assert err.where is None
    assert str(err) == (
        "Exercise 9 (demo): not done yet (Exercise 9 (demo): replace this line with your code). "
        "Replace the stub with your code."
    )


@pytest.mark.parametrize(
    ("filename", "student"),
    [
        ("/tmp/ipykernel_123/456.py", True),  # a Jupyter cell
        ("<ipython-input-3-0123abcd>", True),  # an IPython cell
        (__file__, True),  # any file outside the package and the libraries
        ("<frozen importlib._bootstrap>", False),
        ("<string>", False),
        (np.__file__, False),  # site-packages
        (os.__file__, False),  # the standard library
        (xaihealth.checks.__file__, False),  # the package itself
    ],
)
def test_what_counts_as_the_students_code(filename, student):
    assert is_student_code(filename) is student


IPYTHON_SESSION = """
from IPython.core.interactiveshell import InteractiveShell
shell = InteractiveShell.instance()
shell.run_cell("from xaihealth.checks import exercise")
shell.run_cell("def broken(x):\\n    y = x + 1\\n    return y / 0\\n")
print("=== crash")
shell.run_cell("with exercise('Exercise 9 (demo)') as ex:\\n    ex.call(broken, 1)\\n")
print("=== hint")
shell.run_cell("with exercise('Exercise 9 (demo)') as ex:\\n    ex.expect(False, 'return a DataFrame')\\n")
"""


def test_ipython_shows_the_hint_and_the_students_line_without_a_traceback():
    pytest.importorskip("IPython")
    command = [sys.executable, "-c", IPYTHON_SESSION]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    _, crash, hint = result.stdout.split("=== ")
    crash, hint = crash.strip().splitlines()[1:], hint.strip().splitlines()[1:]
    assert crash == [
        "\u2718 Exercise 9 (demo): your function raised ZeroDivisionError: division by zero",
        "  line 3, in broken: return y / 0",
    ]
    assert hint == ["\u2718 Exercise 9 (demo): return a DataFrame"]


# --- the returned value: its type, and anything the checker cannot examine ---------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (None, "your function returned None (is its `return` line missing?)"),
        ((1, 2), "your function returned a tuple of 2 items"),
        ({"a": 1}, "your function returned a dict with the keys ['a']"),
        (np.zeros((2, 3)), "your function returned a numpy array of shape (2, 3)"),
    ],
)
def test_returns_names_what_was_expected_and_what_came_back(value, text):
    with pytest.raises(CheckFailed, match="return a pandas Series indexed by site; ") as info:
        with exercise("Exercise 9 (demo)") as ex:
            ex.returns(value, pd.Series, "a pandas Series indexed by site")
    assert text in info.value.hint


def test_returns_checks_size_and_keys_and_counts_as_a_check(capsys):
    with exercise("Exercise 9 (demo)") as ex:
        assert ex.returns((1, 2), tuple, "a pair", size=2) == (1, 2)
        ex.returns({"share": 1, "hit": 2}, dict, "a dict", keys=("share", "hit"))
    assert "passed (2 checks)" in capsys.readouterr().out
    with pytest.raises(CheckFailed, match="yours has 3 items, not 2"):
        with exercise("Exercise 9 (demo)") as ex:
            ex.returns((1, 2, 3), tuple, "a pair", size=2)
    with pytest.raises(CheckFailed, match=r"the keys \['hit'\] are missing"):
        with exercise("Exercise 9 (demo)") as ex:
            ex.returns({"share": 1}, dict, "a dict", keys=("share", "hit"))


def test_a_returned_value_the_checker_chokes_on_becomes_a_hint_with_the_cause_kept():
    with pytest.raises(CheckFailed) as info:
        with exercise("Exercise 9 (demo)") as ex:
            out = ex.call(lambda: np.zeros(3))
            out.reshape(2, 2)  # the checker's own code fails on the student's value
    err = info.value
    assert "could not check what your function returned (a numpy array of shape (3,)): ValueError" in err.hint
    assert isinstance(err.__cause__, ValueError)
    _short_block(err._render_traceback_())


def test_an_exception_before_any_student_call_is_the_checkers_own_and_propagates():
    with pytest.raises(KeyError):
        with exercise("Exercise 9 (demo)") as ex:
            {}["missing"]  # noqa: B018 - a bug in the checker's setup
            ex.expect(True, "never reached")


BAD_RETURNS = [None, (1.0, 2.0), {"a": 1.0}, [1.0, 2.0]]
CHEAP_CHECKERS = [
    sh.check_shapley_values,
    sh.check_kernel_shap,
    sh.check_lime_tabular,
    sh.check_topk_jaccard,
    sh.check_deletion_curve,
    gr.check_integrated_gradients,
    gr.check_grad_cam,
    gr.check_mask_scores,
    cs.check_sae_metrics,
    cs.check_feature_recovery,
    ch.check_leave_one_site_out,
    co.check_tcav_significance,
    gb.check_pair_scores,
    li.check_probe_selectivity,
]


@pytest.mark.parametrize("value", BAD_RETURNS, ids=lambda v: type(v).__name__)
@pytest.mark.parametrize("checker", CHEAP_CHECKERS, ids=lambda c: c.__name__)
def test_a_wrong_return_type_gets_a_hint_from_every_checker(checker, value):
    with pytest.raises(CheckFailed) as info:
        checker(lambda *args, **kwargs: value)
    err = info.value
    assert err.title.startswith("Exercise ") and err.where is None
    _short_block(err._render_traceback_())
    if value is None:
        assert "None" in err.hint, err.hint


# --- several cases: seeds and parameter values ------------------------------------------------------------


def test_grid_gives_every_combination():
    assert list(grid(seed=(0, 1), k=(1, 3))) == [
        {"seed": 0, "k": 1}, {"seed": 0, "k": 3}, {"seed": 1, "k": 1}, {"seed": 1, "k": 3},
    ]  # fmt: skip


def _reference_power(x, seed, k):
    return np.random.default_rng(seed).normal(size=len(x)) + x**k


def test_over_runs_every_case_with_fresh_inputs_one_check_each(capsys):
    def student(x, seed, k):
        want = _reference_power(x, seed, k)
        x += 100  # an in-place edit must not reach the reference's copy of x
        return want

    x = np.arange(3.0)
    with exercise("Exercise 9 (demo)") as ex:
        outs = ex.over(student, x, cases=grid(seed=(0, 1), k=(1, 3)), reference=_reference_power,
                       compare=np.allclose, hint="wrong")  # fmt: skip
    assert len(outs) == 4 and np.array_equal(x, np.arange(3.0))
    assert "passed (4 checks)" in capsys.readouterr().out


def test_over_names_the_failing_case():
    def wrong_for_k3(x, seed, k):
        return _reference_power(x, seed, min(k, 2))

    with pytest.raises(CheckFailed) as info:
        with exercise("Exercise 9 (demo)") as ex:
            ex.over(wrong_for_k3, np.arange(3.0), cases=grid(seed=(0, 1), k=(1, 3)),
                    reference=_reference_power, compare=np.allclose,
                    hint=lambda got, want: f"off by {np.abs(got - want).max():.1f}")  # fmt: skip
    assert str(info.value) == "Exercise 9 (demo): off by 4.0 (for seed=0, k=3)"


def test_a_failure_survives_pickling():
    import pickle

    err = pickle.loads(pickle.dumps(CheckFailed("Exercise 9 (demo)", "a hint", "line 3, in f: x")))
    assert (err.title, err.hint, err.where) == ("Exercise 9 (demo)", "a hint", "line 3, in f: x")


def test_replaced_switches_off_and_restores_even_after_an_error():
    from xaihealth.checks._core import replaced

    class Base:
        def f(self):
            return "base"

    class Child(Base):
        @staticmethod
        def g():
            return "child"

    def stub(*_args, **_kwargs):
        raise RuntimeError("switched off")

    raw_g = vars(Child)["g"]
    with pytest.raises(KeyError), replaced([(Child, "f"), (Child, "g")], stub):
        with pytest.raises(RuntimeError, match="switched off"):
            Child().f()
        with pytest.raises(RuntimeError, match="switched off"):
            Child.g()
        raise KeyError("the student's code failed")
    assert "f" not in vars(Child) and Child().f() == "base"  # inherited: the shadow is removed
    assert vars(Child)["g"] is raw_g and Child.g() == "child"  # the raw staticmethod is put back


def _warns(x):
    """A correct answer that warns on the way (a student's division by zero, a library's UserWarning)."""
    import warnings

    warnings.warn("solver did not converge", UserWarning, stacklevel=1)
    with np.errstate(divide="warn"):
        np.float64(1.0) / np.float64(0.0)
    return x


def test_warnings_during_a_check_go_to_stdout_not_stderr(capsys):
    """nbgrader scores a test cell that wrote to stderr 0: a warning must not cost a correct answer."""
    with exercise("Exercise 9 (demo)") as ex:
        ex.expect(ex.call(_warns, 2) == 2, "returns x")
    out, err = capsys.readouterr()
    assert err == ""
    assert "UserWarning: solver did not converge" in out and "RuntimeWarning: divide by zero" in out
    assert out.strip().endswith("passed (1 checks)")
    with pytest.raises(AssertionError), exercise("Exercise 9 (demo)") as ex:
        ex.expect(ex.call(_warns, 2) == 3, "returns x + 1")
    out, err = capsys.readouterr()
    assert err == "" and "solver did not converge" in out and "passed" not in out


def test_warning_filters_still_apply_during_a_check(capsys):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with exercise("Exercise 9 (demo)") as ex:
            ex.expect(ex.call(_warns, 2) == 2, "returns x")
    assert "warning" not in capsys.readouterr().out
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(CheckFailed, match="raised UserWarning: solver did not converge"):
            with exercise("Exercise 9 (demo)") as ex:
                ex.call(_warns, 2)
