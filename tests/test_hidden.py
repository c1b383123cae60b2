"""Hidden tests (``xaihealth.instructor.hidden``): new cases that close the gap a memoriser slips through.

Each module's mutation table (``CASES`` in ``tests/test_checks_<module>.py``: the reference, the accepted
alternatives and the mutants of every public checker) is reused. For every hidden test:

- the reference and every alternative the public checker accepts pass it;
- at least two of the public checker's mutants fail it;
- a *memoriser* fails it: a function that gives the reference's answer on exactly the inputs the public
  checker passes (recorded by running the public checker on a recording wrapper of the reference) and a
  mutant's answer elsewhere. It passes the public checker (asserted): that is the gap hidden tests close;
- no input it gives the student's function repeats one the public checker gives (same fingerprint: arrays
  by value, functions by code and closure, models by their parameters), so the hidden cases are new;
- its title is the public checker's title followed by " (hidden tests)".
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import inspect
import pickle
import types
from collections.abc import Callable, Mapping, Sequence

import jupytext
import numpy as np
import pytest
from helpers import SOLUTIONS
from test_checker_titles import checker_title

MODULES = {  # hidden module -> the mutation tests of its public checkers and their tables of cases
    "choosing": ("test_checks_choosing", ["CASES"]),
    "circuits_sae": ("test_checks_circuits_sae", ["CASES"]),
    "clever_hans": ("test_checks_clever_hans", ["CASES"]),
    "concepts": ("test_checks_concepts", ["CBM_CASES", "TCAV_CASES", "SIG_CASES", "MORE_CBM", "MORE_TCAV",
                                          "MORE_SIG", "ALTERNATIVES", "REVIEW_MUTANTS", "DISSOCIATING"]),
    "glass_box": ("test_checks_glass_box", ["CASES"]),
    "gradients": ("test_checks_gradients", ["CASES"]),
    "llm_internals": ("test_checks_llm_internals", ["CASES"]),
    "shapley": ("test_checks_shapley", ["CASES"]),
    "trust": ("test_checks_trust", ["CASES"]),
}


def _digest(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def fingerprint(obj: object, depth: int = 0) -> object:
    """A hashable summary of an input: equal for equal values, functions with the same code and closure."""
    if depth > 8:
        return ("deep", type(obj).__qualname__)
    down = functools.partial(fingerprint, depth=depth + 1)
    if obj is None or isinstance(obj, bool | int | float | complex | str | bytes | np.generic):
        return repr(obj)
    if isinstance(obj, np.ndarray):
        return ("array", str(obj.dtype), obj.shape, _digest(np.ascontiguousarray(obj).tobytes()))
    if type(obj).__module__.startswith("torch"):
        import torch

        if isinstance(obj, torch.Tensor):
            return ("tensor", down(obj.detach().cpu().numpy()))
    if isinstance(obj, list | tuple):
        return (type(obj).__name__, tuple(down(v) for v in obj))
    if isinstance(obj, Mapping):
        return ("map", tuple((repr(k), down(v)) for k, v in obj.items()))
    if isinstance(obj, np.random.Generator):
        return ("rng", repr(obj.bit_generator.state))
    if isinstance(obj, functools.partial):
        return ("partial", down(obj.func), down(obj.args), down(obj.keywords))
    if isinstance(obj, types.FunctionType):
        cells = tuple(down(c.cell_contents) for c in obj.__closure__ or () if _filled(c))
        code = obj.__code__
        return ("function", obj.__qualname__, _digest(code.co_code), repr(code.co_consts), cells,
                down(obj.__defaults__))  # fmt: skip
    if isinstance(obj, types.MethodType):
        return ("method", obj.__func__.__qualname__, down(obj.__self__))
    state_dict = getattr(obj, "state_dict", None)
    if callable(state_dict) and type(obj).__module__.startswith(("torch", "xaihealth", "transformer_lens")):
        return ("module", type(obj).__qualname__, down(dict(state_dict())))
    try:
        return ("pickle", type(obj).__qualname__, _digest(pickle.dumps(obj)))
    except Exception:  # not picklable (a class made on the fly): by its attributes, else never equal
        attributes = getattr(obj, "__dict__", None)
        return ("object", type(obj).__qualname__, id(obj) if attributes is None else down(attributes))


def _filled(cell: types.CellType) -> bool:
    try:
        cell.cell_contents  # noqa: B018 (an empty cell raises)
    except ValueError:
        return False
    return True


def key(args: tuple, kwargs: dict) -> object:
    return fingerprint((args, dict(sorted(kwargs.items()))))


def recorder(reference: Callable, seen: list) -> Callable:
    """The reference, noting the fingerprint of every input it is called on."""

    @functools.wraps(reference)
    def recording(*args, **kwargs):
        seen.append(key(args, kwargs))
        return reference(*args, **kwargs)

    return recording


def memoriser(reference: Callable, wrong: Callable, known: set) -> Callable:
    """The reference's answer on the inputs in ``known``, ``wrong``'s answer on any other input."""

    @functools.wraps(reference)
    def memorising(*args, **kwargs):
        return (reference if key(args, kwargs) in known else wrong)(*args, **kwargs)

    return memorising


def written(checker: Callable) -> bool:
    """A completeness check of a written answer (marked with the rubric, no hidden test)."""
    return next(iter(inspect.signature(checker).parameters)) == "answer"


def _pair_checker(both: Callable) -> tuple[Callable, tuple]:
    """``tests/test_checks_concepts.py``'s ``_check_pair`` cases: the public checker and the two functions."""
    from xaihealth.checks.concepts import check_cav_and_tcav

    return check_cav_and_tcav, tuple(c.cell_contents for c in both.__closure__)  # (cav_fn, score_fn)


