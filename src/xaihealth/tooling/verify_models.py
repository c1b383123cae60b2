"""Retrain every shipped checkpoint in a scratch folder and compare with the manifest (make verify-models).

Each ``scripts/train_*.py`` is run in full with ``--out <scratch>``; every metric it records must match the
shipped manifest within ``--tolerance`` (default 0.02: absolute for scores up to 1, relative above).
Identical sha256 (bit-for-bit reproduction) is reported but not required: thread scheduling may change the
last bits of a float sum.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from xaihealth.checkpoints import models_dir, read_manifest


def compare(shipped: dict, fresh: dict, tolerance: float) -> list[str]:
    """Human-readable problems; empty when every fresh metric matches the shipped one."""
    problems = []
    for name, entry in fresh.items():
        if name not in shipped:
            problems.append(f"{name}: trained but not in the shipped manifest")
            continue
        for metric, value in entry["metrics"].items():
            old = shipped[name]["metrics"].get(metric)
            # absolute for scores in [0, 1] (AUC, accuracy), relative for metrics in units (e.g. ms)
            if old is None or abs(old - value) > tolerance * max(1.0, abs(old)):
                problems.append(f"{name}.{metric}: shipped {old}, retrained {value} (tolerance {tolerance})")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tolerance", type=float, default=0.02)
    parser.add_argument("scripts", nargs="*", type=Path)
    args = parser.parse_args(argv)
    scripts = args.scripts or sorted(Path("scripts").glob("train_*.py"))
    shipped = read_manifest(models_dir())
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="xaihealth-models-") as scratch:
        for script in scripts:
            print(f"retraining with {script} ...", flush=True)
            subprocess.run([sys.executable, str(script), "--out", scratch], check=True)
        fresh = read_manifest(Path(scratch))
        problems = compare(shipped, fresh, args.tolerance)
        for name, entry in sorted(fresh.items()):
            same = shipped.get(name, {}).get("sha256") == entry["sha256"]
            print(f"{name}: metrics {entry['metrics']} | bit-identical to the shipped file: {same}")
    for problem in problems:
        print("MISMATCH", problem)
    print("all shipped metrics reproduced" if not problems else f"{len(problems)} mismatch(es)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
