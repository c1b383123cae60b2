# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # 05 · Inside a clinical language model
#
# *XAI for Health, module 05.* A language model reads a note and answers whether a prescription is safe.
# Saliency maps (module 04) say *which words* mattered. Here we open the model itself and ask *how* it
# computes the answer: which attention heads move which information, where a concept becomes readable,
# and which components are causally necessary. This is **mechanistic interpretability** (Elhage et al.,
# 2021, *A Mathematical Framework for Transformer Circuits*; Wang et al., 2023, *ICLR*, the IOI circuit).
#
# **Question of the module:** is there one "allergy-checking head" that we could audit?
#
# **Model and data:** a 2-layer, 4-head, attention-only transformer (TransformerLens 4,
# `TransformerBridge`) trained on synthetic notes with a planted rule (datasheet:
# `datasets/synthetic_notes.md`). No real patient is behind any note.

# %% slideshow={"slide_type": "skip"}
import os

os.environ["TQDM_DISABLE"] = "1"  # before transformer_lens imports tqdm: no progress bars in the outputs

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.stats import bootstrap
from sklearn.linear_model import LogisticRegression
from transformer_lens import patching

from xaihealth.data.notes import (
    ALL_DRUGS, CLASS_DRUGS, CLASS_NAMES, DRUG_TO_CLASS, POSITIONS, NotesTokenizer, make_notes,
    make_patching_pairs,
)  # fmt: skip
from xaihealth.checkpoints import checkpoint_entry
from xaihealth.models.notes_transformer import load_notes_transformer, predict_avoid
from xaihealth.notebook import derived_seed, setup
from xaihealth.plots.llm_internals import heatmap
from xaihealth.scorecard import make_row, paired_difference, record

SEED = setup(seed=0)
torch.set_grad_enabled(False)
patching.tqdm = lambda iterable, **kwargs: iterable  # no progress bars (timings) in the outputs
model = load_notes_transformer()
tok = NotesTokenizer()
AVOID, SAFE, Q = tok.token_id("avoid"), tok.token_id("safe"), POSITIONS["query"]
HEADS = [f"L{l}H{h}" for l in range(2) for h in range(4)]

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. The model and its task
#
# Every note has the same 18 tokens, so a position means the same thing in every note:
#
# `<bos> patient has an allergy to ketorolac , reaction mild . findings rash . prescribe naproxen : avoid`
#
# The answer after `:` (position 16) is `avoid` iff the allergy is **affirmed** (not "has no" / "denies
# any") **and** the prescribed drug (15) is the allergen (6) or in its drug class. The model must move
# the allergen and the negation cue (3) to the `:` position — attention is the only way to do it.

# %% slideshow={"slide_type": "fragment"}
test = make_notes(500, seed=derived_seed(123))  # a seed the training script never used; but see below
prompts = torch.from_numpy(test.tokens[:, : POSITIONS["answer"]])  # stop at ':'
print(test.texts[0])
right = predict_avoid(model, prompts) == test.labels
accuracy = right.mean()
training_seed = checkpoint_entry("notes_transformer")["data_seed"]  # the shipped model's training notes
seen = {note.tobytes() for note in make_notes(20000, seed=training_seed).tokens}
in_training = np.array([note.tobytes() in seen for note in test.tokens])
trap = (test.concepts["negation"][:, 3] == 1) & (
    test.concepts["drug_class"][:, 6] == test.concepts["drug_class"][:, 15]
)
trap_accuracy = (predict_avoid(model, prompts[trap]) == test.labels[trap]).mean()
print(f"accuracy on the 500 test notes: {accuracy:.3f}; on the {trap.sum()} negated same-class traps: "
      f"{trap_accuracy:.3f}")
print(f"{in_training.sum()} of the 500 test notes appear verbatim among the model's 20,000 training notes; "
      f"accuracy on the other {(~in_training).sum()}: {right[~in_training].mean():.3f}")
assert accuracy >= 0.98 and trap_accuracy >= 0.98, "the model should have learned the rule, negation included"

# %% [markdown] slideshow={"slide_type": "subslide"}
# The model is (almost) perfect, including on the traps where a shortcut "same class ⇒ avoid" fails. A
# caveat on "test": the training script never used these notes' seed, but the template allows few distinct
# notes (the 20,000 training notes, `make_notes(20000, seed=0)`, hold only about 11,700 distinct ones), so
# **310 of the 500 test notes appear verbatim in the model's training set** (on this draw; printed above).
# On the 190 others the model is perfect too. The sections below use all 500 notes, seen or not: they ask
# how the model computes its answer, not whether it generalises. So the question is not *whether* it works
# but *how*. One `run_with_cache` call stores every intermediate activation under a hook name
# (`blocks.0.attn.hook_pattern`, `blocks.1.hook_resid_pre`, …).

