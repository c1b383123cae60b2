"""``make bench-grading``: time ``make grade`` on N synthetic submissions of one lab -> benchmarks/grading.md.

The submissions are the student lab (``make_lab``) with every solution cell filled in from the solution
(:func:`solved_lab`), the slowest honest case: every cell runs to the end and every check passes.
"""

from __future__ import annotations

import copy
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import jupytext
import nbformat

from xaihealth.instructor.grade import REPO, grade_lab, solution_path
from xaihealth.tooling.labs import make_lab, make_source


def solved_lab(solution: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """The student lab with each solution cell's source replaced by the solution's (hidden tests left out)."""
    lab, source = make_lab(solution), make_source(solution)
    solved = copy.deepcopy(lab)
    by_id = {c.metadata["nbgrader"]["grade_id"]: c for c in source.cells if "nbgrader" in c.metadata}
    for cell in solved.cells:
        meta = cell.metadata.get("nbgrader", {})
        if meta.get("solution"):
            cell.source = by_id[meta["grade_id"]].source
    return solved


def _load() -> str:
    one, five, fifteen = os.getloadavg()
    return f"load average {one:.2f} / {five:.2f} / {fifteen:.2f} (1 / 5 / 15 min) on {os.cpu_count()} CPUs"


def bench(lab: str, n: int, *, jobs: int = 2, out: Path = REPO / "benchmarks" / "grading.md") -> str:
    """Grade ``n`` solved copies of ``lab`` with ``jobs`` workers; write and return the markdown table."""
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n={n!r} must be a positive number of submissions")
    solution_py = solution_path(lab)
    solved = solved_lab(jupytext.read(solution_py))
    with tempfile.TemporaryDirectory(prefix="xaihealth-bench-") as tmp:
        folder = Path(tmp) / "submissions"
        folder.mkdir()
        for i in range(n):
            nbformat.write(solved, folder / f"student{i:03d}.ipynb")
        load_before = _load()
        start = time.perf_counter()
        rows = grade_lab(lab, folder, Path(tmp) / "out", jobs=jobs, progress=False)
        boxed = not any(note.startswith("judge: no sandbox") for r in rows for note in r.notes)
        wall = time.perf_counter() - start
        load_after = _load()
    times = [r.seconds for r in rows]
    full = sum(1 for r in rows if r.total == r.maximum and not r.flags)
    stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    median = statistics.median(times)
    text = "\n".join([
        "# Grading benchmark (`make bench-grading`)",
        "",
        f"`python -m xaihealth.instructor.grade --lab {lab} --bench {n} --jobs {jobs}`: {n} solved copies of "
        f"`{solution_py.stem}` graded by `make grade` (nbgrader autograde in a fresh kernel per submission, "
        "then the judge: a worker re-runs the student's cells and the judge runs the lab's source with the "
        "hidden tests; AST flags, feedback HTML), on "
        f"{platform.machine()} / Python {platform.python_version()}, {stamp}.",
        "The load average counts every process on the machine: above the number of CPUs, other work shared",
        "them and the times are longer than on a quiet machine.",
        "",
        "| measure | value |",
        "|---|---|",
        f"| submissions | {n} ({full} scored full marks) |",
        f"| workers (`--jobs`) | {jobs} |",
        f"| kernel and worker in bubblewrap (`--sandbox auto`) | {'yes' if boxed else 'no'} |",
        f"| seconds per submission (autograde + judge + feedback, {jobs} running at once), median | "
        f"{median:.1f} |",
        f"| seconds per submission, min / max | {min(times):.1f} / {max(times):.1f} |",
        f"| projected wall time for 100 submissions (`100 × wall / {n}`) | {100 * wall / n / 60:.1f} min |",
        f"| wall time for the batch (course build included) | {wall:.0f} s ({wall / 60:.1f} min) |",
        f"| wall time per submission | {wall / n:.1f} s |",
        f"| machine load before | {load_before} |",
        f"| machine load after | {load_after} |",
        "",
        "**A larger class.** Time grows linearly with the class: about `n × median / jobs` seconds.",
        "Workers are independent processes, each with its own nbgrader gradebook, so `--jobs` can go up",
        "to the number of cores (each kernel runs one thread). Beyond one machine, split the submissions",
        "into folders, run `make grade` on each folder on its own machine (same repository commit), and",
        "concatenate the `grades.csv` files (same header; keep it once) and the `feedback/` folders. With",
        "JupyterHub, nbgrader's exchange (`nbgrader release_assignment`, `collect`, then `zip_collect` or",
        "the formgrader) replaces hand-out and collection; grading stays `make grade` on what was collected.",
        "",
    ])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text, encoding="utf-8")
    print(text)
    return text