def _site_checker(checker: Callable, function: Callable) -> tuple[Callable, tuple]:
    """``tests/test_checks_trust.py``'s ``_with(thresholds)`` cases: the public checker, function, limits."""
    from xaihealth.checks.trust import check_fit_for_site

    (thresholds,) = (c.cell_contents for c in checker.__closure__)
    return check_fit_for_site, (function, thresholds)


def unwrap(checker: Callable, answer: object) -> tuple[Callable, tuple]:
    """The public checker and what it is called with, for a row of a test module's table of cases."""
    if checker.__name__ == "_check_pair":
        return _pair_checker(answer)
    if checker.__name__.startswith("check_fit_for_site_"):
        return _site_checker(checker, answer)
    return checker, (answer,)


def _table(test_module: str, tables: Sequence[str]) -> dict[Callable, dict[str, list[tuple]]]:
    """Per public checker (written-answer checkers left out): the reference's arguments (first), the
    accepted alternatives' and the mutants', each a tuple of what the checker is called with."""
    table: dict[Callable, dict[str, list[tuple]]] = {}
    rows = [row for name in tables for row in getattr(importlib.import_module(test_module), name)]
    for checker, answer, accept in rows:
        checker, args = unwrap(checker, answer)
        if written(checker):
            continue
        entry = table.setdefault(checker, {"accepted": [], "mutants": []})
        entry["accepted" if accept else "mutants"].append(args)
    return table


CHECKERS = [
    (module, checker, entry)
    for module, (test_module, tables) in MODULES.items()
    for checker, entry in _table(test_module, tables).items()
]  # fmt: skip
IDS = [f"{module}.{checker.__name__}" for module, checker, _ in CHECKERS]
FUNCTIONS = [row for row in CHECKERS if callable(row[2]["accepted"][0][0])]  # not a spec
FUNCTION_IDS = [f"{module}.{checker.__name__}" for module, checker, _ in FUNCTIONS]


def name(args: tuple) -> str:
    return "+".join(getattr(a, "__name__", repr(a)[:40]) for a in args)


def hidden_of(module: str, checker: Callable) -> Callable:
    hidden = importlib.import_module(f"xaihealth.instructor.hidden.{module}")
    return getattr(hidden, f"hidden_{checker.__name__}")


def passes(check: Callable, args: tuple) -> bool:
    try:
        check(*args)
    except AssertionError:
        return False
    return True


