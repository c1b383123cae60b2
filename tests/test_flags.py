"""The AST rules of ``make grade`` (xaihealth.instructor.flags): each rule, each alias form, no false flag.

The last test reads the reference solution of every lab as a student submission would be read (the solved
lab: solution cells filled in, everything else locked) and requires that it raises no flag at all.
"""

from pathlib import Path

import jupytext
import pytest

from xaihealth.instructor.bench import solved_lab
from xaihealth.instructor.flags import Cell, banned_for, canonical, exercise_key, flag_cells, lab_key
from xaihealth.instructor.grade import REPO, Lab, cells_for_flags
from xaihealth.tooling.labs import make_source

SETUP = Cell("import numpy as np\nimport shap\nfrom xaihealth.checks.shapley import check_shapley_values, "
             "check_kernel_shap", student=False, exercise=None)
CHECKS = {"check_shapley_values": "1", "check_kernel_shap": "2"}
NAMES = {"shapley_values": "1", "kernel_shap": "2"}
NOT_OWN = "not your own implementation: uses "


def flags(source, exercise="1", lab="03", cells=()):
    return flag_cells([SETUP, *cells, Cell(source, True, exercise)], lab, CHECKS, NAMES)


@pytest.mark.parametrize(("source", "name"), [
    ("def shapley_values(v, n):\n    return shap.KernelExplainer(v, n)", "shap.KernelExplainer"),
    ("import shap as s\ns.Explainer", "shap.Explainer"),
    ("from shap import Explainer as E\nE()", "shap.Explainer"),
    ("from shap.explainers import Exact\nExact", "shap.explainers.Exact"),
    ("E = shap.Explainer\nE()", "shap.Explainer"),
    ("getattr(shap, 'Explainer')", "shap.Explainer"),
    ("__import__('shap').Explainer", "shap.Explainer"),
    ("import importlib\nimportlib.import_module('shap').Explainer", "shap.Explainer"),
    ("from importlib import import_module as im\nim('shap.explainers')", "shap.explainers"),
    ("import sys as s\ns.modules['shap'].Explainer", "shap.Explainer"),
])
def test_library_alias_forms(source, name):
    found = flags(source)
    assert any(f == NOT_OWN + name for f in found.get("1", [])), found


@pytest.mark.parametrize("source", [
    "from xaihealth.checks.shapley import reference_shapley_values",  # before the move (pre-release)
    "from xaihealth.instructor.references.shapley import reference_shapley_values as r",
    "import xaihealth.instructor.references.shapley as R\nR.reference_shapley_values",
    "from xaihealth.instructor.hidden import shapley",
    "from xaihealth.checks._reference import references\nreferences('shapley')",
    "from xaihealth.checks.shapley import *\nreference_shapley_values(v, 6)",
])
def test_references_and_instructor_package_are_flagged_in_every_exercise(source):
    for exercise in ("1", "4", "6a"):
        found = flags(source, exercise)
        texts = found.get(exercise, [])
        assert any(f.startswith(NOT_OWN + "xaihealth") or "reference_" in f for f in texts), found


