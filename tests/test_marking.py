"""The marking sheet (``marking.md``) shows, under each student's written answer, what that student's own
autograded notebook printed before it, so the marker checks the quoted numbers against the student's
draw; and the rubric items with blanks and the model answer."""

from types import SimpleNamespace

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from xaihealth.instructor.report import OUTPUT_CHARS, Row, answer_context, text_output, write_marking_sheet


def _code(source, *outputs, grade_id=None):
    cell = new_code_cell(source, outputs=list(outputs))
    if grade_id:
        cell.metadata["nbgrader"] = {"grade_id": grade_id}
    return cell


def _notebook(ppv: str) -> nbformat.NotebookNode:
    return new_notebook(cells=[
        new_markdown_cell("## Exercise 3 — kappa"),
        _code("kappa", new_output("stream", name="stdout", text="kappa 0.41 (exercise 3)\n")),
        new_markdown_cell("## Exercise 4 — PPV and NPV"),
        _code("import numpy as np"),  # no output: not shown
        _code("table", new_output("stream", name="stdout", text=f"prevalence 1%: PPV {ppv}\n"),
              new_output("execute_result", data={"text/plain": "Frame(3 rows)"}, execution_count=1)),
        _code("big", new_output("stream", name="stdout", text="x" * (OUTPUT_CHARS * 3))),
        _code('answer_4b = "PPV 0.33"', grade_id="answer-4b"),
        _code("print('after the answer')", new_output("stream", name="stdout", text="after the answer\n")),
    ])  # fmt: skip


def test_the_context_is_what_the_cells_before_the_answer_printed():
    context = answer_context(_notebook("0.329"), "answer-4b")
    texts = [text for _, text in context]
    assert [n for n, _ in context] == [2, 5, 6]  # cell numbers as the notebook shows them (1-based)
    assert texts[0] == "kappa 0.41 (exercise 3)"  # the exercise before the question's own is included
    assert texts[1] == "prevalence 1%: PPV 0.329\nFrame(3 rows)"
    assert len(texts[2]) < OUTPUT_CHARS + 60
    assert texts[2].endswith(f"[output truncated: {OUTPUT_CHARS * 2} characters]")
    assert not any("after the answer" in t for t in texts)
    assert answer_context(_notebook("0.329"), "answer-9") == []
    assert text_output(_code("x")) == ""


def test_the_marking_sheet_shows_each_students_own_numbers_rubric_and_model_answer(tmp_path):
    rubric = SimpleNamespace(total=4, items=[(2, "quotes the PPV at 1 %"), (2, "says why it fell")],
                             answer="At 1 % the PPV is about 0.33.")  # fmt: skip
    rows = [Row(s, "graded", {}, {}, {}, answers={"answer-4b": f"answer of {s}"})
            for s in ("ann", "bob", "cy")]
    notebooks = {"ann": _notebook("0.329"), "bob": _notebook("0.512")}  # cy: no autograded notebook
    path = tmp_path / "marking.md"
    write_marking_sheet(rows, {"answer-4b": rubric}, {"answer-4b": "Question 4b"}, path, notebooks=notebooks)
    sheet = path.read_text()
    ann, bob, cy = (sheet.split(f"### {s} — Question 4b")[1].split("### ")[0] for s in ("ann", "bob", "cy"))
    assert "answer of ann" in ann and "PPV 0.329" in ann and "PPV 0.512" not in ann
    assert "answer of bob" in bob and "PPV 0.512" in bob and "PPV 0.329" not in bob
    assert "no printed output found" in cy
    for part in (ann, bob, cy):
        assert "- __ / 2: quotes the PPV at 1 %" in part and "- __ / 2: says why it fell" in part
        assert "**total: __ / 4**" in part
    assert "> At 1 % the PPV is about 0.33." in sheet.split("### ")[0]


def test_the_sheet_finds_the_autograded_notebooks_where_autograde_leaves_them(tmp_path):
    folder = tmp_path / "work" / "ann" / "autograded" / "ann" / "lab06"
    folder.mkdir(parents=True)
    nbformat.write(_notebook("0.329"), folder / "06_trust_lab.ipynb")
    rubric = SimpleNamespace(total=2, items=[(2, "quotes the PPV")], answer="0.33")
    rows = [Row("ann", "graded", {}, {}, {})]
    write_marking_sheet(rows, {"answer-4b": rubric}, {}, tmp_path / "marking.md")
    assert "PPV 0.329" in (tmp_path / "marking.md").read_text()
