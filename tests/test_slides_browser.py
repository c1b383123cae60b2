"""Every deck, opened from disk in headless Chromium with the network blocked, can be presented.

For each ``slides/*.slides.html`` the test walks every slide (``Reveal.slide(h, v, f)`` with all fragments
shown) at the deck's own 1280 x 720 canvas in a 1280 x 720 window, and checks what an instructor would see:

* nothing but ``file:`` (and ``data:``) URLs is requested, and no shipped file is missing;
* no raw TeX delimiters (``$$``, ``\\(``, ``\\[``, ``$\\``) are left in the text of markdown cells or notes,
  KaTeX rendered every markdown cell of the source that has maths, and no formula failed (``.katex-error``);
* every image of the shown slide lies inside the window;
* no element is wider than its box (``scrollWidth`` > ``clientWidth`` + 4 px): nothing is cut at the right;
* every section (top-level slide, with its vertical sub-slides) has at least one speaker note.

It uses Playwright's Python package with the system Chromium (Debian's ``chromium``; never
``playwright install``). Set ``XAIHEALTH_SLIDE_SHOTS=/some/folder`` to also save three screenshots per deck
(the title, the first figure, the first slide with maths or else the last slide).
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import nbformat
import pytest
from helpers import NOTEBOOKS, SLIDES

from xaihealth.tooling import slides as slide_tool

DECKS = sorted(SLIDES.glob("*.slides.html"))
WIDTH, HEIGHT = slide_tool.WIDTH, slide_tool.HEIGHT
TOLERANCE_PX = 4
RAW_TEX = ("$$", "\\(", "\\[", "$\\")
MATHS = re.compile(r"\$\$.+?\$\$|\$[^\s$][^$]*?\$|\\\(.+?\\\)|\\\[.+?\\\]", re.S)
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


def chromium() -> str | None:
    found = os.environ.get("XAIHEALTH_CHROMIUM") or shutil.which("chromium")
    return found or shutil.which("chromium-browser")


def markdown_cells_with_maths(deck: Path) -> int:
    """Markdown cells of the deck's source notebook that are on the slides and contain maths."""
    nb = nbformat.read(NOTEBOOKS / deck.name.replace(".slides.html", ".ipynb"), as_version=4)
    count = 0
    for cell in nb.cells:
        if cell.cell_type != "markdown" or cell.metadata.get("slideshow", {}).get("slide_type") == "skip":
            continue
        if "remove-cell" in cell.metadata.get("tags", []):
            continue
        count += bool(MATHS.search(CODE.sub("", cell.source)))
    return count


# every slide in turn, all fragments shown: images outside the window, elements wider than their box
WALK_DECK = """async ([w, h, tol, FRAMES]) => {
  const frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const positions = [...document.querySelectorAll(".reveal .slides > section")].flatMap((s, i) => {
    const vs = s.querySelectorAll(":scope > section");
    return vs.length ? [...vs].map((_, v) => [i, v]) : [[i, 0]];
  });
  const out = {positions, images: [], overflow: [], withImage: [], withMaths: []};
  for (const [hi, vi] of positions) {
    Reveal.slide(hi, vi, 1000);
    await (FRAMES ? frame() : Promise.resolve());
    const slide = Reveal.getCurrentSlide();
    const heading = slide.querySelector("h1, h2, h3, h4")
      || slide.closest(".slides > section").querySelector("h1, h2");
    const title = heading ? heading.textContent.replace("\u00b6", "").trim().slice(0, 40) : "";
    const at = `slide ${hi}.${vi} (${title})`;
    let hasImage = false;
    for (const img of slide.querySelectorAll("img")) {
      if (img.closest("aside.notes")) continue;
      const r = img.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      hasImage = true;
      if (r.left < -1 || r.top < -1 || r.right > w + 1 || r.bottom > h + 1) {
        const [x0, y0, x1, y1] = [r.left, r.top, r.right, r.bottom].map(Math.round);
        out.images.push(`${at}: img ${x1 - x0}x${y1 - y0} at (${x0}, ${y0})-(${x1}, ${y1})`);
      }
    }
    for (const el of [slide, ...slide.querySelectorAll("*")]) {
      if (el.closest("aside.notes") || el.closest(".katex-mathml") || el.clientWidth === 0) continue;
      const excess = el.scrollWidth - el.clientWidth;
      if (excess > tol) {
        const text = (el.innerText || "").trim().split("\\n")[0].slice(0, 60);
        const tag = `<${el.tagName.toLowerCase()} class="${el.className}">`;
        out.overflow.push(`${at}: ${tag} ${excess}px too wide: ${text}`);
      }
    }
    if (hasImage) out.withImage.push([hi, vi]);
    const maths = [...slide.querySelectorAll(".katex")].some(k => !k.closest("aside.notes"));
    if (maths) out.withMaths.push([hi, vi]);
  }
  return out;
}"""