def test_a_library_reached_through_a_checker_module_is_flagged():
    """R15c F1: captum taken from the lab 04 checker module (which imports it), its method kept beforehand so
    that the checker's run-time guard cannot switch it off: flagged all the same."""
    source = ("from xaihealth.checks import gradients\nIG = gradients.captum.attr.IntegratedGradients\n"
              "_attr = IG.attribute\ndef integrated_gradients(model, x, baseline, target, n_steps):\n"
              "    return _attr(IG(model), x, baseline, target=target, n_steps=n_steps)\n")  # fmt: skip
    found = flag_cells([Cell(source, True, "1")], "04")
    assert any(f.startswith(NOT_OWN + "captum.attr.IntegratedGradients") for f in found.get("1", [])), found
    imported = "from xaihealth.checks.gradients import IntegratedGradients as I\nI"
    found = flag_cells([Cell(imported, True, "1")], "04")
    assert any(f.startswith(NOT_OWN + "captum.") for f in found.get("1", [])), found
    # second review: the module passed around where names cannot be followed, or kept as a default, or used
    # by a helper in another cell: it counts as using what it holds
    g = "from xaihealth.checks import gradients as g\n"
    for route in ("IG = [g][0].captum.attr.IntegratedGradients\n",
                  "def integrated_gradients(model, x, baseline, target, n_steps, m=g):\n    return m\n",
                  "IG = (lambda m: m)(g).captum.attr.IntegratedGradients\n"):  # fmt: skip
        found = flag_cells([Cell(g + route, True, "1")], "04")
        assert NOT_OWN + "captum.<via xaihealth.checks.gradients>" in found.get("1", []), (route, found)
    helper = Cell(g + "def helper(model):\n    return g.captum.attr.IntegratedGradients(model)\n", True, None)
    found = flag_cells([helper, Cell("def integrated_gradients(m, x, b, t, n):\n    return helper(m)\n",
                                     True, "1")], "04")  # fmt: skip
    assert any(f.startswith(NOT_OWN + "captum") for f in found.get("1", [])), found
    assert canonical("xaihealth." + ".".join(["a"] * 400)).startswith("xaihealth.a")  # no walk, at once


def test_library_rules_are_per_exercise_and_per_lab():
    assert flags("shap.Explainer", "4") == {}  # exercise 4 (stability) does not re-implement shap
    assert flags("shap.Explainer", "1", lab="06") == {}
    assert "sklearn.metrics.cohen_kappa_score" in banned_for("06", "6")
    found = flag_cells([Cell("from sklearn.metrics import cohen_kappa_score as k\nk(a, b)", True, "6")], "06")
    assert found == {"6": [NOT_OWN + "sklearn.metrics.cohen_kappa_score"]}
    found = flag_cells([Cell("import torch.nn.functional as F\nF.scaled_dot_product_attention(q, k, v)",
                             True, "4")], "05")
    assert found == {"4": [NOT_OWN + "torch.nn.functional.scaled_dot_product_attention"]}
    found = flag_cells([Cell("logits, cache = model.run_with_cache(tokens)", True, "2")], "05")
    assert found == {"2": [NOT_OWN + "run_with_cache"]}  # a method the rules match by name
    found = flag_cells([Cell("from captum.attr import IntegratedGradients as IG\nIG(m).attribute(x)",
                             True, "1")], "04")
    assert found == {"1": [NOT_OWN + "captum.attr.IntegratedGradients"]}


def test_a_helper_defined_elsewhere_carries_its_library_calls():
    helper = Cell("def _explain(v):\n    return shap.KernelExplainer(v)", True, "5")
    found = flags("def shapley_values(v, n):\n    return _explain(v)", "1", cells=[helper])
    assert found == {"1": [NOT_OWN + "shap.KernelExplainer"]}


def test_redefining_an_exercise_function_elsewhere_is_judged_by_that_exercise():
    found = flags("def shapley_values(v, n):\n    return shap.Explainer(v)", exercise="6a")
    assert found == {"1": [NOT_OWN + "shap.Explainer"]}


