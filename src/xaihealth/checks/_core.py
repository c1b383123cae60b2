"""The checker pattern shared by all modules (see :mod:`xaihealth.checks`).

A failed check raises :class:`CheckFailed`, an ``AssertionError`` (pytest, nbval and nbgrader treat it as
a failed test) that IPython and Jupyter show as one short block, the hint, instead of a traceback through
the checker. A student's own exception is reported with its type, message and the line of the student's
code where it happened. Anything the checker's code raises while it examines a returned value (a shape
mismatch, a missing attribute) becomes a hint too, with the original exception kept as ``__cause__``. So
does the most common slip, passing a function's result instead of the function
(``check_x(f(...))`` for ``check_x(f)``).
"""

from __future__ import annotations

import itertools
import linecache
import re
import site
import sys
import sysconfig
import traceback
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from functools import lru_cache
from pathlib import Path
from typing import Any, NoReturn

_NOTHING = object()  # no student function has been called yet
# True in make grade's judge (xaihealth.instructor.judge), where the student's functions run in another
# process: a spy on an object the checker passes them (a hook log on a layer) cannot see what they do there,
# so such a check is left to the kernel's run (whose score caps the judge's) and to the AST rules
STUDENT_CODE_ELSEWHERE = False
# the (owner, attribute, stub) that replaced() has set: the judge sets them in the student's process too
ACTIVE_GUARDS: list[tuple[object, str, Any]] = []
_PACKAGE = Path(__file__).resolve().parents[1]  # src/xaihealth
_CELL = re.compile(r"^<ipython-input-|ipykernel_\d+[/\\]\d+\.py$")  # IPython and Jupyter cell "files"
_CURRENT: ContextVar[Exercise | None] = ContextVar("xaihealth_exercise", default=None)


class CheckFailed(AssertionError):
    """A failed check: ``str()`` is ``"<title>: <hint>"``; IPython shows it without a traceback."""

    def __init__(self, title: str, hint: str, where: str | None = None) -> None:
        super().__init__(f"{title}: {hint}" + (f" [{where}]" if where else ""))
        self.title, self.hint, self.where = title, hint, where

    def __reduce__(self) -> tuple[type, tuple[str, str, str | None]]:  # pickles (e.g. across processes)
        return type(self), (self.title, self.hint, self.where)

    def _render_traceback_(self) -> list[str]:
        """The lines IPython prints instead of the traceback (its hook for custom exceptions)."""
        return [f"\u2718 {self.title}: {self.hint}"] + ([f"  {self.where}"] if self.where else [])


class CheckerUnavailable(Exception):
    """The checker itself cannot run (not the student's answer): never turned into a hint."""


def describe(value: object) -> str:
    """A short description of a returned value, for hints: its type, and its shape, length or keys."""
    if value is None:
        return "None"
    name = {"ndarray": "numpy array"}.get(type(value).__name__, type(value).__name__)
    name = ("an " if name[0] in "aeiouAEIOU" else "a ") + name
    shape = getattr(value, "shape", None)
    if isinstance(shape, tuple) and shape:  # arrays, tensors (torch.Size is a tuple), frames
        return f"{name} of shape {tuple(shape)}"
    if isinstance(value, Mapping):
        keys = ", ".join(repr(k) for k in list(value)[:6]) + (", ..." if len(value) > 6 else "")
        return f"{name} with the keys [{keys}]"
    if isinstance(value, tuple | list | set):
        return f"{name} of {len(value)} items"
    return name


def _short(err: BaseException, limit: int = 300) -> str:
    """An exception's message on one line, at most ``limit`` characters."""
    text = " ".join(str(err).split())
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


@lru_cache(maxsize=1)
def _library_dirs() -> tuple[Path, ...]:
    """Where the standard library and installed packages live: code there is not the student's."""
    paths = {sysconfig.get_path(key) for key in ("stdlib", "platstdlib", "purelib", "platlib")}
    paths.update(getattr(site, "getsitepackages", list)())
    paths.add(site.getusersitepackages())
    return tuple(Path(p).resolve() for p in paths if p)


@lru_cache(maxsize=256)
def is_student_code(filename: str) -> bool:
    """True for a notebook cell or a file outside this package, the standard library and site-packages."""
    if _CELL.search(filename):
        return True
    if filename.startswith("<"):  # <frozen ...>, <string>: no source a student can look at
        return False
    path = Path(filename).resolve()
    return not any(path.is_relative_to(d) for d in (_PACKAGE, *_library_dirs()))


def student_line(err: BaseException) -> str | None:
    """``"line N, in f: <source>"`` for the innermost frame of ``err``'s traceback in the student's code."""
    frames = [f for f in traceback.extract_tb(err.__traceback__) if is_student_code(f.filename)]
    if not frames:
        return None
    frame = frames[-1]
    source = linecache.getline(frame.filename, frame.lineno or 0).strip()
    place = "" if _CELL.search(frame.filename) else f"{Path(frame.filename).name}, "
    return f"{place}line {frame.lineno}, in {frame.name}" + (f": {source}" if source else "")


