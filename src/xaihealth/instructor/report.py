"""What ``make grade`` writes: ``grades.csv``, one feedback HTML per student, the marking sheet.

- ``grades.csv``: one row per student: points per exercise (0 where a flag applies), ``total`` and
  ``max`` of the autograded checks, the raw autograde points per exercise (``raw_<N>``, before flags),
  ``flags``, ``notes`` (deleted cells nbgrader put back, cells that do not parse), ``status`` and the
  points of the written answers still to mark (``written_max``).
- ``feedback/<student>.html``: nbgrader's feedback page with a summary on top: points per exercise, the
  hint of each failed check (the checker's message, not a traceback) and the flags.
- ``marking.md``: per written question and student, the answer, the rubric items with blank points to
  fill, and the model answer, and the student's own printed numbers the rubric asks to check against: the
  text outputs (stream, ``text/plain``; each cut to :data:`OUTPUT_CHARS`) of the code cells of the
  autograded notebook from the exercise before the question to the answer (:func:`answer_context`).
"""

from __future__ import annotations

import csv
import html
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

OUTPUT_CHARS = 2000  # of one cell's text outputs on the marking sheet
_EXERCISE = re.compile(r"^#{1,3}\s*Exercise\s+\w+", re.M)


@dataclass
class Row:
    """One student's grades."""

    student: str
    status: str
    points: dict[str, float]  # exercise -> points after flags
    raw: dict[str, float]  # exercise -> autograde points
    max_points: dict[str, float]
    flags: dict[str, list[str]] = field(default_factory=dict)  # exercise -> flag texts
    notes: list[str] = field(default_factory=list)
    hints: dict[str, str] = field(default_factory=dict)  # exercise -> hints of its failed checks
    answers: dict[str, str] = field(default_factory=dict)  # answer grade_id -> the student's cell
    written_max: float = 0.0
    seconds: float = 0.0  # how long nbgrader took on it

    @property
    def total(self) -> float:
        return sum(self.points.values())

    @property
    def maximum(self) -> float:
        return sum(self.max_points.values())


def _flag_text(row: Row) -> str:
    return "; ".join(f"Exercise {ex}: {text}" for ex, texts in sorted(row.flags.items()) for text in texts)


def write_csv(rows: list[Row], exercises: list[str], path: Path) -> None:
    """``grades.csv``: one row per student (see the module docstring for the columns)."""
    columns = (["student", "status"] + [f"ex{e}" for e in exercises] + ["total", "max"]
               + [f"raw_ex{e}" for e in exercises] + ["raw_total", "flags", "notes", "written_max"])
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(columns)
        for row in rows:
            writer.writerow(
                [row.student, row.status] + [f"{row.points.get(e, 0):g}" for e in exercises]
                + [f"{row.total:g}", f"{row.maximum:g}"] + [f"{row.raw.get(e, 0):g}" for e in exercises]
                + [f"{sum(row.raw.values()):g}", _flag_text(row), "; ".join(row.notes)]
                + [f"{row.written_max:g}"]
            )


def summary_html(row: Row, exercises: list[str], names: Mapping[str, str]) -> str:
    """The summary block put on top of a student's feedback page."""
    lines = [f"<h2>Lab results: {html.escape(row.student)}</h2>",
             f"<p><b>{row.total:g} / {row.maximum:g}</b> points from the checks ({html.escape(row.status)}); "
             f"the written answers ({row.written_max:g} points) are marked by hand.</p>",
             "<table><tr><th>exercise</th><th>points</th><th>what to look at</th></tr>"]
    for exercise in exercises:
        notes = [html.escape(t) for t in row.flags.get(exercise, []) + row.flags.get("*", [])]
        if exercise in row.hints:
            notes.append(html.escape(row.hints[exercise]))
        lines.append(f"<tr><td>{html.escape(names.get(exercise, 'Exercise ' + exercise))}</td>"
                     f"<td>{row.points.get(exercise, 0):g} / {row.max_points.get(exercise, 0):g}</td>"
                     f"<td>{'<br>'.join(notes) or 'passed'}</td></tr>")
    lines.append("</table>")
    lines += [f"<p>{html.escape(note)}</p>" for note in row.notes]
    return '<div class="xaihealth-summary" style="margin:1em;padding:1em;border:2px solid #888">' + (
        "\n".join(lines) + "</div>")


def write_feedback(row: Row, exercises: list[str], names: Mapping[str, str], page: str | None,
                   path: Path) -> None:
    """The student's feedback page: nbgrader's (when it produced one) with the summary inserted on top."""
    summary = summary_html(row, exercises, names)
    if page and "<body" in page:
        start = page.index(">", page.index("<body")) + 1
        text = page[:start] + summary + page[start:]
    else:
        text = f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{summary}</body></html>"
    path.write_text(text, encoding="utf-8")


