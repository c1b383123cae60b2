# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # 04 · Gradient explanations for deep nets, and their sanity checks
#
# *XAI for Health, module 04.* A convolutional network reads chest radiographs. Saliency maps promise to
# show *where* it looks. This module computes the common gradient methods with Captum (Kokhlikyan et al.,
# 2020), scores them against pixel-exact ground truth, and then asks the uncomfortable question of
# Adebayo et al. (2018, *NeurIPS*): does the map change when the model is destroyed?
#
# **Data:** synthetic radiographs with exact lesion masks and a planted hospital "L" marker
# (`datasets/synthetic_cxr.md`), and synthetic ECGs with known fiducial points (`datasets/synthetic_ecg.md`).
# **Models:** three shipped ResNets (`cxr_shortcut`, `cxr_control`, `cxr_shuffled`) and a 1-D ECG CNN.

# %% slideshow={"slide_type": "skip"}
import copy

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch
from captum.attr import (
    GuidedBackprop,
    GuidedGradCam,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    NoiseTunnel,
    Saliency,
)
from captum.metrics import infidelity, sensitivity_max
from scipy.ndimage import gaussian_filter, sobel
from scipy.stats import bootstrap, spearmanr
from sklearn.metrics import roc_auc_score

from xaihealth.data.cxr import standard_splits
from xaihealth.data.ecg import make_ecgs
from xaihealth.models.cxr_resnet import load_cxr_resnet, predict_proba
from xaihealth.models.ecg_cnn import load_ecg_cnn
from xaihealth.notebook import derived_seed, setup
from xaihealth.plots.gradients import plot_randomisation, show_maps
from xaihealth.scorecard import make_row, paired_difference, record

SEED = setup(seed=0)
import warnings  # noqa: E402

warnings.filterwarnings("ignore", message=".*(require gradients|backward hooks).*")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. A radiograph model with a Clever Hans
#
# `cxr_shortcut` was trained where the "L" marker appeared on 95 % of pneumonia films and 5 % of the
# others (one department marked its portable films). `cxr_control` was trained where the marker is
# unrelated to the label. We test both on *fresh* images from the same hospital (`test_id`) and from a
# hospital where the marker is independent of disease (`test_shifted`).

# %% slideshow={"slide_type": "fragment"}
splits = standard_splits(seed=derived_seed(1), n_train=1, n_test=200)  # seed 1: images the models never saw
models = {name: load_cxr_resnet(name) for name in ("cxr_shortcut", "cxr_control", "cxr_shuffled")}


def accuracy(model, data):
    return float(((predict_proba(model, data.images).numpy() > 0.5) == data.labels).mean())


acc = pd.DataFrame(
    {s: {m: accuracy(models[m], splits[s]) for m in ("cxr_shortcut", "cxr_control")} for s in
     ("test_id", "test_shifted")}
)
print(acc.round(3).to_string())
assert acc.loc["cxr_shortcut", "test_id"] - acc.loc["cxr_shortcut", "test_shifted"] > 0.25
assert abs(acc.loc["cxr_control", "test_id"] - acc.loc["cxr_control", "test_shifted"]) < 0.05

# %% [markdown] slideshow={"slide_type": "subslide"}
# The shortcut model loses most of its accuracy when the marker stops predicting the label; the control
# model does not. Accuracy alone cannot tell us *why*. The ground truth can: every pneumonia image lists
# the pixels of its opacity (green outline below) and of the marker (red).

# %% slideshow={"slide_type": "fragment"}
shifted = splits["test_shifted"]
pick = np.flatnonzero((shifted.labels == 1) & (shifted.has_marker == 1))  # pneumonia AND marker
x = torch.tensor(shifted.images[pick[:12]])
lesion, marker = shifted.lesion_masks[pick[:12]], shifted.marker_masks[pick[:12]]
print(f"{len(x)} pneumonia images with a marker; lesion {lesion.mean():.1%} and marker {marker.mean():.1%} "
      "of the pixels")
fig = show_maps(x, {}, lesion_masks=lesion, marker_masks=marker, n=1)
fig.set_size_inches(2.2, 2.2)
plt.show()

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Saliency, and why gradients saturate
#
# The simplest map is the gradient of the class logit with respect to each pixel (Simonyan et al., 2014,
# *ICLR workshop*): how much would the score move for a tiny change of this pixel? Its blind spot is
# **saturation**. Take `f(x) = ReLU(1 − ReLU(1 − x))`, i.e. `min(x, 1)` for `x ≥ 0`. At `x = 2` the
# feature fully "switched on" the output, yet the gradient is 0.

