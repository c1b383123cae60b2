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
# 4. scores of a map against a ground-truth mask (positive-attribution share and pointing game),
# 5. a choice of IG baseline, defended with a measurement,
# 6. every parameterised layer of the network, for the randomisation tests (model and data),
# 7. a choice of Grad-CAM layer.
#
# Exercises 5–7 ask for judgement: you measure, then write a short answer. The checker of a written
# answer sees only that it is complete (sentences that touch each topic); a person marks it with the
# rubric given in the solution.
#
# Each exercise is followed by a check cell, which runs your function on a tiny network it builds itself
# and prints a ✔ line, or tells you what to fix. Replace each `raise NotImplementedError(...)` with your
# code. At the end you apply your functions to the shipped radiograph model.

# %%
import copy

import numpy as np
import pandas as pd
import torch
from scipy.ndimage import gaussian_filter
from scipy.stats import spearmanr

from xaihealth.checks.gradients import (
    check_answer_5,
    check_answer_6,
    check_answer_7,
    check_cascading_randomisation,
    check_grad_cam,
    check_integrated_gradients,
    check_mask_scores,
    check_parameterised_layers,
    randomise_layer,
)
from xaihealth.data.cxr import make_chest_xrays
from xaihealth.models.cxr_resnet import build_cxr_resnet, load_cxr_resnet
from xaihealth.notebook import derived_seed, setup

SEED = setup(seed=0)
model = load_cxr_resnet("cxr_shortcut")
data = make_chest_xrays(64, seed=derived_seed(5), marker_correlation=0.0)
pick = np.flatnonzero((data.labels == 1) & (data.has_marker == 1))[:4]
x = torch.tensor(data.images[pick])
print(f"{len(x)} pneumonia radiographs that carry the marker")


# %% [markdown]
# ## Exercise 1 — Integrated Gradients from scratch (5 points)
#
# Write `integrated_gradients(model, x, baseline, target, n_steps)` for a batch `x` of shape
# `(n, 1, H, W)` and a baseline of the same shape. Use the **midpoint Riemann sum**:
#
# `IG(x) = (x − baseline) · (1 / n_steps) · Σ_k ∂f_target/∂x (baseline + α_k (x − baseline))`,
# with `α_k = (k + 0.5) / n_steps`, `k = 0 … n_steps − 1`, where `f_target` is the logit of class `target`.
#
# *Hint:* for each α, build the point, `detach().requires_grad_(True)`, call
# `model(point)[:, target].sum().backward()` and read `point.grad` (summing over the batch is fine: each
# image's logit depends only on that image). The checker compares with Captum, but switches Captum's
# `IntegratedGradients` off while it runs your function: write the sum yourself.

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
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.gradients import hidden_check_integrated_gradients
hidden_check_integrated_gradients(integrated_gradients)
### END HIDDEN TESTS


# %% [markdown]
# ## Exercise 2 — Grad-CAM with hooks (5 points)
#
# Write `grad_cam(model, layer, x, target)` returning one map per image **at the layer's resolution**,
# shape `(n, h, w)` (Selvaraju et al., 2017). Captum's layer methods (`LayerGradCam`, `LayerActivation`,
# ...) are switched off while the checker runs your function, and it checks that you hooked `layer`:
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
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.gradients import hidden_check_grad_cam
hidden_check_grad_cam(grad_cam)
### END HIDDEN TESTS


# %% [markdown]
# ## Exercise 3 — Cascading model randomisation (5 points)
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
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.gradients import hidden_check_cascading_randomisation
hidden_check_cascading_randomisation(cascading_randomisation)
### END HIDDEN TESTS


# %% [markdown]
# ## Exercise 4 — Scoring a map against a mask (5 points)
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
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.gradients import hidden_check_mask_scores
hidden_check_mask_scores(mask_scores)
### END HIDDEN TESTS

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


similarity = cascading_randomisation(model, ["conv1", "bn1", "layer1", "layer2", "layer3", "layer4", "fc"],
                                     gradient_maps, x)
print(similarity.round(3).to_string())

