"""Printed numbers must not depend on the CPU's vector unit.

nbval compares every printed number with the committed output, and the outputs are committed from a
machine with AVX-512. An instructor's laptop has AVX2: MKL, oneDNN, OpenBLAS, PyTorch and NumPy then use
other kernels, which round differently. A notebook that prints a digit the science does not need, or whose
computation amplifies rounding (training an SAE in float32 did), fails `make test` on that laptop.

This test re-runs the notebooks where that happened under the environment variables that make this
machine's libraries use their AVX2 kernels, with the same nbval options as the main run. To fix a failure:
print fewer digits (what the science needs; keep the exact value in the assert), or make the computation
stable (float64), then re-execute the pair. Run the check on any notebook with, e.g.::

    MKL_ENABLE_INSTRUCTIONS=AVX2 MKL_CBWR=AVX2 ONEDNN_MAX_CPU_ISA=AVX2 OPENBLAS_CORETYPE=Haswell \\
    ATEN_CPU_CAPABILITY=avx2 NPY_DISABLE_CPU_FEATURES="X86_V4 AVX512_ICL AVX512_SPR" \\
    .venv/bin/python -m pytest notebooks/05b_circuits_sae.ipynb
"""

import os
import platform
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from helpers import ROOT

AVX2_LAPTOP = {
    "MKL_ENABLE_INSTRUCTIONS": "AVX2",  # MKL (PyTorch's BLAS on x86) dispatches AVX2 kernels only
    "MKL_CBWR": "AVX2",  # ... with MKL's AVX2 conditional-numerical-reproducibility code path
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN (PyTorch's convolutions)
    "OPENBLAS_CORETYPE": "Haswell",  # OpenBLAS (NumPy, SciPy, scikit-learn): the AVX2 kernels
    "ATEN_CPU_CAPABILITY": "avx2",  # PyTorch's own vectorised element-wise and reduction kernels
    "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",  # NumPy's AVX-512 loops
}

# Where a printed number depended on the vector unit (all notebooks were run under AVX2 to find them).
SENSITIVE = [
    "notebooks/01_glass_box.ipynb",  # libebm's AVX-512 kernels moved AUC intervals: pinned to its AVX2 ones
    "notebooks/02_concepts.ipynb",  # CAV fits and float32 CBM training: TCAV scores, p-values, weights moved
    "notebooks/05_llm_internals.ipynb",  # probe accuracies on 500 notes: one note's prediction can flip
    "notebooks/05b_circuits_sae.ipynb",  # notes SAE trained in float32: L0, dead latents, F1 moved
    "notebooks/08_choosing.ipynb",  # sha256 of a float32 IG map (now archived, not printed)
    "solutions/02_concepts_lab.ipynb",  # one random CAV's TCAV score moved by 1/50, and the p-value
    "solutions/05_llm_internals_lab.ipynb",  # lbfgs probe on 300 notes: one note's prediction flipped
    "solutions/05b_circuits_sae_lab.ipynb",  # float32 SAE training (on planted data), chaotic like 05b's
]


def _has_avx512() -> bool:
    cpuinfo = Path("/proc/cpuinfo")
    x86 = platform.machine() in ("x86_64", "AMD64")
    return x86 and cpuinfo.exists() and " avx512f" in cpuinfo.read_text()


def _nbval_options() -> list[str]:
    """The nbval options of the main run (pyproject.toml's addopts), so both runs compare alike."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return shlex.split(pyproject["tool"]["pytest"]["ini_options"]["addopts"])


@pytest.mark.cross_cpu
@pytest.mark.skipif(not _has_avx512(), reason="no AVX-512 here: the main nbval run already is the AVX2 run")
def test_sensitive_notebooks_print_the_same_under_avx2():
    env = {k: v for k, v in os.environ.items() if k != "XAIHEALTH_SCORECARD"}  # rows of this run only
    env.update(AVX2_LAPTOP)
    command = [sys.executable, "-m", "pytest", *_nbval_options(), "-o", "addopts=", "-q", *SENSITIVE]
    run = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)
    assert run.returncode == 0, (
        "under AVX2 kernels these notebooks print something else than their committed outputs "
        f"(see {Path(__file__).name}'s docstring):\n{run.stdout[-6000:]}\n{run.stderr[-2000:]}"
    )