def test_fingerprints_tell_equal_inputs_from_new_ones():
    from xaihealth.checks.shapley import table_game

    assert fingerprint(table_game(4, 1)) == fingerprint(table_game(4, 1))  # same closure contents
    assert fingerprint(table_game(4, 1)) != fingerprint(table_game(4, 2))  # another seed
    assert fingerprint(np.arange(3.0)) != fingerprint(np.arange(3.0).reshape(3, 1))  # another shape
    assert key((np.ones(2),), {"seed": 0}) != key((np.ones(2),), {"seed": 1})


@pytest.mark.parametrize("module", MODULES)
def test_every_public_checker_has_exactly_one_hidden_test(module):
    public = importlib.import_module(f"xaihealth.checks.{module}")
    hidden = importlib.import_module(f"xaihealth.instructor.hidden.{module}")
    wanted = {f"hidden_{n}" for n, f in inspect.getmembers(public, inspect.isfunction)
              if n.startswith("check_") and not written(f) and f.__module__ == public.__name__}
    found = {n for n, f in inspect.getmembers(hidden, inspect.isfunction)
             if n.startswith("hidden_check_") and f.__module__ == hidden.__name__}  # fmt: skip
    assert found == wanted, f"missing: {sorted(wanted - found)}; unexpected: {sorted(found - wanted)}"


@pytest.mark.parametrize(("module", "checker", "entry"), CHECKERS, ids=IDS)
def test_hidden_title_is_the_public_title_marked_hidden(module, checker, entry):
    name = f"hidden_{checker.__name__}"
    title = checker_title(f"xaihealth.instructor.hidden.{module}", name)
    assert title == checker_title(checker.__module__, checker.__name__) + " (hidden tests)"


@pytest.mark.parametrize(("module", "checker", "entry"), CHECKERS, ids=IDS)
def test_hidden_test_accepts_the_reference_and_the_accepted_alternatives(module, checker, entry, capsys):
    hidden = hidden_of(module, checker)
    for args in entry["accepted"]:
        hidden(*args)
        assert "(hidden tests): passed" in capsys.readouterr().out, f"{name(args)} was not accepted"


@pytest.mark.parametrize(("module", "checker", "entry"), CHECKERS, ids=IDS)
def test_hidden_test_rejects_at_least_two_mutants(module, checker, entry):
    hidden = hidden_of(module, checker)
    rejected = [name(m) for m in entry["mutants"] if not passes(hidden, m)]
    assert len(rejected) >= 2, f"only {rejected} of {len(entry['mutants'])} mutants rejected"


def _inputs(check: Callable, args: tuple) -> list[list]:
    """What ``check`` passes to each function among ``args``, one list of input fingerprints per argument
    (empty for an argument that is not a function, such as lab 06's thresholds)."""
    seen: list[list] = [[] for _ in args]
    check(*(recorder(a, s) if callable(a) else a for a, s in zip(args, seen, strict=True)))
    return seen


@pytest.mark.parametrize(("module", "checker", "entry"), FUNCTIONS, ids=FUNCTION_IDS)
def test_a_memoriser_passes_the_public_checker_and_fails_the_hidden_test(module, checker, entry, capsys):
    reference, wrong = entry["accepted"][0], entry["mutants"][0]
    known = _inputs(checker, reference)
    cheat = tuple(memoriser(r, w, set(k)) if callable(r) else r
                  for r, w, k in zip(reference, wrong, known, strict=True))
    checker(*cheat)  # the public checker cannot tell it from the reference ...
    assert "passed" in capsys.readouterr().out
    with pytest.raises(AssertionError, match=r"\(hidden tests\)"):  # ... the hidden test can
        hidden_of(module, checker)(*cheat)


@pytest.mark.parametrize(("module", "checker", "entry"), FUNCTIONS, ids=FUNCTION_IDS)
def test_no_hidden_case_repeats_a_public_case(module, checker, entry):
    reference = entry["accepted"][0]
    public, hidden = _inputs(checker, reference), _inputs(hidden_of(module, checker), reference)
    assert any(hidden), "the hidden test never called the student's function"
    for f, shown, asked in zip(reference, public, hidden, strict=True):
        repeated = [i for i, k in enumerate(asked) if k in set(shown)]
        assert not repeated, f"hidden calls {repeated} of {name((f,))} repeat an input of the public checker"


