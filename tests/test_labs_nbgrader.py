"""nbgrader metadata written by ``make labs`` (issue 15): nbgrader itself accepts the labs and sources.

The labs and nbgrader's source notebooks come from :mod:`xaihealth.tooling.labs`; nbgrader's own
``MetadataValidator`` checks their cell metadata, ``nbgrader generate_assignment`` builds a release from a
source, and ``nbgrader validate`` runs one lab's source (which must pass) and its student lab (whose stubbed
exercises must fail).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

import jupytext
import nbformat
import pytest
from helpers import LABS, SOLUTIONS, sources
from nbgrader.nbgraderformat import MetadataValidator

from xaihealth.tooling import labs
from xaihealth.tooling.rubric import parse_rubric

SOLUTION_SOURCES = sources(SOLUTIONS)
FASTEST = SOLUTIONS / "03_shap_lime_lab.py"  # about 9 s under nbgrader validate
IDS = {"ids": lambda p: p.stem}


def _toy(*cells):
    """A notebook from ``(kind, source)`` pairs, kind "md" or "code"; '@solution\n' first tags the cell."""
    nb = nbformat.v4.new_notebook()
    for kind, text in cells:
        if kind == "md":
            nb.cells.append(nbformat.v4.new_markdown_cell(text))
        else:
            tagged = text.startswith("@solution\n")
            cell = nbformat.v4.new_code_cell(text.removeprefix("@solution\n"))
            if tagged:
                cell.metadata["tags"] = ["solution"]
            nb.cells.append(cell)
    return nb


def _meta(nb):
    return [c.metadata["nbgrader"] for c in nb.cells]


@pytest.mark.parametrize("source", SOLUTION_SOURCES, **IDS)
def test_nbgrader_accepts_the_metadata_of_every_lab_and_source(source):
    solution = jupytext.read(source)
    committed = nbformat.read(labs.lab_path(source, LABS), as_version=4)
    for nb in (committed, labs.make_lab(solution), labs.make_source(solution)):
        MetadataValidator().validate_nb(nb)  # raises on a bad schema, missing grade_id or points, duplicates
        ids = [m["grade_id"] for m in _meta(nb)]
        assert len(ids) == len(set(ids)) == len(nb.cells), "every cell has its own grade_id"
        assert not [k for c in nb.cells for k in labs._JUPYTEXT_CELL_KEYS if k in c.metadata], "py layout"


@pytest.mark.parametrize("source", SOLUTION_SOURCES, **IDS)
def test_every_exercise_has_a_solution_cell_and_a_check_cell(source):
    solution = jupytext.read(source)
    headings = {
        labs._exercise_name(c.source) for c in solution.cells if c.cell_type == "markdown"
    } - {None}
    by_exercise = {}
    for role in labs.cell_roles(solution):
        if role.kind != "other":
            by_exercise.setdefault(role.exercise, set()).add(role.kind)
    assert headings and set(by_exercise) == headings
    for exercise, kinds in by_exercise.items():
        assert kinds & {"solution", "answer"} and "check" in kinds, f"{exercise}: {sorted(kinds)}"


def _heading_points(solution):
    """``{exercise number: P}`` read from the ``## Exercise N — title (P points)`` headings of a solution."""
    found = {}
    for cell in solution.cells:
        match = re.search(r"^## Exercise (\w+) — .*\((\d+) points?\)\s*$", cell.source, re.M)
        if cell.cell_type == "markdown" and match:
            found[match.group(1)] = int(match.group(2))
    return found