ANSWER_CHARS = 20_000  # of one written answer on the marking sheet


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, saying how many were cut."""
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n[output truncated: {len(text) - limit} characters]"


def text_output(cell: Mapping, limit: int = OUTPUT_CHARS) -> str:
    """What a code cell printed: its stream texts and ``text/plain`` results, cut to ``limit`` characters."""
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output.get("text", ""))
        elif output.get("output_type") in ("execute_result", "display_data"):
            text = output.get("data", {}).get("text/plain", "")
            parts.append(("".join(text) if isinstance(text, list) else text) + "\n")
    text = "".join(parts).rstrip()
    return truncate(text, limit)


def answer_context(notebook: Mapping, grade_id: str) -> list[tuple[int, str]]:
    """(cell number, printed text) of the code cells with text output from the heading of the exercise
    before the answer cell ``grade_id`` up to that cell: the tables the question asks the student to use.
    Empty when the notebook has no such cell."""
    cells = notebook.get("cells", [])
    found = [i for i, c in enumerate(cells)
             if c.get("metadata", {}).get("nbgrader", {}).get("grade_id") == grade_id]
    if not found:
        return []
    end = found[0]
    headings = [i for i in range(end) if cells[i].get("cell_type") == "markdown"
                and _EXERCISE.search("".join(cells[i].get("source", "")))]  # fmt: skip
    start = headings[-2] if len(headings) >= 2 else (headings[0] if headings else 0)
    code = [i for i in range(start, end) if cells[i].get("cell_type") == "code"]
    return [(i + 1, text) for i in code if (text := text_output(cells[i]))]


def autograded_notebooks(out: Path) -> dict[str, nbformat.NotebookNode]:
    """The autograded notebook of each student under ``out``, where :func:`.autograde.autograde` leaves it:
    ``out/work/<student>/autograded/<student>/<assignment>/<notebook>.ipynb``."""
    found = {}
    for path in sorted(Path(out).glob("work/*/autograded/*/*/*.ipynb")):
        try:
            found[path.parts[-3]] = nbformat.read(path, as_version=4)
        except Exception:  # an unreadable file: the sheet shows no printed numbers for that student
            continue
    return found


def write_marking_sheet(rows: list[Row], rubrics: Mapping, names: Mapping[str, str], path: Path,
                        notebooks: Mapping[str, Mapping] | None = None) -> None:
    """``marking.md``: per written question, the rubric and model answer, then each student's answer,
    the numbers the student's notebook printed before it (:func:`answer_context`; ``notebooks``: student
    -> autograded notebook, default :func:`autograded_notebooks` next to ``path``) and a blank to fill per
    rubric item."""
    path = Path(path)
    notebooks = autograded_notebooks(path.parent) if notebooks is None else notebooks
    parts = ["# Marking sheet", "", "Fill each `__` with the points given for that criterion; the total "
             "goes in the gradebook next to the autograded points (`grades.csv`).", ""]
    for grade_id, rubric in rubrics.items():
        parts += [f"## {names.get(grade_id, grade_id)} ({rubric.total} points)", "", "**Rubric**", ""]
        parts += [f"- {p}: {criterion}" for p, criterion in rubric.items]
        parts += ["", "**Model answer**", ""]
        parts += [f"> {line}" for line in rubric.answer.strip().splitlines()] + [""]
        for row in rows:
            answer = truncate(row.answers.get(grade_id, "").strip(), ANSWER_CHARS) or "(no answer)"
            parts += [f"### {row.student} — {names.get(grade_id, grade_id)}", ""]
            parts += ["```text", answer, "```", ""]
            context = answer_context(notebooks.get(row.student, {}), grade_id)
            if context:
                parts += ["<details><summary>What the student's notebook printed before this answer (check "
                          "the numbers quoted against it)</summary>", ""]  # fmt: skip
                for number, text in context:
                    parts += [f"Cell {number}:", "", "```text", text.replace("```", "ʼʼʼ"), "```", ""]
                parts += ["</details>", ""]
            else:
                parts += ["(no printed output found in the autograded notebook)", ""]
            parts += [f"- __ / {p}: {criterion[:90]}{'…' if len(criterion) > 90 else ''}"
                      for p, criterion in rubric.items]
            parts += [f"- **total: __ / {rubric.total}**", ""]
    path.write_text("\n".join(parts), encoding="utf-8")
