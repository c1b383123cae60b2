"""The student release (``make release``) and the replay of the checkers' expected values.

One release is built per session (module fixture): the expected values are recorded from the solutions of
labs 03, 05b and 06 (about 40 s), then the folder and its zip are written. The tests then check what a
student gets: no instructor code or hidden tests, no importable reference, checkers that still accept the
solutions and reject the mutants from stored values, and a refusal of damaged stored values.
"""

import json
import os
import pickle
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from pathlib import Path
from types import SimpleNamespace

import jupytext
import nbformat
import numpy as np
import pytest

from xaihealth.checks import _reference
from xaihealth.checks._reference import ENV, ReferenceUnavailable, ReleaseDamaged, references, same, summary
from xaihealth.instructor.release import build_release, check_labs, record, without_hidden_tests
from xaihealth.tooling.execute import execute

REPO = Path(__file__).resolve().parents[1]
LABS = ("03", "05b", "06")
CHECKS = sorted(p.stem for p in (REPO / "src" / "xaihealth" / "checks").glob("[a-z]*.py"))


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    check_labs(REPO)  # before the recording: a release is refused when labs/ is out of date
    root = tmp_path_factory.mktemp("release")
    expected, folder = root / "expected", root / "xaihealth-student"
    counts = record(REPO, expected, LABS, progress=lambda _: None)
    archive = build_release(REPO, folder, expected=expected, progress=lambda _: None)
    return SimpleNamespace(folder=folder, archive=archive, expected=expected, counts=counts)


def _run(code: str, release, tmp_path, **env) -> subprocess.CompletedProcess:
    """Run ``code`` as a file outside the package (student code) with only the release importable."""
    script = tmp_path / "student.py"
    script.write_text(textwrap.dedent(code))
    environment = {**os.environ, "PYTHONPATH": str(release.folder / "src"), ENV: "", **env}
    return subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=environment, capture_output=True,
                          text=True, timeout=300)  # fmt: skip


def test_recording_stores_every_module_of_the_recorded_labs(release):
    assert set(release.counts) == {"shapley", "circuits_sae", "trust"}
    assert all(n >= 3 for n in release.counts.values()), release.counts
    stored = sorted(p.name for p in (release.folder / "src/xaihealth/checks/expected").iterdir())
    assert stored == ["SHA256SUMS", "circuits_sae.pkl", "shapley.pkl", "trust.pkl"]


def test_the_release_holds_no_instructor_code_solutions_or_hidden_tests(release):
    out = release.folder
    for name in ("labs", "notebooks", "slides", "datasets", "src/xaihealth/checks", "STUDENT.md", "START.md",
                 "etc/prefix/etc/jupyter/labconfig/page_config.json"):
        assert (out / name).exists(), name
    for name in ("solutions", "tests", "scripts", ".git", "src/xaihealth/instructor"):
        assert not (out / name).exists(), name
    # lecture 08 reads the scorecard at run time; nothing else of benchmarks/ is handed out
    assert sorted(p.name for p in (out / "benchmarks").iterdir()) == ["scorecard.json", "scorecard.md"]
    definition = re.compile(r"^\s*def\s+reference_|^class\s+ReferenceCBM", re.M)
    texts = [p for p in out.rglob("*") if p.is_file() and p.suffix in (".py", ".ipynb", ".md", ".html")]
    assert len(texts) > 50
    for path in texts:
        text = path.read_text(encoding="utf-8", errors="replace")
        assert "HIDDEN TESTS" not in text, path
        assert "hidden_check_" not in text, path
        assert not definition.search(text), path
    with zipfile.ZipFile(release.archive) as zipped:
        names = zipped.namelist()
    assert any(n.endswith("checks/expected/SHA256SUMS") for n in names)
    assert any(n.endswith("labs/03_shap_lime_lab.ipynb") for n in names)
    assert not [n for n in names if "/instructor/" in n or "/solutions/" in n or "/tests/" in n]