@pytest.mark.parametrize("source", SOLUTION_SOURCES, **IDS)
def test_points_and_roles_follow_the_plan(source):
    solution = jupytext.read(source)
    nb = labs.make_source(solution)
    rubrics = labs.rubrics(solution)
    heading = _heading_points(solution)
    for index, (cell, meta) in enumerate(zip(nb.cells, _meta(nb), strict=True)):
        grade_id = meta["grade_id"]
        if grade_id.startswith("check-"):
            calls = re.findall(r"^(check_\w+)\(", labs.strip_hidden_tests(cell.source), re.M)
            written = all(c.startswith("check_answer_") for c in calls)
            number = re.fullmatch(r"check-(\w+?)(?:-\d+)?", grade_id).group(1)
            points = 0 if written else heading.get(number, labs.DEFAULT_POINTS)
            assert meta == {"grade": True, "solution": False, "locked": True, "schema_version": 3,
                            "grade_id": grade_id, "points": points}
        elif grade_id.startswith("answer-"):
            assert meta == {"grade": True, "solution": True, "locked": False, "schema_version": 3,
                            "grade_id": grade_id, "points": rubrics[grade_id].total}
            assert re.search(r"^\s*answer_\w+\s*=", cell.source, re.M)
        elif grade_id.startswith("ex"):
            assert meta == {"grade": False, "solution": True, "locked": False, "schema_version": 3,
                            "grade_id": grade_id}
            assert labs.BEGIN in cell.source or "solution" in cell.metadata.get("tags", [])
        else:
            assert meta == {"grade": False, "solution": False, "locked": True, "schema_version": 3,
                            "grade_id": f"cell-{index:03d}"}
            assert labs.BEGIN not in cell.source


@pytest.mark.parametrize("source", SOLUTION_SOURCES, **IDS)
def test_code_is_at_least_half_of_each_labs_points(source):
    """The points policy (issue 15): the autograded code exercises carry at least half of a lab's points,
    so the written answers (8-10 points each) do not outweigh the code; no code exercise is worth more than
    the lab's largest written answer."""
    roles = labs.cell_roles(jupytext.read(source))
    code = [r.points for r in roles if r.kind == "check" and r.points]
    written = [r.points for r in roles if r.kind == "answer"]
    assert code and written and sum(code) >= sum(written), f"{source.name}: code {code}, written {written}"
    assert max(code) <= max(written), f"{source.name}: code {code}, written {written}"


@pytest.mark.parametrize("source", SOLUTION_SOURCES, **IDS)
def test_every_rubric_adds_up_and_has_criteria(source):
    found = labs.rubrics(jupytext.read(source))
    assert found, f"{source.name} has no written question with a rubric"
    for grade_id, rubric in found.items():
        assert rubric.total == sum(points for points, _ in rubric.items) > 0, grade_id
        assert len(rubric.items) >= 2 and all(text.strip() for _, text in rubric.items), grade_id
        assert len(rubric.answer.split()) >= 30, f"{grade_id}: the model answer is missing or too short"


@pytest.mark.parametrize("source", SOLUTION_SOURCES, **IDS)
def test_every_lab_asks_at_least_two_written_questions_with_a_model_answer(source):
    roles = labs.cell_roles(jupytext.read(source))
    answers = [r for r in roles if r.kind == "answer"]
    assert len(answers) >= 2, f"{source.name}: {[r.grade_id for r in answers]}"
    assert all(r.rubric.answer and r.points == r.rubric.total for r in answers)


def _noisy_checks(executed):
    """``{grade_id: [stderr text or error name]}`` for the check cells of an executed notebook with any."""
    roles = labs.cell_roles(executed)
    noisy = {}
    for role, cell in zip(roles, executed.cells, strict=True):
        bad = [o.get("text", o.get("ename", "")) for o in cell.get("outputs", [])
               if o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr")]  # fmt: skip
        if role.kind == "check" and bad:
            noisy[role.grade_id] = bad
    return noisy


@pytest.mark.parametrize("source", SOLUTION_SOURCES, **IDS)
def test_no_check_cell_of_an_executed_solution_writes_to_stderr(source):
    """nbgrader scores a test cell with any stderr output (a warning) or an error 0, even if it passed."""
    executed = nbformat.read(source.with_suffix(".ipynb"), as_version=4)
    checks = [c for r, c in zip(labs.cell_roles(executed), executed.cells, strict=True) if r.kind == "check"]
    assert checks and all(c.execution_count is not None for c in checks), "run `make execute`"
    assert _noisy_checks(executed) == {}


def test_a_check_cell_with_stderr_is_reported():
    nb = _toy(("md", "## Exercise 1 — f"), ("code", "@solution\nf = 1"), ("code", "check_f(f)"),
              ("code", "g = 1"))
    warning = nbformat.v4.new_output("stream", name="stderr", text="UserWarning: careful\n")
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="ok\n"), warning]
    nb.cells[3].outputs = [warning]  # not a check cell: nbgrader does not score it
    assert _noisy_checks(nb) == {"check-1": ["UserWarning: careful\n"]}


