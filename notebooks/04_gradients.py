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
# 2020), scores them against pixel-exact ground truth **and against maps that know no model**, and then
# asks the uncomfortable question of Adebayo et al. (2018, *NeurIPS*): does the map change when the model
# is destroyed?
#
# **Data:** synthetic radiographs with exact lesion masks and a planted hospital "L" marker
# (`datasets/synthetic_cxr.md`), and synthetic ECGs with known fiducial points (`datasets/synthetic_ecg.md`).
# **Models:** three shipped ResNets (`cxr_shortcut`, `cxr_control`, `cxr_shuffled`) and a 1-D ECG CNN.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** A CNN reads chest radiographs and saliency maps promise to show where it looks. We compute the
# common gradient methods with Captum, score them against pixel-exact masks *and* against maps that know no
# model, and run Adebayo et al.'s sanity checks; then the same questions on an ECG model.
#
# **Clinical point:** one of the radiograph models is a Clever Hans (a hospital marker), so we know what an
# honest map should reveal.
#
# **Expected question:** "Are heat maps used clinically?" — *Answer:* they appear in papers and products;
# this lecture shows what they can and cannot certify.

# %% slideshow={"slide_type": "skip"}
import copy
import gc
import json
from pathlib import Path

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
from captum.metrics import sensitivity_max
from scipy.ndimage import gaussian_filter, sobel
from scipy.stats import bootstrap, spearmanr
from skimage.feature import hog
from skimage.metrics import structural_similarity
from sklearn.metrics import roc_auc_score

from xaihealth.checkpoints import checkpoint_entry
from xaihealth.checks.gradients import randomise_layer
from xaihealth.data.cxr import standard_splits
from xaihealth.data.ecg import make_ecgs
from xaihealth.models.cxr_resnet import DEFAULT_CONFIG, build_cxr_resnet, load_cxr_resnet, predict_proba
from xaihealth.models.ecg_cnn import build_ecg_cnn, load_ecg_cnn
from xaihealth.notebook import derived_seed, setup
from xaihealth.plots.gradients import plot_randomisation, show_maps, show_signed
from xaihealth.scorecard import make_row, paired_difference, record

SEED = setup(seed=0)
import warnings  # noqa: E402

warnings.filterwarnings("ignore", message=".*(require gradients|backward hooks).*")
IG_BATCH = 16  # IntegratedGradients evaluates n_steps x batch images: in chunks of 16 to bound memory