# %% slideshow={"slide_type": "fragment"}
logits, cache = model.run_with_cache(prompts)
logit_diff = logits[:, Q, AVOID] - logits[:, Q, SAFE]  # > 0 means "avoid"
print(f"{len(cache)} cached activations; logit difference avoid − safe: "
      f"{logit_diff[test.labels == 1].mean():.1f} on avoid notes, {logit_diff[test.labels == 0].mean():.1f} "
      "on safe notes")

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Attention is not explanation
#
# The tempting reading: look at where each head *attends from `:`*, and call the head that looks at the
# allergen "the allergy checker". Jain & Wallace (2019, *NAACL*) showed that attention weights often do
# not track what the model relies on; Wiegreffe & Pinter (2019, *EMNLP*) that it depends on the test. We
# run the test that settles it for *this* model: **ablate** each head (replace its output by its mean over
# the notes) and count how many answers change.

# %% slideshow={"slide_type": "fragment"}
attention = np.array([[cache[f"blocks.{l}.attn.hook_pattern"][:, h, Q, p].mean().item()
                       for p in (POSITIONS["cue_det"], POSITIONS["allergen"], POSITIONS["prescribed"])]
                      for l in range(2) for h in range(4)])  # fmt: skip


def mean_ablate(layer, head):
    """Answers with one head's output (hook_z) replaced by its mean over the notes, at every position."""
    name = f"blocks.{layer}.attn.hook_z"
    mean = cache[name][:, :, head].mean(0)

    def hook(z, hook):
        z[:, :, head] = mean
        return z

    out = model.run_with_hooks(prompts, fwd_hooks=[(name, hook)])
    return (out[:, Q, AVOID] > out[:, Q, SAFE]).numpy().astype(int)


changed = np.array([(mean_ablate(l, h) != test.labels).mean() for l in range(2) for h in range(4)])
for name, att, ch in zip(HEADS, attention, changed, strict=True):
    print(f"{name}: attention from ':' to cue {att[0]:.2f}, allergen {att[1]:.2f}, drug {att[2]:.2f} | "
          f"ablated: {ch:.1%} answers wrong")

# %% slideshow={"slide_type": "subslide"}
fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
heatmap(axes[0], attention, rows=HEADS, cols=["cue (3)", "allergen (6)", "drug (15)"],
        title="mean attention from ':'", cmap="Blues", center=False)
heatmap(axes[1], changed[:, None], rows=HEADS, cols=["answers wrong"], title="after mean-ablation",
        cmap="Reds", center=False)
plt.tight_layout()
plt.show()

allergen_head = int(np.argmax(attention[:, 1]))
key_head = int(np.argmax(changed))
print(f"head attending most to the allergen: {HEADS[allergen_head]} ({attention[allergen_head, 1]:.2f}); "
      f"ablating it breaks {changed[allergen_head]:.1%} of answers")
print(f"head whose ablation hurts most: {HEADS[key_head]} ({changed[key_head]:.1%} wrong); "
      f"it attends to the allergen with weight {attention[key_head, 1]:.2f}")
assert HEADS[allergen_head] == "L0H0" and attention[allergen_head, 1] > 0.5
assert changed[allergen_head] < 0.05, "the allergen-watching head should be nearly dispensable"
assert HEADS[key_head] == "L0H1" and changed[key_head] > 0.2
assert attention[key_head, 1] < 0.2 and attention[:, 0].max() < 0.1

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** L0H0 spends more than half of its attention from `:` on the allergen — the picture one
# would put in a paper as "the allergy head" — yet removing it changes fewer than 5 % of the answers: the
# same information reaches `:` by other routes. L0H1, which looks at the *prescribed drug*, is the head
# the model cannot do without. And no head attends from `:` to the negation cue, although the model reads
# negation perfectly: that information travels *indirectly* (Section 4). An attention map is a hypothesis;
# an intervention tests it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Direct logit attribution: who writes the answer?
#
# In an attention-only transformer the residual stream at `:` is a *sum*: token embedding + position
# embedding + the output of every head. The answer is read from it by one direction, `W_U[:, avoid] −
# W_U[:, safe]`, after the final LayerNorm. Freezing the LayerNorm scale of each note makes the read-out
# linear, so each component's share of the logit difference can be read off (Elhage et al., 2021).