@pytest.mark.parametrize(("source", "key", "text"), [
    ("check_shapley_values = lambda f: None", "1", "rebinds check_shapley_values"),
    ("def check_kernel_shap(f):\n    pass", "2", "defines check_kernel_shap"),
    ("from mymodule import fake as check_shapley_values", "1", "imports as check_shapley_values"),
    ("for check_shapley_values in [print]:\n    pass", "1", "rebinds check_shapley_values"),
    ("del check_kernel_shap", "2", "deletes check_kernel_shap"),
    ("check_shapley_values.__code__ = (lambda f: None).__code__", "1", "check_shapley_values.__code__"),
    ("from xaihealth.checks._core import Exercise\nExercise.expect = lambda *a: None", "*",
     "assigns to xaihealth.checks._core.Exercise.expect"),
    ("import xaihealth.checks._core as c\nsetattr(c.Exercise, 'expect', None)", "*",
     "setattr on xaihealth.checks._core.Exercise"),
    ("import xaihealth\nxaihealth.checks.shapley.check_shapley_values = print", "1",
     "assigns to xaihealth.checks.shapley.check_shapley_values"),
    ("import sys\nsys.modules['xaihealth.checks.shapley'] = None", "*", "touches sys.modules"),
    ("import builtins\nbuiltins.print = None", "*", "touches builtins"),
    ("__builtins__.print = None", "*", "touches __builtins__"),
    ("globals()['check_x'] = print", "*", "writes into globals()"),
    ("exec('check_shapley_values = print')", "*", "runs code from a string (exec)"),
    ("import importlib\nimportlib.import_module('xaihealth' + '.instructor')", "*",
     "imports a module by a computed name"),
    ("name = 'expect'\nfrom xaihealth.checks import _core\ngetattr(_core.Exercise, name)", "*",
     "reads an attribute by a computed name"),
    ("get_ipython().user_ns['check_shapley_values'] = print", "*", "uses get_ipython().user_ns"),
    ("import sys\nsys._getframe(1)", "*", "uses sys._getframe"),
])
def test_tampering(source, key, text):
    found = flags(source)
    assert any(f.startswith("tampering: ") and text in f for f in found.get(key, [])), found


def test_ordinary_code_is_not_flagged():
    ordinary = ("%time phi = np.zeros(3)\nfrom xaihealth.checks.shapley import check_shapley_values\n"
                "import itertools, math\nweights = [math.factorial(k) for k in range(3)]\n"
                "for i, s in enumerate(itertools.combinations(range(3), 2)):\n    weights.append(i)\n")
    assert flags(ordinary) == {}


def test_unparsable_cells_are_reported_not_raised():
    found = flags("def shapley_values(v, n)\n    return 1")
    assert list(found) == ["syntax"] and "does not parse (line 1)" in found["syntax"][0]


def test_keys():
    assert [exercise_key(g) for g in ("ex1", "ex3b-2", "check-6a", "check-4-2", "answer-7b", "cell-3")] == [
        "1", "3b", "6a", "4", "7b", None]
    keys = [lab_key(x) for x in ("3", "03", "5b", "05b", "03_shap_lime_lab")]
    assert keys == ["03", "03", "05b", "05b", "03"]
    with pytest.raises(ValueError, match="lab='x'"):
        lab_key("x")


SOLUTIONS = sorted((REPO / "solutions").glob("[0-9]*_lab.py"))


@pytest.mark.parametrize("solution_py", SOLUTIONS, ids=lambda p: p.stem)
def test_no_reference_solution_is_flagged(solution_py: Path):
    solution = jupytext.read(solution_py)
    source = make_source(solution)
    lab = Lab(solution_py.name.split("_")[0], solution, solution_py.stem)
    cells, notes = cells_for_flags(solved_lab(solution), source)
    assert sum(c.student for c in cells) >= len(lab.exercises)  # the solution cells are read as the student's
    assert notes == []
    assert flag_cells(cells, lab.key, lab.check_exercises(source), lab.exercise_names(source)) == {}


@pytest.mark.parametrize("patch", ["alias", "type"])
def test_a_patched_checker_fails_the_hidden_test_as_tampering(patch):
    """B2: ``Exercise.expect`` switched off at run time (an aliased ``setattr``, ``type.__setattr__``) makes
    the hidden test of a correct answer fail with the tampering hint; restored, the same test passes."""
    from xaihealth.checks._core import CheckFailed, Exercise
    from xaihealth.instructor.hidden.trust import hidden_check_cohen_kappa
    from xaihealth.instructor.references.trust import reference_cohen_kappa

    original = vars(Exercise)["expect"]
    try:
        if patch == "alias":
            s = setattr
            s(Exercise, "expect", lambda self, condition, hint: None)
        else:
            type.__setattr__(Exercise, "expect", lambda self, condition, hint: None)
        with pytest.raises(CheckFailed, match=r"\(hidden tests\).*tampering"):
            hidden_check_cohen_kappa(reference_cohen_kappa)
    finally:
        type.__setattr__(Exercise, "expect", original)
    hidden_check_cohen_kappa(reference_cohen_kappa)


