"""``make release``: the student release of the course, a folder and a ``.zip`` of it.

``python -m xaihealth.instructor.release [--out dist/xaihealth-student]``

1. Refuses to build when ``labs/`` is out of date (``python -m xaihealth.tooling.labs --check``).
2. Records the checkers' expected values: every ``solutions/NN_*_lab.py`` is executed in a fresh kernel,
   its hidden-test blocks left out, with ``XAIHEALTH_REFERENCES=record:<dir>``, so each reference call
   of a check cell stores its key, an argument summary and its output (:mod:`xaihealth.checks._reference`).
3. Writes the folder: ``labs/``, ``notebooks/`` (lectures, ``.py`` and executed ``.ipynb``), ``slides/``,
   ``datasets/``, ``etc/``, ``src/xaihealth/`` without ``instructor/`` (references, hidden tests, grading)
   and without ``tooling/`` (the tools that build the course), with ``checks/expected/`` (the recorded
   values and their ``SHA256SUMS``), ``pyproject.toml``, ``requirements.txt``, ``environment.yml``,
   ``postBuild``, ``jupytext.toml``, the licences, ``STUDENT.md`` (install and start) and ``START.md`` (the
   start page, its solutions section rewritten: the release has none). ``etc/prefix/`` carries the
   JupyterLab settings (no build prompt, hidden paired files) with nbgrader's Lab extensions disabled
   (:data:`STUDENT_DISABLED`), and of ``benchmarks/`` only the scorecard (lecture 08 reads it). No
   ``solutions/``, ``tests/``, ``scripts/`` or ``.git``.
4. Audits the folder (:func:`audit`) and zips it next to itself.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
DEFAULT_OUT = Path("dist") / "xaihealth-student"
FILES = ("pyproject.toml", "requirements.txt", "environment.yml", "postBuild", "jupytext.toml", "LICENSE",
         "LICENSE-content.md")  # fmt: skip
FOLDERS = ("labs", "notebooks", "slides", "datasets", "etc")
# of benchmarks/, what the lectures read at run time (lecture 08's decision guide cites the scorecard)
BENCHMARKS = ("scorecard.json", "scorecard.md")
LEFT_OUT = ("instructor", "tooling")  # folders of src/xaihealth a student does not get
IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints", "*.egg-info", ".DS_Store")
HIDDEN_MARKERS = ("BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
TEXT = (".py", ".ipynb", ".md", ".html", ".txt", ".toml", ".yml", ".json", ".cfg")  # files the audit reads
PAGE_CONFIG = Path("etc/prefix/etc/jupyter/labconfig/page_config.json")
# nbgrader's JupyterLab extension (the "Nbgrader" menu, create-assignment panel, formgrader): instructor-only
STUDENT_DISABLED = ("@jupyter/nbgrader",)
_REFERENCE_DEF = re.compile(r"^\s*(?:def\s+reference_\w*|reference_\w+\s*=)", re.M)  # a definition


class ReleaseError(RuntimeError):
    """The release cannot be built as asked (labs out of date, a solution that fails, a leak)."""


def solution_sources(repo: Path, labs: Sequence[str] | None = None) -> list[Path]:
    """``solutions/NN_*_lab.py`` of ``repo``; with ``labs`` (e.g. ``["03", "05b"]``) only those."""
    found = sorted((repo / "solutions").glob("[0-9]*_lab.py"))
    if labs is None:
        return found
    by_number = {p.name.split("_")[0]: p for p in found}
    unknown = [n for n in labs if n not in by_number]
    if unknown:
        raise ValueError(f"labs={list(labs)!r}: no solution for {unknown}; the labs are {sorted(by_number)}")
    return [by_number[n] for n in labs]


def check_labs(repo: Path) -> None:
    """Raise :class:`ReleaseError` when a generated lab differs from what its solution gives."""
    from xaihealth.tooling.labs import build

    stale = build(repo / "solutions", repo / "labs", check=True)
    if stale:
        names = ", ".join(str(p.relative_to(repo)) for p in stale)
        raise ReleaseError(f"labs/ is out of date ({names}): run `make labs` and commit the labs first")


def without_hidden_tests(source: Path, target: Path) -> Path:
    """Write the solution notebook ``source`` (py:percent) to ``target`` (.ipynb) without hidden tests."""
    import jupytext
    import nbformat

    from xaihealth.tooling.labs import strip_hidden_tests

    nb = jupytext.read(source)
    for i, cell in enumerate(nb.cells):
        if cell.cell_type == "code":
            cell.source = strip_hidden_tests(cell.source, f"{Path(source).name}, cell {i + 1}")
    nbformat.write(nb, target)
    return Path(target)


def record(repo: Path, directory: Path, labs: Sequence[str] | None = None,
           progress: Callable[[str], object] = print,
           hidden: Path | None = None) -> dict[str, int]:  # fmt: skip
    """Execute the solutions with their references recorded into ``directory``.

    Without ``hidden`` (a student release) the hidden tests are left out. With ``hidden`` (a grading kit,
    :mod:`xaihealth.instructor.kit`) they run too and the references they call are recorded into
    ``hidden`` (``xaihealth.instructor.hidden.hidden_references``). Returns the number of stored calls per
    checks module (public store).
    """
    import pickle

    import jupytext
    import nbformat

    from xaihealth.checks._reference import ENV
    from xaihealth.instructor.hidden import HIDDEN_ENV
    from xaihealth.tooling.execute import execute

    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    env = {ENV: f"record:{directory}"}
    if hidden is not None:
        Path(hidden).mkdir(parents=True, exist_ok=True)
        env[HIDDEN_ENV] = f"record:{Path(hidden).resolve()}"
    with tempfile.TemporaryDirectory(prefix="xaihealth-record-") as tmp:
        for source in solution_sources(repo, labs):
            target = Path(tmp) / f"{source.stem}.ipynb"
            if hidden is None:
                without_hidden_tests(source, target)
            else:
                nbformat.write(jupytext.read(source), target)
            outcome = execute(target, env=env)
            if outcome.status != "pass":
                raise ReleaseError(f"{source.relative_to(repo)} failed while its expected values were "
                                   f"recorded: {outcome.summary()}")  # fmt: skip
            progress(f"recorded {source.relative_to(repo)} ({outcome.seconds:.0f} s)")
    return {p.stem: sum(len(v) for v in pickle.loads(p.read_bytes()).values())
            for p in sorted(directory.glob("*.pkl"))}  # fmt: skip


STUDENT_README = """\
# XAI for Health — student release