# %% slideshow={"slide_type": "fragment"}
direction = model.W_U[:, AVOID] - model.W_U[:, SAFE]
scale = cache["ln_final.hook_scale"][:, Q]  # (n, 1): the frozen LayerNorm scale per note


def to_logit_diff(component):
    """Share of the logit difference written by a residual-stream component (n, d_model)."""
    centred = component - component.mean(-1, keepdim=True)
    return (centred / scale * model.ln_final.weight) @ direction


components = {"embed + pos": cache["blocks.0.hook_resid_pre"][:, Q]}
for l in range(2):
    per_head = torch.einsum("nhe,hed->nhd", cache[f"blocks.{l}.attn.hook_z"][:, Q], model.W_O[l])
    for h in range(4):
        components[f"L{l}H{h}"] = per_head[:, h]
    components[f"L{l} bias"] = model.b_O[l].expand(len(prompts), -1)
dla = {name: to_logit_diff(c) for name, c in components.items()}
rebuilt = sum(dla.values()) + model.ln_final.bias @ direction
torch.testing.assert_close(rebuilt, logit_diff, atol=1e-3, rtol=1e-3)  # the decomposition is exact

avoid = torch.from_numpy(test.labels == 1)
separation = {k: (v[avoid].mean() - v[~avoid].mean()).item() for k, v in dla.items()}
for k, v in separation.items():
    print(f"{k:12s} avoid − safe notes: {v:+.2f}")
total = logit_diff[avoid].mean() - logit_diff[~avoid].mean()
print(f"total separation: {total:.2f}")

# %% [markdown] slideshow={"slide_type": "subslide"}
# The *separation* is how much more a component pushes towards `avoid` on avoid notes than on safe
# notes. The **logit lens** (nostalgebraist, 2020) asks the same question of the whole stream: read the
# answer direction after each layer as if the model stopped there.

