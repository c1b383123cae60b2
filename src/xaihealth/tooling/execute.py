"""Execute one course notebook in a fresh kernel and report how it ended (shared by robustness and scorecard).

The notebook is read from its py:percent source (the source of truth), executed with nbclient in a new
kernel whose working directory is the notebook's folder, with extra environment variables (the base seed
``XAIHEALTH_SEED``, the scorecard's output file). A failure is summarised as the first failing cell: the
exception's type and message and the source line that raised it (for an ``assert``, the assert itself).
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_ARROW = re.compile(r"^\s*-+>\s*(\d+)\s(.*)$")
OFFLINE_ENV = {
    "TQDM_DISABLE": "1",
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "XAIHEALTH_OFFLINE": "1",
}


@dataclass(frozen=True)
class Outcome:
    """How one execution ended: ``status`` is ``"pass"`` or ``"fail"``; the rest describe a failure.

    ``cell`` is the failing cell's position in the notebook (1 = first cell, markdown cells counted).
    """

    status: str
    seconds: float
    cell: int | None = None
    error: str = ""
    message: str = ""
    line: str = ""

    def to_dict(self) -> dict[str, object]:
        return asdict(self)

    def summary(self, width: int = 160) -> str:
        """One line: the error type, the failing source line and the message, shortened to ``width``."""
        if self.status == "pass":
            return "pass"
        text = f"{self.error} in cell {self.cell}: `{self.line}`" + (
            f" — {self.message}" if self.message else ""
        )
        return text if len(text) <= width else text[: width - 1] + "…"


def failing_line(traceback_text: str) -> str:
    """The source line marked by IPython's ``---->`` arrow in the first frame of a cell's traceback."""
    for raw in _ANSI.sub("", traceback_text).splitlines():
        match = _ARROW.match(raw)
        if match:
            return match.group(2).strip()
    return ""


def execute(path: Path, env: Mapping[str, str] | None = None, timeout: int = 900) -> Outcome:
    """Execute the notebook source ``path`` (``.py`` or ``.ipynb``) in a fresh kernel with ``env`` added."""
    import jupytext
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    path = Path(path)
    nb = jupytext.read(path)
    saved = dict(os.environ)
    os.environ.update(OFFLINE_ENV)
    os.environ.update(env or {})  # the kernel inherits this process's environment
    client = NotebookClient(
        nb,
        timeout=timeout,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent.resolve())}},
    )
    start = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as err:
        cell = next(
            (
                i
                for i, c in enumerate(nb.cells, start=1)
                if c.cell_type == "code"
                and any(o.get("output_type") == "error" for o in c.get("outputs", []))
            ),
            None,
        )
        tb = "\n".join(_error_output(nb.cells[cell - 1])["traceback"]) if cell is not None else str(err)
        return Outcome(
            "fail",
            time.perf_counter() - start,
            cell,
            err.ename,
            _ANSI.sub("", err.evalue).strip(),
            failing_line(tb),
        )
    except Exception as err:  # a dead kernel or a time-out: still a result of this run
        return Outcome("fail", time.perf_counter() - start, None, type(err).__name__, str(err)[:300], "")
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return Outcome("pass", time.perf_counter() - start)


def _error_output(cell) -> dict:
    return next(o for o in cell["outputs"] if o.get("output_type") == "error")
