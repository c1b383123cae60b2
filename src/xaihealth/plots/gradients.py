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


def show_signed(
    images: object,
    maps: Mapping[str, object],
    *,
    marker_masks: np.ndarray | None = None,
    lesion_masks: np.ndarray | None = None,
    label: str = "attribution (logit units per pixel)",
) -> Figure:
    """Signed maps over their radiograph: red = raises the score, blue = lowers it, one colour bar each.

    ``images`` and every map have shape ``(n, H, W)`` or ``(n, 1, H, W)``; the first image is drawn under
    each map (one panel per entry of ``maps``), with a symmetric colour scale at the map's 99th centile
    of ``|value|`` so that a few extreme pixels do not wash out the rest.
    """
    imgs = _as_maps(images)
    named = {k: _as_maps(v) for k, v in maps.items()}
    if not named:
        raise ValueError("maps is empty; give at least one signed map, e.g. {'IG': attributions}")
    fig, axes = plt.subplots(1, len(named), figsize=(3.1 * len(named), 2.8), squeeze=False)
    for ax, (name, m) in zip(axes[0], named.items(), strict=True):
        scale = float(np.quantile(np.abs(m[0]), 0.99)) + 1e-12
        ax.imshow(imgs[0], cmap="gray", vmin=0, vmax=1)
        shown = ax.imshow(m[0], cmap="RdBu_r", vmin=-scale, vmax=scale, alpha=0.75)
        if lesion_masks is not None:
            ax.contour(lesion_masks[0], levels=[0.5], colors="lime", linewidths=0.6)
        if marker_masks is not None and marker_masks[0].any():
            ax.contour(marker_masks[0], levels=[0.5], colors="k", linewidths=0.6)
        ax.set_title(name, fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03).set_label(label, fontsize=7)
    fig.tight_layout()
    return fig