# the whole deck: raw TeX left in markdown/notes text (outside KaTeX), KaTeX cells, errors, notes per section
CHECK_DECK = """(raw) => {
  const textOutsideKatex = (root) => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    let text = "";
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const p = n.parentElement;
      if (p.closest(".katex") || p.closest("code") || p.closest("pre")) continue;
      text += n.textContent;
    }
    return text;
  };
  const rawTex = [];
  for (const el of document.querySelectorAll(".jp-MarkdownOutput, aside.notes")) {
    const text = textOutsideKatex(el);
    for (const d of raw) {
      const i = text.indexOf(d);
      if (i >= 0) rawTex.push(`${d} in: ${text.slice(Math.max(0, i - 30), i + 40).replace(/\\s+/g, " ")}`);
    }
  }
  const sections = [...document.querySelectorAll(".reveal .slides > section")];
  const withoutNotes = sections.map((s, i) => [i, s]).filter(([i, s]) => !s.querySelector("aside.notes"))
    .map(([i, s]) => `${i}: ${(s.querySelector("h1, h2, h3") || s).textContent.trim().slice(0, 50)}`);
  return {
    rawTex,
    katexCells: [...document.querySelectorAll(".jp-MarkdownOutput")].filter(e => e.querySelector(".katex"))
      .length,
    katexErrors: [...document.querySelectorAll(".katex-error")].map(e => e.textContent.slice(0, 60)),
    sections: sections.length,
    withoutNotes,
  };
}"""