SOLUTION_SOURCES = sorted(SOLUTIONS.glob("[0-9]*_lab.py"))


def _calls(source: str) -> list[tuple[str, str]]:
    """``(function name, argument source)`` of the top-level call statements of a cell."""
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]
    tree = ast.parse("\n".join(lines))
    return [(node.value.func.id, ast.unparse(node.value)[len(node.value.func.id):])
            for node in tree.body
            if isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            and isinstance(node.value.func, ast.Name)]  # fmt: skip


@pytest.mark.parametrize("path", SOLUTION_SOURCES, ids=lambda p: p.stem)
def test_every_check_cell_runs_the_hidden_tests_of_its_checks(path):
    notebook = jupytext.read(path)
    stray = [i for i, c in enumerate(notebook.cells) if c.cell_type != "code" and "HIDDEN TESTS" in c.source]
    assert not stray, f"{path.name}: hidden-test markers outside code cells (cells {stray})"
    cells = [c.source for c in notebook.cells if c.cell_type == "code"]
    checked = 0
    for source in cells:
        calls = _calls(source)
        public = [(f, a) for f, a in calls if f.startswith("check_") and not f.startswith("check_answer")]
        if not public:
            continue
        block = source.split("### BEGIN HIDDEN TESTS", 1)  # the plan's markers, nbgrader's own
        has_block = len(block) == 2 and "### END HIDDEN TESTS" in block[1]
        assert has_block, f"{path.name}: no hidden block in {source!r}"
        hidden = _calls(block[1].split("### END HIDDEN TESTS")[0])
        assert [(f"hidden_{f}", args) for f, args in public] == hidden, f"{path.name}: {source!r}"
        assert not _calls(block[1].split("### END HIDDEN TESTS")[1]), "nothing may follow the hidden block"
        checked += 1
    assert checked, f"{path.name} has no check cell"


def test_hidden_references_are_real_here_and_refuse_unknown_modules():
    from xaihealth.instructor.hidden import hidden_references
    from xaihealth.instructor.references import shapley

    assert hidden_references("shapley").reference_shapley_values is shapley.reference_shapley_values
    with pytest.raises(ValueError, match=r"module='nope' is not a hidden-tests module; use one of .*shapley"):
        hidden_references("nope")


@pytest.mark.parametrize(("module", "checker", "entry"), CHECKERS, ids=IDS)
def test_hidden_test_gives_the_same_verdicts_replayed_as_in_a_grading_kit(module, checker, entry, tmp_path,
                                                                           monkeypatch, capsys):
    """As ``make grade``'s kit does: record the hidden test (and the public helpers it calls) on the
    reference, then replay both stores. The reference and every accepted alternative still pass; the
    mutants the real references reject are still rejected (a replay miss is a rejection, never a pass)."""
    from xaihealth.checks._reference import ENV
    from xaihealth.instructor.hidden import HIDDEN_ENV

    hidden = hidden_of(module, checker)
    rejected_real = [name(m) for m in entry["mutants"] if not passes(hidden, m)]
    monkeypatch.setenv(ENV, f"record:{tmp_path / 'public'}")
    monkeypatch.setenv(HIDDEN_ENV, f"record:{tmp_path / 'hidden'}")
    hidden(*entry["accepted"][0])
    monkeypatch.setenv(ENV, f"replay:{tmp_path / 'public'}")
    monkeypatch.setenv(HIDDEN_ENV, f"replay:{tmp_path / 'hidden'}")
    capsys.readouterr()
    for args in entry["accepted"]:
        hidden(*args)
        assert "(hidden tests): passed" in capsys.readouterr().out, f"{name(args)} was not accepted replayed"
    rejected = [name(m) for m in entry["mutants"] if not replay_passes(hidden, m)]
    assert set(rejected_real) <= set(rejected), (rejected_real, rejected)


def replay_passes(check: Callable, args: tuple) -> bool:
    """Whether ``check(*args)`` passes; a replay miss (the mutant led to an unrecorded call) is a fail."""
    from xaihealth.checks._reference import ReferenceUnavailable

    try:
        check(*args)
    except (AssertionError, ReferenceUnavailable):
        return False
    return True
