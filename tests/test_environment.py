"""requirements.txt is an exact lock, and environment.yml names the same stack at the same versions."""

import re

import yaml
from helpers import ROOT

STACK = ["torch", "torchvision", "jupyterlab", "jupytext", "nbval", "shap", "captum", "interpret", "lime",
         "transformer-lens", "matplotlib", "scikit-learn", "pandas"]  # fmt: skip
CONDA_NAMES = {"pytorch": "torch"}


def requirement_pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.\-]+)==([^\s;]+)", line)
        assert match, f"requirements.txt line {line!r} is not an exact pin 'name==version'"
        pins[match.group(1).lower()] = match.group(2)
    return pins


def environment_pins() -> dict[str, str]:
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                name, version = line.split("==")
                pins[name.lower()] = version
        elif "=" in dep:
            name, version = dep.split("=")[:2]
            if name != "python":
                pins[CONDA_NAMES.get(name, name).lower()] = version
    return pins


def test_requirements_are_exact_pins_of_the_whole_stack():
    pins = requirement_pins()
    missing = [name for name in STACK if name not in pins]
    assert not missing, f"requirements.txt does not pin {missing}"


def test_environment_yml_matches_requirements():
    req, env = requirement_pins(), environment_pins()
    missing = [name for name in STACK if name not in env]
    assert not missing, f"environment.yml does not name {missing}"
    different = {name: (version, req.get(name)) for name, version in env.items() if req.get(name) != version}
    assert not different, f"environment.yml vs requirements.txt versions differ: {different}"


def test_environment_uses_cpu_builds_of_torch():
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"pytorch=\S+=cpu", text) and re.search(r"torchvision=\S+=cpu", text)


def test_torch_pin_is_not_the_local_cpu_wheel_version():
    # pip takes a local CPU-only torch 2.13.0 wheel for torch==2.13.0, which breaks torchvision (DESIGN §7)
    assert requirement_pins()["torch"] != "2.13.0"


def test_installed_versions_match_the_lock():
    from importlib.metadata import version

    pins = requirement_pins()
    wrong = {n: (version(n), pins[n]) for n in STACK if version(n).split("+")[0] != pins[n]}
    assert not wrong, f"installed (left) differ from requirements.txt (right): {wrong}; run make setup"