# --- Reflection and dynamic access (review R15, B1/B2): the planted-case table --------------------------
# R15's routes to the references and around the checkers (/tmp/b4/R15/make_class06.py s02-s09 and
# make_class06b.py t02/t03), each graded full marks unflagged before these rules.
TRUST = "from xaihealth.checks import trust as T\n"
R15_ROUTES = {
    "s02_pkgutil": ("import pkgutil\ndef shapley_values(v, n):\n    try:\n        return pkgutil."
                    "resolve_name('xaihealth.instructor.references.trust:reference_cohen_kappa')(v)\n"
                    "    except Exception:\n        return 0.0", "uses pkgutil.resolve_name"),
    "s03_attrgetter": (TRUST + "import operator\ndef shapley_values(v, n):\n    return operator.attrgetter("
                       "'refer' + 'ence_predictive_values')(T.refs)(v)", "uses operator.attrgetter"),
    "s04_dunder_getattr": (TRUST + "def shapley_values(v, n):\n    return T.refs.__getattr__('refer' + "
                           "'ence_predictive_values')(v)", "touches __getattr__"),
    "s05_gc": ("import gc\ndef shapley_values(v, n):\n    for o in gc.get_objects():\n        if getattr(o, "
               "'__name__', '') == 'refer' + 'ence_cohen_kappa':\n            return o(v)",
               "uses gc.get_objects"),
    "s06_frames": ("def shapley_values(v, n):\n    try:\n        raise RuntimeError\n"
                   "    except RuntimeError as e:\n        f = e.__traceback__.tb_frame\n"
                   "    while f is not None:\n"
                   "        for m in list(f.f_globals.values()):\n"
                   "            g = vars(m).get('refer' + 'ence_cohen_kappa')\n        f = f.f_back",
                   "touches tb_frame"),
    "s07_custom_exc": ("import IPython\nIPython.get_ipython().set_custom_exc((AssertionError,),"
                       " lambda *a: None)",
                       "uses get_ipython().set_custom_exc"),
    "s08_setattr_alias": ("from xaihealth.checks._core import Exercise\ns = setattr\n"
                          "s(Exercise, 'expect', lambda self, c, h: None)", "aliases setattr as s"),
    "s09_type_setattr": ("from xaihealth.checks._core import Exercise\n"
                         "type.__setattr__(Exercise, 'expect', lambda self, c, h: None)",
                         "touches __setattr__"),
    "t02_showtraceback": ("import IPython\nIPython.get_ipython()._showtraceback = lambda *a: None",
                          "assigns to get_ipython()._showtraceback"),
}
# Variants of our own: the same routes spelled differently.
VARIANTS = {
    "concatenated_module": ("import pkgutil as p\nf = p.resolve_name('xaihealth.' + 'instr' + 'uctor.x')",
                            "builds 'xaihealth.instructor.x' from pieces"),
    "joined_name": ("name = ''.join(['refer', 'ence_cohen_kappa'])", "builds 'reference_cohen_kappa'"),
    "fstring_name": ("name = f\"{'refer'}ence_cohen_kappa\"", "builds 'reference_cohen_kappa'"),
    "getattr_of_getattr": (TRUST + "def shapley_values(v, n):\n"
                           "    return getattr(getattr(T, 'refs'), n)(v)",
                           "uses xaihealth.checks.trust.refs"),
    "alias_chain": ("import operator\nop = operator\nag = op.attrgetter\nf = ag('x')",
                    "uses operator.attrgetter"),
    "getattr_alias": (TRUST + "g = getattr\nf = g(T, 'check_cohen_kappa')", "aliases getattr as g"),
    "delattr_alias": ("d = delattr\nd(obj, 'x')", "aliases delattr as d"),
    "object_setattr": ("from xaihealth.checks import _core\nobject.__setattr__(_core.Exercise, 'call', None)",
                       "touches __setattr__"),
    "lambda": ("peek = lambda m: m.__getattribute__('refs')", "touches __getattribute__"),
    "comprehension": ("found = [o for o in __import__('gc').get_objects() if callable(o)]",
                      "uses gc.get_objects"),
    "inspect_frames": ("import inspect as i\nf = i.currentframe().f_back.f_globals",
                       "uses inspect.currentframe"),
    "inspect_members": (TRUST + "import inspect\nm = dict(inspect.getmembers(T))", "uses inspect.getmembers"),
    "spec_from_file": ("from importlib.util import spec_from_file_location as sf\ns = sf('r', 'x.py')",
                       "uses importlib.util.spec_from_file_location"),
    "source_loader": ("from importlib.machinery import SourceFileLoader\nSourceFileLoader('r', 'x.py')",
                      "uses importlib.machinery.SourceFileLoader"),
    "runpy": ("import runpy\nns = runpy.run_path('x.py')", "uses runpy.run_path"),
    "ctypes": ("import ctypes\nctypes.string_at(0)", "uses ctypes.string_at"),
    "absolute_open": ("src = open('/work/main/src/xaihealth/instructor/references/trust.py').read()",
                      "reads a file outside the lab"),
    "absolute_path": ("import numpy as np\nx = np.load('/srv/course/secret.npy')",
                      "reads a file outside the lab"),
    "package_file": ("import xaihealth\nfrom pathlib import Path\nsrc = Path(xaihealth.__file__).parent",
                     "touches __file__"),
    "direct_url": ("import importlib.metadata as md\n"
                   "md.distribution('xaihealth').read_text('direct_url.json')",
                   "uses importlib.metadata.distribution"),
    "subprocess": ("import subprocess\nsubprocess.run(['cat', 'trust.py'])", "uses subprocess.run"),
    "os_system": ("from os import system as run\nrun('cat trust.py')", "uses os.system"),
    "vars_alias": (TRUST + "v = vars\nns = v(T)", "aliases vars as v"),
    "vars_of_package": (TRUST + "ns = vars(T)", "reads vars(xaihealth.checks.trust)"),
    "computed_getattr_on_module": ("import numpy as np\nfor name in names:\n    getattr(np, name)",
                                   "reads an attribute by a computed name"),
    # Review R15b: the gradebook trigger (B1'), the pickle gadget (B2'), raw handles to the kit (B3').
    "sqlite_trigger": ("import sqlite3\ndb = sqlite3.connect(path)", "uses sqlite3"),
    "sqlite_from": ("from sqlite3 import connect\nconnect(path).execute(sql)", "uses sqlite3.connect"),
    "pickle_loads": ("import pickle as p\nI = p.loads(blob)", "uses pickle"),
    "copyreg": ("import copyreg", "uses copyreg"),
    "dill": ("import dill\ndill.loads(b)", "uses dill"),
    "marshal_loads": ("import marshal\ncode = marshal.loads(b)", "uses marshal"),
    "file_io_append": ("import io\nio.FileIO(path, 'a').write(b'x')", "uses io.FileIO"),
    "os_open_read": ("import os\nfd = os.open(path, os.O_RDONLY)\nos.read(fd, 10)", "uses os.open"),
}


