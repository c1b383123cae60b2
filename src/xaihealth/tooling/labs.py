"""Derive the student labs, and nbgrader's source notebooks, from the solution sources (``make labs``).

A solution notebook ``solutions/NN_topic_lab.py`` marks what the student must write in one of two ways,
both understood by nbgrader too:

- a block between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` inside a code cell, or
- a whole code cell tagged ``solution``.

Each is replaced by one line, ``raise NotImplementedError("Exercise N ...")``, naming the exercise from
the nearest ``## Exercise N — title`` heading above it. A check cell (its statements are calls of
``check_*`` functions) may end with a ``### BEGIN HIDDEN TESTS`` / ``### END HIDDEN TESTS`` block, which
the lab leaves out. Outputs are removed. The result is written to ``labs/NN_topic_lab.ipynb``;
``python -m xaihealth.tooling.labs --check`` reports labs that are out of date.

Every cell gets nbgrader's cell metadata (schema 3), from its role (:func:`cell_roles`):

- solution cells ``ex<N>`` (``ex<N>-2``... for the second and later of one exercise),
- check cells, autograded and locked, ``check-<N>``: 0 points for a ``check_answer_*`` completeness check,
  otherwise the heading's ``(P points)`` or 2,
- written answers (a solution block that assigns ``answer_*``, then its rubric, see
  :mod:`xaihealth.tooling.rubric`), manually graded, ``answer-<N>``, worth the rubric's total,
- every other cell locked, ``cell-<index>``.

:func:`make_source` gives nbgrader's *source* notebook (solutions and hidden tests kept, same metadata) for
``nbgrader generate_assignment`` and ``autograde``.
"""

from __future__ import annotations

import argparse
import ast
import copy
import re
import sys
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import jupytext
import nbformat

from xaihealth.checks._core import describe
from xaihealth.tooling.rubric import Rubric, parse_rubric

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
BEGIN_HIDDEN = "### BEGIN HIDDEN TESTS"
END_HIDDEN = "### END HIDDEN TESTS"
TAG = "solution"
DEFAULT_POINTS = 2
_HEADING = re.compile(r"^#+\s*(Exercise\s+(\w+))\s*(?:[-\u2013\u2014:.]\s*(.*))?$", re.M)
_POINTS = re.compile(r"\s*\((\d+) points?\)\s*$")
_ANSWER = re.compile(r"^\s*(answer_\w+)\s*=", re.M)
_MARKER_WORDS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
_JUPYTEXT_CELL_KEYS = ("lines_to_next_cell", "lines_to_end_of_cell_marker")  # layout of the .py only

__all__ = ["Role", "Rubric", "cell_roles", "exercise_cells", "make_lab", "make_source", "rubrics"]


def stub(exercise: str, indent: str = "") -> str:
    """The line a student replaces with their code."""
    return f'{indent}raise NotImplementedError("{exercise}: replace this line with your code")'


def _heading(markdown: str) -> tuple[str, str, int | None] | None:
    """``(name, number, points)`` of the first ``Exercise N — title (P points)`` heading, or None."""
    match = _HEADING.search(markdown)
    if not match:
        return None
    number, title = match.group(2), (match.group(3) or "").strip()
    points = _POINTS.search(title)
    if points:
        title = title[: points.start()].strip()
    name = f"{match.group(1)} ({title})" if title else match.group(1)
    return name, number, int(points.group(1)) if points else None


def _exercise_name(markdown: str) -> str | None:
    """``"Exercise N (title)"`` for a markdown cell with an exercise heading (the checkers' titles)."""
    found = _heading(markdown)
    return found[0] if found else None


def _marked(source: str, begin: str, end: str, where: str) -> list[tuple[str, str]]:
    """Each line of ``source`` with its place: ``"begin"``, ``"end"`` (a marker), ``"inside"``, ``"outside"``.

    Unbalanced or nested markers are a ``ValueError`` naming ``where``.
    """
    out: list[tuple[str, str]] = []
    inside = False
    for line in source.splitlines():
        marker = line.strip()
        if marker == begin:
            if inside:
                raise ValueError(f"{where}: nested {begin!r}")
            inside = True
            out.append(("begin", line))
        elif marker == end:
            if not inside:
                raise ValueError(f"{where}: {end!r} without {begin!r}")
            inside = False
            out.append(("end", line))
        else:
            out.append(("inside" if inside else "outside", line))
    if inside:
        raise ValueError(f"{where}: {begin!r} without {end!r}")
    return out


def strip_solution_blocks(source: str, exercise: str) -> str:
    """Replace every ``### BEGIN/END SOLUTION`` block of ``source`` by a stub."""
    out = []
    for place, line in _marked(source, BEGIN, END, exercise):
        if place == "begin":
            out.append(stub(exercise, line[: len(line) - len(line.lstrip())]))
        elif place == "outside":
            out.append(line)
    return "\n".join(out)


