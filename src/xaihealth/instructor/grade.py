"""``make grade``: batch autograding of one lab with nbgrader, AST flags, gradebook, feedback, marking sheet.

    python -m xaihealth.instructor.grade --lab 03 --submissions DIR_OR_ZIP [--out grading/03] [--jobs 2]
        [--cell-timeout 60] [--notebook-timeout 600]
    python -m xaihealth.instructor.grade --lab 03 --bench 100 [--jobs 2]   # -> benchmarks/grading.md

Steps: find ``solutions/NN_*_lab.py``; build (or reuse) its grading kit, the package without the
references that the kernels import (:mod:`.kit`); build the nbgrader course directory from ``make_source``
of it and run ``nbgrader generate_assignment`` once (:mod:`.autograde`); collect the submissions
(:mod:`.submissions`); autograde each in its own copy of the course and of the kit, ``--jobs`` at a time;
a submission that changed its kit copy, the cached master kit or its gradebook (a trigger or view, or a
score that differs from its check cells' outputs, which are what is graded), or whose check cell reported
the integrity check's tampering, is flagged as tampering; read each
submission's own cells with the AST rules (:mod:`.flags`): a flagged exercise scores 0, its raw points
stay in the CSV; write ``grades.csv``, ``feedback/<student>.html`` and ``marking.md`` (:mod:`.report`).
A submission that crashes (the crashing cell is replaced by a ``raise`` and graded again), loops, copies,
edits or deletes cells (normalised first, :func:`.autograde.normalise`) or does not parse scores what it
earned; one killed at the notebook timeout scores 0 with the status ``timed out``. Huge outputs are cut in
the feedback. Nothing a submission does stops the batch.
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jupytext
import nbformat

from xaihealth.instructor import autograde as ag
from xaihealth.instructor.flags import Cell, exercise_key, flag_cells, lab_key
from xaihealth.instructor.kit import CACHE, build_kit
from xaihealth.instructor.report import Row, write_csv, write_feedback, write_marking_sheet
from xaihealth.instructor.submissions import collect
from xaihealth.tooling.labs import cell_roles, make_source, rubrics

REPO = Path(__file__).resolve().parents[3]
_EXERCISE = re.compile(r"^#+\s*Exercise\s+(\w+)", re.M)
_MASTER = threading.Lock()  # one check of the cached kit at a time


def solution_path(lab: str, solutions: Path = REPO / "solutions") -> Path:
    """``solutions/NN_topic_lab.py`` for ``lab`` ("03", "3", "05b"); ValueError listing the labs if none."""
    key = lab_key(lab)
    found = sorted(solutions.glob(f"{key}_*_lab.py"))
    if len(found) != 1:
        known = sorted(p.name.split("_")[0] for p in solutions.glob("[0-9]*_lab.py"))
        raise ValueError(f"lab={lab!r}: no solution solutions/{key}_*_lab.py; the labs are "
                         + ", ".join(known))
    return found[0]


class Lab:
    """What grading needs to know about one lab's source notebook."""

    def __init__(self, lab: str, solution: nbformat.NotebookNode, name: str) -> None:
        self.key, self.name = lab_key(lab), name
        self.solution = solution
        self.roles = {role.grade_id: role for role in cell_roles(solution)}
        self.rubrics = rubrics(solution)
        self.checks = [r for r in self.roles.values() if r.kind == "check" and (r.points or 0) > 0]
        self.exercises = list(dict.fromkeys(exercise_key(r.grade_id) for r in self.checks))
        self.names = {exercise_key(r.grade_id): r.exercise for r in self.roles.values() if r.exercise}
        self.names.update({g: r.exercise for g, r in self.roles.items() if r.kind == "answer"})
        source = make_source(solution)
        self.checkers, self.functions = self.check_exercises(source), self.exercise_names(source)

    def source_cells(self, source: nbformat.NotebookNode) -> dict[str, nbformat.NotebookNode]:
        return {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells if "nbgrader" in c.metadata}

    def check_exercises(self, source: nbformat.NotebookNode) -> dict[str, str]:
        """Each checker name -> the exercise whose check cell calls it."""
        out = {}
        for grade_id, cell in self.source_cells(source).items():
            if grade_id.startswith("check-"):
                for name in re.findall(r"\b(check_\w+)\(", cell.source):
                    out[name] = exercise_key(grade_id)
        return out

    def exercise_names(self, source: nbformat.NotebookNode) -> dict[str, str]:
        """Each function or class a solution cell defines -> its exercise."""
        out = {}
        for grade_id, cell in self.source_cells(source).items():
            if grade_id.startswith("ex"):
                try:
                    tree = ast.parse(cell.source)
                except SyntaxError:
                    continue
                for node in tree.body:
                    if isinstance(node, ast.FunctionDef | ast.ClassDef):
                        out[node.name] = exercise_key(grade_id)
        return out


