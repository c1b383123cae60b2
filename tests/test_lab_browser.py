"""What a new student sees when `make lab` opens the course: headless Chromium on the running server.

The server is ``make lab`` itself (``labserver.running_lab``: free localhost port, token, empty Jupyter
config, data and runtime folders, so no saved workspace or user setting is restored). The browser is
Debian's chromium driven by Playwright (never ``playwright install``), with every request that does not go
to that server blocked. It opens the address ``make lab`` opens and checks:

* no "Build Recommended" dialog (nor any other dialog), and the build check never asked the server;
* the start page: START.md is the open tab, as a rendered Markdown preview, with the course map's links;
* the file browser: no developer folders at the root, one entry per lecture in ``notebooks/`` (the paired
  ``.py`` hidden) and per lab in ``labs/``, none of the names cut off.

A second server, given a config folder that turns the build check back on (as JupyterLab does by default),
must show the dialog: the check above can fail.
"""

from __future__ import annotations

import json
from urllib.parse import urlparse

import pytest
from helpers import ROOT
from labserver import running_lab

TOKEN = "course-browser-token"
READY_MS = 40_000  # JupyterLab's first load on a busy 2-core machine
BUILD_CHECK_MS = 2_000  # after the app is ready, time for the build check's request and dialog
LECTURES = sorted(p.with_suffix(".ipynb").name for p in (ROOT / "notebooks").glob("[0-9]*.py"))
LABS = sorted(p.name for p in (ROOT / "labs").glob("*.ipynb"))
DEVELOPER = {"src", "tests", "scripts", "benchmarks", "etc", "docs", "Makefile", "pyproject.toml",
             "requirements.txt", "environment.yml", "postBuild", "jupytext.toml", "conftest.py"}  # fmt: skip

LISTING = """() => [...document.querySelectorAll('.jp-FileBrowser .jp-DirListing-item')].map(item => {
  const text = item.querySelector('.jp-DirListing-itemText');
  return {name: text.textContent.trim(), cut: text.scrollWidth > text.clientWidth + 1};
})"""


def open_lab(browser, base: str, ready: bool = True):
    """A page on ``base`` (the address ``make lab`` opens), requests elsewhere blocked; (page, log).

    With ``ready``, returns once the file browser and the start page are shown and the build check has had
    ``BUILD_CHECK_MS`` to run; else as soon as the page has loaded.
    """
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    log = {"blocked": [], "build": []}

    def route(request_route):
        url = request_route.request.url
        if url.startswith((base, "data:", "blob:")):
            if "/lab/api/build" in url:
                log["build"].append(url)
            request_route.continue_()
        else:
            log["blocked"].append(url)
            request_route.abort()

    page.route("**/*", route)
    page.goto(f"{base}/?token={TOKEN}")
    if not ready:
        return page, log
    page.wait_for_selector(".jp-FileBrowser .jp-DirListing-item", timeout=READY_MS)
    page.wait_for_selector(".jp-MarkdownViewer .jp-RenderedMarkdown h2", timeout=READY_MS)
    page.wait_for_timeout(BUILD_CHECK_MS)
    return page, log


def dialogs(page) -> list[str]:
    return page.eval_on_selector_all(".jp-Dialog", "els => els.map(e => e.innerText.slice(0, 120))")


@pytest.fixture(scope="module")
def lab(browser, tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("lab"), TOKEN) as base:
        page, log = open_lab(browser, base)
        yield page, log
        page.close()


def test_no_build_dialog_and_no_build_check(lab):
    page, log = lab
    assert not dialogs(page), f"a dialog is open on the first screen: {dialogs(page)}"
    toasts = page.eval_on_selector_all(".Toastify__toast", "els => els.map(e => e.innerText.slice(0, 80))")
    assert not toasts, f"notifications on the first screen: {toasts}"
    assert not log["build"], f"the build check ran: {log['build']}"
    assert not log["blocked"], f"the page asked for addresses outside the server: {log['blocked'][:5]}"


def test_the_start_page_is_the_open_rendered_markdown(lab):
    page, _ = lab
    assert page.url.split("?")[0].endswith("/lab/tree/START.md")
    tab = page.inner_text(".jp-MainAreaWidget:not(.lm-mod-hidden) .jp-MarkdownViewer h1", timeout=5_000)
    assert "start here" in tab
    current = page.inner_text("#jp-main-dock-panel .lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel")
    assert current == "START.md"
    hrefs = page.eval_on_selector_all(".jp-MarkdownViewer .jp-RenderedMarkdown a",
                                      "els => els.map(a => a.getAttribute('href'))")  # fmt: skip
    for path in [f"notebooks/{n}" for n in LECTURES] + [f"labs/{n}" for n in LABS]:
        # JupyterLab resolves a relative link to the server's /files/<path> and opens it in the app on a click
        assert any(urlparse(h or "").path.endswith(f"/files/{path}") for h in hrefs), f"no link to {path}"


def test_file_browser_root_has_the_course_not_the_developer_folders(lab):
    page, _ = lab
    names = {entry["name"] for entry in page.evaluate(LISTING)}
    assert {"START.md", "notebooks", "labs", "solutions", "slides"} <= names, names
    assert not names & DEVELOPER, f"developer files in the course's file browser: {names & DEVELOPER}"


@pytest.mark.parametrize("folder, expected", [("notebooks", LECTURES), ("labs", LABS)])
def test_file_browser_shows_one_entry_per_notebook_with_full_names(lab, folder, expected):
    page, _ = lab
    page.dblclick(f".jp-FileBrowser .jp-DirListing-item[title^='Name: {folder}']")
    page.wait_for_function(
        "([n]) => [...document.querySelectorAll('.jp-FileBrowser .jp-DirListing-itemText')]"
        ".some(t => t.textContent.trim() === n)", arg=[expected[0]], timeout=10_000)
    entries = page.evaluate(LISTING)
    assert sorted(e["name"] for e in entries) == expected
    assert not [e["name"] for e in entries if e["cut"]], "names cut off in the file browser"
    page.click(".jp-FileBrowser .jp-BreadCrumbs-home")
    page.wait_for_function(
        "() => [...document.querySelectorAll('.jp-FileBrowser .jp-DirListing-itemText')]"
        ".some(t => t.textContent.trim() === 'START.md')", timeout=10_000)


def test_without_the_course_page_config_the_build_dialog_appears(browser, tmp_path):  # noqa: F811
    # JupyterLab's default (buildCheck/buildAvailable true), set in the user's config folder, made to win over
    # the environment's (jupyter_core prefers the environment's config inside a virtual environment)
    home = tmp_path / "default"
    (home / "config" / "labconfig").mkdir(parents=True)
    (home / "config" / "labconfig" / "page_config.json").write_text(
        json.dumps({"buildCheck": True, "buildAvailable": True}))
    with running_lab(home, TOKEN, env={"JUPYTER_PREFER_ENV_PATH": "0"}) as base:
        page, log = open_lab(browser, base, ready=False)
        try:
            page.wait_for_selector(".jp-Dialog", timeout=READY_MS)
            assert log["build"] and any("Build Recommended" in d for d in dialogs(page)), dialogs(page)
        finally:
            page.close()
