"""``make grade`` end to end on a synthetic class of lab 03 (one batch through nbgrader), and its inputs.

Each synthetic student is the solved lab with one thing done to it; the test asserts that student's row
of ``grades.csv``: the points per exercise after flags, the raw autograde points, the flags and the status.
Lab 03 is the fastest lab with six autograded exercises (points read from the lab) and two written answers.
"""

import copy
import csv
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import jupytext
import nbformat
import psutil
import pytest

from xaihealth.instructor import autograde as ag
from xaihealth.instructor.bench import solved_lab
from xaihealth.instructor.grade import REPO, Lab, grade_lab, grade_one, main, solution_path
from xaihealth.instructor.judge import sandbox_available
from xaihealth.instructor.kit import build_kit, kit_digest
from xaihealth.instructor.submissions import collect, student_id
from xaihealth.tooling.labs import make_lab, make_source

EXERCISES = ["1", "2", "3", "4", "5", "6a"]
SANDBOXED = sandbox_available()
if os.environ.get("CI"):
    assert SANDBOXED, "CI grades in bubblewrap's sandbox (.ci/run installs it)"
SIGNED_JACCARD = """def topk_jaccard(coefs, k):
    tops = [set(np.argsort(-row, kind="stable")[:k]) for row in np.asarray(coefs, dtype=float)]
    return float(np.mean([len(a & b) / len(a | b) for a, b in itertools.combinations(tops, 2)]))
"""
LAB = Lab("03", jupytext.read(solution_path("03")), "03_shap_lime_lab")
FULL = {e: sum(float(r.points or 0) for r in LAB.checks if r.grade_id == f"check-{e}") for e in EXERCISES}
WRITTEN = sum(r.total for r in LAB.rubrics.values())  # points of the written answers, marked by hand
CELL_TIMEOUT = 30  # > the slowest cell of lab 03 on a loaded machine (the setup cell: about 10 s at load 10)