# %% slideshow={"slide_type": "fragment"}
def f(x):
    return torch.relu(1 - torch.relu(1 - x))


x_toy = torch.tensor([2.0], requires_grad=True)
f(x_toy).backward()
ig_toy = IntegratedGradients(lambda z: f(z)).attribute(
    torch.tensor([2.0]), baselines=torch.tensor([0.0]), n_steps=32, method="riemann_middle"
)
print(f"f(2) = {f(torch.tensor([2.0])).item():.3f}, f(0) = {f(torch.tensor([0.0])).item():.3f}")
print(f"gradient at x = 2: {abs(x_toy.grad.item()):.3f}; Integrated Gradients from 0: {ig_toy.item():.3f}")
assert x_toy.grad.item() == 0.0 and abs(ig_toy.item() - 1.0) < 1e-2

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Integrated Gradients** (Sundararajan et al., 2017, *ICML*) averages the gradient along the straight
# path from a baseline `x'` to `x` and multiplies by `x − x'`:
# `IG_i = (x_i − x'_i) · ∫₀¹ ∂f/∂x_i (x' + α (x − x')) dα`. It is *complete*: the attributions add up to
# `f(x) − f(x')`. The toy feature gets the whole effect, 1.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Four maps of the same radiographs
#
# On the shortcut model: the gradient (Saliency), SmoothGrad (Smilkov et al., 2017: the average gradient
# over noisy copies, via `NoiseTunnel`), Grad-CAM (Selvaraju et al., 2017, *ICCV*: `layer4` activations
# weighted by their pooled gradients, ReLU, upsampled from 8 × 8), and IG with two baselines — a black
# image and a blurred copy of the same film (blurring removes the small marker and opacity but keeps the
# anatomy). The target is the pneumonia logit.

# %% slideshow={"slide_type": "fragment"}
model = models["cxr_shortcut"]
xs = x[:4]
blurred = torch.tensor(gaussian_filter(xs.numpy(), sigma=(0, 0, 4, 4)))
ig = IntegratedGradients(model)
ig_black = ig.attribute(xs, baselines=torch.zeros_like(xs), target=1, n_steps=64, method="riemann_middle")
ig_blur = ig.attribute(xs, baselines=blurred, target=1, n_steps=64, method="riemann_middle")
maps4 = {
    "gradient": Saliency(model).attribute(xs, target=1, abs=False),
    "SmoothGrad": NoiseTunnel(Saliency(model)).attribute(
        xs, target=1, nt_type="smoothgrad", nt_samples=8, stdevs=0.1, abs=False
    ),
    "Grad-CAM": LayerAttribution.interpolate(
        LayerGradCam(model, model.layer4).attribute(xs, target=1, relu_attributions=True), (64, 64),
        "bilinear"),
    "IG (black)": ig_black,
    "IG (blurred)": ig_blur,
}
show_maps(xs, maps4, lesion_masks=lesion[:4], marker_masks=marker[:4], n=3)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Completeness, checked.** For each image, the IG attributions should add up to the change of the
# pneumonia logit between the baseline and the image. The integral is a midpoint Riemann sum with 64
# steps; the error shrinks with the number of steps (with Captum's default Gauss–Legendre rule, 64 steps
# left a 1.3 % gap on one film — check completeness rather than trusting a default).

# %% slideshow={"slide_type": "fragment"}
with torch.no_grad():
    logit = model(xs)[:, 1]
    gap_black = logit - model(torch.zeros_like(xs))[:, 1]
    gap_blur = logit - model(blurred)[:, 1]
completeness = pd.DataFrame({
    "f(x) - f(black)": gap_black.numpy(), "sum IG (black)": ig_black.sum((1, 2, 3)).detach().numpy(),
    "f(x) - f(blurred)": gap_blur.numpy(), "sum IG (blurred)": ig_blur.sum((1, 2, 3)).detach().numpy(),
})
print(completeness.round(2).to_string())
for gap, a in ((gap_black, ig_black), (gap_blur, ig_blur)):
    rel = ((a.sum((1, 2, 3)) - gap).abs() / gap.abs()).max().item()
    assert rel < 0.01, rel