def test_heading_points_and_completeness_checks_set_the_points():
    nb = _toy(
        ("md", "## Exercise 2 — fit (5 points)"),
        ("code", "def f(x):\n    ### BEGIN SOLUTION\n    return x\n    ### END SOLUTION"),
        ("code", "check_f(f)\ncheck_g(f)"),
        ("md", "## Exercise 2b: why"),
        ("code", '### BEGIN SOLUTION\nanswer_2b = """because"""\n# Marking rubric (3 points):\n'
                 "# - 2: says why,\n#      with a number\n# - 1: a decision\n### END SOLUTION"),
        ("code", "check_answer_2b(answer_2b)"),
        ("code", "check_f(f)"),
    )
    roles = labs.cell_roles(nb)
    assert [(r.kind, r.grade_id, r.points) for r in roles] == [
        ("other", "cell-000", None), ("solution", "ex2", None), ("check", "check-2", 5),
        ("other", "cell-003", None), ("answer", "answer-2b", 3), ("check", "check-2b", 0),
        ("check", "check-2b-2", 2),
    ]
    assert roles[0].exercise is None and roles[1].exercise == "Exercise 2 (fit)"  # "(5 points)" left out
    rubric = labs.rubrics(nb)["answer-2b"]
    assert rubric.total == 3 and rubric.items == ((2, "says why, with a number"), (1, "a decision"))
    assert rubric.answer == "because"
    assert labs.exercise_cells(nb) == {"ex2": "Exercise 2 (fit)", "check-2": "Exercise 2 (fit)",
                                       "answer-2b": "Exercise 2b (why)", "check-2b": "Exercise 2b (why)",
                                       "check-2b-2": "Exercise 2b (why)"}


def test_hidden_tests_stay_in_the_source_and_never_reach_the_lab():
    hidden = (
        "check_f(f)\n### BEGIN HIDDEN TESTS\nfrom xaihealth.instructor.hidden.toy import hidden_check_f\n"
        "hidden_check_f(f)\n### END HIDDEN TESTS"
    )
    nb = _toy(("md", "## Exercise 1 — f"), ("code", "@solution\ndef f(x):\n    return x"), ("code", hidden))
    assert labs.make_lab(nb).cells[2].source == "check_f(f)"
    assert labs.make_source(nb).cells[2].source == hidden
    assert labs.make_source(nb).cells[2].metadata["nbgrader"]["grade_id"] == "check-1"
    secret = labs.solution_lines(nb)
    assert {"hidden_check_f(f)", "return x"} <= secret and "check_f(f)" not in secret


@pytest.mark.parametrize(
    ("cells", "match"),
    [
        ([("md", "## Exercise 1 — f"), ("code", "x = 1\n### BEGIN HIDDEN TESTS\nh(x)\n### END HIDDEN TESTS")],
         "hidden tests belong in a check cell"),
        ([("md", "## Exercise 1 — f"), ("code", "check_f(f)\n### BEGIN HIDDEN TESTS\nhidden(f)")], "without"),
        ([("code", "check_f(f)")], "check cell with no 'Exercise N' heading"),
        ([("md", "## Exercise 1 — f"), ("code", '### BEGIN SOLUTION\nanswer_1 = """x"""\n### END SOLUTION')],
         "Marking rubric"),
        ([("md", "## Exercise 1 — f"), ("code", "### BEGIN SOLUTION\nanswer_1 = str(1)\n### END SOLUTION")],
         "string literal"),
        ([("md", "## Exercise 1 — f\n## BEGIN HIDDEN TESTS\nh(f)\n## END HIDDEN TESTS")], "markdown cell"),
    ],
    ids=["hidden-outside-a-check", "unbalanced-hidden", "check-without-heading", "no-rubric", "no-string",
         "hidden-in-markdown"],
)
def test_malformed_notebooks_are_refused(cells, match):
    with pytest.raises(ValueError, match=match):
        labs.make_lab(_toy(*cells))


