"""Base seeds and `make robustness`: one seed per notebook, overridable, failures reported as the assert."""

import json
from pathlib import Path

import pytest

from xaihealth import notebook
from xaihealth.tooling import robustness
from xaihealth.tooling.execute import Outcome, execute, failing_line


def test_setup_returns_the_base_seed_and_the_environment_overrides_it(monkeypatch):
    monkeypatch.delenv("XAIHEALTH_SEED", raising=False)
    assert notebook.setup(seed=3) == 3 and notebook.derived_seed(42) == 42 + 3 * notebook.SEED_STRIDE
    monkeypatch.setenv("XAIHEALTH_SEED", "0")
    assert notebook.setup(seed=3) == 0 and notebook.derived_seed(42) == 42  # seed 0: the committed draws
    monkeypatch.setenv("XAIHEALTH_SEED", "2")
    assert notebook.setup() == 2 and notebook.base_seed() == 2
    assert notebook.derived_seed(0) != notebook.derived_seed(1)


@pytest.mark.parametrize(
    "value, match",
    [("abc", "XAIHEALTH_SEED='abc'"), ("-1", "XAIHEALTH_SEED=-1"), ("99999", "XAIHEALTH_SEED=99999")],
)
def test_bad_seed_variable_names_itself(monkeypatch, value, match):
    monkeypatch.setenv("XAIHEALTH_SEED", value)
    with pytest.raises(ValueError, match=match):
        notebook.setup()


def test_derived_seeds_stay_clear_of_training_seeds_and_of_each_other(monkeypatch):
    """A fresh evaluation draw under base 1..5 never reuses a seed a shipped model was trained on."""
    from xaihealth.checkpoints import read_manifest

    training = set()
    for entry in read_manifest().values():
        training |= {
            int(v)
            for k, v in {**entry, **entry.get("config", {})}.items()
            if "seed" in k and isinstance(v, int)
        }
    assert training and max(training) < notebook.SEED_STRIDE
    monkeypatch.delenv("XAIHEALTH_SEED", raising=False)
    drawn = set()
    for base in range(1, 6):
        notebook.setup(seed=base)
        seeds = {notebook.derived_seed(k) for k in range(0, 20_000, 7)}
        assert not seeds & training and not seeds & drawn
        drawn |= seeds
    with pytest.raises(ValueError, match="offset="):
        notebook.derived_seed(notebook.SEED_STRIDE)
    notebook.setup(seed=notebook.MAX_BASE_SEED)
    assert notebook.derived_seed(notebook.MAX_OFFSET) < 2**32


def test_failing_line_reads_the_ipython_arrow():
    tb = "\x1b[0;31mAssertionError\x1b[0m\nCell In[3], line 2\n      1 x = 1\n"
    tb += "----> 2 assert x > 2, 'x small'\n"
    assert failing_line(tb) == "assert x > 2, 'x small'"


def _notebook(tmp_path, body):
    path = tmp_path / "00_demo.py"
    path.write_text(
        "# %%\nfrom xaihealth.notebook import derived_seed, setup\nSEED = setup(seed=0)\n\n# %%\n" + body
    )
    return path


def test_execute_reports_the_first_failing_assert_and_its_message(tmp_path):
    path = _notebook(tmp_path, "x = SEED\nassert x == 0, f'base seed is {x}'\n")
    assert execute(path).status == "pass"
    outcome = execute(path, env={"XAIHEALTH_SEED": "4"})
    assert (outcome.status, outcome.error, outcome.message, outcome.cell) == (
        "fail",
        "AssertionError",
        "base seed is 4",
        2,
    )
    assert outcome.line == "assert x == 0, f'base seed is {x}'"
    assert outcome.summary().startswith("AssertionError in cell 2: `assert x == 0")