def _fresh(value: Any) -> Any:
    """A copy of an array, tensor or frame (``clone`` or ``copy``): a student's in-place edit stays local."""
    for method in ("clone", "copy"):
        copy = getattr(value, method, None)
        if callable(copy) and not isinstance(value, type):
            return copy()
    return value


def _show(case: Mapping[str, Any]) -> str:
    """The scalar parameters of a case, ``"seed=1, alpha=0.05"``; arrays and models are left out."""
    return ", ".join(f"{k}={v!r}" for k, v in case.items() if isinstance(v, int | float | str | bool))


def grid(**values: Iterable[Any]) -> Iterator[dict[str, Any]]:
    """Every combination of the given parameter values, as keyword dicts: ``grid(seed=(0, 1), k=(1, 3))``."""
    names = list(values)
    for combination in itertools.product(*values.values()):
        yield dict(zip(names, combination, strict=True))


def _not_a_function(value: Any) -> str:
    """The hint for a checker given a value instead of a function, naming the checker and its parameter.

    The checker is the innermost caller outside this module (``Exercise.call`` and ``Exercise.over`` are in
    it); the parameter is the one of its arguments that holds ``value``.
    """
    frame = sys._getframe(1)
    while frame is not None and frame.f_code.co_filename == __file__:
        frame = frame.f_back
    passed = f"you passed {describe(value)}"
    code = frame.f_code if frame is not None else None
    if code is None or not code.co_name.startswith("check_"):
        return f"pass the function itself, not what it returns; {passed}"
    params = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    arg = next((n for n in params if frame.f_locals.get(n, _NOTHING) is value), "your_function")
    checker = code.co_name
    return f"pass the function itself: {checker}({arg}), not {checker}({arg}(...)); {passed}"


class Exercise:
    """Collects the properties a checker verifies for one exercise."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.checked = 0
        self.output: Any = _NOTHING  # what the student's function returned last

    def fail(self, hint: str, where: str | None = None) -> NoReturn:
        """Stop the check with ``hint``."""
        raise CheckFailed(self.title, hint, where)

    def expect(self, condition: object, hint: str) -> None:
        """Fail with ``hint`` unless ``condition`` is true."""
        self.checked += 1
        if not bool(condition):
            self.fail(hint)

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the student's function, turning a crash into its type, message and the student's line.

        A value that cannot be called (the student passed ``f(...)``, the result, instead of ``f``) is a
        :class:`CheckFailed` saying so, not a traceback through the checker.
        """
        if not callable(function):
            raise CheckFailed(self.title, _not_a_function(function)) from None
        self.output = None
        try:
            self.output = function(*args, **kwargs)
        except NotImplementedError as err:
            hint = f"not done yet ({err}). Replace the stub with your code."
            raise CheckFailed(self.title, hint) from None
        except Exception as err:  # the student's bug, reported with its type, message and line
            where = student_line(err)
            advice = "" if where else ". Run it on the example in the cell above to see where"
            raise CheckFailed(
                self.title, f"your function raised {type(err).__name__}: {_short(err)}{advice}", where
            ) from err
        return self.output

    def returns(
        self,
        value: Any,
        types: type | tuple[type, ...],
        what: str,
        *,
        size: int | None = None,
        keys: Iterable[str] = (),
    ) -> Any:
        """Check that a returned value is one of ``types`` (with ``size`` items, or the ``keys``): one check.

        ``what`` names the expected value in the hint, e.g. ``"a pandas Series indexed by site"``. The
        checker can then examine the value without crashing on ``None``, a tuple or a dict.
        """
        self.checked += 1
        keys = list(keys)
        if value is None:
            self.fail(f"return {what}; your function returned None (is its `return` line missing?)")
        if not isinstance(value, types):
            self.fail(f"return {what}; your function returned {describe(value)}")
        if size is not None and len(value) != size:
            self.fail(f"return {what}; yours has {len(value)} items, not {size}")
        missing = [k for k in keys if k not in value]
        if missing:
            self.fail(f"return {what}; the keys {missing} are missing (yours: {list(value)[:8]})")
        return value

    def over(
        self,
        function: Callable[..., Any],
        *args: Any,
        cases: Iterable[Mapping[str, Any]],
        reference: Callable[..., Any],
        compare: Callable[[Any, Any], bool],
        hint: str | Callable[[Any, Any], str],
    ) -> list[Any]:
        """Compare ``function(*args, **case)`` with ``reference(*args, **case)`` per case, one check each.

        Several seeds and parameter values catch an answer that is right by accident on one of them. The
        hint (a string, or a function of the student's and the reference's answers) names the failing
        case. The student gets fresh copies of array and tensor inputs, so in-place edits cannot leak.
        """
        outputs = []
        for case in cases:
            got = self.call(function, *map(_fresh, args), **{k: _fresh(v) for k, v in case.items()})
            want = reference(*args, **case)
            same = bool(compare(got, want))
            text = "" if same else (hint(got, want) if callable(hint) else hint)
            shown = _show(case)
            self.expect(same, f"{text} (for {shown})" if shown else text)
            outputs.append(got)
        return outputs