def sg_batch(inputs):
    """NoiseTunnel samples per forward pass, so that one pass holds at most IG_BATCH noisy images."""
    n = len(inputs[0]) if isinstance(inputs, tuple) else len(inputs)  # captum.metrics passes tuples
    return max(1, IG_BATCH // n)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. A radiograph model with a Clever Hans
#
# `cxr_shortcut` was trained where the "L" marker appeared on 95 % of pneumonia films and 5 % of the
# others (one department marked its portable films). `cxr_control` was trained where the marker is
# unrelated to the label. We test both on *fresh* images from the same hospital (`test_id`) and from a
# hospital where the marker is independent of disease (`test_shifted`).

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** Two shipped ResNets: `cxr_shortcut`, trained where an "L" marker flagged most pneumonia films,
# and `cxr_control`, trained where the marker is unrelated. On fresh films from the same hospital the
# shortcut model looks excellent; at a hospital where the marker is independent of disease it drops to about
# chance (printed table, asserted drop > 0.25). The control model does not move.
#
# **Clinical point:** accuracy alone cannot tell *why* a model fails at a new site; the masks of the lesion
# and of the marker let us check what the maps point at.
#
# **Expected question:** "Is this realistic?" — *Answer:* yes; Zech et al. (2018) and DeGrave et al. (2021)
# found radiograph models reading hospital tokens and text markers.

# %% slideshow={"slide_type": "fragment"}
# seed 1: images the models never saw
splits = standard_splits(seed=derived_seed(1), n_train=1, n_test=200)
models = {
    name: load_cxr_resnet(name)
    for name in ("cxr_shortcut", "cxr_control", "cxr_shuffled")
}


def accuracy(model, data):
    return float(
        (
            (predict_proba(model, data.images, batch_size=50).numpy() > 0.5)
            == data.labels
        ).mean()
    )

# %% slideshow={"slide_type": "subslide"}
acc = pd.DataFrame(
    {
        s: {m: accuracy(models[m], splits[s]) for m in ("cxr_shortcut", "cxr_control")}
        for s in ("test_id", "test_shifted")
    }
)
print(acc.round(3).to_string())

# %% slideshow={"slide_type": "skip"}
assert acc.loc["cxr_shortcut", "test_id"] - acc.loc["cxr_shortcut", "test_shifted"] > 0.25
assert abs(acc.loc["cxr_control", "test_id"] - acc.loc["cxr_control", "test_shifted"]) < 0.05

# %% [markdown] slideshow={"slide_type": "subslide"}
# The shortcut model loses most of its accuracy when the marker stops predicting the label; the control
# model does not. Accuracy alone cannot tell us *why*. The ground truth can: every pneumonia image lists
# the pixels of its opacity (sky-blue solid outline below) and of the marker (yellow, dashed).

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
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

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** The gradient says how the score moves for a tiny change of a pixel; its blind spot is saturation
# (the toy `min(x, 1)` has gradient 0 at x = 2). On this CNN the logit rises late along the black-to-film
# path, but gradient × input at the film still accounts for only about two thirds of the logit change
# (median ratio, interval below 1, asserted). Integrated Gradients averages the gradient along the path and
# is complete.
#
# **Clinical point:** a gradient map describes the model at one point; it does not add up to the effect of
# the image.
#
# **Expected question:** "Then why use plain gradients at all?" — *Answer:* they are cheap and local; read
# them as sensitivity, not as contribution.

# %% slideshow={"slide_type": "subslide"}
def f(x):
    return torch.relu(1 - torch.relu(1 - x))


x_toy = torch.tensor([2.0], requires_grad=True)
f(x_toy).backward()
ig_toy = IntegratedGradients(lambda z: f(z)).attribute(
    torch.tensor([2.0]),
    baselines=torch.tensor([0.0]),
    n_steps=32,
    method="riemann_middle",
)
print(
    f"f(2) = {f(torch.tensor([2.0])).item():.3f}, f(0) = "
    f"{f(torch.tensor([0.0])).item():.3f}"
)
print(
    f"gradient at x = 2: {abs(x_toy.grad.item()):.3f}; Integrated Gradients from 0: "
    f"{ig_toy.item():.3f}"
)

# %% slideshow={"slide_type": "skip"}
assert x_toy.grad.item() == 0.0 and abs(ig_toy.item() - 1.0) < 1e-2

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Saturation in the radiograph CNN.** Scale a film from black to itself, `α · x` for `α` from 0 to 1,
# and follow the pneumonia logit of `cxr_shortcut` and the size of its gradient. If the network were
# linear along this path the gradient would be the same everywhere; where the logit flattens, the local
# gradient at the film (`α = 1`) under-reports how much the image moved the score. We compare the
# first-order estimate at the film, `Σ x · ∂f/∂x(x)` (gradient × input), with the true change
# `f(x) − f(0)`.

# %% slideshow={"slide_type": "subslide"}
model = models["cxr_shortcut"]
alphas = np.linspace(0, 1, 21)
with torch.no_grad():
    # (alpha, film)
    path_logits = np.stack([model(float(a) * x)[:, 1].numpy() for a in alphas])
xg = x.clone().requires_grad_(True)
model(xg)[:, 1].sum().backward()
grad_x_input = (xg.grad * x).sum((1, 2, 3)).numpy()
total_change = path_logits[-1] - path_logits[0]
ratio = grad_x_input / total_change
print(
    f"logit rise in the first half of the path (alpha 0 -> 0.5): "
    f"{np.median((path_logits[10] - path_logits[0]) / total_change):.0%} of the total "
    f"(median of 12 films)"
)
print("gradient x input at the film / (f(x) - f(0)), per film:", np.round(ratio, 2))

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
fig, ax = plt.subplots(figsize=(4.2, 2.6))
ax.plot(alphas, path_logits, color="#0072B2", alpha=0.5, lw=0.8)
ax.set(
    xlabel="α (image = α · film)",
    ylabel="pneumonia logit",
    title="cxr_shortcut, 12 films",
)
plt.show()

# %% slideshow={"slide_type": "subslide"}
sat_ci = bootstrap(
    (ratio,), np.median, method="percentile", rng=np.random.default_rng(derived_seed(2))
)
print(
    f"median ratio {np.median(ratio):.2f}, 95 % CI "
    f"[{sat_ci.confidence_interval.low:.2f}, "
    f"{sat_ci.confidence_interval.high:.2f}]"
)

# %% slideshow={"slide_type": "skip"}
assert sat_ci.confidence_interval.high < 1.0  # the local gradient under-reports the change on these films

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** On this CNN the logit does *not* flatten near the film — it rises late along the path —
# but the local picture still fails: the gradient × input at the film accounts for only about two thirds
# of the logit change (median ratio and 95 % bootstrap interval over the 12 films above, interval below 1).
# A gradient map describes the model at one point; it does not add up to the effect of the image.
#
# **Integrated Gradients** (Sundararajan et al., 2017, *ICML*) averages the gradient along the straight
# path from a baseline `x'` to `x` and multiplies by `x − x'`:
# `IG_i = (x_i − x'_i) · ∫₀¹ ∂f/∂x_i (x' + α (x − x')) dα`. It is *complete*: the attributions add up to
# `f(x) − f(x')`. The toy feature gets the whole effect, 1.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Maps of the same radiographs
#
# On the shortcut model, target the pneumonia logit:
#
# - the **gradient** (Saliency, signed);
# - **SmoothGrad** (Smilkov et al., 2017, *ICML workshop*): `SG(x) = (1/n) Σ_k ∇f(x + ε_k)`,
#   `ε_k ~ N(0, σ²)` per pixel, with `n = 50` samples and `σ = 0.15` (15 % of the [0, 1] intensity range,
#   inside the paper's 10–20 %), via Captum's `NoiseTunnel(nt_type="smoothgrad")`, whose `stdevs` is the
#   absolute σ;
# - **Grad-CAM** (Selvaraju et al., 2017, *ICCV*: `layer4` activations weighted by their spatially pooled
#   gradients, ReLU, upsampled bilinearly from 8 × 8);
# - **IG** from two baselines — a black image and a blurred copy of the same film (Gaussian σ = 4 px,
#   which removes the small marker and opacity but keeps the anatomy) — 128 midpoint-Riemann steps;
# - **SmoothGrad around IG** (`NoiseTunnel(IntegratedGradients)`): IG from black averaged over 8 noisy
#   copies (σ = 0.15), 16 steps each (a display: this map is not scored below).

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** The same films under gradient, SmoothGrad, Grad-CAM and IG from two baselines. IG's completeness
# error falls with the number of steps (printed table; under 1 % at 128 midpoint steps, asserted). From
# black, IG explains "why this film rather than nothing"; from a blurred copy, "why this film rather than a
# smoothed one", so it concentrates on small sharp things like the marker.
#
# **Clinical point:** the baseline is part of the question you ask; a report must name it.
#
# **Expected question:** "Which baseline is right?" — *Answer:* the one that encodes the clinical contrast;
# section 7 builds one for ECGs (the same patient with a normal QTc).

# %% slideshow={"slide_type": "subslide"}
xs = x[:4]
blurred = torch.tensor(gaussian_filter(xs.numpy(), sigma=(0, 0, 4, 4)))
ig = IntegratedGradients(model)
ig_black = ig.attribute(
    xs,
    baselines=torch.zeros_like(xs),
    target=1,
    n_steps=128,
    method="riemann_middle",
    internal_batch_size=IG_BATCH,
)
ig_blur = ig.attribute(
    xs,
    baselines=blurred,
    target=1,
    n_steps=128,
    method="riemann_middle",
    internal_batch_size=IG_BATCH,
)

# %% slideshow={"slide_type": "skip"}
torch.manual_seed(derived_seed(3))
maps4 = {
    "gradient": Saliency(model).attribute(xs, target=1, abs=False),
    "SmoothGrad": NoiseTunnel(Saliency(model)).attribute(
        xs,
        target=1,
        nt_type="smoothgrad",
        nt_samples=50,
        nt_samples_batch_size=sg_batch(xs),
        stdevs=0.15,
        abs=False,
    ),
    "Grad-CAM": LayerAttribution.interpolate(
        LayerGradCam(model, model.layer4).attribute(
            xs, target=1, relu_attributions=True
        ),
        (64, 64),
        "bilinear",
    ),
    "IG (black)": ig_black,
    "IG (blurred)": ig_blur,
    "SmoothGrad-IG": NoiseTunnel(ig).attribute(
        xs,
        target=1,
        nt_type="smoothgrad",
        nt_samples=8,
        nt_samples_batch_size=1,
        stdevs=0.15,
        baselines=torch.zeros_like(xs),
        n_steps=16,
        method="riemann_middle",
        internal_batch_size=IG_BATCH,
    ),
}

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
fig = show_maps(xs, maps4, lesion_masks=lesion[:4], marker_masks=marker[:4], n=3)
fig.set_size_inches(0.86 * fig.get_figwidth(), 0.86 * fig.get_figheight())  # <= 1200 px: text >= 10 px on the slide
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Signed IG on the radiograph, both models.** Red pixels raise the pneumonia logit, blue ones lower
# it (IG from black, 128 steps, first film; symmetric colour scale at the 99th centile of |IG|; yellow
# dashed outline: the marker, sky-blue solid: the opacity).

# %% slideshow={"slide_type": "fragment"}
ig_control = IntegratedGradients(models["cxr_control"]).attribute(
    xs[:1],
    baselines=torch.zeros_like(xs[:1]),
    target=1,
    n_steps=128,
    method="riemann_middle",
    internal_batch_size=IG_BATCH,
)

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
show_signed(
    xs[:1],
    {"IG (black), cxr_shortcut": ig_black[:1], "IG (black), cxr_control": ig_control},
    marker_masks=marker[:1],
    lesion_masks=lesion[:1],
)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Completeness and the number of steps.** IG's integral is a sum over `n_steps` points, so its
# completeness error `|Σ IG − (f(x) − f(x'))| / |f(x) − f(x')|` depends on the rule and the step count.
# Two films, black baseline, Captum's midpoint rule (`riemann_middle`) at 8 to 300 steps and its default
# Gauss–Legendre rule at 8 and 32 (the largest error over the two films); the 128-step row is the four
# maps above. Then the same check on the models we score *next to* the shortcut model — `cxr_control`
# and an untrained network — at the 32 steps that sections 4 and 6 use.

# %% slideshow={"slide_type": "fragment"}
with torch.no_grad():
    gap_black = model(xs)[:, 1] - model(torch.zeros_like(xs))[:, 1]
steps_study = {
    ("riemann_middle", 128): (
        (ig_black.sum((1, 2, 3)) - gap_black).abs() / gap_black.abs()
    )
    .max()
    .item()
}
rules = (("riemann_middle", (8, 16, 32, 64, 300)), ("gausslegendre", (8, 32)))

# %% slideshow={"slide_type": "subslide"}
for method, step_counts in rules:
    for n_steps in step_counts:
        a = ig.attribute(
            xs[:2],
            baselines=torch.zeros_like(xs[:2]),
            target=1,
            n_steps=n_steps,
            method=method,
            internal_batch_size=IG_BATCH,
        )
        steps_study[method, n_steps] = (
            ((a.sum((1, 2, 3)) - gap_black[:2]).abs() / gap_black[:2].abs())
            .max()
            .item()
        )
steps_study = pd.Series(steps_study).unstack(0).sort_index()
print(
    "largest relative completeness error (2 films; 128 steps: the 4 films of the maps "
    "above):"
);

# %% slideshow={"slide_type": "subslide"}
print(steps_study.round(4).to_string())

# %% slideshow={"slide_type": "skip"}
assert steps_study.loc[300, "riemann_middle"] < 0.01 and steps_study.loc[128, "riemann_middle"] < 0.01
assert steps_study.loc[8, "riemann_middle"] > steps_study.loc[300, "riemann_middle"]

# %% slideshow={"slide_type": "subslide"}
with torch.no_grad():
    gap_blur = model(xs)[:, 1] - model(blurred)[:, 1]
completeness = pd.DataFrame(
    {
        "f(x) - f(black)": gap_black.numpy(),
        "sum IG (black)": ig_black.sum((1, 2, 3)).detach().numpy(),
        "f(x) - f(blurred)": gap_blur.numpy(),
        "sum IG (blurred)": ig_blur.sum((1, 2, 3)).detach().numpy(),
    }
)
print(completeness.round(2).to_string());

# %% slideshow={"slide_type": "skip"}
for gap, a in ((gap_black, ig_black), (gap_blur, ig_blur)):
    rel = ((a.sum((1, 2, 3)) - gap).abs() / gap.abs()).max().item()
    assert rel < 0.01, rel

# %% [markdown] slideshow={"slide_type": "subslide"}
# The error falls with the number of steps, though not monotonically film by film (the ReLU network is
# piecewise linear; on some draws one film still misses 1 % at 64 steps). The maps of these four films
# use 128 midpoint steps (completeness checked below, < 1 %). The twelve films of sections 4 and 6 use 32
# steps: on the shortcut model that is the 32-step row above, but on `cxr_control` the error is far larger
# (its black-to-film logit gap is small, so the relative error is large; printed in section 4), and we
# check there that the pixel ranking, which is all sections 4 and 6 score, barely moves at 128 steps. The
# baseline is part of the question. From black, IG explains "why this film rather than nothing", and the
# whole bright body gets credit. From the blurred film, it explains "why this film rather than a smoothed
# copy", so it concentrates on small sharp things.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Scoring maps against the ground truth — next to maps that know no model
#
# Twelve pneumonia films that carry the marker, both models. Per map and film:
#
# - **positive relevance mass share**: the share of the map's *positive* attribution inside the mask —
#   the "relevance mass accuracy" of Arras et al. (2022, *Information Fusion*), the "attribution
#   localisation" of Kohlbrenner et al. (2020, *IJCNN*);
# - **mass ÷ area**: that share divided by the mask's share of the pixels (1 = no concentration; the
#   marker covers 0.6 % of the pixels, so a 5 % share is already 8 times its area);
# - **pixel AUROC** of |attribution| against the mask (0.5 = chance);
# - the **pointing game** (Zhang et al., 2018, *IJCV*): does the single highest pixel land in the mask?
#
# A score needs a null: the same scores for the **image itself** (brightness as a map), a **Sobel edge
# map** and a **random map** (uniform noise), which know nothing of any model.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** Twelve pneumonia films with the marker, four scores per map, and nulls that know no model: the
# film itself, a Sobel edge map, a random map. The film wins the marker pointing game and has the highest
# marker AUROC (asserted) — the marker is the brightest object. The evidence is the paired contrast: for
# every method the shortcut model's maps put more mass per area on the marker than the control model's
# (intervals above 0, asserted).
#
# **Clinical point:** a map lighting up a corner label, a ruler or a drain is a red flag worth a
# shifted-site test, but only a comparison with a model or a site that cannot use the artefact makes it
# evidence.
#
# **Expected question:** "Why is the lesion share so low for every map?" — *Answer:* the shortcut model
# does not need the opacity; the control model's maps put more on it.

# %% slideshow={"slide_type": "skip"}
def explain(model, x, n_steps=32):
    gc_map = LayerGradCam(model, model.layer4).attribute(
        x, target=1, relu_attributions=True
    )
    out = {
        "gradient": Saliency(model).attribute(x, target=1, abs=False),
        "SmoothGrad": NoiseTunnel(Saliency(model)).attribute(
            x,
            target=1,
            nt_type="smoothgrad",
            nt_samples=50,
            nt_samples_batch_size=sg_batch(x),
            stdevs=0.15,
            abs=False,
        ),
        "Grad-CAM": LayerAttribution.interpolate(gc_map, x.shape[-2:], "bilinear"),
        "IG (black)": IntegratedGradients(model).attribute(
            x,
            target=1,
            n_steps=n_steps,
            method="riemann_middle",
            internal_batch_size=IG_BATCH,
        ),
    }
    return {k: v.detach().numpy()[:, 0] for k, v in out.items()}

# %% slideshow={"slide_type": "subslide"}
def mask_share(a, mask):
    pos = np.clip(a, 0, None)
    return (pos * mask).sum((1, 2)) / pos.sum((1, 2))


def pointing(a, mask):
    flat = a.reshape(len(a), -1).argmax(1)
    return mask.reshape(len(a), -1)[np.arange(len(a)), flat]


def pixel_auroc(a, mask):
    return np.array(
        [
            roc_auc_score(m.ravel(), np.abs(p).ravel())
            for p, m in zip(a, mask, strict=True)
        ]
    )

# %% slideshow={"slide_type": "subslide"}
def mass_per_area(a, mask):
    """Share of |a| in the mask ÷ the mask's share of the pixels; an all-zero map
    scores 1 (no concentration)."""
    a = np.abs(a)
    total = a.sum((1, 2))
    share = np.divide(
        (a * mask).sum((1, 2)),
        total,
        out=mask.mean((1, 2)).astype(float),
        where=total > 0,
    )
    return share / mask.mean((1, 2))


films = x.numpy()[:, 0]
edges = np.hypot(sobel(films, axis=1), sobel(films, axis=2))

# %% slideshow={"slide_type": "subslide"}
nulls12 = {
    "random map": np.random.default_rng(derived_seed(41)).random(films.shape),
    "image intensity": films,
    "Sobel edge magnitude": edges,
}

torch.manual_seed(derived_seed(0))
# maps12: the maps of these twelve films, kept for the scorecard (section 6)
rows, maps12 = [], {}

# %% slideshow={"slide_type": "subslide"}
for name in ("cxr_shortcut", "cxr_control"):
    maps12[name] = explain(models[name], x)
    for method, a in {
        **maps12[name],
        **{f"null: {k}": v for k, v in nulls12.items()},
    }.items():
        if method.startswith("null") and name != "cxr_shortcut":
            continue  # the nulls do not depend on the model
        rows.append(
            {
                "model": name if not method.startswith("null") else "-",
                "method": method,
                "lesion share": mask_share(a, lesion).mean(),
                "marker share": mask_share(a, marker).mean(),
                "marker mass ÷ area": mass_per_area(a, marker).mean(),
                "marker AUROC": pixel_auroc(a, marker).mean(),
                "points at lesion": pointing(a, lesion).mean(),
                "points at marker": pointing(a, marker).mean(),
            }
        )

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
scores = pd.DataFrame(rows).set_index(["model", "method"])
print(scores.round(3).to_string())
with torch.no_grad():  # IG (black) completeness at 32 steps, per model
    for name in maps12:
        gap = (models[name](x)[:, 1] - models[name](torch.zeros_like(x))[:, 1]).numpy()
        err = np.abs(maps12[name]["IG (black)"].sum((1, 2)) - gap) / np.abs(gap)
        print(
            f"{name}: IG (black), 32 steps: relative completeness error median "
            f"{np.median(err):.3f}, "
            f"max {err.max():.2f} (|gap| "
            f"{np.abs(gap).min():.2f}-{np.abs(gap).max():.2f} logits)"
        )

# %% slideshow={"slide_type": "subslide"}
# do the ranks move with more steps?
ig128 = (
    IntegratedGradients(models["cxr_control"])
    .attribute(
        x[:2],
        target=1,
        n_steps=128,
        method="riemann_middle",
        internal_batch_size=IG_BATCH,
    )
    .detach()
    .numpy()[:, 0]
)
rank_32_128 = [
    spearmanr(np.abs(p).ravel(), np.abs(q).ravel())[0]
    for p, q in zip(ig128, maps12["cxr_control"]["IG (black)"][:2], strict=True)
]

# %% slideshow={"slide_type": "subslide"}
print(
    f"cxr_control, 2 films: Spearman of |IG| at 32 vs 128 steps "
    f"{np.round(rank_32_128, 3)}; marker mass ÷ area "
    f"{mass_per_area(maps12['cxr_control']['IG (black)'][:2], marker[:2]).round(2)} "
    f"(32) vs "
    f"{mass_per_area(ig128, marker[:2]).round(2)} (128)"
);

# %% slideshow={"slide_type": "skip"}
assert min(rank_32_128) > 0.9

# %% slideshow={"slide_type": "subslide"}
_ = gc.collect()

# %% slideshow={"slide_type": "subslide"}
short, ctrl, null = (
    scores.loc["cxr_shortcut"],
    scores.loc["cxr_control"],
    scores.loc["-"],
)

# %% slideshow={"slide_type": "skip"}
# the brightest pixel is the marker
assert null.loc["null: image intensity", "points at marker"] == 1.0
assert null.loc["null: image intensity", "marker AUROC"] > short["marker AUROC"].max()

# %% slideshow={"slide_type": "subslide"}
# the shortcut-vs-control contrast, per film and paired: the evidence that the shortcut
# model uses the marker
contrast = {}
for method in maps12["cxr_shortcut"]:
    a_s = mass_per_area(maps12["cxr_shortcut"][method], marker)
    a_c = mass_per_area(maps12["cxr_control"][method], marker)
    contrast[method] = (
        float((a_s - a_c).mean()),
        *paired_difference(a_s, a_c, seed=derived_seed(44)),
    )
contrast = pd.DataFrame(contrast, index=["mean Δ", "low", "high"]).T
print(
    "marker mass ÷ area, shortcut − control model, same 12 films (mean and 95 % paired "
    "bootstrap CI):"
)
print(contrast.round(2).to_string())

# %% slideshow={"slide_type": "skip"}
assert (contrast["low"] > 0).all()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** Against the nulls the raw scores look humbler than they did alone. The **film itself wins
# the marker pointing game** on every film and has the highest marker AUROC: the marker is the brightest
# object on the film (a uniform level of 0.85–0.98), so "points at the marker" is no evidence that a
# map read the model. The Sobel map, which knows no model either, reaches a marker mass ÷ area (about
# 6.5) comparable to the gradient, SmoothGrad and Grad-CAM (5–7; IG from black concentrates more, about
# 17). What *is* evidence is the contrast between models on
# the **same films**: for every method the shortcut model's maps put more mass per area on the marker
# than the control model's (paired bootstrap interval of the difference above 0). Clinically: a map that
# highlights a corner label, a ruler or a chest drain is a red flag worth a shifted-site test, but only
# the comparison with a model (or a site) that cannot use the artefact turns it into evidence.
#
# **The baseline changes the answer.** The IG maps of section 3 (four films, 128 steps), scored the same way:

# %% slideshow={"slide_type": "fragment"}
by_baseline = pd.DataFrame({
    name: {"lesion share": mask_share(a.detach().numpy()[:, 0], lesion[:4]).mean(),
           "marker share": mask_share(a.detach().numpy()[:, 0], marker[:4]).mean()}
    for name, a in (("IG (black)", ig_black), ("IG (blurred)", ig_blur))
}).T
print(by_baseline.round(3).to_string())

# %% [markdown] slideshow={"slide_type": "subslide"}
# Four films are too few for an interval here; section 6 scores IG from both baselines on all twelve
# films, paired against the nulls.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Sanity checks: randomise the model, watch the map
#
# Adebayo et al. (2018, *NeurIPS*, "Sanity checks for saliency maps") proposed two tests.
# **Model-parameter randomisation**: re-initialise the weights, either *cascading* from the output
# layer down (`fc`, then also `layer4`, …, `layer1`, `bn1`, `conv1`: every parameterised layer) or one
# layer at a time (*independent*), recompute each map and measure its similarity to the original.
# **Data randomisation**: compare with a model trained on permuted labels. We use the paper's four
# similarity measures, per film, averaged over eight films:
#
# - Spearman rank correlation of **|map|** and of the **signed** map;
# - **SSIM** (Wang et al., 2004) of |map| scaled to [0, 1] per film (`skimage.metrics.structural_similarity`,
#   7 × 7 uniform window, `data_range=1`);
# - **HOG similarity**: Pearson correlation of the histogram-of-oriented-gradients features (Dalal &
#   Triggs, 2005) of the two |maps| (`skimage.feature.hog`, 8 × 8-pixel cells, 2 × 2-cell blocks,
#   9 orientations).
#
# A similarity means something only next to a **floor**: the same measure between the maps of **two
# fresh random initialisations** of the network. Whatever two unrelated random models share comes from
# the input and the method, not from learning. One pair of initialisations is a noisy floor, so the
# notebook computes one pair live, as a demonstration, and reads the floor of **five disjoint pairs** per
# base seed (11 base seeds, the same films) from `datasets/results/04_randomisation.json`, written by
# `scripts/04_randomisation_sweep.py` (which also runs the one-layer-at-a-time randomisation).
# Methods: gradient, IG (black, 16 steps: a similarity, not a completeness check; the 16-step error is
# in the table of section 3), Grad-CAM (`layer4`), Guided Backprop (Springenberg et al., 2015, *ICLR
# workshop*) and Guided Grad-CAM.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** Adebayo et al.'s sanity checks: randomise the layers from the top down and watch the map, next to
# a floor from pairs of random networks. Guided Backprop barely changes while the top layers are random and
# changes once `bn1` and `conv1` are re-initialised; IG's |map| similarity equals the floor and vanishes
# with the sign (asserted). Data randomisation: the memorising shuffled-label model passes for every
# method, but the positive control (`cxr_control`, true labels) fails only by the gradient and IG — so here
# the test has power only for those two.
#
# **Clinical point:** a test that cannot fail is no test; always run a positive control.
#
# **Expected question:** "So is Grad-CAM bad?" — *Answer:* not necessarily; on these films its random-model
# floor is too wide for the data-randomisation test to say anything about it.

# %% slideshow={"slide_type": "subslide"}
xr = x[4:12]  # eight other films

# %% slideshow={"slide_type": "subslide"}
def maps_for(model):
    gc_map = LayerGradCam(model, model.layer4).attribute(
        xr, target=1, relu_attributions=True
    )
    out = {
        "gradient": Saliency(model).attribute(xr, target=1, abs=False),
        "IG (black)": IntegratedGradients(model).attribute(
            xr,
            target=1,
            n_steps=16,
            method="riemann_middle",
            internal_batch_size=IG_BATCH,
        ),
        "Grad-CAM": LayerAttribution.interpolate(gc_map, (64, 64), "bilinear"),
        "Guided Backprop": GuidedBackprop(model).attribute(xr, target=1),
        "Guided Grad-CAM": GuidedGradCam(model, model.layer4).attribute(xr, target=1),
    }
    return {k: v.detach().numpy()[:, 0] for k, v in out.items()}

# %% slideshow={"slide_type": "subslide"}
def _unit(p):
    p = np.abs(p)
    return p / (p.max() + 1e-12)


def _corr(p, q):
    if p.std() == 0 or q.std() == 0:
        # a constant map (e.g. Grad-CAM all zero) carries no rank or shape information
        return 0.0
    return float(np.corrcoef(p, q)[0, 1])


def _spearman(p, q):
    return (
        0.0
        if p.std() == 0 or q.std() == 0
        else float(spearmanr(p.ravel(), q.ravel())[0])
    )

# %% slideshow={"slide_type": "subslide"}
MEASURES = {
    "Spearman |map|": lambda p, q: _spearman(np.abs(p), np.abs(q)),
    "Spearman signed": _spearman,
    "SSIM": lambda p, q: float(
        structural_similarity(_unit(p), _unit(q), win_size=7, data_range=1.0)
    ),
    "HOG": lambda p, q: _corr(
        *(
            hog(
                _unit(m), orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2)
            )
            for m in (p, q)
        )
    ),
}

