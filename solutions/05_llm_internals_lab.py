# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 05 · Opening the notes transformer by hand
#
# In the lecture, library calls probed, patched and ablated the 2-layer notes transformer. Here you build
# three of those tools yourself, so that you know what each number means:
#
# 1. a linear probe with a Hewitt & Liang (2019) **control task** and its selectivity,
# 2. **activation patching** of the residual stream with a forward hook, checked against
#    `transformer_lens.patching`,
# 3. an **OV-circuit read-out** from the weights, used to ask whether a head copies drug *classes*.
#
# Each exercise is followed by a check cell: it prints a ✔ line when your function is right, or tells you
# what to fix. Replace each `raise NotImplementedError(...)` with your code.

# %%
import os

os.environ["TQDM_DISABLE"] = "1"

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from xaihealth.checks.llm_internals import check_ov_readout, check_patch_resid_pre, check_probe_selectivity
from xaihealth.data.notes import ALL_DRUGS, DRUG_TO_CLASS, POSITIONS, NotesTokenizer, make_notes, make_patching_pairs
from xaihealth.models.notes_transformer import load_notes_transformer
from xaihealth.notebook import derived_seed, setup

SEED = setup(seed=0)
torch.set_grad_enabled(False)
model = load_notes_transformer()
tok = NotesTokenizer()
AVOID, SAFE = tok.token_id("avoid"), tok.token_id("safe")


# %% [markdown]
# ## Exercise 1 — linear probe with a control task
#
# Write `probe_selectivity(acts_train, y_train, types_train, acts_test, y_test, types_test, seed=0)`:
# - fit `LogisticRegression(max_iter=2000)` on the **training** activations and concept labels, and
#   score it on the **test** ones: that is `accuracy`;
# - build the control task: give every word type (the values in `types_train` / `types_test`) **one
#   random label** drawn from the concept's label set (`np.random.default_rng(seed)`), the same label
#   wherever the word occurs; fit and score a second probe on those labels: that is `control`;
# - return `{"accuracy": ..., "control": ..., "selectivity": accuracy - control}`.
#
# *Hint:* a dict `{word_type: random_label}` and a list comprehension turn types into control labels.

# %%
def probe_selectivity(acts_train, y_train, types_train, acts_test, y_test, types_test, seed=0):
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    words = np.unique(np.concatenate([types_train, types_test]))
    control = dict(zip(words.tolist(), rng.choice(np.unique(y_train), size=len(words)).tolist()))
    c_train = np.array([control[t] for t in types_train.tolist()])
    c_test = np.array([control[t] for t in types_test.tolist()])

    def fit_score(labels_train, labels_test):
        clf = LogisticRegression(max_iter=2000).fit(acts_train, labels_train)
        return clf.score(acts_test, labels_test)

    accuracy, ctrl = fit_score(y_train, y_test), fit_score(c_train, c_test)
    return {"accuracy": accuracy, "control": ctrl, "selectivity": accuracy - ctrl}
    ### END SOLUTION


# %% [markdown]
# Apply it to the model: is the **allergen's class** readable at the `:` position after layer 0, and is
# the probe selective? The word type is the allergen token (position 6).

# %%
train, test = make_notes(600, seed=derived_seed(7)), make_notes(300, seed=derived_seed(123))
_, cache_train = model.run_with_cache(torch.from_numpy(train.tokens[:, :-1]))
_, cache_test = model.run_with_cache(torch.from_numpy(test.tokens[:, :-1]))
A, Q = POSITIONS["allergen"], POSITIONS["query"]
result = probe_selectivity(
    cache_train["blocks.1.hook_resid_pre"][:, Q].numpy(), train.concepts["drug_class"][:, A], train.tokens[:, A],
    cache_test["blocks.1.hook_resid_pre"][:, Q].numpy(), test.concepts["drug_class"][:, A], test.tokens[:, A],
    seed=derived_seed(0),
)  # fmt: skip
print({k: round(v, 3) for k, v in result.items()})
assert result["accuracy"] > 0.95 and result["selectivity"] > 0.05

# %%
check_probe_selectivity(probe_selectivity)


# %% [markdown]
# ## Exercise 2 — activation patching by hooks
#
# Write `patch_resid_pre(model, clean, corrupt, layer, position)` returning the **recovery** of patching
# `blocks.{layer}.hook_resid_pre` at one `position`:
# 1. run the clean prompts with `model.run_with_cache(clean)` and keep the activation of that hook;
# 2. run the corrupted prompts with `model.run_with_hooks(corrupt, fwd_hooks=[(name, hook)])`, where
#    `hook(act, hook)` overwrites `act[:, position]` with the clean activation and returns `act`;
# 3. with `ld(logits) = mean over prompts of logits[:, -1, AVOID] - logits[:, -1, SAFE]`, return
#    `(ld(patched) - ld(corrupt)) / (ld(clean) - ld(corrupt))` as a float (0 = no effect, 1 = full).

