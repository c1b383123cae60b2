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
# five of those tools yourself, so that you know what each number means:
#
# 1. a linear probe with a Hewitt & Liang (2019) **control task** and its selectivity,
# 2. **activation patching** of the residual stream with **raw PyTorch forward hooks**
#    (`register_forward_hook`, no TransformerLens hook API), checked against `transformer_lens.patching`,
# 3. an **OV-circuit read-out** from the weights, used to ask whether a head copies drug *classes*,
# 4. the **attention pattern** from Q and K with the causal mask,
# 5. **word occlusion** on a note, the surface-level alternative to opening the model,
#
# and answer two written questions (Exercises 6 and 7).
#
# Each exercise is followed by a check cell: it prints a ✔ line when your function is right, or tells you
# what to fix. Replace each `raise NotImplementedError(...)` with your code.

# %%
import os

os.environ["TQDM_DISABLE"] = "1"

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression

from xaihealth.checks.llm_internals import (
    check_answer_6, check_answer_7, check_attention_pattern, check_ov_readout, check_patch_resid_pre,
    check_probe_selectivity, check_word_occlusion,
)  # fmt: skip
from xaihealth.data.notes import ALL_DRUGS, DRUG_TO_CLASS, POSITIONS, NotesTokenizer, make_notes, make_patching_pairs
from xaihealth.models.notes_transformer import load_notes_transformer
from xaihealth.notebook import derived_seed, setup

SEED = setup(seed=0)
torch.set_grad_enabled(False)
model = load_notes_transformer()
tok = NotesTokenizer()
AVOID, SAFE = tok.token_id("avoid"), tok.token_id("safe")


# %% [markdown]
# ## Exercise 1 — linear probe with a control task (4 points)
#
# Write `probe_selectivity(acts_train, y_train, types_train, acts_test, y_test, types_test, seed=0)`:
# - fit `LogisticRegression(max_iter=2000, tol=1e-6)` on the **training** activations and concept labels,
#   and score it on the **test** ones: that is `accuracy` (`tol=1e-6` fits to convergence: with the default
#   tolerance, lbfgs stops where the CPU's rounding decides whether a note near the boundary flips);
# - build the control task: give every word type (the values in `types_train` / `types_test`) **one
#   random label** drawn from the concept's **own** label set (`np.unique(y_train)`: four labels for a
#   4-class concept, not two) with `np.random.default_rng(seed)`, the same label wherever the word
#   occurs; fit a second probe on the **training** activations with those labels and score it on the
#   **test** activations: that is `control` (never score a probe on the split it was fitted on);
# - return `{"accuracy": ..., "control": ..., "selectivity": accuracy - control, "control_labels": ...}`,
#   where `control_labels` is the array of the control labels of the **test** notes (the checker looks at
#   them: the same seed must give the same labels, and they must come from the concept's label set, which
#   need not be 0..K−1).
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
        clf = LogisticRegression(max_iter=2000, tol=1e-6).fit(acts_train, labels_train)
        return clf.score(acts_test, labels_test)

    accuracy, ctrl = fit_score(y_train, y_test), fit_score(c_train, c_test)
    return {"accuracy": accuracy, "control": ctrl, "selectivity": accuracy - ctrl, "control_labels": c_test}
    ### END SOLUTION


# %% [markdown]
# Apply it to the model: is the **allergen's class** readable at the `:` position after layer 0, and is
# the probe selective? The word type is the allergen token (position 6).

# %%
train = make_notes(600, seed=derived_seed(7), split="train")
test = make_notes(300, seed=derived_seed(123), split="heldout")  # (cue, allergen, drug) never trained on
_, cache_train = model.run_with_cache(torch.from_numpy(train.tokens[:, :-1]))
_, cache_test = model.run_with_cache(torch.from_numpy(test.tokens[:, :-1]))
A, Q = POSITIONS["allergen"], POSITIONS["query"]
args = (
    cache_train["blocks.1.hook_resid_pre"][:, Q].numpy(), train.concepts["drug_class"][:, A], train.tokens[:, A],
    cache_test["blocks.1.hook_resid_pre"][:, Q].numpy(), test.concepts["drug_class"][:, A], test.tokens[:, A],
)  # fmt: skip
draws = [probe_selectivity(*args, seed=derived_seed(20 + d)) for d in range(10)]  # 10 control draws
sel = np.array([r["selectivity"] for r in draws])
# two decimals (1 note = 0.003); fitted to convergence, no note flips with the CPU's rounding
print(f"accuracy {draws[0]['accuracy']:.2f}; control over 10 draws "
      f"{min(r['control'] for r in draws):.2f}–{max(r['control'] for r in draws):.2f}; "
      f"selectivity mean {sel.mean():+.2f}, above 0 in {(sel > 0).sum()} of {len(sel)} draws")
