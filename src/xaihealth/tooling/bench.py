"""Measure every lecture and solution notebook against the budgets (``make bench``).

Each notebook is executed in a fresh kernel, in a fresh worker process; the worker reports the wall time
and the peak resident memory of the kernel (its only child process). The table goes to
``benchmarks/notebooks.md``. Budgets (DESIGN §9): ≤ 60 s and ≤ 1.25 GB per notebook on 2 cores, ≤ 10 min
for all of them. Timings on a shared machine are noisy: compare within one run, and re-run with
``--repeat 3`` to quote medians.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SECONDS_BUDGET = 60.0
MB_BUDGET = 1250.0  # 1.25 GB, MB = 10**6 bytes (DESIGN §9)
TOTAL_BUDGET = 600.0


def run_one(path: Path) -> dict[str, float]:
    """Execute one notebook in a fresh kernel; return seconds and the kernel's peak MB."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    NotebookClient(
        nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {"seconds": seconds, "peak_mb": peak_kb * 1024 / 1e6}  # ru_maxrss is in KiB on Linux


def measure(path: Path) -> dict[str, float]:
    env = dict(os.environ, TQDM_DISABLE="1", HF_HUB_OFFLINE="1", XAIHEALTH_OFFLINE="1")
    out = subprocess.run(
        [sys.executable, "-m", "xaihealth.tooling.bench", "--one", str(path)],
        check=True,
        capture_output=True,
        text=True,
        env=env,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def table(rows: list[tuple[str, float, float]], repeat: int) -> str:
    total = sum(r[1] for r in rows)
    lines = [
        "# Notebook benchmark",
        "",
        f"Made by `make bench` (median of {repeat} run(s), each notebook in a fresh kernel) on "
        f"{os.cpu_count()} CPU cores, Python {platform.python_version()}.",
        f"Budgets: ≤ {SECONDS_BUDGET:.0f} s and ≤ {MB_BUDGET:.0f} MB per notebook, "
        f"≤ {TOTAL_BUDGET:.0f} s in all.",
        "",
        "| notebook | seconds | peak MB | within budget |",
        "|---|---:|---:|---|",
    ]
    for name, seconds, mb in rows:
        ok = "yes" if seconds <= SECONDS_BUDGET and mb <= MB_BUDGET else "**NO**"
        lines.append(f"| {name} | {seconds:.1f} | {mb:.0f} | {ok} |")
    lines.append(f"| **all notebooks** | {total:.1f} | | {'yes' if total <= TOTAL_BUDGET else '**NO**'} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/notebooks.md"))
    parser.add_argument("notebooks", nargs="*", type=Path)
    args = parser.parse_args(argv)
    if args.one:
        print(json.dumps(run_one(args.one)))
        return 0
    paths = args.notebooks or sorted(Path("notebooks").glob("[0-9]*.ipynb")) + sorted(
        Path("solutions").glob("[0-9]*.ipynb")
    )
    rows = []
    for path in paths:
        runs = [measure(path) for _ in range(args.repeat)]
        seconds = statistics.median(r["seconds"] for r in runs)
        mb = statistics.median(r["peak_mb"] for r in runs)
        print(f"{path}: {seconds:.1f} s, {mb:.0f} MB", flush=True)
        rows.append((str(path), seconds, mb))
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(table(rows, args.repeat), encoding="utf-8")
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
