"""Plots for module 04 (gradient explanations): attribution maps over radiographs, randomisation curves.

These helpers only draw. The attributions and similarities they show are computed in the notebook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure


def _as_maps(a: object) -> np.ndarray:
    arr = np.asarray(a.detach() if hasattr(a, "detach") else a, dtype=float)
    if arr.ndim == 4:
        arr = arr[:, 0]
    if arr.ndim != 3:
        raise ValueError(f"maps have shape {arr.shape}; expected (n, H, W) or (n, 1, H, W)")
    return arr


def show_maps(
    images: object,
    maps: Mapping[str, object],
    *,
    lesion_masks: np.ndarray | None = None,
    marker_masks: np.ndarray | None = None,
    n: int = 4,
) -> Figure:
    """A grid: one row per image, the image then one column per method (absolute value, own scale).

    Lesion outlines are drawn in green and marker outlines in red when masks are given.
    """
    imgs = _as_maps(images)
    named = {k: np.abs(_as_maps(v)) for k, v in maps.items()}
    n = min(n, len(imgs))
    cols = 1 + len(named)
    fig, axes = plt.subplots(n, cols, figsize=(1.7 * cols, 1.7 * n), squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(imgs[i], cmap="gray", vmin=0, vmax=1)
        for j, (name, m) in enumerate(named.items(), start=1):
            axes[i, j].imshow(m[i], cmap="magma", vmin=0, vmax=m[i].max() + 1e-12)
            if i == 0:
                axes[i, j].set_title(name, fontsize=8)
        for j in range(cols):
            ax = axes[i, j]
            if lesion_masks is not None:
                ax.contour(lesion_masks[i], levels=[0.5], colors="lime", linewidths=0.6)
            if marker_masks is not None and marker_masks[i].any():
                ax.contour(marker_masks[i], levels=[0.5], colors="red", linewidths=0.6)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
    axes[0, 0].set_title("image", fontsize=8)
    fig.tight_layout()
    return fig


def plot_randomisation(
    stages: Sequence[str], similarity: Mapping[str, Sequence[float]], *, ylabel: str = "Spearman |map|"
) -> Figure:
    """One line per method: similarity to the original map as layers are randomised from the top."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    x = np.arange(len(stages))
    for name, values in similarity.items():
        ax.plot(x, values, "o-", label=name)
    ax.set_xticks(x, list(stages), rotation=20)
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="randomised down to (cascading, from the output)", ylabel=ylabel, ylim=(-0.6, 1.05))
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig
