"""Re-run every lecture and solution notebook on fresh draws (``make robustness``).

Each notebook is executed in a fresh kernel once per base seed (``XAIHEALTH_SEED`` = 1..5 by default; see
:mod:`xaihealth.notebook`): every random draw changes, the shipped checkpoints do not. A claim a notebook
asserts should hold for every seed; the table ``benchmarks/robustness.md`` shows, for each notebook and
seed, ``pass`` or the first failing assert with its message, and the wall time.

Results are kept in ``benchmarks/robustness.json`` with the sha256 of each notebook's source, so a run is
resumable: a (notebook, seed) whose source did not change since its last result is not run again, unless
``--force`` is given or the notebook is named on the command line (``make robustness
NB=notebooks/04_gradients.py``). Two notebooks run at a time (one per core; each notebook uses one
thread). Timings on a shared machine are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from xaihealth.tooling.execute import Outcome, execute

DEFAULT_SEEDS = (1, 2, 3, 4, 5)
RESULTS = Path("benchmarks/robustness.json")
TABLE = Path("benchmarks/robustness.md")
BUDGET_SECONDS = 40 * 60


def notebook_sources(root: Path = Path(".")) -> list[Path]:
    """Every lecture and solution source (``notebooks/NN_*.py``, ``solutions/NN_*.py``), in course order."""
    return sorted((root / "notebooks").glob("[0-9]*.py")) + sorted((root / "solutions").glob("[0-9]*.py"))


def _package_digest() -> bytes:
    """A digest of what a notebook's result also depends on: the package's code and the model manifest."""
    import xaihealth

    package = Path(xaihealth.__file__).parent
    digest = hashlib.sha256()
    for file in sorted(package.rglob("*.py")) + [package.parents[1] / "datasets/models/manifest.json"]:
        if file.exists():
            digest.update(file.relative_to(package.parents[1]).as_posix().encode() + file.read_bytes())
    return digest.digest()


def source_hash(path: Path) -> str:
    """Identifies what a stored result was computed from: the notebook source, the package, the manifest."""
    return hashlib.sha256(Path(path).read_bytes() + _package_digest()).hexdigest()


def run_one(path: Path, seed: int) -> dict[str, object]:
    """Execute ``path`` with base seed ``seed`` in a separate process (its own kernel); return the result."""
    out = subprocess.run(
        [sys.executable, "-m", "xaihealth.tooling.robustness", "--one", str(path), "--seed", str(seed)],
        capture_output=True,
        text=True,
        check=False,
    )
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        outcome = Outcome("fail", 0.0, None, "RunnerError", (out.stderr or out.stdout).strip()[-300:], "")
        return outcome.to_dict()
    return json.loads(lines[-1])


def load_results(path: Path = RESULTS) -> tuple[dict[str, dict[str, object]], float | None]:
    """The stored results ``{"<notebook>|<seed>": result}`` and the wall time of the last full run."""
    if not path.exists():
        return {}, None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return dict(data["results"]), data.get("wall_seconds")
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{path}: not a robustness results file ({err}); delete it to start afresh") from err


_LOCK = threading.Lock()


def save_results(results: dict[str, dict[str, object]], wall: float | None, path: Path = RESULTS) -> None:
    """Write the results atomically (a temporary file, then a rename)."""
    with _LOCK:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".json.tmp")
        text = json.dumps({"results": results, "wall_seconds": wall}, indent=1, sort_keys=True) + "\n"
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)


def key(path: Path | str, seed: int) -> str:
    return f"{Path(path).as_posix()}|{seed}"


def table(
    results: dict[str, dict[str, object]], seeds: list[int], notebooks: list[str], wall: float | None
) -> str:
    """The markdown table: notebook × seed → pass / FAIL (numbered), then the failures in full."""
    lines = [
        "# Robustness: every notebook on fresh draws",
        "",
        "Made by `make robustness`: each lecture and solution notebook executed in a fresh kernel with base "
        f"seed `XAIHEALTH_SEED` = {', '.join(map(str, seeds))} (seed 0 is the committed run that nbval "
        "checks). Every random draw (evaluation data, splits, samplers, models fitted in the notebook) "
        "changes with the seed; the shipped checkpoints do not. A cell shows `pass` or the number of the "
        f"failure listed below, and the wall time. Machine: {os.cpu_count()} cores, Python "
        f"{platform.python_version()}; two notebooks run at a time.",
        "",
        "| notebook | " + " | ".join(f"seed {s}" for s in seeds) + " | passes |",
        "|---|" + "---|" * len(seeds) + "---:|",
    ]
    failures: list[tuple[int, str, int, dict[str, object]]] = []
    for name in notebooks:
        cells, passes = [], 0
        for seed in seeds:
            res = results.get(key(name, seed))
            if res is None:
                cells.append("not run")
                continue
            if res["status"] == "pass":
                passes += 1
                cells.append(f"pass ({res['seconds']:.0f} s)")
            else:
                failures.append((len(failures) + 1, name, seed, res))
                cells.append(f"**FAIL {len(failures)}** ({res['seconds']:.0f} s)")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {passes}/{len(seeds)} |")
    runs = [results[key(n, s)] for n in notebooks for s in seeds if key(n, s) in results]
    total = sum(float(r["seconds"]) for r in runs)
    lines += ["", f"Notebook time, summed over {len(runs)} runs: {total / 60:.1f} min."]
    if wall is not None:
        lines.append(
            f"Wall time of this run (two at a time, including kernel start-up): {wall / 60:.1f} min "
            f"(budget {BUDGET_SECONDS // 60} min)."
        )
    lines += ["", "## Failures", ""]
    if not failures:
        lines.append("None: every assert held for every seed.")
    for number, name, seed, res in failures:
        outcome = Outcome(**res) if "status" in res else None
        text = outcome.summary(width=400) if outcome else str(res)
        lines.append(f"{number}. `{name}`, seed {seed}: {text}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="sources to (re-)run; default: all, resumable"
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=list(DEFAULT_SEEDS))
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at a time")
    parser.add_argument("--force", action="store_true", help="re-run results that are still current")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        outcome = execute(args.one, env={"XAIHEALTH_SEED": str(args.seed)})
        print(json.dumps(outcome.to_dict()))
        return 0
    for seed in args.seeds:
        if seed < 0:
            parser.error(f"--seeds: {seed} is negative; base seeds are integers from 0")
    named = [Path(p) for p in args.notebooks]
    for path in named:
        if not path.exists() or path.suffix != ".py":
            parser.error(f"{path}: give the .py source of a notebook, e.g. notebooks/04_gradients.py")
    everything = notebook_sources()
    results, wall = load_results()
    todo = [
        (p, s)
        for p in (named or everything)
        for s in args.seeds
        if named or args.force or results.get(key(p, s), {}).get("source_sha256") != source_hash(p)
    ]
    print(f"{len(todo)} runs to do ({len(args.seeds)} seeds); {args.jobs} at a time", flush=True)
    start = time.perf_counter()

    def work(job: tuple[Path, int]) -> None:
        path, seed = job
        res = run_one(path, seed)
        res["source_sha256"] = source_hash(path)
        with _LOCK:
            results[key(path, seed)] = res
        save_results(dict(results), wall)  # after every run: an interrupted run resumes where it stopped
        outcome = Outcome(**{k: v for k, v in res.items() if k != "source_sha256"})
        print(f"{path} seed {seed}: {outcome.summary()} ({outcome.seconds:.0f} s)", flush=True)

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(work, todo))
    if not named and len(todo) == len(everything) * len(args.seeds):  # a complete run: its wall time counts
        wall = time.perf_counter() - start
        save_results(results, wall)
    clean = {k: {f: v for f, v in r.items() if f != "source_sha256"} for k, r in results.items()}
    TABLE.write_text(table(clean, args.seeds, [p.as_posix() for p in everything], wall), encoding="utf-8")
    print("wrote", TABLE, "and", RESULTS)
    return 0


if __name__ == "__main__":
    sys.exit(main())
