"""Build the scorecard (``make scorecard``) -> ``benchmarks/scorecard.md`` and ``benchmarks/scorecard.json``.

Executes every lecture notebook that records rows (a call to ``record(`` in its source) in a fresh
kernel with base seed 0 and ``XAIHEALTH_SCORECARD`` pointing at a scratch file, then writes the rows
the notebooks recorded: the numbers are the notebooks' own, computed by the code the students read. A
notebook that fails on seed 0, or records no row, stops the build.

Then the same notebooks run on fresh draws (base seeds 1..5 by default, ``--seeds``), every cell executed
even after a failing assert, and each row shows on how many draws its verdict is the same. A row a
notebook did not record on some seed (it sat after a cell that failed on that draw) is counted apart.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from xaihealth import scorecard
from xaihealth.tooling.execute import Outcome, execute
from xaihealth.tooling.robustness import DEFAULT_SEEDS, parse_seeds

MARKDOWN = Path("benchmarks/scorecard.md")
JSON = Path("benchmarks/scorecard.json")


def recording_notebooks(root: Path = Path(".")) -> list[Path]:
    """The lecture sources that record scorecard rows."""
    return [p for p in sorted((root / "notebooks").glob("[0-9]*.py")) if "record(" in p.read_text("utf-8")]


def collect(
    paths: list[Path], seed: int = 0, jobs: int = 2, allow_errors: bool = False
) -> tuple[dict[Path, list[scorecard.Row]], dict[Path, Outcome]]:
    """Execute ``paths`` with base seed ``seed``, the scorecard on; return each notebook's rows, outcome."""
    scratch = Path(tempfile.mkdtemp(prefix="xaihealth-scorecard-"))

    def run(path: Path) -> Outcome:
        env = {
            scorecard.ENV: str(scratch / f"{path.stem}.jsonl"),
            "XAIHEALTH_SEED": str(seed),
            "XAIHEALTH_NOTEBOOK": path.as_posix(),
        }
        return execute(path, env=env, allow_errors=allow_errors)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        outcomes = dict(zip(paths, pool.map(run, paths), strict=True))
    rows = {}
    for path in paths:
        file = scratch / f"{path.stem}.jsonl"
        rows[path] = scorecard.read_rows(file) if file.exists() else []
    return rows, outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seeds", default=" ".join(map(str, DEFAULT_SEEDS)), help="fresh draws; '' for none")
    args = parser.parse_args(argv)
    seeds = parse_seeds(args.seeds, parser) if args.seeds.strip() else []
    paths = recording_notebooks()
    by_notebook, outcomes = collect(paths, 0, args.jobs)
    for path, outcome in outcomes.items():
        print(
            f"{path} (seed 0): {outcome.summary()} ({outcome.seconds:.0f} s), {len(by_notebook[path])} rows"
        )
    failed = [p for p, o in outcomes.items() if o.status != "pass" or not by_notebook[p]]
    if failed:
        print(
            f"scorecard not written: {', '.join(map(str, failed))} failed or recorded no row", file=sys.stderr
        )
        return 1
    rows = [row for path in paths for row in by_notebook[path]]
    wrong = [f"{r.key} (from {p})" for p in paths for r in by_notebook[p] if r.notebook != p.as_posix()]
    keys = [r.key for r in rows]
    if len(set(keys)) != len(keys) or wrong:
        print(
            f"scorecard not written: duplicate row keys or rows of another notebook {wrong}", file=sys.stderr
        )
        return 1
    on_seeds: dict[str, dict[str, str | None]] = {k: {} for k in keys}
    for seed in seeds:
        fresh, fresh_outcomes = collect(paths, seed, args.jobs, allow_errors=True)
        verdicts = {r.key: r.verdict for path in paths for r in fresh[path]}
        for k in keys:
            on_seeds[k][str(seed)] = verdicts.get(k)
        for path, outcome in fresh_outcomes.items():
            print(f"{path} (seed {seed}): {outcome.summary(100)}; {len(fresh[path])} rows")
    MARKDOWN.parent.mkdir(exist_ok=True)
    MARKDOWN.write_text(scorecard.markdown(rows, on_seeds), encoding="utf-8")
    JSON.write_text(scorecard.to_json(rows, on_seeds), encoding="utf-8")
    beats = sum(r.verdict == scorecard.BEATS for r in rows)
    print(f"wrote {MARKDOWN} and {JSON}: {len(rows)} rows, {beats} beat every null")
    return 0


if __name__ == "__main__":
    sys.exit(main())
