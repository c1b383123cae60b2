"""``make setup`` reruns with the network cut once every pinned package is installed.

After an update of requirements.txt or pyproject.toml the stamp is stale and ``make lab`` reruns setup.
The test runs the Makefile's own ``setup`` recipe for a scratch venv (``make VENV=...``) whose
site-packages sees this repository's installed stack (a ``.pth`` line), with the network cut
(``unshare -n``; where a namespace cannot be made, ``PIP_NO_INDEX=1``) and none of this machine's pip
configuration (no local wheel folder or index that a laptop would not have). It must succeed and leave
``xaihealth`` importable from ``src/``. A control proves the cut is real: the former recipe, an editable
install with build isolation, has to download setuptools and fails.
"""

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from helpers import ROOT


def network_cut() -> tuple[list[str], dict[str, str]]:
    """A command prefix and environment under which nothing can be downloaded."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env |= {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    unshare = shutil.which("unshare") and subprocess.run(["unshare", "-n", "true"], capture_output=True)
    if unshare and unshare.returncode == 0:
        return ["unshare", "-n"], env
    return [], env | {"PIP_NO_INDEX": "1"}


@pytest.fixture
def scratch_venv(tmp_path) -> Path:
    """A venv without packages of its own that sees this repository's installed stack."""
    venv = tmp_path / "venv"
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    where = "import sysconfig; print(sysconfig.get_path('purelib'))"
    found = subprocess.run([venv / "bin/python", "-c", where], capture_output=True, text=True, check=True)
    site = Path(found.stdout.strip())
    (site / "course-stack.pth").write_text(sysconfig.get_path("purelib") + "\n")
    return venv


def test_make_setup_reruns_with_the_network_cut(scratch_venv):
    prefix, env = network_cut()
    python = scratch_venv / "bin/python"
    isolated_build = [python, "-m", "pip", "install", "--no-deps", "--dry-run", "-e", str(ROOT)]
    control = subprocess.run([*prefix, *isolated_build], capture_output=True, text=True, env=env, timeout=300)
    assert control.returncode != 0, "the network is not cut: an isolated editable build found setuptools"
    done = subprocess.run([*prefix, "make", "-C", str(ROOT), f"VENV={scratch_venv}", "setup"],
                          capture_output=True, text=True, env=env, timeout=600)  # fmt: skip
    assert done.returncode == 0, f"make setup failed offline:\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    where = subprocess.run([python, "-c", "import xaihealth; print(xaihealth.__file__)"],
                           capture_output=True, text=True, env=env, check=True).stdout.strip()  # fmt: skip
    assert Path(where).is_relative_to(ROOT / "src"), where
    assert (scratch_venv / ".installed").exists()