def _cell(nb, grade_id):
    return next(c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") == grade_id)


def _with(nb, grade_id, source):
    nb = copy.deepcopy(nb)
    _cell(nb, grade_id).source = source
    return nb


def _insert_after(nb, grade_id, source):
    nb = copy.deepcopy(nb)
    index = nb.cells.index(_cell(nb, grade_id))
    nb.cells.insert(index + 1, nbformat.v4.new_code_cell(source))
    return nb


def _class(solution):
    """The synthetic students: name -> (notebook, expected points per exercise, raw points, flag, status)."""
    solved, lab = solved_lab(solution), make_lab(solution)
    full = dict(FULL)
    own_shapley = _cell(solved, "ex1").source
    return {
        "correct": (solved, full, full, None, "graded"),
        "partly_wrong": (
            _with(solved, "ex4", SIGNED_JACCARD), full | {"4": 0}, full | {"4": 0}, None, "graded"),
        "stub_left": (lab, dict.fromkeys(EXERCISES, 0), dict.fromkeys(EXERCISES, 0), None, "graded"),
        "reference_called": (
            _with(solved, "ex1", "from xaihealth.instructor.references.shapley import "
                  "reference_shapley_values as exact\n\n\ndef shapley_values(value, n):\n"
                  "    return exact(value, n)\n"),
            # raw 0 too: the kit the kernel imports has no xaihealth.instructor.references (the import fails)
            full | {"1": 0}, full | {"1": 0},
            "Exercise 1: not your own implementation: uses "
            "xaihealth.instructor.references.shapley.reference_shapley_values", "graded"),
        "library_called": (
            _with(solved, "ex1", own_shapley.replace(
                "    phi = np.zeros(n)\n", "    getattr(shap, 'KernelExplainer')\n    phi = np.zeros(n)\n")),
            full | {"1": 0}, full,
            "Exercise 1: not your own implementation: uses shap.KernelExplainer", "graded"),
        "check_deleted": (
            _without(solved, "check-4"), full, full, None, "graded"),
        "checker_rebound": (
            _with(solved, "ex4", SIGNED_JACCARD + "\n\ncheck_topk_jaccard = lambda f: print('passed')\n"),
            full | {"4": 0}, full | {"4": 0}, "Exercise 4: tampering: rebinds check_topk_jaccard", "graded"),
        "expect_patched": (
            _with(solved, "ex4", SIGNED_JACCARD + "\n\nfrom xaihealth.checks._core import Exercise\n"
                  "Exercise.expect = lambda self, condition, hint: "
                  "setattr(self, 'checked', self.checked + 1)\n"),
            # raw: the kernel's checks passed (the patch), the judge's did not (Exercise 4 is wrong)
            dict.fromkeys(EXERCISES, 0), full | {"4": 0},
            "tampering: assigns to xaihealth.checks._core.Exercise.expect", "graded"),
        "endless_loop": (
            # loops on the checker's k (the lab's own cells use k=3), so one cell is stopped, not two
            _with(solved, "ex4", _cell(solved, "ex4").source.replace(
                "    tops =", "    while k != 3:\n        pass\n    tops =")),
            full | {"4": 0}, full | {"4": 0}, None, "graded"),
        "syntax_error": (
            _with(solved, "ex5", "def deletion_curve(predict, x, baseline, order)\n    return None\n"),
            full | {"5": 0}, full | {"5": 0}, None, "graded"),
    }


def _without(nb, grade_id):
    nb = copy.deepcopy(nb)
    nb.cells.remove(_cell(nb, grade_id))
    return nb


def _appended(nb, grade_id, source):
    return _with(nb, grade_id, _cell(nb, grade_id).source + "\n" + source)


PROBE = """import xaihealth
try:
    import xaihealth.instructor.references
    found = "importable"
except ImportError as err:
    found = type(err).__name__
print("PROBE", xaihealth.__file__, found)
import socket
print("NETWORK", ",".join(name for _, name in socket.if_nameindex()))
"""
NAME = "'refer' + 'ence_shapley_values'"  # spelled so that no AST rule can see it
OWN = "    return np.zeros(n)  # what the student's own code earns: nothing\n"
REFLECTION = {  # review R15, s02-s06, on lab 03: each reached the reference in the full repository
    "reflect_pkgutil": f"""import pkgutil


def shapley_values(value, n):
    try:
        return pkgutil.resolve_name("xaihealth.instructor.references.shapley:" + {NAME})(value, n)
    except Exception:
        pass
{OWN}""",
    "reflect_attrgetter": f"""import operator
from xaihealth.checks import shapley as S


def shapley_values(value, n):
    try:
        return operator.attrgetter({NAME})(S.refs)(value, n)
    except Exception:
        pass
{OWN}""",
    "reflect_getattr": f"""from xaihealth.checks import shapley as S


def shapley_values(value, n):
    try:
        return S.refs.__getattr__({NAME})(value, n)
    except Exception:
        pass
{OWN}""",
    "reflect_gc": f"""import gc
import pkgutil

try:
    pkgutil.resolve_name("xaihealth.instructor.references.shapley")
except Exception:
    pass


def shapley_values(value, n):
    for o in gc.get_objects():
        if callable(o) and getattr(o, "__name__", "") == {NAME}:
            return o(value, n)
{OWN}""",
    "reflect_frames": f"""def shapley_values(value, n):
    try:
        raise RuntimeError
    except RuntimeError as e:
        f = e.__traceback__.tb_frame
    while f is not None:
        for v in list(f.f_globals.values()):
            g = vars(v).get({NAME}) if hasattr(v, "__spec__") else None
            if g:
                return g(value, n)
        f = f.f_back
{OWN}""",
}
STORES_READ = f"""import glob, os
import xaihealth
def shapley_values(value, n):
    seen = glob.glob(os.path.dirname(xaihealth.__file__) + "/**/*.pkl", recursive=True)
    seen += glob.glob({str(REPO)!r} + "/src/xaihealth/instructor/**/*.py", recursive=True)
    seen += glob.glob({str(REPO)!r} + "/grading/**/*.pkl", recursive=True)
    raise RuntimeError(f"SEEN {{len(seen)}} files")
"""
TAMPER = """import pathlib
import xaihealth.checks
(pathlib.Path(xaihealth.checks.__file__).parent / "expected" / "SHA256SUMS").write_text("")
"""


def _robustness_class(solution):
    """Submissions graded against the kit, with their raw points (the AST flags are tests/test_flags.py's).

    name -> (notebook, raw points per exercise, a text the row's notes or flags must hold)."""
    solved = solved_lab(solution)
    full = dict(FULL)
    duplicated = copy.deepcopy(solved)
    at = duplicated.cells.index(_cell(duplicated, "check-5"))
    duplicated.cells.insert(at, copy.deepcopy(duplicated.cells[at]))  # copy-paste keeps the metadata
    renamed = copy.deepcopy(solved)
    _cell(renamed, "check-4").metadata.nbgrader["grade_id"] = "check-4x"
    _cell(renamed, "check-4x").source = "pass"
    students = {name: (_with(solved, "ex1", source), full | {"1": 0}, "")
                for name, source in REFLECTION.items()}  # fmt: skip
    return students | {
        "probe": (_insert_after(solved, "ex1", PROBE), full, ""),
        # the sandboxed kernel's kit is read-only: the write fails, nothing is changed (a row without a
        # sandbox flags it instead: test_run_time_tampering_is_flagged_and_does_not_reach_the_next_run)
        "kit_tampered": (_appended(solved, "ex5", TAMPER), full, ""),
        # B4': what the judge's worker can read (test_the_worker_reads_no_store); B2': the kernel's checks
        # forged, the judge's verdict stands; the R15b trigger and poisoner find nothing to reach
        "stores_read": (_with(solved, "ex1", STORES_READ), full | {"1": 0}, ""),
        "forged": (_with(solved, "ex1", "def shapley_values(value, n):\n    return np.zeros(n)\n"
                         + EXPECT_PATCH), full | {"1": 0}, "tampering: assigns to"),
        "gradebook_trigger": (_appended(_with(solved, "ex4", SIGNED_JACCARD), "ex5", GRADEBOOK_TRIGGER),
                              full | {"4": 0}, ""),
        "cache_poisoner": (_appended(_with(solved, "ex4", SIGNED_JACCARD), "ex5", POISON_CACHE),
                           full | {"4": 0}, ""),
        "duplicated_check": (duplicated, full, "repeats grade_id check-5 (a copied cell)"),
        "edited_grade_id": (renamed, full, "grade_id 'check-4x', not one of the lab's"),
        "os_exit": (_appended(solved, "ex5", "import os\nos._exit(0)\n"), full | {"5": 0},
                    "stopped the kernel ('def deletion_curve"),
        "segfault": (_appended(solved, "ex3", "import ctypes\nctypes.string_at(0)\n"), full | {"3": 0},
                     "stopped the kernel ('def lime_tabular"),
        "huge_output": (_appended(solved, "ex2", "for _ in range(200):\n    print('x' * 100_000)\n"), full,
                        "outputs cut to 20000 characters"),
    }


@pytest.fixture(scope="module")
def graded(tmp_path_factory):
    """Grade the synthetic class once, from a zip of one notebook per student, via the CLI's entry point."""
    tmp = tmp_path_factory.mktemp("grading")
    solution = jupytext.read(solution_path("03"))
    students = _class(solution)
    others = _robustness_class(solution)
    archive = tmp / "class.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name, (nb, *_rest) in (students | others).items():
            zipped.writestr(f"collected/{name}.ipynb", nbformat.writes(nb))
        zipped.writestr("collected/broken_json.ipynb", "{ this is not a notebook")
    out = tmp / "out"
    cwd = os.getcwd()
    os.chdir(tmp)  # a relative --out, as `make grade` passes it
    try:
        code = main(["--lab", "03", "--submissions", str(archive), "--out", "out", "--jobs", "2",
                     "--cell-timeout", str(CELL_TIMEOUT), "--notebook-timeout", "300",
                     "--sandbox", "require" if os.environ.get("CI") else "auto"])
    finally:
        os.chdir(cwd)
    assert code == 0
    with open(out / "grades.csv", newline="", encoding="utf-8") as f:
        rows = {row["student"]: row for row in csv.DictReader(f)}
    return students, rows, out, others


def test_every_student_is_graded_and_nothing_stops_the_batch(graded):
    students, rows, out, others = graded
    assert set(rows) == set(students) | set(others) | {"broken_json"}
    assert rows["broken_json"]["status"].startswith("unreadable notebook")
    assert rows["broken_json"]["total"] == "0"
    for name in rows:
        assert (out / "feedback" / f"{name}.html").is_file()


@pytest.mark.parametrize("name", [
    "correct", "partly_wrong", "stub_left", "reference_called", "library_called", "check_deleted",
    "checker_rebound", "expect_patched", "endless_loop", "syntax_error"])
def test_gradebook_row(graded, name):
    students, rows, *_ = graded
    _, points, raw, flag, status = students[name]
    row = rows[name]
    assert row["status"] == status, row
    assert {e: float(row[f"ex{e}"]) for e in EXERCISES} == {e: float(p) for e, p in points.items()}, row
    assert {e: float(row[f"raw_ex{e}"]) for e in EXERCISES} == {e: float(p) for e, p in raw.items()}, row
    assert float(row["total"]) == sum(points.values()) and float(row["max"]) == sum(FULL.values())
    assert float(row["written_max"]) == WRITTEN
    if flag:
        assert flag in row["flags"], row["flags"]
    else:
        assert row["flags"] == "", row["flags"]


def test_a_submission_past_the_notebook_timeout_is_killed_with_its_kernel(graded, tmp_path):
    students, _, out, _ = graded
    solution = jupytext.read(solution_path("03"))
    lab = Lab("03", solution, "03_shap_lime_lab")
    course = ag.Course(out / "course", "lab03", "03_shap_lime_lab", make_source(solution))
    path = tmp_path / "slow.ipynb"
    nbformat.write(students["correct"][0], path)
    before = set(psutil.Process().children(recursive=True))
    row, outcome = grade_one(lab, course, "slow", path, tmp_path / "work", cell_timeout=60,
                             notebook_timeout=4)
    assert outcome.status == "timed out (killed after 4 s)"
    assert row.total == 0 and all(row.flags[e] == [outcome.status] for e in EXERCISES)
    assert set(psutil.Process().children(recursive=True)) <= before  # no kernel left running


def test_notes_and_hints(graded):
    _, rows, out, _ = graded
    assert "deleted cell check-4 (a check cell: nbgrader put it back)" in rows["check_deleted"]["notes"]
    assert "cell does not parse" in rows["syntax_error"]["notes"]
    page = (out / "feedback" / "partly_wrong.html").read_text(encoding="utf-8")
    summary = page[page.index("xaihealth-summary"):page.index("</div>", page.index("xaihealth-summary"))]
    assert "Exercise 4 (stability across seeds)" in summary and f"0 / {FULL['4']:g}" in summary
    assert "Traceback" not in summary and "CheckFailed" not in summary
    loop = (out / "feedback" / "endless_loop.html").read_text(encoding="utf-8")
    assert f"stopped after {CELL_TIMEOUT} s" in loop
    expect = (out / "feedback" / "expect_patched.html").read_text(encoding="utf-8")
    assert "tampering: assigns to xaihealth.checks._core.Exercise.expect" in expect
    assert "graded outside your notebook (hidden tests included)" in expect  # the judge's verdict


def test_marking_sheet(graded):
    _, _, out, _ = graded
    sheet = (out / "marking.md").read_text(encoding="utf-8")
    assert sheet.count("### correct — ") == 2  # one per written question
    assert "## Exercise 3b (LIME's seed and kernel width) (8 points)" in sheet
    assert "- __ / 3: why LIME is fooled" in sheet
    assert "**total: __ / 10**" in sheet


@pytest.mark.parametrize("name", [*REFLECTION, "probe", "kit_tampered", "duplicated_check", "edited_grade_id",
                                  "os_exit", "segfault", "huge_output", "stores_read", "forged",
                                  "gradebook_trigger", "cache_poisoner"])
def test_graded_against_the_kit(graded, name):
    """Raw points (before flags): a reflective path finds no reference in the kit, so the student's own code
    (zeros) earns 0 for Exercise 1; a crash costs only the cell that crashed; a copied or edited check cell
    costs nothing; every change grading made is in the row's notes (or flags)."""
    _, rows, _, others = graded
    _, raw, text = others[name]
    row = rows[name]
    assert row["status"] == "graded", row
    if raw is not None:
        assert {e: float(row[f"raw_ex{e}"]) for e in EXERCISES} == {e: float(p) for e, p in raw.items()}, row
    assert all(float(row[f"ex{e}"]) <= float(row[f"raw_ex{e}"]) for e in EXERCISES)
    assert text in row["notes"] + row["flags"], row
    if SANDBOXED:  # nothing a sandboxed kernel does reaches the kit, the cache or the gradebook
        assert "kit" not in row["flags"] and "gradebook" not in row["flags"], row


def test_the_worker_reads_no_store(graded):
    """B4': the kernel's kit holds the public values (a student release does too); the judge's worker, which
    answers the hidden tests, finds no stored value, no reference and no hidden test."""
    _, rows, out, _ = graded
    kernel = (out / "feedback" / "stores_read.html").read_text(encoding="utf-8")
    assert re.search(r"SEEN [1-9]\d* files", kernel), "the kernel's kit should hold the public store"
    judged = json.loads((out / "work" / "stores_read" / "judge.json").read_text(encoding="utf-8"))
    message = judged["verdicts"]["check-1"]["message"]
    assert ("SEEN 0 files" if SANDBOXED else "SEEN") in message, message


def test_the_kernel_imports_the_kit_not_the_repository(graded):
    _, rows, out, _ = graded
    page = (out / "feedback" / "probe.html").read_text(encoding="utf-8")
    probe = re.search(r"PROBE (\S+) (\w+)", page)
    assert probe, "the probe cell printed nothing"
    assert Path(probe.group(1)) == out / "work" / "probe" / "kit" / "src" / "xaihealth" / "__init__.py"
    assert probe.group(2) == "ModuleNotFoundError"
    if SANDBOXED:  # R15c F5: the kernel has a network namespace of its own, only loopback (unix sockets)
        assert re.search(r"NETWORK (\S+)", page).group(1) == "lo"
    # graded after the tamperer, from their own copies of the kit
    assert "kit" not in rows["stub_left"]["flags"] + rows["syntax_error"]["flags"]
    huge = out / "feedback" / "huge_output.html"
    assert huge.stat().st_size < 2 * (out / "feedback" / "correct.html").stat().st_size  # not 20 MB
    assert "[output truncated: " in huge.read_text(encoding="utf-8")


def test_the_grading_kit(tmp_path):
    """Built once per digest, without the references and the hidden tests, with the public store only (none
    in the worker's copy); PYTHONPATH beats the editable install, so a process with nbgrader's environment
    imports the kit's package."""
    solution = solution_path("03")
    kit = build_kit(solution, tmp_path / "kits", progress=lambda _: None)
    left_out = ("xaihealth/tooling/", "xaihealth/instructor/references/", "xaihealth/instructor/hidden/")
    assert kit.files and not any(f.startswith(left_out) for f in kit.files)
    assert {"xaihealth/checks/expected/shapley.pkl", "xaihealth/instructor/integrity.py",
            "xaihealth/instructor/rpc.py", "xaihealth/instructor/worker.py"} <= set(kit.files)
    bare = kit.write(tmp_path / "worker", stores=False)
    assert not list(bare.rglob("*.pkl")) and (bare / "xaihealth" / "checks" / "shapley.py").is_file()
    again = build_kit(solution, tmp_path / "kits", progress=lambda m: pytest.fail(f"rebuilt: {m}"))
    assert again.root == kit.root and again.files == kit.files
    edited = tmp_path / solution.name
    edited.write_bytes(solution.read_bytes() + b"\n# edited\n")
    assert kit_digest(edited) != kit_digest(solution)
    src = kit.write(tmp_path / "copy")
    assert kit.changed(src) == []
    (src / "xaihealth" / "checks" / "_core.py").write_text("# edited\n")
    assert kit.changed(src) == ["xaihealth/checks/_core.py"]
    src = kit.write(tmp_path / "copy")
    probe = ("import xaihealth, importlib.util; print(xaihealth.__file__); "
             "print(importlib.util.find_spec('xaihealth.instructor.references'))")
    done = subprocess.run([sys.executable, "-c", probe], env=ag.nbgrader_env(src), capture_output=True,
                          text=True, cwd=tmp_path, timeout=120)
    assert done.stdout.split() == [str(src / "xaihealth" / "__init__.py"), "None"], done


def test_reflection_reaches_the_reference_in_the_repository_only(tmp_path):
    """The null baseline of the kit rows: run in the full repository, four of R15's reflective paths give
    the reference's Shapley values; run with nbgrader's kit environment, none does (the function's own
    fallback, zeros). The frame walk found a hidden module's ``refs`` *module*; ``hidden_references``
    objects hold no function, so it misses in both."""
    solution = solution_path("03")
    src = build_kit(solution, tmp_path / "kits", progress=lambda _: None).write(tmp_path / "copy")
    script = tmp_path / "reflect.py"
    for name, source in REFLECTION.items():
        script.write_text("import json\nimport numpy as np\nfrom xaihealth.checks.shapley import table_game\n"
                          + source + "\nprint(json.dumps(list(shapley_values(table_game(4, 3), 4))))\n")
        values = {}
        for where, env in (("repository", {**os.environ, "XAIHEALTH_REFERENCES": "real"}),
                           ("kit", ag.nbgrader_env(src))):
            done = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True,
                                  cwd=tmp_path, timeout=120)
            assert done.returncode == 0, done.stderr
            values[where] = json.loads(done.stdout.splitlines()[-1])
        assert values["kit"] == [0.0] * 4, name
        assert (values["repository"] != [0.0] * 4) == (name != "reflect_frames"), (name, values)


