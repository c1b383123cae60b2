"""The grading kit: the package a submission's code imports when ``make grade`` runs it.

At grading time neither the references nor the hidden tests nor their expected values may be reachable from
student code: no rule on a cell's AST can list every reflective path to them (``pkgutil.resolve_name``,
``gc``, frame walking), and code in the same process can read whatever the checker holds (review R15b,
B4'). So :func:`build_kit` writes a copy of ``src/xaihealth`` without ``instructor/references/``, without
``instructor/hidden/`` and without ``tooling/`` (instructor side: only ``__init__``, :mod:`.integrity`,
and the worker's end of the judge, :mod:`.rpc` and :mod:`.worker`), holding ``checks/expected/``: the
public checkers' stored values, recorded by executing the lab's solution (:func:`.release.record`, the
student release's recording; the replay is :mod:`xaihealth.checks._reference`'s). The public values are
what a student release holds anyway; the hidden tests run only in the judge (:mod:`.judge`), outside the
kernel, against the real references. A kit is cached under ``grading/.kits/<lab>-<digest>/``, the digest
covering ``src/xaihealth`` and the solution: it is rebuilt when either changes. A content digest of the
built kit's own files is kept next to it, outside the kit (``<lab>-<digest>.sha256``): a cached kit whose
files no longer match it is rebuilt, never reused (review R15b B3'). :func:`.autograde.nbgrader_env`
puts the kit's ``src`` first on ``PYTHONPATH``, which Python searches before the editable install's
``.pth`` entry, so ``import xaihealth`` is the kit's.

Isolation between students: the kit's files are read into memory once (:class:`Kit`), and every
submission gets its own copy written from memory (:meth:`Kit.write`); the judge's worker gets a copy
without the stored values at all (``Kit.write(..., stores=False)``). After the run the copy is compared
with the in-memory digests (:meth:`Kit.changed`): a kernel that edited its kit is reported as tampering,
and so is a change to the cached master (:meth:`Kit.restore`), which is then rewritten from memory. The
kernels and the worker run in a bubblewrap sandbox where available (:func:`.judge.sandbox_command`).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from xaihealth.instructor.release import _REFERENCE_DEF, copy_package, record, without_hidden_tests

REPO = Path(__file__).resolve().parents[3]
CACHE = REPO / "grading" / ".kits"
KIT_INSTRUCTOR = ("__init__.py", "integrity.py", "rpc.py", "worker.py")  # of xaihealth.instructor, kept
PUBLIC_STORE, HIDDEN_STORE = "checks/expected", "instructor/hidden/expected"
_SKIP = ("__pycache__", ".pyc", ".egg-info", ".ipynb_checkpoints")


def _files(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (bytecode caches left out), by its POSIX path relative to ``folder``."""
    out = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and not any(part.endswith(_SKIP) for part in rel.split("/")):
            out[rel] = path.read_bytes()
    return out


def kit_digest(solution: Path, repo: Path = REPO) -> str:
    """SHA-256 of the package's files and the solution's text: a kit is rebuilt when it changes."""
    h = hashlib.sha256()
    for rel, data in _files(repo / "src" / "xaihealth").items():
        if not rel.startswith((PUBLIC_STORE + "/", HIDDEN_STORE + "/")):
            h.update(rel.encode() + b"\0" + hashlib.sha256(data).digest())
    h.update(b"solution\0" + Path(solution).read_bytes())
    return h.hexdigest()


def files_digest(files: dict[str, bytes]) -> str:
    """SHA-256 over a kit's files (their paths and contents)."""
    h = hashlib.sha256()
    for rel in sorted(files):
        h.update(rel.encode() + b"\0" + hashlib.sha256(files[rel]).digest())
    return h.hexdigest()


@dataclass(frozen=True)
class Kit:
    """A built kit held in memory: ``files`` maps ``xaihealth/...`` paths to their bytes."""

    root: Path
    files: dict[str, bytes]

    def write(self, folder: Path, stores: bool = True) -> Path:
        """Write a fresh copy of the kit to ``folder/src`` (replacing it) and return that ``src``; without
        ``stores``, the stored values are left out (the judge's worker needs none)."""
        src = Path(folder) / "src"
        if src.exists():
            shutil.rmtree(src)
        for rel, data in self.files.items():
            if not stores and rel.startswith(f"xaihealth/{PUBLIC_STORE}/"):
                continue
            path = src / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        return src

    def changed(self, src: Path) -> list[str]:
        """The kit's files under ``src`` that were edited, removed or added since :meth:`write`."""
        now = _files(Path(src))
        return sorted(rel for rel in set(now) | set(self.files) if now.get(rel) != self.files.get(rel))

    def restore(self) -> list[str]:
        """The files of the cached master (``root/src``) changed since it was read, rewriting them all from
        memory when any changed: a submission that edited the cache is found and the next run unharmed."""
        changed = self.changed(self.root / "src")
        if changed:
            self.write(self.root)
        return changed


