"""Binder's `postBuild`, run in a simulation of repo2docker's layout.

repo2docker builds the conda environment from environment.yml at ``$NB_PYTHON_PREFIX``
(``/srv/conda/envs/notebook``, the kernel's and the server's ``sys.prefix``), under ``$CONDA_DIR``
(``/srv/conda``), puts that environment's ``bin`` first on ``PATH`` and runs ``postBuild`` from the
repository. The simulation builds the same tree under a temporary folder: the environment is a real Python
environment (a venv, so its ``sys.prefix`` is the environment folder) whose ``pip`` is a stub that records
its arguments, and which sees this venv's packages (a ``.pth``), so that Jupyter itself, run with that
``sys.prefix``, says where it reads its settings. Then it checks that postBuild exits 0, installs the course
package, and leaves the course's settings (``etc/prefix``) where JupyterLab and the server read them, and
nothing in ``$CONDA_DIR`` outside the environment. Broken variants of postBuild must fail the same checks.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sysconfig
import venv
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from helpers import ROOT

PREFIX_TREE = ROOT / "etc" / "prefix"
# the course package, editable, with environment.yml's setuptools (as make setup does with the lock's)
PIP_INSTALL = ["install", "--no-deps", "--no-build-isolation", "-e", "."]
FAKE_PIP = """import json, os, sys
with open(os.environ["FAKE_PIP_LOG"], "a") as log:
    log.write(json.dumps({"argv": sys.argv[1:], "cwd": os.getcwd()}) + "\\n")