# %% slideshow={"slide_type": "fragment"}
def lens_logit_diff(resid):
    """Logit lens: normalise an intermediate stream with its own LayerNorm statistics, then unembed."""
    centred = resid - resid.mean(-1, keepdim=True)
    normed = centred / (centred.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt()
    return (normed * model.ln_final.weight + model.ln_final.bias) @ direction


lens_accuracy = {}
for name in ("blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre", "blocks.1.hook_resid_post"):
    lens_accuracy[name] = ((lens_logit_diff(cache[name][:, Q]) > 0).numpy() == test.labels).mean()
    print(f"logit lens at ':' after {name:25s}: accuracy {lens_accuracy[name]:.3f}")

layer1_share = sum(separation[f"L1H{h}"] for h in range(4)) / total.item()
top_direct = sorted(separation, key=separation.get, reverse=True)[:2]
print(f"layer-1 heads write {layer1_share:.0%} of the separation directly; largest direct writers: "
      f"{top_direct}")
assert lens_accuracy["blocks.0.hook_resid_pre"] == 0.5  # ':' alone knows nothing
assert lens_accuracy["blocks.1.hook_resid_post"] >= 0.98
assert set(top_direct) == {"L1H1", "L1H2"} and layer1_share > 0.6
assert max(separation.values()) / total.item() < 0.5, "no single head writes most of the answer"

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** The layer-1 heads L1H1 and L1H2 *write* most of the answer, yet ablating either one changes
# about 1 % of answers (Section 2), while L0H1 writes less directly but is the one the model cannot lose.
# Direct attribution measures only the last step; L0H1 also feeds the layer-1 heads (an *indirect*
# effect). The answer is written by several heads together — no single head writes even half of it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Probes: where does a concept become readable?
#
# A linear probe is a logistic regression trained on activations to predict a concept (Alain & Bengio,
# 2017; scikit-learn's default L2 penalty, C = 1, fitted to its optimum by the Newton solver: the default
# L-BFGS stops early, and which side of the boundary a few notes fell on then depended on the CPU's
# rounding). High accuracy means the information is *linearly decodable* there — not that the model uses
# it.
# Hewitt & Liang (2019, *EMNLP*) add a **control task**: give every word type a random label and train the
# same probe. If the probe also learns the control, it memorises word identities; **selectivity** =
# accuracy(concept) − accuracy(control) is what is left. Here the control relabels the *source word*
# (the cue for negation, the allergen for its class) at random, with the same number of labels — but
# never so that it splits the words into the **same groups as the concept**. Comparing the label vectors
# would not be enough: with four cue phrases (two affirm, two negate), one in five of the other balanced
# labellings is the concept with its two labels swapped, which splits the words the same way and is
# exactly as decodable (that happened on base seeds 3 and 5, selectivity 0). So the control compares
# *partitions* of the words and redraws any labelling that induces the concept's partition.

# %% slideshow={"slide_type": "fragment"}
train = make_notes(600, seed=derived_seed(7))
_, train_cache = model.run_with_cache(torch.from_numpy(train.tokens[:, :-1]))
rng = np.random.default_rng(derived_seed(0))


def concept(notes, name):
    """Per-note concept label and the source word type that carries it."""
    if name == "negation":
        return notes.concepts["negation"][:, 3], notes.tokens[:, 2] * 1000 + notes.tokens[:, 3]  # the cue
    return notes.concepts["drug_class"][:, 6], notes.tokens[:, 6]  # the allergen's class


def same_partition(a, b):
    """Do two labellings of the same words split them into the same groups (whatever the label names)?"""
    pairs = set(zip(a.tolist(), b.tolist(), strict=True))
    return len(pairs) == len(set(a.tolist())) == len(set(b.tolist()))


def control_map(types, labels):
    """Hewitt & Liang control: each word type gets a random label from the same label set."""
    uniq, first = np.unique(types, return_index=True)
    while True:  # balanced random labels; redraw if they group the words as the concept does
        random_labels = rng.permutation(np.resize(np.unique(labels), len(uniq)))
        if not same_partition(random_labels, labels[first]):
            return dict(zip(uniq.tolist(), random_labels.tolist(), strict=True))


def probe_correct(acts_train, y_train, acts_test, y_test):
    """Per test note: is the probe fitted on the training notes right? (its mean is the accuracy)"""
    clf = LogisticRegression(solver="newton-cholesky", max_iter=2000).fit(acts_train, y_train)  # see above
    return clf.predict(acts_test) == y_test


STREAMS = ("blocks.0.hook_resid_pre", "blocks.1.hook_resid_pre", "blocks.1.hook_resid_post")
rows, table, correct = [], [], {}  # correct: per-note hits of probe and control, for the scorecard
for name in ("negation", "allergen class"):
    y_tr, types_tr = concept(train, name)
    y_te, types_te = concept(test, name)
    cmap = control_map(types_tr, y_tr)
    c_tr, c_te = np.vectorize(cmap.get)(types_tr), np.vectorize(cmap.get)(types_te)
    for pos_name in ("allergen", "query"):
        pos = POSITIONS[pos_name]
        row = []
        for stream in STREAMS:
            a_tr, a_te = train_cache[stream][:, pos].numpy(), cache[stream][:, pos].numpy()
            hits = probe_correct(a_tr, y_tr, a_te, y_te), probe_correct(a_tr, c_tr, a_te, c_te)
            correct[name, pos_name, stream] = hits
            row.append(tuple(h.mean() for h in hits))  # (accuracy, control accuracy)
        rows.append(f"{name} @ {pos_name}")
        table.append(row)
table = np.array(table)  # (concept × position, stream, [accuracy, control])
for r, row in zip(rows, table, strict=True):
    print(f"{r:26s} " + " | ".join(f"acc {a:.2f} ctrl {c:.2f}" for a, c in row))

# %% slideshow={"slide_type": "subslide"}
fig, ax = plt.subplots(figsize=(7, 3.4))
heatmap(ax, table[..., 0] - table[..., 1], rows=rows, cols=["embeddings", "after layer 0", "after layer 1"],
        title="selectivity = probe accuracy − control accuracy")
plt.show()

majority = {name: np.bincount(concept(test, name)[0]).max() / len(test) for name in ("negation", "allergen class")}
print("majority-class baselines: " + ", ".join(f"{k} {v:.3f}" for k, v in majority.items()))
neg_q, cls_a, cls_q = table[1], table[2], table[3]
assert neg_q[0, 0] <= majority["negation"] + 0.02 and neg_q[1, 0] >= 0.95  # negation reaches ':' in layer 0
assert cls_q[0, 0] < 0.35 and cls_q[1, 0] >= 0.95  # so does the allergen's class
assert cls_a[0, 0] == 1.0 and cls_a[0, 1] == 1.0  # at the allergen token: decodable, but not selective
assert cls_q[1, 0] - cls_q[1, 1] > 0.05 and neg_q[1, 0] - neg_q[1, 1] > 0.05

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** At `:` neither the negation nor the allergen's class is readable in the embeddings (the
# probe falls to the majority class or to chance), and both become linearly decodable **after layer 0**:
# the layer-0 heads have moved them there. At the allergen token the class is "decodable" from the raw
# embedding — but so is a random relabelling of the words (selectivity 0): a 64-dimensional embedding of
# 19 words can separate any partition of them. A high probe accuracy alone proves little; the control
# task tells memorised identity from an organised concept.

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Scorecard: do the probes beat their nulls?** The concepts are planted, so a probe's held-out accuracy
# is scored against the truth, next to two nulls: the control task (the same probe on the random
# relabelling of the words) and the majority class. Three probes the reading above relies on, with 95 %
# percentile-bootstrap intervals over the 500 test notes (the probes stay fixed; a probe that makes no
# error gets [1, 1]). Both nulls are scored on the *same* 500 notes, so the comparison is **paired**: per
# note, probe right (1) or wrong (0) minus the null right or wrong, and a 95 % percentile-bootstrap
# interval of the mean difference that resamples the notes jointly (`xaihealth.scorecard.paired_difference`).
# A probe beats a null when that interval (Δ below) lies above 0. "Held-out" means: the probes were
# fitted on the 600 notes of another seed; as in Section 1, a few test notes occur there verbatim too
# (printed below).

# %% slideshow={"slide_type": "fragment"}
def with_ci(hits):
    ci = bootstrap((hits.astype(float),), np.mean, method="percentile", batch=1000,  # batches: memory
                   rng=np.random.default_rng(derived_seed(50))).confidence_interval
    return float(hits.mean()), float(ci.low), float(ci.high)


probe_seen = {note.tobytes() for note in train.tokens}
print(f"{sum(note.tobytes() in probe_seen for note in test.tokens)} of the 500 test notes also occur "
      "verbatim among the probes' 600 training notes")
probe_verdicts = {}
PROBES = (("negation", "query", STREAMS[1], "':' after layer 0"),
          ("allergen class", "query", STREAMS[1], "':' after layer 0"),
          ("allergen class", "allergen", STREAMS[0], "allergen token, embeddings"))
for name, pos_name, stream, where in PROBES:
    hits, control_hits = correct[name, pos_name, stream]
    y = concept(test, name)[0]
    score, lo, hi = with_ci(hits)
    null_hits = {"control task": control_hits, "majority class": y == np.bincount(y).argmax()}  # per note
    nulls = {k: {"score": float(v.mean()), "interval": with_ci(v)[1:],
                 "paired": paired_difference(hits.astype(float), v.astype(float), seed=derived_seed(51))}
             for k, v in null_hits.items()}
    row = dict(module="05", method=f"linear probe: {name} at {where}",
               data="synthetic notes, 2-layer transformer", truth=f"{name} (planted)",
               metric="held-out accuracy (500 notes)", score=score, interval=(lo, hi), baselines=nulls)
    built = make_row(**row)
    probe_verdicts[name, where] = missed = [b.name for b in built.baselines if not built.beats(b)]
    record(**row, note="does not beat the " + " or the ".join(missed) if missed else "")
    print(f"{name} @ {where}: {score:.2f} [{lo:.2f}, {hi:.2f}] -> "  # 2 digits: 1 note = 0.002
          + ("beats every null" if not missed else "does not beat the " + " or the ".join(missed)))
    for b in built.baselines:
        print(f"    {b.name:15s} {b.score:.2f}; Δ = probe − null {score - b.score:+.2f} "
              f"[{b.diff_low:+.2f}, {b.diff_high:+.2f}]")
assert not probe_verdicts["allergen class", "':' after layer 0"]
assert probe_verdicts["allergen class", "allergen token, embeddings"] == ["control task"]
assert not probe_verdicts["negation", "':' after layer 0"]  # held on base seeds 0..5 (partition control)

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Reading.** After layer 0, the allergen's class and negation at `:` are both decoded far above both
# nulls: per note, the probe is right more often than the control task (Δ +0.15 for the class, +0.40 for
# negation) and than the majority class (+0.73, +0.35), all paired intervals well above 0, and on the five
# fresh draws too. At the allergen token the class probe is perfect but so is its control — Δ exactly 0,
# the two are right on the same notes: it beats the majority class, not the control task; decodable, not
# selective. Before the control compared partitions, the negation control could be the concept with its
# labels swapped (base seeds 3 and 5), exactly as decodable as the concept, and this notebook could assert
# only that the negation probe beats the majority class; now it asserts that it beats both nulls.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Activation patching: which activations carry the allergen?
#
# Causal tracing (Meng et al., 2022, *NeurIPS*; Wang et al., 2023, *ICLR*): take pairs of prompts that
# differ **only in the allergen** (clean: `avoid`; corrupted: another class, `safe`). Run the corrupted
# prompt, paste one activation from the clean run, and measure how much of the answer comes back:
# recovery = (patched − corrupted) / (clean − corrupted) on the logit difference, 0 = nothing, 1 = all.
# `transformer_lens.patching` does the loops for us (the lab builds one by hand).

# %% slideshow={"slide_type": "fragment"}
pairs = make_patching_pairs(100, seed=derived_seed(5))
clean, corrupt = torch.from_numpy(pairs.clean_tokens), torch.from_numpy(pairs.corrupt_tokens)
clean_logits, clean_cache = model.run_with_cache(clean)


def mean_logit_diff(logits):
    return (logits[:, -1, AVOID] - logits[:, -1, SAFE]).mean()


clean_ld, corrupt_ld = mean_logit_diff(clean_logits), mean_logit_diff(model(corrupt))


def recovery(logits):
    return (mean_logit_diff(logits) - corrupt_ld) / (clean_ld - corrupt_ld)


by_position = patching.get_act_patch_resid_pre(model, corrupt, clean_cache, recovery)
by_head = patching.get_act_patch_attn_head_out_all_pos(model, corrupt, clean_cache, recovery)
print(f"logit difference: clean {clean_ld:.2f}, corrupted {corrupt_ld:.2f}")
words = tok.decode(pairs.clean_tokens[0], skip_special=False).split()
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2), gridspec_kw={"width_ratios": [3, 1]})
heatmap(axes[0], by_position.numpy(), rows=["resid_pre L0", "resid_pre L1"],
        cols=[f"{i} {w}" for i, w in enumerate(words)], title="recovery, residual stream", fmt="{:.1f}")