@pytest.mark.parametrize(
    ("lines", "match"),
    [
        (["# - 2: a", "# - 1: b"], "exactly one line"),
        (["# Marking rubric (4 points):", "# - 2: a", "# - 1: b"], "add up to 3 points, its header says 4"),
        (["# Marking rubric (2 points):", "# - 2: a"], "at least two criteria"),
        (["# Marking rubric (3 points):", "# - 2: a", "# 1 point: b"], "neither an item"),
    ],
)
def test_rubric_format_errors_name_the_problem(lines, match):
    with pytest.raises(ValueError, match=match):
        parse_rubric(lines, "answer", "answer-1")


def test_a_value_that_is_not_a_notebook_is_a_type_error():
    with pytest.raises(TypeError, match="expected a solution notebook.*got a str"):
        labs.make_lab("solutions/03_shap_lime_lab.py")


def _nbgrader(*args, cwd):
    """Start the nbgrader CLI of this environment (it calls its own ``alembic``: the venv's bin on PATH)."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
           "XAIHEALTH_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "TQDM_DISABLE": "1"}
    command = [str(Path(sys.executable).parent / "nbgrader"), *args]
    pipe = subprocess.PIPE
    return subprocess.Popen(command, cwd=cwd, env=env, stdout=pipe, stderr=pipe, text=True)


def _finish(process):
    out, err = process.communicate(timeout=240)
    return process.returncode, out, err


def test_generate_assignment_releases_no_solution_or_hidden_line(tmp_path):
    solution = jupytext.read(FASTEST)
    (tmp_path / "source" / "lab03").mkdir(parents=True)
    nbformat.write(labs.make_source(solution), tmp_path / "source" / "lab03" / f"{FASTEST.stem}.ipynb")
    code, out, err = _finish(_nbgrader("generate_assignment", "lab03", f"--CourseDirectory.root={tmp_path}",
                                       cwd=tmp_path))
    released = tmp_path / "release" / "lab03" / f"{FASTEST.stem}.ipynb"
    assert code == 0 and released.exists(), out[-2000:] + err[-2000:]
    release = nbformat.read(released, as_version=4)
    lines = {line.strip() for c in release.cells if c.cell_type == "code" for line in c.source.splitlines()}
    secret = labs.solution_lines(solution)
    assert secret and not secret & lines, sorted(secret & lines)[:5]
    assert not any("BEGIN SOLUTION" in c.source or "HIDDEN TESTS" in c.source for c in release.cells)
    graded = [c.metadata["nbgrader"]["grade_id"] for c in release.cells if c.metadata["nbgrader"]["grade"]]
    assert graded == [r.grade_id for r in labs.cell_roles(solution) if r.kind in ("check", "answer")]


def test_nbgrader_validate_passes_the_solution_and_fails_every_stubbed_exercise(tmp_path):
    solution = jupytext.read(FASTEST)
    nbformat.write(labs.make_source(solution), tmp_path / "source.ipynb")
    lab = labs.make_lab(solution)
    nbformat.write(lab, tmp_path / "lab.ipynb")
    running = [_nbgrader("validate", name, cwd=tmp_path) for name in ("source.ipynb", "lab.ipynb")]  # at once
    (_, passed, _), (_, failed, _) = [_finish(p) for p in running]
    assert "Success! Your notebook passes all the tests." in passed, passed[-3000:]
    reported = failed.count("The following cell failed:")
    checks = [c for c in lab.cells if c.metadata["nbgrader"]["grade_id"].startswith("check-")]
    assert checks and reported == len(checks), failed[-3000:]
    for cell in checks:
        assert f"    {cell.source.strip()}\n" in failed, f"not reported as failing: {cell.source}"
