"""Every deck, opened from disk in headless Chromium with the network blocked, can be presented.

For each ``slides/*.slides.html`` the test walks every slide (``Reveal.slide(h, v, f)`` with all fragments
shown, after the template's fit script) at the deck's own 1280 x 720 canvas in a 1280 x 720 window, and checks
what an instructor would see, without scrolling:

* nothing but ``file:`` (and ``data:``) URLs is requested, also by timers or lazy loads (the deck stays open
  ``LATE_REQUEST_MS``, then ``SETTLE_MS`` with no new request, before this is judged), and no shipped file is
  missing;
* KaTeX is loaded; no raw TeX (``$$``, ``$...$``, ``\\(``, ``\\[``, ``$\\``, ``\\frac``, ``\\sum``,
  ``\\begin{``) is left in any text of the slides or notes outside KaTeX, ``code`` and ``pre``; KaTeX rendered
  every markdown cell of the source that has maths, and no formula failed (``.katex-error``);
* no slide is taller than the canvas (``scrollHeight`` > 700 px, the fit script's limit, or the fit script
  gave it a scrollbar): split long shown code over sub-slides, or hide plumbing (``remove-input``/``skip``);
* every figure (``img``, ``svg``, ``canvas``, ``iframe``, ``video``) lies inside the window, is not clipped
  by a box that hides its overflow, and is shown at >= ``MIN_IMAGE_SCALE`` of its natural width;
* text outside KaTeX is >= ``MIN_TEXT_PX`` window pixels (computed font size x ``Reveal.getScale()``);
* no element is wider than its box (``scrollWidth`` > ``clientWidth`` + 4 px): nothing is cut at the right;
* every section (top-level slide, with its vertical sub-slides) has speaker notes of more than
  ``MIN_NOTE_CHARS`` characters.

All defects of a deck are reported together, one line per kind, with the slides (``h.v``) concerned.

It uses Playwright's Python package with the system Chromium (Debian's ``chromium``; never
``playwright install``). Set ``XAIHEALTH_SLIDE_SHOTS=/some/folder`` to also save three screenshots per deck
(the title, the first figure, the first slide with maths or else the last slide).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import nbformat
import pytest
from helpers import NOTEBOOKS, SLIDES

from xaihealth.tooling import slides as slide_tool

DECKS = sorted(SLIDES.glob("*.slides.html"))
WIDTH, HEIGHT = slide_tool.WIDTH, slide_tool.HEIGHT
TOLERANCE_PX = 4
RAW_TEX = ("$$", "\\(", "\\[", "$\\", "\\frac", "\\sum", "\\begin{")  # and single-dollar $...$ (CHECK_DECK)
MIN_IMAGE_SCALE = 0.8  # a figure shown smaller: its 8-pt text (~12 px at 110 dpi) is under 10 px
MIN_TEXT_PX = 12  # text outside KaTeX, in window pixels (computed font size x Reveal.getScale())
MIN_NOTE_CHARS = 40  # speaker-note text per section
LATE_REQUEST_MS = 3500  # ms after navigation the deck stays open before requests are judged
SETTLE_MS = 300  # then no new request for this long
MATHS = re.compile(r"\$\$.+?\$\$|\$[^\s$][^$]*?\$|\\\(.+?\\\)|\\\[.+?\\\]", re.S)
CODE = re.compile(r"```.*?```|`[^`\n]*`", re.S)


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


# every slide in turn, all fragments shown (after the template's fit script has run): what the instructor sees
WALK_DECK = """async ([w, h, tol, FRAMES, minScale, minFont]) => {
  const frame = () => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  const positions = [...document.querySelectorAll(".reveal .slides > section")].flatMap((s, i) => {
    const vs = s.querySelectorAll(":scope > section");
    return vs.length ? [...vs].map((_, v) => [i, v]) : [[i, 0]];
  });
  const out = {positions, images: [], overflow: [], tall: [], small: [], tinyText: [], withImage: [],
               withMaths: []};
  const round = (r) => [r.left, r.top, r.right, r.bottom].map(Math.round);
  const box = (r) => {
    const [x0, y0, x1, y1] = round(r);
    return `${x1 - x0}x${y1 - y0} at (${x0}, ${y0})-(${x1}, ${y1})`;
  };
  // the natural (intrinsic) width of a figure element, or 0 where it has none
  const natural = (el) => {
    const tag = el.tagName.toLowerCase();
    if (tag === "img") return el.naturalWidth;
    if (tag === "canvas") return el.width;
    if (tag === "video") return el.videoWidth;
    if (tag === "svg") {
      const a = parseFloat(el.getAttribute("width"));
      if (a > 0 && !/%/.test(el.getAttribute("width"))) return a;
      const vb = el.viewBox && el.viewBox.baseVal;
      return vb && vb.width > 0 ? vb.width : 0;
    }
    return 0;
  };
  for (const [hi, vi] of positions) {
    Reveal.slide(hi, vi, 1000);
    await (FRAMES ? frame() : Promise.resolve());
    const scale = Reveal.getScale();
    const slide = Reveal.getCurrentSlide();
    const heading = slide.querySelector("h1, h2, h3, h4")
      || slide.closest(".slides > section").querySelector("h1, h2");
    const title = heading ? heading.textContent.replace("\\u00b6", "").trim().slice(0, 40) : "";
    const at = `slide ${hi}.${vi} (${title})`;
    // taller than the canvas: the fit script's limit (it sets a scrollbar then), or content below the window
    const limit = h - 20;
    if (slide.scrollHeight > limit || slide.style.overflowY === "auto") {
      out.tall.push(`${at}: ${slide.scrollHeight}px tall, the canvas holds ${limit}px`);
    }
    let hasImage = false;
    for (const img of slide.querySelectorAll("img, svg, canvas, iframe, video")) {
      if (img.closest("aside.notes") || img.closest(".katex") || img.parentElement.closest("svg")) continue;
      const r = img.getBoundingClientRect();
      if (r.width === 0 && r.height === 0) continue;
      hasImage = true;
      const tag = img.tagName.toLowerCase();
      if (r.left < -1 || r.top < -1 || r.right > w + 1 || r.bottom > h + 1) {
        out.images.push(`${at}: ${tag} ${box(r)} outside the window`);
      }
      // clipped by an ancestor that hides its overflow (the slide itself included)
      for (let a = img.parentElement; a && a !== document.body; a = a.parentElement) {
        const cs = getComputedStyle(a);
        if (cs.overflowX === "visible" && cs.overflowY === "visible") continue;
        const c = a.getBoundingClientRect();
        if (r.left < c.left - 1 || r.top < c.top - 1 || r.right > c.right + 1 || r.bottom > c.bottom + 1) {
          const by = `<${a.tagName.toLowerCase()} class="${a.className}">`;
          out.images.push(`${at}: ${tag} ${box(r)} clipped by ${by} ${box(c)}`);
          break;
        }
        if (a === slide) break;
      }
      const nat = natural(img);
      if (nat > 0 && r.width / nat < minScale) {
        const f = (r.width / nat).toFixed(2);
        out.small.push(`${at}: ${tag} shown at ${f} of its ${nat}px width (${box(r)})`);
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
    // visible text outside KaTeX: computed font size times the deck's scale, in window pixels
    const seen = new Set();
    const walker = document.createTreeWalker(slide, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const p = n.parentElement;
      if (!p || seen.has(p) || !n.textContent.trim()) continue;
      seen.add(p);
      if (p.closest("aside.notes, .katex, script, style, svg")) continue;
      const r = p.getBoundingClientRect();
      if (r.width === 0 || r.height === 0 || getComputedStyle(p).visibility === "hidden") continue;
      const px = parseFloat(getComputedStyle(p).fontSize) * scale;
      if (px < minFont) {
        out.tinyText.push(`${at}: ${px.toFixed(1)}px text: ${n.textContent.trim().slice(0, 40)}`);
      }
    }
    if (hasImage) out.withImage.push([hi, vi]);
    const maths = [...slide.querySelectorAll(".katex")].some(k => !k.closest("aside.notes"));
    if (maths) out.withMaths.push([hi, vi]);
  }
  return out;
}"""

# the whole deck: raw TeX left in any text of the slides or notes (outside KaTeX, code and pre), KaTeX loaded
# and rendered, errors, speaker notes per section (with some text in them)
CHECK_DECK = """([raw, minNote]) => {
  const textOutsideKatex = (root) => {
    const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
    let text = "";
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const p = n.parentElement;
      if (!p || p.closest(".katex, code, pre, script, style")) continue;
      text += n.textContent + " ";
    }
    return text;
  };
  const single = /\\$[^\\s$][^$]*?\\$/;
  const rawTex = [];
  [...document.querySelectorAll(".reveal .slides > section")].forEach((section, si) => {
    const text = textOutsideKatex(section);
    const quote = (i) => text.slice(Math.max(0, i - 30), i + 40).replace(/\\s+/g, " ");
    for (const d of raw) {
      const i = text.indexOf(d);
      if (i >= 0) rawTex.push(`section ${si}: ${d} in: ${quote(i)}`);
    }
    const m = single.exec(text);
    if (m) rawTex.push(`section ${si}: $...$ in: ${quote(m.index)}`);
  });
  const sections = [...document.querySelectorAll(".reveal .slides > section")];
  const withoutNotes = sections.map((s, i) => [i, s]).filter(([i, s]) =>
    [...s.querySelectorAll("aside.notes")].map(a => a.textContent).join(" ").trim().length <= minNote)
    .map(([i, s]) => `${i}: ${(s.querySelector("h1, h2, h3") || s).textContent.trim().slice(0, 50)}`);
  return {
    rawTex,
    katexLoaded: typeof katex === "object" && typeof renderMathInElement === "function",
    katexCells: [...document.querySelectorAll(".jp-MarkdownOutput")].filter(e => e.querySelector(".katex"))
      .length,
    katexErrors: [...document.querySelectorAll(".katex-error")].map(e => e.textContent.slice(0, 60)),
    sections: sections.length,
    withoutNotes,
  };
}"""


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


def deck_problems(page, deck: Path, remote: list, failed: list) -> tuple[list[str], dict]:
    """Everything an instructor would trip over in the open deck, one line per kind of defect."""
    # layout is synchronous once Reveal.slide() returns (transitions off; the fit script runs on
    # slidechanged), so no animation frame is awaited: the same results as two frames, 2-3x faster
    walked = page.evaluate(WALK_DECK, [WIDTH, HEIGHT, TOLERANCE_PX, False, MIN_IMAGE_SCALE, MIN_TEXT_PX])
    deck_check = page.evaluate(CHECK_DECK, [list(RAW_TEX), MIN_NOTE_CHARS])
    # late requests (timers, lazy loads): the deck stays open LATE_REQUEST_MS, then the network settles
    # (the walk holds the page's thread, so timers due meanwhile fire now; their requests reach the route
    # handler some 10-100 ms later on a loaded machine, hence SETTLE_MS of quiet before judging)
    elapsed = page.evaluate("() => new Promise(r => setTimeout(() => r(performance.now()), 0))")
    page.wait_for_timeout(max(0.0, LATE_REQUEST_MS - elapsed))
    page.wait_for_load_state("networkidle")
    seen = -1
    while seen != len(remote) + len(failed):
        seen = len(remote) + len(failed)
        page.wait_for_timeout(SETTLE_MS)
    source = NOTEBOOKS / deck.name.replace(".slides.html", ".ipynb")
    expected = markdown_cells_with_maths(deck) if source.exists() else 0
    n = len(walked["positions"])
    problems = []

    def check(found, what):
        if found:
            more = " ..." if len(found) > 40 else ""
            problems.append(f"{len(found)} {what}: " + "; ".join(found[:40]) + more)

    check(remote, "network requests")
    check(failed, "files missing from slides/")
    if not deck_check["katexLoaded"]:
        problems.append("KaTeX is not loaded (katex / renderMathInElement undefined)")
    check(deck_check["rawTex"], "raw TeX on the slides or notes (outside code)")
    check(deck_check["katexErrors"], "KaTeX errors")
    if deck_check["katexCells"] < expected:
        problems.append(f"{expected} markdown cells have maths, KaTeX rendered {deck_check['katexCells']}")
    check(walked["tall"], f"of {n} slides taller than the {WIDTH}x{HEIGHT} canvas (split the cell over "
          "sub-slides, or tag plumbing 'remove-input'/'skip')")
    check(walked["images"], "figures outside the window or clipped (give the figure its own sub-slide)")
    check(walked["small"], f"figures shown at < {MIN_IMAGE_SCALE} of their size (smaller figsize)")
    check(walked["tinyText"], f"texts under {MIN_TEXT_PX} px")
    check(walked["overflow"], "elements overflow horizontally")
    check(deck_check["withoutNotes"], f"of {deck_check['sections']} sections without a speaker note of more "
          f"than {MIN_NOTE_CHARS} characters (markdown cell with slide_type 'notes')")
    return problems, walked


@pytest.mark.parametrize("deck", DECKS, ids=lambda p: p.name.removesuffix(".slides.html"))
def test_deck_presents_offline(browser, deck):
    page, remote, failed = open_deck(browser, deck)
    try:
        problems, walked = deck_problems(page, deck, remote, failed)
        positions = walked["positions"]
        assert len(positions) == page.evaluate("Reveal.getTotalSlides()")
        shots = {"title": positions[0]}
        if walked["withImage"]:
            shots["figure"] = walked["withImage"][0]
        shots["maths"] = walked["withMaths"][0] if walked["withMaths"] else positions[-1]
        save_shots(page, deck, shots)
        assert problems == [], f"{deck.name}:\n" + "\n".join(problems)
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
