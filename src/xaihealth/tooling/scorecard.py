"""Build the scorecard (``make scorecard``) -> ``benchmarks/scorecard.md`` and ``benchmarks/scorecard.json``.

Executes every lecture notebook that records rows (a call to ``record(`` in its source) in a fresh
kernel with base seed 0 and ``XAIHEALTH_SCORECARD`` pointing at a scratch file, then writes the rows
the notebooks recorded: the numbers are the notebooks' own, computed by the code the students read. A
notebook that fails stops the build (its rows would be incomplete).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from xaihealth import scorecard
from xaihealth.tooling.execute import Outcome, execute

MARKDOWN = Path("benchmarks/scorecard.md")
JSON = Path("benchmarks/scorecard.json")


def recording_notebooks(root: Path = Path(".")) -> list[Path]:
    """The lecture sources that record scorecard rows."""
    return [p for p in sorted((root / "notebooks").glob("[0-9]*.py")) if "record(" in p.read_text("utf-8")]


def collect(paths: list[Path], jobs: int = 2) -> tuple[list[scorecard.Row], dict[Path, Outcome]]:
    """Execute ``paths`` with the scorecard switched on; return the rows and each notebook's outcome."""
    scratch = Path(tempfile.mkdtemp(prefix="xaihealth-scorecard-"))

    def run(path: Path) -> Outcome:
        env = {
            scorecard.ENV: str(scratch / f"{path.stem}.jsonl"),
            "XAIHEALTH_SEED": "0",
            "XAIHEALTH_NOTEBOOK": path.as_posix(),
        }
        return execute(path, env=env)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        outcomes = dict(zip(paths, pool.map(run, paths), strict=True))
    rows = [row for file in sorted(scratch.glob("*.jsonl")) for row in scorecard.read_rows(file)]
    return rows, outcomes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args(argv)
    paths = recording_notebooks()
    rows, outcomes = collect(paths, args.jobs)
    failed = {p: o for p, o in outcomes.items() if o.status != "pass"}
    for path, outcome in outcomes.items():
        print(f"{path}: {outcome.summary()} ({outcome.seconds:.0f} s)")
    if failed:
        print("scorecard not written: a notebook failed", file=sys.stderr)
        return 1
    keys = [r.key for r in rows]
    if len(set(keys)) != len(keys):
        print(
            "scorecard not written: two rows share a key (module · method · data · metric)", file=sys.stderr
        )
        return 1
    MARKDOWN.parent.mkdir(exist_ok=True)
    MARKDOWN.write_text(scorecard.markdown(rows), encoding="utf-8")
    JSON.write_text(scorecard.to_json(rows), encoding="utf-8")
    beats = sum(r.verdict == scorecard.BEATS for r in rows)
    print(f"wrote {MARKDOWN} and {JSON}: {len(rows)} rows, {beats} beat every null")
    return 0


if __name__ == "__main__":
    sys.exit(main())
