"""How checkers reach the reference implementations: ``refs = references("shapley")``.

In the full repository ``refs.reference_x`` is the real function of
:mod:`xaihealth.instructor.references.shapley`. A student release has no ``xaihealth.instructor``: there
``refs.reference_x(...)`` returns the value the real reference returned, at the same place, when
``make release`` ran the solutions' check cells (:mod:`xaihealth.instructor.release`). The values are
stored in ``xaihealth/checks/expected/<module>.pkl``, whose SHA-256 is checked against
``expected/SHA256SUMS`` before anything is unpickled.

A stored value is found by its *key*: the title of the enclosing ``exercise(...)`` (``"<module>"`` outside
one), the reference's name, and how many times that reference was called before in the same exercise
block. The call's arguments must also match the recorded ones (:func:`summary`, :func:`same`: types,
shapes and dtypes exactly, numbers to a relative 1e-6, arrays to 1e-6 of their scale (1e-5 in float32),
so another machine's rounding still replays). Otherwise the call raises :class:`ReferenceUnavailable`; a
checker that calls a reference on a value derived from the student's answer (only to word a hint) catches
it and gives a generic hint.

The environment variable ``XAIHEALTH_REFERENCES`` overrides where the references come from (tests and
``make release`` use it): ``real``, ``replay:<dir>`` (replay from ``<dir>`` even in the full repository),
``record:<dir>`` (run the real references and store every call's key, argument summary and output in
``<dir>``).

The hidden tests reach the references the same way, through their own store
(``xaihealth.instructor.hidden.hidden_references``: ``instructor/hidden/expected/``, overridden by
``XAIHEALTH_HIDDEN_REFERENCES``), so ``make grade`` can run a submission against a *grading kit*, a copy of
the package without ``instructor/references/`` (:mod:`xaihealth.instructor.kit`), where both replay.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import math
import os
import pickle
import sys
import weakref
from collections import Counter
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from types import FunctionType
from typing import Any

from xaihealth.checks._core import CheckerUnavailable, current_exercise, is_student_code

ENV = "XAIHEALTH_REFERENCES"
EXPECTED = Path(__file__).resolve().with_name("expected")  # the release's stored values
REAL = "xaihealth.instructor.references"  # the package of the real references (full repository only)
MANIFEST = "SHA256SUMS"  # "<sha256>  <module>.pkl" lines, the format of `sha256sum`
OUTSIDE = "<module>"  # the title of a call outside any exercise block
RTOL, ATOL = 1e-6, 1e-9
_SAMPLE = 4096  # array values kept in a summary; larger arrays: a strided sample and sum(|x|)
_DEPTH = 4  # how deep a summary looks into containers, objects and closures
_NARROW = {"<f4", "<f2", "torch.float32", "torch.float16", "torch.bfloat16"}  # float32 and narrower dtypes


class ReferenceUnavailable(CheckerUnavailable, LookupError):
    """No stored value for a reference call (a replay miss); the message names module, reference, exercise."""

    def __init__(self, module: str, name: str, title: str, index: int, reason: str) -> None:
        super().__init__(
            f"no stored value for {module}.{name} (call {index + 1} in {title!r}): {reason}. The checkers "
            "of a student release compare with values recorded from the solutions; this call was not "
            "among them"
        )
        self.module, self.name, self.title, self.index = module, name, title, index


class ReleaseDamaged(CheckerUnavailable, RuntimeError):
    """A stored-values file is missing or does not match its SHA-256 in the manifest."""


# --------------------------------------------------------------------------------------------- summaries


def _array(values: Any, dtype: str) -> tuple:
    import numpy as np

    a = np.asarray(values)
    shape = tuple(a.shape)
    if a.dtype.kind not in "biufc":  # strings, objects: exact, by their text
        text = repr(a.ravel()[:_SAMPLE].tolist())
        return ("array", shape, dtype, hashlib.sha256(text.encode()).hexdigest())
    flat = a.astype(complex if a.dtype.kind == "c" else float).ravel()
    if flat.size <= _SAMPLE:
        return ("array", shape, dtype, flat)
    step = -(-flat.size // _SAMPLE)
    return ("array", shape, dtype, np.append(flat[::step], np.abs(flat).sum()))


def summary(value: Any, depth: int = 0) -> Any:
    """A comparable, picklable description of a reference's argument (see :func:`same`).

    Numbers and arrays (numpy, torch, pandas) keep their values (large arrays a strided sample); models
    their state dict; functions their name and closure; other objects their type and attributes.
    """
    import numpy as np

    if value is None or isinstance(value, bool | int | str | bytes):
        return ("exact", value)
    if isinstance(value, float):
        return ("float", value)
    if isinstance(value, np.generic):
        return summary(value.item(), depth)
    if isinstance(value, np.ndarray):
        return _array(value, value.dtype.str)
    kind = type(value).__module__.split(".")[0]
    if kind == "torch":
        import torch

        if isinstance(value, torch.Tensor):
            t = value.detach().cpu()
            return _array((t.float() if t.dtype == torch.bfloat16 else t).numpy(), str(value.dtype))
        if isinstance(value, torch.nn.Module) and depth < _DEPTH:
            return ("module", type(value).__qualname__,
                    tuple((k, summary(v, depth + 1)) for k, v in value.state_dict().items()))  # fmt: skip
    if kind == "pandas":
        import pandas as pd

        if isinstance(value, pd.DataFrame):
            return ("frame", summary(list(value.columns)), summary(np.asarray(value.index)),
                    tuple(summary(value[c].to_numpy(), depth + 1) for c in value.columns))  # fmt: skip
        if isinstance(value, pd.Series):
            return ("series", summary(value.name), summary(np.asarray(value.index)),
                    summary(value.to_numpy()))  # fmt: skip
        if isinstance(value, pd.Index):
            return ("index", summary(np.asarray(value)))
    if depth >= _DEPTH:
        return ("type", type(value).__qualname__)
    if isinstance(value, Mapping):
        return ("dict", tuple((summary(k, depth + 1), summary(v, depth + 1)) for k, v in value.items()))
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return (type(value).__name__, tuple(summary(v, depth + 1) for v in items))
    if isinstance(value, partial):
        return ("partial", summary(value.func, depth + 1), summary(value.args, depth + 1),
                summary(value.keywords, depth + 1))  # fmt: skip
    if isinstance(value, type):
        return ("class", f"{value.__module__}.{value.__qualname__}")
    code = getattr(value, "__code__", None)
    if code is not None:  # a function: its name and what its closure holds
        cells = tuple(summary(c.cell_contents, depth + 1) for c in (value.__closure__ or ()) if _filled(c))
        bound = summary(value.__self__, depth + 1) if hasattr(value, "__self__") else None
        return ("function", getattr(value, "__qualname__", code.co_name), cells, bound)
    attributes = getattr(value, "__dict__", None)
    if isinstance(attributes, dict):
        return ("object", type(value).__qualname__, summary(attributes, depth + 1))
    if callable(value):  # a builtin function
        return ("callable", getattr(value, "__module__", None), getattr(value, "__qualname__", repr(value)))
    return ("type", type(value).__qualname__)


def _filled(cell: Any) -> bool:
    try:
        cell.cell_contents  # noqa: B018 (an empty cell raises)
    except ValueError:
        return False
    return True


def _is_array(summary: Any) -> bool:
    return isinstance(summary, tuple) and len(summary) == 4 and isinstance(summary[0], str) and (
        summary[0] == "array")


def same(a: Any, b: Any) -> bool:
    """True when two summaries describe the same argument: exact but for floats, NaN = NaN.

    Numbers agree to a relative 1e-6; an array's values to 1e-6 of the array's largest magnitude (1e-5 for
    float32 and narrower: another CPU's convolution kernels move float32 activations by ~5e-7 of their
    scale, and elementwise relative error is unbounded where a value is near 0).
    """
    import numpy as np

    if _is_array(a) and _is_array(b):
        (_, shape_a, dtype_a, values_a), (_, shape_b, dtype_b, values_b) = a, b
        if shape_a != shape_b or dtype_a != dtype_b or type(values_a) is not type(values_b):
            return False
        if not isinstance(values_b, np.ndarray):  # strings, objects: their digest
            return values_a == values_b
        tol = 1e-5 if dtype_b in _NARROW else RTOL
        scale = float(np.abs(values_b[np.isfinite(values_b)]).max(initial=0.0))
        return values_a.shape == values_b.shape and bool(
            np.allclose(values_a, values_b, rtol=tol, atol=tol * scale + ATOL, equal_nan=True))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return (isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape
                and bool(np.allclose(a, b, rtol=RTOL, atol=ATOL, equal_nan=True)))  # fmt: skip
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=RTOL, abs_tol=ATOL)
    if isinstance(a, tuple) and isinstance(b, tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return type(a) is type(b) and a == b


# ------------------------------------------------------------------------------------------ stored values


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write_manifest(directory: Path) -> Path:
    """(Re)write ``directory/SHA256SUMS`` for every ``*.pkl`` in ``directory``."""
    directory = Path(directory)
    lines = [f"{_digest(p)}  {p.name}\n" for p in sorted(directory.glob("*.pkl"))]
    manifest = directory / MANIFEST
    manifest.write_text("".join(lines))
    return manifest


def _verified(directory: Path, module: str) -> bytes:
    """The bytes of ``directory/<module>.pkl`` after checking them against the manifest."""
    path, manifest = directory / f"{module}.pkl", directory / MANIFEST
    if not path.is_file() or not manifest.is_file():
        missing = path if not path.is_file() else manifest
        raise ReleaseDamaged(f"the checkers' stored values are incomplete: {missing} is missing. This "
                             "release of the course is damaged; download or unpack it again")  # fmt: skip
    sums = dict(reversed(line.split(None, 1)) for line in manifest.read_text().splitlines() if line.strip())
    data = path.read_bytes()
    if sums.get(path.name) != hashlib.sha256(data).hexdigest():
        raise ReleaseDamaged(f"{path} does not match its SHA-256 in {manifest}: this release of the course "
                             "is damaged (or the file was edited); download or unpack it again")  # fmt: skip
    return data


_LOADED: dict[tuple[Path, str], tuple[float, dict]] = {}


def load(directory: Path, module: str) -> dict:
    """The stored calls of ``module``: ``{(title, name, index): [(argument summary, pickled output)]}``."""
    directory = Path(directory).resolve()
    stamp = (directory / f"{module}.pkl").stat().st_mtime if (directory / f"{module}.pkl").exists() else 0.0
    cached = _LOADED.get((directory, module))
    if cached is None or cached[0] != stamp:
        cached = (stamp, pickle.loads(_verified(directory, module)))
        _LOADED[(directory, module)] = cached
    return cached[1]


def record_call(directory: Path, module: str, key: tuple[str, str, int], args: Any, output: Any) -> None:
    """Add one call to ``directory/<module>.pkl`` (unless an identical one is stored) and its manifest."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{module}.pkl"
    calls = pickle.loads(path.read_bytes()) if path.exists() else {}
    entries = calls.setdefault(key, [])
    if not any(same(args, stored) for stored, _ in entries):
        entries.append((args, pickle.dumps(output, protocol=pickle.HIGHEST_PROTOCOL)))
        path.write_bytes(pickle.dumps(calls, protocol=pickle.HIGHEST_PROTOCOL))
        write_manifest(directory)


