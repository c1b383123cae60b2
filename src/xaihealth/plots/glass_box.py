"""Plots for module 01 (glass-box models): shape functions with bands, and AUC intervals.

These helpers only draw. The numbers they draw (an EBM's bin scores, a GAM's term, cross-validated AUCs)
are computed in the notebook, where the method is taught.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes

from xaihealth import validate


def plot_shape_function(
    ax: Axes,
    edges: Sequence[float],
    scores: Sequence[float],
    *,
    lower: Sequence[float] | None = None,
    upper: Sequence[float] | None = None,
    truth: Callable[[np.ndarray], np.ndarray] | None = None,
    label: str = "EBM",
    xlabel: str = "",
    color: str = "C0",
    risk_at: float | None = None,
) -> Axes:
    """Draw a binned shape function as steps, with an optional band and the true curve.

    ``edges`` has one more entry than ``scores`` (bin ``i`` spans ``edges[i]`` to ``edges[i+1]``), which is
    the layout of ``ebm.explain_global().data(i)`` (``names``, ``scores``, ``lower_bounds``,
    ``upper_bounds``). ``truth`` is a vectorised function drawn on the same range, centred by the caller.

    ``risk_at``: a log-odds baseline (e.g. the EBM's ``intercept_[0]``). When given, a right-hand axis reads
    the same curve as a predicted risk, ``sigmoid(risk_at + contribution)``: the probability for a patient
    whose other terms all contribute 0 (an EBM centres each term on the training cohort), the scale a
    clinician reads. See :func:`add_risk_axis`.
    """
    edges = np.asarray(edges, dtype=float)
    scores = np.asarray(scores, dtype=float)
    if edges.ndim != 1 or scores.ndim != 1 or edges.size != scores.size + 1:
        raise ValueError(
            f"edges has {edges.size} entries and scores {scores.size}: edges must have exactly one more "
            "entry than scores (bin boundaries around each score)"
        )
    steps = np.append(scores, scores[-1])
    if lower is not None and upper is not None:
        lo, up = np.asarray(lower, dtype=float), np.asarray(upper, dtype=float)
        ax.fill_between(edges, np.append(lo, lo[-1]), np.append(up, up[-1]), step="post", color=color,
                        alpha=0.25, linewidth=0, label=f"{label} band (±1 sd over bags)")  # fmt: skip
    ax.step(edges, steps, where="post", color=color, label=label)
    if truth is not None:
        grid = np.linspace(edges[0], edges[-1], 400)
        ax.plot(grid, truth(grid), "k--", linewidth=1.2, label="planted")
    ax.axhline(0, color="grey", linewidth=0.6)
    ax.set(xlabel=xlabel, ylabel="contribution (log-odds)")
    if risk_at is not None:
        add_risk_axis(ax, risk_at)
    return ax


RISK_TICKS = (0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99)


def add_risk_axis(ax: Axes, baseline: float, *, label: str = "risk if all else average") -> Axes:
    """A right-hand axis reading a log-odds contribution ``c`` as the probability ``sigmoid(baseline + c)``.

    ``baseline`` is the log-odds of the reference patient (for an EBM, ``intercept_[0]``: every other
    term at its cohort-average contribution of 0). The axis is exact for that patient only: log-odds add,
    probabilities do not. Returns the secondary axis.
    """
    baseline = float(baseline)
    if not np.isfinite(baseline):
        raise ValueError(f"baseline={baseline!r} must be a finite log-odds value (e.g. ebm.intercept_[0])")

    def to_risk(c):
        return 1.0 / (1.0 + np.exp(-(baseline + np.asarray(c, dtype=float))))

    def to_logodds(p):
        p = np.clip(np.asarray(p, dtype=float), 1e-9, 1 - 1e-9)
        return np.log(p / (1 - p)) - baseline

    risk = ax.secondary_yaxis("right", functions=(to_risk, to_logodds))
    risk.set_yticks(RISK_TICKS, [f"{100 * t:g} %" for t in RISK_TICKS])
    risk.set_ylabel(label)
    ax.spines["right"].set_visible(True)
    return risk


def plot_auc_intervals(
    ax: Axes, table: pd.DataFrame, *, title: str = "", xlabel: str = "cross-validated AUC (95 % interval)"
) -> Axes:
    """Horizontal error bars of ``table['mean']`` from ``table['low']`` to ``table['high']``, one per row."""
    missing = {"mean", "low", "high"} - set(table.columns)
    if missing:
        raise ValueError(f"table is missing the columns {sorted(missing)}; it needs 'mean', 'low' and 'high'")
    validate.integer("number of rows", len(table), minimum=1)
    rows = np.arange(len(table))
    ax.errorbar(table["mean"], rows, xerr=[table["mean"] - table["low"], table["high"] - table["mean"]],
                fmt="o", capsize=4)  # fmt: skip
    ax.set_yticks(rows, table.index)
    ax.invert_yaxis()
    ax.set(xlabel=xlabel, title=title)
    return ax
