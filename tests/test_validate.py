"""Argument checks name the parameter, the value and what is allowed."""

import numpy as np
import pytest

from xaihealth import validate


def test_accepts_good_values():
    assert validate.integer("n", np.int64(5), minimum=1) == 5
    assert validate.number("p", 0.5, minimum=0, maximum=1) == 0.5
    assert validate.one_of("mode", "a", ("a", "b")) == "a"
    assert validate.boolean("flag", np.bool_(True)) is True


@pytest.mark.parametrize(
    ("call", "error", "message"),
    [
        (lambda: validate.integer("n", -1, minimum=1), ValueError, "n=-1 is too small; allowed: value >= 1"),
        (lambda: validate.integer("n", 2.5), TypeError, "n=2.5 must be an integer"),
        (lambda: validate.integer("n", True), TypeError, "n=True must be an integer"),
        (
            lambda: validate.number("p", 2.0, minimum=0, maximum=1),
            ValueError,
            "p=2.0 is too large; allowed: 0 <= value <= 1",
        ),
        (lambda: validate.number("p", float("nan")), ValueError, "p=nan must be a number, not NaN"),
        (lambda: validate.number("p", "1"), TypeError, "p='1' must be a number"),
        (
            lambda: validate.one_of("mode", "c", ("a", "b")),
            ValueError,
            "mode='c' is not allowed; choose one of: 'a', 'b'",
        ),
        (lambda: validate.boolean("flag", "yes"), TypeError, "flag='yes' must be True or False"),
        (lambda: validate.is_callable("fn", 3), TypeError, "fn=3 must be a function"),
    ],
)
def test_errors_name_parameter_value_and_allowed(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert str(info.value) == message or str(info.value).startswith(message)