Lectures, labs, slides and data of the course *Explainable AI for Health*, for working on your own
machine without a network connection.

## Install (once)

With Python 3.11:

```bash
python3.11 -m venv .venv
.venv/bin/pip install -r requirements.txt
.venv/bin/pip install --no-deps --no-build-isolation -e .
```

(or, with conda: `conda env create -f environment.yml`, `conda activate xaihealth`, then
`pip install --no-deps --no-build-isolation -e .`).

## Start

Install the course's JupyterLab settings into the environment once (no "build" prompt, the lectures'
paired `.py` files hidden), then start JupyterLab on the start page `START.md`:

```bash
.venv/bin/python -c "import shutil, sys; shutil.copytree('etc/prefix', sys.prefix, dirs_exist_ok=True)"
.venv/bin/jupyter lab --LabApp.default_url=/lab/tree/START.md
```

(with conda, run the same two lines with `python` and `jupyter` of the activated environment). Next time
only the second line is needed.

## What is here

- `notebooks/` — the lectures: open the `.ipynb` (each is paired with a `.py` source of the same name,
  which the course's JupyterLab settings hide); `slides/` — the same lectures as slide decks (open the
  `.html` in a browser).
- `labs/` — one notebook per lab. Each exercise has a cell where you write your code (replace the
  `raise NotImplementedError` stub) and a **check cell** after it.
- `datasets/` — the data and trained models the notebooks use; `src/xaihealth/` — the course package.

## What a check cell does

A check cell such as `check_shapley_values(shapley_values)` runs *your* function on inputs it builds itself
(several seeds and parameter values, planted cases whose answer is known) and prints one line:
`✔ Exercise 1 (...): passed (7 checks)`, or a short hint saying what is wrong. The hint never gives the
solution. The checkers compare your answers with values recorded from the reference solutions
(`src/xaihealth/checks/expected/`, protected by a checksum: if a checker says the release is damaged,
unpack the archive again). Passing every check is a good sign, not a grade: your instructor may run more
tests, and reads your written answers.

