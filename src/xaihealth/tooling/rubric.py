"""Marking rubrics of the written questions, parsed from the comment block that follows a model answer.

A written answer's solution block ends with the rubric, in exactly this format::

    # Marking rubric (8 points):
    # - 2: criterion text ...
    #      continuation lines indented
    # - 3: ...

The item points must add up to the total. :func:`parse_rubric` returns a :class:`Rubric`, or raises a
``ValueError`` naming the line that does not follow the format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_HEADER = re.compile(r"^#\s*Marking rubric \((\d+) points?\):\s*$")
_ITEM = re.compile(r"^#\s*-\s*(\d+):\s*(\S.*)$")
_CONTINUED = re.compile(r"^#\s{2,}(\S.*)$")


@dataclass(frozen=True)
class Rubric:
    """A written question's marking rubric: total points, ``(points, criterion)`` items, the model answer."""

    total: int
    items: tuple[tuple[int, str], ...]
    answer: str


def parse_rubric(lines: list[str], answer: str, where: str) -> Rubric:
    """The rubric in the comment ``lines`` (a solution block's lines); ``where`` names it in errors.

    Lines before the ``# Marking rubric (P points):`` header are ignored; every line after it must be an
    item ``# - N: text`` or an indented continuation ``#      text``, and the items must add up to P.
    """
    stripped = [line.strip() for line in lines]
    headers = [i for i, line in enumerate(stripped) if _HEADER.match(line)]
    if len(headers) != 1:
        raise ValueError(
            f"{where}: needs exactly one line '# Marking rubric (P points):' after the model answer, "
            f"found {len(headers)}"
        )
    total = int(_HEADER.match(stripped[headers[0]]).group(1))
    items: list[list] = []
    for line in stripped[headers[0] + 1 :]:
        if not line:
            continue
        item, continued = _ITEM.match(line), _CONTINUED.match(line)
        if item:
            items.append([int(item.group(1)), item.group(2)])
        elif continued and items:
            items[-1][1] += " " + continued.group(1)
        else:
            raise ValueError(
                f"{where}: rubric line {line!r} is neither an item '# - N: criterion' nor an indented "
                "continuation '#      text'"
            )
    if len(items) < 2:
        raise ValueError(f"{where}: a rubric needs at least two criteria, found {len(items)}")
    added = sum(points for points, _ in items)
    if added != total:
        raise ValueError(f"{where}: the rubric's items add up to {added} points, its header says {total}")
    return Rubric(total, tuple((points, text) for points, text in items), answer.strip())