def test_a_reference_cannot_be_imported_from_the_release(release, tmp_path):
    names = {m: sorted(n for n in vars(__import__(f"xaihealth.instructor.references.{m}", fromlist=["x"]))
                       if n.startswith("reference_")) for m in CHECKS}  # fmt: skip
    assert sum(map(len, names.values())) >= 40
    result = _run(f"""
        import importlib, xaihealth
        assert xaihealth.__file__.startswith({str(release.folder)!r}), xaihealth.__file__
        try:
            import xaihealth.instructor
        except ModuleNotFoundError:
            pass
        else:
            raise SystemExit("xaihealth.instructor is importable")
        try:
            from xaihealth.checks.shapley import reference_shapley_values
        except ImportError:
            pass
        else:
            raise SystemExit("reference_shapley_values is importable")
        for module, refs in {names!r}.items():
            checks = importlib.import_module("xaihealth.checks." + module)
            leaked = [n for n in refs if hasattr(checks, n)]
            assert not leaked, (module, leaked)
        from xaihealth.checks._reference import ReferenceUnavailable
        from xaihealth.checks.shapley import refs, table_game
        try:  # the replay refuses a call from student code even with the checker's own arguments
            refs.reference_shapley_values(table_game(4, seed=0), 4)
        except ReferenceUnavailable as err:
            assert "checkers' own" in str(err), err
        else:
            raise SystemExit("a student called the replayed reference")
        print("clean")
    """, release, tmp_path)
    assert result.returncode == 0 and "clean" in result.stdout, result.stdout + result.stderr


@pytest.mark.parametrize("lab", ["03", "05b"])
def test_the_solution_passes_every_check_against_the_release(release, lab, tmp_path):
    source = next((REPO / "solutions").glob(f"{lab}_*_lab.py"))
    target = without_hidden_tests(source, tmp_path / f"{source.stem}.ipynb")
    nb = nbformat.read(target, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(textwrap.dedent(f"""
        import importlib.util, xaihealth
        from xaihealth.checks._reference import mode
        assert xaihealth.__file__.startswith({str(release.folder)!r}), xaihealth.__file__
        assert importlib.util.find_spec("xaihealth.instructor") is None
        assert mode()[0] == "replay", mode()
    """)))
    nbformat.write(nb, target)
    checks = sum(len(re.findall(r"^check_\w+\(", c.source, re.M)) for c in nb.cells if c.cell_type == "code")
    assert checks >= 4
    outcome = execute(target, env={"PYTHONPATH": str(release.folder / "src"), ENV: ""})
    assert outcome.status == "pass", outcome.summary()