heatmap(axes[1], by_head.numpy(), rows=["L0", "L1"], cols=[f"H{h}" for h in range(4)],
        title="recovery, one head (all positions)")
plt.tight_layout()
plt.show()

A, QP = POSITIONS["allergen"], POSITIONS["query"]
print(f"layer-1 input: allergen position {by_position[1, A]:.2f}, ':' position {by_position[1, QP]:.2f}, "
      f"elsewhere at most {by_position[1, [p for p in range(17) if p not in (A, QP)]].abs().max():.2f}")
head_rank = sorted(zip(by_head.flatten().tolist(), HEADS, strict=True), reverse=True)
print("heads by recovery: " + ", ".join(f"{n} {v:.2f}" for v, n in head_rank))
assert abs(by_position[0, A] - 1) < 1e-4 and by_position[0, :A].abs().max() < 1e-4
assert by_position[1, A] > 0.15 and by_position[1, QP] > 0.4 and by_position[1, A] + by_position[1, QP] > 0.8
assert by_head.max() < 0.7, "no single head restores most of the answer"
assert {n for v, n in head_rank if v > 0.2} == {"L0H1", "L1H1", "L0H0", "L1H2"}

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** At the model's input the whole difference sits, by construction, in the allergen token
# (recovery 1). At the input of layer 1 it is **split**: part is still at the allergen position (the
# layer-1 heads fetch it from there) and most has already been moved to `:` by layer 0. Patching one head
# at a time never restores more than about half the answer; four heads (L0H1, L1H1, L0H0, L1H2) each
# restore more than a fifth. The patching agrees with Sections 2–4: the check is a small **distributed
# circuit** of layer-0 movers and layer-1 writers.
#
# ## What this means for the clinic
#
# The issue that motivated this module hoped for one "allergy-checking head" that could be audited or
# monitored. **This model has none.** The head that *looks* like it (L0H0, attention on the allergen) is
# nearly dispensable; the decision is spread over four heads and two positions. An audit built on
# attention maps would have certified the wrong component. Even in a 2-layer toy trained on an 18-token
# template, explanations must be interventions (ablation, patching) checked against each other — and
# claims of a single responsible unit must be measured, not assumed. QK/OV circuits and sparse
# autoencoders are left for the lab (OV read-out) and a follow-up notebook.