# %% slideshow={"slide_type": "subslide"}
def similarity(a, b):
    """{(measure, method): mean over films} for two dicts of maps."""
    return {
        (measure, k): float(
            np.mean([fn(p, q) for p, q in zip(a[k], b[k], strict=True)])
        )
        for measure, fn in MEASURES.items()
        for k in a
    }


original = maps_for(models["cxr_shortcut"])
# every parameterised layer
stages = ["fc", "layer4", "layer3", "layer2", "layer1", "bn1", "conv1"]
params = {n for n, p in models["cxr_shortcut"].named_parameters()}

# %% slideshow={"slide_type": "skip"}
assert {p.split(".")[0] for p in params} == set(stages), (
    "every parameterised layer is in the list"
)

# %% slideshow={"slide_type": "subslide"}
cascade = {}
# a copy: the shipped model stays intact
randomised = copy.deepcopy(models["cxr_shortcut"])
for stage in stages:
    randomise_layer(randomised, stage)  # cascading: earlier stages stay randomised
    cascade[stage] = similarity(original, maps_for(randomised))
cascade = pd.DataFrame(cascade)
fresh = []
for k in (0, 1):  # one pair of fresh initialisations, live
    torch.manual_seed(derived_seed(50 + k))
    fresh.append(maps_for(build_cxr_resnet(DEFAULT_CONFIG).eval()))