# %% [markdown]
# ## Exercise 5 — choose an IG baseline
#
# Defend your choice with a measurement.
# Compute your IG (64 steps, target 1) on the four films from three baselines: **black** (zeros), the
# film **blurred** (`gaussian_filter(x, sigma=(0, 0, 4, 4))`) and a **uniform grey** at the film's mean
# intensity. For each, measure (a) the completeness error `|Σ IG − (f(x) − f(x'))| / |f(x) − f(x')|` and
# the logit gap `f(x) − f(x')` it explains, (b) the marker and lesion shares (your `mask_scores`). Then
# say which baseline you would use to ask "does this model use the marker?", and why, citing your numbers.
# Write 60 words or more as `answer_5 = """..."""`.

# %%
### BEGIN SOLUTION
with torch.no_grad():
    f_x = model(x)[:, 1]
baselines = {"black": torch.zeros_like(x),
             "blurred": torch.tensor(gaussian_filter(x.numpy(), sigma=(0, 0, 4, 4))),
             "grey": torch.ones_like(x) * x.mean(dim=(1, 2, 3), keepdim=True)}
rows = {}
for name, b in baselines.items():
    a = integrated_gradients(model, x, b, 1, 64)
    with torch.no_grad():
        gap = f_x - model(b)[:, 1]
    maps_b = a[:, 0].detach().numpy()
    rows[name] = {"logit gap": gap.mean().item(),
                  "completeness error": ((a.sum((1, 2, 3)) - gap).abs() / gap.abs()).max().item(),
                  "marker share": mask_scores(maps_b, marker)["share"].mean(),
                  "lesion share": mask_scores(maps_b, lesion)["share"].mean()}
print(pd.DataFrame(rows).T.round(3).to_string())
### END SOLUTION

# %%
### BEGIN SOLUTION
answer_5 = """
IG answers a contrastive question, why this film rather than the baseline, so the baseline is part of the
question. With 64 steps every baseline is complete to within about one percent, so the sums are
trustworthy and the choice is about meaning, not accuracy. From black, the attributions must explain the
whole logit gap and spread over the bright body; from the blurred film the gap is smaller and
concentrates on small sharp structures, and the marker share rises well above the lesion share. To ask
whether the model uses the marker I would compare a baseline that removes the marker but keeps the
anatomy (the blurred film), and I would check the answer against a model that cannot use the marker,
because the blurred baseline favours any sharp detail whatever the model.
"""
# Marking rubric (8 points):
# - 2: states that IG explains f(x) - f(baseline), a comparison with the baseline (a question).
# - 2: reports completeness errors (64 steps: small) so that the comparison is trustworthy.
# - 2: cites the measured marker and lesion shares per baseline, and the logit gap each explains.
# - 2: picks a baseline that removes the feature in question but keeps the rest, and names a control
#      (another model, a model-free map) because the blurred baseline favours sharp details anyway.
### END SOLUTION

# %%
check_answer_5(answer_5)


# %% [markdown]
# ## Exercise 6 — every parameterised layer (5 points)
#
# **6a.** Write `parameterised_layers(model)`: the names of the model's **top-level** submodules
# (`model.named_children()`) that own at least one parameter, in the order the model defines them.
# A container (the ResNet's `layer1`, an `nn.Sequential` of blocks) owns the parameters of its children,
# even though it has no `.weight` of its own; a container of parameter-free modules owns none.
# A randomisation test that skips a layer with weights (batch-normalisation layers have them too) does
# not randomise the whole model.

# %%
def parameterised_layers(model):
    ### BEGIN SOLUTION
    return [name for name, child in model.named_children() if any(True for _ in child.parameters())]
    ### END SOLUTION


# %%
check_parameterised_layers(parameterised_layers)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.gradients import hidden_check_parameterised_layers
hidden_check_parameterised_layers(parameterised_layers)
### END HIDDEN TESTS

# %% [markdown]
# **6b.** Run your `cascading_randomisation` of the plain gradient with **every** parameterised layer of
# the shortcut model (your list), and compare with the list that forgets `bn1`. Then the **floor**: the
# same Spearman |map| between the gradient maps of two fresh random initialisations
# (`build_cxr_resnet()` after `torch.manual_seed(derived_seed(7))` and `derived_seed(8)`). Then the
# **data randomisation test**: the Spearman |map| between the shortcut model's gradient maps and those of
# `cxr_shuffled` (trained on permuted labels until it memorised them). Say what each number tells you.
# Write 60 words or more as `answer_6 = """..."""`.

