"""Plots for module 04 (gradient explanations): attribution maps over radiographs, randomisation curves.

These helpers only draw. The attributions and similarities they show are computed in the notebook.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from xaihealth.plots.style import OKABE_ITO

# outlines drawn on radiographs and maps: told apart by line style as well as by colour (Okabe-Ito)
LESION_STYLE = {"colors": OKABE_ITO["sky"], "linewidths": 1.1, "linestyles": "solid"}
MARKER_STYLE = {"colors": OKABE_ITO["yellow"], "linewidths": 1.1, "linestyles": "dashed"}


def _outline_legend(fig: Figure, lesion: bool, marker: bool) -> None:
    handles = []
    if lesion:
        handles.append(Line2D([], [], color=LESION_STYLE["colors"], lw=1.5, ls="-", label="lesion outline"))
    if marker:
        handles.append(Line2D([], [], color=MARKER_STYLE["colors"], lw=1.5, ls="--",
                              label="marker outline (the shortcut)"))  # fmt: skip
    if handles:
        ncol = len(handles) if fig.get_figwidth() >= 3.5 else 1  # stacked under a one-panel figure
        fig.legend(handles=handles, loc="lower center", ncol=ncol, fontsize=8, frameon=True,
                   facecolor="0.35", labelcolor="white", bbox_to_anchor=(0.5, 0.0))  # fmt: skip


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

    Each map is divided by its own maximum, so one colour bar (0 to 1 of that map's largest ``|value|``)
    reads every panel. Lesion outlines are solid sky blue and marker outlines dashed yellow (Okabe-Ito,
    told apart by line style too), explained in a legend under the grid.
    """
    imgs = _as_maps(images)
    named = {k: np.abs(_as_maps(v)) for k, v in maps.items()}
    n = min(n, len(imgs))
    cols = 1 + len(named)
    fig, axes = plt.subplots(n, cols, figsize=(1.9 * cols + (0.6 if named else 0), 1.9 * n + 0.45),
                             squeeze=False)  # fmt: skip
    shown = None
    for i in range(n):
        axes[i, 0].imshow(imgs[i], cmap="gray", vmin=0, vmax=1)
        for j, (name, m) in enumerate(named.items(), start=1):
            shown = axes[i, j].imshow(m[i] / (m[i].max() + 1e-12), cmap="magma", vmin=0, vmax=1)
            if i == 0:
                axes[i, j].set_title(name, fontsize=9)
        for j in range(cols):
            ax = axes[i, j]
            if lesion_masks is not None:
                ax.contour(lesion_masks[i], levels=[0.5], **LESION_STYLE)
            if marker_masks is not None and marker_masks[i].any():
                ax.contour(marker_masks[i], levels=[0.5], **MARKER_STYLE)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
    axes[0, 0].set_title("image", fontsize=9)
    has_marker = marker_masks is not None and bool(np.asarray(marker_masks[:n]).any())
    rows = 1 if cols > 1 else int(lesion_masks is not None) + int(has_marker)  # legend rows (see above)
    outlined = lesion_masks is not None or has_marker
    legend_room = (0.2 + 0.25 * rows) / fig.get_figheight() if outlined else 0.0
    fig.tight_layout(rect=(0, legend_room, 1, 1))
    if shown is not None:
        bar = fig.colorbar(shown, ax=axes[:, 1:].ravel().tolist(), fraction=0.04, pad=0.02)
        bar.set_label("|attribution| / map maximum", fontsize=8)
        bar.ax.tick_params(labelsize=8)
    _outline_legend(fig, lesion_masks is not None, has_marker)
    return fig


def plot_randomisation(
    stages: Sequence[str], similarity: Mapping[str, Sequence[float]], *, ylabel: str = "Spearman |map|"
) -> Figure:
    """One line per method: similarity to the original map as layers are randomised from the top."""
    fig, ax = plt.subplots(figsize=(7.4, 3.6))
    x = np.arange(len(stages))
    markers = "osD^vP*X"
    for k, (name, values) in enumerate(similarity.items()):
        ax.plot(x, values, marker=markers[k % len(markers)], label=name)  # colour and marker per method
    ax.set_xticks(x, list(stages), rotation=25, ha="right")
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="randomised down to (cascading, from the output)", ylabel=ylabel, ylim=(-0.6, 1.05))
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
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

    Lesion outlines are solid sky blue and marker outlines dashed yellow, explained in a legend.

    ``images`` and every map have shape ``(n, H, W)`` or ``(n, 1, H, W)``; the first image is drawn under
    each map (one panel per entry of ``maps``), with a symmetric colour scale at the map's 99th centile
    of ``|value|`` so that a few extreme pixels do not wash out the rest.
    """
    imgs = _as_maps(images)
    named = {k: _as_maps(v) for k, v in maps.items()}
    if not named:
        raise ValueError("maps is empty; give at least one signed map, e.g. {'IG': attributions}")
    fig, axes = plt.subplots(1, len(named), figsize=(3.3 * len(named), 3.3), squeeze=False)
    for ax, (name, m) in zip(axes[0], named.items(), strict=True):
        scale = float(np.quantile(np.abs(m[0]), 0.99)) + 1e-12
        ax.imshow(imgs[0], cmap="gray", vmin=0, vmax=1)
        shown = ax.imshow(m[0], cmap="RdBu_r", vmin=-scale, vmax=scale, alpha=0.75)
        if lesion_masks is not None:
            ax.contour(lesion_masks[0], levels=[0.5], **LESION_STYLE)
        if marker_masks is not None and marker_masks[0].any():
            ax.contour(marker_masks[0], levels=[0.5], **MARKER_STYLE)
        ax.set_title(name, fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        bar = fig.colorbar(shown, ax=ax, fraction=0.046, pad=0.03)
        bar.set_label(label, fontsize=8)
        bar.ax.tick_params(labelsize=8)
    has_marker = marker_masks is not None and bool(np.asarray(marker_masks[:1]).any())
    fig.tight_layout(rect=(0, 0.12 if (lesion_masks is not None or has_marker) else 0, 1, 1))
    _outline_legend(fig, lesion_masks is not None, has_marker)
    return fig
