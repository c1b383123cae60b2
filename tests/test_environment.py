"""requirements.txt is an exact lock, and environment.yml (Binder) names the same stack at the same versions.

environment.yml is the lock as it installs on Linux x86_64 (Binder's platform), every package once, with
two deliberate differences, both named here and checked: conda-forge's CPU builds of PyTorch are another
pair than the lock's PyPI CUDA builds (``CONDA_TORCH_PAIR``), and the CUDA-only packages that only PyPI's
CUDA torch needs (``CUDA_ONLY``) are left out. conda-forge serves the scientific core (``CONDA_CORE``:
numpy, what links against it, PyTorch and what conda installs with them), pip the rest, so that pip never
replaces a conda package (it did replace conda's numpy when numpy was left to pip).

How the pair was chosen (conda-forge cannot be reached from the machine this was written on): a public
setup script of October 2026 states that ``pytorch-cpu 2.13.0`` is the newest CPU build on conda-forge,
and the public pytorch-cpu/torchvision feedstock records seen stop at 2.13.0 / 0.28.0; torchvision 0.28
is the release made for torch 2.13. Not verified: that conda-forge has ``torchvision 0.28.0`` CPU builds for
Python 3.11 and the exact versions of the other conda packages; Binder's build is the check.
"""

import re
from importlib.metadata import version

import yaml
from helpers import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

STACK = ["torch", "torchvision", "jupyterlab", "jupytext", "nbval", "shap", "captum", "interpret", "lime",
         "transformer-lens", "matplotlib", "scikit-learn", "pandas", "numpy"]  # fmt: skip
CONDA_NAMES = {"pytorch": "torch", "matplotlib-base": "matplotlib"}  # conda-forge name -> PyPI name
# the lock's pair (PyPI, CUDA builds) -> conda-forge's CPU pair (see the module docstring)
CONDA_TORCH_PAIR = {"torch": ("2.14.1", "2.13.0"), "torchvision": ("0.29.1", "0.28.0")}
CUDA_ONLY = re.compile(r"nvidia-.+|cuda-.+|triton")  # PyPI's CUDA torch needs them, conda's CPU build not
CONDA_CORE = ["numpy", "scipy", "pandas", "scikit-learn", "matplotlib", "pillow", "torch", "torchvision"]
BINDER = {"sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
          "os_name": "posix", "python_version": "3.11", "python_full_version": "3.11.7",
          "implementation_name": "cpython", "platform_python_implementation": "CPython",
          "extra": ""}  # fmt: skip


def requirement_pins(platform: dict | None = None) -> dict[str, str]:
    """The lock's exact pins whose markers hold on ``platform`` (a marker environment; default: this one)."""
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if not line:
            continue
        req = Requirement(line)
        specs = list(req.specifier)
        exact = len(specs) == 1 and specs[0].operator == "=="
        assert exact, f"requirements.txt line {line!r} is not 'name==version'"
        if req.marker is None or req.marker.evaluate(platform):
            name = canonicalize_name(req.name)
            assert name not in pins, f"requirements.txt pins {name} twice for one platform"
            pins[name] = specs[0].version
    return pins


def environment_sections() -> tuple[dict[str, str], dict[str, str]]:
    """environment.yml's (conda, pip) pins, by PyPI name; python and pip themselves left out."""
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = {}, {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for line in dep["pip"]:
                name, _, pinned = line.partition("==")
                assert pinned, f"environment.yml pip line {line!r} is not 'name==version'"
                pip[canonicalize_name(name)] = pinned
        elif dep not in ("pip",):
            name, _, rest = dep.partition("=")
            assert rest, f"environment.yml conda line {dep!r} has no version"
            if name != "python":
                conda[canonicalize_name(CONDA_NAMES.get(name, name))] = rest.split("=")[0]
    return conda, pip


def test_requirements_are_exact_pins_of_the_whole_stack():
    pins = requirement_pins()
    missing = [name for name in STACK if name not in pins]
    assert not missing, f"requirements.txt does not pin {missing}"


def test_environment_yml_is_the_linux_lock_with_only_the_named_differences():
    lock = requirement_pins(BINDER)
    for name, (locked, _) in CONDA_TORCH_PAIR.items():
        assert lock[name] == locked, f"the lock now pins {name}=={lock[name]}: revisit CONDA_TORCH_PAIR"
    expected = {name: CONDA_TORCH_PAIR.get(name, (None, pinned))[1] for name, pinned in lock.items()
                if not CUDA_ONLY.fullmatch(name)}  # fmt: skip
    conda, pip = environment_sections()
    both = sorted(set(conda) & set(pip))
    assert not both, f"environment.yml installs {both} with conda and with pip"
    env = {**conda, **pip}
    missing = {name: v for name, v in expected.items() if name not in env}
    extra = sorted(set(env) - set(expected))
    different = {n: (env[n], expected[n]) for n in env if n in expected and env[n] != expected[n]}
    assert not missing, f"environment.yml lacks these pins of the lock: {missing}"
    assert not extra, f"environment.yml names packages the lock does not (or CUDA-only ones): {extra}"
    assert not different, f"environment.yml (left) vs the lock / CONDA_TORCH_PAIR (right): {different}"


def test_conda_serves_the_scientific_core_with_cpu_builds_of_pytorch():
    conda, _ = environment_sections()
    assert not [name for name in CONDA_CORE if name not in conda], "numpy & co. must come from conda-forge"
    text = (ROOT / "environment.yml").read_text()
    for package in ("pytorch", "torchvision"):
        assert re.search(rf"^  - {package}=\S+=cpu_\*$", text, re.M), f"{package} is not a CPU build"


def test_the_cuda_only_packages_are_linux_only_in_the_lock():
    # what environment.yml leaves out must be what the lock itself does not install off Linux
    cuda = {name for name in requirement_pins(BINDER) if CUDA_ONLY.fullmatch(name)}
    assert cuda, "no CUDA-only package in the lock: CUDA_ONLY or CONDA_TORCH_PAIR is stale"
    mac = requirement_pins(dict(BINDER, sys_platform="darwin", platform_system="Darwin",
                                platform_machine="arm64"))
    assert not cuda & set(mac), f"{sorted(cuda & set(mac))} would be installed on macOS"


def test_torch_pin_is_not_the_local_cpu_wheel_version():
    # pip takes a local CPU-only torch 2.13.0 wheel for torch==2.13.0, which breaks torchvision (DESIGN §7)
    assert requirement_pins()["torch"] != "2.13.0"


def test_installed_versions_match_the_lock():
    pins = requirement_pins()
    wrong = {n: (version(n), pins[n]) for n in STACK if version(n).split("+")[0] != pins[n]}
    assert not wrong, f"installed (left) differ from requirements.txt (right): {wrong}; run make setup"
