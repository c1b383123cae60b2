# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 02 · Concept bottlenecks and TCAV by hand
#
# In the lecture a Concept Bottleneck Model (Koh et al., 2020) read long QT through six clinical concepts,
# and captum's TCAV (Kim et al., 2018) found the QTc concept inside the black-box CNN. Here you build the
# pieces yourself:
#
# 1. a bottleneck module whose `intervene` method lets a clinician overwrite a concept,
# 2. a concept activation vector (CAV) and the TCAV score, checked against captum,
# 3. the significance test that separates a real concept from a lucky random direction.
#
# Each exercise is followed by a check cell: it prints a ✔ line when your code is right, or tells you what
# to fix. Replace each `raise NotImplementedError(...)` with your code.

# %%
import warnings

import numpy as np
import torch
from scipy import stats
from sklearn.linear_model import LogisticRegression
from torch import nn

from xaihealth.checks.concepts import check_cav_and_tcav, check_cbm, check_tcav_significance
from xaihealth.data import make_ecgs
from xaihealth.models.ecg_cbm import load_ecg_cbm
from xaihealth.models.ecg_cnn import load_ecg_cnn
from xaihealth.notebook import derived_seed, setup

SEED = setup(seed=0)
warnings.filterwarnings("ignore", message="Precision loss")  # t-test when all scores are 1.0
cbm = load_ecg_cbm("independent")
ecgs = make_ecgs(400, seed=derived_seed(31))
x = torch.from_numpy(ecgs.signals)
y = ecgs.labels["long_qt"].to_numpy()
print("bottleneck concepts:", list(cbm.concepts))


# %% [markdown]
# ## Exercise 1 — a bottleneck you can intervene on
#
# Write a module `ConceptBottleneck(encoder, head, names, mean, sd)`:
# - `encoder(x)` returns the **standardised** predicted concepts `(batch, k)`; `head(z)` maps them to
#   logits `(batch, 2)`; `names[j]` is the name of concept `j`; `mean[j]`, `sd[j]` its training mean and SD
#   in its own unit (bpm, ms, mV, 0/1);
# - `concepts(x)` returns the encoder's output; `forward(x)` returns the logits through the bottleneck;
# - `intervene(x, name, value)` returns the logits after replacing the predicted concept `name` by its true
#   value `value` (a tensor `(batch,)` in the concept's unit).
#
# *Hint:* the bottleneck works in SD units; clone the concepts before you write into them.

# %%
class ConceptBottleneck(nn.Module):
    def __init__(self, encoder, head, names, mean, sd):
        super().__init__()
        self.encoder, self.head, self.names = encoder, head, list(names)
        self.mean, self.sd = torch.as_tensor(mean), torch.as_tensor(sd)

    def concepts(self, x):
        return self.encoder(x)

    def forward(self, x):
        return self.head(self.concepts(x))

    def intervene(self, x, name, value):
        ### BEGIN SOLUTION
        z = self.concepts(x).clone()
        j = self.names.index(name)
        z[:, j] = (torch.as_tensor(value, dtype=z.dtype) - self.mean[j]) / self.sd[j]
        return self.head(z)
        ### END SOLUTION


mine = ConceptBottleneck(cbm.predict_concepts, cbm.head, cbm.concepts, cbm.concept_mean, cbm.concept_sd)
with torch.no_grad():
    true_qtc = torch.from_numpy(ecgs.concepts["qtc"].to_numpy(dtype=np.float32))
    acc_before = ((mine(x).argmax(1).numpy() == 1) == y).mean()
    acc_after = ((mine.intervene(x, "qtc", true_qtc).argmax(1).numpy() == 1) == y).mean()
print(f"accuracy {acc_before:.3f} -> {acc_after:.3f} after entering the true QTc")

# %%
check_cbm(ConceptBottleneck)

# %% [markdown]
# **Your turn.** Also enter the true sex (`female`, 1 for a woman) on top of QTc. How close to 1.0 does
# the accuracy get, and why could no model that sees only the trace get there?

# %%
assert acc_after > acc_before


