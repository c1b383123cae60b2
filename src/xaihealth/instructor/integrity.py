"""A run-time check that the checker machinery (:mod:`xaihealth.checks._core`) was not modified.

A notebook's code runs in the same kernel as the hidden tests, so it can rebind ``Exercise.expect`` to a
no-op (``s = setattr; s(Exercise, "expect", ...)``, ``type.__setattr__``) and make every check pass. The
hidden tests therefore take :func:`exercise` from here: it compares the live ``_core`` with a fresh copy
loaded from its file under another module name, before the hidden block and again after it (a student
function may patch while it is being called), and fails the block as tampering on any difference.

Identity cannot be compared with a fresh copy, so every function and class that ``_core`` defines is
compared by its code (``__code__`` equality compares the bytecode, constants, names and line table),
defaults and, for classes, the set of attributes; every other name ``_core`` imports must still be the
very object the fresh copy imported.
"""

from __future__ import annotations

import importlib.util
import re
import types
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any

from xaihealth.checks import _core

_CORE_FILE = Path(__file__).resolve().parents[1] / "checks" / "_core.py"
_PRISTINE = "xaihealth.instructor._pristine_core"
TAMPERING = "the checker was modified by code in the notebook (tampering)"


@lru_cache(maxsize=1)
def _pristine() -> types.ModuleType:
    """A fresh copy of ``_core`` from its file, under another name (not put into ``sys.modules``)."""
    spec = importlib.util.spec_from_file_location(_PRISTINE, _CORE_FILE)
    if spec is None or spec.loader is None:
        raise RuntimeError(f"cannot load the checker core from {_CORE_FILE}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _unwrapped(function: Any) -> Any:
    """The innermost function under ``functools.wraps`` layers (``contextmanager``, ``lru_cache``)."""
    seen = 0
    while hasattr(function, "__wrapped__") and seen < 8:
        function, seen = function.__wrapped__, seen + 1
    return function


def _same_function(live: Any, fresh: Any) -> bool:
    """Two plain functions with the same code, defaults and keyword defaults (outermost and innermost)."""
    for a, b in ((live, fresh), (_unwrapped(live), _unwrapped(fresh))):
        if type(a) is not type(b):
            return False
        if isinstance(b, types.FunctionType) and (a.__code__, a.__defaults__, a.__kwdefaults__) != (
            b.__code__, b.__defaults__, b.__kwdefaults__
        ):
            return False
    return True


def _same_class(live: Any, fresh: type) -> bool:
    """A class with the same metaclass, base names and attributes, its functions the fresh ones' code."""
    if not isinstance(live, type) or type(live) is not type(fresh) or live.__name__ != fresh.__name__:
        return False
    if [b.__qualname__ for b in live.__mro__[1:]] != [b.__qualname__ for b in fresh.__mro__[1:]]:
        return False
    if any(lb is not fb for lb, fb in zip(live.__mro__[2:], fresh.__mro__[2:], strict=True)):
        return False  # the library bases (AssertionError, object) are shared objects
    mine, theirs = vars(live), vars(fresh)
    if set(mine) != set(theirs):
        return False
    for name, value in theirs.items():
        if isinstance(value, types.FunctionType | staticmethod | classmethod | property):
            if type(mine[name]) is not type(value):
                return False
            if isinstance(value, types.FunctionType) and not _same_function(mine[name], value):
                return False
    return True


def _defined_here(value: Any, fresh: types.ModuleType) -> bool:
    return getattr(_unwrapped(value), "__module__", None) == fresh.__name__


# what ``_core.STUDENT_CODE_ELSEWHERE`` must be: False, except in make grade's judge, which sets both
STUDENT_CODE_ELSEWHERE = False


def modified(live: types.ModuleType | None = None) -> list[str]:
    """The names of ``_core`` (default: the live module) that differ from a fresh copy of its file."""
    live = _core if live is None else live
    fresh = _pristine()
    changed = []
    for name, value in vars(fresh).items():
        if name.startswith("__") and name.endswith("__"):
            continue
        if name == "STUDENT_CODE_ELSEWHERE":
            if getattr(live, name, None) is not STUDENT_CODE_ELSEWHERE:
                changed.append(name)
            continue
        if not hasattr(live, name):
            changed.append(name)
            continue
        now = getattr(live, name)
        if isinstance(value, type) and _defined_here(value, fresh):
            same = _same_class(now, value)
        elif callable(value) and _defined_here(value, fresh):
            same = _same_function(now, value)
        elif isinstance(value, str | int | float | tuple | Path):
            same = type(now) is type(value) and now == value
        elif isinstance(value, re.Pattern):
            same = isinstance(now, re.Pattern) and now.pattern == value.pattern and now.flags == value.flags
        elif isinstance(value, types.ModuleType) or callable(value):
            same = now is value  # an imported module, function or class: the very same object
        else:  # a sentinel or a context variable made by the module itself: only its type is comparable
            same = type(now) is type(value)
        if not same:
            changed.append(name)
    return changed


def verify(title: str) -> None:
    """Raise ``CheckFailed("<title>", tampering hint)`` if the live checker core was modified."""
    changed = modified()
    if changed:
        failed = _pristine().CheckFailed if "CheckFailed" in changed else _core.CheckFailed
        raise failed(title, f"{TAMPERING}; changed: {', '.join(sorted(changed)[:6])}")


@contextmanager
def exercise(title: str) -> Iterator[Any]:
    """:func:`xaihealth.checks._core.exercise`, verified before the block and after it."""
    verify(title)
    with _core.exercise(title) as ex:
        yield ex
        verify(title)
