"""Derive the student labs from the solution sources (``make labs``).

A solution notebook ``solutions/NN_topic_lab.py`` marks what the student must write in one of two ways,
both understood by nbgrader too:

- a block between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` inside a code cell, or
- a whole code cell tagged ``solution``.

Each is replaced by one line, ``raise NotImplementedError("Exercise N ...")``, naming the exercise from
the nearest ``Exercise N`` heading above it. Outputs are removed. The result is written to
``labs/NN_topic_lab.ipynb``. ``python -m xaihealth.tooling.labs --check`` reports labs that are out of date.
"""

from __future__ import annotations

import argparse
import copy
import re
import sys
from pathlib import Path

import jupytext
import nbformat

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
TAG = "solution"
_HEADING = re.compile(r"^#+\s*(Exercise\s+\w+)\s*(?:[-\u2013\u2014:.]\s*(.*))?$", re.M)


def stub(exercise: str, indent: str = "") -> str:
    """The line a student replaces with their code."""
    return f'{indent}raise NotImplementedError("{exercise}: replace this line with your code")'


def _exercise_name(markdown: str) -> str | None:
    match = _HEADING.search(markdown)
    if not match:
        return None
    number, title = match.group(1), (match.group(2) or "").strip()
    return f"{number} ({title})" if title else number


def strip_solution_blocks(source: str, exercise: str) -> str:
    """Replace every ``### BEGIN/END SOLUTION`` block of ``source`` by a stub."""
    out: list[str] = []
    inside = False
    for line in source.splitlines():
        marker = line.strip()
        if marker == BEGIN:
            if inside:
                raise ValueError(f"{exercise}: nested {BEGIN!r}")
            inside = True
            out.append(stub(exercise, line[: len(line) - len(line.lstrip())]))
        elif marker == END:
            if not inside:
                raise ValueError(f"{exercise}: {END!r} without {BEGIN!r}")
            inside = False
        elif not inside:
            out.append(line)
    if inside:
        raise ValueError(f"{exercise}: {BEGIN!r} without {END!r}")
    return "\n".join(out)


def make_lab(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return the student version of a solution notebook."""
    lab = copy.deepcopy(solution)
    exercise: str | None = None
    for index, cell in enumerate(lab.cells):
        cell["id"] = f"cell-{index:03d}"
        if cell.cell_type == "markdown":
            exercise = _exercise_name(cell.source) or exercise
            continue
        if cell.cell_type != "code":
            continue
        tags = cell.metadata.get("tags", [])
        has_block = BEGIN in cell.source
        if (TAG in tags or has_block) and exercise is None:
            raise ValueError(f"cell {index}: solution code with no 'Exercise N' heading above it")
        if TAG in tags:
            cell.source = stub(exercise)
            cell.metadata["tags"] = [t for t in tags if t != TAG]
            if not cell.metadata["tags"]:
                del cell.metadata["tags"]
        elif has_block:
            cell.source = strip_solution_blocks(cell.source, exercise)
        cell.outputs = []
        cell.execution_count = None
    lab.metadata.pop("jupytext", None)
    return lab


def solution_lines(solution: nbformat.NotebookNode) -> set[str]:
    """Lines that exist only inside solution parts (used by the leak test)."""
    inside_lines: set[str] = set()
    outside_lines: set[str] = set()
    for cell in solution.cells:
        if cell.cell_type != "code":
            continue
        whole = TAG in cell.metadata.get("tags", [])
        inside = False
        for line in cell.source.splitlines():
            marker = line.strip()
            if marker in (BEGIN, END):
                inside = marker == BEGIN
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