def strip_hidden_tests(source: str, where: str = "cell") -> str:
    """``source`` without its ``### BEGIN/END HIDDEN TESTS`` blocks (markers included)."""
    kept = [line for place, line in _marked(source, BEGIN_HIDDEN, END_HIDDEN, where) if place == "outside"]
    return "\n".join(kept).rstrip("\n")


def _solution_part(cell: nbformat.NotebookNode, where: str) -> list[str]:
    """The lines a student must write: the whole cell if tagged ``solution``, else its solution blocks."""
    if TAG in cell.metadata.get("tags", []):
        return cell.source.splitlines()
    return [line for place, line in _marked(cell.source, BEGIN, END, where) if place == "inside"]


def _check_calls(source: str) -> list[str] | None:
    """The names called if every statement of ``source`` (hidden tests left out) is a ``check_*`` call."""
    try:
        body = ast.parse(strip_hidden_tests(source)).body
    except SyntaxError:
        return None
    names = []
    for statement in body:
        call = statement.value if isinstance(statement, ast.Expr) else None
        if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Name)):
            return None
        if not call.func.id.startswith("check_"):
            return None
        names.append(call.func.id)
    return names or None


@dataclass(frozen=True)
class Role:
    """What one cell is for nbgrader: its ``kind``, ``grade_id``, exercise name and points."""

    kind: str  # "solution", "answer" (a written answer), "check" or "other"
    grade_id: str
    exercise: str | None = None
    points: int | None = None
    rubric: Rubric | None = None

    def metadata(self) -> dict:
        """nbgrader's cell metadata (schema 3) for this role."""
        meta = {
            "solution": self.kind in ("solution", "answer"),
            "grade": self.kind in ("check", "answer"),
            "locked": self.kind in ("check", "other"),
            "grade_id": self.grade_id,
            "schema_version": 3,
        }
        if meta["grade"]:
            meta["points"] = self.points
        return meta


def _model_answer(lines: list[str], where: str) -> str:
    """The string a written answer's solution assigns to its ``answer_*`` name."""
    tree = ast.parse(textwrap.dedent("\n".join(lines)))
    values = [
        node.value.value
        for node in tree.body
        if isinstance(node, ast.Assign)
        and any(isinstance(t, ast.Name) and t.id.startswith("answer_") for t in node.targets)
        and isinstance(node.value, ast.Constant)
        and isinstance(node.value.value, str)
    ]
    if not values:
        raise ValueError(f"{where}: a written answer must assign a string literal: answer_N = '''...'''")
    return values[-1]


def cell_roles(nb: nbformat.NotebookNode) -> list[Role]:
    """The nbgrader role of every cell of a solution notebook, in order."""
    if not isinstance(nb, nbformat.NotebookNode) or "cells" not in nb:
        raise TypeError(
            f"expected a solution notebook (an nbformat.NotebookNode with cells, e.g. jupytext.read of "
            f"solutions/NN_topic_lab.py), got {describe(nb)}"
        )
    roles: list[Role] = []
    exercise = number = None
    heading_points: int | None = None
    seen: Counter[str] = Counter()
    for index, cell in enumerate(nb.cells):
        other = Role("other", f"cell-{index:03d}")
        if cell.cell_type == "markdown":
            markers = [m for m in _MARKER_WORDS if m in cell.source]  # nbgrader looks for these anywhere
            if markers:
                raise ValueError(f"cell {index}: {markers[0]!r} in a markdown cell (put it in a code cell)")
            found = _heading(cell.source)
            if found:
                exercise, number, heading_points = found
            roles.append(other)
            continue
        if cell.cell_type != "code":
            roles.append(other)
            continue
        where = f"cell {index}" + (f" ({exercise})" if exercise else "")
        is_solution = TAG in cell.metadata.get("tags", []) or BEGIN in cell.source
        calls = None if is_solution else _check_calls(cell.source)
        if (is_solution or calls) and exercise is None:
            what = "solution code" if is_solution else "a check cell"
            raise ValueError(f"cell {index}: {what} with no 'Exercise N' heading above it")
        if is_solution:
            secret = _solution_part(cell, where)
            if _ANSWER.search("\n".join(secret)):
                kind, prefix = "answer", f"answer-{number}"
                rubric = parse_rubric(secret, _model_answer(secret, where), where)
                points = rubric.total
            else:
                kind, prefix, points, rubric = "solution", f"ex{number}", None, None
        elif calls:
            kind, prefix, rubric = "check", f"check-{number}", None
            written = all(name.startswith("check_answer_") for name in calls)
            points = 0 if written else (heading_points or DEFAULT_POINTS)
        else:
            roles.append(other)
            continue
        seen[prefix] += 1
        grade_id = prefix if seen[prefix] == 1 else f"{prefix}-{seen[prefix]}"
        roles.append(Role(kind, grade_id, exercise, points, rubric))
    return roles