# %%
### BEGIN SOLUTION
every = parameterised_layers(model)
print("parameterised layers:", every)
full = cascading_randomisation(model, every, gradient_maps, x)
without_bn1 = cascading_randomisation(model, [n for n in every if n != "bn1"], gradient_maps, x)
fresh = []
for k in (7, 8):
    torch.manual_seed(derived_seed(k))
    fresh.append(gradient_maps(build_cxr_resnet().eval(), x))
floor = np.mean([spearmanr(np.abs(a).ravel(), np.abs(b).ravel())[0] for a, b in zip(*fresh, strict=True)])
shuffled = load_cxr_resnet("cxr_shuffled")
data_test = np.mean([spearmanr(np.abs(a).ravel(), np.abs(b).ravel())[0]
                     for a, b in zip(gradient_maps(model, x), gradient_maps(shuffled, x), strict=True)])
print(pd.DataFrame({"every layer": full, "without bn1": without_bn1}).round(3).to_string())
print(f"floor (two random inits): {floor:.3f}; trained vs cxr_shuffled: {data_test:.3f}")
### END SOLUTION

# %%
### BEGIN SOLUTION
answer_6 = """
With every parameterised layer, including bn1, the gradient map loses most of its rank similarity by the
end of the cascade and reaches about the floor of two random initialisations, which is what a method that
depends on the weights should do. The list without bn1 stops higher: re-initialising the batch
normalisation (weights and running statistics) rescales every feature, so skipping it leaves part of the
trained network in place. The floor tells us how similar maps of unrelated models are because of the input
alone, so a similarity is only meaningful above it. Against the shuffled model, trained on permuted labels
until it memorised them, the similarity is also low, so the gradient passes the data randomisation test.
"""
# Marking rubric (8 points):
# - 2: bn1 has parameters (and running statistics); the list without it does not randomise the model.
# - 2: reads the final cascade value against the random-initialisation floor, not against 0.
# - 2: data randomisation: the shuffled model memorised permuted labels; compares its similarity with the
#      floor and says what a high value would mean (map independent of the labels).
# - 2: numbers quoted from the run, and a sentence on what a method that FAILS would show.
### END SOLUTION

# %%
check_answer_6(answer_6)


# %% [markdown]
# ## Exercise 7 — choose a Grad-CAM layer
#
# Run your `grad_cam` on `model.layer3` (16 × 16) and `model.layer4` (8 × 8), upsample both bilinearly to
# 64 × 64, and score them against the marker with `mask_scores` (share and hit). Which layer would you
# hook, for this model and this question, and what do you trade? Write 50 words or more as
# `answer_7 = """..."""`.

# %%
### BEGIN SOLUTION
cams = {}
for name in ("layer3", "layer4"):
    c = grad_cam(model, getattr(model, name), x, 1)[:, None]
    cams[name] = torch.nn.functional.interpolate(c, size=(64, 64), mode="bilinear")[:, 0].numpy()
print(pd.DataFrame({name: {"marker share": mask_scores(c, marker)["share"].mean(),
                           "points at marker": mask_scores(c, marker)["hit"].mean()}
                    for name, c in cams.items()}).T.round(3).to_string())
### END SOLUTION

# %%
### BEGIN SOLUTION
answer_7 = """
Grad-CAM is usually taken at the last convolutional stage, layer4 here, because its channels are the most
class specific, but its 8 x 8 resolution smears a small marker over a patch many times its size. Layer3
has 16 x 16 positions, so it could localise more tightly, at the price of less class-specific features.
The measurement decides: on these films layer4 puts more of its mass on the marker than layer3, and the
peak of neither lands on the marker, so the finer grid does not help this question. I would keep layer4,
report the layer3 numbers next to it, and check that the chosen layer's map passes the randomisation test.
"""
# Marking rubric (6 points):
# - 2: names the trade-off: class specificity (deeper) against spatial resolution (16 x 16 vs 8 x 8).
# - 2: decides with the measured marker share / pointing game of both layers.
# - 2: notes that the chosen layer should also pass a sanity check (randomisation) or a null comparison.
### END SOLUTION

# %%
check_answer_7(answer_7)

# %% [markdown]
# **Questions to discuss.** Does your IG give the marker a larger share than the lesion on this model?
# Why does Grad-CAM's peak land on the marker less often than IG's (think of its 8 × 8 resolution)? At
# which randomised layer does the gradient map lose most of its similarity?
