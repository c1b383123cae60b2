"""Build the course website (``make site``): Sphinx + MyST-NB + sphinx-book-theme, offline, nothing executed.

The site is built from a staged source folder that mirrors the repository, so that a link of the README
(``notebooks/00_clever_hans.ipynb``) works on the site as it does on the repository's web page:

* ``docs/`` (``conf.py``, the home page ``index.md``, ``_static/``) at the root;
* ``notebooks/NN_topic.ipynb``: the executed lectures, read with their stored outputs (MyST-NB's
  ``nb_execution_mode = "off"``), each with a line that links its slides and its lab;
* ``labs/NN_topic_lab.ipynb``: the student versions (no solutions, no outputs), each linked to its lecture;
* ``guide.md``: the README's sections "Teaching guide" and "Teaching with this course", copied as written;
* ``_extra/slides/``: ``slides/`` as it is (decks, reveal.js, KaTeX), copied to ``<html>/slides/``;
* ``_static/katex/``: the same KaTeX, which draws the site's maths.

Nothing is loaded from the network by any page: ``tests/test_site.py`` scans the output and opens it in
headless Chromium with every non-``file:`` request aborted.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
from html.parser import HTMLParser
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[3]
DEFAULT_OUT = ROOT / "docs" / "_build"
GUIDE_SECTIONS = ("Teaching guide", "Teaching with this course")
_SECTION = re.compile(r"^## +(.+?)\s*$", re.M)
# a URL that leaves the machine: http(s):// or protocol-relative //
_REMOTE_URL = re.compile(r"^\s*(?:https?:)?//", re.I)
_META_URL = re.compile(r"url\s*=\s*['\"]?([^'\";]+)", re.I)
_CSS_REMOTE = re.compile(r"""(?:url\(\s*["']?|@import\s+["'])\s*(?:https?:)?//""", re.I)
# attributes through which a page loads something (scripts, styles, images, fonts, frames, media, forms)
_LOADING_ATTRS = frozenset({"src", "href", "srcset", "data", "poster", "action", "formaction", "background"})


class _ResourceScanner(HTMLParser):
    """Collects every loading attribute of an HTML page (``<a href>`` excepted) and its style text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.remote: list[str] = []
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self._in_style = tag == "style"
        for name, value in attrs:
            value = value or ""
            if name == "style":
                urls = [m.group(0) for m in _CSS_REMOTE.finditer(value)]
            elif tag == "meta" and name == "content":  # <meta http-equiv="refresh" content="0; url=...">
                urls = [u for u in _META_URL.findall(value) if _REMOTE_URL.match(u)]
            elif name in _LOADING_ATTRS and not (tag == "a" and name == "href"):
                parts = [p.split()[0] for p in value.split(",") if p.split()] if name == "srcset" else [value]
                urls = [u for u in parts if _REMOTE_URL.match(u)]
            else:
                urls = []
            self.remote += [f"<{tag} {name}={u[:80]!r}>" for u in urls]

    def handle_endtag(self, tag: str) -> None:
        self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_style and _CSS_REMOTE.search(data):
            self.remote.append(f"<style>{_CSS_REMOTE.search(data).group(0)}")


def readme_sections(text: str, titles: tuple[str, ...]) -> str:
    """The ``## `` sections of a README named ``titles``, in the README's order, each up to the next ``## ``.

    A title the README does not have is left out; none found raises a ValueError naming the titles.
    """
    heads = list(_SECTION.finditer(text))
    found = []
    for i, head in enumerate(heads):
        if head.group(1) in titles:
            end = heads[i + 1].start() if i + 1 < len(heads) else len(text)
            found.append(text[head.start() : end].rstrip() + "\n")
    if not found:
        raise ValueError(f"titles={titles!r}: no such '## ' section in the README (it has "
                         f"{[h.group(1) for h in heads]})")
    return "\n".join(found)


def remote_resources(text: str, kind: str) -> list[str]:
    """What a file of ``kind`` ('html' or 'css') would load from outside the machine.

    HTML: every ``src``/``href``/``srcset``/``data``/``poster``/``action``/``background`` attribute of any
    tag that is ``http(s)://`` or ``//`` (scripts, stylesheets, preloads, icons, images, fonts, frames,
    media), and remote ``url()``/``@import`` in ``style`` attributes and ``<style>`` blocks. A plain link to
    read elsewhere (``<a href="https://doi.org/...">``) loads nothing and is allowed. CSS: remote
    ``url()`` and ``@import``.
    """
    if kind == "css":
        return [m.group(0) for m in _CSS_REMOTE.finditer(text)]
    if kind != "html":
        raise ValueError(f"kind={kind!r}: expected 'html' or 'css'")
    scanner = _ResourceScanner()
    scanner.feed(text)
    scanner.close()
    return scanner.remote


def _with_links(notebook: Path, target: Path, markdown: str) -> None:
    """Copy ``notebook`` to ``target`` with a markdown cell ``markdown`` after its title cell."""
    nb = nbformat.read(notebook, as_version=4)
    nb.cells.insert(1, nbformat.v4.new_markdown_cell(markdown, metadata={"tags": ["site-links"]}))
    nbformat.write(nb, target)


def stage(source: Path, root: Path = ROOT) -> Path:
    """Assemble the Sphinx source folder ``source`` (emptied first) from the repository at ``root``.

    A folder that exists and is not an earlier staging (no ``conf.py``) is refused, never deleted.
    """
    source, root = Path(source), Path(root)
    if source.exists():
        if not (source / "conf.py").is_file():
            raise ValueError(f"source={str(source)!r}: exists and is not a staged site source (no conf.py); "
                             "choose an empty or new folder")
        shutil.rmtree(source)
    shutil.copytree(root / "docs", source, ignore=shutil.ignore_patterns("_build", "__pycache__"))
    (source / "notebooks").mkdir()
    (source / "labs").mkdir()
    lectures = sorted((root / "notebooks").glob("[0-9]*.ipynb"))
    if not lectures:
        raise FileNotFoundError(f"no executed lecture in {root / 'notebooks'} (run `make execute`)")
    for lecture in lectures:
        lab = root / "labs" / f"{lecture.stem}_lab.ipynb"
        deck = root / "slides" / f"{lecture.stem}.slides.html"
        links = [f'<a href="../slides/{deck.name}">slides</a>' if deck.exists() else "",
                 f"[lab](../labs/{lab.name})" if lab.exists() else "",
                 f"to run it, open `notebooks/{lecture.name}` in JupyterLab"]
        _with_links(lecture, source / "notebooks" / lecture.name, "**This lecture:** " + " · ".join(
            link for link in links if link))
    for lab in sorted((root / "labs").glob("[0-9]*_lab.ipynb")):
        lecture = lab.name.replace("_lab.ipynb", ".ipynb")
        note = (f"**Student version** (no solutions, no outputs). Lecture: "
                f"[{lecture}](../notebooks/{lecture}). Open the lab in JupyterLab and run it top to "
                "bottom: after each exercise a check cell prints one ✔ line or a hint.")
        _with_links(lab, source / "labs" / lab.name, note)
    readme = (root / "README.md").read_text(encoding="utf-8")
    (source / "guide.md").write_text(readme_sections(readme, GUIDE_SECTIONS), encoding="utf-8")
    shutil.copytree(root / "slides", source / "_extra" / "slides")
    shutil.copytree(root / "slides" / "katex", source / "_static" / "katex")
    return source


def build(out: Path = DEFAULT_OUT, root: Path = ROOT, quiet: bool = True) -> Path:
    """Stage ``out/source`` and build the HTML site into ``out/html``; returns the path of ``index.html``.

    Sphinx warnings are printed, not fatal (a MyST cross-reference the README cannot resolve on the site
    must not stop the build); a failed build raises RuntimeError.
    """
    from sphinx.cmd.build import build_main

    out = Path(out)
    source = stage(out / "source", root)
    html = out / "html"
    doctrees = out / "doctrees"  # Sphinx's cache, kept out of the published html/
    args = ["-b", "html", "-j", "auto", "-E", "-d", str(doctrees), str(source), str(html)]
    args += ["-q"] if quiet else []
    status = build_main(args)
    if status != 0:
        raise RuntimeError(f"sphinx-build failed with status {status} (source {source})")
    return html / "index.html"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="build folder (source/ and html/)")
    args = parser.parse_args(argv)
    index = build(args.out, quiet=False)
    print("site:", index)
    return 0


if __name__ == "__main__":
    sys.exit(main())