# %% [markdown]
# ## Exercise 2 — a CAV and a TCAV score
#
# Write
# - `compute_cav(concept_acts, random_acts)`: fit `LogisticRegression(max_iter=1000)` that separates the
#   concept activations (label 1) from random ones (label 0), and return its weight vector scaled to unit
#   length — the direction *towards* the concept;
# - `tcav_score(model, layer, inputs, cav, target)`: for each input, the directional derivative of the
#   logit of class `target` along the CAV, i.e. the gradient of that logit with respect to the layer's
#   output (flattened) dotted with the CAV; return the **fraction of inputs** where it is positive.
#
# `layer_activations` below gives flattened activations. *Hint for the gradient:* a forward hook that
# calls `out.retain_grad()` and keeps `out`, then `model(inputs)[:, target].sum().backward()`.

# %%
def layer_activations(model, layer, x):
    seen = []
    handle = layer.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    with torch.no_grad():
        model(x)
    handle.remove()
    return seen[0].flatten(1).numpy()


def compute_cav(concept_acts, random_acts):
    ### BEGIN SOLUTION
    X = np.concatenate([concept_acts, random_acts])
    labels = np.r_[np.ones(len(concept_acts)), np.zeros(len(random_acts))]
    w = LogisticRegression(max_iter=1000).fit(X, labels).coef_[0]
    return w / np.linalg.norm(w)
    ### END SOLUTION


def tcav_score(model, layer, inputs, cav, target):
    ### BEGIN SOLUTION
    seen = []

    def keep(_m, _i, out):
        out.retain_grad()
        seen.append(out)

    handle = layer.register_forward_hook(keep)
    model.zero_grad()
    model(inputs)[:, target].sum().backward()
    handle.remove()
    derivative = seen[0].grad.flatten(1) @ torch.as_tensor(cav, dtype=torch.float32)
    return float((derivative > 0).float().mean())
    ### END SOLUTION


cnn = load_ecg_cnn()
layer = cnn.features[0]
long_qtc = torch.from_numpy(make_ecgs(50, derived_seed(500), qtc=(490, 540)).signals)
random_set = torch.from_numpy(make_ecgs(50, derived_seed(501)).signals)
cav = compute_cav(layer_activations(cnn, layer, long_qtc), layer_activations(cnn, layer, random_set))
inputs = x[y == 1][:50]
print(f"TCAV score of prolonged QTc for the long-QT class: {tcav_score(cnn, layer, inputs, cav, 1):.3f}")

# %%
check_cav_and_tcav(compute_cav, tcav_score)


# %% [markdown]
# ## Exercise 3 — is the concept significant?
#
# One CAV is one random draw of examples. Kim et al. train CAVs for the concept against several random
# sets, and CAVs of random sets against each other, and compare the two groups of TCAV scores. Write
# `tcav_significance(concept_scores, random_scores, alpha=0.05)` returning `(p_value, significant)` from a
# **two-sided, two-sample** t-test (`scipy.stats.ttest_ind`), with `significant = p_value < alpha`.

# %%
def tcav_significance(concept_scores, random_scores, alpha=0.05):
    ### BEGIN SOLUTION
    p = float(stats.ttest_ind(np.asarray(concept_scores), np.asarray(random_scores)).pvalue)
    return p, p < alpha
    ### END SOLUTION


def scores_over_runs(concept_x, runs=5):
    """TCAV scores of concept_x against `runs` fresh random sets."""
    out = []
    for r in range(runs):
        rand = torch.from_numpy(make_ecgs(50, derived_seed(600 + r)).signals)
        v = compute_cav(layer_activations(cnn, layer, concept_x), layer_activations(cnn, layer, rand))
        out.append(tcav_score(cnn, layer, inputs, v, 1))
    return np.array(out)


qtc_scores = scores_over_runs(long_qtc)
random_scores = scores_over_runs(random_set)
p, significant = tcav_significance(qtc_scores, random_scores)
# one random CAV's score moves by 1/50 with the CPU's rounding (an input whose derivative is almost 0
# changes sign): print the means and the p-value at the precision the decision needs
print(f"TCAV score, mean of {len(qtc_scores)} runs: prolonged QTc {qtc_scores.mean():.1f}, random sets "
      f"{random_scores.mean():.1f}; two-sided t-test p {'< 0.01' if p < 0.01 else f'= {p:.2f}'}")

# %%
check_tcav_significance(tcav_significance)

# %% [markdown]
# **Your turn.** Repeat with a noise concept (`make_ecgs(50, 502, noise=(0.1, 0.2))`). Is it significant?
# How many random runs would you need before one random CAV alone scores above 0.9?

# %%
assert significant