floor = pd.Series(similarity(fresh[0], fresh[1]), name="floor: two random inits")
_ = gc.collect()
sweep = json.loads(Path("../datasets/results/04_randomisation.json").read_text())

# %% slideshow={"slide_type": "skip"}
assert str(SEED) in sweep["per_seed"], (
    f"run scripts/04_randomisation_sweep.py for base seed {SEED}"
)

# %% slideshow={"slide_type": "subslide"}
# {measure: {method: {min, median, max, pairs}}}
floors = sweep["per_seed"][str(SEED)]["floor"]
cascade_text = {}  # measure -> its printed table, shown one per slide below
for measure in MEASURES:
    table = cascade.loc[measure].copy()
    table["floor (live pair)"] = floor.loc[measure]
    table["floor, 5 pairs: min"] = pd.Series(
        {k: v["min"] for k, v in floors[measure].items()}
    )
    table["max"] = pd.Series({k: v["max"] for k, v in floors[measure].items()})
    cascade_text[measure] = (
        f"\n{measure}, cascading randomisation (columns: randomised down to ...):\n"
        + table.round(2).to_string()
    )

# %% slideshow={"slide_type": "subslide"}
print(cascade_text["Spearman |map|"])

# %% slideshow={"slide_type": "subslide"}
print(cascade_text["Spearman signed"])

# %% slideshow={"slide_type": "subslide"}
print(cascade_text["SSIM"])

# %% slideshow={"slide_type": "subslide"}
print(cascade_text["HOG"])

