"""AST rules for grading: a solution must be the student's own work and must leave the checkers alone.

Two kinds of flag, found by reading the code of the cells a student wrote (solution cells and cells the
student added), never by running it:

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
"""

from __future__ import annotations

import ast
import re
import threading
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
    "04": {"1": ("captum",), "2": ("captum", "pytorch_grad_cam")},
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
}

_FRAME_PEEKS = ("sys._getframe", "inspect.stack", "inspect.currentframe", "inspect.getouterframes",
                "builtins", "sys.modules", "unittest.mock", "importlib.reload")
_DUNDERS = {"__globals__", "__code__", "__closure__", "__defaults__", "__kwdefaults__", "__builtins__",
            "__dict__"}
_IPYTHON_ALLOWED = {"run_line_magic", "run_cell_magic", "system", "getoutput"}
_STRING_CODE = {"exec", "eval", "compile"}


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
    defines: set[str] = field(default_factory=set)
    functions: dict[str, tuple[set[str], set[str]]] = field(default_factory=dict)  # name -> (used, loads)


class _Resolver(ast.NodeVisitor):
    """Walk cells in notebook order, keeping ``aliases`` (bound name -> dotted name it stands for)."""

    def __init__(self) -> None:
        self.aliases: dict[str, str] = {}
        self.scan = _Scan()
        self.student = False  # whether the cell being walked is the student's (flags and uses recorded)
        self._stack: list[tuple[set[str], set[str]]] = []

    # --- name resolution ---------------------------------------------------------------------------
    def resolve(self, node: ast.AST) -> str | None:
        """The dotted name an expression stands for, or None (``"?"`` marks a computed part)."""
        if isinstance(node, ast.Name):
            return self.aliases.get(node.id)
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
            if name == "get_ipython":
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
            self.scan.used.add(dotted)
            if self._stack:
                self._stack[-1][0].add(dotted)
            peek = next((p for p in _FRAME_PEEKS if _matches(dotted, p)), None)
            if peek:
                self._tamper(f"touches {peek}")
            if dotted.startswith("<ipython>.") and dotted.split(".")[1] not in _IPYTHON_ALLOWED:
                self._tamper(f"uses get_ipython().{dotted.split('.')[1]}")

    def _tamper(self, text: str) -> None:
        if self.student and text not in self.scan.tampering:
            self.scan.tampering.append(text)

    def _bind(self, name: str, dotted: str | None, how: str | None) -> None:
        """Bind ``name`` (to ``dotted``, or to nothing known); ``how`` says how, for a tampering flag."""
        if dotted:
            self.aliases[name] = dotted
        else:
            self.aliases.pop(name, None)
        if self.student:
            self.scan.defines.add(name)
            if name.startswith("check_") and how:
                self._tamper(f"{how} {name}")

    def _bind_target(self, target: ast.AST, dotted: str | None, how: str = "rebinds") -> None:
        if isinstance(target, ast.Name):
            self._bind(target.id, dotted, how)
        elif isinstance(target, ast.Tuple | ast.List):
            for element in target.elts:
                self._bind_target(element, None, how)
        elif isinstance(target, ast.Starred):
            self._bind_target(target.value, None, how)
        elif isinstance(target, ast.Attribute):
            owner = self.resolve(target.value)
            if owner and owner.split(".")[0] == "xaihealth":
                self._tamper(f"assigns to {owner}.{target.attr}")
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
        if node.attr in _DUNDERS:
            self._tamper(f"touches {node.attr}")
        self.visit(node.value)

    def visit_Subscript(self, node: ast.Subscript) -> None:
        self._use(self.resolve(node))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
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
        elif name == "getattr":
            target = self.resolve(node)
            if target and target.endswith(".?"):
                self._tamper(f"reads an attribute by a computed name (getattr on {target[:-2]})")
            self._use(target)
        self.generic_visit(node)


def _forbidden_import(dotted: str) -> bool:
    """An import that is a flag by itself: the instructor's package or a reference function."""
    return bool(_REFERENCE.search(dotted)) or any(_matches(dotted, b) for b in ALWAYS)


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
    hits = {d.lstrip(".") for d in used if _REFERENCE.search(d) or any(_matches(d, b) for b in banned)}
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
    resolver = _Resolver()
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
        for text in scan.tampering:
            names = [w for w in re.findall(r"check_\w+", text) if w in check_exercises]
            for key in [check_exercises[n] for n in names] or ["*"]:
                add(key, f"tampering: {text}")
    return flags