def cells_for_flags(
    submitted: nbformat.NotebookNode, source: nbformat.NotebookNode
) -> tuple[list[Cell], list[str]]:
    """The submission's code cells for the AST rules, and notes on deleted cells.

    A cell carrying a locked cell's grade_id is read as the instructor's version (nbgrader restores it);
    every other code cell (solution cells, cells the student added) is the student's, attributed to the
    exercise whose heading is above it.
    """
    locked = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells
              if c.metadata.get("nbgrader", {}).get("locked")}
    cells, exercise, seen = [], None, set()
    for cell in submitted.cells:
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id")
        original = locked.get(grade_id)
        seen.add(grade_id)
        text = (original or cell).source
        if (original or cell).cell_type == "markdown":
            match = _EXERCISE.search(text)
            exercise = match.group(1) if match else exercise
            continue
        if (original or cell).cell_type == "code":
            cells.append(Cell(text, original is None, exercise))
    missing = [g for g, c in locked.items() if g not in seen and c.cell_type == "code"]
    notes = [f"deleted cell {g}" + (" (a check cell: nbgrader put it back)" if g.startswith("check-") else "")
             for g in missing]
    return cells, notes


def make_row(lab: Lab, outcome: ag.Outcome, flags: Mapping[str, list[str]], notes: list[str],
             submitted: nbformat.NotebookNode | None) -> Row:
    """One student's row: autograde points per exercise, zeroed where a flag applies."""
    raw: dict[str, float] = {}
    max_points: dict[str, float] = {}
    hints: dict[str, list[str]] = {}
    for role in lab.checks:
        exercise = exercise_key(role.grade_id)
        raw[exercise] = raw.get(exercise, 0.0) + float(outcome.scores.get(role.grade_id) or 0.0)
        max_points[exercise] = max_points.get(exercise, 0.0) + float(role.points or 0)
        if role.grade_id in outcome.hints:
            hint = outcome.hints[role.grade_id]
            hint = hint.removeprefix(f"{role.exercise}: ") if role.exercise else hint
            hints.setdefault(exercise, []).append(hint)
    failed = [] if outcome.status == "graded" else [outcome.status]  # timed out, kernel died, unreadable
    flagged = {e: list(flags.get(e, [])) + list(flags.get("*", [])) + failed for e in lab.exercises}
    points = {e: (0.0 if flagged[e] else raw.get(e, 0.0)) for e in lab.exercises}
    answers = {}
    for cell in (submitted.cells if submitted else []):
        grade_id = cell.get("metadata", {}).get("nbgrader", {}).get("grade_id", "")
        if grade_id in lab.rubrics:
            answers[grade_id] = cell.source
    syntax = [f"cell does not parse: {t}" for t in flags.get("syntax", [])]
    review = [f"for review (no points taken): {t}" for t in flags.get("review", [])]
    return Row(
        student=outcome.student, status=outcome.status, points=points, raw=raw, max_points=max_points,
        flags={e: t for e, t in flagged.items() if t}, notes=notes + syntax + review,
        hints={e: " | ".join(h) for e, h in hints.items()}, answers=answers,
        written_max=float(sum(r.total for r in lab.rubrics.values())),
    )


def grade_one(lab: Lab, course: ag.Course, student: str, path: Path, work: Path, *, cell_timeout: int,
              notebook_timeout: float) -> tuple[Row, ag.Outcome]:
    """Autograde and flag one submission; never raises for anything the submission contains."""
    submitted = ag.read_notebook(path) if path.is_file() else None
    if submitted is None:
        status = "no notebook in the folder" if path.is_dir() else "unreadable notebook (not .ipynb JSON)"
        outcome = ag.Outcome(student, status)
        return make_row(lab, outcome, {}, [], None), outcome
    submitted, changes = ag.normalise(submitted, course.source)  # copied or edited nbgrader cells
    outcome = ag.autograde(course, student, submitted, work, cell_timeout=cell_timeout,
                           notebook_timeout=notebook_timeout)
    cells, deleted = cells_for_flags(submitted, course.source)
    notes = changes + deleted + outcome.notes
    flags = flag_cells(cells, lab.key, lab.checkers, lab.functions)
    with _MASTER:  # checked after each submission; with --jobs > 1 the one running alongside may be the cause
        master = course.kit.restore() if course.kit else []
    found = [f"tampering: {t}" for t in outcome.tampering]
    if outcome.kit_changes:
        found.append("tampering: changed the grading kit (" + ", ".join(outcome.kit_changes[:3]) + ")")
    if master:
        found.append("tampering: the cached grading kit changed during this submission ("
                     + ", ".join(master[:3]) + "; rewritten)")  # fmt: skip
    if found:
        flags = {**flags, "*": [*flags.get("*", []), *found]}
    return make_row(lab, outcome, flags, notes, submitted), outcome