def _annotated(solution: nbformat.NotebookNode) -> tuple[nbformat.NotebookNode, list[Role]]:
    """A copy of ``solution`` with cell ids, nbgrader metadata and no outputs, and the cells' roles."""
    roles = cell_roles(solution)
    nb = copy.deepcopy(solution)
    for index, (cell, role) in enumerate(zip(nb.cells, roles, strict=True)):
        cell["id"] = f"cell-{index:03d}"
        for key in _JUPYTEXT_CELL_KEYS:
            cell.metadata.pop(key, None)
        cell.metadata["nbgrader"] = role.metadata()
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("jupytext", None)
    return nb, roles


def make_lab(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student version of a solution notebook: stubs, nbgrader metadata, no hidden tests, no outputs."""
    lab, roles = _annotated(solution)
    for index, (cell, role) in enumerate(zip(lab.cells, roles, strict=True)):
        if role.kind in ("solution", "answer"):
            tags = cell.metadata.get("tags", [])
            if TAG in tags:
                cell.source = stub(role.exercise)
                cell.metadata["tags"] = [t for t in tags if t != TAG]
                if not cell.metadata["tags"]:
                    del cell.metadata["tags"]
            else:
                cell.source = strip_solution_blocks(cell.source, role.exercise)
        elif cell.cell_type == "code" and BEGIN_HIDDEN in cell.source:
            if role.kind != "check":
                raise ValueError(f"cell {index}: hidden tests belong in a check cell (check_* calls only)")
            cell.source = strip_hidden_tests(cell.source, f"cell {index}")
    return lab


def make_source(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """nbgrader's source notebook: the solutions with their markers and the hidden tests, with metadata."""
    return _annotated(solution)[0]


def rubrics(solution: nbformat.NotebookNode) -> dict[str, Rubric]:
    """The marking rubric of every written answer, by grade_id (``answer-<N>``)."""
    return {role.grade_id: role.rubric for role in cell_roles(solution) if role.rubric is not None}


def exercise_cells(nb: nbformat.NotebookNode) -> dict[str, str]:
    """The exercise name (``"Exercise N (title)"``) of every solution, answer and check cell, by grade_id."""
    return {role.grade_id: role.exercise for role in cell_roles(nb) if role.kind != "other"}


def solution_lines(solution: nbformat.NotebookNode) -> set[str]:
    """Lines that exist only inside solution parts or hidden tests (used by the leak test)."""
    inside_lines: set[str] = set()
    outside_lines: set[str] = set()
    for cell in solution.cells:
        if cell.cell_type != "code":
            continue
        whole = TAG in cell.metadata.get("tags", [])
        inside = False
        for line in cell.source.splitlines():
            marker = line.strip()
            if marker in (BEGIN, END, BEGIN_HIDDEN, END_HIDDEN):
                inside = marker in (BEGIN, BEGIN_HIDDEN)
                continue
            if marker and not marker.startswith("#"):
                (inside_lines if (whole or inside) else outside_lines).add(marker)
    return inside_lines - outside_lines


def lab_path(solution_py: Path, labs_dir: Path) -> Path:
    return labs_dir / (solution_py.stem + ".ipynb")


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb, version=4) + "\n"


def build(solutions_dir: Path, labs_dir: Path, *, check: bool = False) -> list[Path]:
    """Write (or, with ``check``, only compare) every lab; return the paths that differed."""
    if not solutions_dir.is_dir():
        raise ValueError(f"solutions_dir={str(solutions_dir)!r} is not a folder of solution sources")
    changed = []
    labs_dir.mkdir(exist_ok=True)
    for solution_py in sorted(solutions_dir.glob("[0-9]*.py")):
        text = render(make_lab(jupytext.read(solution_py)))
        target = lab_path(solution_py, labs_dir)
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            changed.append(target)
            if not check:
                target.write_text(text, encoding="utf-8")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--solutions", type=Path, default=Path("solutions"))
    parser.add_argument("--labs", type=Path, default=Path("labs"))
    parser.add_argument("--check", action="store_true", help="only report labs that are out of date")
    args = parser.parse_args(argv)
    changed = build(args.solutions, args.labs, check=args.check)
    for path in changed:
        print(("out of date: " if args.check else "wrote ") + str(path))
    return 1 if (args.check and changed) else 0


if __name__ == "__main__":
    sys.exit(main())
