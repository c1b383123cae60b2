# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 04 · Gradient explanations, built by hand and sanity-checked
#
# In the lecture Captum computed the maps. Here you write the core of four tools yourself, so that you
# know exactly what a saliency map is — and what it is not:
#
# 1. Integrated Gradients from scratch (a Riemann sum of gradients),
# 2. Grad-CAM with forward and backward hooks,
# 3. the cascading model-randomisation test of Adebayo et al. (2018),
# 4. scores of a map against a ground-truth mask (positive-attribution share and pointing game).
#
# Each exercise is followed by a check cell, which runs your function on a tiny network it builds itself
# and prints a ✔ line, or tells you what to fix. Replace each `raise NotImplementedError(...)` with your
# code. At the end you apply your functions to the shipped radiograph model.

# %%
import copy

import numpy as np
import pandas as pd
import torch
from scipy.stats import spearmanr

from xaihealth.checks.gradients import (
    check_cascading_randomisation,
    check_grad_cam,
    check_integrated_gradients,
    check_mask_scores,
    randomise_layer,
)
from xaihealth.data.cxr import make_chest_xrays
from xaihealth.models.cxr_resnet import load_cxr_resnet
from xaihealth.notebook import derived_seed, setup

SEED = setup(seed=0)
model = load_cxr_resnet("cxr_shortcut")
data = make_chest_xrays(64, seed=derived_seed(5), marker_correlation=0.0)
pick = np.flatnonzero((data.labels == 1) & (data.has_marker == 1))[:4]
x = torch.tensor(data.images[pick])
print(f"{len(x)} pneumonia radiographs that carry the marker")


# %% [markdown]
# ## Exercise 1 — Integrated Gradients from scratch
#
# Write `integrated_gradients(model, x, baseline, target, n_steps)` for a batch `x` of shape
# `(n, 1, H, W)` and a baseline of the same shape. Use the **midpoint Riemann sum**:
#
# `IG(x) = (x − baseline) · (1 / n_steps) · Σ_k ∂f_target/∂x (baseline + α_k (x − baseline))`,
# with `α_k = (k + 0.5) / n_steps`, `k = 0 … n_steps − 1`, where `f_target` is the logit of class `target`.
#
# *Hint:* for each α, build the point, `detach().requires_grad_(True)`, call
# `model(point)[:, target].sum().backward()` and read `point.grad` (summing over the batch is fine: each
# image's logit depends only on that image).

# %%
def integrated_gradients(model, x, baseline, target, n_steps):
    ### BEGIN SOLUTION
    total = torch.zeros_like(x)
    for k in range(n_steps):
        alpha = (k + 0.5) / n_steps
        point = (baseline + alpha * (x - baseline)).detach().requires_grad_(True)
        model(point)[:, target].sum().backward()
        total += point.grad
    return (x - baseline) * total / n_steps
    ### END SOLUTION


# %%
check_integrated_gradients(integrated_gradients)


# %% [markdown]
# ## Exercise 2 — Grad-CAM with hooks
#
# Write `grad_cam(model, layer, x, target)` returning one map per image **at the layer's resolution**,
# shape `(n, h, w)` (Selvaraju et al., 2017):
#
# 1. register a forward hook on `layer` that keeps its output `A` (shape `(n, c, h, w)`) and registers a
#    tensor hook on it to keep the gradient `∂f_target/∂A`;
# 2. run the model and back-propagate the target logit;
# 3. weight each channel by the mean of its gradient over the spatial positions, sum over channels, ReLU;
# 4. remove the hook.

# %%
def grad_cam(model, layer, x, target):
    ### BEGIN SOLUTION
    store = {}

    def keep(module, inputs, output):
        store["act"] = output
        output.register_hook(lambda grad: store.__setitem__("grad", grad))

    handle = layer.register_forward_hook(keep)
    try:
        model(x)[:, target].sum().backward()
    finally:
        handle.remove()
    weights = store["grad"].mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * store["act"]).sum(dim=1)).detach()
    ### END SOLUTION