# ---------------------------------------------------------------------------------------------- the modes


def real_references_installed() -> bool:
    """True where ``xaihealth.instructor.references`` can be imported (the full repository)."""
    try:
        return importlib.util.find_spec(REAL) is not None
    except ModuleNotFoundError:  # no xaihealth.instructor at all (a student release)
        return False


def mode(env: str = ENV, expected: Path = EXPECTED) -> tuple[str, Path | None]:
    """``("real", None)``, ``("replay", dir)`` or ``("record", dir)``, from the variable ``env``.

    Unset: the real references where they are installed (the full repository), else a replay of the
    stored values in ``expected`` (a student release, a grading kit).
    """
    setting = os.environ.get(env, "").strip()
    if not setting:
        return ("real", None) if real_references_installed() else ("replay", Path(expected))
    if setting == "real":
        return "real", None
    kind, _, directory = setting.partition(":")
    if kind in ("replay", "record") and directory:
        return kind, Path(directory)
    raise ValueError(f"{env}={setting!r} is not a reference source; use 'real', 'replay:<dir>' or "
                     "'record:<dir>'")  # fmt: skip


_RETURNED = "<a function: its calls are recorded under the reference's name + '()'>"
_CALLS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # exercise -> Counter of reference names


def current_title() -> str:
    """The title of the running exercise block, or ``"<module>"`` outside one."""
    ex = current_exercise()
    return OUTSIDE if ex is None else ex.title


