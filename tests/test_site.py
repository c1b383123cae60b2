"""`make site`: the course website builds offline from the executed notebooks and loads nothing remote.

The site is built once (``xaihealth.tooling.site.build``, what ``make site`` runs) into a temporary folder;
the build reads the stored outputs and executes no notebook (MyST-NB ``nb_execution_mode = "off"``).

The rule tested on every output file: no ``.html`` file has a tag whose ``src``/``href``/``srcset``/
``data``/``poster``/``action``/``background`` (or a ``style`` ``url()``/``@import``, or a meta refresh) is
``http(s)://`` or ``//`` — scripts, stylesheets, preloads, icons, images, fonts, frames, media — and no
``.css`` file has a remote ``url()`` or ``@import``. Plain ``<a href="https://...">`` links to read elsewhere
(cited papers) load nothing and are allowed. JavaScript that would fetch something at run time is caught by
the browser test: the home page, a lecture page, its slides and the search page are opened in headless
Chromium (Debian's ``chromium`` through Playwright, never ``playwright install``) with every request that is
not ``file:``/``data:``/``blob:``/``about:`` aborted and counted as a failure, as is any console error.
"""

from __future__ import annotations

import re
import time
from html import unescape
from pathlib import Path

import nbformat
import pytest
from helpers import LABS, NOTEBOOKS, ROOT

from xaihealth.tooling import site

LECTURE = "03_shap_lime"  # the lecture opened in the browser: figures and maths
LOCAL = ("file:", "data:", "blob:", "about:")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, float]:
    """The site built into a temporary folder, and the build's seconds (printed, not asserted)."""
    out = tmp_path_factory.mktemp("site")
    start = time.perf_counter()
    index = site.build(out)
    return index.parent, time.perf_counter() - start


def test_every_lecture_and_lab_has_a_page_and_the_slides_are_copied(built):
    html, seconds = built
    print(f"site built in {seconds:.1f} s")
    lectures = sorted(p.stem for p in NOTEBOOKS.glob("[0-9]*.ipynb"))
    labs = sorted(p.stem for p in LABS.glob("[0-9]*_lab.ipynb"))
    assert len(lectures) == 10 and labs == [f"{n}_lab" for n in lectures]  # 00-08 and 05b, each with its lab
    index = (html / "index.html").read_text(encoding="utf-8")
    for name in lectures:
        page = (html / "notebooks" / f"{name}.html").read_text(encoding="utf-8")
        deck = f"../slides/{name}.slides.html"
        assert f'href="{deck}"' in page, f"{name}: no link to its slides"
        assert (html / "notebooks" / deck).resolve().is_file(), f"{deck} not copied"
        assert f'href="notebooks/{name}.html"' in index, f"home page: no link to lecture {name}"
        assert f'href="slides/{name}.slides.html"' in index, f"home page: no link to slides {name}"
    for name in labs:
        assert (html / "labs" / f"{name}.html").is_file()
        assert f'href="labs/{name}.html"' in index, f"home page: no link to lab {name}"
    for shipped in ("reveal.js", "katex", "notebook.css"):
        assert (html / "slides" / shipped).exists(), f"slides/{shipped} not copied"
    guide = unescape((html / "guide.html").read_text(encoding="utf-8"))
    assert "Teaching guide" in guide and "JupyterHub for a class" in guide and "Student path" in guide
    article = guide.split("<article", 1)[-1]
    for module in [name.split("_")[0] for name in lectures]:  # 00 ... 06 and 05b: objectives, lecture, lab
        heads = re.split(r"<h[1-6]>", article)
        section = next((h for h in heads if h.startswith(f"{module} · ")), None)
        assert section is not None, f"guide: no section for module {module}"
        assert "After it a student can" in section, f"guide: no learning objectives for module {module}"
        assert f'href="notebooks/{module}_' in section and f'href="labs/{module}_' in section, module


