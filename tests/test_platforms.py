"""The lock installs on Linux x86_64 and aarch64, macOS arm64 and Windows amd64: pip resolves it for each.

For each platform, pip (a pinned release, fetched from the registry) resolves the whole of
``requirements.txt`` with ``install --dry-run --report --only-binary=:all: --platform ... --python-version
3.11.5 --implementation cp``, with that platform's environment markers (``tests/platform_pip.py``) and with
none of this machine's pip configuration (``PIP_CONFIG_FILE=/dev/null``, ``--isolated``: no local wheel
folder, extra index or constraints file). A platform passes when pip finds a wheel for every pin and the
resolution is exactly the lock's pins whose markers hold there: nothing unpinned pulled in, no pin left
out, every wheel from the registry. Wheels are not downloaded: pip reads their metadata (PEP 658 files
where the index serves them, else HTTP range requests). The pins published only as source
(``SOURCE_ONLY``) are built once into wheels, which must be pure Python, hence the same on every platform.

The resolution needs the registry: skipped, with the reason, when it cannot be reached, and a failure
when ``CI`` is set (``.ci/run`` has just installed from it). pip runs in subprocesses, outside the test
suite's offline guard, which arms in this process only. The lock's syntax is checked offline.
"""

import json
import os
import subprocess
import sys
import sysconfig
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers import ROOT
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

PIP = "pip==26.3"
INDEX_URL = os.environ.get("XAIHEALTH_INDEX_URL", "https://pypi.org/simple")
PYTHON = "3.11.5"  # the oldest Python 3.11 the lock installs on (soupsieve 4.1 needs 3.11.5)
GLIBC_MINOR = 34  # glibc >= 2.34 (Ubuntu 22.04, Debian 12, RHEL 9): debugpy's x86_64 wheel needs it
MACOS = "14_0"  # torch 2.14.1 has a macOS wheel for macOS >= 14 only
SOURCE_ONLY = ("lime", "dash-cytoscape", "transformers-stream-generator")  # no wheel on the registry
TIMEOUT_S = 300
LOCK = ROOT / "requirements.txt"
DRIVER = Path(__file__).with_name("platform_pip.py")


def manylinux(arch: str) -> list[str]:
    return [f"manylinux_2_{minor}_{arch}" for minor in range(GLIBC_MINOR, 16, -1)] + [f"manylinux2014_{arch}"]


PY = {"python_version": "3.11", "python_full_version": PYTHON, "implementation_version": PYTHON,
      "implementation_name": "cpython", "platform_python_implementation": "CPython"}  # fmt: skip
LINUX = {**PY, "os_name": "posix", "sys_platform": "linux", "platform_system": "Linux"}
PLATFORMS = {
    "linux-x86_64": (manylinux("x86_64"), {**LINUX, "platform_machine": "x86_64"}),
    "linux-aarch64": (manylinux("aarch64"), {**LINUX, "platform_machine": "aarch64"}),
    "macos-arm64": ([f"macosx_{MACOS}_arm64"],
                    {**PY, "os_name": "posix", "sys_platform": "darwin", "platform_system": "Darwin",
                     "platform_machine": "arm64"}),
    "windows-amd64": (["win_amd64"],
                      {**PY, "os_name": "nt", "sys_platform": "win32", "platform_system": "Windows",
                       "platform_machine": "AMD64"}),
}  # fmt: skip