def test_table_lists_each_failure_with_its_seed():
    ok = Outcome("pass", 12.0).to_dict()
    bad = Outcome(
        "fail", 3.0, 7, "AssertionError", "only 2 heads", "assert (effect > 0.2).sum() == 4"
    ).to_dict()
    results = {"notebooks/a.py|1": ok, "notebooks/a.py|2": bad, "notebooks/b.py|1": ok}
    text = robustness.table(results, [1, 2], ["notebooks/a.py", "notebooks/b.py"], wall=600.0)
    assert "| notebooks/a.py | pass (12 s) | **FAIL 1** (3 s) | 1/2 |" in text
    assert "| notebooks/b.py | pass (12 s) | not run | 1/2 |" in text
    assert "1. `notebooks/a.py`, seed 2: AssertionError in cell 7: `assert (effect > 0.2).sum() == 4`" in text
    assert "only 2 heads" in text and "10.0 min" in text


def test_results_file_is_resumable_and_damage_is_named(tmp_path):
    path = tmp_path / "r.json"
    robustness.save_results({"notebooks/a.py|1": {"status": "pass", "seconds": 1.0}}, 60.0, path)
    results, wall = robustness.load_results(path)
    assert results == {"notebooks/a.py|1": {"status": "pass", "seconds": 1.0}} and wall == 60.0
    path.write_text(json.dumps({"nope": 1}))
    with pytest.raises(ValueError, match="r.json: not a robustness results file"):
        robustness.load_results(path)


def test_failure_names_the_whole_assert_the_inner_line_and_skips_expected_errors(tmp_path):
    body = (
        "def check(z):\n    assert z < 0, 'z is not negative'\n\n\n"
        "# %% tags=[\"raises-exception\"]\nraise KeyError('meant to raise')\n\n"
        "# %%\nvalues = [1, 2]\nassert (\n    len(values) == 3\n), f'{len(values)} values'\n\n"
        "# %%\ncheck(1)\n"
    )
    outcome = execute(_notebook(tmp_path, body), allow_errors=True)
    assert (outcome.cell, outcome.error, outcome.message) == (4, "AssertionError", "2 values")
    assert outcome.line == "assert ( len(values) == 3 ), f'{len(values)} values'"
    path = tmp_path / "00_inner.py"
    path.write_text("# %%\ndef check(z):\n    assert z < 0, 'z is not negative'\n\n\n# %%\ncheck(1)\n")
    inner = execute(path)
    assert (inner.cell, inner.line, inner.inner) == (2, "check(1)", "assert z < 0, 'z is not negative'")
    assert "(raised at `assert z < 0" in inner.summary()


def test_kernel_environment_is_the_kernels_own(tmp_path, monkeypatch):
    """Two notebooks run in threads: neither may see the other's variables, nor change this process's."""
    monkeypatch.delenv("XAIHEALTH_DEMO", raising=False)
    path = _notebook(
        tmp_path, "import os\nassert os.environ['XAIHEALTH_DEMO'] == 'a', os.environ['XAIHEALTH_DEMO']\n"
    )
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.map(lambda v: execute(path, env={"XAIHEALTH_DEMO": v}), ["a", "b"])
    assert a.status == "pass" and (b.status, b.message) == ("fail", "b")
    assert "XAIHEALTH_DEMO" not in __import__("os").environ


def test_stale_results_are_never_shown_as_passes():
    ok = {**Outcome("pass", 5.0).to_dict(), "source_sha256": "old"}
    text = robustness.table(
        {"notebooks/a.py|1": ok}, [1], ["notebooks/a.py"], None, {"notebooks/a.py": "new"}
    )
    assert "| notebooks/a.py | *stale* | 0/1 |" in text