@pytest.mark.parametrize("module", ["shapley", "trust"])
def test_mutation_verdicts_are_the_same_under_replay(release, module):
    """Every accepted implementation still passes and every mutant still fails (each case asserts its
    verdict) when the checkers replay the values recorded from the solutions."""
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
               f"tests/test_checks_{module}.py", "-k", "test_checker_accepts_reference_and_rejects_mutants"]
    result = subprocess.run(command, cwd=REPO, env={**os.environ, ENV: f"replay:{release.expected}"},
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    line = result.stdout.strip().splitlines()[-1]
    passed = re.search(r"(\d+) passed", line)
    assert result.returncode == 0 and "failed" not in line and "error" not in line, result.stdout[-3000:]
    assert passed and int(passed.group(1)) >= 30, line


def _replay_dir(tmp_path, release, module: str, data: bytes | None = None):
    folder = tmp_path / "expected"
    folder.mkdir()
    (folder / f"{module}.pkl").write_bytes((release.expected / f"{module}.pkl").read_bytes() if data is None
                                          else data)  # fmt: skip
    _reference.write_manifest(folder)
    return folder


def test_a_tampered_expected_file_is_refused(release, tmp_path, monkeypatch):
    from xaihealth.checks.shapley import check_shapley_values
    from xaihealth.instructor.references.shapley import reference_shapley_values

    folder = _replay_dir(tmp_path, release, "shapley")
    monkeypatch.setenv(ENV, f"replay:{folder}")
    check_shapley_values(reference_shapley_values)  # intact: replays
    data = bytearray((folder / "shapley.pkl").read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / "shapley.pkl").write_bytes(bytes(data))
    with pytest.raises(ReleaseDamaged, match="damaged"):
        check_shapley_values(reference_shapley_values)
    (folder / "SHA256SUMS").unlink()
    with pytest.raises(ReleaseDamaged, match="SHA256SUMS is missing"):
        check_shapley_values(reference_shapley_values)


def test_a_replay_miss_names_the_module_the_reference_and_the_exercise(release, tmp_path, monkeypatch):
    from xaihealth.checks.circuits_sae import check_feature_recovery
    from xaihealth.instructor.references.circuits_sae import reference_feature_recovery

    calls = pickle.loads((release.expected / "circuits_sae.pkl").read_bytes())
    kept = {k: v for k, v in calls.items() if k[1] != "reference_feature_recovery"}
    assert len(kept) < len(calls)
    monkeypatch.setenv(ENV, f"replay:{_replay_dir(tmp_path, release, 'circuits_sae', pickle.dumps(kept))}")
    with pytest.raises(ReferenceUnavailable) as info:
        check_feature_recovery(reference_feature_recovery)
    message = str(info.value)
    for part in ("circuits_sae", "reference_feature_recovery", "Exercise 3 (feature-recovery score)"):
        assert part in message, message


def test_a_hint_that_needs_an_unrecorded_value_falls_back_to_generic_advice(release, monkeypatch):
    from xaihealth.checks.trust import check_expected_calibration_error
    from xaihealth.instructor.references.trust import reference_expected_calibration_error

    def ten_bins(y_true, p, n_bins=10):
        return reference_expected_calibration_error(y_true, p, 10)

    with pytest.raises(AssertionError, match="looks like 10 bins"):
        check_expected_calibration_error(ten_bins)  # the real references name the mistake
    monkeypatch.setenv(ENV, f"replay:{release.expected}")
    with pytest.raises(AssertionError, match="equal-width bins") as info:
        check_expected_calibration_error(ten_bins)
    assert "10 bins" not in str(info.value)


def test_the_sae_lecture_imports_from_the_release(release, tmp_path):
    """The 05b lecture's imports (its SAE library among them) resolve in the release, instructor-free."""
    imports = []
    for cell in jupytext.read(release.folder / "notebooks" / "05b_circuits_sae.py").cells:
        if cell.cell_type == "code":
            imports += [line for line in cell.source.splitlines()
                        if re.match(r"(from \S+ )?import ", line) and "(" not in line]  # fmt: skip
    assert "from xaihealth.models.sae import sae_metrics, train_sae" in " ".join(imports)
    use = "x = planted_sparse_data(n=64)[0]; sae = train_sae(x, 8, 0.3, steps=2)\n"
    use += "print(sorted(sae_metrics(x, *sae_forward(sae, x)[::-1])), 'imported')\n"
    result = _run("\n".join(imports) + "\n" + use, release, tmp_path)
    assert result.returncode == 0 and "['dead', 'fve', 'l0'] imported" in result.stdout, result.stderr[-2000:]


def test_summaries_replay_through_float_noise_but_not_other_arguments():
    x = np.linspace(0.1, 1.0, 50)
    assert same(summary((x, 3)), summary((x * (1 + 1e-9), 3)))
    assert not same(summary((x, 3)), summary((x, 4)))
    assert not same(summary((x,)), summary((x[:-1],)))
    assert not same(summary((x,)), summary((x.astype(np.float32),)))
    assert not same(summary((x,)), summary((x + 1e-3,)))
    # float32 activations from another CPU's kernels: off by ~5e-7 of their scale, 1e-5 is the limit
    acts = np.linspace(-2.0, 2.0, 101, dtype=np.float32)
    assert same(summary(acts), summary(acts + np.float32(1e-6)))
    assert not same(summary(acts), summary(acts + np.float32(1e-3)))
    assert same(summary((acts, acts, acts, acts)), summary((acts, acts, acts, acts)))  # a 4-tuple of arrays


def test_bad_reference_settings_are_named(monkeypatch):
    with pytest.raises(ValueError, match="module='nope'"):
        references("nope")
    monkeypatch.setenv(ENV, "sideways")
    with pytest.raises(ValueError, match="XAIHEALTH_REFERENCES='sideways'"):
        references("shapley").reference_shapley_values  # noqa: B018 (resolving the attribute raises)


def test_student_md_names_only_what_the_release_holds(release):
    """Every path STUDENT.md names (in backticks) exists in the release, it asks for no ``make`` (the release
    has no Makefile), and it does not send students to the lectures' paired ``.py`` files, which the Lab
    settings it installs hide (review m4)."""
    text = (release.folder / "STUDENT.md").read_text(encoding="utf-8")
    named = {m.rstrip("/") for m in re.findall(r"`([\w./-]+)`", text) if "/" in m or "." in m}
    named |= {path for pair in re.findall(r"-r (\S+)|-f (\S+)", text) for path in pair if path}
    named -= {".venv", ".ipynb", ".py", ".html"}
    names = {n.rstrip("`,") for n in named if not re.search(r"NN_|\.\.\.", n)}
    assert {"requirements.txt", "environment.yml", "labs", "src/xaihealth/checks/expected"} <= names
    missing = [n for n in names if not (release.folder / n).exists()]
    assert not missing, missing
    assert not re.search(r"^\s*make\b|`make\b", text, re.M)
    assert not (release.folder / "Makefile").exists()
    hidden = json.loads((release.folder / "etc/prefix/etc/jupyter/jupyter_server_config.json").read_text())
    assert "[0-9][0-9]*.py" in hidden["ContentsManager"]["hide_globs"]
    assert not re.search(r"open[^\n]*paired `\.py`", text)


def test_the_release_start_page_and_lab_settings_match_the_repository(tmp_path):
    """START.md without links to solutions; nbgrader's Lab extension off for students; STUDENT.md's two
    start lines install etc/prefix into a fresh environment and open START.md."""
    from xaihealth.instructor.release import PAGE_CONFIG, STUDENT_README, page_config, start_page

    start = start_page((REPO / "START.md").read_text(encoding="utf-8"))
    assert "](solutions/" not in start and "`solutions/` holds" not in start
    assert "solutions are not included" in start and "[STUDENT.md](STUDENT.md)" in start
    assert "## Course map" in start and "](labs/03_shap_lime_lab.ipynb)" in start
    config = json.loads(page_config((REPO / PAGE_CONFIG).read_text()))
    assert config["disabledExtensions"] == {"@jupyter/nbgrader": True} and config["buildAvailable"] is False
    assert (REPO / ".venv/share/jupyter/labextensions/@jupyter/nbgrader/package.json").is_file()
    lines = [ln for ln in STUDENT_README.splitlines() if ln.startswith(".venv/bin/")]
    copy = next(ln for ln in lines if "copytree('etc/prefix'" in ln)
    assert "jupyter lab --LabApp.default_url=/lab/tree/START.md" in lines[-1]
    release = tmp_path / "release"
    (release / "etc").mkdir(parents=True)
    shutil.copytree(REPO / "etc" / "prefix", release / "etc" / "prefix")
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(release / ".venv")], check=True)
    subprocess.run(copy, shell=True, cwd=release, check=True)
    installed = release / ".venv" / PAGE_CONFIG.relative_to("etc/prefix")
    assert installed.is_file()
    assert (release / ".venv/share/jupyter/lab/settings/overrides.json").is_file()
