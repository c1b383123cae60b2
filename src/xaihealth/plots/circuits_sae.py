"""Plots for module 05b (QK/OV circuits, superposition, sparse autoencoders).

These helpers only draw; the circuits, the toy model and the SAEs are computed in the notebook.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from xaihealth.plots.style import OKABE_ITO


def superposition_panels(
    grams: Sequence[np.ndarray], norms: Sequence[np.ndarray], titles: Sequence[str]
) -> Figure:
    """Top row: WᵀW of each toy model (n × n); bottom row: the norm ||W_i|| of each feature."""
    if not len(grams) == len(norms) == len(titles):
        raise ValueError(
            f"grams, norms and titles must have the same length, got {len(grams)}, {len(norms)}, "
            f"{len(titles)}"
        )
    fig, axes = plt.subplots(
        2, len(grams), figsize=(2.6 * len(grams), 5), gridspec_kw={"height_ratios": [3, 2]}
    )
    for j, (gram, norm, title) in enumerate(zip(grams, norms, titles, strict=True)):
        axes[0, j].imshow(np.asarray(gram), cmap="RdBu_r", vmin=-1, vmax=1)
        axes[0, j].set_title(title, fontsize=9)
        axes[0, j].set_xticks([])
        axes[0, j].set_yticks([])
        axes[1, j].bar(range(len(norm)), np.asarray(norm), color="C0")
        axes[1, j].axhline(0.5, color="grey", lw=0.8, ls="--")
        axes[1, j].set_ylim(0, 1.3)
        axes[1, j].set_xlabel("feature (by importance)", fontsize=8)
    axes[0, 0].set_ylabel("WᵀW")
    axes[1, 0].set_ylabel("||W_i||")
    fig.tight_layout()
    return fig


def tradeoff(
    l0: Sequence[float],
    fve: Sequence[float],
    recovered: Sequence[int],
    coeffs: Sequence[float],
    n_features: int,
) -> Figure:
    """L0 against fraction of variance explained, each point labelled with its L1 coefficient."""
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.plot(l0, fve, "o-")
    for k, (x, y, r, c) in enumerate(zip(l0, fve, recovered, coeffs, strict=True)):
        ax.annotate(  # labels alternate below and above the curve so neighbours do not overlap
            f"λ={c:g}\n{r}/{n_features} found",
            (x, y),
            textcoords="offset points",
            xytext=(5, -24 if k % 2 == 0 else 8),
            fontsize=8,
        )
    ax.margins(x=0.12, y=0.25)
    ax.set_xlabel("L0 (latents active per sample)")
    ax.set_ylabel("fraction of variance explained")
    ax.set_xscale("log")
    fig.tight_layout()
    return fig


def phase_diagram(phase: np.ndarray, importances: Sequence[float], densities: Sequence[float]) -> Figure:
    """The 2-feature, 1-dimension toy model's outcome per (relative importance, feature density).

    ``phase[i, j]`` is 0 (the extra feature is not represented), 1 (it gets the dimension alone) or 2
    (both features share the dimension: superposition).
    """
    phase = np.asarray(phase)
    if phase.shape != (len(importances), len(densities)):
        raise ValueError(
            f"phase has shape {phase.shape}; expected (len(importances), len(densities)) = "
            f"({len(importances)}, {len(densities)})"
        )
    from matplotlib.colors import ListedColormap

    fig, ax = plt.subplots(figsize=(4.6, 3.4))
    colours = ("#d9d9d9", OKABE_ITO["blue"], OKABE_ITO["vermillion"])  # grey / blue / vermillion
    ax.imshow(phase, cmap=ListedColormap(list(colours)), vmin=0, vmax=2, origin="lower")
    ax.set_xticks(range(len(densities)), [f"{d:.2g}" for d in densities], fontsize=8)
    ax.set_yticks(range(len(importances)), [f"{r:.2g}" for r in importances], fontsize=8)
    ax.set_xlabel("feature density p (both features)")
    ax.set_ylabel("importance of feature 2 / feature 1")
    handles = [plt.Rectangle((0, 0), 1, 1, color=c) for c in colours]
    ax.legend(handles, ["feature 2 dropped", "feature 2 alone", "superposition"], fontsize=8,
              loc="upper left", bbox_to_anchor=(1.02, 1))  # fmt: skip
    fig.tight_layout()
    return fig