def test_the_make_command_line_parses(monkeypatch):
    """`make robustness NB=... SEEDS="1 2"` expands to this command line (the NB path before --seeds)."""
    import subprocess

    out = subprocess.run(
        ["make", "-s", "-n", "robustness", "NB=notebooks/00_clever_hans.py", "SEEDS=1 2"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (line,) = [x for x in out.splitlines() if "xaihealth.tooling.robustness" in x]  # under `make test` too
    assert line.endswith('-m xaihealth.tooling.robustness notebooks/00_clever_hans.py --seeds "1 2"')
    assert robustness.parse_seeds("1 2") == [1, 2] == robustness.parse_seeds("1,2")
    with pytest.raises(ValueError, match="--seeds='1 x'"):
        robustness.parse_seeds("1 x")


def test_a_notebook_depends_on_the_package_files_it_imports(monkeypatch):
    import xaihealth

    package = Path(xaihealth.__file__).resolve().parent
    names = ("notebooks/06_trust.py", "solutions/06_trust_lab.py", "solutions/03_shap_lime_lab.py")
    lecture, lab, other_lab = (Path(p).resolve() for p in names)
    deps = {p.relative_to(package).as_posix() for p in robustness.dependencies(lecture, package)}
    # direct imports, their parents' __init__, and a lazy import named by a string (xaihealth.data._LAZY)
    assert {"__init__.py", "notebook.py", "data/__init__.py", "data/trust.py", "scorecard.py"} <= deps
    assert not deps & {"serving/app.py", "checks/choosing.py", "guide.py", "instructor/references/trust.py",
                       "instructor/grade.py", "tooling/robustness.py"}
    lab_deps = {p.relative_to(package).as_posix() for p in robustness.dependencies(lab, package)}
    # the checkers' computed import, references("trust"), and the hidden tests the check cells import
    assert {"checks/trust.py", "instructor/references/trust.py", "instructor/hidden/trust.py",
            "instructor/integrity.py"} <= lab_deps
    assert not lab_deps & {"serving/app.py", "instructor/references/shapley.py", "instructor/grade.py"}

    real = Path.read_bytes

    def edited(part: str):
        def read(self):  # an edit to every file whose path contains `part`
            return real(self) + b"# edit" if part in self.as_posix() else real(self)

        return read

    robustness._package_digest.cache_clear()
    notebooks = (lecture, lab, other_lab)
    try:
        before = [robustness._package_digest(nb) for nb in notebooks]
        cases = {"/serving/": (False, False, False), "/instructor/grade.py": (False, False, False),
                 "/references/trust.py": (False, True, False), "/checks/trust.py": (False, True, False),
                 "/data/trust.py": (True, True, True),  # xaihealth.data names every generator (lazy imports)
                 "/notebook.py": (True, True, True)}
        for part, changes in cases.items():
            monkeypatch.setattr(Path, "read_bytes", edited(part))
            robustness._package_digest.cache_clear()
            after = [robustness._package_digest(nb) for nb in notebooks]
            assert tuple(a != b for a, b in zip(after, before, strict=True)) == changes, part
            monkeypatch.setattr(Path, "read_bytes", real)
    finally:
        robustness._package_digest.cache_clear()


def test_imports_resolve_relative_and_lazy_names(tmp_path):
    import ast

    package = tmp_path / "xaihealth"
    (package / "a").mkdir(parents=True)
    files = {"__init__.py": "", "a/__init__.py": "from .b import f\n", "a/b.py": "from ..c import g\n",
             "c.py": "LAZY = {'h': 'xaihealth.d'}\n", "d.py": "", "e.py": ""}
    for name, text in files.items():
        (package / name).write_text(text)
    (tmp_path / "nb.py").write_text("from xaihealth.a import f\n")
    found = robustness.dependencies(tmp_path / "nb.py", package)
    deps = {p.relative_to(package).as_posix() for p in found}
    assert deps == {"__init__.py", "a/__init__.py", "a/b.py", "c.py", "d.py"}  # not e.py
    (tmp_path / "bad.py").write_text("def (:\n")
    assert len(robustness.dependencies(tmp_path / "bad.py", package)) == 6  # unreadable: everything
    assert robustness._imports(ast.parse("from . import x"), "xaihealth.a.b", False) == {"xaihealth.a",
                                                                                        "xaihealth.a.x"}


def _add_many(path: str, prefix: str, n: int) -> None:
    for i in range(n):
        robustness.add_result(f"{prefix}|{i}", {"status": "pass", "seconds": 1.0}, Path(path))


def test_two_runs_at_once_keep_each_others_results(tmp_path):
    """Two `make robustness NB=...` at once: every result of both is stored (re-read under a file lock)."""
    import multiprocessing

    path = tmp_path / "robustness.json"
    robustness.save_results({"old|1": {"status": "pass", "seconds": 2.0}}, 12.5, path)
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_add_many, args=(str(path), name, 25)) for name in ("a", "b")]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    results, wall = robustness.load_results(path)
    assert set(results) == {"old|1"} | {f"{p}|{i}" for p in "ab" for i in range(25)} and wall == 12.5
