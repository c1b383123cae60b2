"""Re-run every lecture and solution notebook on fresh draws (``make robustness``).

Each notebook is executed in a fresh kernel once per base seed (``XAIHEALTH_SEED`` = 1..5 by default; see
:mod:`xaihealth.notebook`): every random draw changes, the shipped checkpoints do not. A claim a notebook
asserts should hold for every seed; the table ``benchmarks/robustness.md`` shows, for each notebook and
seed, ``pass`` or the first failing assert with its message, and the wall time.

Results are kept in ``benchmarks/robustness.json`` with the sha256 of each notebook's source and of the
package files it imports (:func:`dependencies`), so a run is resumable: a (notebook, seed) whose source and
dependencies did not change since its last result is not run again, unless ``--force`` is given or the
notebook is named on the command line (``make robustness NB=notebooks/04_gradients.py``). Two notebooks
run at a time (one per core; each notebook uses one
thread). Timings on a shared machine are noisy: compare within one run.
"""

from __future__ import annotations

import argparse
import ast
import fcntl
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path

from xaihealth.tooling.execute import Outcome, execute

DEFAULT_SEEDS = (1, 2, 3, 4, 5)
RESULTS = Path("benchmarks/robustness.json")
TABLE = Path("benchmarks/robustness.md")
BUDGET_SECONDS = 40 * 60


def notebook_sources(root: Path = Path(".")) -> list[Path]:
    """Every lecture and solution source (``notebooks/NN_*.py``, ``solutions/NN_*.py``), in course order."""
    return sorted((root / "notebooks").glob("[0-9]*.py")) + sorted((root / "solutions").glob("[0-9]*.py"))


# A notebook's results depend on the package modules it imports, directly or through them, which
# :func:`dependencies` reads from the code. The one computed import, a checks module's
# ``references("<m>")`` (and the hidden tests' ``hidden_references("<m>")``), is read as an import of
# ``xaihealth.instructor.references.<m>``. So an edit to the serving code or to another module's checkers
# leaves a notebook's stored results valid; an edit to anything it runs does not.
_MODULE_NAME = re.compile(r"^xaihealth(\.[A-Za-z_]\w*)+$")
_ACCESSORS = {"references", "hidden_references"}  # name("<m>") reaches xaihealth.instructor.references.<m>


def _module_file(package: Path, name: str) -> Path | None:
    """The file of module ``name`` (``xaihealth.a.b``) under ``package`` (the xaihealth folder), or None."""
    parts = name.split(".")[1:]
    for candidate in (package.joinpath(*parts).with_suffix(".py"), package.joinpath(*parts, "__init__.py")):
        if parts and candidate.is_file():
            return candidate
    return package / "__init__.py" if not parts else None


def _imports(tree: ast.AST, module: str | None, is_package: bool) -> set[str]:
    """The ``xaihealth`` module names a parsed file imports, or names in a string literal (a lazy import).

    ``from xaihealth.data import make_x`` yields ``xaihealth.data`` and ``xaihealth.data.make_x`` (a name
    that is a submodule is kept by the caller); relative imports are resolved against ``module``.
    """
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level and module:
                anchor = module.split(".") if is_package else module.split(".")[:-1]
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            if _MODULE_NAME.match(node.value):
                names.add(node.value)
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            called = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", None)
            if called in _ACCESSORS and isinstance(node.args[0].value, str):
                names.add(f"xaihealth.instructor.references.{node.args[0].value}")
    return {n for n in names if n == "xaihealth" or n.startswith("xaihealth.")}


