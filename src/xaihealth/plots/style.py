"""The course's figure style, set by :func:`xaihealth.notebook.setup` in every notebook.

* **Resolution**: inline figures at 110 dpi (``figure.dpi``) and saved ones at 150 (``savefig.dpi``), so a
  6.4 x 3.6 in figure is 704 x 396 px: it fits a 1280 x 720 slide and a JupyterLab cell without scaling.
* **Text at least 10 px** at that size: the smallest font the style sets is 8 pt = 8 x 110 / 72 = 12.2 px;
  helpers in :mod:`xaihealth.plots` never go below :data:`MIN_FONT_PT` (7 pt = 10.7 px).
* **Colour-blind-safe colours**: the default cycle is the Okabe-Ito palette (Okabe & Ito 2008, "Color
  Universal Design"; Wong 2011, Nature Methods 8:441), distinguishable under the common colour-vision
  deficiencies; two things compared in one figure never rely on red vs green alone. Sequential maps use
  viridis-family colours and diverging ones blue-orange/``RdBu_r`` (blue vs red, not red vs green).
"""

from __future__ import annotations

# Okabe & Ito (2008): blue, orange, bluish green, vermillion, reddish purple, sky blue, yellow, black
OKABE_ITO = {
    "blue": "#0072B2",
    "orange": "#E69F00",
    "green": "#009E73",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "sky": "#56B4E9",
    "yellow": "#F0E442",
    "black": "#000000",
}
CYCLE = list(OKABE_ITO.values())
INLINE_DPI = 110
SAVE_DPI = 150
MIN_FONT_PT = 7  # 7 pt at 110 dpi = 10.7 px
DIVERGING = "RdBu_r"  # blue (lowers) - white - red (raises): safe for red-green deficiencies
SEQUENTIAL = "magma"


def rc_params() -> dict:
    """The matplotlib settings of the course style (a plain dict, applied by :func:`apply`)."""
    from cycler import cycler

    return {
        "figure.figsize": (6.4, 3.6),
        "figure.dpi": INLINE_DPI,
        "savefig.dpi": SAVE_DPI,
        "figure.constrained_layout.use": False,
        "axes.prop_cycle": cycler(color=CYCLE),
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.grid": True,
        "grid.alpha": 0.3,
        "font.size": 10,
        "axes.titlesize": 11,
        "axes.labelsize": 10,
        "xtick.labelsize": 9,
        "ytick.labelsize": 9,
        "legend.fontsize": 9,
        "legend.title_fontsize": 9,
        "figure.titlesize": 12,
        "image.cmap": "viridis",
        "lines.linewidth": 1.6,
    }


def apply() -> None:
    """Set the course style on matplotlib's global ``rcParams`` (idempotent)."""
    import matplotlib as mpl

    mpl.rcParams.update(rc_params())


def font_px(points: float, dpi: float = INLINE_DPI) -> float:
    """Height in pixels of a ``points``-sized font in a figure drawn at ``dpi`` (1 pt = 1/72 in)."""
    return points * dpi / 72
