"""Argument checks shared by every public function.

Each helper raises a ``ValueError`` or ``TypeError`` whose message names the parameter, the value that
was given and what is allowed, so that a student can fix the call without reading the source.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any


def one_of(name: str, value: Any, allowed: Collection[Any]) -> Any:
    """Return ``value`` if it is one of ``allowed``, else raise ``ValueError``."""
    if value not in allowed:
        choices = ", ".join(repr(a) for a in allowed)
        raise ValueError(f"{name}={value!r} is not allowed; choose one of: {choices}")
    return value


def integer(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return ``value`` as an ``int`` after checking its type and range."""
    if isinstance(value, bool) or not isinstance(value, int | _np_integer()):
        raise TypeError(f"{name}={value!r} must be an integer, not {type(value).__name__}")
    value = int(value)
    _check_range(name, value, minimum, maximum)
    return value


def number(name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None) -> float:
    """Return ``value`` as a ``float`` after checking its type and range."""
    if isinstance(value, bool) or not isinstance(value, int | float | _np_number()):
        raise TypeError(f"{name}={value!r} must be a number, not {type(value).__name__}")
    value = float(value)
    if value != value:  # NaN
        raise ValueError(f"{name}={value!r} must be a number, not NaN")
    _check_range(name, value, minimum, maximum)
    return value


def boolean(name: str, value: Any) -> bool:
    """Return ``value`` if it is a ``bool``, else raise ``TypeError``."""
    if not isinstance(value, bool | _np_bool()):
        raise TypeError(f"{name}={value!r} must be True or False, not {type(value).__name__}")
    return bool(value)


def is_callable(name: str, value: Any) -> Any:
    """Return ``value`` if it can be called, else raise ``TypeError``."""
    if not callable(value):
        raise TypeError(f"{name}={value!r} must be a function (callable), not {type(value).__name__}")
    return value


def _check_range(name: str, value: float, minimum: float | None, maximum: float | None) -> None:
    if minimum is not None and value < minimum:
        raise ValueError(f"{name}={value!r} is too small; allowed: {_range_text(minimum, maximum)}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name}={value!r} is too large; allowed: {_range_text(minimum, maximum)}")


def _range_text(minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"{minimum} <= value <= {maximum}"
    if minimum is not None:
        return f"value >= {minimum}"
    return f"value <= {maximum}"


def _np_integer() -> type:
    import numpy as np

    return np.integer


def _np_number() -> type:
    import numpy as np

    return np.number


def _np_bool() -> type:
    import numpy as np

    return np.bool_
