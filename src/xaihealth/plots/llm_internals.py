"""Plots for module 05 (inside a clinical language model): heatmaps over layers, heads and positions.

These helpers only draw. Attention weights, ablation effects, logit attributions, probe accuracies and
patching recoveries are computed in the notebook, where the method is taught.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes


def heatmap(
    ax: Axes,
    values: np.ndarray,
    *,
    rows: Sequence[str],
    cols: Sequence[str],
    title: str = "",
    cmap: str = "RdBu_r",
    center: bool = True,
    fmt: str = "{:.2f}",
) -> Axes:
    """Draw a 2-D array as an annotated heatmap (diverging colours centred on 0 unless ``center=False``)."""
    values = np.asarray(values, dtype=float)
    if values.shape != (len(rows), len(cols)):
        raise ValueError(
            f"values has shape {values.shape}; expected ({len(rows)}, {len(cols)}) from rows/cols"
        )
    lim = float(np.nanmax(np.abs(values))) or 1.0
    kw = {"vmin": -lim, "vmax": lim} if center else {}
    im = ax.imshow(values, cmap=cmap, aspect="auto", **kw)
    ax.set_xticks(range(len(cols)), cols, rotation=45, ha="right")
    ax.set_yticks(range(len(rows)), rows)
    ax.grid(False)
    if values.size <= 80:
        for (i, j), v in np.ndenumerate(values):  # white text on dark cells, black on light ones
            r, g, b, _ = im.cmap(im.norm(v))
            dark = 0.299 * r + 0.587 * g + 0.114 * b < 0.5
            colour = "white" if dark else "black"
            ax.text(j, i, fmt.format(v), ha="center", va="center", fontsize=8, color=colour)
    ax.set_title(title)
    ax.figure.colorbar(im, ax=ax, shrink=0.8)
    return ax