assert draws[0]["accuracy"] > 0.8 and sel.mean() > 0

# %% [markdown]
# One control draw is one random relabelling of 19 allergen words: its accuracy varies from draw to
# draw (printed above), so a selectivity from a single draw can be close to 0 by chance. Report the mean
# over several draws, as the lecture does.

# %%
check_probe_selectivity(probe_selectivity)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.llm_internals import hidden_check_probe_selectivity
hidden_check_probe_selectivity(probe_selectivity)
### END HIDDEN TESTS


# %% [markdown]
# ## Exercise 2 — activation patching with raw PyTorch hooks (4 points)
#
# TransformerLens hook points are ordinary `torch.nn.Module`s (identity functions), so plain PyTorch can
# read and overwrite them. Write `patch_resid_pre(model, clean, corrupt, layer, position)` returning the
# **recovery** of patching the input of block `layer` (`model.blocks[layer].hook_resid_pre`) at one
# `position`, **without** the TransformerLens hook API (`run_with_hooks`, `run_with_cache`, `hooks` and
# a hook point's own `add_hook` are switched off by the checker):
# 1. register a forward hook `fn(module, inputs, output)` on that hook point that stores
#    `output.detach().clone()`; run `model(clean)`; remove the hook (`handle.remove()`);
# 2. register a second forward hook that returns a copy of `output` whose `[:, position]` is the stored
#    clean activation (a forward hook's return value *replaces* the module's output); run
#    `model(corrupt)`; remove the hook — in a `finally:` block, so that no hook stays on the model;
# 3. with `ld(logits) = mean over prompts of logits[:, -1, AVOID] - logits[:, -1, SAFE]`, return
#    `(ld(patched) - ld(corrupt)) / (ld(clean) - ld(corrupt))` as a float (0 = no effect, 1 = full).
#    This ratio of means is the required metric; the mean of the per-pair recoveries (the lecture's
#    §6 metric) is accepted too.

# %%
def patch_resid_pre(model, clean, corrupt, layer, position):
    ### BEGIN SOLUTION
    point = model.blocks[layer].hook_resid_pre

    def ld(logits):
        return (logits[:, -1, AVOID] - logits[:, -1, SAFE]).mean().item()

    stored = {}

    def store(module, inputs, output):
        stored["clean"] = output.detach().clone()

    def paste(module, inputs, output):
        output = output.clone()
        output[:, position] = stored["clean"][:, position]
        return output

    handle = point.register_forward_hook(store)
    try:
        clean_ld = ld(model(clean))
    finally:
        handle.remove()
    corrupt_ld = ld(model(corrupt))
    handle = point.register_forward_hook(paste)
    try:
        patched_ld = ld(model(corrupt))
    finally:
        handle.remove()
    return (patched_ld - corrupt_ld) / (clean_ld - corrupt_ld)
    ### END SOLUTION


pairs = make_patching_pairs(64, seed=derived_seed(3), kind="allergen", split="heldout")
clean, corrupt = torch.from_numpy(pairs.clean_tokens), torch.from_numpy(pairs.corrupt_tokens)
for layer, position in ((0, A), (1, A), (1, 15), (1, Q)):
    print(f"resid_pre layer {layer}, position {position}: recovery "
          f"{patch_resid_pre(model, clean, corrupt, layer, position):.2f}")

# %%
check_patch_resid_pre(patch_resid_pre, model=model)  # the lab's model: no second load
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.llm_internals import hidden_check_patch_resid_pre
hidden_check_patch_resid_pre(patch_resid_pre, model=model)
### END HIDDEN TESTS


# %% [markdown]
# ## Exercise 3 — OV-circuit read-out (4 points)
#
# A head's OV circuit says what it **writes** into the residual stream when it attends to a token:
# `x @ W_V[layer, head] @ W_O[layer, head]` for a (normalised) residual vector `x` of shape
# `(n, d_model)` — row vectors, weights on the right, biases left out. Write
# `ov_readout(model, layer, head, x)` returning that `(n, d_model)` tensor. (TransformerLens also
# offers the product as `model.OV[layer, head].AB`; it is the same matrix and is accepted, but write
# the product from `W_V` and `W_O` yourself.)

# %%
def ov_readout(model, layer, head, x):
    ### BEGIN SOLUTION
    return x @ model.W_V[layer, head] @ model.W_O[layer, head]
    ### END SOLUTION


# %%
check_ov_readout(ov_readout, model=model)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.llm_internals import hidden_check_ov_readout
hidden_check_ov_readout(ov_readout, model=model)
### END HIDDEN TESTS

