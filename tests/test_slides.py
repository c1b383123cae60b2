"""Slides build from the lecture notebooks and open offline."""

import pytest
from helpers import NOTEBOOKS, SLIDES

from xaihealth.tooling import slides

LECTURES = sorted(NOTEBOOKS.glob("[0-9]*.ipynb"))


@pytest.mark.parametrize("notebook", LECTURES, ids=lambda p: p.name)
def test_slides_build_offline_and_are_up_to_date(notebook):
    html = slides.render(notebook)
    assert slides.remote_references(html) == []
    assert '<script src="reveal.js/dist/reveal.js"></script>' in html
    assert '<link href="notebook.css" rel="stylesheet"/>' in html
    for asset in ("dist/reveal.js", "dist/reveal.css", "dist/theme/white.css", "plugin/notes/notes.js"):
        assert (SLIDES / "reveal.js" / asset).exists(), f"slides/reveal.js/{asset} is not shipped"
    committed = SLIDES / f"{notebook.stem}.slides.html"
    assert committed.exists() and committed.read_text(encoding="utf-8") == html, "run `make slides`"
    assert html.count("<section") >= 5, "expected one section per slide"


def test_shared_stylesheet_is_shipped_and_up_to_date():
    css = slides.notebook_css()
    assert (SLIDES / slides.CSS_FILE).read_text(encoding="utf-8") == css, "run `make slides`"
    assert ".jp-Notebook" in css and slides.remote_references(f"<style>{css}</style>") == []


def test_remote_reference_detector_catches_cdns():
    assert slides.remote_references('<script src="https://unpkg.com/reveal.js/dist/reveal.js"></script>')
    assert slides.remote_references("<link rel='stylesheet' href='//cdn.example.org/a.css'>")
    assert slides.remote_references("<style>@import url(https://fonts.example.org/x.css);</style>")
    assert not slides.remote_references('<script src="reveal.js/dist/reveal.js"></script>')


def test_lectures_exist():
    assert LECTURES, "no lecture notebook found"


def _tiny_notebook(tmp_path):
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    slide = {"slideshow": {"slide_type": "slide"}}
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Title\n\nInline $\\phi_i$ and display\n\n$$\\sum_i \\phi_i = f(x)$$",
                                      metadata=slide),
        nbformat.v4.new_markdown_cell("Say: the clinical point of $p$.",
                                      metadata={"slideshow": {"slide_type": "notes"}}),
        nbformat.v4.new_code_cell(
            "assert secret_plumbing == 42",
            metadata={"tags": ["remove-input"]},
            outputs=[nbformat.v4.new_output("stream", name="stdout", text="shown output\n")],
        ),
        nbformat.v4.new_code_cell("visible_code = 1", metadata={"slideshow": {"slide_type": "subslide"}}),
        nbformat.v4.new_code_cell("hidden_cell = 2", metadata={"tags": ["remove-cell"]}),
        nbformat.v4.new_markdown_cell("skipped text", metadata={"slideshow": {"slide_type": "skip"}}),
    ]
    path = tmp_path / "99_tiny.ipynb"
    nbformat.write(nb, path)
    return nbformat.read(path, as_version=4), path


def test_exporter_cell_conventions(tmp_path):
    from bs4 import BeautifulSoup

    nb, path = _tiny_notebook(tmp_path)
    html = slides.render(path)
    soup = BeautifulSoup(html, "html.parser")
    notes = soup.select("aside.notes")
    assert len(notes) == 1 and "clinical point" in notes[0].get_text(), "notes cell -> aside.notes"
    assert "secret_plumbing" not in html and "shown output" in html, "remove-input hides code, keeps output"
    assert "visible_code" in html, "code without the tag stays on the slide"
    assert "hidden_cell" not in html and "skipped text" not in html, "remove-cell and skip leave the slides"
    text = soup.get_text()
    assert "$\\phi_i$" in text and "$$\\sum_i \\phi_i = f(x)$$" in text, "maths left as written for KaTeX"
    scripts = [s.get("src") for s in soup.find_all("script") if s.get("src")]
    needed = {"katex/katex.min.js", "katex/contrib/auto-render.min.js", "reveal.js/plugin/notes/notes.js"}
    assert needed <= set(scripts)
    assert "RevealNotes" in html and "renderMathInElement" in html
    assert f"width: {slides.WIDTH}" in html and f"height: {slides.HEIGHT}" in html
    assert slides.remote_references(html) == []
    assert [c.source for c in nb.cells][2] == "assert secret_plumbing == 42", "the notebook keeps every cell"


def test_katex_is_shipped_with_its_licence():
    katex = SLIDES / "katex"
    for asset in ("katex.min.js", "katex.min.css", "contrib/auto-render.min.js", "LICENSE", "README.md"):
        assert (katex / asset).is_file(), f"slides/katex/{asset} is not shipped"
    assert "MIT" in (katex / "LICENSE").read_text(encoding="utf-8")
    fonts = sorted((katex / "fonts").iterdir())
    assert fonts and all(f.suffix == ".woff2" for f in fonts)
    import re

    css = (katex / "katex.min.css").read_text(encoding="utf-8")
    woff2 = set(re.findall(r"url\((fonts/[^)]+\.woff2)\)", css))
    assert woff2 and all((katex / name).is_file() for name in woff2), "a woff2 font of katex.css is missing"
