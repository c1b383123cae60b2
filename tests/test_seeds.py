"""Every random draw in a lecture or solution takes its seed from the notebook's base seed (DESIGN §11.3)."""

import re

import pytest
from helpers import NOTEBOOKS, SOLUTIONS, sources

# a literal seed handed to a sampler, a generator, a split or a model: `seed=3`, `random_state=0`,
# `default_rng(1)`, `manual_seed(0)`, `np.random.seed(0)`; a function's own default (`def f(seed=0)`) is fine
LITERAL_SEED = re.compile(
    r"\b(?:seed|random_state)\s*=\s*\d|default_rng\(\s*\d|manual_seed\(\s*\d|np\.random\.seed\(\s*\d|"
    r"RandomState\(\s*\d"
)


def code_lines(path):
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("#") or stripped.startswith("def "):
            continue
        yield number, line.split("  #")[0]


@pytest.mark.parametrize("path", sources(NOTEBOOKS, SOLUTIONS), ids=lambda p: p.name)
def test_no_literal_seed_outside_setup(path):
    offenders = [
        f"line {n}: {line.strip()}"
        for n, line in code_lines(path)
        if LITERAL_SEED.search(line) and "setup(" not in line
    ]
    assert not offenders, f"{path.name}: wrap these seeds in derived_seed(...): {offenders}"


@pytest.mark.parametrize("path", sources(NOTEBOOKS, SOLUTIONS), ids=lambda p: p.name)
def test_the_notebook_fixes_its_base_seed_once(path):
    text = path.read_text(encoding="utf-8")
    assert len(re.findall(r"^SEED = setup\(", text, flags=re.M)) == 1, (
        f"{path.name}: call `SEED = setup(...)` once"
    )
