"""Execute one course notebook in a fresh kernel and report how it ended (shared by robustness and scorecard).

The notebook is read from its py:percent source (the source of truth), executed with nbclient in a new
kernel whose working directory is the notebook's folder. Extra environment variables (the base seed
``XAIHEALTH_SEED``, the scorecard's output file) are handed to that kernel only: this process's own
environment is never changed, so two notebooks can run side by side in threads.

A failure is summarised as the first failing cell (found by nbclient's error hook, so a cell that is
*meant* to raise does not count): the exception's type and message, the whole statement of the cell
that raised it (for an ``assert``, the assert itself, over several lines if need be) and, when the error
came from deeper down (an assert inside a function), the innermost line as well.
"""

from __future__ import annotations

import ast
import os
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ARROW = re.compile(r"^\s*-+>\s*(\d+)\s(.*)$")
_CELL_LINE = re.compile(r"Cell In\[\d+\], line (\d+)")
OFFLINE_ENV = {
    "TQDM_DISABLE": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "XAIHEALTH_OFFLINE": "1",
}


@dataclass(frozen=True)
class Outcome:
    """How one execution ended: ``status`` is ``"pass"`` or ``"fail"``; the rest describe a failure.

    ``cell`` is the failing cell's position in the notebook (1 = first cell, markdown cells counted);
    ``line`` the statement of that cell that raised; ``inner`` the innermost source line when it differs.
    """

    status: str
    seconds: float
    cell: int | None = None
    error: str = ""
    message: str = ""
    line: str = ""
    inner: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Outcome:
        """Rebuild from a stored result, ignoring fields that are not the outcome's (e.g. its hash)."""
        return cls(**{k: v for k, v in data.items() if k in cls.__dataclass_fields__})  # type: ignore[arg-type]

    def summary(self, width: int = 160) -> str:
        """One line: the error type, the failing statement and the message, shortened to ``width``."""
        if self.status == "pass":
            return "pass"
        where = f"in cell {self.cell}" if self.cell is not None else "before any cell finished"
        text = f"{self.error} {where}: `{self.line}`" if self.line else f"{self.error} {where}"
        if self.inner and self.inner != self.line:
            text += f" (raised at `{self.inner}`)"
        if self.message:
            text += f" — {self.message}"
        text = " ".join(text.split())  # one line, whatever the message held
        return text if len(text) <= width else text[: width - 1] + "…"


def _arrows(traceback_text: str) -> list[str]:
    lines = []
    for raw in _ANSI.sub("", traceback_text).splitlines():
        match = _ARROW.match(raw)
        if match:
            lines.append(match.group(2).strip())
    return lines


def failing_line(traceback_text: str) -> str:
    """The source line marked by IPython's ``---->`` arrow in the first frame of a cell's traceback."""
    arrows = _arrows(traceback_text)
    return arrows[0] if arrows else ""


def failing_statement(source: str, traceback_text: str) -> str:
    """The whole top-level statement of the cell ``source`` at the line the traceback names."""
    match = _CELL_LINE.search(_ANSI.sub("", traceback_text))
    if not match:
        return failing_line(traceback_text)
    number = int(match.group(1))
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return failing_line(traceback_text)
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and node.lineno <= number <= (node.end_lineno or node.lineno):
            if not isinstance(node, ast.FunctionDef | ast.ClassDef | ast.For | ast.While | ast.If | ast.With):
                segment = ast.get_source_segment(source, node) or ""
                return " ".join(segment.split())
    return failing_line(traceback_text)


def execute(
    path: Path, env: Mapping[str, str] | None = None, timeout: int = 900, allow_errors: bool = False
) -> Outcome:
    """Execute the notebook source ``path`` (``.py`` or ``.ipynb``) in a fresh kernel with ``env`` added.

    With ``allow_errors`` every cell runs even after one failed (the scorecard uses it to collect the
    rows a notebook still records on a draw where an earlier assert fails); the outcome still reports
    the first failure.
    """
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(path)
    nb = jupytext.read(path)
    errors: list[int] = []

    def on_error(cell, cell_index, execute_reply) -> None:
        if "raises-exception" not in cell.get("metadata", {}).get("tags", []):
            errors.append(cell_index)

    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        allow_errors=allow_errors,
        on_cell_error=on_error,
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    kernel_env = {**os.environ, **OFFLINE_ENV, **(env or {})}
    start = time.perf_counter()
    try:
        client.execute(env=kernel_env)
    except CellExecutionError as err:
        if not errors:
            return Outcome("fail", time.perf_counter() - start, None, err.ename, _clean(err.evalue))
        return _failure(nb, errors[0], time.perf_counter() - start)
    except Exception as err:  # a dead kernel or a time-out: still a result of this run
        return Outcome("fail", time.perf_counter() - start, None, type(err).__name__, _clean(str(err))[:300])
    if errors:
        return _failure(nb, errors[0], time.perf_counter() - start)
    return Outcome("pass", time.perf_counter() - start)


def _clean(text: str) -> str:
    return " ".join(_ANSI.sub("", text).split())


def _failure(nb, index: int, seconds: float) -> Outcome:
    cell = nb.cells[index]
    output = next(o for o in cell.get("outputs", []) if o.get("output_type") == "error")
    tb = "\n".join(output.get("traceback", []))
    arrows = _arrows(tb)
    statement = failing_statement(cell.source, tb)
    return Outcome(
        "fail",
        seconds,
        index + 1,
        output.get("ename", ""),
        _clean(output.get("evalue", "")),
        statement,
        arrows[-1] if len(arrows) > 1 else "",
    )