def test_submission_layouts(tmp_path):
    nb = nbformat.writes(nbformat.v4.new_notebook())
    (tmp_path / "folders" / "Ann Lee").mkdir(parents=True)
    (tmp_path / "folders" / "Ann Lee" / "renamed copy.ipynb").write_text(nb)
    (tmp_path / "folders" / "bo").mkdir()
    (tmp_path / "folders" / "bo" / "03_shap_lime_lab.ipynb").write_text(nb)
    (tmp_path / "folders" / "bo" / "scratch.ipynb").write_text(nb)
    (tmp_path / "folders" / ".ipynb_checkpoints").mkdir()
    found = collect(tmp_path / "folders", "03_shap_lime_lab", tmp_path / "x")
    assert {k: v.name for k, v in found.items()} == {"Ann_Lee": "renamed copy.ipynb",
                                                     "bo": "03_shap_lime_lab.ipynb"}
    with zipfile.ZipFile(tmp_path / "f.zip", "w") as zipped:
        zipped.writestr("top/cy/03_shap_lime_lab.ipynb", nb)
        zipped.writestr("top/di/03_shap_lime_lab.ipynb", nb)
    assert sorted(collect(tmp_path / "f.zip", "03_shap_lime_lab", tmp_path / "z")) == ["cy", "di"]
    assert student_id("José Müller (2)") == "Jos_M_ller_2"


