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