# %% slideshow={"slide_type": "subslide"}
independent = pd.DataFrame(
    {st: v["Spearman |map|"] for st, v in sweep["per_seed"]["0"]["independent"].items()}
)
print(
    "\nSpearman |map|, independent randomisation (one layer at a time; base seed 0's "
    "films, from the sweep):"
)
print(independent.round(2).to_string())

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
plot_randomisation(stages, {k: cascade.loc[("Spearman |map|", k)].to_numpy() for k in original})
plt.show()

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
rank, signed = cascade.loc["Spearman |map|"], cascade.loc["Spearman signed"]
# Guided Backprop hardly changes while the top layers are random ...
assert rank.loc["Guided Backprop", "layer4"] > 0.7
assert rank.loc["Guided Backprop", "layer4"] > rank.loc["gradient", "layer4"] + 0.15
# ... and does change once the lowest layers (bn1, conv1) are randomised too, as the paper reports.
assert rank.loc["Guided Backprop", "conv1"] < rank.loc["Guided Backprop", "layer4"] - 0.3
# The gradient, fully randomised, keeps little rank similarity.
assert rank.loc["gradient", "conv1"] < 0.3
# IG (black) keeps a high |map| rank correlation, but no more than two unrelated random models share,
assert abs(rank.loc["IG (black)", "conv1"] - floor.loc[("Spearman |map|", "IG (black)")]) < 0.15
# and nearly none once the sign is kept: the retention is an artefact of absolute values and input structure.
assert signed.loc["IG (black)", "conv1"] < 0.15
print("IG (black), full randomisation: Spearman |map|", round(rank.loc["IG (black)", "conv1"], 2),
      "vs random-model floor", round(floor.loc[("Spearman |map|", "IG (black)")], 2),
      "; signed", round(signed.loc["IG (black)", "conv1"], 2))

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading, and what the paper says.** As in Adebayo et al. (2018), Guided Backprop is almost unchanged
# while `fc` and the upper stages are random — it reconstructs the input's edges rather than reading the
# classifier — and Grad-CAM and the gradient change at once. Also as in the paper's final version, Guided
# Backprop *does* change once the lowest layers are randomised: its similarity falls when `bn1` and
# `conv1` are re-initialised (it is insensitive to the *higher* layers, not to all of them). IG from black
# keeps a high rank correlation of |map| after every layer is random, but that number is the **floor**:
# two fresh random networks share as much, because `(x − 0)` multiplies every map by the film. With the
# sign kept, the similarity drops to about zero. The paper explains the apparent retention of IG and
# gradient ⊙ input the same way — the input structure and the absolute value, not the learned weights.
# Two details of our own: (1) randomising `fc` alone makes the signed gradient and IG maps
# *anti*-correlated with the original (a new last layer can flip the direction that raises the pneumonia
# logit), which |map| hides; (2) on one layer at a time (independent randomisation, base seed 0's films,
# from the sweep file), `bn1` alone moves
# the gradient and Guided Backprop maps most — its re-initialised running statistics rescale every
# feature — so a randomisation list that skips `bn1` misses the layer that matters most here.
# Similarity to the original is not a pass mark by itself: a method has to fall to the floor when the
# model is destroyed, and SSIM and HOG tell the same story at different levels (tables above).

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Data randomisation.** `cxr_shuffled` was trained on the shortcut training films with **permuted
# labels** until it memorised them, as in the paper (its training accuracy on the permuted labels is in
# the manifest). It learned nothing that generalises (chance accuracy on new films). Are its maps
# different from the trained model's? The same four measures, next to the random-model floor — here the
# **largest** value over the 55 pairs of the sweep (5 pairs × 11 base seeds), per method and measure: a
# map "passes" when it is no more similar to the trained model's than some pair of unrelated random
# networks is. A test that cannot fail is no test, so we run it on a **positive control** too:
# `cxr_control`, trained on the *true* labels of its own films, learned the task and must fail.

# %% slideshow={"slide_type": "fragment"}
shuffled_fit = checkpoint_entry("cxr_shuffled")["metrics"]["train_accuracy"]
print(
    f"cxr_shuffled: training accuracy on its permuted labels {shuffled_fit:.3f}; "
    f"accuracy on new test_id films "
    f"{accuracy(models['cxr_shuffled'], splits['test_id']):.3f}"
);

# %% slideshow={"slide_type": "skip"}
assert shuffled_fit > 0.95

# %% slideshow={"slide_type": "subslide"}
# rows: methods, columns: measures
floor_max = pd.DataFrame(sweep["floor_max_over_seeds"])
vs_shuffled = pd.Series(similarity(original, maps_for(models["cxr_shuffled"])))
vs_control = pd.Series(similarity(original, maps_for(models["cxr_control"])))
_ = gc.collect()

# %% slideshow={"slide_type": "subslide"}
shuffled_text = {}  # measure -> its printed table, shown one per slide below
for measure in ("Spearman |map|", "Spearman signed", "SSIM", "HOG"):
    shuffled_text[measure] = f"\n{measure}:\n" + (
        pd.DataFrame(
            {
                "vs cxr_shuffled": vs_shuffled[measure],
                "vs cxr_control (true labels)": vs_control[measure],
                "floor: max of 55 pairs": floor_max[measure],
                "floor: range of this seed's 5 pairs": [
                    f"{floors[measure][k]['min']:.2f} to "
                    f"{floors[measure][k]['max']:.2f}"
                    for k in floor_max.index
                ],
            }
        )
        .round(2)
        .to_string()
    )
passes = vs_shuffled["Spearman |map|"] <= floor_max["Spearman |map|"]
fails_control = vs_control["Spearman |map|"] > floor_max["Spearman |map|"]

# %% slideshow={"slide_type": "subslide"}
print(shuffled_text["Spearman |map|"])

# %% slideshow={"slide_type": "subslide"}
print(shuffled_text["Spearman signed"])

# %% slideshow={"slide_type": "subslide"}
print(shuffled_text["SSIM"])

# %% slideshow={"slide_type": "subslide"}
print(shuffled_text["HOG"])

# %% slideshow={"slide_type": "subslide"}
print(
    "\nSpearman |map| above every random pair -- cxr_shuffled:",
    list(passes.index[~passes]) or "none",
    "; cxr_control:",
    list(fails_control.index[fails_control]),
)