def test_bad_inputs_are_refused_clearly(tmp_path, capsys):
    with pytest.raises(ValueError, match="does not exist; expected one of"):
        grade_lab("03", tmp_path / "missing", tmp_path / "out")
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(ValueError, match="not a .zip archive"):
        grade_lab("03", tmp_path / "notes.txt", tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no notebook"):
        grade_lab("03", tmp_path / "empty", tmp_path / "out")
    with pytest.raises(ValueError, match=r"lab='09'.*the labs are 00, 01, 02, 03"):
        grade_lab("09", tmp_path / "empty", tmp_path / "out")
    with pytest.raises(ValueError, match="jobs=0"):
        grade_lab("03", tmp_path / "empty", tmp_path / "out", jobs=0)
    assert main(["--lab", "03", "--submissions", str(tmp_path / "missing")]) == 2
    assert "error: submissions=" in capsys.readouterr().err
    assert (REPO / "solutions" / "03_shap_lime_lab.py").is_file()


# Review R15b: a gradebook trigger (u07, B1'), a poisoner of the cached kit (u08, B3'), an Exercise patch the
# integrity check catches at run time (m1'); each with a wrong Exercise 4, which must stay 0.
GRADEBOOK_TRIGGER = """import os, sqlite3
d = os.getcwd()
while d != "/" and not os.path.exists(os.path.join(d, "gradebook.db")):
    d = os.path.dirname(d)
con = sqlite3.connect(os.path.join(d, "gradebook.db"))
for when in ("INSERT", "UPDATE OF auto_score"):
    con.execute(f"CREATE TRIGGER IF NOT EXISTS t_{when[:6]} AFTER {when} ON grade BEGIN UPDATE grade SET "
                "auto_score = (SELECT max_score FROM grade_cells WHERE grade_cells.id = NEW.cell_id) "
                "WHERE id = NEW.id; END")
con.commit(); con.close()
"""
POISON_CACHE = """import os, io
d = os.getcwd()
while d != "/" and not os.path.isdir(os.path.join(d, ".kits")):
    d = os.path.dirname(d)
for root, _, files in os.walk(os.path.join(d, ".kits")):
    for n in files:
        if n == "_core.py" and root.endswith("checks"):
            with io.FileIO(os.path.join(root, n), "a") as fh:
                fh.write(b"\\nExercise.expect = lambda self, c, h: setattr(self, 'checked', self.checked + 1)"
                         b"\\nExercise.fail = lambda self, *a, **k: None\\n")
"""
EXPECT_PATCH = ("\nfrom xaihealth.checks._core import Exercise\n"
                "Exercise.expect = lambda self, c, h: setattr(self, 'checked', self.checked + 1)\n")


def test_run_time_tampering_is_flagged_and_does_not_reach_the_next_run(tmp_path):
    """Without the sandbox (``--sandbox none``, where bubblewrap cannot run), the kernel can write to the
    gradebook and the kit cache: B1': the trigger's full marks are undone (scores recomputed from the check
    cells' outputs) and flagged; B3': the poisoned master is flagged and rewritten, so the next run grades
    a wrong answer 0; B2': a patched checker passes in the kernel, but the judge's verdict stands."""
    solution = jupytext.read(solution_path("03"))
    solved = solved_lab(solution)
    wrong = _with(solved, "ex4", SIGNED_JACCARD)
    first, second = tmp_path / "first", tmp_path / "second"
    for folder, students in ((first, {"trigger": _appended(wrong, "ex5", GRADEBOOK_TRIGGER),
                                      "poisoner": _appended(wrong, "ex5", POISON_CACHE),
                                      "integrity": _with(solved, "ex4", SIGNED_JACCARD + EXPECT_PATCH)}),
                             (second, {"after_poison": wrong})):
        folder.mkdir()
        for name, nb in students.items():
            nbformat.write(nb, folder / f"{name}.ipynb")
    kits = tmp_path / ".kits"  # where the poisoner's walk up from its working folder finds it
    rows = {r.student: r for r in grade_lab("03", first, tmp_path / "out1", jobs=1, progress=False,
                                            cell_timeout=CELL_TIMEOUT, kit_cache=kits, sandbox="none")}
    assert rows["trigger"].raw["4"] == 0, rows["trigger"]  # the trigger had set it to full marks
    assert any("the gradebook holds a trigger" in f for f in rows["trigger"].flags["4"]), rows["trigger"]
    assert any("the cached grading kit changed during this submission (xaihealth/checks/_core.py" in f
               for f in rows["poisoner"].flags["1"]), rows["poisoner"]
    assert rows["integrity"].raw["4"] == 0, rows["integrity"]  # the patched kernel passed it, the judge not
    assert any("judge: no sandbox" in n for n in rows["integrity"].notes)
    assert not any("cached grading kit" in f for r in (rows["trigger"], rows["integrity"])
                   for f in r.flags.get("1", []))
    again = grade_lab("03", second, tmp_path / "out2", jobs=1, progress=False, cell_timeout=CELL_TIMEOUT,
                      kit_cache=kits, sandbox="none")[0]
    assert again.raw == FULL | {"4": 0} and again.flags == {}, again
    core = next(kits.glob("03_*/src/xaihealth/checks/_core.py")).read_text(encoding="utf-8")
    assert "Exercise.fail = lambda" not in core


def test_a_cached_kit_that_no_longer_matches_its_digest_is_rebuilt(tmp_path):
    solution = solution_path("03")
    kit = build_kit(solution, tmp_path / "kits", progress=lambda _: None)
    core = kit.root / "src" / "xaihealth" / "checks" / "_core.py"
    core.write_bytes(core.read_bytes() + b"\nExercise.fail = lambda self, *a, **k: None\n")
    assert kit.restore() == ["xaihealth/checks/_core.py"] and kit.restore() == []
    core.write_bytes(core.read_bytes() + b"\nExercise.fail = lambda self, *a, **k: None\n")
    said = []
    again = build_kit(solution, tmp_path / "kits", progress=said.append)
    assert any("does not match its digest: rebuilt" in m for m in said), said
    assert again.files == kit.files and b"Exercise.fail = lambda" not in core.read_bytes()
