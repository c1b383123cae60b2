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

Before grading, :func:`normalise` turns copied or edited nbgrader cells into plain student cells (nbgrader
refuses a notebook with a duplicated or unknown grade_id). A kernel crash (``os._exit``, a segfault) is
traced to the cell that was running (an IPython startup file records each cell before it runs) and that
cell is replaced by ``raise RuntimeError(...)`` for one more run, so the submission scores what the other
cells earned. Outputs are cut (:func:`cap_outputs`) before ``generate_feedback``.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nbformat
import psutil

from xaihealth.checks._reference import ENV
from xaihealth.data.paths import datasets_dir
from xaihealth.instructor.hidden import HIDDEN_ENV
from xaihealth.instructor.integrity import TAMPERING
from xaihealth.instructor.kit import Kit
from xaihealth.instructor.report import truncate

ASSIGNMENT_PREFIX = "lab"
_WARNING = r"\b\w*Warning: "
OUTPUT_LIMIT, NOTEBOOK_LIMIT = 20_000, 200_000  # characters of one output, of all outputs of a notebook
CRASHED = 'raise RuntimeError("this cell stopped the kernel")'
RUNNING = "kernel-state/running_cell.txt"  # in a submission's work folder: the cell being run
JUDGE_SOURCE = "judge-source.ipynb"  # in the course folder: make_source, hidden tests kept (for the judge)
_STARTUP = """# written by make grade: the source of each cell before it runs (a crash is traced to it)
def _xaihealth_running(info, _path={path!r}):
    with open(_path, "w", encoding="utf-8") as f:
        f.write(info.raw_cell or "")


get_ipython().events.register("pre_run_cell", _xaihealth_running)
del _xaihealth_running
"""


@dataclass
class Course:
    """A built nbgrader course directory for one lab."""

    root: Path
    assignment: str  # nbgrader's assignment id, e.g. "lab03"
    notebook: str  # the notebook's stem, e.g. "03_shap_lime_lab"
    source: nbformat.NotebookNode  # make_source(solution): the instructor's notebook, hidden tests kept
    kit: Kit | None = None  # what the kernels import (xaihealth.instructor.kit); None: the repository
    sandbox: bool = False  # run the judge's worker in bubblewrap (xaihealth.instructor.judge)


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
    tampering: list[str] = field(default_factory=list)  # seen at run time: gradebook changed, integrity check
    notes: list[str] = field(default_factory=list)  # what grading changed (crash retried, outputs cut)
    judged: dict[str, bool] = field(default_factory=dict)  # grade_id -> passed in the judge (hidden too)


def nbgrader_env(kit: Path | None = None, ipython_dir: Path | None = None) -> dict[str, str]:
    """The environment of every nbgrader run: this venv first on PATH (nbgrader calls ``alembic`` and the
    kernel spec calls ``python`` by name), offline, one thread per kernel, no fresh seed, the references'
    default sources. With ``kit`` (a grading kit's ``src``): that folder first on ``PYTHONPATH``, which
    Python searches before the editable install's ``.pth`` entry, so the kernel imports the kit's package
    (no ``xaihealth.instructor.references``), with the repository's ``datasets/``. ``ipython_dir``: the
    kernels' ``IPYTHONDIR`` (its startup file records the running cell)."""
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
    if ipython_dir is not None:
        env["IPYTHONDIR"] = str(ipython_dir)
    return env


def _nbgrader(*args: str, cwd: Path, timeout: float | None = None, kit: Path | None = None,
              ipython_dir: Path | None = None, jupyter_dir: Path | None = None,
              ) -> tuple[int | None, str]:  # fmt: skip
    """Run the nbgrader CLI in ``cwd`` (its kernels import ``kit``, see :func:`nbgrader_env`); kill it and
    every process under it (the kernel) at ``timeout``.

    Returns (exit code or None when killed, its combined output).
    """
    nbgrader = Path(sys.executable).parent / "nbgrader"
    log = cwd / "nbgrader.log"
    with open(log, "w", encoding="utf-8") as out:
        env = nbgrader_env(kit, ipython_dir)
        if jupyter_dir is not None:  # the sandboxed kernel's spec (kernel_spec) and its connection files
            env.update(JUPYTER_PATH=str(jupyter_dir), JUPYTER_RUNTIME_DIR=str(jupyter_dir / "runtime"))
        process = subprocess.Popen([str(nbgrader), *args], cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                                   env=env, start_new_session=True)
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


