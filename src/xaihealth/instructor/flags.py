"""AST rules for grading: a solution must be the student's own work and must leave the checkers alone.

Flags found by reading the code of the cells a student wrote (solution cells and cells the student
added), never by running it; the two kinds that cost points (a third, "for review", is below):

- **not your own implementation**: the cell uses a name it must not use: anything under
  ``xaihealth.instructor`` (references, hidden tests), the accessor ``xaihealth.checks._reference``, a
  ``reference_*`` function, or, per exercise, the library the exercise re-implements (:data:`RULES`).
- **tampering**: the cell rebinds or defines a ``check_*`` name, assigns to (or ``setattr``/``delattr`` on)
  an attribute of an ``xaihealth`` object, touches ``sys.modules``, ``builtins``, ``globals()``, a
  function's ``__globals__``/``__code__``, the IPython namespace, or runs code from a string
  (``exec``/``eval``/``compile``, an import by a computed name), which no rule could inspect.

Names are resolved through aliases: ``import shap as s``, ``from shap import Explainer as E``,
``E = shap.Explainer``, ``getattr(shap, "Explainer")``, ``__import__("shap")``,
``importlib.import_module("shap")``. Imports of the whole notebook (locked setup cells included) are read
in order, so ``shap.KernelExplainer`` in a solution cell resolves through the setup cell's ``import shap``.
A function the student defines in one cell and calls in another carries the names it uses with it.

Reflection and dynamic access (review R15, B1/B2). The grading kernel cannot import the references (the
grading kit leaves them out), so these rules are the second line, and the only one against reading the
instructor's files by path. Each construct gets the kind an honest lab solution makes plausible:

- **tampering** (every exercise scores 0), because no solution of these labs needs it and each is a known
  route to the references or to the checkers: ``pkgutil``, ``ctypes``, ``runpy``, ``subprocess``,
  ``os.system``/``popen``/``exec*``/``spawn*``, ``marshal``, ``zipimport``; the gradebook's and the
  stores' machinery (``sqlite3``, ``sqlalchemy``, ``nbgrader``; ``pickle``, ``copyreg``, ``dill``,
  ``cloudpickle``, ``shelve``: unpickling is an import-and-call gadget) and raw file handles
  (``io.FileIO``, ``os.open``/``read``/``fdopen``), review R15b B1'-B3'; ``gc`` except
  ``gc.collect`` (freeing memory is honest); ``inspect`` except ``signature``/``getdoc``/``is*``;
  ``importlib`` except ``import_module`` with a literal name (``util``, ``machinery``,
  ``SourceFileLoader``, ``spec_from_file_location``, ``reload``, ``metadata`` other than ``version``);
  ``operator.attrgetter``/``methodcaller`` (a computed attribute read under another name); ``sys._getframe``,
  ``sys.exc_info``, ``sys.settrace``; the attributes ``__getattr__``, ``__getattribute__``, ``__setattr__``,
  ``__delattr__`` (so ``type.__setattr__`` and ``object.__setattr__``), frame and traceback attributes
  (``tb_frame``, ``f_back``, ``f_globals``, ``f_locals``, ``gi_frame``, ``cr_frame``, ``__traceback__``),
  the module attributes ``__file__``, ``__path__``, ``__spec__``, ``__loader__`` and the class-walk
  ``__subclasses__``/``__mro__``/``__bases__``, on any object; an alias of ``setattr``, ``delattr``,
  ``getattr``, ``vars``, ``globals`` or ``locals`` (``s = setattr``: honest code calls them by name);
  ``getattr`` with a computed name on an ``xaihealth`` object, or with a name built from string pieces on
  anything (``'refer' + 'ence_x'`` is obfuscation, not a loop); a string, literal or built from pieces,
  that spells the instructor's package, a ``reference_`` name or the package's files (``direct_url``,
  ``site-packages``, ``.venv``); a file read (``open``, ``io.open``, ``Path``, ``np.load``,
  ``torch.load``, ``joblib.load``, ``pd.read_*``) at a literal path that is absolute or names the
  package (one that climbs with ``..`` is for review, and ``../datasets/...``, the release's layout, is
  allowed: review R15b M2').
- **not your own implementation** (that exercise scores 0; in a cell the student added outside any
  exercise, every exercise): the ``refs`` attribute of a checks module and any private ``_name`` under
  ``xaihealth`` (``glass_box._lookup``, ``xaihealth.__file__``), as for ``reference_*`` names.
- **for review** (key ``"review"``: no points taken, the instructor reads it), because an honest student
  could plausibly write it: ``vars(x)``/``globals()``/``locals()`` read (tampering on an ``xaihealth``
  object), a file read at a computed path (``open(path)``), a shell command (``!ls``,
  ``get_ipython().system``), a literal path that climbs with ``..`` elsewhere than ``datasets/``,
  ``getattr`` with a computed plain name (a parameter) on an object the rules
  cannot type, ``inspect.signature``
  and ``importlib.metadata.version``; ``os._exit`` (it stops the kernel: no route to a reference, and a
  crash already scores only what ran before it).

Allowed without a flag: ``getattr(model, "coef_")`` with a literal name on a non-``xaihealth`` object (a
loop variable over literal names, ``for name in ("layer3", "layer4")`` as in lab 04's solution, counts as
those literals), and ``open`` of a relative literal path (the student's own output file, ``data/...``).
"""