# %%
check_grad_cam(grad_cam)


# %% [markdown]
# ## Exercise 3 — Cascading model randomisation
#
# Write `cascading_randomisation(model, layers, explain, x)`. `layers` lists layer names **from input to
# output**; `explain(model, x)` returns signed maps as a numpy array `(n, H, W)`. Return a pandas Series
# indexed by layer name, in the order you randomised them, whose values are the mean over images of the
# Spearman rank correlation between the **absolute values** of the original map and of the map after
# randomisation. Randomise **from the output down**, cumulatively (cascading), on a copy of the model:
# never change the trained model. Use `randomise_layer(model_copy, name)` to re-initialise a layer.

# %%
def cascading_randomisation(model, layers, explain, x):
    ### BEGIN SOLUTION
    original = np.abs(explain(model, x))
    randomised = copy.deepcopy(model)
    out = {}
    for name in reversed(list(layers)):
        randomise_layer(randomised, name)
        new = np.abs(explain(randomised, x))
        out[name] = np.mean([spearmanr(a.ravel(), b.ravel())[0] for a, b in zip(original, new, strict=True)])
    return pd.Series(out)
    ### END SOLUTION


# %%
check_cascading_randomisation(cascading_randomisation)


# %% [markdown]
# ## Exercise 4 — Scoring a map against a mask
#
# Write `mask_scores(attributions, masks)` for arrays of shape `(n, H, W)` (attributions may be negative;
# masks are boolean). Return a dict with
# - `"share"`: for each image, the **positive** attribution inside the mask divided by all positive
#   attribution in the image (negative values count as 0),
# - `"hit"`: for each image, whether the pixel with the **highest** attribution lies in the mask (the
#   pointing game).

# %%
def mask_scores(attributions, masks):
    ### BEGIN SOLUTION
    positive = np.clip(attributions, 0, None)
    share = (positive * masks).sum(axis=(1, 2)) / positive.sum(axis=(1, 2))
    peak = attributions.reshape(len(attributions), -1).argmax(axis=1)
    hit = masks.reshape(len(masks), -1)[np.arange(len(masks)), peak]
    return {"share": share, "hit": hit}
    ### END SOLUTION


# %%
check_mask_scores(mask_scores)

# %% [markdown]
# ## Put it together on the radiograph model
#
# Your IG (16 steps, black baseline) and your Grad-CAM (on `layer4`, upsampled to 64 × 64), scored
# against the lesion and marker masks of four pneumonia films on the shortcut model; then your cascading
# randomisation of the plain gradient. Compare with the lecture.

# %%
ig_maps = integrated_gradients(model, x, torch.zeros_like(x), 1, 16)[:, 0].detach().numpy()
cam = grad_cam(model, model.layer4, x, 1)[:, None]
cam_maps = torch.nn.functional.interpolate(cam, size=(64, 64), mode="bilinear")[:, 0].numpy()
lesion, marker = data.lesion_masks[pick], data.marker_masks[pick]
table = pd.DataFrame({
    name: {"lesion share": mask_scores(a, lesion)["share"].mean(),
           "marker share": mask_scores(a, marker)["share"].mean(),
           "points at marker": mask_scores(a, marker)["hit"].mean()}
    for name, a in {"IG (yours)": ig_maps, "Grad-CAM (yours)": cam_maps}.items()
}).T
print(table.round(3).to_string())


def gradient_maps(m, inputs):
    inputs = inputs.clone().requires_grad_(True)
    m(inputs)[:, 1].sum().backward()
    return inputs.grad[:, 0].numpy()


similarity = cascading_randomisation(model, ["conv1", "layer1", "layer2", "layer3", "layer4", "fc"],
                                     gradient_maps, x)
print(similarity.round(3).to_string())

# %% [markdown]
# **Questions to discuss.** Does your IG give the marker a larger share than the lesion on this model?
# Why does Grad-CAM's peak land on the marker less often than IG's (think of its 8 × 8 resolution)? At
# which randomised layer does the gradient map lose most of its similarity?
