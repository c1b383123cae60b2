"""One source per notebook: pairs agree, labs are generated from solutions and leak nothing."""

import re

import jupytext
import nbformat
import pytest
from helpers import LABS, NOTEBOOKS, SOLUTIONS, sources

from xaihealth.tooling import labs

PY_SOURCES = sources(NOTEBOOKS, SOLUTIONS)


def _cells(nb):
    return [(c.cell_type, c.source.strip()) for c in nb.cells]


def test_there_is_something_to_test():
    assert any(p.parent == NOTEBOOKS for p in PY_SOURCES) and any(p.parent == SOLUTIONS for p in PY_SOURCES)


@pytest.mark.parametrize("source", PY_SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_pair_is_in_sync(source):
    paired = source.with_suffix(".ipynb")
    assert paired.exists(), f"{paired.name} is missing: run `make execute`"
    from_py, from_ipynb = jupytext.read(source), nbformat.read(paired, as_version=4)
    assert _cells(from_py) == _cells(from_ipynb), (
        f"{source.name} and {paired.name} differ: edit the .py, then `make execute` (or `jupytext --sync`)"
    )


@pytest.mark.parametrize("source", PY_SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_committed_notebook_has_outputs_to_compare(source):
    nb = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code), (
        f"{source.with_suffix('.ipynb').name} was not executed top to bottom: run `make execute`"
    )


@pytest.mark.parametrize("source", sources(NOTEBOOKS), ids=lambda p: p.name)
def test_lecture_has_slide_metadata(source):
    nb = jupytext.read(source)
    kinds = [c.metadata.get("slideshow", {}).get("slide_type") for c in nb.cells]
    assert kinds.count("slide") >= 3, f"{source.name}: mark section cells with slide_type 'slide'"


@pytest.mark.parametrize("source", sources(SOLUTIONS), ids=lambda p: p.name)
def test_lab_is_regenerated_identically(source):
    lab_file = labs.lab_path(source, LABS)
    assert lab_file.exists(), f"{lab_file.name} is missing: run `make labs`"
    expected = labs.render(labs.make_lab(jupytext.read(source)))
    assert lab_file.read_text(encoding="utf-8") == expected, (
        f"{lab_file.name} is out of date: run `make labs`"
    )


@pytest.mark.parametrize("source", sources(SOLUTIONS), ids=lambda p: p.name)
def test_no_solution_line_leaks_into_the_lab(source):
    """No line of a solution part or of a hidden test (``solution_lines``) is in the student lab."""
    secret = labs.solution_lines(jupytext.read(source))
    assert secret, f"{source.name} has no solution parts"
    lab = nbformat.read(labs.lab_path(source, LABS), as_version=4)
    lab_lines = {line.strip() for c in lab.cells if c.cell_type == "code" for line in c.source.splitlines()}
    leaked = sorted(secret & lab_lines)
    assert not leaked, f"solution lines found in the lab: {leaked[:5]}"
    assert not any(marker in c.source for c in lab.cells for marker in labs._MARKER_WORDS), "a marker leaked"


@pytest.mark.parametrize("source", sources(SOLUTIONS), ids=lambda p: p.name)
def test_every_exercise_has_a_stub_naming_it_and_a_check(source):
    lab = nbformat.read(labs.lab_path(source, LABS), as_version=4)
    headings = re.findall(
        r"^#+\s*(Exercise\s+\w+)", "\n".join(c.source for c in lab.cells if c.cell_type == "markdown"), re.M
    )
    code = "\n".join(c.source for c in lab.cells if c.cell_type == "code")
    stubs = re.findall(r'raise NotImplementedError\("(Exercise\s+\w+)[^"]*"\)', code)
    assert headings and sorted(set(headings)) == sorted(set(stubs)), f"exercises {headings} vs stubs {stubs}"
    assert len(re.findall(r"^check_\w+\(", code, re.M)) >= len(set(headings)), (
        "each exercise needs a check cell"
    )
    assert all(not c.get("outputs") for c in lab.cells if c.cell_type == "code"), "labs ship without outputs"


def test_stub_raises_not_implemented_error_naming_the_exercise():
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("## Exercise 7 — toy"),
        nbformat.v4.new_code_cell(
            "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION"
        ),
    ]
    source = labs.make_lab(nb).cells[1].source
    assert "return x + 1" not in source
    namespace = {}
    exec(source, namespace)
    with pytest.raises(NotImplementedError, match="Exercise 7 \\(toy\\)"):
        namespace["f"](1)


def test_solution_tagged_cell_is_replaced_whole():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("## Exercise 2: fit"), nbformat.v4.new_code_cell("secret = 42")]
    nb.cells[1].metadata["tags"] = ["solution"]
    cell = labs.make_lab(nb).cells[1]
    assert "secret" not in cell.source and "Exercise 2 (fit)" in cell.source and "tags" not in cell.metadata


def test_solution_without_exercise_heading_is_refused():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("### BEGIN SOLUTION\nx = 1\n### END SOLUTION")]
    with pytest.raises(ValueError, match="Exercise"):
        labs.make_lab(nb)


def test_unbalanced_markers_are_refused():
    with pytest.raises(ValueError, match="without"):
        labs.strip_solution_blocks("### BEGIN SOLUTION\nx = 1", "Exercise 1")
    with pytest.raises(ValueError, match="without"):
        labs.strip_solution_blocks("x = 1\n### END SOLUTION", "Exercise 1")


@pytest.mark.parametrize("source", PY_SOURCES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_ignored_output_says_why(source):
    lines = source.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.strip().startswith("# NBVAL_"):
            reason = lines[i + 1].strip() if i + 1 < len(lines) else ""
            assert reason.startswith("# reason:") and len(reason) > len("# reason: ") + 10, (
                f"{source.name}:{i + 1}: {line.strip()} must be followed by a line '# reason: <why>'"
            )