# %% slideshow={"slide_type": "skip"}
assert passes.all()  # the memorising model's maps: within the random-model floor, every method
assert (vs_shuffled["Spearman signed"] <= floor_max["Spearman signed"]).all()  # GBP included, its own floor
# the test can fail: the true-label model fails it by the gradient and IG (black) ...
assert fails_control[["gradient", "IG (black)"]].all()
# ... but not by Grad-CAM, Guided Backprop or Guided Grad-CAM: their floors are too wide to detect anything
assert not fails_control[["Grad-CAM", "Guided Backprop", "Guided Grad-CAM"]].any()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** The permuted-label model fits its training labels (the manifest's training accuracy) and
# is at chance on new films, as in the paper's protocol. For every method its maps are no more similar
# to the trained model's than the maps of some pair of unrelated random networks (|map| and signed
# Spearman at or below the largest of the 55 floor pairs; Guided Backprop against its own signed floor,
# which is high because GBP reconstructs the film's edges whatever the weights). But the floor is wide
# for three methods: one pair of random networks can reach a Spearman |map| of about 0.7–0.85 for
# Grad-CAM and Guided Grad-CAM (an 8 × 8 ReLU map is often nearly constant or all zero on a random
# network — some initialisations give an all-zero Grad-CAM on every film, see the sweep file) and 0.7
# for Guided Backprop. The positive control shows what that costs: `cxr_control`, which learned the task
# from true labels, **fails** the test by the gradient and IG (black) (|map| similarity above every random
# pair) but **passes** it by Grad-CAM, Guided Backprop and Guided Grad-CAM. So on these films the
# data-randomisation test has power only for the gradient and IG; "Grad-CAM passes" carries no
# information here. (Guided Backprop's |map| similarity to `cxr_shuffled`, about 0.05, is even *below*
# its floor, while its signed one is about 0.4. The shuffled model's GBP map is not near-constant: on base
# seed 0's films its sign follows the film (signed Spearman with the image 0.51) but its magnitude is
# largest where the film is dark (|map| vs image −0.25), whereas the shortcut model's |GBP| follows the
# bright structures (+0.45, with 22 % of the pixels exactly 0); so the signs agree and the magnitudes do
# not — measured with a separate script, not in this notebook.) IG (black) again shows a high |map| rank
# correlation that equals its floor and vanishes with the sign. An earlier version
# of this notebook used a permuted-label model trained for 3 epochs, which had *not* memorised its labels;
# it was not the paper's test, and its "IG keeps the imprint" result was the same input-structure floor.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Scorecard: do the maps find the marker better than maps that know no model?
#
# Section 4 compared the two models. The course scorecard (`benchmarks/scorecard.md`) asks a stricter
# question of each method on the shortcut model: does it locate the marker better than a **null**, a map
# that cannot know what the model learned — a random map, the image itself (brightness as a map), a Sobel
# edge map, the same method on the control model, and the same method on an **untrained** network (three
# fresh initialisations for the gradient, Grad-CAM and the guided methods, of which the one that scores
# highest is the null; one for the costlier SmoothGrad and IG)? A map that is zero everywhere (a ReLU
# Grad-CAM of a random network often is) scores AUROC 0.5 and mass ÷ area 1: no concentration. Two
# continuous metrics of |attribution| against the
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

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** The scorecard asks of each method on the shortcut model: does it locate the marker better than
# maps that cannot know the model — random, the film, Sobel, the control model, untrained networks — paired
# over the twelve films? Every method beats the random map, the control model and the untrained network
# (asserted). By pixel AUROC none beats the film itself; by mass ÷ area the raw gradient concentrates less
# than the Sobel map, while IG and the guided methods beat every null.
#
# **Clinical point:** "the map lights up the marker" is not evidence by itself, since a picture of the film
# does so too.
#
# **Expected question:** "Why pair the comparisons?" — *Answer:* both maps are scored on the same films;
# pairing removes the film-to-film spread they share.

# %% slideshow={"slide_type": "subslide"}
blur12 = torch.tensor(gaussian_filter(x.numpy(), sigma=(0, 0, 4, 4)))
for name in maps12:  # the other methods of sections 3 and 5, on the same twelve films
    m = models[name]
    more = {
        "IG (blurred)": IntegratedGradients(m).attribute(
            x,
            baselines=blur12,
            target=1,
            n_steps=32,
            method="riemann_middle",
            internal_batch_size=IG_BATCH,
        ),
        "Guided Backprop": GuidedBackprop(m).attribute(x, target=1),
        "Guided Grad-CAM": GuidedGradCam(m, m.layer4).attribute(x, target=1),
    }
    maps12[name].update({k: v.detach().numpy()[:, 0] for k, v in more.items()})
untrained_maps = []  # the untrained-model null: three fresh initialisations

# %% slideshow={"slide_type": "skip"}
for k in range(3):
    torch.manual_seed(derived_seed(45 + k))
    u = build_cxr_resnet(DEFAULT_CONFIG).eval()
    gc_u = LayerGradCam(u, u.layer4).attribute(x, target=1, relu_attributions=True)
    cheap = {
        "gradient": Saliency(u).attribute(x, target=1, abs=False),
        "Grad-CAM": LayerAttribution.interpolate(gc_u, x.shape[-2:], "bilinear"),
        "Guided Backprop": GuidedBackprop(u).attribute(x, target=1),
        "Guided Grad-CAM": GuidedGradCam(u, u.layer4).attribute(x, target=1),
    }
    if k == 0:  # the costly methods on the first initialisation only
        cheap.update(
            {
                "SmoothGrad": NoiseTunnel(Saliency(u)).attribute(
                    x,
                    target=1,
                    nt_type="smoothgrad",
                    nt_samples=50,
                    nt_samples_batch_size=sg_batch(x),
                    stdevs=0.15,
                    abs=False,
                ),
                "IG (black)": IntegratedGradients(u).attribute(
                    x,
                    target=1,
                    n_steps=32,
                    method="riemann_middle",
                    internal_batch_size=IG_BATCH,
                ),
                "IG (blurred)": IntegratedGradients(u).attribute(
                    x,
                    baselines=blur12,
                    target=1,
                    n_steps=32,
                    method="riemann_middle",
                    internal_batch_size=IG_BATCH,
                ),
            }
        )
        with torch.no_grad():
            gap_u = (u(x)[:, 1] - u(torch.zeros_like(x))[:, 1]).numpy()
        err_u = np.abs(
            cheap["IG (black)"].detach().numpy().sum((1, 2, 3)) - gap_u
        ) / np.abs(gap_u)
        print(
            f"untrained init 0: IG (black), 32 steps, relative completeness error "
            f"median {np.median(err_u):.3f}, "
            f"max {err_u.max():.2f}"
        )
    untrained_maps.append({k2: v.detach().numpy()[:, 0] for k2, v in cheap.items()})

# %% slideshow={"slide_type": "subslide"}
zero_cam = [int((np.abs(m["Grad-CAM"]).sum((1, 2)) == 0).sum()) for m in untrained_maps]
print(
    f"untrained inits: films (of 12) with an all-zero Grad-CAM: {zero_cam} (such a map "
    f"scores AUROC 0.5, "
    "mass ÷ area 1)"
)
_ = gc.collect()


def hardest_untrained(method, fn):
    """Per-film scores of the untrained initialisation whose mean score is highest
    (the hardest null)."""
    per_init = [fn(m[method], marker) for m in untrained_maps if method in m]
    return max(per_init, key=np.mean)

# %% slideshow={"slide_type": "subslide"}
def with_ci(per_film):
    """Mean over the films and its 95 % percentile-bootstrap interval (the same
    resamples for every map)."""
    ci = bootstrap(
        (per_film,),
        np.mean,
        method="percentile",
        rng=np.random.default_rng(derived_seed(42)),
    ).confidence_interval
    return float(per_film.mean()), float(ci.low), float(ci.high)


def two_digits(v):
    return f"{v:.0f}" if v >= 10 else f"{v:.1f}" if v >= 1 else f"{v:.2f}"


def sig2(v):  # a difference of mass ÷ area: two significant digits (signed)
    return f"{v:.0f}" if abs(v) >= 10 else f"{v:#.2g}"

# %% slideshow={"slide_type": "subslide"}
AUROC, MASS = "pixel AUROC", "relevance mass ÷ area"
SHORT = {
    "random map": "random",
    "image intensity": "image",
    "Sobel edge magnitude": "Sobel",
    "same method, control model": "control model",
    "same method, untrained model": "untrained",
}
card = {}  # (metric, method) -> the nulls it does not beat
card_text = {}  # metric -> the lines it prints, shown one table per slide below

# %% slideshow={"slide_type": "skip"}
for metric, fn, fmt, dfmt in (
    (AUROC, pixel_auroc, "{:.3f}".format, "{:.3f}".format),
    (MASS, mass_per_area, two_digits, sig2),
):

    def show(v, fmt=fmt):
        return f"{fmt(v[0])} [{fmt(v[1])}, {fmt(v[2])}]"

    per_null = {k: fn(v, marker) for k, v in nulls12.items()}  # per film
    out = card_text[metric] = []
    out.append(
        f"{metric} of |attribution| vs the marker mask, mean [95 % CI] over the 12 "
        f"films"
    )
    for k, v in per_null.items():
        out.append(f"  null: {k:25s} {show(with_ci(v))}")
    table = {}
    for method, a in maps12["cxr_shortcut"].items():
        per_film = fn(a, marker)
        score, lo, hi = with_ci(per_film)
        films_of = {
            **per_null,
            "same method, control model": fn(maps12["cxr_control"][method], marker),
            "same method, untrained model": hardest_untrained(method, fn),
        }
        # paired: the same 12 films
        nulls = {
            k: {
                "score": float(v.mean()),
                "interval": with_ci(v)[1:],
                "paired": paired_difference(per_film, v, seed=derived_seed(43)),
            }
            for k, v in films_of.items()
        }
        row = dict(
            module="04",
            method=method,
            data="synthetic radiographs, shortcut model",
            truth="marker mask",
            metric=f"{metric}, absolute attribution (mean of 12 films)",
            score=score,
            interval=(lo, hi),
            baselines=nulls,
        )
        built = make_row(**row)
        card[metric, method] = missed = [
            b.name for b in built.baselines if not built.beats(b)
        ]
        record(
            **row, note=f"{metric}: does not beat {', '.join(missed)}" if missed else ""
        )
        table[method] = {
            "score [95 % CI]": show((score, lo, hi)),
            "control model": fmt(nulls["same method, control model"]["score"]),
            **{
                f"Δ {SHORT[b.name]}": f"{dfmt(score - b.score)} "
                f"[{dfmt(b.diff_low)}, {dfmt(b.diff_high)}]"
                for b in built.baselines
            },
            "not beaten": ", ".join(SHORT[k] for k in missed) or "-",
        }
    out.append(
        "  per method: score, the same method on the control model, and method − null "
        "on the same films:"
    )
    out.append(
        "  mean Δ [95 % paired CI]; 'not beaten': the nulls whose Δ interval does not "
        "exclude 0"
    )
    out.append(pd.DataFrame(table).T.to_string())

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
print(*card_text[AUROC], sep="\n")

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
print(*card_text[MASS], sep="\n")

# %% slideshow={"slide_type": "skip"}
for missed in card.values():  # every map beats the random map and the same method on the control model
    assert "random map" not in missed and "same method, control model" not in missed, missed
assert all("image intensity" in card[AUROC, m] for m in maps12["cxr_shortcut"]), "brightness ranks it 1st"
for missed in card.values():  # ... and the same method on an untrained network
    assert "same method, untrained model" not in missed, missed
assert "Sobel edge magnitude" in card[MASS, "gradient"]  # the raw gradient concentrates less than Sobel
assert not any(card[MASS, m] for m in ("IG (black)", "IG (blurred)", "Guided Backprop", "Guided Grad-CAM"))

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** Every method beats the random map, the same method on an **untrained** network (for the
# gradient, Grad-CAM and the guided methods, the highest-scoring of three initialisations) and, by far,
# the same method on the control model: on the same films, the shortcut model's maps single out the
# marker and the other models' maps do not. Against the model-free maps the picture is humbler. By
# **pixel AUROC no map beats the film itself**: the marker is the brightest object on the film, so
# brightness alone ranks it first (AUROC 1), and every method's paired Δ to it is negative. The
# gradient, SmoothGrad and Grad-CAM do not beat the Sobel map by AUROC either (their Δ intervals contain
# 0 on this draw). By **mass ÷ area** the raw gradient concentrates on the marker *less* than the Sobel
# map (Δ interval below 0) and SmoothGrad (50 samples) is level with it; Grad-CAM's paired Δ to Sobel is
# small and its verdict changes between fresh draws (see the seed column of `benchmarks/scorecard.md`);
# IG from either baseline and the guided methods beat every null by mass. Note the control model's IG
# (blurred): about 3 times the marker's area on a model that ignores it — the blurred baseline favours
# sharp details whatever the model. Conclusion: "the map lights up the marker" is no evidence by itself,
# since a map of the film does so too; the evidence is the contrast with a model that does not use the
# marker (and the shifted-site accuracy drop of section 1).


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. ECGs: does the long-QT model look at the QT interval?
#
# IG on the ECG CNN for records it calls long QT correctly. The generator gives every beat's fiducials,
# so we compare the attribution per sample inside the **QT window** (QRS onset → T end: depolarisation
# *and* repolarisation, the interval a cardiologist measures) with the **rest of the cycle** (T end →
# next QRS onset). Dividing by the window length matches the lengths. Two questions make this a test
# rather than an illustration:
#
# 1. **Null:** does an *untrained* network of the same architecture (five fresh initialisations) give
#    the same ratio? Then the ratio describes the signal, not what the model learned.
# 2. **Baseline:** the zero baseline (a flat trace; the model centres each lead) asks "why this trace
#    rather than no ECG". The clinical question is "why long QT rather than a normal QT in *this*
#    patient". The generator answers it exactly: `make_ecgs(n, seed, qtc=410)` redraws the same records
#    (same rhythm, morphology, noise and wander draws, which come from separate random streams) with a
#    normal QTc of 410 ms; only the repolarisation moves. IG from that counterfactual adds up to the
#    logit change that the QT prolongation alone causes.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** On ECGs, IG from a flat trace puts more attribution per sample in the QT window — but so do five
# untrained networks: `(x − 0)` paints the waves whatever the weights. The counterfactual baseline (the same
# record with QTc 410 ms) asks the clinical question; in units of each network's own logit SD, the trained
# gain is about 2–3 SD and the untrained ones well under 1 (paired interval above 0, asserted).
#
# **Clinical point:** with a counterfactual baseline the map's location is fixed by construction (only the
# T wave moves); what carries evidence is its total and sign.
#
# **Expected question:** "Does this prove the model measures the QT interval?" — *Answer:* no; it shows the
# score is sensitive to the QT prolongation in this patient, not that the model measures an interval.

# %% slideshow={"slide_type": "subslide"}
ecg_model = load_ecg_cnn()
ecgs = make_ecgs(64, seed=derived_seed(11))
# the same records with a normal QTc
normal = make_ecgs(64, seed=derived_seed(11), qtc=410.0)
signals, signals_cf = torch.tensor(ecgs.signals), torch.tensor(normal.signals)
p_lqt = ecg_model.predict_proba(signals).numpy()
chosen = np.flatnonzero((p_lqt > 0.5) & (ecgs.labels["long_qt"].to_numpy() == 1))[:8]

# %% slideshow={"slide_type": "skip"}
# same beats: every QRS of the record is in its counterfactual (the long-QT record can
# lose a last beat
# whose T wave runs past the end of the record, so the counterfactual may list one beat
# more)
assert all(np.isin(ecgs.beats(i).qrs_on, normal.beats(i).qrs_on).all() for i in chosen)

# %% slideshow={"slide_type": "subslide"}
untrained_ecg = []
for k in range(5):
    torch.manual_seed(derived_seed(60 + k))
    untrained_ecg.append(build_ecg_cnn(checkpoint_entry("ecg_cnn")["config"]).eval())


def ig_ecg(net, baseline):
    return (
        IntegratedGradients(net)
        .attribute(
            signals[chosen],
            baselines=baseline,
            target=1,
            n_steps=32,
            method="riemann_middle",
            internal_batch_size=IG_BATCH,
        )
        .detach()
        .numpy()[:, 0]
    )

# %% slideshow={"slide_type": "subslide"}
def qt_ratio(a, beats):
    """|IG| per sample in QRS onset -> T end, divided by |IG| per sample in T end ->
    next QRS onset."""
    qt, rest = np.zeros(a.shape, bool), np.zeros(a.shape, bool)
    for k in range(len(beats)):
        qt[beats.qrs_on[k] : beats.t_end[k]] = True
        if k + 1 < len(beats):
            rest[beats.t_end[k] : beats.qrs_on[k + 1]] = True
    return np.abs(a)[qt].mean() / np.abs(a)[rest].mean()


zero = torch.zeros_like(signals[chosen])
nets = {
    "trained": ecg_model,
    **{f"untrained {k}": n for k, n in enumerate(untrained_ecg)},
}

# %% slideshow={"slide_type": "subslide"}
ratios = {
    name: [
        qt_ratio(a, ecgs.beats(i))
        for a, i in zip(ig_ecg(net, zero), chosen, strict=True)
    ]
    for name, net in nets.items()
}
ratios = pd.DataFrame(ratios, index=chosen)
log_untrained = np.log(ratios.drop(columns="trained")).mean(axis=1)
log_gap = np.log(ratios["trained"]) - log_untrained
lo, hi = paired_difference(
    np.log(ratios["trained"]), log_untrained, seed=derived_seed(12)
)
print("QT-window / rest |IG| per sample, zero baseline (rows: records):")
print(ratios.round(2).to_string())
print(
    f"trained vs mean of 5 untrained, log ratio: Δ {log_gap.mean():.2f}, "
    f"95 % paired CI [{lo:.2f}, {hi:.2f}]"
)

# %% slideshow={"slide_type": "skip"}
assert (ratios > 1).all().all()  # the QT window is "bright" for trained AND untrained networks

# %% slideshow={"slide_type": "subslide"}
cf = signals_cf[chosen]
ig_cf = ig_ecg(ecg_model, cf)
gain, logit_sd = {}, {}
with torch.no_grad():
    for name, net in nets.items():
        gain[name] = (net(signals[chosen])[:, 1] - net(cf)[:, 1]).numpy()
        # the net's own logit spread over the 64 records
        logit_sd[name] = net(signals)[:, 1].std().item()
gain, logit_sd = pd.DataFrame(gain, index=chosen), pd.Series(logit_sd)
completeness_cf = (
    np.abs(ig_cf.sum(1) - gain["trained"].to_numpy()).max()
    / np.abs(gain["trained"]).min()
)
# standardised: the gain in units of the net's own logit SD (scale-free)
z_gain = gain / logit_sd
untrained_z = z_gain.drop(columns="trained").abs().mean(axis=1)
glo, ghi = paired_difference(
    z_gain["trained"].to_numpy(), untrained_z.to_numpy(), seed=derived_seed(13)
)

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
print(
    "long-QT logit, record minus its normal-QTc counterfactual (= sum of IG from the "
    "counterfactual):"
)
print(gain.round(4).to_string())
print("each net's long-QT logit SD over the 64 records:", logit_sd.round(4).to_dict())
print(
    "standardised gain (gain ÷ logit SD), mean over records:",
    z_gain.mean().round(2).to_dict(),
)
print(
    f"trained minus mean |untrained| standardised gain: "
    f"{(z_gain['trained'] - untrained_z).mean():.2f}, "
    f"95 % paired CI [{glo:.2f}, {ghi:.2f}]; IG completeness error "
    f"{completeness_cf:.1%}"
)

# %% slideshow={"slide_type": "skip"}
assert glo > 0 and completeness_cf < 0.05

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
i0, b0, b0n = chosen[0], ecgs.beats(chosen[0]), normal.beats(chosen[0])
t = ecgs.time
fig, ax = plt.subplots(figsize=(7, 2.6))
ax.plot(t, ecgs.signals[i0, 0], color="k", lw=0.8, label="ECG (mV)")
ax.plot(t, normal.signals[i0, 0], color="0.6", lw=0.6, label="same record, QTc 410 ms")
scale = np.quantile(np.abs(ig_cf[0]), 0.99) + 1e-12
ax.fill_between(t, 0, np.clip(ig_cf[0] / scale, -1, 1), color="#D55E00", alpha=0.5,
                label="IG from the counterfactual (to its 99th centile)")
for on, off in zip(b0.qrs_on, b0.t_end, strict=True):
    ax.axvspan(on / ecgs.fs, off / ecgs.fs, color="#56B4E9", alpha=0.15)
ax.set(xlim=(0, 5), xlabel="time (s)", ylabel="lead II (mV); IG scaled to ±1",
       title="shaded: QRS onset to T end (the QT interval)")
ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=3, frameon=False)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** With the zero baseline, the QT window gets more |IG| per sample than the rest of the
# cycle — but so it does for untrained networks: the QRS and T waves are where the trace is far from 0,
# and `(x − 0)` paints them whatever the weights. The table above gives the trained-vs-untrained gap on
# the log ratio with its paired interval; we do not assert that the trained model "reads the QT" from
# this ratio. The counterfactual baseline asks the clinical question and separates the models: for the
# trained network, moving this patient's QTc from 410 ms to its true value raises the long-QT logit
# (the sum of IG, complete to the error printed). The raw gains of trained and untrained networks cannot be
# compared directly: an untrained network's logit hardly moves with *any* input (its SD over 64 records is
# about 0.001), so a raw comparison measures units, not learning. In units of each network's own logit
# SD, the trained network's gain is about 2–3 SD, the untrained ones' well under 1 (paired interval of the
# difference above 0). Where that attribution lies is fixed by construction — `x − x'` is non-zero
# only where the two records differ, around the T wave — so the map's location is not evidence; its
# total and sign are. IG tells us where the score is sensitive, not that the model measures an interval.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 8. How robust are the explanations?
#
# Two numbers from Yeh et al. (2019, *NeurIPS*), in `captum.metrics`: **infidelity** — the mean squared
# error between `Σ attribution · I` and the output change `f(x) − f(x − I)` under random perturbations
# `I ~ N(0, 0.02²)` per pixel (lower is better); with `normalize=True` the attributions are first rescaled
# per film by the least-squares factor β = E[Σa·I · Δf] / E[(Σa·I)²] (Captum 0.9), so that a map is not
# penalised for its units — and **max-sensitivity** — the largest relative change of the map when the
# input moves within a ball of radius 0.02 (lower is more stable). Because β is a least-squares fit, no
# map can score worse than the all-zero map (β = 0), whose infidelity is E[Δf²]: the zero map is the
# **ceiling**, not a null one can lose to. We therefore report `R² = 1 − infidelity / E[Δf²]` (the share
# of the output change the map predicts; 0 = nothing) and compare with the null that matters, a
# **random** map (uniform noise), per film and paired. Infidelity: the twelve films and maps of
# section 4 (shortcut model; IG at 32 steps), 64 perturbations per film, drawn once and shared by every
# map; we evaluate Captum's normalised-infidelity formula directly on them, so the network runs once per
# perturbation rather than once per perturbation and map. (With 16 perturbations the fitted β overfits:
# on base seed 1 a random map then scored as high an R² as the gradient.) Max-sensitivity: two films,
# `captum.metrics.sensitivity_max`, fixed seeds.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** Infidelity and max-sensitivity (Yeh et al., 2019). Because Captum's normalised infidelity fits a
# scale factor, the all-zero map is a ceiling, so we report an R² against a random map, paired. The plain
# gradient beats the random map (asserted), with small R² values; Guided Backprop is the most stable map
# (asserted) — the same property that made it fail the randomisation test. SmoothGrad's sensitivity is
# close to its own Monte-Carlo noise.
#
# **Clinical point:** stability is not correctness: a stable map can still be blind to the model.
#
# **Expected question:** "Why does the gradient win infidelity?" — *Answer:* with small Gaussian noise the
# output change is nearly linear, and the gradient is exactly that linear term.

# %% slideshow={"slide_type": "fragment"}
xq = x[:2]

# %% slideshow={"slide_type": "subslide"}
methods = {
    "gradient": lambda inp, target: Saliency(model).attribute(
        inp, target=target, abs=False
    ),
    "SmoothGrad": lambda inp, target: NoiseTunnel(Saliency(model)).attribute(
        inp,
        target=target,
        nt_type="smoothgrad",
        nt_samples=50,
        nt_samples_batch_size=sg_batch(inp),
        stdevs=0.15,
        abs=False,
    ),
    "IG (black)": lambda inp, target: IntegratedGradients(model).attribute(
        inp,
        target=target,
        n_steps=32,
        method="riemann_middle",
        internal_batch_size=IG_BATCH,
    ),
    "Guided Backprop": lambda inp, target: GuidedBackprop(model).attribute(
        inp, target=target
    ),
}

# %% slideshow={"slide_type": "subslide"}
# with 16, a random map's fitted R² is often as high as the gradient's (beta overfits)
N_PERTURB = 64
noise = 0.02 * torch.randn(
    (N_PERTURB, *x.shape), generator=torch.Generator().manual_seed(derived_seed(20))
)
with torch.no_grad():  # f(x) - f(x - I): computed once, shared by every explanation
    delta_f = torch.stack(
        [model(x)[:, 1] - model(x - noise[k])[:, 1] for k in range(N_PERTURB)]
    ).numpy()
noise_np = noise.numpy()[:, :, 0]  # (perturbation, film, H, W)

# %% slideshow={"slide_type": "subslide"}
def infid(a):
    """Captum's infidelity with normalize=True (captum 0.9, metrics/_core/infidelity.py), per film:
    E[(beta * sum(a * I) - delta_f)²] with the least-squares beta = E[sum(a*I) * delta_f] / E[sum(a*I)²]."""
    a_dot_i = (np.asarray(a)[None] * noise_np).sum((2, 3))  # (perturbation, film)
    denom = (a_dot_i**2).mean(0)
    beta = np.divide(
        (a_dot_i * delta_f).mean(0), denom, out=np.zeros_like(denom), where=denom > 0
    )
    return ((beta * a_dot_i - delta_f) ** 2).mean(0)


# the all-zero map: beta = 0, infidelity = E[Δf²] per film
ceiling = infid(np.zeros(films.shape))
r2 = {name: 1 - infid(maps12["cxr_shortcut"][name]) / ceiling for name in methods}
r2["null: random map"] = (
    1 - infid(np.random.default_rng(derived_seed(23)).random(films.shape)) / ceiling
)
robust = {}

# %% slideshow={"slide_type": "subslide"}
for name, fn in methods.items():
    torch.manual_seed(derived_seed(22))
    sens = (
        sensitivity_max(fn, xq, target=1, perturb_radius=0.02, n_perturb_samples=4)
        .mean()
        .item()
    )
    lo_r, hi_r = paired_difference(
        r2[name], r2["null: random map"], seed=derived_seed(24)
    )
    robust[name] = {
        "infidelity R²": r2[name].mean(),
        "Δ vs random map [95 % paired CI]": f"{(r2[name] - r2['null: random map']).mean():.3f} [{lo_r:.3f}, {hi_r:.3f}]",
        "max-sensitivity": sens,
    }
robust["null: random map"] = {
    "infidelity R²": r2["null: random map"].mean(),
    "max-sensitivity": np.nan,
}
robust = pd.DataFrame(robust).T

# %% slideshow={"slide_type": "subslide"}
print(robust.to_string(float_format=lambda v: f"{v:.4f}"))
_ = gc.collect()

# %% slideshow={"slide_type": "subslide"}
# Why was SmoothGrad unstable with few samples? Run it twice on the SAME films: its own
# Monte-Carlo noise.
torch.manual_seed(derived_seed(1))
# section 3's map of these films, and a rerun
sg1, sg2 = maps4["SmoothGrad"][:2], methods["SmoothGrad"](xq, 1)
self_noise = (
    ((sg1 - sg2).flatten(1).norm(dim=1) / sg1.flatten(1).norm(dim=1)).mean().item()
)
print(
    f"SmoothGrad (50 samples) vs itself on the same input: {self_noise:.3f}; its "
    f"max-sensitivity "
    f"{robust.loc['SmoothGrad', 'max-sensitivity']:.3f}"
)
lo_g, _ = paired_difference(
    r2["gradient"], r2["null: random map"], seed=derived_seed(24)
)

# %% slideshow={"slide_type": "skip"}
assert lo_g > 0  # the gradient predicts the output change better than a random map (paired, 12 films)
assert robust["max-sensitivity"].idxmin() == "Guided Backprop"
assert self_noise > 0.8 * robust.loc["SmoothGrad", "max-sensitivity"]

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** Infidelity as an R², against the random map on the same twelve films: the plain gradient
# predicts more of the output change than a random map does (paired interval above 0 — asserted; it held
# on every base seed we ran, 0–5, 7 and 9). The other maps' intervals are printed; we assert nothing about
# them. Every R² is small (the gradient's about 0.05–0.15 across those seeds): a sum of 4 096 pixel
# attributions times independent noise predicts little of how a ReLU network's logit moves. Even the
# random map gets an R² above 0, because β is fitted to each film. The all-zero map is not a null here:
# its R² is 0 by construction and no map can score below it. What the measure rewards: with small
# Gaussian perturbations (σ = 0.02), `f(x) − f(x − I)` is almost linear in `I`, and the local gradient is
# exactly that linear term — so infidelity at this noise level measures "how gradient-like", not "how
# correct". Guided Backprop is the most *stable* map (lowest max-sensitivity) — the same property that
# made it fail the randomisation test: it follows the input, not the model. Yeh et al. showed that
# smoothing lowers sensitivity; here SmoothGrad's max-sensitivity is still close to its own Monte-Carlo
# noise even with 50 samples (two runs on the *same* films differ almost as much as runs on perturbed
# films), so the metric mostly measures the sampling. Stability is not correctness: a stable map can
# still be blind to the model.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Take-aways
#
# - Score a map next to maps that know no model: the film itself wins the marker pointing game, and a
#   Sobel edge map rivals gradient maps on marker mass. The evidence of the shortcut is the paired
#   contrast with a model that cannot use the marker (and the shifted-site accuracy drop).
# - Plain gradients describe the model at one point (gradient × input misses about a third of the logit
#   change here); Integrated Gradients is complete — check it, with enough steps — and its answer depends
#   on the baseline.
# - Run the sanity checks with every parameterised layer (including `bn1`) and a random-model floor
#   built from several pairs of initialisations (one pair is noise): Guided Backprop ignores the top
#   layers but not the lowest ones, as Adebayo et al. (2018) report; IG's |map| similarity after
#   randomisation is the floor that the input imposes, and vanishes with sign. Check that a test can
#   fail: the data-randomisation test rejects a true-label model by the gradient and IG, but not by
#   Grad-CAM or the guided methods, whose random-model floor is too wide here.
# - Infidelity's all-zero map is a ceiling no map can exceed; the null is a random map, which the plain
#   gradient beats (small-noise infidelity rewards the local linear term), with R² of only 0.05–0.15.
# - On ECGs, the zero-baseline "IG sits in the QT window" holds for untrained networks too; the
#   counterfactual baseline (the same patient with a normal QTc) separates the trained model, once the
#   gain is put in each network's own logit units.
#
# **Lab:** implement gradients and IG from scratch, Grad-CAM with hooks, cascading randomisation, and the
# mask-based scores.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** Score maps next to maps that know no model; gradients are local, IG is complete and depends on
# its baseline; run the sanity checks with every layer, a random-model floor and a positive control;
# infidelity needs the right null; on ECGs the counterfactual baseline separates the trained model.
#
# **Clinical point:** the shortcut was proven by the paired contrast with a model that cannot use the
# marker and by the shifted-site accuracy drop, not by any single map.
#
# **Expected question:** "What should a vendor show us?" — *Answer:* shifted-site performance and maps
# compared with a control model and with model-free nulls, not a gallery of heat maps.
