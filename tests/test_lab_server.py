"""`make lab`'s server: JupyterLab starts on the course, on START.md, and opens paired .py files as notebooks.

The course's Jupyter settings live in ``etc/prefix``, a tree that mirrors the environment's prefix
(``sys.prefix``); ``make setup`` copies it into ``.venv`` and Binder's ``postBuild`` into its conda
environment. The browser's view of the same server is tested in ``test_lab_browser.py``.
"""

import json
import re
import sys
import urllib.request
from pathlib import Path

import pytest
from helpers import ROOT
from labserver import running_lab

PREFIX_TREE = ROOT / "etc" / "prefix"
TOKEN = "course-test-token"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_lab(tmp_path_factory.mktemp("lab"), TOKEN) as base:
        yield base


def _get(base, path):
    with urllib.request.urlopen(f"{base}{path}?token={TOKEN}", timeout=30) as reply:
        return reply.status, reply.geturl(), reply.read()


def test_lab_page_is_served(server):
    status, _, body = _get(server, "/lab")
    assert status == 200 and b"JupyterLab" in body


def test_the_server_opens_on_the_start_page(server):
    # the address `make lab` opens in the browser (and / on the server) redirects to the default URL
    _, url, _ = _get(server, "/")
    assert url.split("?")[0] == f"{server}/lab/tree/START.md"


def test_the_page_config_turns_the_build_prompt_off(server):
    _, _, body = _get(server, "/lab")
    found = re.search(rb'<script id="jupyter-config-data" type="application/json">(.*?)</script>', body, re.S)
    config = json.loads(found.group(1))
    assert (config["buildCheck"], config["buildAvailable"]) == (False, False)


def test_py_source_opens_as_a_notebook(server):
    status, _, body = _get(server, "/api/contents/notebooks/00_clever_hans.py")
    model = json.loads(body)
    assert status == 200 and model["type"] == "notebook", "jupytext's contents manager is not active"
    assert any("Clever Hans" in "".join(cell["source"]) for cell in model["content"]["cells"])


def test_listings_show_one_entry_per_notebook_and_no_developer_folders(server):
    def names(path):
        return {entry["name"] for entry in json.loads(_get(server, f"/api/contents/{path}")[2])["content"]}

    lectures = {p.with_suffix(".ipynb").name for p in (ROOT / "notebooks").glob("[0-9]*.py")}
    assert names("notebooks") == lectures, "each lecture once, as its .ipynb (the .py half hidden)"
    assert names("labs") == {p.name for p in (ROOT / "labs").glob("*.ipynb")}
    root = names("")
    assert {"START.md", "notebooks", "labs", "solutions", "slides", "datasets"} <= root
    assert not root & {"src", "tests", "scripts", "benchmarks", "etc", "pyproject.toml", "conftest.py"}


def test_make_setup_installed_the_course_settings_into_the_environment():
    files = [p for p in PREFIX_TREE.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"overrides.json", "page_config.json", "jupyter_server_config.json"}
    stale = [str(p.relative_to(PREFIX_TREE)) for p in files
             if Path(sys.prefix, p.relative_to(PREFIX_TREE)).read_bytes() != p.read_bytes()]  # fmt: skip
    assert not stale, f"{stale} differ from etc/prefix in {sys.prefix}: run make setup"


def test_default_viewers_open_sources_as_notebooks_and_markdown_as_a_preview():
    overrides = json.loads((PREFIX_TREE / "share/jupyter/lab/settings/overrides.json").read_text())
    viewers = overrides["@jupyterlab/docmanager-extension:plugin"]["defaultViewers"]
    assert viewers == {"python": "Jupytext Notebook", "markdown": "Markdown Preview"}


def test_start_page_links_every_lecture_lab_and_deck_and_every_link_resolves():
    text = (ROOT / "START.md").read_text()
    links = re.findall(r"\]\(([^)#\s]+)\)", text)
    missing = [link for link in links if not (ROOT / link).exists()]
    assert not missing, f"START.md links to files that do not exist: {missing}"
    expected = ([f"notebooks/{p.stem}.ipynb" for p in (ROOT / "notebooks").glob("[0-9]*.py")]
                + [f"labs/{p.name}" for p in (ROOT / "labs").glob("*.ipynb")]
                + [f"slides/{p.name}" for p in (ROOT / "slides").glob("*.slides.html")])  # fmt: skip
    unlinked = sorted(set(expected) - set(links))
    assert not unlinked, f"START.md's course map does not link {unlinked}"


def test_hidden_names_are_the_paired_sources_and_developer_files_not_a_students_own_files():
    from jupyter_server.services.contents.manager import ContentsManager

    config = json.loads((PREFIX_TREE / "etc/jupyter/jupyter_server_config.json").read_text())
    manager = ContentsManager(hide_globs=config["ContentsManager"]["hide_globs"])
    sources = [p.name for folder in ("notebooks", "solutions") for p in (ROOT / folder).glob("*.py")]
    hidden = sources + ["src", "tests", "scripts", "conftest.py", "__pycache__"]
    folders = ("notebooks", "labs", "solutions")
    notebooks = [p.name for folder in folders for p in (ROOT / folder).glob("*.ipynb")]
    shown = ["Untitled.py", "my_features.py", "START.md", "README.md", "labs", "solutions", *notebooks]
    listed = [name for name in hidden if manager.should_list(name)]
    unlisted = [name for name in shown if not manager.should_list(name)]
    assert not listed, f"{listed} are listed, they should be hidden"
    assert not unlisted, f"{unlisted} are hidden, they should be listed"