"""
# what JupyterLab and the server read, asked of Jupyter itself in the environment's Python
WHERE_JUPYTER_READS = """import json, os, sys
from jupyterlab.commands import get_app_dir
from jupyterlab_server.config import get_page_config
from jupyter_server.serverapp import ServerApp
settings = os.path.join(get_app_dir(), "settings")
app = ServerApp()
app.load_config_file()
print(json.dumps({
    "prefix": sys.prefix,
    "app_dir": get_app_dir(),
    "overrides": open(os.path.join(settings, "overrides.json")).read()
                 if os.path.exists(os.path.join(settings, "overrides.json")) else None,
    "page_config": get_page_config([], settings),
    "hide_globs": list(app.config.ContentsManager.get("hide_globs", [])),
}))
"""


def simulate(postbuild: str, tmp: Path) -> list[str]:
    """Run ``postbuild`` (the script's text) in a simulated repo2docker layout under ``tmp``; the problems."""
    conda = tmp / "srv" / "conda"
    env_dir = conda / "envs" / "notebook"
    venv.create(env_dir, with_pip=False, symlinks=True)
    site = Path(sysconfig.get_path("purelib", vars={"base": str(env_dir), "platbase": str(env_dir)}))
    (site / "pip").mkdir(parents=True)
    (site / "pip" / "__init__.py").write_text("")
    (site / "pip" / "__main__.py").write_text(FAKE_PIP)
    (site / "this_venv.pth").write_text(sysconfig.get_path("purelib") + "\n")  # after the stub pip
    # JupyterLab's wheel installs its app folder (static, schemas, themes; no settings/) into the environment
    (env_dir / "share" / "jupyter" / "lab" / "static").mkdir(parents=True)
    pip_command = env_dir / "bin" / "pip"  # `pip` on PATH is the environment's, as in repo2docker
    pip_command.write_text('#!/bin/sh\nexec "$(dirname "$0")/python" -m pip "$@"\n')
    pip_command.chmod(0o755)
    (tmp / "home").mkdir()
    script = tmp / "postBuild"
    script.write_text(postbuild)
    outside = ("JUPYTER", "VIRTUAL_ENV", "CONDA", "PYTHON")  # nothing of this process's environment leaks in
    env = {k: v for k, v in os.environ.items() if not k.startswith(outside)}
    env.update(PATH=f"{env_dir / 'bin'}{os.pathsep}{env['PATH']}", CONDA_DIR=str(conda),
               NB_PYTHON_PREFIX=str(env_dir), HOME=str(tmp / "home"), FAKE_PIP_LOG=str(tmp / "pip.log"),
               JUPYTER_CONFIG_DIR=str(tmp / "home" / ".jupyter"))  # fmt: skip
    run = subprocess.run(["bash", str(script)], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    if run.returncode != 0:
        return [f"postBuild exited {run.returncode}: {run.stderr[-1500:]}"]
    problems = []
    log = tmp / "pip.log"
    calls = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    if [c["argv"] for c in calls] != [PIP_INSTALL] or calls[0]["cwd"] != str(ROOT):
        problems.append(f"expected one `pip {' '.join(PIP_INSTALL)}` in the repository, got {calls}")
    strays = sorted(str(p.relative_to(conda)) for p in conda.iterdir() if p.name != "envs")
    if strays:
        problems.append(f"postBuild wrote into $CONDA_DIR outside the environment: {strays}")
    read = subprocess.run([str(env_dir / "bin" / "python"), "-c", WHERE_JUPYTER_READS], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert read.returncode == 0, read.stderr[-2000:]
    seen = json.loads(read.stdout)
    assert seen["prefix"] == str(env_dir), "the simulated environment's sys.prefix is not its folder"
    assert seen["app_dir"] == str(env_dir / "share/jupyter/lab"), f"JupyterLab's app dir: {seen['app_dir']}"
    ours = json.loads((PREFIX_TREE / "share/jupyter/lab/settings/overrides.json").read_text())
    if seen["overrides"] is None or json.loads(seen["overrides"]) != ours:
        problems.append("JupyterLab does not read the course's overrides.json (viewers, file browser)")
    if (seen["page_config"].get("buildCheck"), seen["page_config"].get("buildAvailable")) != (False, False):
        problems.append(f"JupyterLab's page config would prompt for a build: {seen['page_config']}")
    ours_globs = json.loads((PREFIX_TREE / "etc/jupyter/jupyter_server_config.json").read_text())
    if seen["hide_globs"] != ours_globs["ContentsManager"]["hide_globs"]:
        problems.append(f"the server's ContentsManager.hide_globs is {seen['hide_globs']}, not the course's")
    return problems


def test_postbuild_installs_the_package_and_the_settings_where_jupyter_reads_them(tmp_path):
    problems = simulate((ROOT / "postBuild").read_text(), tmp_path)
    assert not problems, "\n".join(problems)


def test_postbuild_is_executable_and_stops_on_errors():
    text = (ROOT / "postBuild").read_text()
    assert os.access(ROOT / "postBuild", os.X_OK) and text.startswith("#!/usr/bin/env bash\n")
    assert "set -euo pipefail" in text
    # without build isolation, pip builds the package with the environment's own setuptools
    assert re.search(r"^      - setuptools==\S+$", (ROOT / "environment.yml").read_text(), re.M)


BROKEN = {
    # the first version: settings folder made under $CONDA_DIR, file copied under sys.prefix (set -e aborts)
    "folder under CONDA_DIR": """#!/usr/bin/env bash
set -euo pipefail
pip install --no-deps -e .
mkdir -p "${CONDA_DIR:-$(python -c 'import sys; print(sys.prefix)')}/share/jupyter/lab/settings"
cp etc/prefix/share/jupyter/lab/settings/overrides.json \\
   "$(python -c 'import sys; print(sys.prefix)')/share/jupyter/lab/settings/overrides.json"
""",
    "everything into CONDA_DIR": """#!/usr/bin/env bash
set -euo pipefail
python -m pip install --no-deps --no-build-isolation -e .
cp -R etc/prefix/. "$CONDA_DIR/"
""",
    "only the lab settings": """#!/usr/bin/env bash
set -euo pipefail
python -m pip install --no-deps --no-build-isolation -e .
prefix="$(python -c 'import sys; print(sys.prefix)')"
cp -R etc/prefix/share/. "$prefix/share/"
""",
    "no package install": """#!/usr/bin/env bash
set -euo pipefail
cp -R etc/prefix/. "$(python -c 'import sys; print(sys.prefix)')/"
""",
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_the_simulation_rejects_broken_postbuilds(name, tmp_path):
    assert simulate(BROKEN[name], tmp_path), f"the simulation accepts a broken postBuild ({name})"



def test_the_readme_binder_badge_opens_the_start_page():
    readme = (ROOT / "README.md").read_text()
    links = re.findall(r"\]\((https://mybinder\.org/v2/gh/[^)\s]+)\)", readme)
    assert links, "README has no Binder badge (a link to https://mybinder.org/v2/gh/...)"
    for link in links:
        query = parse_qs(urlsplit(link).query)
        assert query.get("urlpath") == ["lab/tree/START.md"], f"{link} does not open START.md in JupyterLab"
    assert (ROOT / "START.md").is_file()
