"""Run nbgrader on one lab: build the course directory once, then autograde each submission in isolation.

:func:`build_course` writes an nbgrader course directory whose source notebook is
``xaihealth.tooling.labs.make_source(solution)`` (solutions and hidden tests, with the cell metadata of
``make labs``) and runs ``nbgrader generate_assignment`` once: the gradebook then holds every locked cell,
the hidden tests included.

:func:`autograde` grades one submission in its own copy of that directory (its own ``gradebook.db``), so
workers run in parallel and one bad submission cannot touch another. It runs nbgrader's CLI
(``nbgrader autograde``, then ``nbgrader generate_feedback``), which restores the locked cells
(``OverwriteCells``, with ``add_missing_cells``: a deleted check cell is put back and run), executes the
notebook in a fresh kernel with a per-cell timeout, and scores each check cell (an error or any stderr
output: 0). The whole run is killed, kernel included, after the per-notebook timeout. Python warnings on
stderr are dropped first (nbgrader's ``IgnorePattern``): a warning is not a failed test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil

from xaihealth.checks._reference import ENV
from xaihealth.data.paths import datasets_dir
from xaihealth.instructor.hidden import HIDDEN_ENV
from xaihealth.instructor.kit import Kit

ASSIGNMENT_PREFIX = "lab"
_WARNING = r"\b\w*Warning: "


@dataclass
class Course:
    """A built nbgrader course directory for one lab."""

    root: Path
    assignment: str  # nbgrader's assignment id, e.g. "lab03"
    notebook: str  # the notebook's stem, e.g. "03_shap_lime_lab"
    source: nbformat.NotebookNode  # make_source(solution): the instructor's notebook
    kit: Kit | None = None  # what the kernels import (xaihealth.instructor.kit); None: the repository


@dataclass
class Outcome:
    """What nbgrader made of one submission."""

    student: str
    status: str  # "graded", "timed out", "kernel died", "error: ..."
    scores: dict[str, float | None] = field(default_factory=dict)  # grade_id -> auto score
    max_scores: dict[str, float] = field(default_factory=dict)
    hints: dict[str, str] = field(default_factory=dict)  # grade_id -> why a check cell scored 0
    autograded: nbformat.NotebookNode | None = None
    feedback_html: str | None = None
    seconds: float = 0.0
    log: str = ""
    kit_changes: list[str] = field(default_factory=list)  # files of its kit copy the submission changed


def nbgrader_env(kit: Path | None = None) -> dict[str, str]:
    """The environment of every nbgrader run: this venv first on PATH (nbgrader calls ``alembic`` and the
    kernel spec calls ``python`` by name), offline, one thread per kernel, no fresh seed, the references'
    default sources. With ``kit`` (a grading kit's ``src``): that folder first on ``PYTHONPATH``, which
    Python searches before the editable install's ``.pth`` entry, so the kernel imports the kit's package
    (no ``xaihealth.instructor.references``), with the repository's ``datasets/``."""
    env = dict(os.environ)
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    env.update(XAIHEALTH_OFFLINE="1", HF_HUB_OFFLINE="1", TQDM_DISABLE="1", MPLBACKEND="Agg",
               OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    for name in ("XAIHEALTH_SEED", ENV, HIDDEN_ENV):
        env.pop(name, None)
    if kit is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(kit), *filter(None, [env.get("PYTHONPATH")])])
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.setdefault("XAIHEALTH_DATASETS", str(datasets_dir()))
    return env