def _unreadable(output: Any, err: Exception) -> str:
    """The hint when the checker's own code could not examine what the student returned."""
    return (
        f"could not check what your function returned ({describe(output)}): "
        f"{type(err).__name__}: {_short(err)}. Return the type and shape the exercise asks for"
    )


@contextmanager
def replaced(targets: Iterable[tuple[object, str]], stub: Callable[..., object]) -> Iterator[None]:
    """Set each ``(owner, attribute)`` of ``targets`` to ``stub`` in the ``with`` block, then restore it.

    An attribute the owner only inherited is removed again afterwards. Checkers use it to switch off the
    library function an exercise asks the student to re-implement.
    """
    saved = [(owner, name, vars(owner).get(name, _NOTHING)) for owner, name in targets]  # raw, unbound
    guards = [(owner, name, stub) for owner, name, _ in saved]
    listed = False
    try:
        for owner, name, _ in saved:
            setattr(owner, name, stub)
        ACTIVE_GUARDS.extend(guards)
        listed = True
        yield
    finally:
        if listed:
            del ACTIVE_GUARDS[len(ACTIVE_GUARDS) - len(guards):]
        for owner, name, original in reversed(saved):
            if original is _NOTHING:
                delattr(owner, name)
            else:
                setattr(owner, name, original)


def current_exercise() -> Exercise | None:
    """The :class:`Exercise` whose ``with exercise(...)`` block is running, or None outside one.

    :mod:`xaihealth.checks._reference` keys a replayed reference value by its exercise's title.
    """
    return _CURRENT.get()


def _show_warnings(caught: list[warnings.WarningMessage], limit: int = 3) -> None:
    """Print the warnings raised during a check on stdout, each once: a warning is not a failure, and
    nbgrader scores a test cell that wrote anything to stderr 0."""
    texts = dict.fromkeys(f"{w.category.__name__}: {_short(w.message, 200)}" for w in caught)
    for text in list(texts)[:limit]:
        print(f"  (a warning during the check, not a failure: {text})")


@contextmanager
def exercise(title: str) -> Iterator[Exercise]:
    """Run the checks in the ``with`` block; print one success line if none failed.

    Warnings raised in the block (by the student's code or the checker's) are printed on stdout, not
    stderr, whatever the outcome: nbgrader would score the check cell 0 for any stderr output.

    Once a student function has been called, an unexpected exception in the block (the checker choking
    on a returned value) becomes a :class:`CheckFailed`; the original stays as ``__cause__``, so a bug in
    a checker still shows in its tests. Before any call, exceptions propagate unchanged, and so does a
    :class:`CheckerUnavailable` (a damaged release, a missing expected value) at any time.
    """
    if not isinstance(title, str) or not title.strip():
        raise ValueError(f"title={title!r} must be a non-empty string naming the exercise")
    ex = Exercise(title)
    token = _CURRENT.set(ex)
    try:
        with warnings.catch_warnings(record=True) as caught:  # the current filters still apply
            try:
                yield ex
            finally:
                _show_warnings(caught)
    except (AssertionError, CheckerUnavailable):
        raise
    except Exception as err:
        if ex.output is _NOTHING:
            raise
        raise CheckFailed(title, _unreadable(ex.output, err)) from err
    finally:
        _CURRENT.reset(token)
    if ex.checked == 0:
        raise RuntimeError(
            f"checker for {title!r} verified nothing: a checker must test at least one property"
        )
    print(f"\u2714 {title}: passed ({ex.checked} checks)")


def written_answer(ex: Exercise, answer: object, name: str, keywords: Iterable[Iterable[str]], words: int,
                   sentences: int = 3) -> None:
    """Check only that a written answer is complete; a person marks it with the rubric.

    ``answer`` must be a string of ``words`` words or more, in ``sentences`` sentences or more of five words
    or more each (not a list of keywords: at least 40 % distinct words), and must touch each group of
    ``keywords`` (any one of a group's lower-case stems appearing in it).
    """
    ex.expect(isinstance(answer, str),
              f'write your answer as a string, {name} = """...""" (yours: {describe(answer)})')
    found = re.findall(r"[A-Za-zÀ-ÿ]+", answer)
    ex.expect(len(found) >= words, f"write a full answer, {words} words or more (yours has {len(found)})")
    full = [t for t in re.split(r"[.!?;:]+", answer) if len(re.findall(r"[A-Za-zÀ-ÿ]+", t)) >= 5]
    ex.expect(len(full) >= sentences and len({w.lower() for w in found}) >= 0.4 * len(found),
              f"write your answer in sentences ({sentences} or more, each of five words or more), not a list "
              "of keywords")
    text = answer.lower()
    missing = [list(group)[0] for group in keywords if not any(k in text for k in group)]
    ex.expect(not missing, f"your answer does not address: {missing}")
    print("  (the checker only sees that the answer is complete; it is marked with the rubric)")