# %% [markdown] slideshow={"slide_type": "subslide"}
# The baseline is part of the question. From black, IG explains "why this film rather than nothing", and
# the whole bright body gets credit. From the blurred film, it explains "why this film rather than a
# smoothed copy", so it concentrates on small sharp things — here, the marker.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Scoring maps against the ground truth
#
# For each map: the share of its **positive** attribution that falls inside the lesion and inside the
# marker, and the **pointing game** (Zhang et al., 2018, *IJCV*): does the single highest pixel land in
# the mask? Twelve pneumonia films that carry the marker, both models. The marker covers 0.6 % of the
# pixels, so a marker share of 5 % is already eight times its area.

# %% slideshow={"slide_type": "fragment"}
def explain(model, x, n_steps=16):
    gc = LayerGradCam(model, model.layer4).attribute(x, target=1, relu_attributions=True)
    out = {
        "gradient": Saliency(model).attribute(x, target=1, abs=False),
        "SmoothGrad": NoiseTunnel(Saliency(model)).attribute(
            x, target=1, nt_type="smoothgrad", nt_samples=8, stdevs=0.1, abs=False),
        "Grad-CAM": LayerAttribution.interpolate(gc, x.shape[-2:], "bilinear"),
        "IG (black)": IntegratedGradients(model).attribute(x, target=1, n_steps=n_steps),
    }
    return {k: v.detach().numpy()[:, 0] for k, v in out.items()}


def mask_share(a, mask):
    pos = np.clip(a, 0, None)
    return (pos * mask).sum((1, 2)) / pos.sum((1, 2))


def pointing(a, mask):
    flat = a.reshape(len(a), -1).argmax(1)
    return mask.reshape(len(a), -1)[np.arange(len(a)), flat]


torch.manual_seed(derived_seed(0))
rows, maps12 = [], {}  # maps12: the maps of these twelve films, kept for the scorecard (section 6)
for name in ("cxr_shortcut", "cxr_control"):
    maps12[name] = explain(models[name], x)
    for method, a in maps12[name].items():
        rows.append({
            "model": name, "method": method,
            "lesion share": mask_share(a, lesion).mean(), "marker share": mask_share(a, marker).mean(),
            "points at lesion": pointing(a, lesion).mean(), "points at marker": pointing(a, marker).mean(),
        })
scores = pd.DataFrame(rows).set_index(["model", "method"])
print(scores.round(3).to_string())

# %% slideshow={"slide_type": "subslide"}
short, ctrl = scores.loc["cxr_shortcut"], scores.loc["cxr_control"]
assert (short["marker share"] > 5 * ctrl["marker share"]).all(), "shortcut maps should light up the marker"
assert (ctrl["lesion share"] > ctrl["marker share"]).all(), "the control model's maps favour the lesion"
assert (ctrl["points at lesion"] > ctrl["points at marker"]).all()
assert (short["points at marker"] >= short["points at lesion"]).all()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **The baseline changes the answer.** The IG maps of section 3 (four of these films, 64 steps), scored
# the same way:

# %% slideshow={"slide_type": "fragment"}
by_baseline = pd.DataFrame({
    name: {"lesion share": mask_share(a.detach().numpy()[:, 0], lesion[:4]).mean(),
           "marker share": mask_share(a.detach().numpy()[:, 0], marker[:4]).mean()}
    for name, a in (("IG (black)", ig_black), ("IG (blurred)", ig_blur))
}).T
print(by_baseline.round(3).to_string())
assert by_baseline.loc["IG (blurred)", "marker share"] > by_baseline.loc["IG (black)", "marker share"]

