"""Build the reveal.js slides of every lecture notebook (``make slides``).

Slides come from the slide metadata of ``notebooks/NN_topic.ipynb`` (executed, with outputs) and are
written to ``slides/NN_topic.slides.html``. They load reveal.js from ``slides/reveal.js/`` (shipped in the
repository), never from a CDN, so they open in a browser with no network. Figures are embedded.

Cell conventions of the lecture sources (the notebook keeps every cell; only the slides change):

* ``slideshow={"slide_type": "notes"}`` on a markdown cell: a speaker note (``aside.notes``; press S in
  the deck for reveal.js's speaker view, from the local ``slides/reveal.js/plugin/notes``);
* ``slideshow={"slide_type": "skip"}``: not on the slides;
* tag ``remove-input``: the cell's output is on the slide, its code is not (plumbing, assertions);
  tag ``remove-cell``: neither (nbconvert's ``TagRemovePreprocessor``);
* ``$...$`` and ``$$...$$`` in markdown cells are left as written and rendered in the browser by KaTeX
  (``slides/katex/``, auto-render), the same delimiters JupyterLab renders;
* figures are scaled to fit the ``WIDTH`` x ``HEIGHT`` slide; shown code and text outputs wrap.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
from nbconvert import SlidesExporter
from nbconvert.preprocessors import TagRemovePreprocessor

TEMPLATES = Path(__file__).with_name("templates")
REVEAL_PREFIX = "reveal.js"
CSS_FILE = "notebook.css"
WIDTH, HEIGHT = 1280, 720  # the slide canvas (16:9 projector); reveal.js scales it to the window
REMOVE_INPUT_TAGS = frozenset({"remove-input"})
REMOVE_CELL_TAGS = frozenset({"remove-cell"})
_CSS_PARTS = ("static/index.css", "static/theme-light.css", "static/custom_reveal.css")
_REMOTE = re.compile(r"""<(?:script|link)\b[^>]*\b(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", re.I)
_REMOTE_CSS = re.compile(r"""@import\s+(?:url\()?\s*["']?\s*(?:https?:)?//""", re.I)


def remote_references(html: str) -> list[str]:
    """Script, stylesheet or CSS-import tags that would load something from the network."""
    found = [m.group(0) for m in _REMOTE.finditer(html)]
    found += [m.group(0) for m in _REMOTE_CSS.finditer(html)]
    return found


def _exporter() -> SlidesExporter:
    exporter = SlidesExporter(
        extra_template_paths=[str(TEMPLATES)],
        template_file="offline_slides.html.j2",
        reveal_url_prefix=REVEAL_PREFIX,
        reveal_theme="white",
        reveal_scroll=True,
        reveal_width=str(WIDTH),
        reveal_height=str(HEIGHT),
        exclude_input_prompt=True,
        exclude_output_prompt=True,
    )
    exporter.register_preprocessor(
        TagRemovePreprocessor(
            remove_input_tags=set(REMOVE_INPUT_TAGS), remove_cell_tags=set(REMOVE_CELL_TAGS), enabled=True
        ),
        enabled=True,
    )
    return exporter


def notebook_css() -> str:
    """JupyterLab's light-theme and reveal stylesheets from nbconvert's templates, shared by all decks."""
    folders = [Path(p) for p in _exporter().template_paths]
    parts = []
    for name in _CSS_PARTS:
        found = next((f / name for f in folders if (f / name).is_file()), None)
        if found is None:
            raise FileNotFoundError(f"nbconvert stylesheet {name!r} not found in {folders}")
        parts.append(f"/* {name} (nbconvert, BSD-3-Clause) */\n" + found.read_text(encoding="utf-8"))
    css = "\n".join(parts)
    if remote_references(f"<style>{css}</style>"):
        raise RuntimeError("nbconvert's stylesheets import something from the network")
    return css


def render(notebook: Path) -> str:
    body, _ = _exporter().from_notebook_node(nbformat.read(notebook, as_version=4))
    problems = remote_references(body)
    if problems:
        raise RuntimeError(f"{notebook}: slides would load from the network: {problems[:3]}")
    return body


def build(notebooks_dir: Path, slides_dir: Path) -> list[Path]:
    written = [slides_dir / CSS_FILE]
    written[0].write_text(notebook_css(), encoding="utf-8")
    for notebook in sorted(notebooks_dir.glob("[0-9]*.ipynb")):
        target = slides_dir / f"{notebook.stem}.slides.html"
        target.write_text(render(notebook), encoding="utf-8")
        written.append(target)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=Path, default=Path("notebooks"))
    parser.add_argument("--slides", type=Path, default=Path("slides"))
    args = parser.parse_args(argv)
    for path in build(args.notebooks, args.slides):
        print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
