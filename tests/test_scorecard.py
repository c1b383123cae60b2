"""The scorecard: rows are validated, verdicts are computed right, and the committed verdicts do not drift."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import ROOT

from xaihealth import scorecard as sc

COMMITTED_JSON = ROOT / "benchmarks" / "scorecard.json"
COMMITTED_MD = ROOT / "benchmarks" / "scorecard.md"


def _row(**changes):
    args = dict(
        module="03",
        method="TreeSHAP",
        data="cohort",
        truth="exact Shapley",
        metric="error",
        score=0.1,
        interval=(0.05, 0.2),
        baselines={"random": 1.0},
        higher_is_better=False,
    )
    args.update(changes)
    return sc.make_row(**args)


@pytest.mark.parametrize(
    "changes, match",
    [
        ({"interval": (0.2, 0.3)}, "must contain the score"),
        ({"interval": (0.3, 0.05)}, "low must not exceed high"),
        ({"interval": 0.1}, "interval=0.1 must be a \\(low, high\\) pair"),
        ({"baselines": {}}, "at least one null"),
        ({"baselines": {"random": (1.0, 2.0)}}, "must be a value or \\(value, low, high\\)"),
        ({"baselines": {"random": (1.0, 1.5, 2.0)}}, "must contain the score"),
        ({"score": float("nan")}, "score=nan"),
        ({"score": float("inf")}, "finite"),
        ({"method": " "}, "method=' ' must be a non-empty string"),
    ],
)
def test_bad_rows_are_refused_naming_the_parameter(changes, match):
    with pytest.raises((ValueError, TypeError), match=match):
        _row(**changes)


def test_verdict_needs_the_whole_interval_beyond_every_null():
    assert _row().verdict == sc.BEATS  # error interval [0.05, 0.2] below the random null 1.0
    assert _row(baselines={"random": 1.0, "image itself": 0.15}).verdict == sc.DOES_NOT  # inside the CI
    assert _row(baselines={"random": (0.3, 0.19, 0.5)}).verdict == sc.DOES_NOT  # the null's CI overlaps
    assert _row(baselines={"random": (0.3, 0.21, 0.5)}).verdict == sc.BEATS
    up = dict(higher_is_better=True, score=0.8, interval=(0.7, 0.9))
    assert _row(**up, baselines={"control task": 0.5}).verdict == sc.BEATS
    assert _row(**up, baselines={"control task": 0.7}).verdict == sc.DOES_NOT  # strictly beyond


def test_record_writes_only_when_asked(tmp_path, monkeypatch):
    target = tmp_path / "rows.jsonl"
    monkeypatch.delenv(sc.ENV, raising=False)
    sc.record(
        module="03",
        method="m",
        data="d",
        truth="t",
        metric="x",
        score=1.0,
        interval=(0.5, 2.0),
        baselines={"null": 0.0},
    )
    assert not target.exists()
    monkeypatch.setenv(sc.ENV, str(target))
    sc.record(
        module="03",
        method="m",
        data="d",
        truth="t",
        metric="x",
        score=1.0,
        interval=(0.5, 2.0),
        baselines={"null": (0.0, -0.1, 0.1)},
    )
    (row,) = sc.read_rows(target)
    assert row.verdict == sc.BEATS and row.baselines[0] == sc.Baseline("null", 0.0, -0.1, 0.1)


def test_json_round_trip_and_markdown(tmp_path):
    rows = [_row(), _row(method="KernelSHAP", baselines={"random": 0.15})]
    path = tmp_path / "s.json"
    path.write_text(sc.to_json(rows))
    assert sorted(r.key for r in sc.load_json(path)) == sorted(r.key for r in rows)
    assert [r.verdict for r in sc.load_json(path)] == [sc.DOES_NOT, sc.BEATS]  # sorted by key
    md = sc.markdown(rows)
    assert "**does not beat every null**" in md and "| 0.1 [0.05, 0.2] |" in md and "random: 0.15" in md


def test_damaged_files_name_the_file(tmp_path):
    bad = tmp_path / "s.json"
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="s.json: not a scorecard JSON"):
        sc.load_json(bad)
    lines = tmp_path / "rows.jsonl"
    lines.write_text('{"module": "03"}\n')
    with pytest.raises(ValueError, match="rows.jsonl, line 1"):
        sc.read_rows(lines)


def test_paired_nulls_decide_by_the_interval_of_the_difference():
    up = dict(higher_is_better=True, score=0.62, interval=(0.5556, 0.689))
    # unpaired, the intervals overlap; paired, the per-case difference is clearly positive
    assert _row(**up, baselines={"global ranking": (0.5, 0.444, 0.5558)}).verdict == sc.DOES_NOT
    paired = {"global ranking": {"score": 0.5, "interval": (0.444, 0.5558), "paired": (0.044, 0.2)}}
    assert _row(**up, baselines=paired).verdict == sc.BEATS
    paired["global ranking"]["paired"] = (-0.01, 0.19)
    assert _row(**up, baselines=paired).verdict == sc.DOES_NOT
    down = {"random": {"score": 1.0, "paired": (-0.9, -0.8)}}
    assert _row(baselines=down).verdict == sc.BEATS
    with pytest.raises(ValueError, match="must have the keys 'score' and 'paired'"):
        _row(baselines={"random": {"score": 1.0}})


def test_paired_difference_is_the_bootstrap_of_the_same_cases():
    import numpy as np

    rng = np.random.default_rng(0)
    null = rng.normal(0, 1, 40)
    method = null + 0.3 + rng.normal(0, 0.05, 40)  # better on every case, by a little
    low, high = sc.paired_difference(method, null, seed=0)
    assert 0.25 < low < 0.3 < high < 0.35
    assert sc.paired_difference(null + 1, null, seed=0) == (1.0, 1.0)
    with pytest.raises(ValueError, match="same length"):
        sc.paired_difference(method, null[:5], seed=0)


def test_markdown_shows_the_verdict_on_fresh_draws():
    row = _row()
    on_seeds = {row.key: {"1": sc.BEATS, "2": sc.DOES_NOT, "3": None}}
    md = sc.markdown([row], on_seeds)
    assert md.rstrip().endswith("| 1/3 (differs: seed 2) (not recorded: seed 3) |")


def test_committed_scorecard_is_complete_and_consistent():
    rows, on_seeds = sc.load_json_with_seeds(COMMITTED_JSON)
    assert rows, "benchmarks/scorecard.json has no rows: run `make scorecard`"
    assert COMMITTED_MD.read_text(encoding="utf-8") == sc.markdown(rows, on_seeds), (
        "scorecard .md, .json differ"
    )
    keys = [r.key for r in rows]
    assert len(keys) == len(set(keys))
    for r in rows:
        assert r.baselines, f"{r.key}: a row needs at least one null baseline"
        assert r.low <= r.score <= r.high and r.notebook.startswith("notebooks/"), r.key
    stored = json.loads(COMMITTED_JSON.read_text())["rows"]
    assert [d["verdict"] for d in stored] == [r.verdict for r in rows], "stored verdicts are not recomputed"


def test_record_validates_inside_a_notebook_kernel_environment():
    """The call a notebook makes works in a plain interpreter with the variable unset (nothing written)."""
    env = {k: v for k, v in os.environ.items() if k != sc.ENV}
    code = (
        "from xaihealth.scorecard import record; record(module='01', method='EBM', data='d', truth='t', "
        "metric='R2', score=0.9, interval=(0.8, 0.95), baselines={'linear': 0.5}); print('ok')"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "ok"


@pytest.mark.after_notebooks
def test_verdicts_of_this_run_match_the_committed_scorecard(request):
    """The notebooks nbval executed in this session recorded rows; each verdict must be the committed one."""
    from conftest import SCORECARD_ROWS

    executed = {
        Path(str(item.fspath)).with_suffix(".py").relative_to(ROOT).as_posix()
        for item in request.session.items
        if str(item.fspath).endswith(".ipynb") and "/notebooks/" in str(item.fspath)
    }
    committed = {r.key: r for r in sc.load_json(COMMITTED_JSON)}
    expected = {k for k, r in committed.items() if r.notebook in executed}
    if not expected:
        pytest.skip("no lecture notebook that records scorecard rows was executed in this session")
    seen = sc.read_rows(SCORECARD_ROWS) if SCORECARD_ROWS.exists() else []
    fresh = {r.key: r for r in seen}
    repeated = sorted({r.key for r in seen if [x.key for x in seen].count(r.key) > 1})
    assert not repeated, f"rows recorded twice in one run (two rows share a key): {repeated}"
    missing = sorted(expected - set(fresh))
    assert not missing, f"rows no longer recorded (a notebook failed or a row was removed): {missing}"
    unknown = sorted(k for k in fresh if k not in committed)
    assert not unknown, f"rows not in benchmarks/scorecard.json: {unknown}; run `make scorecard` and commit"
    changed = [
        f"{k}: {committed[k].verdict} -> {fresh[k].verdict}"
        for k in sorted(fresh)
        if fresh[k].verdict != committed[k].verdict
    ]
    moved = [
        f"{k}: {fresh[k].score:.4g} outside the committed [{committed[k].low:.4g}, {committed[k].high:.4g}]"
        for k in sorted(fresh)
        if not committed[k].low <= fresh[k].score <= committed[k].high
    ]
    assert not moved, "scores left their committed intervals (run `make scorecard`): " + "; ".join(moved)
    assert not changed, (
        "scorecard verdicts changed (say why in the change, then `make scorecard`): " + "; ".join(changed)
    )
