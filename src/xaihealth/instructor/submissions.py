"""Find the students' notebooks of one lab in what an instructor collected.

Accepted layouts (``SUBMISSIONS``):

- a folder with **one subfolder per student**, each holding the lab notebook
  (``alice/03_shap_lime_lab.ipynb``; any name is accepted when the subfolder holds a single notebook,
  e.g. a renamed download);
- a folder with **one notebook per student**, named by the student (``alice.ipynb``);
- a ``.zip`` of either (a single top folder inside the archive is looked through).

The student id is the subfolder's name or the file's stem, sanitised to letters, digits, ``-`` and ``_``.
Hidden entries (``.ipynb_checkpoints``, ``__MACOSX``, dotfiles) are ignored.
"""

from __future__ import annotations

import re
import shutil
import zipfile
from pathlib import Path

LAYOUTS = ("a folder of student subfolders holding the lab notebook", "a folder of <student>.ipynb files",
           "a .zip of either")


def student_id(name: str) -> str:
    """A name made safe for nbgrader and file names: runs of other characters become ``_``."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]+", "_", name).strip("_")
    if not cleaned:
        raise ValueError(f"cannot make a student id of {name!r}: no letter or digit in it")
    return cleaned


def _visible(path: Path) -> bool:
    return not any(part.startswith((".", "__MACOSX")) for part in path.parts)


def _unzip(archive: Path, into: Path) -> Path:
    """Extract ``archive`` into ``into`` (refusing paths that leave it) and return the folder to read."""
    if into.exists():
        shutil.rmtree(into)  # a previous run's extraction: start clean
    into.mkdir(parents=True)
    with zipfile.ZipFile(archive) as zipped:
        for member in zipped.namelist():
            target = (into / member).resolve()
            if not target.is_relative_to(into.resolve()):
                raise ValueError(f"submissions={str(archive)!r}: the entry {member!r} leaves its folder")
        zipped.extractall(into)
    entries = [p for p in into.iterdir() if _visible(p.relative_to(into))]
    if len(entries) == 1 and entries[0].is_dir() and not any(entries[0].glob("*.ipynb")):
        return entries[0]  # a single top folder of student folders
    if len(entries) == 1 and entries[0].is_dir() and len(list(entries[0].glob("*.ipynb"))) > 1:
        return entries[0]  # a single top folder of <student>.ipynb files
    return into


def collect(submissions: Path, notebook: str, unzip_into: Path) -> dict[str, Path]:
    """Map each student id to their notebook of the lab whose file stem is ``notebook``.

    Raises ``ValueError`` naming the path and the accepted layouts when nothing fits, and when two
    entries give the same student id.
    """
    submissions = Path(submissions)
    if not submissions.exists():
        raise ValueError(f"submissions={str(submissions)!r} does not exist; expected one of: "
                         + "; ".join(LAYOUTS))
    if submissions.is_file():
        if not zipfile.is_zipfile(submissions):
            raise ValueError(f"submissions={str(submissions)!r} is a file but not a .zip archive; expected "
                             "one of: " + "; ".join(LAYOUTS))
        submissions = _unzip(submissions, unzip_into)
    found: dict[str, Path] = {}

    def add(name: str, path: Path) -> None:
        sid = student_id(name)
        if sid in found:
            raise ValueError(f"submissions: two entries give the student id {sid!r} ({found[sid]}, {path})")
        found[sid] = path

    for entry in sorted(submissions.iterdir()):
        if not _visible(entry.relative_to(submissions)):
            continue
        if entry.is_file() and entry.suffix == ".ipynb":
            add(entry.stem, entry)
        elif entry.is_dir():
            notebooks = [p for p in sorted(entry.rglob("*.ipynb")) if _visible(p.relative_to(entry))]
            named = [p for p in notebooks if p.stem == notebook]
            if len(named) == 1 or len(notebooks) == 1:
                add(entry.name, (named or notebooks)[0])
            elif not notebooks:
                add(entry.name, entry)  # a folder without a notebook: graded as "no notebook"
            else:
                raise ValueError(f"submissions: {entry} holds {len(notebooks)} notebooks and not exactly "
                                 f"one named {notebook}.ipynb; keep one")
    if not found:
        raise ValueError(f"submissions={str(submissions)!r} holds no notebook; expected one of: "
                         + "; ".join(LAYOUTS))
    return found
