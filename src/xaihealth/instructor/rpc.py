"""The wire between the grader's judge and a submission's sandboxed worker (:mod:`.judge`, :mod:`.worker`).

Messages are length-prefixed pickles on a pipe. What the judge sends the worker is trusted there (the
worker runs the student's code anyway). What comes back from the worker is not: the student's code runs
in it and can write anything on the pipe. So the judge reads the worker's messages with
:class:`SafeUnpickler`, which builds only plain data (numbers, strings, containers, NumPy arrays, pandas
frames, :class:`TensorData`) and the markers of this module; any other class or callable in the stream is
refused before it is built. Objects that are not plain data stay in the worker and travel as
:class:`Handle`; the judge's functions that the student's code must call back (a value function, a
predictor) travel as :class:`Callback`. This module is part of the grading kit: it holds no secret.
"""

from __future__ import annotations

import io
import os
import pickle
import struct
from dataclasses import dataclass
from typing import Any

LIMIT = 256 * 2**20  # bytes of one message: a larger one is refused (a flood is not data)
_HEADER = struct.Struct("!Q")


class ProtocolError(RuntimeError):
    """The other side sent something that is not a message of this protocol (or too large, or unsafe)."""


@dataclass(frozen=True)
class Handle:
    """An object that stays in the worker: ``id`` in its table, of ``kind`` (callable, class, object)."""

    id: int
    kind: str
    type_name: str
    generation: int


@dataclass(frozen=True)
class Callback:
    """A judge-side callable, called back by the worker over the pipe."""

    id: int


@dataclass(frozen=True)
class Global:
    """The worker's own global ``name`` (the lab's model: the same object on both sides, loaded twice), or
    its submodule or parameter at ``path`` (a layer a checker hooks)."""

    name: str
    path: str = ""


@dataclass(frozen=True)
class TensorData:
    """A torch tensor as plain data: its values, its dtype's name and whether it required grad."""

    array: Any
    dtype: str
    requires_grad: bool


@dataclass(frozen=True)
class Failure:
    """An exception raised in the worker: its type's name, message and the line of the student's cell."""

    type_name: str
    message: str
    where: str | None = None


def send(fd: int, payload: bytes) -> None:
    """Write one message (its length, then ``payload``) to the file descriptor ``fd``."""
    data = _HEADER.pack(len(payload)) + payload
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, left = [], n
    while left:
        chunk = os.read(fd, min(left, 2**20))
        if not chunk:
            raise EOFError("the other side closed the pipe")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def receive(fd: int, limit: int = LIMIT) -> bytes:
    """Read one message from ``fd``; ``ProtocolError`` if it announces more than ``limit`` bytes."""
    (size,) = _HEADER.unpack(_read_exactly(fd, _HEADER.size))
    if size > limit:
        raise ProtocolError(f"a message of {size} bytes (the limit is {limit})")
    return _read_exactly(fd, size)


# What a worker's answer may contain: the (module, name) pairs pickle's find_class may return, found by
# pickling plain values of each kind (tests/test_judge.py re-derives them); every other global is refused.
SAFE_GLOBALS = frozenset({
    ("builtins", "bytearray"), ("builtins", "complex"), ("builtins", "range"), ("builtins", "slice"),
    ("builtins", "set"), ("builtins", "frozenset"), ("collections", "OrderedDict"),
    ("numpy", "dtype"), ("numpy", "ndarray"), ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"), ("numpy._core.numeric", "_frombuffer"),
    ("pandas", "Categorical"), ("pandas", "CategoricalDtype"), ("pandas", "DataFrame"), ("pandas", "Index"),
    ("pandas", "Interval"), ("pandas", "IntervalIndex"), ("pandas", "MultiIndex"), ("pandas", "RangeIndex"),
    ("pandas", "Series"), ("pandas", "StringDtype"), ("pandas._libs.arrays", "__pyx_unpickle_NDArrayBacked"),
    ("pandas._libs.internals", "_unpickle_block"), ("pandas.arrays", "ArrowStringArray"),
    ("pandas.arrays", "DatetimeArray"), ("pandas.core.indexes.base", "_new_Index"),
    ("pandas.core.indexes.interval", "_new_IntervalIndex"),
    ("pandas.core.internals.managers", "BlockManager"),
    ("pandas.core.internals.managers", "SingleBlockManager"), ("pyarrow.lib", "_restore_array"),
    ("pyarrow.lib", "py_buffer"), ("pyarrow.lib", "type_for_alias"),
    ("pandas", "BooleanDtype"), ("pandas", "CategoricalIndex"), ("pandas", "DatetimeIndex"),
    ("pandas", "Float64Dtype"), ("pandas", "Int64Dtype"), ("pandas", "NA"), ("pandas", "TimedeltaIndex"),
    ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"),
    ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"), ("pandas.arrays", "BooleanArray"),
    ("pandas.arrays", "FloatingArray"), ("pandas.arrays", "IntegerArray"),
    ("pandas.arrays", "TimedeltaArray"),
    ("pandas.core.indexes.datetimes", "_new_DatetimeIndex"),
    ("pandas.core.indexes.timedeltas", "_new_TimedeltaIndex"),
})  # fmt: skip
_OURS = {"Handle": Handle, "Callback": Callback, "Global": Global, "TensorData": TensorData,
         "Failure": Failure}  # fmt: skip


class SafeUnpickler(pickle.Unpickler):
    """Unpickle only plain data and this module's markers: any other global is a ``ProtocolError``."""

    def find_class(self, module: str, name: str) -> Any:
        if module == __name__ and name in _OURS:
            return _OURS[name]
        if (module, name) not in SAFE_GLOBALS:
            raise ProtocolError(f"the answer holds {module}.{name}, which is not plain data")
        return super().find_class(module, name)


def safe_loads(payload: bytes) -> Any:
    """``payload`` unpickled by :class:`SafeUnpickler`."""
    try:
        return SafeUnpickler(io.BytesIO(payload)).load()
    except ProtocolError:
        raise
    except Exception as err:  # a malformed stream is the worker's problem, reported as such
        raise ProtocolError(f"an unreadable answer ({type(err).__name__}: {err})") from None