def dependencies(source: Path, package: Path) -> list[Path]:
    """The package files a notebook source imports, directly or through other package modules.

    Every parent package's ``__init__.py`` counts (importing ``xaihealth.a.b`` runs ``xaihealth.a``). A file
    that does not parse makes the whole package the answer (never fewer files than the truth).
    """
    every = sorted(package.rglob("*.py"))
    try:
        todo = [(None, False, ast.parse(Path(source).read_text(encoding="utf-8")))]
    except SyntaxError:
        return every
    found: set[Path] = set()
    while todo:
        module, is_package, tree = todo.pop()
        for name in _imports(tree, module, is_package):
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                file = _module_file(package, ".".join(parts[:depth]))
                if file is None or file in found:
                    continue
                found.add(file)
                try:
                    tree = ast.parse(file.read_bytes())
                except SyntaxError:
                    return every
                todo.append((".".join(parts[:depth]), file.name == "__init__.py", tree))
    return sorted(found)


@lru_cache(maxsize=64)
def _package_digest(notebook: Path) -> bytes:
    """A digest of what a notebook's result also depends on: the package files :func:`dependencies` finds,
    the model manifest and the lock."""
    import xaihealth

    package = Path(xaihealth.__file__).resolve().parent
    digest = hashlib.sha256()
    extra = [package.parents[1] / "datasets/models/manifest.json", package.parents[1] / "requirements.txt"]
    for file in dependencies(notebook, package) + extra:
        if file.exists():
            digest.update(file.relative_to(package.parents[1]).as_posix().encode() + file.read_bytes())
    return digest.digest()