def grade_lab(lab: str, submissions: Path, out: Path, *, jobs: int = 2, cell_timeout: int = 60,
              notebook_timeout: float = 600, solutions: Path = REPO / "solutions",
              progress: bool = True, kit_cache: Path = CACHE, sandbox: str = "auto") -> list[Row]:
    """Grade every submission of ``lab`` found in ``submissions``; write the outputs under ``out``.

    ``sandbox``: ``"auto"`` runs the judge's worker in bubblewrap where it works, ``"require"`` refuses to
    grade without it, ``"none"`` never uses it (the worker can then read this machine's files)."""
    if not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs={jobs!r} must be an integer >= 1")
    if sandbox not in ("auto", "require", "none"):
        raise ValueError(f"sandbox={sandbox!r} must be 'auto', 'require' or 'none'")
    from xaihealth.instructor.judge import sandbox_available

    boxed = sandbox != "none" and sandbox_available()
    if sandbox == "require" and not boxed:
        raise ValueError("sandbox='require' but bubblewrap cannot start here (apt-get install bubblewrap; "
                         "user namespaces must be allowed)")  # fmt: skip
    for name, value in (("cell_timeout", cell_timeout), ("notebook_timeout", notebook_timeout)):
        if not isinstance(value, int | float) or value <= 0:
            raise ValueError(f"{name}={value!r} must be a positive number of seconds")
    solution_py = solution_path(lab, solutions)
    out = Path(out).resolve()  # nbgrader's course root must be absolute
    out.mkdir(parents=True, exist_ok=True)
    found = collect(Path(submissions), solution_py.stem, out / "unzipped")
    info = Lab(lab, jupytext.read(solution_py), solution_py.stem)
    course = ag.build_course(info.solution, solution_py.stem, info.key, out / "course")
    course.kit = build_kit(solution_py, kit_cache, progress=print if progress else lambda _: None)
    course.sandbox = boxed
    (out / "feedback").mkdir(exist_ok=True)

    def one(item: tuple[str, Path]) -> Row:
        student, path = item
        try:
            row, outcome = grade_one(info, course, student, path, out / "work" / student,
                                     cell_timeout=cell_timeout, notebook_timeout=notebook_timeout)
        except Exception as err:  # a bug of ours on one submission must not stop the batch
            outcome = ag.Outcome(student, f"error: grading failed ({type(err).__name__}: {err})"[:300])
            row = make_row(info, outcome, {}, [], None)
        row.seconds = outcome.seconds
        page = out / "feedback" / f"{student}.html"
        write_feedback(row, info.exercises, info.names, outcome.feedback_html, page)
        if progress:
            print(f"{student}: {row.total:g}/{row.maximum:g} {row.status} ({outcome.seconds:.1f} s)"
                  + (" flagged" if row.flags else ""), flush=True)
        return row

    with ThreadPoolExecutor(max_workers=jobs) as pool:
        rows = list(pool.map(one, sorted(found.items())))
    write_csv(rows, info.exercises, out / "grades.csv")
    write_marking_sheet(rows, info.rubrics, info.names, out / "marking.md")
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lab", required=True, help="lab number, e.g. 03 or 05b")
    parser.add_argument("--submissions", type=Path, help="folder or .zip of the students' notebooks")
    parser.add_argument("--out", type=Path, help="output folder (default grading/<lab>)")
    parser.add_argument("--jobs", type=int, default=2, help="submissions graded in parallel (default 2)")
    parser.add_argument("--cell-timeout", type=int, default=60, help="seconds per cell (default 60)")
    parser.add_argument("--notebook-timeout", type=float, default=600,
                        help="seconds per notebook before it is killed (default 600)")
    parser.add_argument("--sandbox", choices=("auto", "require", "none"), default="auto",
                        help="run the judge's worker in bubblewrap: where it works (auto, the default), "
                             "always (require) or never (none)")
    parser.add_argument("--bench", type=int, metavar="N", help="time N synthetic submissions instead")
    args = parser.parse_args(argv)
    try:
        if args.bench:
            from xaihealth.instructor.bench import bench

            bench(args.lab, args.bench, jobs=args.jobs)
            return 0
        if args.submissions is None:
            parser.error("--submissions is required (or --bench N)")
        out = args.out or Path("grading") / lab_key(args.lab)
        rows = grade_lab(args.lab, args.submissions, out, jobs=args.jobs, cell_timeout=args.cell_timeout,
                         notebook_timeout=args.notebook_timeout, sandbox=args.sandbox)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"graded {len(rows)} submissions -> {out}/grades.csv, {out}/feedback/, {out}/marking.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