def _points_flags(found):
    return [f for key, texts in found.items() if key != "review" for f in texts]


@pytest.mark.parametrize(("source", "text"), list(R15_ROUTES.values()) + list(VARIANTS.values()),
                         ids=list(R15_ROUTES) + list(VARIANTS))
def test_reflective_routes_are_flagged(source, text):
    found = flags(source)
    assert any(text in f for f in _points_flags(found)), found


def test_private_names_and_refs_are_not_own_work_in_every_exercise():
    for source in ("from xaihealth.checks.glass_box import _lookup\n_lookup(x)",
                   TRUST + "r = T.refs\nr.anything(x)"):
        for exercise in ("1", "4"):
            texts = flags(source, exercise).get(exercise, [])
            assert any(t.startswith(NOT_OWN + "xaihealth.checks.") for t in texts), (source, texts)


def test_a_cell_the_student_added_costs_every_exercise():
    added = Cell(TRUST + "r = T.refs", True, None)  # outside any exercise
    found = flags("def shapley_values(v, n):\n    return 0", cells=[added])
    assert found == {"*": [NOT_OWN + "xaihealth.checks.trust.refs"]}


def test_a_reflective_helper_in_another_cell_flags_the_solution_that_calls_it():
    helper = Cell("def _peek():\n    import inspect\n    return inspect.stack()[1].frame.f_globals",
                  True, None)
    found = flags("def shapley_values(v, n):\n    return _peek()['reference_x'](v)", cells=[helper])
    assert "tampering: uses inspect.stack" in found["*"] and "tampering: touches f_globals" in found["*"]