def test_the_site_shows_the_stored_outputs_and_no_solution(built):
    """Read, not executed: the lecture page shows the notebook's own printed text; labs have no solution."""
    html, _ = built
    nb = nbformat.read(NOTEBOOKS / f"{LECTURE}.ipynb", as_version=4)
    printed = [o["text"].strip().splitlines()[0] for c in nb.cells if c.cell_type == "code"
               for o in c.get("outputs", []) if o.get("output_type") == "stream" and o["text"].strip()]
    assert printed, "the lecture has no printed output to compare"
    page = (html / "notebooks" / f"{LECTURE}.html").read_text(encoding="utf-8")
    text = unescape(page)
    missing = [line for line in printed if line not in text]
    assert not missing, f"stored outputs not on the page: {missing[:3]}"
    for lab in (html / "labs").glob("*.html"):
        assert "BEGIN SOLUTION" not in lab.read_text(encoding="utf-8"), lab.name
    assert not (html / "solutions").exists()
    assert not list(html.rglob("*_lab.py")) and not list(html.rglob("*.ipynb")), "sources copied to the site"


def test_no_output_file_loads_anything_remote(built):
    html, _ = built
    problems, scanned = [], 0
    for path in sorted(html.rglob("*")):
        kind = path.suffix.lstrip(".")
        if path.is_file() and kind in ("html", "css"):
            scanned += 1
            found = site.remote_resources(path.read_text(encoding="utf-8", errors="replace"), kind)
            problems += [f"{path.relative_to(html)}: {f}" for f in found]
    assert scanned > 20
    assert problems == [], "\n".join(problems[:20])


@pytest.mark.parametrize(
    ("text", "kind", "remote"),
    [
        ('<script src="https://cdn.jsdelivr.net/npm/mathjax@4/tex-mml-chtml.js"></script>', "html", True),
        ('<link rel="stylesheet" href="//fonts.googleapis.com/css?family=Lato">', "html", True),
        ('<link rel="preload" as="font" href="http://example.org/f.woff2">', "html", True),
        ('<img srcset="a.png 1x, https://example.org/b.png 2x">', "html", True),
        ('<div style="background: url(\'https://example.org/x.png\')"></div>', "html", True),
        ('<style>@import "https://example.org/a.css";</style>', "html", True),
        ('<meta http-equiv="refresh" content="0; url=https://example.org">', "html", True),
        ('<iframe src="https://www.youtube.com/embed/x"></iframe>', "html", True),
        ("@font-face { src: url(https://example.org/k.woff2) }", "css", True),
        ('<a href="https://doi.org/10.1016/0002-9149(89)90524-9">Detrano 1989</a>', "html", False),
        ('<script src="../_static/katex/katex.min.js"></script><img src="_images/a.png">', "html", False),
        ('<svg xmlns="http://www.w3.org/2000/svg"></svg>', "html", False),
        ("@font-face { src: url(fonts/KaTeX_Main-Regular.woff2) }", "css", False),
    ],
)
def test_the_remote_resource_rule(text, kind, remote):
    assert bool(site.remote_resources(text, kind)) is remote


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="kind='js'"):
        site.remote_resources("", "js")
    with pytest.raises(ValueError, match="titles="):
        site.readme_sections("# x\n## Other\n", ("Teaching guide",))
    with pytest.raises(ValueError, match="not a staged site source"):
        site.stage(ROOT / "notebooks")  # an existing folder that is not a staging is never emptied
    text = "# T\n## A\na\n## Teaching guide\ng\n### sub\n## B\nb\n"
    assert site.readme_sections(text, ("Teaching guide",)) == "## Teaching guide\ng\n### sub\n"