@pytest.fixture(scope="module")
def browser():
    path = chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("no chromium: install Debian's `chromium` (.ci/run does as root)")
        pytest.skip("no chromium on PATH (Debian: apt-get install chromium; or set XAIHEALTH_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path, args=["--no-sandbox", "--disable-gpu"])
        yield browser
        browser.close()


def open_deck(browser, deck: Path):
    page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
    remote, failed = [], []

    def route(request_route):
        url = request_route.request.url
        if url.startswith(("file:", "data:")):
            request_route.continue_()
        else:
            remote.append(url)
            request_route.abort()

    page.route("**/*", route)
    page.on("requestfailed", lambda request: failed.append(request.url))
    page.goto(deck.as_uri())
    page.wait_for_function("window.Reveal && Reveal.isReady()", timeout=15_000)
    page.evaluate("Reveal.configure({transition: 'none', backgroundTransition: 'none'})")
    return page, remote, failed


def show(page, h: int, v: int) -> None:
    page.evaluate(f"Reveal.slide({h}, {v}, 1000)")  # every fragment shown
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


def test_decks_exist():
    assert DECKS, "no slides/*.slides.html: run `make slides`"


@pytest.mark.parametrize("deck", DECKS, ids=lambda p: p.name.removesuffix(".slides.html"))
def test_deck_presents_offline(browser, deck):
    page, remote, failed = open_deck(browser, deck)
    try:
        # layout is synchronous once Reveal.slide() returns (transitions off; the fit script runs on
        # slidechanged), so no animation frame is awaited: the same results as two frames, 2-3x faster
        walked = page.evaluate(WALK_DECK, [WIDTH, HEIGHT, TOLERANCE_PX, False])
        positions, images, overflow = walked["positions"], walked["images"], walked["overflow"]
        assert len(positions) == page.evaluate("Reveal.getTotalSlides()")
        shots = {"title": positions[0]}
        if walked["withImage"]:
            shots["figure"] = walked["withImage"][0]
        shots["maths"] = walked["withMaths"][0] if walked["withMaths"] else positions[-1]
        deck_check = page.evaluate(CHECK_DECK, list(RAW_TEX))
        save_shots(page, deck, shots)

        assert remote == [], f"{deck.name} requested the network: {remote[:5]}"
        assert failed == [], f"{deck.name}: files missing from slides/: {failed[:5]}"
        assert deck_check["rawTex"] == [], f"{deck.name}: raw TeX on the slides: {deck_check['rawTex'][:5]}"
        assert deck_check["katexErrors"] == [], f"{deck.name}: KaTeX errors: {deck_check['katexErrors'][:5]}"
        expected = markdown_cells_with_maths(deck) if (NOTEBOOKS / deck.name.replace(
            ".slides.html", ".ipynb")).exists() else 0
        assert deck_check["katexCells"] >= expected, (
            f"{deck.name}: {expected} markdown cells have maths, KaTeX rendered {deck_check['katexCells']}"
        )
        assert images == [], (
            f"{deck.name}: {len(images)} images outside the {WIDTH}x{HEIGHT} window (tag the code cell "
            f"'remove-input', or give the figure its own sub-slide): {images[:8]}"
        )
        assert overflow == [], f"{deck.name}: {len(overflow)} elements overflow horizontally: {overflow[:6]}"
        assert deck_check["withoutNotes"] == [], (
            f"{deck.name}: {len(deck_check['withoutNotes'])} of {deck_check['sections']} sections have no "
            f"speaker note (markdown cell with slide_type 'notes'): {deck_check['withoutNotes']}"
        )
    finally:
        page.close()


def save_shots(page, deck: Path, shots: dict) -> None:
    folder = os.environ.get("XAIHEALTH_SLIDE_SHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    stem = deck.name.removesuffix(".slides.html")
    for name, (h, v) in shots.items():
        show(page, h, v)
        page.screenshot(path=str(Path(folder) / f"{stem}_{name}_{h}.{v}.png"))


def test_raw_tex_detector_and_maths_pattern():
    assert MATHS.search("the value $\\phi_i$ of feature i")
    assert MATHS.search("$$A = QK^T$$")
    assert not MATHS.search("costs $ 5 or $ 10")
    assert not MATHS.search(CODE.sub("", "use `df.loc[$a$]` here"))


def test_speaker_view_opens_offline_with_the_notes(browser, tmp_path):
    """Press S: reveal.js's speaker view (local notes plugin) opens, shows the slide's note, maths drawn."""
    from test_slides import _tiny_notebook

    for shipped in ("reveal.js", "katex", slide_tool.CSS_FILE):
        (tmp_path / shipped).symlink_to(SLIDES / shipped)
    _, notebook = _tiny_notebook(tmp_path)
    deck = tmp_path / "99_tiny.slides.html"
    deck.write_text(slide_tool.render(notebook), encoding="utf-8")
    page, remote, failed = open_deck(browser, deck)
    try:
        with page.expect_popup() as popup:
            page.keyboard.press("s")
        speaker = popup.value
        speaker.wait_for_function(
            "document.querySelector('.speaker-controls-notes') &&"
            " document.querySelector('.speaker-controls-notes').innerText.includes('clinical point')",
            timeout=10_000,
        )
        assert speaker.evaluate("!!document.querySelector('.speaker-controls-notes math')"), "notes maths"
        assert remote == [] and failed == []
    finally:
        page.close()
