"""A checker prints the title of the lab exercise it grades (DESIGN §13).

A lab heading ``## Exercise N — T`` names the exercise ``Exercise N (T)``: ``make labs`` writes that name
into the stubs (``xaihealth.tooling.labs``), and each checker called under the heading must use the same
title. Titles are read from the checkers' source (the literal given to ``exercise(...)``), so no check runs.
"""

import ast
import importlib
import inspect
from pathlib import Path

import jupytext
import pytest
from helpers import SOLUTIONS

from xaihealth.tooling.labs import _exercise_name

LABS = sorted(SOLUTIONS.glob("[0-9]*_lab.py"))


def checker_title(module: str, name: str) -> str:
    """The literal title passed to ``exercise(...)`` inside the checker ``module.name``."""
    function = getattr(importlib.import_module(module), name)
    titles = [
        node.args[0].value
        for node in ast.walk(ast.parse(inspect.getsource(function)))
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "exercise"
        and node.args and isinstance(node.args[0], ast.Constant)
    ]  # fmt: skip
    assert len(titles) == 1, f"{module}.{name} must call exercise('...') once, with a literal title"
    return titles[0]


def check_calls(path: Path) -> list[tuple[str | None, str, str]]:
    """``(exercise heading name, checker module, checker name)`` for every checker call in a solution."""
    notebook = jupytext.read(path)
    imported: dict[str, str] = {}
    found = []
    exercise = None
    for cell in notebook.cells:
        if cell.cell_type == "markdown":
            exercise = _exercise_name(cell.source) or exercise
            continue
        if cell.cell_type != "code":
            continue
        lines = [line for line in cell.source.splitlines() if not line.lstrip().startswith(("%", "!"))]
        for node in ast.walk(ast.parse("\n".join(lines))):  # magics left out
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("xaihealth.checks."):
                checkers = [a for a in node.names if a.name.startswith("check_")]
                imported.update({a.asname or a.name: node.module for a in checkers})
            elif isinstance(node, ast.Call) and getattr(node.func, "id", None) in imported:
                found.append((exercise, imported[node.func.id], node.func.id))
    return found


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.stem)
def test_checkers_print_the_lab_exercise_title(path):
    calls = check_calls(path)
    assert calls, f"{path.name} calls no checker"
    for exercise, module, name in calls:
        assert exercise is not None, f"{path.name}: {name} is called before any 'Exercise N' heading"
        assert checker_title(module, name) == exercise, (
            f"{path.name}: {module}.{name} prints {checker_title(module, name)!r} under the heading "
            f"{exercise!r}; change the checker's title"
        )


@pytest.mark.parametrize("path", LABS, ids=lambda p: p.stem)
def test_every_exercise_has_a_check(path):
    notebook = jupytext.read(path)
    names = [_exercise_name(c.source) for c in notebook.cells if c.cell_type == "markdown"]
    headings = {name for name in names if name}
    checked = {exercise for exercise, _, _ in check_calls(path)}
    assert headings, f"{path.name} has no 'Exercise N' heading"
    assert headings <= checked, f"{path.name}: exercises without a checker call: {sorted(headings - checked)}"


def test_every_checker_is_used_by_a_lab():
    used = {(module, name) for path in LABS for _, module, name in check_calls(path)}
    for path in sorted(Path(importlib.import_module("xaihealth.checks").__file__).parent.glob("[a-z]*.py")):
        module = f"xaihealth.checks.{path.stem}"
        names = [n for n, f in inspect.getmembers(importlib.import_module(module), inspect.isfunction)
                 if n.startswith("check_") and f.__module__ == module]  # fmt: skip
        for name in names:
            assert (module, name) in used, f"{module}.{name} is called by no lab in solutions/"
