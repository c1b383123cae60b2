"""The course figure style (xaihealth.plots.style via setup()) and the plot helpers meet issue 16's rules.

Rules: inline figures at >= 110 dpi; every text >= 10 px at that size; a colour-blind-safe default cycle
(Okabe-Ito); attribution maps with a colour bar and an outline legend, outlines not red vs green; a risk
(probability) axis beside log-odds on glass-box shape plots; labels that do not overlap.
"""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.colors import to_hex  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from xaihealth.notebook import setup  # noqa: E402
from xaihealth.plots import circuits_sae, glass_box, gradients, llm_internals, style  # noqa: E402

RED_GREEN = {"#ff0000", "#00ff00", "#008000", "#d62728", "#2ca02c", "#32cd32"}  # red, lime, green, tab:*


@pytest.fixture(autouse=True)
def course_style():
    setup(seed=0)
    yield
    plt.close("all")


def texts(fig):
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def small_texts(fig):
    dpi = fig.get_dpi()
    return [(t.get_text(), t.get_fontsize()) for t in texts(fig) if style.font_px(t.get_fontsize(), dpi) < 10]


def test_setup_applies_the_style():
    rc = matplotlib.rcParams
    assert rc["figure.dpi"] >= 110 and rc["savefig.dpi"] >= 110
    assert [to_hex(c) for c in rc["axes.prop_cycle"].by_key()["color"]] == [c.lower() for c in style.CYCLE]
    for key in ("font.size", "axes.labelsize", "xtick.labelsize", "ytick.labelsize", "legend.fontsize"):
        size = matplotlib.font_manager.FontProperties(size=rc[key]).get_size_in_points()
        assert style.font_px(size, rc["figure.dpi"]) >= 10, f"{key} = {size} pt is below 10 px"
    assert style.font_px(style.MIN_FONT_PT) >= 10


def test_okabe_ito_has_no_red_green_pair():
    assert not {c.lower() for c in style.CYCLE} & RED_GREEN
    assert len(set(style.CYCLE)) == 8


def _images_and_masks():
    rng = np.random.default_rng(0)
    imgs = rng.random((2, 32, 32))
    lesion = np.zeros((2, 32, 32))
    lesion[:, 10:18, 10:18] = 1
    marker = np.zeros((2, 32, 32))
    marker[:, 25:30, 2:8] = 1
    maps = {"saliency": rng.normal(size=(2, 32, 32)), "Grad-CAM": rng.normal(size=(2, 32, 32))}
    return imgs, maps, lesion, marker


def _contour_colours(fig):
    from matplotlib.collections import Collection

    found = set()
    for ax in fig.axes:
        for coll in ax.findobj(Collection):
            for c in coll.get_edgecolor():
                found.add(to_hex(c))
    return found


@pytest.mark.parametrize("helper", ["show_maps", "show_signed"])
def test_attribution_maps_have_colour_bar_outline_legend_and_safe_outlines(helper):
    imgs, maps, lesion, marker = _images_and_masks()
    if helper == "show_maps":
        fig = gradients.show_maps(imgs, maps, lesion_masks=lesion, marker_masks=marker, n=2)
        n_bars = 1
    else:
        fig = gradients.show_signed(imgs, maps, lesion_masks=lesion, marker_masks=marker)
        n_bars = len(maps)
    bars = [ax for ax in fig.axes if ax.get_label() == "<colorbar>"]
    assert len(bars) == n_bars
    legend_text = [t.get_text() for lg in fig.legends for t in lg.get_texts()]
    assert any("lesion" in t for t in legend_text) and any("marker" in t for t in legend_text)
    colours = _contour_colours(fig)
    assert to_hex(gradients.LESION_STYLE["colors"]) in colours and not colours & RED_GREEN
    assert gradients.LESION_STYLE["linestyles"] != gradients.MARKER_STYLE["linestyles"]
    assert small_texts(fig) == []


def test_randomisation_plot_marks_methods_by_marker_and_readable_text():
    fig = gradients.plot_randomisation(["logits", "fc", "conv2"], {"a": [1, 0.5, 0.1], "b": [1, 0.9, 0.8]})
    markers = {line.get_marker() for line in fig.axes[0].get_lines() if len(line.get_xdata()) == 3}
    assert len(markers) == 2
    assert small_texts(fig) == []


def test_shape_function_risk_axis_reads_probability():
    fig, ax = plt.subplots()
    glass_box.plot_shape_function(ax, np.linspace(0, 1, 5), [-1.0, 0.0, 0.5, 1.0], risk_at=-0.5)
    risk = [child for child in ax.child_axes]
    assert len(risk) == 1
    to_risk = risk[0]._functions[0]
    assert to_risk(0.0) == pytest.approx(1 / (1 + np.exp(0.5)))
    assert to_risk(0.5) == pytest.approx(0.5)
    assert "risk" in risk[0].get_ylabel()
    fig.canvas.draw()
    assert small_texts(fig) == []


def test_risk_axis_rejects_a_non_finite_baseline():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="baseline"):
        glass_box.add_risk_axis(ax, float("nan"))


def _overlaps(fig, artists):
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [a.get_window_extent(renderer) for a in artists]
    pairs = [(i, j) for i in range(len(boxes)) for j in range(i + 1, len(boxes))]
    return [(i, j) for i, j in pairs if boxes[i].overlaps(boxes[j])]


def test_tradeoff_labels_do_not_overlap():
    fig = circuits_sae.tradeoff([1, 1.5, 2, 3, 4], [0.5, 0.6, 0.7, 0.75, 0.8], [1, 2, 3, 4, 5],
                                [1, 0.5, 0.3, 0.1, 0.03], 5)  # fmt: skip
    notes = [t for t in fig.axes[0].texts]
    assert _overlaps(fig, notes) == []
    assert small_texts(fig) == []


def test_heatmap_labels_are_readable_on_dark_cells():
    fig, ax = plt.subplots()
    values = np.array([[-2.0, 0.0], [0.1, 2.0]])
    llm_internals.heatmap(ax, values, rows=["a", "b"], cols=["x", "y"])
    colours = {t.get_text(): t.get_color() for t in ax.texts}
    assert colours["-2.00"] == "white" and colours["0.00"] == "black" and colours["2.00"] == "white"
    xt = [t for t in ax.get_xticklabels() if t.get_text()]
    assert _overlaps(fig, xt) == []


def test_phase_diagram_uses_blue_and_vermillion():
    phase = np.array([[0, 1], [2, 1]])
    fig = circuits_sae.phase_diagram(phase, [0.5, 1.0], [0.1, 0.9])
    assert small_texts(fig) == []