def source_hash(path: Path) -> str:
    """Identifies what a stored result was computed from: the notebook, the package, manifest and lock."""
    path = Path(path).resolve()
    return hashlib.sha256(path.read_bytes() + _package_digest(path)).hexdigest()


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
    """Write the results atomically (a temporary file, then a rename); callers in threads hold ``_LOCK``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".json.{os.getpid()}.tmp")
    text = json.dumps({"results": results, "wall_seconds": wall}, indent=1, sort_keys=True) + "\n"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


@contextmanager
def _file_lock(path: Path = RESULTS) -> Iterator[None]:
    """Hold an exclusive lock on ``<results>.lock`` (two robustness runs at once, e.g. two ``NB=``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".json.lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def add_result(name: str, result: dict[str, object], path: Path = RESULTS) -> dict[str, dict[str, object]]:
    """Store one run's result: re-read the file, add it, write it back, under the file lock, so a result
    another run stored meanwhile is kept. Returns the results now stored."""
    with _LOCK, _file_lock(path):
        results, wall = load_results(path)
        results[name] = result
        save_results(results, wall, path)
    return results


def key(path: Path | str, seed: int) -> str:
    return f"{Path(path).as_posix()}|{seed}"


def table(
    results: dict[str, dict[str, object]],
    seeds: list[int],
    notebooks: list[str],
    wall: float | None,
    current: dict[str, str] | None = None,
) -> str:
    """The markdown table: notebook × seed → pass / FAIL (numbered) / stale, then the failures in full.

    ``current`` maps each notebook to the hash of what it is computed from now; a stored result with
    another hash is shown as *stale* (re-run it), never as a pass.
    """
    lines = [
        "# Robustness: every notebook on fresh draws",
        "",
        "Made by `make robustness`: each lecture and solution notebook executed in a fresh kernel with base "
        f"seed `XAIHEALTH_SEED` = {', '.join(map(str, seeds))} (seed 0 is the committed run that nbval "
        "checks). Every random draw (evaluation data, splits, samplers, models fitted in the notebook) "
        "changes with the seed; the shipped checkpoints do not. A cell shows `pass` or the number of the "
        "failure listed below (a notebook stops at its first failing cell: later asserts were not reached), "
        "and the wall time; *stale* marks a result computed from an older notebook, package or lock. "
        f"Machine: {os.cpu_count()} cores, Python {platform.python_version()}; two notebooks run at a time.",
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
            elif current is not None and res.get("source_sha256") != current.get(name):
                cells.append("*stale*")
            elif res["status"] == "pass":
                passes += 1
                cells.append(f"pass ({res['seconds']:.0f} s)")
            else:
                failures.append((len(failures) + 1, name, seed, res))
                cells.append(f"**FAIL {len(failures)}** ({res['seconds']:.0f} s)")
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {passes}/{len(seeds)} |")
    runs = [results[key(n, s)] for n in notebooks for s in seeds if key(n, s) in results]
    total = sum(float(r["seconds"]) for r in runs)
    lines += ["", f"Notebook time, summed over {len(runs)} stored runs: {total / 60:.1f} min."]
    if wall is not None:
        lines.append(
            f"Wall time of the last complete run (two at a time, with kernel start-up): {wall / 60:.1f} min "
            f"(budget {BUDGET_SECONDS // 60} min)."
        )
    lines += ["", "## Failures", ""]
    if not failures:
        lines.append("None: every assert held for every seed.")
    for number, name, seed, res in failures:
        lines.append(f"{number}. `{name}`, seed {seed}: {Outcome.from_dict(res).summary(width=400)}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "notebooks", nargs="*", type=Path, help="sources to (re-)run; default: all, resumable"
    )
    parser.add_argument("--seeds", default=" ".join(map(str, DEFAULT_SEEDS)), help='e.g. "1 2 3" or "1,2,3"')
    parser.add_argument("--jobs", type=int, default=2, help="notebooks executed at a time")
    parser.add_argument("--force", action="store_true", help="re-run results that are still current")
    parser.add_argument("--one", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--seed", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.one:
        outcome = execute(args.one, env={"XAIHEALTH_SEED": str(args.seed)})
        print(json.dumps(outcome.to_dict()))
        return 0
    seeds = parse_seeds(args.seeds, parser)
    root = Path.cwd().resolve()
    named = []
    for path in args.notebooks:
        if not path.exists() or path.suffix != ".py":
            parser.error(f"{path}: give the .py source of a notebook, e.g. notebooks/04_gradients.py")
        try:
            named.append(path.resolve().relative_to(root))
        except ValueError:
            parser.error(f"{path}: run from the repository root and name a notebook inside it")
    everything = notebook_sources()
    current = {p.as_posix(): source_hash(p) for p in everything}
    results, wall = load_results()
    todo = [
        (p, s)
        for p in (named or everything)
        for s in seeds
        if named or args.force or results.get(key(p, s), {}).get("source_sha256") != current[p.as_posix()]
    ]
    print(f"{len(todo)} runs to do ({len(seeds)} seeds); {args.jobs} at a time", flush=True)
    start = time.perf_counter()

    def work(job: tuple[Path, int]) -> None:
        path, seed = job
        digest = current[path.as_posix()]  # what the run is computed from, taken before it starts
        res = run_one(path, seed)
        res["source_sha256"] = digest
        results.update(add_result(key(path, seed), res))  # after every run: an interrupted run resumes
        outcome = Outcome.from_dict(res)
        print(f"{path} seed {seed}: {outcome.summary()} ({outcome.seconds:.0f} s)", flush=True)

    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as pool:
        list(pool.map(work, todo))
    with _LOCK, _file_lock():
        results = load_results()[0]
        if not named and len(todo) == len(everything) * len(seeds):  # a complete run: its wall time counts
            wall = time.perf_counter() - start
            save_results(results, wall)
    TABLE.write_text(table(results, seeds, list(current), wall, current), encoding="utf-8")
    print("wrote", TABLE, "and", RESULTS)
    return 0


def parse_seeds(text: str, parser: argparse.ArgumentParser | None = None) -> list[int]:
    """``"1 2 3"`` or ``"1,2,3"`` -> [1, 2, 3]; each a base seed from 0 to the notebook module's maximum."""
    from xaihealth.notebook import MAX_BASE_SEED

    seeds = []
    for part in text.replace(",", " ").split():
        if not part.isdigit() or int(part) > MAX_BASE_SEED:
            message = f"--seeds={text!r}: {part!r} is not a base seed (an integer from 0 to {MAX_BASE_SEED})"
            if parser is not None:
                parser.error(message)
            raise ValueError(message)
        seeds.append(int(part))
    if not seeds:
        raise ValueError(f"--seeds={text!r}: give at least one base seed")
    return seeds


if __name__ == "__main__":
    sys.exit(main())