Write your own implementation: a solution that calls a library function the exercise asks you to
re-implement is marked as not your own work when the labs are graded.

## What is not here

The solutions, the instructor's tests and grading tools are not included. Hand in the lab notebook
(`labs/NN_..._lab.ipynb`) as your instructor asks.
"""


SOLUTIONS_SECTION = re.compile(r"^## Where the solutions are\n.*?(?=^## )", re.S | re.M)
STUDENT_SOLUTIONS = """## Where the solutions are

The solutions are not included in this release. When a check fails, read its hint and the section of the
lecture the exercise builds on; then ask your instructor.

"""


def start_page(text: str) -> str:
    """The repository's ``START.md`` for the release: its solutions section says they are not included, and
    links to files the release does not have (``README.md``, ``solutions/``) point to ``STUDENT.md``."""
    if not SOLUTIONS_SECTION.search(text):
        raise ReleaseError("START.md has no '## Where the solutions are' section to rewrite for the release")
    text = SOLUTIONS_SECTION.sub(lambda _: STUDENT_SOLUTIONS, text)
    text = re.sub(r"\[README\.md\]\(README\.md\)[^\n]*", "[STUDENT.md](STUDENT.md): how to install and start "
                  "the course, what this release holds.", text)  # fmt: skip
    return re.sub(r"\[([^]]*)\]\(solutions/[^)]*\)", r"\1 (not included)", text)


def page_config(text: str) -> str:
    """The Lab page config for students: the repository's, with nbgrader's extension disabled."""
    config = json.loads(text)
    config.setdefault("disabledExtensions", {}).update(dict.fromkeys(STUDENT_DISABLED, True))
    return json.dumps(config, indent=2) + "\n"


def _pyproject(text: str) -> str:
    """The repository's ``pyproject.toml`` for the release: STUDENT.md as readme, no test settings, the
    stored expected values as package data (a non-editable install keeps them)."""
    text = text.replace('readme = "README.md"', 'readme = "STUDENT.md"')
    text = re.sub(r"\[tool\.pytest\.ini_options\].*?(?=^\[)", "", text, flags=re.S | re.M)
    data = '[tool.setuptools.package-data]\n"xaihealth.checks" = ["expected/*"]\n\n'
    return text.replace("[tool.ruff]", data + "[tool.ruff]", 1)


def copy_package(repo: Path, out: Path, stores: Mapping[str, Path],
                 left_out: Sequence[str] = LEFT_OUT) -> Path:  # fmt: skip
    """Copy ``repo/src/xaihealth`` to ``out/src/xaihealth`` without the paths ``left_out`` (relative to
    the package, e.g. ``"tooling"``, ``"instructor/references"``), then each recorded store
    (``{"checks/expected": folder}``) into its place. Shared by the release and the grading kit."""
    src, dest = repo / "src" / "xaihealth", out / "src" / "xaihealth"
    left = {src / name for name in left_out}

    def ignore(folder: str, names: list[str]) -> set[str]:
        return {n for n in names if Path(folder) / n in left} | set(IGNORE(folder, names))

    shutil.copytree(src, dest, ignore=ignore)
    for place, folder in stores.items():
        shutil.copytree(folder, dest / place, ignore=IGNORE)
    return dest


def audit(out: Path) -> list[str]:
    """What a student release must not contain, as a list of problems (empty: clean)."""
    problems = []
    package = out / "src" / "xaihealth"
    for name in LEFT_OUT:
        if (package / name).exists():
            problems.append(f"src/xaihealth/{name}/ is in the release")
    for name in ("solutions", "tests", "scripts", ".git"):
        if (out / name).exists():
            problems.append(f"{name}/ is in the release")
    extra = sorted(p.name for p in (out / "benchmarks").glob("*") if p.name not in BENCHMARKS)
    if extra:
        problems.append(f"benchmarks/ holds more than {', '.join(BENCHMARKS)}: {', '.join(extra)}")
    if (out / "START.md").is_file() and "](solutions/" in (out / "START.md").read_text(encoding="utf-8"):
        problems.append("START.md links to solutions/, which the release does not have")
    if not (package / "checks" / "expected" / "SHA256SUMS").is_file():
        problems.append("src/xaihealth/checks/expected/SHA256SUMS is missing")
    for path in sorted(out.rglob("*")):
        if not path.is_file() or path.suffix not in TEXT:
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        where = path.relative_to(out)
        if any(marker in text for marker in HIDDEN_MARKERS):
            problems.append(f"{where}: a hidden-test marker")
        if path.suffix in (".py", ".ipynb") and _REFERENCE_DEF.search(text):
            problems.append(f"{where}: defines a reference_* implementation")
    return problems


def build_release(
    repo: Path = REPO,
    out: Path = DEFAULT_OUT,
    *,
    labs: Sequence[str] | None = None,
    expected: Path | None = None,
    progress: Callable[[str], object] = print,
) -> Path:
    """Build the student release in ``out`` (replaced) and ``out.zip``; return the zip's path.

    ``expected``: a folder recorded earlier (:func:`record`) to use instead of recording now; ``labs``:
    record only these solutions (tests, quick builds; a full release records them all).
    """
    repo, out = Path(repo).resolve(), Path(out)
    out = (out if out.is_absolute() else repo / out).resolve()
    if not (repo / "solutions").is_dir() or not (repo / "src" / "xaihealth").is_dir():
        raise ValueError(f"repo={str(repo)!r} is not the course repository (no solutions/ or src/xaihealth/)")
    if out == repo or repo.is_relative_to(out) or out.is_relative_to(repo / "src"):
        raise ValueError(f"out={str(out)!r} would overwrite the repository; choose a folder such as dist/")
    if out.exists() and any(out.iterdir()) and not (out / "STUDENT.md").is_file():
        raise ValueError(f"out={str(out)!r} is a folder that is not an earlier release; choose another one")
    check_labs(repo)
    with tempfile.TemporaryDirectory(prefix="xaihealth-expected-") as tmp:
        if expected is None:
            start = time.perf_counter()
            counts = record(repo, Path(tmp), labs, progress)
            seconds = time.perf_counter() - start
            progress(f"recorded {sum(counts.values())} reference calls in {seconds:.0f} s: "
                     + ", ".join(f"{m} {n}" for m, n in counts.items()))  # fmt: skip
            expected = Path(tmp)
        if out.exists():
            shutil.rmtree(out)
        out.mkdir(parents=True)
        for folder in FOLDERS:
            shutil.copytree(repo / folder, out / folder, ignore=IGNORE)
        copy_package(repo, out, {"checks/expected": Path(expected)})
    for name in FILES:
        shutil.copy2(repo / name, out / name)
    (out / "benchmarks").mkdir()
    for name in BENCHMARKS:
        shutil.copy2(repo / "benchmarks" / name, out / "benchmarks" / name)
    (out / "pyproject.toml").write_text(_pyproject((repo / "pyproject.toml").read_text()))
    (out / "STUDENT.md").write_text(STUDENT_README, encoding="utf-8")
    start = start_page((repo / "START.md").read_text(encoding="utf-8"))
    (out / "START.md").write_text(start, encoding="utf-8")
    (out / PAGE_CONFIG).write_text(page_config((repo / PAGE_CONFIG).read_text(encoding="utf-8")))
    problems = audit(out)
    if problems:
        raise ReleaseError("the release is not clean: " + "; ".join(problems))
    archive = Path(shutil.make_archive(str(out), "zip", root_dir=out.parent, base_dir=out.name))
    progress(f"wrote {out} and {archive} ({archive.stat().st_size / 1e6:.1f} MB)")
    return archive


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0].strip("`: "))
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"the folder (default {DEFAULT_OUT})")
    parser.add_argument("--labs", nargs="+", metavar="NN", help="record only these labs (default: all)")
    parser.add_argument("--expected", type=Path, help="use values recorded earlier instead of recording")
    args = parser.parse_args(argv)
    try:
        build_release(REPO, args.out, labs=args.labs, expected=args.expected)
    except (ReleaseError, ValueError) as err:
        print(f"make release: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