def kernel_spec(work: Path, kit: Path, hide: list[Path], ipc: Path) -> Path:
    """Write a ``python3`` kernel spec under ``work/jupyter`` whose kernel runs in bubblewrap
    (:func:`.judge.sandbox_command`): the whole file system read-only, the repository, the home folder, the
    course and every submission's folder hidden; only the kernel's own folders (``submitted/`` and
    ``autograded/``, where the notebook runs, ``kernel-state/``, ``ipython/`` and the connection files)
    writable, and ``ipc``, the folder of the unix sockets it talks over (it has no network, not even the
    host's loopback). Interrupts go as messages (a signal would not cross the sandbox). Returns the
    ``jupyter`` folder (``JUPYTER_PATH``)."""
    from xaihealth.instructor.judge import sandbox_command

    jupyter = work / "jupyter"
    spec = jupyter / "kernels" / "python3"
    spec.mkdir(parents=True, exist_ok=True)
    (jupyter / "runtime").mkdir(exist_ok=True)
    for folder in ("autograded", "submitted", "kernel-state", "ipython"):
        (work / folder).mkdir(exist_ok=True)
    argv = sandbox_command([sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"], kit, hide,
                           writable=(work / "ipython", work / "autograded", work / "submitted",
                                     work / "kernel-state", jupyter / "runtime", ipc), kernel=True,
                           chdir=None)  # fmt: skip
    # (IPython falls back to a temporary folder, without our startup file, if IPYTHONDIR is read-only)
    at = argv.index("--")  # the connection file jupyter_client writes (in /tmp, which the sandbox empties)
    argv[at:at] = ["--ro-bind", "{connection_file}", "{connection_file}"]
    (spec / "kernel.json").write_text(json.dumps({"argv": argv, "display_name": "Python 3 (sandboxed)",
                                                  "language": "python", "interrupt_mode": "message"}))
    return jupyter


def _config(root: Path, cell_timeout: int, add_missing_cells: bool = True, ipc: Path | None = None) -> str:
    # the sandboxed kernel has no network: it talks to nbgrader over unix sockets in ``ipc``
    sockets = [] if ipc is None else ["c.KernelManager.transport = 'ipc'",
                                      f"c.KernelManager.ip = {str(ipc / 'k')!r}"]  # fmt: skip
    return "\n".join([
        "c = get_config()",
        *sockets,
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
    from xaihealth.tooling.labs import make_source, strip_hidden_tests

    assignment = f"{ASSIGNMENT_PREFIX}{lab}"
    if root.exists():
        shutil.rmtree(root)
    (root / "source" / assignment).mkdir(parents=True)
    source = make_source(solution)
    nbformat.write(source, root / JUDGE_SOURCE)  # the judge's copy, hidden tests kept
    kernel_source = copy.deepcopy(source)  # nbgrader's: the hidden tests run only in the judge
    for i, cell in enumerate(kernel_source.cells):
        if cell.cell_type == "code":
            cell.source = strip_hidden_tests(cell.source, f"{name}, cell {i + 1}")
    nbformat.write(kernel_source, root / "source" / assignment / f"{name}.ipynb")
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


def gradebook_objects(db: Path) -> list[str]:
    """The triggers and views of a gradebook (nbgrader creates none: any is the kernel's doing)."""
    import sqlite3

    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        rows = conn.execute("SELECT type, name FROM sqlite_master WHERE type IN ('trigger', 'view')")
        return [f"{kind} {name}" for kind, name in rows.fetchall()]


def recomputed_scores(nb: nbformat.NotebookNode) -> dict[str, float | None]:
    """Each graded code cell's score recomputed from its outputs in the autograded notebook, with
    nbgrader's own rule (:func:`nbgrader.utils.determine_grade`: an error or stderr output scores 0)."""
    from nbgrader.utils import determine_grade, is_grade, is_solution

    return {cell.metadata["nbgrader"]["grade_id"]: determine_grade(cell)[0] for cell in nb.cells
            if cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)}  # fmt: skip


def _cell_text(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        parts += [str(output.get("evalue", "")), str(output.get("text", ""))]
        parts += [str(v) for k, v in output.get("data", {}).items() if k.startswith("text/")]
    return "\n".join(parts)


def run_time_tampering(db: Path, nb: nbformat.NotebookNode, scores: Mapping[str, float | None]
                       ) -> list[str]:  # fmt: skip
    """What grading saw at run time that is tampering (review R15b B1', m1'): a trigger or view in the
    gradebook, a gradebook score that differs from the check cell's outputs, a check cell that printed
    :data:`xaihealth.instructor.integrity.TAMPERING`."""
    found = [f"the gradebook holds a {o} (made by the notebook)" for o in gradebook_objects(db)]
    recomputed = recomputed_scores(nb)
    differ = sorted(g for g, s in recomputed.items() if float(scores.get(g) or 0) != float(s or 0))
    if differ:
        found.append(f"the gradebook's scores differ from the check cells' outputs ({', '.join(differ)})")
    caught = sorted(c.metadata["nbgrader"]["grade_id"] for c in nb.cells
                    if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")
                    and TAMPERING in _cell_text(c))  # fmt: skip
    if caught:
        found.append("the integrity check caught a modified checker (" + ", ".join(caught) + ")")
    return found


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


def normalise(submitted: nbformat.NotebookNode, source: nbformat.NotebookNode
              ) -> tuple[nbformat.NotebookNode, list[str]]:  # fmt: skip
    """The submission with innocent notebook edits undone, and a note per change (review M2).

    A cell whose grade_id repeats an earlier cell's (a copy made in JupyterLab keeps the metadata), or is
    not one of the lab's (edited, or missing), loses its nbgrader metadata and becomes a plain student cell;
    nbgrader's ``add_missing_cells`` then puts back the lab's cells that are missing.
    """
    known = {c.metadata["nbgrader"]["grade_id"] for c in source.cells if "nbgrader" in c.metadata}
    out, notes, seen = copy.deepcopy(submitted), [], set()
    for number, cell in enumerate(out.cells, 1):
        meta = cell.get("metadata", {}).get("nbgrader")
        if meta is None:
            continue
        grade_id = meta.get("grade_id") if isinstance(meta, dict) else None
        if grade_id in seen:
            notes.append(f"cell {number} repeats grade_id {grade_id} (a copied cell): graded as a plain cell")
        elif grade_id not in known:
            notes.append(f"cell {number} has grade_id {grade_id!r}, not one of the lab's (edited?): graded "
                         "as a plain cell; the lab's cell is put back if missing")  # fmt: skip
        else:
            seen.add(grade_id)
            continue
        del cell.metadata["nbgrader"]
    return out, notes


def cap_outputs(nb: nbformat.NotebookNode, per_output: int = OUTPUT_LIMIT,
                per_notebook: int = NOTEBOOK_LIMIT) -> int:  # fmt: skip
    """Cut, in place, every text output (stream, ``text/*``, tracebacks) to ``per_output`` characters and
    all of them together to ``per_notebook``, each cut saying so; an HTML output too long is replaced by a
    note (cut HTML would break the page). Returns how many outputs were cut."""
    budget, cut = per_notebook, 0
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            if output.get("output_type") == "stream":
                fields = [(output, "text")]
            elif output.get("output_type") == "error":
                output["evalue"] = truncate(str(output.get("evalue", "")), per_output)
                output["traceback"] = [truncate("\n".join(output.get("traceback", [])), per_output)]
                fields = []
            else:
                data = output.get("data", {})
                fields = [(data, key) for key in list(data) if key.startswith("text/")]
            for holder, key in fields:
                text = holder[key] if isinstance(holder[key], str) else "".join(holder[key])
                limit = max(0, min(per_output, budget))
                budget -= min(len(text), limit)
                if len(text) <= limit:
                    continue
                cut += 1
                holder[key] = (f"<pre>[output truncated: {len(text)} characters of HTML]</pre>"
                               if key == "text/html" else truncate(text, limit))  # fmt: skip
    return cut


def _crashed_cell(nb: nbformat.NotebookNode, running: str) -> int | None:
    """The index of the student's code cell whose source is ``running`` (None: a locked cell, or none)."""
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and cell.source == running and not (
                cell.metadata.get("nbgrader", {}).get("locked")):  # fmt: skip
            return i
    return None


def autograde(course: Course, student: str, notebook: Path | nbformat.NotebookNode, work: Path, *,
              cell_timeout: int = 60, notebook_timeout: float = 600) -> Outcome:
    """Grade one student's notebook (a path, or the notebook itself) with nbgrader in ``work`` (a fresh
    copy of the course and of the kit)."""
    start = time.perf_counter()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copytree(course.root / "source", work / "source")
    submitted = work / "submitted" / student / course.assignment / f"{course.notebook}.ipynb"
    submitted.parent.mkdir(parents=True)
    nb = notebook if isinstance(notebook, nbformat.NotebookNode) else read_notebook(Path(notebook))
    if nb is None:
        shutil.copy(notebook, submitted)
    ipython = work / "ipython"
    (ipython / "profile_default" / "startup").mkdir(parents=True)
    (work / RUNNING).parent.mkdir(parents=True, exist_ok=True)
    (ipython / "profile_default" / "startup" / "00-running-cell.py").write_text(
        _STARTUP.format(path=str(work / RUNNING)), encoding="utf-8")
    kit: Path | None = None

    def run(add_missing: bool) -> tuple[int | None, str]:
        boxed = bool(course.sandbox and kit)
        # unix socket paths are short (108 bytes): a folder of its own under /tmp, not under ``work``
        ipc = Path(tempfile.mkdtemp(prefix="xaihealth-k-")) if boxed else None
        try:
            (work / "nbgrader_config.py").write_text(_config(work, cell_timeout, add_missing, ipc),
                                                     encoding="utf-8")  # fmt: skip
            jupyter = kernel_spec(work, kit, [course.root, work.parent], ipc) if boxed and ipc else None
            return _nbgrader("autograde", course.assignment, "--student", student, "--force", cwd=work,
                             timeout=notebook_timeout, kit=kit, ipython_dir=ipython, jupyter_dir=jupyter)
        finally:
            if ipc is not None:
                shutil.rmtree(ipc, ignore_errors=True)

    def grade(nb: nbformat.NotebookNode | None) -> tuple[int | None, str]:
        nonlocal kit
        shutil.copy(course.root / "gradebook.db", work / "gradebook.db")
        kit = course.kit.write(work / "kit") if course.kit else None  # this submission's own copy
        (work / RUNNING).unlink(missing_ok=True)
        if nb is not None:
            nbformat.write(nb, submitted)
        code, log = run(True)
        if code not in (0, None) and "add_missing_grade_cells" in log:
            # nbgrader puts a deleted check cell back after the cell before it; when that one is gone too
            # it gives up. Grade without restoring: the deleted checks then score 0.
            code, log = run(False)
        return code, log

    code, log = grade(nb)
    notes = []
    if _status(code, log, notebook_timeout) == "kernel died" and nb is not None:
        running = (work / RUNNING).read_text(encoding="utf-8") if (work / RUNNING).is_file() else None
        index = None if running is None else _crashed_cell(nb, running)
        if running is None or index is None:
            notes.append("the kernel died in a check cell (or before any cell ran): not graded again")
        else:
            first = next((line for line in running.splitlines() if line.strip()), "")[:80]
            notes.append(f"cell {index + 1} stopped the kernel ({first!r}): graded again with that cell "
                         f"replaced by {CRASHED}")  # fmt: skip
            nb = copy.deepcopy(nb)
            nb.cells[index].source = CRASHED
            code, log = grade(nb)
    outcome = Outcome(student, _status(code, log, notebook_timeout), log=log, notes=notes)
    if course.kit and kit:
        outcome.kit_changes = course.kit.changed(kit)
    outcome.scores, outcome.max_scores = _read_scores(work / "gradebook.db", course, student)
    autograded = work / "autograded" / student / course.assignment / f"{course.notebook}.ipynb"
    if code == 0 and autograded.exists():
        outcome.autograded = nbformat.read(autograded, as_version=4)
        outcome.tampering = run_time_tampering(work / "gradebook.db", outcome.autograded, outcome.scores)
        outcome.scores.update(recomputed_scores(outcome.autograded))  # the outputs, not the database
        if course.kit is not None:
            _apply_judgement(course, outcome, autograded, work, cell_timeout, notebook_timeout)
        for cell in outcome.autograded.cells:
            meta = cell.metadata.get("nbgrader", {})
            grade_id = meta.get("grade_id")
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                hint = outcome.hints.get(grade_id) or _hint(cell, cell_timeout)
                if hint and (outcome.scores.get(grade_id) or 0) < outcome.max_scores.get(grade_id, 0):
                    outcome.hints[grade_id] = hint
        cut = cap_outputs(outcome.autograded)
        if cut:
            nbformat.write(outcome.autograded, autograded)  # generate_feedback renders this file
            outcome.notes.append(f"{cut} outputs cut to {OUTPUT_LIMIT} characters (at most {NOTEBOOK_LIMIT} "
                                 "in all) in the feedback")  # fmt: skip
        feedback_code, _ = _nbgrader("generate_feedback", course.assignment, "--student", student,
                                     "--force", cwd=work, timeout=300)
        html = work / "feedback" / student / course.assignment / f"{course.notebook}.html"
        if feedback_code == 0 and html.exists():
            outcome.feedback_html = html.read_text(encoding="utf-8")
    outcome.seconds = time.perf_counter() - start
    return outcome


def _apply_judgement(course: Course, outcome: Outcome, autograded: Path, work: Path, cell_timeout: int,
                     notebook_timeout: float) -> None:  # fmt: skip
    """Decide each check cell's score in the judge (:mod:`.judge`): it keeps the kernel's score only if the
    judge passed the cell too, hidden tests included. A failed or missing verdict sets the score to 0 in the
    outcome, in the gradebook (nbgrader's ``manual_score``, which overrides the automatic one) and in the
    feedback (an output added to the cell saying why)."""
    from nbgrader.api import Gradebook, MissingEntry

    from xaihealth.instructor import judge

    src = course.kit.write(work / "worker-kit", stores=False)
    judgement = judge.run(course.root / JUDGE_SOURCE, autograded, src, work, work / "judge.json",
                          cell_timeout=cell_timeout, timeout=notebook_timeout, sandbox=course.sandbox,
                          hide=[course.root, work.parent])  # fmt: skip
    outcome.notes += judgement.notes
    if not course.sandbox:
        outcome.notes.append("judge: no sandbox (bubblewrap unavailable): the worker could read this "
                             "machine's files")  # fmt: skip
    failed: dict[str, str] = {}
    lab = course.assignment.removeprefix(ASSIGNMENT_PREFIX)
    kernel_only = sorted(judge.KERNEL_ONLY.get(lab, set()) & set(outcome.max_scores))
    if kernel_only:
        outcome.notes.append("judged in the kernel only, public tests (the judge cannot run them yet): "
                             + ", ".join(kernel_only))  # fmt: skip
    for grade_id in outcome.max_scores:
        if grade_id not in outcome.scores or grade_id.startswith("answer") or grade_id in kernel_only:
            continue
        verdict = judgement.verdicts.get(grade_id)
        if verdict is None and grade_id not in recomputed_scores(outcome.autograded):
            continue  # a manually graded cell
        outcome.judged[grade_id] = bool(verdict and verdict.passed)
        if not outcome.judged[grade_id]:
            failed[grade_id] = verdict.message if verdict else "the grader could not judge this check"
            if outcome.scores.get(grade_id):
                outcome.hints[grade_id] = f"the grader's own run (hidden tests included): {failed[grade_id]}"
            outcome.scores[grade_id] = 0.0
    if not failed:
        return
    for cell in outcome.autograded.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in failed and cell.cell_type == "code":
            cell.outputs.append(nbformat.v4.new_output(
                "stream", name="stdout", text=f"\u2718 graded outside your notebook (hidden tests included): "
                                              f"{failed[grade_id]}\n"))  # fmt: skip
    nbformat.write(outcome.autograded, autograded)
    with Gradebook(f"sqlite:///{work / 'gradebook.db'}") as gradebook:
        for grade_id in failed:
            try:
                grade = gradebook.find_grade(grade_id, course.notebook, course.assignment, outcome.student)
            except MissingEntry:
                continue
            grade.manual_score = 0.0
        gradebook.db.commit()


def read_notebook(path: Path) -> nbformat.NotebookNode | None:
    """The notebook at ``path``, or None if it is not a readable notebook (bad JSON, not nbformat 4)."""
    try:
        return nbformat.read(path, as_version=4)
    except (OSError, ValueError, json.JSONDecodeError, nbformat.reader.NotJSONError, KeyError, TypeError):
        return None