from __future__ import annotations

import ast
import functools
import importlib
import re
import sys
import threading
import types
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from IPython.core.inputtransformer2 import TransformerManager

_AST_LOCK = threading.Lock()

# Names no solution may use, in any lab and exercise (dotted prefixes: "a.b" also bans "a.b.c").
ALWAYS = ("xaihealth.instructor", "xaihealth.checks._reference")
_REFERENCE = re.compile(r"(^|\.)reference_\w+$")

# Per lab and exercise, what the exercise asks the student to write themselves (dotted prefixes) and the
# methods it forbids on any object (e.g. TransformerLens' hook API on the model).
RULES: dict[str, dict[str, tuple[str, ...]]] = {
    "01": {
        "1": ("interpret",),
        "2": ("interpret", ".eval_terms", ".decision_function", ".predict", ".predict_proba",
              ".explain_local", ".explain_global", "._predict_score", ".predict_with_uncertainty"),
        "3": ("interpret",),
    },
    "02": {"2": ("captum",)},
    "03": {"1": ("shap",), "2": ("shap",), "3": ("lime", "shap")},
    "04": {"1": ("captum", "xaihealth.serving"), "2": ("captum", "pytorch_grad_cam", "xaihealth.serving")},
    "05": {
        "2": ("transformer_lens.patching", ".run_with_hooks", ".run_with_cache", ".add_hook",
              ".add_perma_hook", ".hooks"),
        "4": ("torch.nn.functional.scaled_dot_product_attention",),
        "5": ("captum",),
    },
    "05b": {"1": ("xaihealth.models.sae",), "2": ("xaihealth.models.sae", "sae_lens"),
            "3": ("xaihealth.models.sae",)},
    "06": {
        "1": ("mapie", "sklearn.calibration", "netcal", "torchmetrics"),
        "2": ("sklearn.calibration", "netcal", "mapie"),
        "3": ("mapie", "crepes"),
        "6": ("sklearn.metrics.cohen_kappa_score", "statsmodels.stats.inter_rater", "statsmodels.stats.api"),
        "7": ("mapie", "crepes", "sklearn.calibration"),
    },
    # Lab 07: the service's own versions of what each exercise writes (the job, PSI and its threshold,
    # the pseudonym; the views and the app hold the service's queries).
    # Opening an archive (another database file) is the setup cells' business, never a solution's.
    "07": {key: ("xaihealth.serving.archive.Archive", "xaihealth.checks.serving.lab_archive",
                 "xaihealth.checks.serving.plant_audit_archive", *extra) for key, extra in {
        "1": ("xaihealth.serving.worker", ".record_explanation", ".explain_and_record"),
        "2": ("xaihealth.serving.monitor",),
        "3": ("xaihealth.serving.monitor",),
        "4": ("xaihealth.serving.views", "xaihealth.serving.app"),
        "5": ("xaihealth.serving.privacy", ".record_prediction"),
    }.items()},
    # Lab 08: every route to the planted truth or the vendor's weights, and lifting the query budget.
    "08": dict.fromkeys(("1", "2", "3", "4"), (
        *(f"xaihealth.data.blackbox.{name}" for name in (
            "planted_truth", "PlantedTruth", "COEFFICIENTS", "NULL_FEATURES", "STRONG", "WEAK", "INTERACTION",
            "INTERACTION_COEF", "INTERCEPT", "DECOY", "DECOY_CORRELATION", "SCALES", "_vendor_fit",
            "_contributions", "_design", "_draw", "_standardise")),
        "._BudgetedModel__weights", "._BudgetedModel__bias", ".with_budget")),
}

# Per lab, reflection-list names its exercises need (lab 07 is written against SQLAlchemy): allowed, except
# opening another database (create_engine and its kin stay tampering: the gradebook is a database).
LAB_ALLOWS: dict[str, re.Pattern[str]] = {
    "07": re.compile(r"sqlalchemy(?!(\.\w+)*\.(create_engine|create_mock_engine|engine_from_config"
                     r"|create_pool_from_url)(\.|$))(\.\w+)*$"),
}

