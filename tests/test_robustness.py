"""Base seeds and `make robustness`: one seed per notebook, overridable, failures reported as the assert."""

import json

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