# %% [markdown]
# **Use it.** L0H3 attends from `:` to the prescribed drug (position 15) in about half of the notes
# (lecture, Section 2). What does it write for each of the 23 drugs? The input of layer 0 at position 15 is the drug's embedding plus the position embedding,
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
acc_ov = nearest_centroid_loo(ov_readout(model, 0, 3, x), classes)
print(f"drug class from the layer-0 input: {acc_input:.3f}; from L0H3's OV output: {acc_ov:.3f} "
      f"(chance about {np.bincount(classes).max() / len(classes):.3f})")
assert acc_input > 0.9 and acc_ov > 0.9

# %% [markdown]
# **Reading.** The drug embeddings are already grouped by class (leave-one-out accuracy 22 of 23 drugs),
# and L0H3's OV circuit keeps that grouping in what it writes to `:` (the same 22 of 23, printed above;
# chance is about a third): the head copies a class-consistent
# signal about the prescribed drug, which the layer-1 heads can compare with the allergen. Note what the
# test does *not* show: that the class is *created* by the head — the embedding already had it, which is
# why a baseline on the input belongs next to every circuit read-out.


# %% [markdown]
# ## Exercise 4 — attention from Q and K with the causal mask (4 points)
#
# Write `attention_pattern(q, k)` for `q`, `k` of shape `(n, pos, head, d_head)` (the layout of
# `hook_q` / `hook_k`) that returns the pattern `A` of shape `(n, head, query position, key position)`:
#
# $$A = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_\text{head}}} + M\right), \qquad
#   M_{ij} = -\infty \text{ for } j > i \text{ (later keys), else } 0,$$
#
# with the softmax over the **key** axis (each query's row sums to 1). Take `d_head` from the input's
# shape; do not use the model, and do not call `torch.nn.functional.scaled_dot_product_attention`
# (it returns the heads' outputs, not A; the checker switches it off). *Hint:*
# `torch.einsum("nqhd,nkhd->nhqk", q, k)`, `torch.triu(..., diagonal=1)`, `masked_fill`.

# %%
def attention_pattern(q, k):
    ### BEGIN SOLUTION
    scores = torch.einsum("nqhd,nkhd->nhqk", q, k) / q.shape[-1] ** 0.5
    later = torch.triu(torch.ones(q.shape[1], q.shape[1], dtype=torch.bool), diagonal=1)
    return scores.masked_fill(later, float("-inf")).softmax(dim=-1)
    ### END SOLUTION


_, cache_pairs = model.run_with_cache(clean[:8])
mine = attention_pattern(cache_pairs["blocks.0.attn.hook_q"], cache_pairs["blocks.0.attn.hook_k"])
print(f"largest difference from the model's hook_pattern: "
      f"{(mine - cache_pairs['blocks.0.attn.hook_pattern']).abs().max():.1e}")

# %%
check_attention_pattern(attention_pattern, model=model)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.llm_internals import hidden_check_attention_pattern
hidden_check_attention_pattern(attention_pattern, model=model)
### END HIDDEN TESTS


# %% [markdown]
# ## Exercise 5 — word occlusion on a note (4 points)
#
# The surface-level alternative to opening the model: hide one word and see how much the answer moves.
# Write `word_occlusion(model, tokens, positions, fill_id)` for prompts `tokens` of shape `(n, L)`
# (ending at `:`) returning a numpy array of shape `(n, len(positions))`: for each note and each
# position `p` in `positions`, the logit difference `avoid − safe` at the last position of the original
# prompt **minus** that of the prompt with only token `p` replaced by `fill_id`. Occlude one position at
# a time, on a copy: the `tokens` you were given must not change.

# %%
def word_occlusion(model, tokens, positions, fill_id):
    ### BEGIN SOLUTION
    def ld(t):
        logits = model(t)
        return logits[:, -1, AVOID] - logits[:, -1, SAFE]

    base = ld(tokens)
    columns = []
    for p in positions:
        occluded = tokens.clone()
        occluded[:, p] = fill_id
        columns.append((base - ld(occluded)).numpy())
    return np.stack(columns, axis=1)
    ### END SOLUTION


note = torch.from_numpy(test.tokens[:1, :-1])
slots = [2, 3, 6, 9, 12, 15]
effects = word_occlusion(model, note, slots, tok.pad_id)[0]
print(test.texts[0])
for p, e in zip(slots, effects, strict=True):
    print(f"  occlude position {p:2d} ({tok.words[int(note[0, p])]:>14s}): logit difference moves by {-e:+.2f}")

# %%
check_word_occlusion(word_occlusion, model=model)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.llm_internals import hidden_check_word_occlusion
hidden_check_word_occlusion(word_occlusion, model=model)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 6 — which evidence would you put in an audit?
#
# A hospital asks whether this model's allergy answers can be audited by watching one component. Using
# what the lecture and this lab measured, say what attention maps, word occlusion, probes and
# activation patching each showed about this model, what each cannot show, and which you would base
# the audit on. Write 60 words or more as a string `answer_6 = """..."""`.