# %%
def patch_resid_pre(model, clean, corrupt, layer, position):
    ### BEGIN SOLUTION
    name = f"blocks.{layer}.hook_resid_pre"

    def ld(logits):
        return (logits[:, -1, AVOID] - logits[:, -1, SAFE]).mean().item()

    clean_logits, clean_cache = model.run_with_cache(clean)

    def hook(act, hook):
        act[:, position] = clean_cache[name][:, position]
        return act

    patched = model.run_with_hooks(corrupt, fwd_hooks=[(name, hook)])
    corrupt_ld = ld(model(corrupt))
    return (ld(patched) - corrupt_ld) / (ld(clean_logits) - corrupt_ld)
    ### END SOLUTION


pairs = make_patching_pairs(64, seed=derived_seed(3))
clean, corrupt = torch.from_numpy(pairs.clean_tokens), torch.from_numpy(pairs.corrupt_tokens)
for layer, position in ((0, A), (1, A), (1, Q)):
    print(f"resid_pre layer {layer}, position {position}: recovery "
          f"{patch_resid_pre(model, clean, corrupt, layer, position):.2f}")

# %%
check_patch_resid_pre(patch_resid_pre)


# %% [markdown]
# ## Exercise 3 — OV-circuit read-out
#
# A head's OV circuit says what it **writes** into the residual stream when it attends to a token:
# `x @ W_V[layer, head] @ W_O[layer, head]` for a (normalised) residual vector `x` of shape
# `(n, d_model)` — row vectors, weights on the right, biases left out. Write
# `ov_readout(model, layer, head, x)` returning that `(n, d_model)` tensor.

# %%
def ov_readout(model, layer, head, x):
    ### BEGIN SOLUTION
    return x @ model.W_V[layer, head] @ model.W_O[layer, head]
    ### END SOLUTION


# %%
check_ov_readout(ov_readout)

# %% [markdown]
# **Use it.** L0H1 attends from `:` to the prescribed drug (position 15). What does it write for each of
# the 23 drugs? The input of layer 0 at position 15 is the drug's embedding plus the position embedding,
# normalised by `ln1`. We ask whether drugs of the **same class** get similar outputs: classify each drug
# by the nearest class centroid of the *other* drugs (leave-one-out), and compare with the same test on
# the normalised input itself.

# %%
def ln1_layer0(resid):
    centred = resid - resid.mean(-1, keepdim=True)
    normed = centred / (centred.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt()
    return normed * model.blocks[0].ln1.weight + model.blocks[0].ln1.bias


drug_ids = torch.tensor([tok.token_id(d) for d in ALL_DRUGS])
classes = np.array([DRUG_TO_CLASS[d] for d in ALL_DRUGS])
x = ln1_layer0(model.W_E[drug_ids] + model.W_pos[POSITIONS["prescribed"]])


def nearest_centroid_loo(vectors, labels):
    v = torch.nn.functional.normalize(vectors, dim=-1).numpy()
    hits = []
    for i in range(len(v)):
        others = np.arange(len(v)) != i
        cents = {c: v[others & (labels == c)].mean(0) for c in np.unique(labels[others])}
        hits.append(max(cents, key=lambda c: v[i] @ cents[c]) == labels[i])
    return float(np.mean(hits))


acc_input = nearest_centroid_loo(x, classes)
acc_ov = nearest_centroid_loo(ov_readout(model, 0, 1, x), classes)
print(f"drug class from the layer-0 input: {acc_input:.3f}; from L0H1's OV output: {acc_ov:.3f} "
      f"(chance about {np.bincount(classes).max() / len(classes):.3f})")
assert acc_input == 1.0 and acc_ov == 1.0

# %% [markdown]
# **Reading.** The drug embeddings are already grouped by class (leave-one-out accuracy 1.0), and L0H1's
# OV circuit keeps that grouping in what it writes to `:` (also 1.0): the head copies a class-consistent
# signal about the prescribed drug, which the layer-1 heads can compare with the allergen. Note what the
# test does *not* show: that the class is *created* by the head — the embedding already had it, which is
# why a baseline on the input belongs next to every circuit read-out.