_FRAME_PEEKS = ("builtins", "sys.modules", "unittest.mock")
# Reflection no lab solution needs (a dotted name used, imported or called): tampering.
_REFLECTION = re.compile(
    r"(pkgutil|ctypes|runpy|subprocess|pty|marshal|zipimport|multiprocessing|types\.(FunctionType|CodeType)"
    r"|sqlite3|sqlalchemy|nbgrader|pickle|_pickle|copyreg|dill|cloudpickle|shelve|io\.FileIO|_io\.FileIO"
    r"|os\.(open|read|fdopen)"
    r"|gc\.(?!collect$)\w+|inspect\.(?!(signature|getdoc|is\w+)$)\w+"
    r"|importlib\.(?!(import_module|metadata\.version)$)\w+"
    r"|operator\.(attrgetter|methodcaller)|os\.(system|popen|exec\w*|spawn\w*|posix_spawn\w*|fork\w*)"
    r"|sys\.(_getframe|_current_frames|exc_info|exception|settrace|setprofile|last_\w+|meta_path|path_hooks)"
    r"|threading\.settrace)(\.|$)")
# Plausible in honest work, read by the instructor: a "review" flag, no points taken.
_REVIEW = re.compile(r"(inspect\.(signature|getdoc)|importlib\.metadata\.version|os\._exit"
                     r"|<ipython>\.(system|getoutput))$")
_DUNDERS = {"__globals__", "__code__", "__closure__", "__defaults__", "__kwdefaults__", "__builtins__",
            "__dict__"}
# Attributes that reach frames, attribute machinery, module files or every class: tampering on any object.
_REFLECTIVE_ATTRS = {"tb_frame", "tb_next", "f_back", "f_globals", "f_locals", "f_builtins", "f_code",
                     "gi_frame", "cr_frame", "ag_frame", "__traceback__", "__getattr__", "__getattribute__",
                     "__setattr__", "__delattr__", "__file__", "__path__", "__spec__", "__loader__",
                     "__cached__", "__subclasses__", "__mro__", "__bases__", "__base__"}
_IPYTHON_ALLOWED = {"run_line_magic", "run_cell_magic", "system", "getoutput"}
_STRING_CODE = {"exec", "eval", "compile"}
_BUILTINS_TRACKED = {"setattr", "delattr", "getattr", "vars", "globals", "locals", "open"}
_NAMESPACES = {"vars", "globals", "locals"}
# A private name, or the references object, of the course package: as a reference_ name, in every exercise.
_PRIVATE = re.compile(r"^xaihealth(\.\w+)*\.(refs|_\w+)(\.|$)")
# A string that spells the instructor's package, a reference, or the installed package's files.
_SPELLS = re.compile(r"xaihealth[./\\]|\binstructor[./\\]\w|reference_\w|site-packages|direct_url|\.venv\b"
                     r"|^(instructor|references|refs)$")
# A relative path into the release's own datasets/ (labs/ sits next to it): the course's data, not a leak.
_DATASETS = re.compile(r"(\./)?(\.\./)?datasets/[\w.-]+(/[\w.-]+)*")
_FILE_READERS = {"open", "io.open", "codecs.open", "os.open", "pathlib.Path", "pathlib.PurePath",
                 "numpy.load", "numpy.loadtxt", "numpy.genfromtxt", "numpy.fromfile", "torch.load",
                 "joblib.load", "shutil.copy", "shutil.copyfile", "os.listdir", "os.scandir", "glob.glob"}


def parse_cell(source: str) -> ast.Module:
    """The AST of a notebook cell, IPython syntax (``%magic``, ``!cmd``) turned into Python first.

    Raises ``SyntaxError`` for a cell that is not valid Python.
    """
    return ast.parse(TransformerManager().transform_cell(source))


@dataclass
class _Scan:
    """What one cell uses: resolved dotted names, bare names read, flags raised, functions defined."""

    used: set[str] = field(default_factory=set)
    loads: set[str] = field(default_factory=set)
    tampering: list[str] = field(default_factory=list)
    review: list[str] = field(default_factory=list)
    defines: set[str] = field(default_factory=set)
    functions: dict[str, tuple[set[str], set[str]]] = field(default_factory=dict)  # name -> (used, loads)