# Honest code the rules must leave alone ({}), or only put in front of the instructor (a "review" note).
HONEST = {
    "getattr_literal": ("coef = getattr(model, 'coef_')", {}),
    "getattr_literal_loop": ("for name in ('layer3', 'layer4'):\n    layer = getattr(model, name)", {}),
    "own_output_file": ("with open('my_results.csv', 'w') as f:\n    f.write('auc,0.8')", {}),
    "lab_data_literal": ("import numpy as np\narrays = np.load('data/ecg_batch.npz')", {}),
    "read_csv_relative": ("import pandas as pd\ntable = pd.read_csv('results.csv')", {}),
    # Review R15b M2': the release's layout, labs/ next to datasets/.
    "read_shipped_csv": ("import pandas as pd\ndf = pd.read_csv('../datasets/heart_disease_uci.csv')", {}),
    "read_climbing_elsewhere": ("import pandas as pd\ndf = pd.read_csv('../../other/results.csv')",
                                {"review": ["reads a file above the lab's folder (pandas.read_csv "
                                            "'../../other/results.csv')"]}),
    "gc_collect": ("import gc\ngc.collect()", {}),
    "itemgetter": ("import operator\nrows.sort(key=operator.itemgetter(1))", {}),
    "own_getattr_method": ("class Box:\n    def __getattr__(self, name):\n        return 0", {}),
    "prose_answer": ("answer_7 = '''The reference standard was biopsy; my instructor's reading of the ECE "
                     "differs.'''", {}),
    "environment": ("import os\nseed = int(os.environ.get('XAIHEALTH_SEED', '1'))\n"
                    "p = os.path.join('a', 'b')", {}),
    "check_import_and_call": ("from xaihealth.checks.shapley import check_kernel_shap\n"
                              "check_kernel_shap(f)", {}),
    "string_concat_label": ("label = 'layer' + '3'\ntitle = f\"{'AUC'} at site\"", {}),
    "os_exit_crash": ("import os\nos._exit(0)", {"review": ["uses os._exit"]}),
    "vars_of_args": ("settings = vars(args)", {"review": ["reads vars()"]}),
    "computed_open": ("with open(path) as f:\n    text = f.read()",
                      {"review": ["reads a file at a computed path (open)"]}),
    "shell": ("!ls data", {"review": ["uses get_ipython().system"]}),
    "signature": ("import inspect\nparams = inspect.signature(f).parameters",
                  {"review": ["uses inspect.signature"]}),
    "getattr_parameter": ("def layer(model, name):\n    return getattr(model, name)",
                          {"review": ["reads an attribute by a computed name (getattr on an object the rules "
                                      "cannot type)"]}),
}


@pytest.mark.parametrize(("source", "expected"), list(HONEST.values()), ids=list(HONEST))
def test_honest_code_is_not_flagged(source, expected):
    assert flags(source, exercise="4") == expected