def _left_out(repo: Path) -> list[str]:
    instructor = repo / "src" / "xaihealth" / "instructor"
    return ["tooling"] + [f"instructor/{p.name}" for p in sorted(instructor.iterdir())
                          if p.name not in KIT_INSTRUCTOR]  # fmt: skip


def _check(src: Path) -> None:
    """Raise ``RuntimeError`` if the kit could give a student a reference implementation."""
    package = src / "xaihealth"
    problems = [name for name in ("instructor/references", "instructor/hidden", "tooling")
                if (package / name).exists()]
    problems += [str(p.relative_to(src)) for p in package.rglob("*.py")
                 if _REFERENCE_DEF.search(p.read_text(encoding="utf-8"))]
    if not (package / PUBLIC_STORE / "SHA256SUMS").is_file():
        problems.append(f"{PUBLIC_STORE}/SHA256SUMS is missing")
    if problems:
        raise RuntimeError("the grading kit is not clean: " + ", ".join(problems))


def build_kit(solution: Path, cache: Path = CACHE, repo: Path = REPO,
              progress: Callable[[str], object] = print) -> Kit:  # fmt: skip
    """The grading kit of the lab whose solution is ``solution`` (``solutions/NN_*_lab.py``), built if
    ``cache`` holds none for the current digest (one solution execution, hidden tests included)."""
    solution, cache = Path(solution).resolve(), Path(cache).resolve()
    lab = solution.name.split("_")[0]
    folder = cache / f"{solution.stem}-{kit_digest(solution, repo)[:16]}"
    index = folder.with_name(folder.name + ".sha256")  # outside the kit: no kernel's PYTHONPATH holds it
    files = _files(folder / "src") if (folder / "src" / "xaihealth" / PUBLIC_STORE / "SHA256SUMS").is_file() \
        else None
    if files is not None and not (index.is_file() and index.read_text().strip() == files_digest(files)):
        progress(f"the cached grading kit {folder} does not match its digest: rebuilt")
        files = None
    if files is None:
        cache.mkdir(parents=True, exist_ok=True)
        for stale in cache.glob(f"{solution.stem}-*"):
            shutil.rmtree(stale, ignore_errors=True) if stale.is_dir() else stale.unlink(missing_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=cache))
        public = tmp / "public"
        record(repo, public, [lab], progress)  # the public checks only: the hidden tests run in the judge
        copy_package(repo, tmp / "kit", {PUBLIC_STORE: public}, _left_out(repo))
        _check(tmp / "kit" / "src")
        try:
            os.replace(tmp / "kit", folder)
        except OSError:  # another grading run built the same kit meanwhile
            if not (folder / "src").is_dir():
                raise
        shutil.rmtree(tmp, ignore_errors=True)
        files = _files(folder / "src")
        index.write_text(files_digest(files) + "\n")
        progress(f"built the grading kit {folder}")
    _check(folder / "src")
    return Kit(folder, files)


def check_solution(solution: Path, cache: Path = CACHE) -> str:
    """Run the lab's solution, hidden tests left out (they run only in the judge), in a kernel that imports
    its grading kit: ``"pass"`` or what failed. Every public check must pass from the kit's stored values."""
    from xaihealth.instructor.autograde import nbgrader_env
    from xaihealth.tooling.execute import execute

    kit = build_kit(solution, cache)
    with tempfile.TemporaryDirectory(prefix="xaihealth-kit-check-") as tmp:
        src = kit.write(Path(tmp) / "kit")
        notebook = Path(tmp) / f"{Path(solution).stem}.ipynb"
        without_hidden_tests(Path(solution), notebook)
        env = nbgrader_env(src)
        outcome = execute(notebook, env={k: env[k] for k in ("PYTHONPATH", "XAIHEALTH_DATASETS")})
    return "pass" if outcome.status == "pass" else outcome.summary()


def main(argv: list[str] | None = None) -> int:
    """``python -m xaihealth.instructor.kit [NN ...]``: build each lab's kit and run its solution in it."""
    import argparse

    from xaihealth.instructor.release import solution_sources

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("labs", nargs="*", metavar="NN", help="labs to check (default: all)")
    args = parser.parse_args(argv)
    failed = 0
    for solution in solution_sources(REPO, args.labs or None):
        verdict = check_solution(solution)
        failed += verdict != "pass"
        print(f"{solution.name}: {verdict}", flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    import sys

    sys.exit(main())