class _Resolver(ast.NodeVisitor):
    """Walk cells in notebook order, keeping ``aliases`` (bound name -> dotted name it stands for)."""

    def __init__(self, allow: re.Pattern[str] | None = None) -> None:
        self.allow = allow  # reflection-list names this lab allows (LAB_ALLOWS)
        self.aliases: dict[str, str] = {}
        self.scan = _Scan()
        self.student = False  # whether the cell being walked is the student's (flags and uses recorded)
        self._stack: list[tuple[set[str], set[str]]] = []
        self._shadowed: set[str] = set()  # tracked builtins (``open``, ``getattr``) the notebook rebinds
        self._literals: dict[str, tuple[str, ...]] = {}  # loop variable -> the literal strings it runs over

    # --- name resolution ---------------------------------------------------------------------------
    def resolve(self, node: ast.AST) -> str | None:
        """The dotted name an expression stands for, or None (``"?"`` marks a computed part)."""
        if isinstance(node, ast.Name):
            if node.id in self.aliases:
                return self.aliases[node.id]
            return node.id if node.id in _BUILTINS_TRACKED and node.id not in self._shadowed else None
        if isinstance(node, ast.Attribute):
            base = self.resolve(node.value)
            return f"{base}.{node.attr}" if base else None
        if isinstance(node, ast.Subscript):  # sys.modules["shap"]
            base = self.resolve(node.value)
            if base == "sys.modules" and isinstance(node.slice, ast.Constant):
                return str(node.slice.value)
            return None
        if isinstance(node, ast.Call):
            func = self.resolve(node.func)
            name = func or (node.func.id if isinstance(node.func, ast.Name) else None)
            first = node.args[0] if node.args else None
            if name == "get_ipython" or (name or "").endswith(".get_ipython"):
                return "<ipython>"
            if name in ("__import__", "importlib.import_module", "builtins.__import__"):
                return str(first.value) if isinstance(first, ast.Constant) else "?"
            if name == "getattr" and len(node.args) >= 2:
                base = self.resolve(node.args[0])
                attr = node.args[1]
                if base:
                    return f"{base}.{attr.value}" if isinstance(attr, ast.Constant) else f"{base}.?"
        return None

    def _use(self, dotted: str | None) -> None:
        if dotted and self.student:
            # gradients.captum.attr is captum.attr; and a checker module passed around as a value ([g][0])
            # carries every library it holds (captum.<via xaihealth.checks.gradients>)
            names = {dotted, canonical(dotted), *held_libraries(dotted)}
            self.scan.used.update(names)
            if self._stack:
                self._stack[-1][0].update(names)
            peek = next((p for p in _FRAME_PEEKS if _matches(dotted, p)), None)
            if peek:
                self._tamper(f"touches {peek}")
            self._reflect(dotted)
            if dotted.startswith("<ipython>.") and dotted.split(".")[1] not in _IPYTHON_ALLOWED:
                self._tamper(f"uses get_ipython().{dotted.split('.')[1]}")

    def _reflect(self, dotted: str) -> None:
        """Flag a dotted name of the reflection machinery: tampering, or for review when plausible."""
        if self.allow is not None and self.allow.match(dotted):
            return
        if _REVIEW.match(dotted):
            self._note(f"uses {dotted.replace('<ipython>', 'get_ipython()')}")
        elif _REFLECTION.match(dotted):
            self._tamper(f"uses {dotted}")

    def _attribute(self, name: str) -> None:
        """Flag an attribute name read or written on any object (``x.tb_frame``, ``getattr(x, "f_back")``)."""
        if name in _REFLECTIVE_ATTRS or name in _DUNDERS:
            self._tamper(f"touches {name}")

    def _note(self, text: str) -> None:
        if self.student and text not in self.scan.review:
            self.scan.review.append(text)

    def _names_of(self, node: ast.AST) -> tuple[str, ...] | None:
        """The literal strings an expression can be: a constant, or a loop variable over literal strings."""
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            return (node.value,)
        if isinstance(node, ast.Name) and node.id in self._literals:
            return self._literals[node.id]
        return None

    def _tamper(self, text: str) -> None:
        if self.student and text not in self.scan.tampering:
            self.scan.tampering.append(text)

    def _bind(self, name: str, dotted: str | None, how: str | None) -> None:
        """Bind ``name`` (to ``dotted``, or to nothing known); ``how`` says how, for a tampering flag."""
        if dotted:
            self.aliases[name] = dotted
            self._shadowed.discard(name)
        else:
            self.aliases.pop(name, None)
            self._shadowed.add(name)
        self._literals.pop(name, None)
        if self.student:
            self.scan.defines.add(name)
            if name.startswith("check_") and how:
                self._tamper(f"{how} {name}")
            if dotted in _BUILTINS_TRACKED - {"open"} and name != dotted:
                self._tamper(f"aliases {dotted} as {name}")

    def _bind_target(self, target: ast.AST, dotted: str | None, how: str = "rebinds") -> None:
        if isinstance(target, ast.Name):
            self._bind(target.id, dotted, how)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self._bind_target(element, None, how)
        elif isinstance(target, ast.Starred):
            self._bind_target(target.value, None, how)
        elif isinstance(target, ast.Attribute):
            self._attribute(target.attr)
            owner = self.resolve(target.value)
            if owner and owner.split(".")[0] in ("xaihealth", "<ipython>"):
                self._tamper(f"assigns to {owner.replace('<ipython>', 'get_ipython()')}.{target.attr}")
            elif isinstance(target.value, ast.Name) and target.value.id.startswith("check_"):
                self._tamper(f"assigns to {target.value.id}.{target.attr}")
        elif isinstance(target, ast.Subscript) and isinstance(target.value, ast.Call):
            func = target.value.func
            if isinstance(func, ast.Name) and func.id in ("globals", "vars", "locals"):
                self._tamper(f"writes into {func.id}()")

    # --- statements that bind names ----------------------------------------------------------------
    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.asname:
                self._bind(alias.asname, alias.name, "imports as")
            else:
                top = alias.name.split(".")[0]
                self._bind(top, top, "imports as")
            self._use(alias.name if alias.asname or _forbidden_import(alias.name) else None)
            if self.student:
                self._reflect(alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        module = "." * node.level + (node.module or "")
        for alias in node.names:
            if alias.name == "*":
                self._use(f"{module}.*")
                continue
            same_checker = module.startswith("xaihealth.checks") and alias.asname in (None, alias.name)
            how = None if same_checker else "imports as"
            self._bind(alias.asname or alias.name, f"{module}.{alias.name}", how)
            if _forbidden_import(f"{module}.{alias.name}"):
                self._use(f"{module}.{alias.name}")
            if self.student:
                self._reflect(f"{module}.{alias.name}")

    def visit_Assign(self, node: ast.Assign) -> None:
        self.visit(node.value)
        dotted = self.resolve(node.value)
        for target in node.targets:
            self._bind_target(target, dotted)
            self._visit_target_parts(target)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)
        self._bind_target(node.target, self.resolve(node.value) if node.value else None)
        self._visit_target_parts(node.target)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self.visit(node.value)
        self._bind_target(node.target, None)
        self._visit_target_parts(node.target)

    def visit_NamedExpr(self, node: ast.NamedExpr) -> None:
        self.visit(node.value)
        self._bind_target(node.target, self.resolve(node.value))

    def visit_For(self, node: ast.For) -> None:
        self._bind_target(node.target, None)
        self.visit(node.iter)
        if isinstance(node.target, ast.Name) and isinstance(node.iter, ast.Tuple | ast.List):
            names = [self._names_of(e) for e in node.iter.elts]
            if names and all(n is not None and len(n) == 1 for n in names):
                self._literals[node.target.id] = tuple(n[0] for n in names)
        for statement in node.body + node.orelse:
            self.visit(statement)

    visit_AsyncFor = visit_For

    def visit_withitem(self, node: ast.withitem) -> None:
        self.visit(node.context_expr)
        if node.optional_vars is not None:
            self._bind_target(node.optional_vars, None)

    def visit_Delete(self, node: ast.Delete) -> None:
        for target in node.targets:
            self._bind_target(target, None, "deletes")
            self._visit_target_parts(target)

    def visit_Global(self, node: ast.Global) -> None:
        for name in node.names:
            if name.startswith("check_"):
                self._tamper(f"declares global {name}")

    def _visit_target_parts(self, target: ast.AST) -> None:
        """Visit the expressions inside an assignment target (``a.b[c] = ...`` reads ``a`` and ``c``)."""
        if isinstance(target, ast.Attribute | ast.Subscript):
            self.visit(target.value)
            if isinstance(target, ast.Subscript):
                self.visit(target.slice)

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        for decorator in node.decorator_list:
            self.visit(decorator)
        self._bind(node.name, None, "defines")
        self._stack.append((set(), set()))
        # defaults (``m=gradients``) and annotations count as used by the function
        for expression in [*node.args.defaults, *node.args.kw_defaults]:
            if expression is not None:
                self.visit(expression)
        for statement in node.body:
            self.visit(statement)
        used, loads = self._stack.pop()
        if self.student and not self._stack:
            self.scan.functions[node.name] = (used, loads)

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._bind(node.name, None, "defines")
        self.generic_visit(node)

    # --- expressions --------------------------------------------------------------------------------
    def visit_Name(self, node: ast.Name) -> None:
        if not self.student:
            return
        self.scan.loads.add(node.id)
        if self._stack:
            self._stack[-1][1].add(node.id)
        self._use(self.aliases.get(node.id) or (node.id if _REFERENCE.search(node.id) else None))
        if node.id == "__builtins__":
            self._tamper("touches __builtins__")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        dotted = self.resolve(node)
        if dotted:
            self._use(dotted)
        elif self.student:
            self._use(f".{node.attr}")  # a method on an object the rules cannot type: matched by name
        self._attribute(node.attr)
        if node.attr == "refs" and not dotted:
            self._note("reads an attribute named refs")
        self.visit(node.value)

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and _SPELLS.search(node.value):
            self._tamper(f"spells {node.value[:60]!r}")

    def visit_BinOp(self, node: ast.BinOp) -> None:
        self._pieces(node)
        self.generic_visit(node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        self._pieces(node)
        self.generic_visit(node)

    def _pieces(self, node: ast.AST) -> None:
        """Flag a string built from literal pieces that spells a banned name (``'refer' + 'ence_x'``)."""
        text = _fold(node)
        if text and (_SPELLS.search(text) or text in _REFLECTIVE_ATTRS | _DUNDERS | _NAMESPACES
                     or text.startswith("check_") or _REFLECTION.match(text)):
            self._tamper(f"builds {text[:60]!r} from pieces")

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self._use(self.resolve(node))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        self._pieces(node)  # "".join([...])
        func = self.resolve(node.func)
        bare = node.func.id if isinstance(node.func, ast.Name) else None
        name = func or bare
        if name in _STRING_CODE or func in {f"builtins.{n}" for n in _STRING_CODE}:
            self._tamper(f"runs code from a string ({name})")
        elif name in ("__import__", "importlib.import_module", "builtins.__import__"):
            target = self.resolve(node)
            if target == "?":
                self._tamper(f"imports a module by a computed name ({name})")
            self._use(target)
        elif name in ("setattr", "delattr") and node.args:
            owner = self.resolve(node.args[0])
            first = node.args[0]
            if (owner and owner.split(".")[0] == "xaihealth") or (
                isinstance(first, ast.Name) and first.id.startswith("check_")
            ):
                self._tamper(f"{name} on {owner or first.id}")
            for attr in (self._names_of(node.args[1]) or ()) if len(node.args) > 1 else ():
                self._attribute(attr)
        elif name == "getattr" and len(node.args) >= 2:
            self._getattr(node)
        elif name in _NAMESPACES:
            owner = self.resolve(node.args[0]) if node.args else None
            if owner and owner.split(".")[0] == "xaihealth":
                self._tamper(f"reads {name}({owner})")
            else:
                self._note(f"reads {name}()")
        elif name and (name in _FILE_READERS or re.fullmatch(r"pandas\.read_\w+", name)) and node.args:
            self._file(name, node.args[0])
        self.generic_visit(node)

    def _getattr(self, node: ast.Call) -> None:
        target = self.resolve(node)
        names = self._names_of(node.args[1])
        for attr in names or ():
            self._attribute(attr)
        if names and len(names) > 1:  # a loop over literal names: each one, as if written out
            base = self.resolve(node.args[0])
            for attr in names:
                self._use(f"{base}.{attr}" if base else f".{attr}")
        elif target and target.endswith(".?"):
            self._tamper(f"reads an attribute by a computed name (getattr on {target[:-2]})")
        elif names is None and _fold(node.args[1]) is not None:
            self._tamper("reads an attribute by a name built from pieces (getattr)")
        elif names is None:
            self._note("reads an attribute by a computed name (getattr on an object the rules cannot type)")
        self._use(target)

    def _file(self, reader: str, path: ast.AST) -> None:
        """A file read: tampering at a literal path outside the lab's folders, for review when computed."""
        literal = (path.value if isinstance(path, ast.Constant) and isinstance(path.value, str)
                   else _fold(path))
        if literal is None:
            self._note(f"reads a file at a computed path ({reader})")
        elif re.match(r"([/~\\]|[A-Za-z]:)", literal) or _SPELLS.search(literal):
            self._tamper(f"reads a file outside the lab ({reader} {literal[:60]!r})")
        elif ".." in re.split(r"[/\\]", literal) and not _DATASETS.fullmatch(literal):
            self._note(f"reads a file above the lab's folder ({reader} {literal[:60]!r})")


_WALK_PARTS = 12  # longer dotted names are not walked (each step is a dict lookup; no imports beyond checks)


def _walk(dotted: str) -> list[object] | None:
    """The objects each part of ``dotted`` (from ``xaihealth``) names, read from module dictionaries only
    (no attribute hooks run); a submodule is imported only under ``xaihealth.checks`` (or if already
    imported). None where the name is not the package's, is too long, or a part is not found."""
    parts = dotted.split(".")
    if parts[0] != "xaihealth" or len(parts) > _WALK_PARTS:
        return None
    try:
        obj: object = importlib.import_module("xaihealth")
        found = [obj]
        for part in parts[1:]:
            if not isinstance(obj, types.ModuleType):
                break
            nxt = vars(obj).get(part)
            name = f"{obj.__name__}.{part}"
            if nxt is None and (name in sys.modules or f"{name}.".startswith("xaihealth.checks.")):
                nxt = importlib.import_module(name)
            if nxt is None:
                return None
            obj = nxt
            found.append(obj)
        return found
    except Exception:  # noqa: BLE001 - whatever the name is, flagging goes on
        return None


def _home(obj: object) -> str | None:
    """Where ``obj`` lives outside the package (a module's name, a class's or function's path), or None."""
    if isinstance(obj, types.ModuleType):
        home = obj.__name__
    else:
        module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
        if not (isinstance(module, str) and isinstance(qualname, str)):
            return None
        home = f"{module}.{qualname}"
    return None if home.startswith("xaihealth") else home


@functools.lru_cache(maxsize=4096)
def canonical(dotted: str) -> str:
    """What a name reached through one of the package's modules really is: ``xaihealth.checks.gradients.
    captum.attr`` is ``captum.attr`` (the checker module imports captum), ``xaihealth.checks.gradients.
    IntegratedGradients`` is captum's class. Other names come back unchanged."""
    found = _walk(dotted)
    if not found:
        return dotted
    parts = dotted.split(".")
    for j, obj in enumerate(found):
        home = _home(obj)
        if home:
            return ".".join([home, *parts[j + 1:]])
    return dotted


@functools.lru_cache(maxsize=512)
def held_libraries(dotted: str) -> tuple[str, ...]:
    """If ``dotted`` is one of the package's modules: the libraries it holds (modules, classes and
    functions it imported), as ``library.<via module>``, so that a module passed around where the rules
    cannot follow it (``[g][0].captum``) still counts as using them."""
    found = _walk(dotted)
    if not found or len(found) != len(dotted.split(".")) or not isinstance(found[-1], types.ModuleType) \
            or not found[-1].__name__.startswith("xaihealth"):
        return ()
    homes = {_home(v) for v in vars(found[-1]).values() if isinstance(v, types.ModuleType | type)
             or callable(v)}  # fmt: skip
    return tuple(sorted({f"{h.split('.')[0]}.<via {dotted}>" for h in homes if h}))


def _fold(node: ast.AST) -> str | None:
    """The string a constant expression of string pieces folds to (``+``, an f-string of literals,
    ``"".join([...])``), or None when any part is computed or it is a single literal."""
    def value(n: ast.AST) -> str | None:
        if isinstance(n, ast.Constant) and isinstance(n.value, str):
            return n.value
        if isinstance(n, ast.BinOp) and isinstance(n.op, ast.Add):
            left, right = value(n.left), value(n.right)
            return left + right if left is not None and right is not None else None
        if isinstance(n, ast.JoinedStr):
            parts = [value(v.value if isinstance(v, ast.FormattedValue) else v) for v in n.values]
            return "".join(parts) if all(p is not None for p in parts) else None
        if (isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "join"
                and len(n.args) == 1 and isinstance(n.args[0], ast.List | ast.Tuple)):
            sep, parts = value(n.func.value), [value(e) for e in n.args[0].elts]
            return sep.join(parts) if sep is not None and all(p is not None for p in parts) else None
        return None
    return None if isinstance(node, ast.Constant) else value(node)


def _forbidden_import(dotted: str) -> bool:
    """An import that is a flag by itself: the instructor's package, a reference function, a private name
    or the ``refs`` object of the course package."""
    return bool(_REFERENCE.search(dotted) or _PRIVATE.match(dotted)
                or any(_matches(dotted, b) for b in ALWAYS))


def _matches(dotted: str, banned: str) -> bool:
    if banned.startswith("."):  # a method name, on any object
        return dotted.endswith(banned)
    return dotted == banned or dotted.startswith(banned + ".")


def exercise_key(grade_id: str) -> str | None:
    """The exercise number of a grade_id: ``ex3b-2`` -> ``3b``, ``check-1`` -> ``1``; None for others."""
    match = re.fullmatch(r"(?:ex|check-|answer-)(\w+?)(?:-\d+)?", grade_id)
    return match.group(1) if match else None


def lab_key(lab: str) -> str:
    """``"3"``, ``"03"``, ``"03_shap_lime_lab"`` -> ``"03"``; ``"05b"`` stays."""
    match = re.match(r"0*(\d+[a-z]?)", str(lab))
    if not match:
        raise ValueError(f"lab={lab!r}: expected a lab number such as '03' or '05b'")
    return match.group(1).zfill(2) if match.group(1)[-1].isdigit() else match.group(1).zfill(3)


def banned_for(lab: str, exercise: str | None) -> tuple[str, ...]:
    """Every dotted prefix (and ``.method``) a solution cell of ``exercise`` in ``lab`` must not use."""
    return ALWAYS + RULES.get(lab_key(lab), {}).get(exercise or "", ())


@dataclass(frozen=True)
class Cell:
    """One code cell for the rules: its source, whether the student wrote it, its exercise (or None)."""

    source: str
    student: bool
    exercise: str | None


def _violations(used: Iterable[str], banned: tuple[str, ...]) -> list[str]:
    hits = {d.lstrip(".") for d in used
            if _REFERENCE.search(d) or _PRIVATE.match(d) or any(_matches(d, b) for b in banned)}
    return sorted(h for h in hits if not any(o.startswith(h + ".") for o in hits))  # most specific only


def flag_cells(cells: Iterable[Cell], lab: str, check_exercises: Mapping[str, str] | None = None,
               exercise_names: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """Thread-safe :func:`_flag_cells` (the batch grades in threads, and ``ast.parse`` in CPython 3.11.7
    fails with "AST constructor recursion depth mismatch" when two threads parse at once)."""
    with _AST_LOCK:
        return _flag_cells(cells, lab, check_exercises, exercise_names)


def _flag_cells(cells: Iterable[Cell], lab: str, check_exercises: Mapping[str, str] | None = None,
                exercise_names: Mapping[str, str] | None = None) -> dict[str, list[str]]:
    """Flags per exercise (``"*"`` for tampering that disables every check) for cells in notebook order.

    ``check_exercises`` maps a checker name (``check_shapley_values``) to the exercise it grades, so that
    rebinding a checker flags that exercise; ``exercise_names`` maps a name a solution defines
    (``shapley_values``) to its exercise, so a cell that redefines it elsewhere is judged by that
    exercise's rules too. A cell that cannot be parsed is reported under ``"syntax"`` and skipped.
    """
    check_exercises = dict(check_exercises or {})
    exercise_names = dict(exercise_names or {})
    resolver = _Resolver(LAB_ALLOWS.get(lab_key(lab)))
    scans: list[tuple[Cell, _Scan]] = []
    flags: dict[str, list[str]] = {}

    def add(key: str, text: str) -> None:
        if text not in flags.setdefault(key, []):
            flags[key].append(text)

    functions: dict[str, tuple[set[str], set[str]]] = {}
    for index, cell in enumerate(cells):
        try:
            tree = parse_cell(cell.source)
        except (SyntaxError, ValueError) as err:
            if cell.student:
                add("syntax", f"cell {index} does not parse (line {getattr(err, 'lineno', '?')}): "
                              f"{getattr(err, 'msg', err)}")
            continue
        resolver.student, resolver.scan = cell.student, _Scan()
        resolver.visit(tree)
        if cell.student:
            scans.append((cell, resolver.scan))
            functions.update(resolver.scan.functions)

    def closure(used: set[str], loads: set[str]) -> set[str]:
        """The names used, with those of the student's functions it calls (transitively)."""
        seen, todo, out = set(), list(loads), set(used)
        while todo:
            name = todo.pop()
            if name in seen or name not in functions:
                continue
            seen.add(name)
            out |= functions[name][0]
            todo.extend(functions[name][1])
        return out

    for cell, scan in scans:
        targets = {cell.exercise} | {exercise_names[n] for n in scan.defines if n in exercise_names}
        used = closure(scan.used, scan.loads)
        for exercise in sorted(t for t in targets if t):
            for name in _violations(used, banned_for(lab, exercise)):
                add(exercise, f"not your own implementation: uses {name}")
        if not any(targets):  # a cell the student added: what no exercise may use costs every exercise
            for name in _violations(used, ALWAYS):
                add("*", f"not your own implementation: uses {name}")
        for text in scan.review:
            add("review", text)
        for text in scan.tampering:
            names = [w for w in re.findall(r"check_\w+", text) if w in check_exercises]
            for key in [check_exercises[n] for n in names] or ["*"]:
                add(key, f"tampering: {text}")
    return flags