# %%
### BEGIN SOLUTION
answer_6 = """
Attention maps show where a head reads from the query position, but here no head's attention ranks the
tokens the way their occlusion effect does, and a head can attend to the allergen without being needed.
Word occlusion shows that the cue, the allergen and the drug move the answer most; it is surface-level and
says nothing about which component uses them, and the pad token is an input the model never saw. A probe
shows that negation and the allergen's class are decodable at the query after layer 0 and selective against
a control task, yet steering along the negation direction moved the margin only a little. Activation
patching tests necessity and sufficiency: no single head restores the answer alone, but L0H3 alone is close
to necessary when it is noised, and a four-head set beats its complement without being special, because
two or three heads per pair kind do as well. I would base the audit on joint patching ranked against every
head set of the same size, in both directions, with intervals, and use probes only to find candidates.
"""
# Marking rubric (8 points):
# - 2: attention: where a head reads, not what it contributes; disagrees with occlusion / is not faithful
#      (Jain & Wallace 2019); a head can look at the allergen without being necessary.
# - 2: occlusion: which input words matter (cue, allergen, drug), model-agnostic, says nothing about
#      components; out-of-distribution fill token as a caveat.
# - 2: probes: decodable and selective (control task), not proof of use; the steering test showed a small
#      causal effect only.
# - 2: patching: necessary vs sufficient (noising vs denoising) give different answers (no head is
#      sufficient, L0H3 is close to necessary); a joint patch must be compared with its complement AND
#      with the other sets of its size (the lecture's four-head C ranks in the top half, not first;
#      {L0H3, L1H1} and {L0H0, L0H3} per kind do as well). "Beats its complement / a few random sets" alone
#      earns 1 point.
### END SOLUTION

# %%
check_answer_6(answer_6)

# %% [markdown]
# ## Exercise 7 — a probe as a safety monitor?
#
# A safety team wants a cheap runtime monitor: your Exercise 1 probe, reading the allergen's drug class at
# the `:` position before layer 1, would raise an alarm whenever the class it reads disagrees with the
# allergy in the note, as a sign that the model has not registered the allergy before it answers. Using
# **your** numbers — the probe's accuracy, its control accuracies and selectivity (Exercise 1), the
# recoveries of patching the allergen swap at layer 0 and layer 1 and positions 6, 15 and 16 (Exercise 2)
# and the occlusion effects (Exercise 5) — decide whether you would deploy this monitor. Where in the model
# does the allergen information sit before layer 1? What would the probe's error rate mean for alarms on a
# ward? What evidence would you ask for before trusting that the probe reads what the model *uses*?
# Write 60 words or more as a string `answer_7 = """..."""`.

# %%
### BEGIN SOLUTION
answer_7 = """
Not as a safety gate. Patching the allergen swap recovers 1.00 at the allergen's position before layer 0
but about 0.00 at the same position before layer 1: layer 0 has already moved the information away. Before
layer 1 it sits partly at the drug (recovery 0.39) and partly at the query position (0.32), so no single
position carries it and a probe at the query reads only part of it. The probe reads the class with an
accuracy of 0.86, against 0.63 to 0.76 for the control task (selectivity about +0.17, varying from about +0.1
to +0.23 with the control draw): the class is decodable beyond word identity, but 14 % of held-out notes
are misread, so on a ward the monitor would raise a false alarm, or miss one, for about one note in seven,
and staff would learn to ignore it. Decodable is not used: occlusion shows the allergen and the drug move
the answer (about +1.1 and -1.4), yet that does not say which component reads them. Before trusting the
probe I would ask for a causal test, steering or patching along the probe's direction must change the
answer, compared with random directions, and I would put the safety check where it can be verified: a
behavioural test suite of held-out allergy and drug pairs, and a rule-based allergy check outside the model.
"""
# Marking rubric (8 points):
# - 2: reads the patching numbers: the allergen information is at its own position before layer 0 (about
#      1.0) and gone from it before layer 1 (about 0); at layer 1 it is split over the drug and query
#      positions (about 0.4 and 0.3), none enough alone.
# - 2: reads the probe against its control: accuracy vs control accuracies, selectivity with its spread over
#      control draws; decodable is not the same as used.
# - 2: a decision on the monitor with its operational cost: the probe's error rate turned into false (or
#      missed) alarms per note; alarm fatigue; not a safety gate on its own.
# - 2: what would earn trust: a causal test (steering or patching along the probe direction changes the
#      answer, against random directions) or an independent behavioural check (held-out pairs, a rule
#      outside the model).
### END SOLUTION

# %%
check_answer_7(answer_7)
