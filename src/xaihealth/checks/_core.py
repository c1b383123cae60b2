"""The checker pattern shared by all modules (see :mod:`xaihealth.checks`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from xaihealth import validate


class Exercise:
    """Collects the properties a checker verifies for one exercise."""

    def __init__(self, title: str) -> None:
        self.title = title
        self.checked = 0

    def expect(self, condition: object, hint: str) -> None:
        """Fail with ``hint`` unless ``condition`` is true."""
        self.checked += 1
        if not bool(condition):
            raise AssertionError(f"{self.title}: {hint}")

    def call(self, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Call the student's function, turning a crash into an actionable message."""
        validate.is_callable("function", function)
        try:
            return function(*args, **kwargs)
        except NotImplementedError as err:
            raise AssertionError(
                f"{self.title}: not done yet ({err}). Replace the stub with your code."
            ) from None
        except Exception as err:  # the student's bug, reported with its type and message
            raise AssertionError(
                f"{self.title}: your function raised {type(err).__name__}: {err}. "
                "Run it on the example in the cell above to see where."
            ) from err


@contextmanager
def exercise(title: str) -> Iterator[Exercise]:
    """Run the checks in the ``with`` block; print one success line if none failed."""
    if not isinstance(title, str) or not title.strip():
        raise ValueError(f"title={title!r} must be a non-empty string naming the exercise")
    ex = Exercise(title)
    yield ex
    if ex.checked == 0:
        raise RuntimeError(
            f"checker for {title!r} verified nothing: a checker must test at least one property"
        )
    print(f"\u2714 {title}: passed ({ex.checked} checks)")
