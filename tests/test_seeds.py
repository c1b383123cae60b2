"""Every random draw in a lecture or solution takes its seed from the notebook's base seed (DESIGN §11.3)."""

import ast
import re

import jupytext
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


# the course's generators and samplers: (name, position of the seed argument)
SEEDED_CALLS = {
    "make_ecgs": 1,
    "make_notes": 1,
    "make_chest_xrays": 1,
    "make_cardio_cohort": 1,
    "make_trust_cohort": 1,
    "make_patching_pairs": 1,
    "standard_splits": 0,
    "planted_sparse_data": 4,
}


def _seed_argument(call: ast.Call, position: int) -> ast.expr | None:
    for kw in call.keywords:
        if kw.arg in ("seed", "random_state"):
            return kw.value
    return call.args[position] if len(call.args) > position else None


def _derives(node: ast.expr) -> bool:
    """A seed expression is fine when it calls derived_seed, or is a bare name handed through."""
    if isinstance(node, ast.Name):
        return True
    return any(
        isinstance(n, ast.Call) and getattr(n.func, "id", "") == "derived_seed" for n in ast.walk(node)
    )


@pytest.mark.parametrize("path", sources(NOTEBOOKS, SOLUTIONS), ids=lambda p: p.name)
def test_generators_take_derived_seeds_even_positionally(path):
    """`make_ecgs(50, 500)` (a positional literal) is as fixed as `seed=500`: the draw must derive."""
    code = "\n".join(c.source for c in jupytext.read(path).cells if c.cell_type == "code")
    code = "\n".join(line for line in code.splitlines() if not line.lstrip().startswith(("%", "!")))
    offenders = []
    for node in ast.walk(ast.parse(code)):
        if isinstance(node, ast.Call):
            name = getattr(node.func, "id", getattr(node.func, "attr", ""))
            if name in SEEDED_CALLS:
                arg = _seed_argument(node, SEEDED_CALLS[name])
                if arg is None or not _derives(arg):  # no seed at all: the function's fixed default
                    offenders.append(f"line {node.lineno}: {ast.unparse(node)[:80]}")
    assert not offenders, f"{path.name}: pass derived_seed(...) as the seed: {offenders}"
