"""The two views (pages and the monitoring JSON): being written."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI


def add_views(app: FastAPI, rt: Any, caller: Any, *, queue: Any = None) -> None:
    """Add ``/doctor``, ``/monitor`` and ``/monitor/data`` to ``app`` (next commit)."""