# %% [markdown] slideshow={"slide_type": "fragment"}
# From the blurred film the marker's share of IG nearly doubles while the lesion's share stays the same:
# the blurred baseline asks about sharp details, and on this model the sharpest decisive detail is the "L".

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** On the same films, every method puts tens of times more of its positive attribution on the
# marker (0.6 % of the pixels) for the shortcut model than for the control model, and SmoothGrad and IG
# put their peak on the marker in every film; on the control model the opacity wins for every method.
# The raw gradient is the least decisive (its shortcut-model share is still larger on the lesion).
# Used this way — against masks we trust — saliency maps do expose
# the Clever Hans. Clinically: a map that highlights a corner label, a ruler or a chest drain is a red
# flag worth a shifted-site test before deployment. But the check only worked because we *knew* the
# answer; the next section asks whether maps can be trusted when we do not.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Sanity checks: randomise the model, watch the map
#
# Adebayo et al. (2018) proposed two tests. **Cascading model randomisation:** re-initialise the weights
# from the output layer down (`fc`, then also `layer4`, `layer3`, …, the stem), recompute each map and
# measure its similarity to the original (Spearman rank correlation of absolute values; SSIM). A map that
# stays the same does not depend on what the model learned. **Data randomisation:** compare with a model
# trained on permuted labels (`cxr_shuffled`). We add Guided Backprop (Springenberg et al., 2015) and
# Guided Grad-CAM, which the paper found nearly insensitive to the model.

# %% slideshow={"slide_type": "fragment"}
xr = x[4:12]  # eight other films


def maps_for(model):
    gc = LayerGradCam(model, model.layer4).attribute(xr, target=1, relu_attributions=True)
    out = {
        "gradient": Saliency(model).attribute(xr, target=1, abs=False),
        "IG (black)": IntegratedGradients(model).attribute(xr, target=1, n_steps=8),
        "Grad-CAM": LayerAttribution.interpolate(gc, (64, 64), "bilinear"),
        "Guided Backprop": GuidedBackprop(model).attribute(xr, target=1),
        "Guided Grad-CAM": GuidedGradCam(model, model.layer4).attribute(xr, target=1),
    }
    return {k: np.abs(v.detach().numpy()[:, 0]) for k, v in out.items()}


def spearman(a, b):
    return float(np.mean([spearmanr(p.ravel(), q.ravel())[0] for p, q in zip(a, b, strict=True)]))


def ssim(a, b, sigma=1.5):
    """Mean SSIM (Wang et al., 2004) of maps rescaled to [0, 1], Gaussian window, averaged over images."""
    vals = []
    for p, q in zip(a, b, strict=True):
        p, q = p / (p.max() + 1e-12), q / (q.max() + 1e-12)
        mp, mq = gaussian_filter(p, sigma), gaussian_filter(q, sigma)
        vp = gaussian_filter(p * p, sigma) - mp**2
        vq = gaussian_filter(q * q, sigma) - mq**2
        cov = gaussian_filter(p * q, sigma) - mp * mq
        c1, c2 = 0.01**2, 0.03**2
        vals.append(np.mean((2 * mp * mq + c1) * (2 * cov + c2) / ((mp**2 + mq**2 + c1) * (vp + vq + c2))))
    return float(np.mean(vals))


original = maps_for(models["cxr_shortcut"])
stages = {"fc": ["fc"], "layer4": ["layer4"], "layer3": ["layer3"], "layer2": ["layer2"],
          "layer1": ["layer1"], "stem": ["conv1", "bn1"]}
randomised = copy.deepcopy(models["cxr_shortcut"])  # a copy: the shipped model stays intact
torch.manual_seed(derived_seed(0))
rank_sim, ssim_sim = {}, {}
for stage, modules in stages.items():
    for name in modules:  # cascading: earlier stages stay randomised
        for m in getattr(randomised, name).modules():
            if hasattr(m, "reset_parameters"):
                m.reset_parameters()
    new = maps_for(randomised)
    rank_sim[stage] = {k: spearman(original[k], new[k]) for k in original}
    ssim_sim[stage] = {k: ssim(original[k], new[k]) for k in original}
rank_sim, ssim_sim = pd.DataFrame(rank_sim), pd.DataFrame(ssim_sim)
print("Spearman rank correlation of |map| with the trained model's map:")
print(rank_sim.round(3).to_string())
print("\nSSIM:")
print(ssim_sim.round(3).to_string())

# %% slideshow={"slide_type": "subslide"}
plot_randomisation(list(stages), {k: rank_sim.loc[k].to_numpy() for k in rank_sim.index})
plt.show()