def open_page(browser, url: str):
    """The page at ``url`` with every non-local request aborted; returns it and what went wrong."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    trouble: dict[str, list[str]] = {"remote": [], "failed": [], "console": []}

    def route(request_route):
        if request_route.request.url.startswith(LOCAL):
            request_route.continue_()
        else:
            trouble["remote"].append(request_route.request.url)
            request_route.abort()

    page.route("**/*", route)
    page.on("requestfailed", lambda r: trouble["failed"].append(f"{r.url} ({r.failure})"))
    page.on("console", lambda m: m.type == "error" and trouble["console"].append(m.text))
    page.on("pageerror", lambda e: trouble["console"].append(str(e)))
    page.goto(url)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(300)  # timers due at load
    return page, trouble


# what a reader sees: the title, loaded images (naturalWidth > 0), maths drawn by KaTeX, raw TeX left over
PAGE_STATE = """() => {
  const article = document.querySelector("article") || document.body;
  const images = [...document.querySelectorAll("img")].filter(i => i.offsetWidth > 0);
  const maths = [...article.querySelectorAll(".math")];
  return {
    title: document.title,
    h1: (article.querySelector("h1") || {textContent: ""}).textContent.replace("#", "").trim(),
    figures: [...article.querySelectorAll(".cell_output img")].filter(i => i.naturalWidth > 0).length,
    broken: images.filter(i => !i.complete || i.naturalWidth === 0).map(i => i.src),
    logo: [...document.querySelectorAll("img.logo__image")].some(i => i.naturalWidth > 0),
    maths: maths.length,
    drawn: maths.filter(m => m.querySelector(".katex")).length,
    rawTex: maths.filter(m => /\\\\\\(|\\\\\\[/.test(m.textContent) && !m.querySelector(".katex"))
      .map(m => m.textContent.slice(0, 60)),
    errors: [...document.querySelectorAll(".katex-error")].map(e => e.textContent.slice(0, 60)),
    fontsLoaded: document.fonts.status,
    katexFonts: [...document.fonts].filter(f => f.family.includes("KaTeX") && f.status === "loaded").length,
  };
}"""


def test_home_and_lecture_pages_render_offline(built, browser):
    html, _ = built
    page, trouble = open_page(browser, (html / "index.html").as_uri())
    try:
        home = page.evaluate(PAGE_STATE)
        assert home["title"].startswith("XAI for Health"), home["title"]
        assert home["h1"] == "XAI for Health" and home["logo"] and home["broken"] == [], home
        assert page.locator("table a[href='notebooks/03_shap_lime.html']").count() == 1
        page.click(f"table a[href='notebooks/{LECTURE}.html']")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(300)
        lecture = page.evaluate(PAGE_STATE)
        assert lecture["h1"].startswith("03 · Model-agnostic explanations"), lecture["h1"]
        assert lecture["title"].startswith(lecture["h1"][:20]), lecture["title"]
        assert lecture["figures"] >= 5 and lecture["broken"] == [], lecture
        assert lecture["maths"] >= 20 and lecture["drawn"] == lecture["maths"], lecture
        assert lecture["rawTex"] == [] and lecture["errors"] == [], lecture
        assert lecture["katexFonts"] > 0, "KaTeX fonts not loaded from the local copy"
        with page.expect_navigation():
            page.click(f"a[href='../slides/{LECTURE}.slides.html']")
        page.wait_for_function("window.Reveal && Reveal.isReady()", timeout=15_000)
        page.wait_for_load_state("networkidle")
        assert page.evaluate("Reveal.getTotalSlides()") > 10
        assert trouble == {"remote": [], "failed": [], "console": []}, trouble
    finally:
        page.close()


def test_search_works_offline(built, browser):
    html, _ = built
    page, trouble = open_page(browser, (html / "search.html").as_uri() + "?q=KernelSHAP")
    try:
        page.wait_for_function("document.querySelectorAll('#search-results li').length > 0", timeout=15_000)
        hits = page.evaluate("[...document.querySelectorAll('#search-results li a')].map(a => a.href)")
        assert any(h.endswith(f"notebooks/{LECTURE}.html") or f"{LECTURE}.html#" in h for h in hits), hits
        assert trouble == {"remote": [], "failed": [], "console": []}, trouble
    finally:
        page.close()


def test_site_target_in_makefile_and_build_ignored():
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert "\nsite: setup" in makefile and "xaihealth.tooling.site" in makefile
    assert "docs/_build/" in (ROOT / ".gitignore").read_text(encoding="utf-8")