def _nbgrader(*args: str, cwd: Path, timeout: float | None = None, kit: Path | None = None
              ) -> tuple[int | None, str]:  # fmt: skip
    """Run the nbgrader CLI in ``cwd`` (its kernels import ``kit``, see :func:`nbgrader_env`); kill it and
    every process under it (the kernel) at ``timeout``.

    Returns (exit code or None when killed, its combined output).
    """
    nbgrader = Path(sys.executable).parent / "nbgrader"
    log = cwd / "nbgrader.log"
    with open(log, "w", encoding="utf-8") as out:
        process = subprocess.Popen([str(nbgrader), *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   env=nbgrader_env(kit), start_new_session=True)
        try:
            code: int | None = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill_tree(process.pid)
            process.wait()
            code = None
    return code, log.read_text(encoding="utf-8", errors="replace")


def _kill_tree(pid: int) -> None:
    """Kill a process and all its descendants (a kernel runs in its own session, out of the group)."""
    try:
        parent = psutil.Process(pid)
        processes = parent.children(recursive=True) + [parent]
    except psutil.NoSuchProcess:
        return
    for process in processes:
        try:
            process.kill()
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(processes, timeout=10)


def _config(root: Path, cell_timeout: int, add_missing_cells: bool = True) -> str:
    return "\n".join([
        "c = get_config()",
        f"c.CourseDirectory.root = {str(root)!r}",
        f"c.Execute.timeout = {int(cell_timeout)}",
        "c.Execute.interrupt_on_timeout = True",
        f"c.OverwriteCells.add_missing_cells = {add_missing_cells}",
        "c.IgnorePattern.enabled = True",
        f"c.IgnorePattern.pattern = {_WARNING!r}",
        "",
    ])


def build_course(solution: nbformat.NotebookNode, name: str, lab: str, root: Path) -> Course:
    """Write the course directory for ``solution`` (a solution notebook named ``name``) and run
    ``nbgrader generate_assignment`` once; raise ``RuntimeError`` with nbgrader's log if it fails."""
    from xaihealth.tooling.labs import make_source

    assignment = f"{ASSIGNMENT_PREFIX}{lab}"
    if root.exists():
        shutil.rmtree(root)
    (root / "source" / assignment).mkdir(parents=True)
    source = make_source(solution)
    nbformat.write(source, root / "source" / assignment / f"{name}.ipynb")
    (root / "nbgrader_config.py").write_text(_config(root, 60), encoding="utf-8")
    code, log = _nbgrader("generate_assignment", assignment, "--force", cwd=root, timeout=300)
    if code != 0:
        raise RuntimeError(f"nbgrader generate_assignment {assignment} failed:\n{log[-3000:]}")
    return Course(root, assignment, name, source)


def _hint(cell: nbformat.NotebookNode, cell_timeout: int) -> str | None:
    """Why a graded code cell scored 0: the check's message (not a traceback), a timeout, or stderr."""
    for output in cell.get("outputs", []):
        if output.output_type == "error":
            if output.ename in ("CellTimeoutError", "KeyboardInterrupt"):
                return f"the cell was stopped after {cell_timeout} s (an endless loop, or far too slow)"
            if output.ename == "CheckFailed":
                return output.evalue
            return f"{output.ename}: {output.evalue}".strip()
    for output in cell.get("outputs", []):
        if output.output_type == "stream" and output.name == "stderr":
            first = next((line for line in output.text.splitlines() if line.strip()), "")
            return f"the cell wrote to stderr, which nbgrader scores 0: {first[:200]}"
    return None


def _read_scores(db: Path, course: Course, student: str) -> tuple[dict, dict]:
    from nbgrader.api import Gradebook, MissingEntry

    scores: dict[str, float | None] = {}
    max_scores: dict[str, float] = {}
    with Gradebook(f"sqlite:///{db}") as gradebook:
        try:
            notebook = gradebook.find_submission_notebook(course.notebook, course.assignment, student)
        except MissingEntry:
            return scores, max_scores
        for grade in notebook.grades:
            scores[grade.name] = grade.auto_score
            max_scores[grade.name] = float(grade.max_score)
    return scores, max_scores


def _status(code: int | None, log: str, notebook_timeout: float) -> str:
    if code is None:
        return f"timed out (killed after {notebook_timeout:g} s)"
    if code == 0:
        return "graded"
    if "DeadKernelError" in log or "Kernel died" in log:
        return "kernel died"
    if "CellTimeoutError" in log:
        return "timed out (the kernel did not respond after a cell timeout)"
    lines = [line.strip() for line in log.splitlines() if re.search(r"Error\b|Exception\b", line)]
    return "error: " + (lines[-1][:200] if lines else f"nbgrader exited with {code}")


def autograde(course: Course, student: str, notebook: Path, work: Path, *, cell_timeout: int = 60,
              notebook_timeout: float = 600) -> Outcome:
    """Grade one student's notebook with nbgrader in ``work`` (a fresh copy of the course)."""
    start = time.perf_counter()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copy(course.root / "gradebook.db", work / "gradebook.db")
    shutil.copytree(course.root / "source", work / "source")
    submitted = work / "submitted" / student / course.assignment
    submitted.mkdir(parents=True)
    shutil.copy(notebook, submitted / f"{course.notebook}.ipynb")
    kit = course.kit.write(work / "kit") if course.kit else None  # this submission's own copy

    def run(add_missing: bool) -> tuple[int | None, str]:
        (work / "nbgrader_config.py").write_text(_config(work, cell_timeout, add_missing), encoding="utf-8")
        return _nbgrader("autograde", course.assignment, "--student", student, "--force", cwd=work,
                         timeout=notebook_timeout, kit=kit)

    code, log = run(True)
    if code not in (0, None) and "add_missing_grade_cells" in log:
        # nbgrader puts a deleted check cell back after the cell before it; when that one is gone too
        # it gives up. Grade without restoring: the deleted checks then score 0.
        code, log = run(False)
    outcome = Outcome(student, _status(code, log, notebook_timeout), log=log)
    if course.kit and kit:
        outcome.kit_changes = course.kit.changed(kit)
    outcome.scores, outcome.max_scores = _read_scores(work / "gradebook.db", course, student)
    autograded = work / "autograded" / student / course.assignment / f"{course.notebook}.ipynb"
    if code == 0 and autograded.exists():
        outcome.autograded = nbformat.read(autograded, as_version=4)
        for cell in outcome.autograded.cells:
            meta = cell.metadata.get("nbgrader", {})
            grade_id = meta.get("grade_id")
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                hint = _hint(cell, cell_timeout)
                if hint and (outcome.scores.get(grade_id) or 0) < outcome.max_scores.get(grade_id, 0):
                    outcome.hints[grade_id] = hint
        feedback_code, _ = _nbgrader("generate_feedback", course.assignment, "--student", student,
                                     "--force", cwd=work, timeout=300)
        html = work / "feedback" / student / course.assignment / f"{course.notebook}.html"
        if feedback_code == 0 and html.exists():
            outcome.feedback_html = html.read_text(encoding="utf-8")
    outcome.seconds = time.perf_counter() - start
    return outcome


def read_notebook(path: Path) -> nbformat.NotebookNode | None:
    """The notebook at ``path``, or None if it is not a readable notebook (bad JSON, not nbformat 4)."""
    try:
        return nbformat.read(path, as_version=4)
    except (OSError, ValueError, json.JSONDecodeError, nbformat.reader.NotJSONError, KeyError, TypeError):
        return None