# %% slideshow={"slide_type": "subslide"}
top = rank_sim["layer4"]  # output layer and last stage randomised
full = rank_sim["stem"]  # every layer randomised
# The paper's finding, on our models: Guided Backprop barely notices the top layers being destroyed.
assert top["Guided Backprop"] > 0.8 and top["Guided Backprop"] > top["gradient"] + 0.2
assert top["Guided Backprop"] > top["Grad-CAM"] + 0.2
# Grad-CAM and the gradient do change.
assert top["Grad-CAM"] < 0.7 and top["gradient"] < 0.7 and full["gradient"] < 0.3
# Where we differ from the paper: randomising the stem (first convolution) does change Guided Backprop,
assert full["Guided Backprop"] < 0.4
# and IG from a black baseline keeps the most similarity of all: its (x - baseline) factor paints the image.
assert full["IG (black)"] == full.max() and full["IG (black)"] > 0.4
print("ordering after full randomisation:", " > ".join(full.sort_values(ascending=False).index))

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Two similarity measures, two stories.** SSIM of max-scaled maps rewards maps that are dark in the same
# places: after full randomisation Guided Grad-CAM keeps an SSIM near the top of the table while its rank
# correlation is about zero. Sparse maps with large empty areas look "structurally similar" to each other
# whatever the model. We read the sanity check off the rank correlation, and report SSIM for comparison
# with the paper, which used both.

# %% slideshow={"slide_type": "fragment"}
assert ssim_sim.loc["Guided Grad-CAM", "stem"] > 0.5 and rank_sim.loc["Guided Grad-CAM", "stem"] < 0.1

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** As in Adebayo et al., Guided Backprop is almost unchanged when `fc` and `layer4` are
# random: it reconstructs edges of the *input* rather than reading the classifier. Grad-CAM and the plain
# gradient change at once. Two differences from the paper, stated plainly: (1) in our small ResNet,
# Guided Backprop *does* change once the first convolution is randomised too, so it is not invariant all
# the way down; (2) Integrated Gradients from a black baseline stays the most similar after full
# randomisation, because multiplying by `x − 0` imprints the radiograph on any map (the paper noted the
# same visual effect for input-multiplied methods). Similarity to the original is not a pass mark by
# itself: a method has to *lose* similarity when the model is destroyed.