def lock_requirements() -> list[Requirement]:
    """Every line of requirements.txt (comments dropped) as a requirement, which must be ``name==version``."""
    requirements = []
    for number, line in enumerate(LOCK.read_text().splitlines(), 1):
        line = line.split("#")[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        specifiers = list(requirement.specifier)
        assert len(specifiers) == 1 and specifiers[0].operator == "==" and not requirement.extras, (
            f"requirements.txt line {number} {line!r} is not an exact pin 'name==version [; marker]'"
        )
        requirements.append(requirement)
    return requirements


def pins_for(environment: dict[str, str]) -> dict[str, str]:
    """The lock's ``{name: version}`` on a platform: the pins whose markers hold in ``environment``."""
    pins: dict[str, str] = {}
    for requirement in lock_requirements():
        if requirement.marker is None or requirement.marker.evaluate(environment):
            name = canonicalize_name(requirement.name)
            assert name not in pins, f"requirements.txt pins {name} twice for {environment['sys_platform']}"
            pins[name] = next(iter(requirement.specifier)).version
    return pins


@pytest.mark.parametrize("platform", PLATFORMS)
def test_lock_has_one_pin_per_package_on(platform):
    pins = pins_for(PLATFORMS[platform][1])
    assert {"torch", "torchvision", "jupyterlab", "setuptools"} <= set(pins)


def test_cuda_packages_are_pinned_for_linux_only():
    cuda = [r for r in lock_requirements() if r.name.startswith(("nvidia-", "cuda-")) or r.name == "triton"]
    assert len(cuda) >= 19
    for requirement in cuda:
        holds = {p: requirement.marker is not None and requirement.marker.evaluate(env)
                 for p, (_, env) in PLATFORMS.items()}  # fmt: skip
        assert holds == {"linux-x86_64": True, "linux-aarch64": True, "macos-arm64": False,
                         "windows-amd64": False}, f"{requirement}: {holds}"  # fmt: skip


def isolated_env() -> dict[str, str]:
    """This environment without any pip setting: no config file, no PIP_* variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    return {**env, "PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}


def run(command: list[str], timeout: float = TIMEOUT_S) -> subprocess.CompletedProcess:
    return subprocess.run(command, capture_output=True, text=True, env=isolated_env(), timeout=timeout)


@pytest.fixture(scope="module")
def registry_tools(tmp_path_factory) -> tuple[Path, Path]:
    """The pinned pip wheel and the pure wheels of the source-only pins, both from the registry."""
    folder = tmp_path_factory.mktemp("platforms")
    fetched = run([sys.executable, "-m", "pip", "download", "--isolated", "--no-deps", "--only-binary=:all:",
                   "--index-url", INDEX_URL, "--dest", str(folder / "pip"), PIP], timeout=120)  # fmt: skip
    if fetched.returncode != 0:
        reason = f"the package registry {INDEX_URL} cannot be reached: {fetched.stderr.strip()[-400:]}"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    (pip_wheel,) = (folder / "pip").glob("pip-*.whl")
    pins = pins_for(PLATFORMS["linux-x86_64"][1])
    built = run([sys.executable, str(pip_wheel / "pip"), "wheel", "--isolated", "--no-deps", "--index-url",
                 INDEX_URL, "--wheel-dir", str(folder / "wheels"),
                 *[f"{name}=={pins[name]}" for name in SOURCE_ONLY]])  # fmt: skip
    assert built.returncode == 0, built.stderr[-2000:]
    wheels = sorted(p.name for p in (folder / "wheels").glob("*.whl"))
    assert len(wheels) == len(SOURCE_ONLY), wheels
    impure = [w for w in wheels if not w.endswith(("-py3-none-any.whl", "-py2.py3-none-any.whl"))]
    assert not impure, f"source-only pins built into platform-specific wheels: {impure}"
    return pip_wheel, folder / "wheels"


def resolve(platform: str, pip_wheel: Path, wheels: Path, report: Path) -> tuple[int, str, float]:
    tags, markers = PLATFORMS[platform]
    command = [sys.executable, str(DRIVER), str(pip_wheel), json.dumps(markers), "install", "--isolated",
               "--dry-run", "--ignore-installed", "--quiet", "--report", str(report), "--only-binary=:all:",
               "--python-version", PYTHON, "--implementation", "cp", *[f"--platform={t}" for t in tags],
               "--use-feature=fast-deps", "--index-url", INDEX_URL, "--find-links", str(wheels),
               "--requirement", str(LOCK)]  # fmt: skip
    start = time.monotonic()
    try:
        done = run(command)
    except subprocess.TimeoutExpired:
        return -1, f"pip did not finish in {TIMEOUT_S} s", TIMEOUT_S
    messages = [line for line in done.stderr.splitlines() if "lazily downloaded wheels" not in line]
    return done.returncode, "\n".join(messages)[-3000:], time.monotonic() - start


@pytest.fixture(scope="module")
def resolutions(registry_tools, tmp_path_factory) -> dict[str, tuple[int, str, float, Path]]:
    """The four resolutions, run at the same time (each waits on the network, not the CPU)."""
    folder = tmp_path_factory.mktemp("reports")
    with ThreadPoolExecutor(len(PLATFORMS)) as pool:
        futures = {p: pool.submit(resolve, p, *registry_tools, folder / f"{p}.json") for p in PLATFORMS}
        return {p: (*f.result(), folder / f"{p}.json") for p, f in futures.items()}


@pytest.mark.parametrize("platform", PLATFORMS)
def test_lock_resolves_on(platform, resolutions):
    returncode, messages, seconds, report = resolutions[platform]
    assert returncode == 0, f"pip cannot install the lock on {platform} ({seconds:.0f} s):\n{messages}"
    installs = json.loads(report.read_text())["install"]
    resolved = {canonicalize_name(i["metadata"]["name"]): i["metadata"]["version"] for i in installs}
    expected = pins_for(PLATFORMS[platform][1])
    unpinned = {n: v for n, v in resolved.items() if n not in expected}
    assert not unpinned, f"on {platform} pip also installs (pin them with a marker): {unpinned}"
    wrong = {n: (v, resolved.get(n)) for n, v in expected.items() if resolved.get(n) != v}
    assert not wrong, f"on {platform} (pinned, resolved): {wrong}"
    urls = {canonicalize_name(i["metadata"]["name"]): i["download_info"]["url"] for i in installs}
    local = [url for name, url in urls.items() if name not in SOURCE_ONLY and not url.startswith("https://")]
    assert not local, f"resolved from outside the registry: {local}"


# Pins that belong to one platform only, each with the marker it must carry: a pin that loses its marker
# would be installed everywhere (on Linux x86_64 too), which the resolution tests cannot see.
PLATFORM_ONLY = {
    "appnope": {"macos-arm64"},
    "colorama": {"windows-amd64"},
    "pywinpty": {"windows-amd64"},
}
# Distributions in the venv that the lock does not pin: pip (the venv's own installer) and the course itself.
NOT_IN_LOCK = {"pip", "xaihealth"}


@pytest.mark.parametrize("name", PLATFORM_ONLY)
def test_platform_only_pins_carry_their_marker(name):
    pinned = [r for r in lock_requirements() if canonicalize_name(r.name) == name]
    assert pinned, f"requirements.txt has no pin for {name}"
    for requirement in pinned:
        marker = requirement.marker
        holds = {p for p, (_, env) in PLATFORMS.items() if marker and marker.evaluate(env)}
        assert holds == PLATFORM_ONLY[name], f"{requirement}: installed on {sorted(holds)}"


def test_gevent_has_one_pin_for_macos_and_one_for_the_rest():
    versions = {p: pins_for(env)["gevent"] for p, (_, env) in PLATFORMS.items()}
    assert versions["macos-arm64"] != versions["linux-x86_64"] == versions["windows-amd64"], versions


def test_the_venv_holds_exactly_the_pins_effective_here():
    """The lock's pins whose markers hold on this machine are exactly what the venv has installed."""
    import importlib.metadata

    from packaging.markers import default_environment

    pins = pins_for(default_environment())
    # Only what pip installed into the venv: once imported, setuptools appends its own `_vendor` folder
    # (jaraco, more-itertools, wheel, ...) to sys.path, and those copies are not installed packages.
    site_packages = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    installed: dict[str, set[str]] = {}
    for dist in importlib.metadata.distributions(path=sorted(site_packages)):
        installed.setdefault(canonicalize_name(dist.metadata["Name"]), set()).add(dist.version)
    extra = {n: v for n, v in installed.items() if n not in pins and n not in NOT_IN_LOCK}
    missing = sorted(set(pins) - set(installed))
    wrong = {n: (installed[n], v) for n, v in pins.items() if n in installed and installed[n] != {v}}
    assert not extra, f"installed but not pinned for this platform: {extra}"
    assert not missing, f"pinned for this platform but not installed: {missing}; run make setup"
    assert not wrong, f"installed (left) differ from the pin (right): {wrong}"