def _key(name: str) -> tuple[str, str, int]:
    ex = current_exercise()
    if ex is None:
        return OUTSIDE, name, 0
    counts = _CALLS.setdefault(ex, Counter())
    index = counts[name]
    counts[name] += 1
    return ex.title, name, index


class References:
    """The references of one module; ``refs.reference_x`` resolves at each use (see the module).

    ``env`` and ``expected``: the variable that chooses the source and the stored values replayed by
    default (the public checkers': :data:`ENV`, :data:`EXPECTED`; the hidden tests have their own).
    """

    def __init__(self, module: str, env: str = ENV, expected: Path = EXPECTED) -> None:
        self.module, self._env, self._expected = module, env, Path(expected)

    def __repr__(self) -> str:
        return f"references({self.module!r})"

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if not name.startswith("reference_"):
            raise AttributeError(name)
        how, directory = mode(self._env, self._expected)
        if how == "real":
            return getattr(importlib.import_module(f"{REAL}.{self.module}"), name)
        if how == "record":
            real = getattr(importlib.import_module(f"{REAL}.{self.module}"), name)
            return partial(self._record, directory, name, real)
        return partial(self._replay, directory, name)

    def _record(self, directory: Path, name: str, real: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        key, described = _key(name), summary((args, kwargs))
        output = real(*args, **kwargs)
        if isinstance(output, FunctionType):  # a function (a closure, unpicklable): record its calls instead
            record_call(directory, self.module, key, described, _RETURNED)
            return partial(self._record, directory, f"{name}()", output)
        record_call(directory, self.module, key, described, output)
        return output

    def _replay(self, directory: Path, name: str, *args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1).f_code.co_filename
        if is_student_code(caller):
            raise ReferenceUnavailable(self.module, name, current_title(), 0, "the references are the "
                                       "checkers' own; write your own implementation")  # fmt: skip
        title, _, index = key = _key(name)
        described = summary((args, kwargs))
        entries = load(directory, self.module).get(key)
        if title == OUTSIDE:  # no occurrence count outside an exercise: any stored call with these arguments
            entries = [e for k, v in load(directory, self.module).items() if k[:2] == key[:2] for e in v]
        if not entries:
            raise ReferenceUnavailable(self.module, name, title, index, "no call was recorded here")
        for stored, output in entries:
            if same(described, stored):
                value = pickle.loads(output)
                if isinstance(value, str) and value == _RETURNED:
                    return partial(self._replay, directory, f"{name}()")
                return value
        raise ReferenceUnavailable(self.module, name, title, index, "its arguments differ from the recorded")


def references(module: str) -> References:
    """The reference implementations of ``xaihealth.checks.<module>``, real or replayed (see the module)."""
    here = Path(__file__).parent
    known = sorted(p.stem for p in here.glob("[a-z]*.py"))
    if not isinstance(module, str) or module not in known:
        raise ValueError(f"module={module!r} is not a checks module; use one of {', '.join(known)}")
    return References(module)