# %% slideshow={"slide_type": "subslide"}
shuffled = maps_for(models["cxr_shuffled"])
data_test = pd.Series({k: spearman(original[k], shuffled[k]) for k in original}, name="Spearman vs shuffled")
print(f"cxr_shuffled accuracy on test_id: {accuracy(models['cxr_shuffled'], splits['test_id']):.3f}")
print(data_test.round(3).to_string())
assert (data_test.drop("IG (black)") < 0.2).all()
assert data_test["IG (black)"] > 0.4

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Data randomisation.** A model trained on shuffled labels learns nothing about pneumonia (chance
# accuracy). Its gradient, Grad-CAM and guided maps share little with the trained model's maps, so those
# methods pass this test on our data; IG from black again keeps the imprint of the input.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Scorecard: do the maps find the marker better than maps that know no model?
#
# Section 4 compared the two models. The course scorecard (`benchmarks/scorecard.md`) asks a stricter
# question of each method on the shortcut model: does it locate the marker better than a **null**, a map
# that cannot know what the model learned — a random map, the image itself (brightness as a map), a Sobel
# edge map, and the same method on the control model? Two continuous metrics of |attribution| against the
# marker mask, per film, averaged over the twelve films of section 4:
#
# - **pixel AUROC**: the chance that a marker pixel outranks a pixel outside it (0.5 = chance);
# - **mass ÷ area**: the share of |attribution| on the marker divided by the marker's share of the pixels
#   (1 = no concentration).
#
# Each has a 95 % percentile-bootstrap interval over the twelve films (`scipy.stats.bootstrap`). Every
# null is measured on the *same* twelve films, so the comparison is **paired**: per film, method − null,
# and a 95 % percentile-bootstrap interval of the mean difference that resamples the films jointly
# (`xaihealth.scorecard.paired_difference`). A method *beats* a null when that interval (Δ below)
# excludes 0 on the better side. Pairing removes the film-to-film spread that two maps share, so it can
# separate two maps whose own intervals overlap.

# %% slideshow={"slide_type": "subslide"}
blur12 = torch.tensor(gaussian_filter(x.numpy(), sigma=(0, 0, 4, 4)))
for name in maps12:  # the other methods of sections 3 and 5, on the same twelve films
    m = models[name]
    more = {"IG (blurred)": IntegratedGradients(m).attribute(  # in batches of 48: peak memory
                x, baselines=blur12, target=1, n_steps=16, internal_batch_size=48),
            "Guided Backprop": GuidedBackprop(m).attribute(x, target=1),
            "Guided Grad-CAM": GuidedGradCam(m, m.layer4).attribute(x, target=1)}
    maps12[name].update({k: v.detach().numpy()[:, 0] for k, v in more.items()})
films = x.numpy()[:, 0]
edges = np.hypot(sobel(films, axis=1), sobel(films, axis=2))
nulls12 = {"random map": np.random.default_rng(derived_seed(41)).random(films.shape),
           "image intensity": films, "Sobel edge magnitude": edges}


def pixel_auroc(a, mask):
    return np.array([roc_auc_score(m.ravel(), np.abs(p).ravel()) for p, m in zip(a, mask, strict=True)])


def mass_per_area(a, mask):
    a = np.abs(a)
    return (a * mask).sum((1, 2)) / a.sum((1, 2)) / mask.mean((1, 2))


def with_ci(per_film):
    """Mean over the films and its 95 % percentile-bootstrap interval (the same resamples for every map)."""
    ci = bootstrap((per_film,), np.mean, method="percentile",
                   rng=np.random.default_rng(derived_seed(42))).confidence_interval
    return float(per_film.mean()), float(ci.low), float(ci.high)


def two_digits(v):
    return f"{v:.0f}" if v >= 10 else f"{v:.1f}" if v >= 1 else f"{v:.2f}"


def sig2(v):  # a difference of mass ÷ area: two significant digits (signed)
    return f"{v:.0f}" if abs(v) >= 10 else f"{v:#.2g}"


AUROC, MASS = "pixel AUROC", "relevance mass ÷ area"
SHORT = {"random map": "random", "image intensity": "image", "Sobel edge magnitude": "Sobel",
         "same method, control model": "control model"}
card = {}  # (metric, method) -> the nulls it does not beat
for metric, fn, fmt, dfmt in ((AUROC, pixel_auroc, "{:.3f}".format, "{:.3f}".format),
                              (MASS, mass_per_area, two_digits, sig2)):
    def show(v, fmt=fmt):
        return f"{fmt(v[0])} [{fmt(v[1])}, {fmt(v[2])}]"

    per_null = {k: fn(v, marker) for k, v in nulls12.items()}  # per film
    print(f"{metric} of |attribution| vs the marker mask, mean [95 % CI] over the 12 films")
    for k, v in per_null.items():
        print(f"  null: {k:25s} {show(with_ci(v))}")
    table = {}
    for method, a in maps12["cxr_shortcut"].items():
        per_film = fn(a, marker)
        score, lo, hi = with_ci(per_film)
        films_of = {**per_null, "same method, control model": fn(maps12["cxr_control"][method], marker)}
        nulls = {k: {"score": float(v.mean()), "interval": with_ci(v)[1:],  # paired: the same 12 films
                     "paired": paired_difference(per_film, v, seed=derived_seed(43))}
                 for k, v in films_of.items()}
        row = dict(module="04", method=method, data="synthetic radiographs, shortcut model",
                   truth="marker mask", metric=f"{metric}, absolute attribution (mean of 12 films)",
                   score=score, interval=(lo, hi), baselines=nulls)
        built = make_row(**row)
        card[metric, method] = missed = [b.name for b in built.baselines if not built.beats(b)]
        record(**row, note=f"{metric}: does not beat {', '.join(missed)}" if missed else "")
        table[method] = {"score [95 % CI]": show((score, lo, hi)),
                         "control model": fmt(nulls["same method, control model"]["score"]),
                         **{f"Δ {SHORT[b.name]}": f"{dfmt(score - b.score)} "
                            f"[{dfmt(b.diff_low)}, {dfmt(b.diff_high)}]" for b in built.baselines},
                         "not beaten": ", ".join(SHORT[k] for k in missed) or "-"}
    print("  per method: score, the same method on the control model, and method − null on the same films:")
    print("  mean Δ [95 % paired CI]; 'not beaten': the nulls whose Δ interval does not exclude 0")
    print(pd.DataFrame(table).T.to_string())

# %% slideshow={"slide_type": "subslide"}
for missed in card.values():  # every map beats the random map and the same method on the control model
    assert "random map" not in missed and "same method, control model" not in missed, missed
assert all("image intensity" in card[AUROC, m] for m in maps12["cxr_shortcut"]), "brightness ranks it 1st"
assert "Sobel edge magnitude" in card[MASS, "gradient"] and "Sobel edge magnitude" in card[MASS, "SmoothGrad"]
assert not any(card[MASS, m] for m in ("IG (black)", "IG (blurred)", "Guided Backprop", "Guided Grad-CAM"))

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** Every method beats the random map and, by far, the same method on the control model: on
# the same films, the shortcut model's maps single out the marker and the control model's do not. Against
# the model-free maps the picture is humbler. By **pixel AUROC no map beats the film itself**: the marker
# is the brightest object on the film (a uniform level of 0.85–0.98), so brightness alone ranks it first
# (AUROC 1), and every method's paired Δ to it is negative. The gradient, SmoothGrad and Grad-CAM do not
# beat the Sobel map either: their Δ intervals contain 0 (Grad-CAM's only just, −0.004 to 0.071; on one of
# the five fresh draws of `make scorecard` it excludes 0); IG and the guided methods do beat it. By **mass
# ÷ area** the gradient and SmoothGrad concentrate on the marker *less* than the Sobel map, which knows no
# model (Δ −1.2 and −1.9, both intervals below 0). Grad-CAM, which an unpaired comparison called
# borderline (its interval overlaps Sobel's by a hair), beats Sobel once the films are paired (Δ 0.77,
# interval 0.11 to 1.4; on four of the five fresh draws), so by mass Grad-CAM, IG from either baseline and
# the guided methods beat every null.
# Note the control model's IG (blurred): 3 times the marker's area on a model that ignores it — the
# blurred baseline favours sharp details whatever the model. Conclusion: "the map lights up the marker" is
# no evidence by itself, since a map of the film does so too; the evidence is the contrast with a model
# that does not use the marker (and the shifted-site accuracy drop of section 1).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. ECGs: does the long-QT model look at the QT interval?
#
# IG on the ECG CNN (zero baseline = a flat trace, since the model centres each lead), for records it
# calls long QT correctly. The generator gives every beat's fiducials, so we compare the attribution per
# millisecond inside the **ST–T window** (QRS offset → T end, where prolongation lives) with the
# **TP + P + PR window** (T end → next QRS onset). Dividing by the window length matches the lengths.

# %% slideshow={"slide_type": "fragment"}
ecg_model = load_ecg_cnn()
ecgs = make_ecgs(64, seed=derived_seed(11))
signals = torch.tensor(ecgs.signals)
p_lqt = ecg_model.predict_proba(signals).numpy()
chosen = np.flatnonzero((p_lqt > 0.5) & (ecgs.labels["long_qt"].to_numpy() == 1))[:8]
ig_ecg = IntegratedGradients(ecg_model).attribute(
    signals[chosen], baselines=torch.zeros_like(signals[chosen]), target=1, n_steps=32
).detach().numpy()[:, 0]


def window_density(a, beats):
    qt, rest = np.zeros(a.shape, bool), np.zeros(a.shape, bool)
    for k in range(len(beats)):
        qt[beats.qrs_off[k]:beats.t_end[k]] = True
        if k + 1 < len(beats):
            rest[beats.t_end[k]:beats.qrs_on[k + 1]] = True
    return np.abs(a)[qt].mean(), np.abs(a)[rest].mean()


dens = pd.DataFrame([window_density(a, ecgs.beats(i)) for a, i in zip(ig_ecg, chosen, strict=True)],
                    index=chosen, columns=["|IG| per sample, ST-T", "|IG| per sample, TP+P+PR"])
dens["ratio"] = dens.iloc[:, 0] / dens.iloc[:, 1]
print(dens.round(4).to_string())
assert (dens["ratio"] > 1).all() and dens["ratio"].median() > 2

# %% slideshow={"slide_type": "subslide"}
i0, b0 = chosen[0], ecgs.beats(chosen[0])
t = ecgs.time
fig, ax = plt.subplots(figsize=(7, 2.6))
ax.plot(t, ecgs.signals[i0, 0], color="k", lw=0.8, label="ECG (mV)")
scaled = np.clip(np.abs(ig_ecg[0]) / np.quantile(np.abs(ig_ecg[0]), 0.99), 0, 1)
ax.fill_between(t, 0, scaled, color="C3", alpha=0.5, label="|IG| (to its 99th centile)")
for on, off in zip(b0.qrs_off, b0.t_end, strict=True):
    ax.axvspan(on / ecgs.fs, off / ecgs.fs, color="C0", alpha=0.12)
ax.set(xlim=(0, 5), xlabel="time (s)", title="shaded: QRS offset to T end")
ax.legend(fontsize=7, loc="upper right")
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# In every chosen record the attribution per sample is higher between QRS offset and T end than in the
# rest of the cycle, typically several-fold: the model reads the repolarisation window, where a
# cardiologist measures the QT. This is an agreement with physiology, not a proof — IG tells us where
# the score is sensitive, not that the model measures an interval.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 8. How robust are the explanations?
#
# Two numbers from Yeh et al. (2019, *NeurIPS*), in `captum.metrics`: **infidelity** — how badly the
# attributions predict the change of the output under small random perturbations (lower is better) — and
# **max-sensitivity** — how much the map itself changes when the input moves within a small ball (lower is
# more stable). Four films, shortcut model, fixed seeds.

# %% slideshow={"slide_type": "fragment"}
xq = x[:4]
methods = {
    "gradient": lambda inp, target: Saliency(model).attribute(inp, target=target, abs=False),
    "SmoothGrad": lambda inp, target: NoiseTunnel(Saliency(model)).attribute(
        inp, target=target, nt_type="smoothgrad", nt_samples=8, stdevs=0.1, abs=False),
    "IG (black)": lambda inp, target: IntegratedGradients(model).attribute(inp, target=target, n_steps=8),
    "Guided Backprop": lambda inp, target: GuidedBackprop(model).attribute(inp, target=target),
}


def perturb(inputs):
    noise = 0.02 * torch.randn_like(inputs)
    return noise, inputs - noise


robust = {}
for name, fn in methods.items():
    torch.manual_seed(derived_seed(0))
    a = fn(xq, 1)
    infid = infidelity(model, perturb, xq, a, target=1, n_perturb_samples=8).mean().item()
    torch.manual_seed(derived_seed(0))
    sens = sensitivity_max(fn, xq, target=1, perturb_radius=0.02, n_perturb_samples=4).mean().item()
    robust[name] = {"infidelity": infid, "max-sensitivity": sens}
robust = pd.DataFrame(robust).T
print(robust.round(3).to_string())
assert robust["max-sensitivity"].idxmin() == "Guided Backprop"
assert robust.loc["SmoothGrad", "max-sensitivity"] > robust.loc["gradient", "max-sensitivity"]

# Why? Run SmoothGrad twice on the SAME films: its own sampling noise, in the units of max-sensitivity.
torch.manual_seed(derived_seed(1))
sg1, sg2 = methods["SmoothGrad"](xq, 1), methods["SmoothGrad"](xq, 1)
self_noise = ((sg1 - sg2).flatten(1).norm(dim=1) / sg1.flatten(1).norm(dim=1)).mean().item()
print(f"SmoothGrad (8 samples) vs itself on the same input: {self_noise:.3f}")
assert self_noise > 0.8 * robust.loc["SmoothGrad", "max-sensitivity"]

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** Guided Backprop is the most *stable* map — the same property that made it fail the
# randomisation test: it follows the input's edges, not the model. Yeh et al. showed that smoothing lowers
# sensitivity; **here SmoothGrad comes out more sensitive than the raw gradient**. The second number shows
# why: with only 8 noise samples, two SmoothGrad runs on the *same* films differ almost as much as runs on
# perturbed films, so the metric measures SmoothGrad's own Monte-Carlo noise (in a test outside the
# notebook, 32 samples brought both numbers down to about 0.6 — more than this lecture's time budget).
# Infidelities are close to each other at this small n.
# Stability is not correctness: a stable map can still be blind to the model.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Take-aways
#
# - Gradient maps found the hospital marker on the shortcut model and the opacity on the control model —
#   when scored against masks we trusted.
# - Plain gradients saturate; Integrated Gradients is complete, but its answer depends on the baseline.
# - Run the sanity checks: Guided Backprop hardly changes when the top of the network is random, so it
#   cannot be evidence of what the network learned; IG from a black baseline carries the image itself.
# - On ECGs, IG concentrates in the ST–T window for long-QT calls: consistent with physiology, checked
#   with the generator's fiducials.
#
# **Lab:** implement gradients and IG from scratch, Grad-CAM with hooks, cascading randomisation, and the
# mask-based scores.
