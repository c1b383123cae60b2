"""Measure the synthetic data generators' speed (part of ``make bench``) -> ``benchmarks/generators.md``.

Each generator is called once to warm up, then ``--repeat`` times on a fixed size; the table reports the
median items per second and the target from the design (issue 3): ECGs ≥ 200/s and radiographs ≥ 1,000/s
on 2 cores.
"""

from __future__ import annotations

import argparse
import importlib
import os
import statistics
import sys
import time
from pathlib import Path

# name, module, function, items per call, target items/s (None: no stated target), unit
GENERATORS = [
    ("cardiovascular cohort", "xaihealth.data.cohort", "make_cardio_cohort", 100_000, None, "rows"),
    ("ECGs (10 s, 250 Hz)", "xaihealth.data.ecg", "make_ecgs", 1_000, 200, "ECGs"),
    ("chest radiographs (64×64)", "xaihealth.data.cxr", "make_chest_xrays", 5_000, 1_000, "images"),
    ("clinical notes", "xaihealth.data.notes", "make_notes", 20_000, None, "notes"),
    (
        "trust cohort (patients, 1-5 records each)",
        "xaihealth.data.trust",
        "make_trust_cohort",
        20_000,
        None,
        "patients",
    ),
]


def items_per_second(function, n: int, repeat: int) -> float:
    function(min(n, 100), seed=0)  # warm-up: imports, caches
    times = []
    for i in range(repeat):
        start = time.perf_counter()
        function(n, seed=i + 1)
        times.append(time.perf_counter() - start)
    return n / statistics.median(times)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/generators.md"))
    args = parser.parse_args(argv)
    lines = [
        "# Generator benchmark",
        "",
        f"Made by `make bench` on {os.cpu_count()} CPU cores: median of {args.repeat} calls after a warm-up.",
        "",
        "| generator | items per call | items/s | target | meets target |",
        "|---|---:|---:|---:|---|",
    ]
    failed = False
    for name, module, function, n, target, unit in GENERATORS:
        try:
            generator = getattr(importlib.import_module(module), function)
        except (ImportError, AttributeError) as err:
            lines.append(f"| {name} | — | not available ({err}) | | |")
            continue
        rate = items_per_second(generator, n, args.repeat)
        ok = "—" if target is None else ("yes" if rate >= target else "**NO**")
        failed |= ok == "**NO**"
        tgt = "" if target is None else f"{target:,} {unit}/s"
        lines.append(f"| {name} | {n:,} | {rate:,.0f} {unit}/s | {tgt} | {ok} |")
        print(f"{name}: {rate:,.0f} {unit}/s", flush=True)
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("wrote", args.out)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
