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
# *XAI for Health, module 05.* An autoregressive language model reads a clinical note token by token and
# predicts the next token; asked "prescribe naproxen :", its next token is the answer `safe` or `avoid`.
# In a clinic the first question about such an answer is **where it comes from**: from what *this* note
# says (the recorded allergy, its negation, the drug), or from a bias memorised in training ("NSAIDs are
# usually avoided", "this exact note was in the training set")? Saliency maps (module 04) say which
# words mattered. Here we open the model and ask *how* it computes the answer: which attention heads
# move which information, where a concept becomes readable, and which components are causally
# necessary or sufficient. This is **mechanistic interpretability** (Elhage et al., 2021, *A Mathematical
# Framework for Transformer Circuits*, Transformer Circuits Thread; Wang et al., 2023, *ICLR*, the IOI
# circuit).
#
# **Question of the module:** is there one "allergy-checking head" that we could audit?
#
# **Model and data:** a 2-layer, 4-head, attention-only transformer (TransformerLens 4,
# `TransformerBridge.boot_native`; this bridge does **not** fold LayerNorm into the weights) trained on
# synthetic notes with a planted rule (datasheet: `datasets/synthetic_notes.md`). No real patient is
# behind any note.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** A small transformer reads a templated clinical note and answers `safe` or `avoid` for a
# prescription given a stated allergy. Saliency says which words mattered; here we open the model and ask how
# it computes the answer — heads, probes, ablations and activation patching, each against a null.
#
# **Clinical point:** the first question about a model's answer is where it comes from: this note, or a
# memorised prior.
#
# **Expected question:** "Why a toy model?" — *Answer:* the rule is planted, so we can check every
# mechanistic claim against the truth before trusting the methods on a real LLM.

# %% slideshow={"slide_type": "skip"}
import ctypes
import os
from functools import lru_cache
from itertools import combinations

os.environ["TQDM_DISABLE"] = "1"  # before transformer_lens imports tqdm: no progress bars in the outputs

import matplotlib.pyplot as plt
import numpy as np
import torch
from scipy.stats import bootstrap, kendalltau
from sklearn.linear_model import LogisticRegression
from transformer_lens import patching

from xaihealth.checkpoints import checkpoint_entry
import json
from pathlib import Path

from xaihealth.data.notes import PAIR_KINDS, POSITIONS, NotesTokenizer, in_heldout, make_notes, make_patching_pairs
from xaihealth.models.notes_transformer import load_notes_transformer
from xaihealth.notebook import derived_seed, setup
from xaihealth.plots.llm_internals import heatmap
from xaihealth.scorecard import make_row, paired_difference, record

SEED = setup(seed=0)
torch.set_grad_enabled(False)
try:  # memory (glibc only): a fixed mmap threshold returns freed activation buffers to the OS at once
    ctypes.CDLL("libc.so.6").mallopt(-3, 128 * 1024)  # -3 = M_MMAP_THRESHOLD; ~0.3 GB lower peak here
except (OSError, AttributeError):
    pass
patching.tqdm = lambda iterable, **kwargs: iterable  # no progress bars (timings) in the outputs
model = load_notes_transformer()
tok = NotesTokenizer()
AVOID, SAFE, Q = tok.token_id("avoid"), tok.token_id("safe"), POSITIONS["query"]
HEADS = [f"L{l}H{h}" for l in range(2) for h in range(4)]
N_BOOT = 1000  # bootstrap resamples for every 95 % percentile interval below


def ci(values, statistic=np.mean, k=50):
    """Value and 95 % percentile-bootstrap interval (N_BOOT resamples) of a statistic over cases."""
    values = np.asarray(values, dtype=float)
    if np.allclose(values, values[0]):
        return float(statistic(values)), float(values[0]), float(values[0])
    res = bootstrap((values,), statistic, method="percentile", n_resamples=N_BOOT, batch=500,
                    rng=np.random.default_rng(derived_seed(k)))  # fmt: skip
    return float(statistic(values)), float(res.confidence_interval.low), float(res.confidence_interval.high)


def fmt(v):
    return f"{v[0]:+.2f} [{v[1]:+.2f}, {v[2]:+.2f}]"


def answer_ld(logits):
    """Per note: logit(avoid) − logit(safe) at ':' (> 0 means the model answers 'avoid')."""
    return logits[:, Q, AVOID] - logits[:, Q, SAFE]


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. The model, its task, and notes it has never seen
#
# Every note has the same 18 tokens, so a position means the same thing in every note:
#
# `<bos> patient has an allergy to ketorolac , reaction mild . findings rash . prescribe naproxen : avoid`
#
# The answer after `:` (position 16) is `avoid` iff the allergy is **affirmed** (not "has no" / "denies
# any", positions 2–3) **and** the prescribed drug (15) is the allergen (6) or in its drug class. Severity
# (9) and finding (12) are drawn independently and never matter. (Until issue 13 the severity slot read
# `none` exactly when the allergy was negated: a second, redundant negation cue that the old model used.
# The generator now draws it independently and the model was retrained.)
#
# **Held-out notes.** The template allows few distinct notes: a fresh seed mostly repeats training
# notes. The generator therefore reserves about a fifth of the (cue, allergen, drug) combinations
# (`HELDOUT_FRACTION = 0.2` of the covered and of the uncovered drugs of every (cue, allergen) row); the
# model was trained on `split="train"` only and we test on `split="heldout"`. **Held out only in
# wording:** the reservation is drawn per cue *phrase*, so a reserved "has an … X … Y" usually has "reports
# an … X … Y" — the same meaning — in training. We measure this *meaning-level* overlap next to the
# verbatim one, and evaluate the claims that need novelty on the **strict** subset: notes whose
# (negation, allergen, drug) combination never occurs in training (`in_heldout(tokens, strict=True)`).

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** A 2-layer, 4-head attention-only transformer answers `safe` or `avoid` after "prescribe X :".
# The rule: avoid iff the allergy is affirmed and the drug is the allergen or in its class. Because the
# template allows few distinct notes, a fifth of the combinations is reserved; they are held out in wording
# only — most have a same-meaning twin in training (printed share) — so the claims that need novelty use the
# strict subset. Accuracy is essentially perfect there too, and every one-word change that flips the rule
# flips the answer (asserted).
#
# **Clinical point:** the first question about a model's answer is whether it comes from this note or from
# a memorised prior; matched one-word pairs answer *that* — not yet *how*.
#
# **Expected question:** "Is a fresh seed not enough for a test set?" — *Answer:* no; a new seed repeats
# about 40 % of the training notes verbatim here (printed).

# %% slideshow={"slide_type": "subslide"}
# the shipped model's training notes
training_seed = checkpoint_entry("notes_transformer")["data_seed"]
train_notes = make_notes(20000, seed=training_seed, split="train")
seen = {note.tobytes() for note in train_notes.tokens}
NEG_IDS = {tok.token_id("no"), tok.token_id("any")}


def meaning(rows, full=False):
    """(negated, allergen, drug) of each note; full=True adds severity and finding
    (all but the cue verb)."""
    return [
        (r[3] in NEG_IDS, r[6], r[15], *((r[9], r[12]) if full else ()))
        for r in rows.tolist()
    ]


seen_meaning, seen_full = (
    set(meaning(train_notes.tokens)),
    set(meaning(train_notes.tokens, full=True)),
)

# %% slideshow={"slide_type": "subslide"}
del train_notes
test = make_notes(1000, seed=derived_seed(123), split="heldout")
# a new seed but any combination: for comparison
fresh_any = make_notes(1000, seed=derived_seed(124))
overlap = {
    "held-out": np.mean([r.tobytes() in seen for r in test.tokens]),
    "new seed, any combination": np.mean(
        [r.tobytes() in seen for r in fresh_any.tokens]
    ),
}
same_meaning = np.array([m in seen_meaning for m in meaning(test.tokens)])
same_but_cue = np.mean([m in seen_full for m in meaning(test.tokens, full=True)])
# meaning reserved for both cue phrases: never in training
strict = in_heldout(test.tokens, strict=True)
prompts = torch.from_numpy(test.tokens[:, : POSITIONS["answer"]])  # stop at ':'

# %% slideshow={"slide_type": "subslide"}
NEEDED = (
    "hook_v",
    "hook_pattern",
    "hook_z",
    "hook_resid_pre",
    "hook_resid_post",
    # memory: not all ~60 hooks
    "hook_attn_out",
    "hook_embed",
    "hook_pos_embed",
    "ln_final.hook_scale",
)
logits, cache = model.run_with_cache(
    prompts, names_filter=lambda name: name.endswith(NEEDED)
)
ld = answer_ld(logits)
sign = torch.from_numpy(2 * test.labels - 1).float()
margin = (ld * sign).numpy()  # > 0: right; its size is the model's confidence
right = margin > 0

# %% slideshow={"slide_type": "subslide"}
trap = (test.concepts["negation"][:, 3] == 1) & (
    test.concepts["drug_class"][:, 6] == test.concepts["drug_class"][:, 15]
)
acc, acc_trap = ci(right, k=1), ci(right[trap], k=2)
acc_strict, margin_strict = ci(right[strict], k=3), ci(margin[strict], k=4)
for name, value in overlap.items():
    print(f"verbatim in the 20,000 training notes: {name}: {value:.1%}")
print(
    f"held-out notes whose (negation, allergen, drug) occurs in training: "
    f"{same_meaning.mean():.1%}; identical "
    f"to a training note apart from the cue verb: {same_but_cue:.1%}; strict subset "
    f"(meaning never in "
    f"training): {strict.sum()} of {len(strict)} notes, {test.labels[strict].sum()} of "
    f"them 'avoid' (from only "
    f"{len(set(meaning(test.tokens[strict & (test.labels == 1)])))} distinct meanings)"
);

# %% slideshow={"slide_type": "subslide"}
print(
    f"held-out accuracy {acc[0]:.3f} [{acc[1]:.3f}, {acc[2]:.3f}]; on the {trap.sum()} "
    f"negated "
    f"same-class traps {acc_trap[0]:.3f} [{acc_trap[1]:.3f}, {acc_trap[2]:.3f}]; "
    f"smallest margin "
    f"{margin.min():.1f}, mean {margin.mean():.1f}"
)
print(
    f"strict subset: accuracy {acc_strict[0]:.3f} [{acc_strict[1]:.3f}, "
    f"{acc_strict[2]:.3f}], mean margin "
    f"{fmt(margin_strict)} (all held-out: {margin.mean():.1f})"
)
print(test.texts[0])

# %% slideshow={"slide_type": "skip"}
assert overlap["held-out"] == 0.0 and overlap["new seed, any combination"] > 0.2
assert same_meaning.mean() > 0.5, "held out in wording only: most meanings occur in training"
assert not same_meaning[strict].any() and strict.sum() >= 100
assert acc[1] >= 0.98 and acc_trap[1] >= 0.95 and acc_strict[1] >= 0.95

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Prompt or memorised bias?** A model that answers from a memorised prior ("nsaids → avoid") would
# keep its answer when the note changes in the one word that matters. Three kinds of matched pairs
# (`make_patching_pairs(kind=...)`, held-out combinations) change one slot of an `avoid` note so that the
# rule says `safe`: the **allergen** (another class), the **negation** ("has an" → "has no", "reports an"
# → "denies any") or the **prescribed drug** (outside the class). We count how often the answer follows
# the prompt.

# %% slideshow={"slide_type": "fragment"}
N_PAIRS = 1000
pair_sets = {}

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
for i, kind in enumerate(PAIR_KINDS):
    p = make_patching_pairs(
        N_PAIRS, seed=derived_seed(200 + i), kind=kind, split="heldout"
    )
    clean_t, corrupt_t = (
        torch.from_numpy(p.clean_tokens),
        torch.from_numpy(p.corrupt_tokens),
    )
    pair_sets[kind] = dict(
        clean=clean_t,
        corrupt=corrupt_t,
        clean_ld=answer_ld(model(clean_t)),
        corrupt_ld=answer_ld(model(corrupt_t)),
    )
    s = pair_sets[kind]
    follows = ((s["clean_ld"] > 0) & (s["corrupt_ld"] < 0)).numpy()
    novel = in_heldout(p.clean_tokens, strict=True) & in_heldout(
        p.corrupt_tokens, strict=True
    )
    print(
        f"{kind:8s} swap (differs at {PAIR_KINDS[kind]}): the answer follows the "
        f"prompt in "
        f"{follows.mean():.1%} of {N_PAIRS} pairs; mean logit difference clean "
        f"{s['clean_ld'].mean():+.1f}, "
        f"corrupted {s['corrupt_ld'].mean():+.1f}; strict pairs (both meanings never "
        f"in training): "
        f"{novel.sum()}, followed in "
        f"{follows[novel].mean() if novel.any() else float('nan'):.1%}"
    )
    assert follows.mean() >= 0.99 and (not novel.any() or follows[novel].mean() >= 0.95)

# %% [markdown] slideshow={"slide_type": "fragment"}
# On held-out combinations the answer follows the note: every one-word change that flips the rule
# flips the answer, and the same holds on the strict subset, whose meaning the model never saw (printed
# below the pair counts). This tells us *that* the prompt drives the answer, not *how*. The rest of the
# module asks how — and which explanation methods would have told us the truth. (The intervention
# analyses below use all held-out pairs: they ask how the model computes, not whether it generalises.)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. Attention, written out — and why it is not an explanation
#
# One head of layer ℓ reads the (LayerNorm-ed) residual stream X (one row per position) and computes
#
# $$A = \mathrm{softmax}\!\left(\frac{Q K^\top}{\sqrt{d_k}} + M\right),\quad Q = X W_Q + b_Q,\;
#   K = X W_K + b_K,\qquad z = A\,(X W_V + b_V),\qquad \text{output} = z\, W_O$$
#
# with $d_k = 16$, the softmax over the *key* axis (each row of A sums to 1) and the causal mask
# $M_{ij} = -\infty$ for $j > i$ (a token never reads the future). The four head outputs are summed
# (plus $b_O$) into the residual stream. Rebuilding A from the cached Q and K is Exercise 4 of the lab;
# here we check the second half on the model's own pattern: z = A·V per head, and the sum of the heads'
# z·W_O plus b_O is the attention output. (In this bridge `hook_attn_scores` holds the post-softmax
# pattern too, so pre-softmax scores must be rebuilt from `hook_q`/`hook_k`.)

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** Attention written out: softmax of QKᵀ/√d_k with a causal mask, z = A·V, output z·W_O — checked on
# the model's own cache. The attention from `:` is spread and differs note by note. Per note, Kendall τ
# between a head's attention and each token's occlusion effect stays well below 1 for every head, with
# either fill (asserted < 0.5).
#
# **Clinical point:** attention says where a head reads, not what it does with it; an audit built on
# attention maps certifies a picture, not the mechanism (Jain & Wallace, 2019).
#
# **Expected question:** "Which fill is right for occlusion?" — *Answer:* neither is neutral; `<pad>` is an
# input the model never saw, another note's word is in-distribution — we report both.

# %% slideshow={"slide_type": "fragment"} tags=["remove-input"]
for layer in range(2):
    A_l = cache[f"blocks.{layer}.attn.hook_pattern"]  # (n, head, query, key)
    torch.testing.assert_close(A_l.sum(-1), torch.ones_like(A_l.sum(-1)))  # rows sum to 1 over keys
    assert A_l.triu(diagonal=1).abs().max() == 0  # causal: no weight on later keys
    z = torch.einsum("nhqk,nkhd->nqhd", A_l, cache[f"blocks.{layer}.attn.hook_v"])
    torch.testing.assert_close(z, cache[f"blocks.{layer}.attn.hook_z"], atol=1e-5, rtol=1e-4)
    out = torch.einsum("nqhd,hde->nqe", z, model.W_O[layer]) + model.b_O[layer]
    torch.testing.assert_close(out, cache[f"blocks.{layer}.hook_attn_out"], atol=1e-4, rtol=1e-4)
print("z = A·V per head and Σ_h z_h W_O,h + b_O reproduce hook_z and hook_attn_out in both layers")

# %% [markdown] slideshow={"slide_type": "subslide"}
# **All positions, and per note.** The attention *from* `:` of each head over every position, first
# averaged over the 1,000 held-out notes, then for 12 single notes of one head: an average can hide a
# head that attends hard to one place in some notes and elsewhere in others.

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
words = tok.decode(test.tokens[0, :17], skip_special=False).split()
cols = [f"{i} {w if i not in (2, 3, 6, 9, 12, 15) else '‹' + name + '›'}" for i, (w, name) in enumerate(
    zip(words, ["", "", "cue", "cue", "", "", "allergen", "", "", "severity", "", "", "finding", "", "",
                "drug", ""], strict=True))]  # fmt: skip
att_from_q = torch.stack([cache[f"blocks.{l}.attn.hook_pattern"][:, h, Q] for l in range(2) for h in range(4)],
                         dim=1).numpy()  # (n, head, key position)
fig, axes = plt.subplots(1, 2, figsize=(12, 3.8))
heatmap(axes[0], att_from_q.mean(0), rows=HEADS, cols=cols, title="mean attention from ':' (1,000 notes)",
        cmap="Blues", center=False, fmt="{:.1f}")
show_head = HEADS.index("L0H3")
heatmap(axes[1], att_from_q[:12, show_head], rows=[f"note {i}" for i in range(12)], cols=cols,
        title="L0H3, attention from ':' per note", cmap="Blues", center=False, fmt="{:.1f}")
plt.tight_layout()
plt.show()
top = att_from_q.argmax(-1)  # (n, head): where each head looks hardest, per note
for h, name in enumerate(HEADS):
    places, counts = np.unique(top[:, h], return_counts=True)
    print(f"{name}: hardest-attended position per note: "
          + ", ".join(f"{p} ({c / len(top):.0%})" for p, c in zip(places, counts, strict=True) if c / len(top) > 0.05))

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Does attention track what matters? (Jain & Wallace, 2019, *NAACL*.)** Jain and Wallace compared
# attention weights with gradient- and leave-one-out importance of each input token (Kendall τ, per
# example) and found the two often disagree. We do the same for each head: per note, Kendall τ between
# the head's attention from `:` over positions 1–15 and the **occlusion effect** of each of those
# tokens (replace the token and take the absolute change of the logit difference), with two fills:
# `<pad>`, a token the model never saw in training (off-distribution), and the word another note has in
# that slot (in-distribution; a template word is then unchanged, effect 0). A mean τ near 1 would make
# the attention map a faithful importance map for that head; the 95 % intervals are over notes (200
# notes, to keep the cell fast; all 15 occluded copies of each note go through the model in one batch).

# %% slideshow={"slide_type": "subslide"}
N_OCC = 200
occ_prompts = prompts[:N_OCC]
base_ld = ld[:N_OCC]


def occlusion_effects(fill):
    """|Δ logit difference| per note and position 1..15; fill (N_OCC, 16) holds the
    replacement tokens."""
    batch = occ_prompts.repeat(15, 1)  # block b occludes position b + 1 of every note
    block = torch.arange(15).repeat_interleave(N_OCC)
    batch[torch.arange(len(batch)), block + 1] = fill[:, 1:16].T.reshape(-1)
    return (answer_ld(model(batch)).view(15, N_OCC).T - base_ld[:, None]).abs().numpy()


fills = {
    "<pad>": torch.full_like(occ_prompts, tok.pad_id),
    "another note's word": occ_prompts[
        torch.from_numpy(np.random.default_rng(derived_seed(59)).permutation(N_OCC))
    ],
}

# %% slideshow={"slide_type": "subslide"}
tau_ci = {}

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
for f, (fill_name, fill) in enumerate(fills.items()):
    occlusion = occlusion_effects(fill)
    taus = np.array(
        [
            [
                kendalltau(att_from_q[i, h, 1:16], occlusion[i]).statistic
                for h in range(8)
            ]
            for i in range(N_OCC)
        ]
    )
    # a note whose effects are all tied has no τ: counted as 0
    taus = np.nan_to_num(taus)
    for h, name in enumerate(HEADS):
        tau_ci[fill_name, name] = ci(taus[:, h], k=60 + h + 8 * f)
    print(
        f"fill {fill_name}: Kendall τ (attention from ':' vs occlusion effect): "
        + ", ".join(f"{name} {fmt(tau_ci[fill_name, name])}" for name in HEADS)
    )
    print(
        f"  mean occlusion effect per position: "
        + ", ".join(
            f"{p} {e:.1f}" for p, e in enumerate(occlusion.mean(0), start=1) if e > 0.5
        )
    )

# %% slideshow={"slide_type": "skip"}
assert max(v[2] for v in tau_ci.values()) < 0.5, "with either fill, no head's attention is a faithful occlusion map"

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Reading.** Occluding the negation word of the cue (3), the allergen (6) or the drug (15) moves the
# answer most — the three slots of the rule (the cue verb at 2 alone does not decide negation) — while the heads' attention from `:` is spread over other positions too, and
# no head's per-note τ with the occlusion effect comes close to 1 (the largest upper bound is printed
# above). Note also that occlusion with `<pad>` is itself a probe of an input the model never saw:
# occlusion (or LIME on words, Ribeiro et al., 2016, *KDD*) is a *surface-level* method — it says which
# words matter, not which components use them. Attention says where a head reads, not what it does with
# it; the interventions below test that.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Ablation: three ways to remove a head
#
# To remove head h we replace its output `hook_z` at every position by: its **mean** over the notes
# (mean ablation), **zero** (zero ablation — an input the next layer never saw), or its value on
# **another note** drawn at random (resample ablation; Chan et al., 2022, causal scrubbing). Counting
# flipped answers hides most effects: the smallest margin is printed in Section 1 (about 5 logits), and
# a head can halve every margin without flipping one answer. We score the **normalised logit-difference
# drop** instead: 1 − mean(signed margin after) / mean(signed margin before), 0 = no effect, 1 = the
# margin is gone, with a paired bootstrap interval over the notes.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** Three ways to remove a head — mean, zero, resample — scored by the normalised drop of the
# logit-difference margin, not by flipped answers. They agree on which heads matter (L0H0, L0H3, L1H1,
# L1H3) and disagree on the size: under mean ablation no head removes most of the margin, under resample
# ablation L0H3 alone does (both asserted). Zero ablation can even raise the margin.
#
# **Clinical point:** "how much does this component matter" is a statement per metric; a flip count would
# have called heads that halve the margin unimportant.
#
# **Expected question:** "Which ablation should I trust?" — *Answer:* say which question you ask: mean asks
# "replace by an uninformative average", resample "replace by another patient's information".

# %% slideshow={"slide_type": "fragment"}
perm = np.random.default_rng(derived_seed(30)).permutation(len(prompts))

# %% slideshow={"slide_type": "subslide"}
def ablate(heads, how):
    """Signed margins with the given (layer, head)s' hook_z replaced ('mean', 'zero'
    or 'resample')."""

    # the name is passed in: in this bridge hook.name is an alias
    def make_hook(name, head):
        def hook(z, hook):
            cached = cache[name][:, :, head]
            z[:, :, head] = {
                "mean": cached.mean(0),
                "zero": torch.zeros_like(cached[0]),
                "resample": cached[perm],
            }[how]
            return z

        return hook

    hooks = [
        (f"blocks.{l}.attn.hook_z", make_hook(f"blocks.{l}.attn.hook_z", h))
        for l, h in heads
    ]
    return (answer_ld(model.run_with_hooks(prompts, fwd_hooks=hooks)) * sign).numpy()

# %% slideshow={"slide_type": "subslide"}
def normalised_drop(before, after, axis=-1):
    return 1 - after.mean(axis) / before.mean(axis)

# %% slideshow={"slide_type": "subslide"}
def drop_ci(after, k):
    res = bootstrap(
        (margin, after),
        normalised_drop,
        paired=True,
        vectorized=True,
        method="percentile",
        n_resamples=N_BOOT,
        batch=500,
        rng=np.random.default_rng(derived_seed(k)),
    )
    return (
        normalised_drop(margin, after),
        res.confidence_interval.low,
        res.confidence_interval.high,
    )

# %% slideshow={"slide_type": "subslide"}
HOW = ("mean", "zero", "resample")
ablated = {
    (name, how): ablate([(i // 4, i % 4)], how)
    for i, name in enumerate(HEADS)
    for how in HOW
}
ablation = {
    (name, how): drop_ci(ablated[name, how], k=70 + 3 * i + j)
    for i, name in enumerate(HEADS)
    for j, how in enumerate(HOW)
}

# %% slideshow={"slide_type": "subslide"}
flips = {name: (ablated[name, "mean"] < 0).mean() for name in HEADS}
for name in HEADS:
    print(
        f"{name}: "
        + " | ".join(f"{how} {fmt(ablation[name, how])}" for how in HOW)
        + f" | answers flipped (mean) {flips[name]:.1%}"
    )

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
fig, ax = plt.subplots(figsize=(5.5, 3.4))
heatmap(
    ax,
    np.array([[ablation[n, h][0] for h in HOW] for n in HEADS]),
    rows=HEADS,
    cols=list(HOW),
    title="normalised logit-difference drop",
    cmap="Reds",
    center=False,
)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** The three ablations agree on which heads matter (L0H0, L0H3, L1H1, L1H3) and disagree on
# the size — and the size changes the conclusion. Under **mean** ablation no head removes most of the
# margin; under **resample** ablation L0H3 alone removes most of it (printed below): resampling hands the
# head another note's information, often the opposite answer's, where the mean is an uninformative
# average. Zero ablation is off-distribution in both directions: it can remove less than the mean or
# even *raise* the margin (a negative drop; compare the zero and mean columns above). And a head can lose
# a sizeable share of the margin while flipping almost no answers (compare the mean-ablation drop with
# the flip count printed above) — a flip count would have called it unimportant. "Which single head
# matters how much" is therefore a statement *per metric*; the asserts below state what held on base
# seeds 0..5, 7 and 9.

# %% slideshow={"slide_type": "subslide"}
mean_drop = {n: ablation[n, "mean"] for n in HEADS}
important = {n for n, v in mean_drop.items() if v[1] > 0.1}
print(
    f"heads whose mean-ablation drop is > 0.1 with its whole interval: "
    f"{sorted(important)}"
)
resample_l0h3, max_flips = ablation["L0H3", "resample"], max(flips.values())
print(
    f"largest mean-ablation drop {max(v[0] for v in mean_drop.values()):.2f}; L0H3 "
    f"under resample ablation "
    f"{fmt(resample_l0h3)}; largest share of answers flipped by a mean ablation "
    f"{max_flips:.1%}"
)

# %% slideshow={"slide_type": "skip"}
assert {"L0H0", "L0H3", "L1H1"} <= important, "the three main heads each carry > 10 % of the margin"
assert max(v[0] for v in mean_drop.values()) < 0.6, "under MEAN ablation no single head removes most of the margin"
assert resample_l0h3[1] > 0.5, "under RESAMPLE ablation L0H3 alone removes most of the margin"
assert mean_drop["L1H2"][2] < 0.05, "L1H2 is dispensable"

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Direct logit attribution — and a LayerNorm trap
#
# In an attention-only transformer the residual stream at `:` is a *sum*: embeddings + every head's
# output + biases. The answer reads it through the final LayerNorm and the direction `W_U[:, avoid] −
# W_U[:, safe]`. With the LayerNorm scale of each note frozen, the read-out is linear and each
# component's share of the logit difference can be read off (Elhage et al., 2021):
# share = ((c − mean(c)) / scale · γ) · (W_U[:, avoid] − W_U[:, safe]), with γ = `ln_final.weight`.
#
# **Warning.** TransformerLens's `cache.apply_ln_to_stack` assumes that γ has been *folded* into W_U
# (`fold_ln=True` of `HookedTransformer`). This bridge does not fold LayerNorm, so `apply_ln_to_stack`
# divides by the scale but silently drops γ: its attributions do not add up to the logit difference.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** In an attention-only model the residual stream at `:` is a sum, and with the LayerNorm scale
# frozen each component's direct share of the logit difference can be read off. The trap: this bridge does
# not fold γ into W_U, so `apply_ln_to_stack` silently drops it and the attributions come out about 11 % low
# (printed, asserted measurably low). Done correctly they add up exactly; no component writes most of the
# separation (asserted).
#
# **Clinical point:** a silent 10 % error in an attribution tool looks plausible; always check that
# attributions add up to what they claim to decompose.
#
# **Expected question:** "Why is L0H3 small in direct attribution but important in ablation?" — *Answer:*
# direct attribution sees only the last step; L0H3 feeds layer 1 (an indirect effect).

# %% slideshow={"slide_type": "subslide"}
direction = model.W_U[:, AVOID] - model.W_U[:, SAFE]
# (n, 1): the frozen LayerNorm scale per note
scale = cache["ln_final.hook_scale"][:, Q]


def to_logit_diff(component):
    """Share of the logit difference written by a residual-stream component (n,
    d_model): γ included."""
    centred = component - component.mean(-1, keepdim=True)
    return (centred / scale * model.ln_final.weight) @ direction


components = {"embed + pos": cache["blocks.0.hook_resid_pre"][:, Q]}
for l in range(2):
    per_head = torch.einsum(
        "nhe,hed->nhd", cache[f"blocks.{l}.attn.hook_z"][:, Q], model.W_O[l]
    )
    for h in range(4):
        components[f"L{l}H{h}"] = per_head[:, h]
    components[f"L{l} bias"] = model.b_O[l].expand(len(prompts), -1)

# %% slideshow={"slide_type": "subslide"}
dla = {name: to_logit_diff(c) for name, c in components.items()}
rebuilt = sum(dla.values()) + model.ln_final.bias @ direction

# %% slideshow={"slide_type": "skip"}
# the decomposition is exact
torch.testing.assert_close(rebuilt, ld, atol=1e-3, rtol=1e-3);

# %% slideshow={"slide_type": "subslide"}
# embed, pos_embed, 0_attn_out, 1_attn_out
stack = cache.decompose_resid(layer=-1, pos_slice=Q)
naive = (cache.apply_ln_to_stack(stack, layer=-1, pos_slice=Q) @ direction).sum(0)
ratio = ci((naive / (ld - model.ln_final.bias @ direction)).numpy(), k=90)
print(
    f"apply_ln_to_stack (γ dropped) / true logit difference: {ratio[0]:.3f} "
    f"[{ratio[1]:.3f}, {ratio[2]:.3f}], "
    f"i.e. {1 - ratio[0]:.0%} low"
);

# %% slideshow={"slide_type": "skip"}
assert ratio[2] < 0.97, "the naive attribution is measurably low"

# %% slideshow={"slide_type": "subslide"}
avoid = torch.from_numpy(test.labels == 1)
separation = {k: (v[avoid].mean() - v[~avoid].mean()).item() for k, v in dla.items()}
total = ld[avoid].mean() - ld[~avoid].mean()
for k, v in separation.items():
    print(f"{k:12s} avoid − safe notes: {v:+.2f}")
print(f"total separation: {total:.2f}")
top_direct = sorted(separation, key=separation.get, reverse=True)[:2]
print(f"largest direct writers: {top_direct}")

# %% slideshow={"slide_type": "skip"}
assert max(separation.values()) / total.item() < 0.6, "no single component writes most of the answer"

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** With γ dropped the attributions come out too low by the share printed above (the issue
# estimated about 8 % for the earlier model) — a silent error,
# since every number still looks plausible. Done correctly they add up exactly. The *separation* (how
# much more a component pushes towards `avoid` on avoid notes than on safe notes) is split over several
# components; direct attribution measures only the last step, so a layer-0 head that feeds layer 1
# (an indirect effect) can matter more than its direct share.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Probes: where does a concept become readable — and is it used?
#
# **Linear representation hypothesis:** a concept c is represented as a direction in activation space,
# so that a linear read-out recovers it (Park et al., 2024, *ICML*; Elhage et al., 2022, *Toy Models of
# Superposition*). A linear probe (Alain & Bengio, 2017, *ICLR workshop*) is a logistic regression
# P(c | x) = σ(wᵀx + b) fitted on activations x (scikit-learn's default L2 penalty, C = 1, Newton solver).
# High accuracy means the information is *linearly decodable* — not that the model uses it.
#
# **Control task (Hewitt & Liang, 2019, *EMNLP*):** give every word *type* a random label from the
# concept's label set and train the same probe; selectivity = accuracy(concept) − accuracy(control).
# One random labelling is one draw: we average the control accuracy over 20 draws. **A control must
# have room to be random.** Negation is carried by four cue phrases, two per label: there are only
# three balanced binary labellings of four phrases, one of which *is* the concept — a cue-type control
# for negation is uninformative. We therefore label the **(cue, allergen) combination** (76 types) for
# the negation control, and the allergen word (19 types, 4 labels) for the class control.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** Linear probes with a control task (Hewitt & Liang). At `:` after layer 0, negation and the
# allergen's class beat the control and the majority class (asserted); on the embeddings they do not. The
# class probe is only modestly selective. Then the causal test: steering along the negation probe's
# direction lowers the margin more than random directions (paired, asserted) — but by very little, and it
# flips no answer.
#
# **Clinical point:** decodable is not used; a probe finds a direction the model uses a little, not the
# place where the decision is made.
#
# **Expected question:** "Why label (cue, allergen) combinations for the negation control?" — *Answer:* with
# four cue phrases there are only three balanced labellings, one of them the concept itself; the control
# needs room to be random.

# %% slideshow={"slide_type": "subslide"}
probe_train = make_notes(1000, seed=derived_seed(7), split="train")
_, train_cache = model.run_with_cache(
    torch.from_numpy(probe_train.tokens[:, :-1]),
    names_filter=lambda name: name.endswith("hook_resid_pre"),
)


def concept(notes, name):
    """Per-note concept label and the word type that the control task relabels."""
    if name == "negation":
        return notes.concepts["negation"][:, 3], notes.tokens[
            :, 3
        ] * 1000 + notes.tokens[:, 6]
    return notes.concepts["drug_class"][:, 6], notes.tokens[:, 6]

# %% slideshow={"slide_type": "subslide"}
def control_labels(types_train, types_test, labels, rng):
    """One Hewitt & Liang control: a random label per word type, balanced over the
    label set."""
    uniq = np.unique(np.concatenate([types_train, types_test]))
    values = rng.permutation(np.resize(np.unique(labels), len(uniq)))
    lookup = dict(zip(uniq.tolist(), values.tolist(), strict=True))
    return np.array([lookup[t] for t in types_train.tolist()]), np.array(
        [lookup[t] for t in types_test.tolist()]
    )


def probe(acts_train, y_train, acts_test, y_test):
    clf = LogisticRegression(solver="newton-cholesky", max_iter=2000).fit(
        acts_train, y_train
    )
    return clf, clf.predict(acts_test) == y_test

# %% slideshow={"slide_type": "subslide"}
N_CONTROLS = 20
STREAM = "blocks.1.hook_resid_pre"  # ':' after layer 0
results, probes = {}, {}

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
for name in ("negation", "allergen class"):
    y_tr, t_tr = concept(probe_train, name)
    y_te, t_te = concept(test, name)
    for where, stream in (
        ("':' after layer 0", STREAM),
        ("':' embeddings", "blocks.0.hook_resid_pre"),
    ):
        a_tr, a_te = train_cache[stream][:, Q].numpy(), cache[stream][:, Q].numpy()
        clf, hits = probe(a_tr, y_tr, a_te, y_te)
        rng = np.random.default_rng(derived_seed(100 + len(results)))
        controls = np.array(
            [
                probe(a_tr, c_tr, a_te, c_te)[1]
                for c_tr, c_te in (
                    control_labels(t_tr, t_te, y_tr, rng) for _ in range(N_CONTROLS)
                )
            ]
        )
        # per note: hit, mean control hit over draws
        results[name, where] = hits, controls.mean(0), y_te
        probes[name, where] = clf
        sel = ci(hits.astype(float) - controls.mean(0), k=110 + len(results))
        print(
            f"{name:15s} @ {where:18s}: accuracy {hits.mean():.3f}, control "
            f"{controls.mean():.3f} "
            f"(over {N_CONTROLS} draws: "
            f"{controls.mean(1).min():.2f}–{controls.mean(1).max():.2f}), "
            f"selectivity {fmt(sel)}"
        )

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Scorecard: do the probes beat their nulls?** Each probe's held-out accuracy (1,000 held-out notes;
# probes fitted on 1,000 notes of the training combinations), against the control task (mean over 20
# draws, per note) and the majority class, paired per note (`paired_difference`).

# %% slideshow={"slide_type": "fragment"}
verdicts = {}

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
for (name, where), (hits, control_hits, y) in results.items():
    score, lo, hi = ci(hits, k=130)
    null_hits = {
        "control task (20 draws)": control_hits,
        "majority class": (y == np.bincount(y).argmax()).astype(float),
    }
    nulls = {
        k: {
            "score": float(v.mean()),
            "interval": ci(v, k=131)[1:],
            "paired": paired_difference(
                hits.astype(float), v, seed=derived_seed(132), n_resamples=N_BOOT
            ),
        }
        for k, v in null_hits.items()
    }
    row = dict(
        module="05",
        method=f"linear probe: {name} at {where}",
        data="synthetic notes (held-out combinations), 2-layer transformer",
        truth=f"{name} (planted)",
        metric="held-out accuracy (1,000 notes)",
        score=score,
        interval=(lo, hi),
        baselines=nulls,
    )
    built = make_row(**row)
    verdicts[name, where] = missed = [
        b.name for b in built.baselines if not built.beats(b)
    ]
    record(**row, note="does not beat the " + " or the ".join(missed) if missed else "")
    print(
        f"{name} @ {where}: {score:.3f} [{lo:.3f}, {hi:.3f}] -> "
        + (
            "beats every null"
            if not missed
            else "does not beat the " + " or the ".join(missed)
        )
    )

# %% slideshow={"slide_type": "skip"}
assert not verdicts["negation", "':' after layer 0"] and not verdicts["allergen class", "':' after layer 0"]
assert "majority class" in verdicts["negation", "':' embeddings"]
assert "majority class" in verdicts["allergen class", "':' embeddings"]

# %% [markdown] slideshow={"slide_type": "fragment"}
# **Reading.** At `:` the embeddings are the same in every note (same token, same position), so a probe
# there can only predict one label: it does not beat the majority class (its "selectivity" against a
# control can still be positive when the control's majority label happens to be rarer — one more reason
# to report both nulls). After layer 0 both negation and the allergen's class beat both nulls: the
# layer-0 heads have moved them to `:`. Negation is decoded almost perfectly; the allergen's class is
# only **modestly selective** (accuracy and control printed above: the control, which can memorise the
# 19 allergen words, already scores well above chance), so "the class is represented at `:`" rests
# more on beating the majority class than on selectivity.

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Is the probe direction used? A causal test.** Decodable is not used. We take the negation probe's
# weight vector w at `:` after layer 0 and **steer**: on affirmed `avoid` notes we add to the residual
# stream at `:` the vector that moves the note's projection on ŵ = w/‖w‖ from the affirmed mean to the
# negated mean, and measure the normalised drop of the margin. The null: the same step (same length)
# along 20 random directions.

# %% slideshow={"slide_type": "fragment"}
neg_clf = probes["negation", "':' after layer 0"]
w_hat = torch.from_numpy(neg_clf.coef_[0] / np.linalg.norm(neg_clf.coef_[0])).float()
acts_q = cache[STREAM][:, Q]
neg_mask = torch.from_numpy(test.concepts["negation"][:, 3] == 1)
step = ((acts_q[neg_mask] @ w_hat).mean() - (acts_q[~neg_mask] @ w_hat).mean()).item()
targets = torch.from_numpy(test.labels == 1)  # affirmed 'avoid' notes
base_margin = ld[targets].numpy()


def steered_margin(vector):
    def hook(resid, hook):
        resid[:, Q] = resid[:, Q] + vector
        return resid

    return answer_ld(
        model.run_with_hooks(prompts[targets], fwd_hooks=[(STREAM, hook)])
    ).numpy()

# %% slideshow={"slide_type": "subslide"}
rand = torch.from_numpy(
    np.random.default_rng(derived_seed(140)).normal(size=(20, w_hat.shape[0]))
).float()
rand = rand / rand.norm(dim=1, keepdim=True)
probe_drop = 1 - steered_margin(step * w_hat) / base_margin  # per note
# (20, n)
random_drops = np.array([1 - steered_margin(step * r) / base_margin for r in rand])
random_drop = random_drops.mean(0)
pd_ci, rd_ci = ci(probe_drop, k=141), ci(random_drop, k=142)
diff = paired_difference(
    probe_drop, random_drop, seed=derived_seed(143), n_resamples=N_BOOT
)
flipped = (steered_margin(step * w_hat) < 0).mean()
print(
    f"step along the probe direction: {step:.2f}; margin drop {fmt(pd_ci)}, answers "
    f"flipped {flipped:.1%}"
);

# %% slideshow={"slide_type": "subslide"}
print(
    f"same step along 20 random directions: margin drop {fmt(rd_ci)} "
    f"(per direction {random_drops.mean(1).min():+.2f} … "
    f"{random_drops.mean(1).max():+.2f}); "
    f"paired Δ [{diff[0]:+.2f}, {diff[1]:+.2f}]"
);

# %% slideshow={"slide_type": "subslide"}
record(
    module="05",
    method="probe direction steering: negation at ':' after layer 0",
    data="synthetic notes (held-out combinations), 2-layer transformer",
    truth="negation flips the answer (planted)",
    metric="normalised margin drop on avoid notes",
    score=pd_ci[0],
    interval=pd_ci[1:],
    baselines={
        "random direction (20, same step)": {
            "score": rd_ci[0],
            "interval": rd_ci[1:],
            "paired": diff,
        }
    },
);

# %% slideshow={"slide_type": "skip"}
assert diff[0] > 0, "the probe direction moves the answer more than random directions"
# memory: the test notes' activations are not needed below
del cache, train_cache, acts_q

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** Stepping along the probe direction lowers the `avoid` margin more than the same step along
# random directions (the paired interval lies above 0): layer 1 does read this direction. But the effect
# is **small** — the drop and the share of flipped answers are printed above, both far from a reversal
# of the answer. Decodable at `:` and causally *used*
# at `:` are different things: layer 0 also writes the negation to several other positions (Section 6),
# and the layer-1 heads read it there too. A probe found a direction the model uses a little, not the
# place where the decision is made.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Activation patching: necessary, sufficient, and where
#
# Causal tracing (Meng et al., 2022, *NeurIPS*; Wang et al., 2023, *ICLR*): for each pair, run one prompt
# and paste in activations from the other. **Denoising**: run the corrupted (`safe`) prompt with clean
# activations pasted in; recovery = (patched − corrupted) / (clean − corrupted), per pair, on the logit
# difference (0 = nothing comes back, 1 = everything): *is this component sufficient* to carry the
# difference? **Noising**: run the clean prompt with corrupted activations; drop = (clean − patched) /
# (clean − corrupted): *is it necessary*? Heimersheim & Nanda (2024, *How to use and interpret activation
# patching*, arXiv:2404.15255) discuss why the two directions answer different questions. 1,000 held-out
# pairs of each kind; intervals over pairs.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** Activation patching in two directions: denoising asks whether a component is sufficient,
# noising whether it is necessary. The earlier circuit C of four heads beats its complement but is not
# special: scored against all 162 head sets, it ranks in the top half of the 70 four-head sets and never
# first, and smaller per-kind sets do as well — {L0H3, L1H1} for allergen and drug, {L0H0, L0H3} for
# negation (asserted). No head is sufficient alone; L0H3 is close to necessary (asserted). The decision is
# read out at `:`.
#
# **Clinical point:** claims of a single responsible unit must be measured with joint patches,
# complements and nulls — here there is no one "allergy-checking head" to monitor.
#
# **Expected question:** "Why no backup head as in IOI?" — *Answer:* we looked: no head's recovery exceeds
# its drop by more than 0.1 on any pair kind (asserted).

# %% slideshow={"slide_type": "subslide"}
@lru_cache(maxsize=1)  # memory: the activations of one pair kind at a time
def pair_caches(kind):
    """Clean activations (hook_z, hook_pattern, hook_v) and corrupted ones (hook_z)
    of one pair kind."""
    s = pair_sets[kind]
    _, clean_cache = model.run_with_cache(
        s["clean"],
        names_filter=lambda n: n.endswith(("hook_z", "hook_pattern", "hook_v")),
    )
    _, corrupt_cache = model.run_with_cache(
        s["corrupt"], names_filter=lambda n: n.endswith("hook_z")
    )
    return clean_cache, corrupt_cache

# %% slideshow={"slide_type": "skip"}
def patched_ld(kind, direction, sites, n=None):
    """Per pair logit difference after patching the first n pairs (all if None);
    sites = [(hook name, head)]."""
    s = pair_sets[kind]
    clean_cache, corrupt_cache = pair_caches(kind)
    run_on, source = (
        (s["corrupt"], clean_cache)
        if direction == "denoise"
        else (s["clean"], corrupt_cache)
    )
    run_on = run_on[:n]

    # the name is passed in: in this bridge hook.name is an alias
    def make_hook(name, head):
        def hook(act, hook):
            if name.endswith("hook_pattern"):  # (n, head, query, key)
                act[:, head] = source[name][:n, head]
            else:  # hook_z, hook_v: (n, pos, head, d_head)
                act[:, :, head] = source[name][:n, :, head]
            return act

        return hook

    return answer_ld(
        model.run_with_hooks(run_on, fwd_hooks=[(n, make_hook(n, h)) for n, h in sites])
    )

# %% slideshow={"slide_type": "subslide"}
def effect(kind, direction, sites, n=None):
    """Per pair: recovery (denoise) or drop (noise), normalised by clean − corrupted."""
    s = pair_sets[kind]
    p = patched_ld(kind, direction, sites, n)
    c_ld, k_ld = s["clean_ld"][:n], s["corrupt_ld"][:n]
    return (
        (p - k_ld) / (c_ld - k_ld)
        if direction == "denoise"
        else (c_ld - p) / (c_ld - k_ld)
    ).numpy()


def z_sites(heads):
    return [(f"blocks.{int(n[1])}.attn.hook_z", int(n[3])) for n in heads]

# %% slideshow={"slide_type": "subslide"}
single = {
    (kind, d, n): effect(kind, d, z_sites([n]))
    for kind in PAIR_KINDS
    for d in ("denoise", "noise")
    for n in HEADS
}
grid = np.array(
    [
        [single[kind, d, n].mean() for n in HEADS]
        for kind in PAIR_KINDS
        for d in ("denoise", "noise")
    ]
)

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
fig, ax = plt.subplots(figsize=(8, 3.3))
heatmap(
    ax,
    grid,
    rows=[f"{k} · {d}" for k in PAIR_KINDS for d in ("denoise", "noise")],
    cols=HEADS,
    title="one head's hook_z patched (mean over 1,000 pairs)",
)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **The strongest evidence: patch a candidate circuit jointly, and its complement — and compare it with
# every other set.** From Section 3 the earlier version of this module claimed the circuit
# C = {L0H0, L0H3, L1H1, L1H3}. Denoising C alone should bring back most of the answer and its complement
# (the other four heads) little; noising C should destroy most of it. That test passes (below), but it is
# weak: a null of a few random 4-head sets, or the complement, does not say whether C is *special*. So we
# score **all 162 head sets of size 1 to 4** (8 + 28 + 56 + 70) in both directions on the first 60 pairs
# of each kind (for time; the frozen run below uses 300 pairs and 8 seeds), and report C's **rank among
# the 70 four-head sets** and the **best set of each size**.
# (Patching all four layer-0 heads at every position replaces everything downstream except the
# embeddings, so a recovery of ~1 for that set is trivial.)

# %% slideshow={"slide_type": "fragment"}
CIRCUIT = ["L0H0", "L0H3", "L1H1", "L1H3"]
COMPLEMENT = [n for n in HEADS if n not in CIRCUIT]
SETS = [s for r in (1, 2, 3, 4) for s in combinations(range(8), r)]
N_RANK = 60
joint, ranking = {}, {}

# %% slideshow={"slide_type": "skip"}
for kind in PAIR_KINDS:
    s = pair_sets[kind]
    clean_cache, corrupt_cache = pair_caches(kind)
    c_ld, k_ld = s["clean_ld"][:N_RANK], s["corrupt_ld"][:N_RANK]
    for d in ("denoise", "noise"):
        c, comp = (
            effect(kind, d, z_sites(CIRCUIT)),
            effect(kind, d, z_sites(COMPLEMENT)),
        )
        joint[kind, d] = c, comp
        run_on, source = (
            (s["corrupt"], clean_cache)
            if d == "denoise"
            else (s["clean"], corrupt_cache)
        )
        per_pair = []
        # 12 head sets per forward pass: one mask per copy of the pairs
        for start in range(0, len(SETS), 12):
            chunk = SETS[start : start + 12]
            masks = torch.zeros(len(chunk), 8, dtype=torch.bool)
            for j, hs in enumerate(chunk):
                masks[j, list(hs)] = True
            hooks = []
            for layer in range(2):
                name = f"blocks.{layer}.attn.hook_z"
                m = masks[:, 4 * layer : 4 * layer + 4].repeat_interleave(N_RANK, 0)[
                    :, None, :, None
                ]
                src = source[name][:N_RANK].repeat(len(chunk), 1, 1, 1)
                hooks.append(
                    (name, lambda z, hook, m=m, src=src: torch.where(m, src, z))
                )
            pl = answer_ld(
                model.run_with_hooks(
                    run_on[:N_RANK].repeat(len(chunk), 1), fwd_hooks=hooks
                )
            )
            pl = pl.view(len(chunk), N_RANK)
            per_pair.append(
                (
                    (pl - k_ld) / (c_ld - k_ld)
                    if d == "denoise"
                    else (c_ld - pl) / (c_ld - k_ld)
                ).numpy()
            )
        ranking[kind, d] = np.concatenate(per_pair)  # (162 sets, N_RANK pairs)
        print(
            f"{kind:8s} {d:7s}: C {fmt(ci(c, k=151))} | complement "
            f"{fmt(ci(comp, k=152))} (1,000 pairs)"
        )

# %% slideshow={"slide_type": "subslide"}
names = ["+".join(HEADS[i] for i in hs) for hs in SETS]
i_c, four = (
    names.index("+".join(CIRCUIT)),
    [i for i, hs in enumerate(SETS) if len(hs) == 4],
)
best = {}

# %% slideshow={"slide_type": "skip"}
for (kind, d), eff in ranking.items():
    means = eff.mean(1)
    rank = int((means[four] > means[i_c]).sum()) + 1
    best[kind, d] = {
        r: max((i for i, hs in enumerate(SETS) if len(hs) == r), key=lambda i: means[i])
        for r in (1, 2, 3, 4)
    }
    print(
        f"{kind:8s} {d:7s}: C {means[i_c]:.2f}, rank {rank}/70 (mean of the 70 "
        f"four-head sets {means[four].mean():.2f}); "
        + "; ".join(
            f"best {r}: {names[i]} {means[i]:.2f}" for r, i in best[kind, d].items()
        )
    )
    best_small = max((best[kind, d][r] for r in (1, 2, 3)), key=lambda i: means[i])
    assert 2 <= rank <= 35, "C is in the top half of the 4-head sets but never the best"
    assert means[best_small] >= means[i_c] - 0.05, (
        "a set of at most 3 heads does about as well as C"
    )
    assert ci(joint[kind, d][0], k=157)[1] > ci(joint[kind, d][1], k=158)[2], (
        "C beats its complement"
    )
    if kind in ("allergen", "drug"):
        assert names[best[kind, d][2]] == "L0H3+L1H1"
    else:
        assert means[names.index("L0H0+L0H3")] >= means[best[kind, d][2]] - 0.05

# %% slideshow={"slide_type": "skip"}
for kind in PAIR_KINDS:
    eff = ranking[kind, "denoise"]
    c_pairs, avg_pairs = eff[i_c], eff[four].mean(0)
    small = eff[
        max((best[kind, "denoise"][r] for r in (2, 3)), key=lambda i: eff[i].mean())
    ]
    cc = ci(c_pairs, k=155)
    record(
        module="05",
        method=f"joint denoising patch of the earlier claimed circuit C ({kind} swap)",
        data="synthetic notes (held-out pairs), 2-layer transformer",
        truth=f"{kind} swap flips the answer (planted)",
        metric=f"normalised recovery of the logit difference ({N_RANK} pairs)",
        score=cc[0],
        interval=cc[1:],
        baselines={
            "average 4-head set (all 70)": {
                "score": float(avg_pairs.mean()),
                "interval": ci(avg_pairs, k=156)[1:],
                "paired": paired_difference(
                    c_pairs, avg_pairs, seed=derived_seed(154), n_resamples=N_BOOT
                ),
            },
            "best 2- or 3-head set (chosen on these pairs)": {
                "score": float(small.mean()),
                "interval": ci(small, k=159)[1:],
                "paired": paired_difference(
                    c_pairs, small, seed=derived_seed(153), n_resamples=N_BOOT
                ),
            },
        },
        note="C ranks in the top half of the 70 four-head sets, not first; smaller sets do as well",
    )

# %% slideshow={"slide_type": "subslide"}
frozen = json.loads(Path("../datasets/results/05_circuit_ranking.json").read_text())

# %% slideshow={"slide_type": "subslide"}
for key in frozen["seeds"]["0"]:
    ranks = [
        int((np.array(v[key]["effects"])[four] > v[key]["effects"][i_c]).sum()) + 1
        for v in frozen["seeds"].values()
    ]
    at_q = [
        v[key]["localisation"]["C"]["at ':' only"] for v in frozen["seeds"].values()
    ]
    other = [
        v[key]["localisation"]["C"]["other positions only"]
        for v in frozen["seeds"].values()
    ]
    print(
        f"frozen ({frozen['n_pairs']} pairs x {len(ranks)} seeds, "
        f"scripts/05_circuit_ranking.py) {key}: C's rank "
        f"{min(ranks)}-{max(ranks)}/70; C patched at ':' only "
        f"{min(at_q):.2f}-{max(at_q):.2f}, at the other "
        f"positions only {min(other):.2f}-{max(other):.2f}"
    )

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading: per-kind circuits, not one circuit C.** C passes the complement test but is not special:
# it ranks in the top half of the 70 four-head sets and never first (ranks printed; over 8 seeds of 300
# pairs in the frozen run it ranked 5–18 of 70), while **smaller sets do as well**. For allergen and drug
# swaps the best pair is {L0H3, L1H1} in both directions, and adding L0H2 (outside C) brings it to about
# 0.95–1.0; for negation swaps the best pair is {L0H0, L0H3}: **L0H0 matters mainly for negation**.
# So what the data support is: *L0H3 and L1H1 carry the allergen–drug comparison, L0H0 with L0H3 the
# negation, L0H2 and L1H3 help*. Where: patching C's heads only at `:` recovers most of the effect
# (frozen run, printed), patching them at the other positions much less — the decision is read out at
# the query position, after layer 0 has moved the slots' information there and to a few later positions.
# %% [markdown] slideshow={"slide_type": "subslide"}
# **Sufficient or necessary: a teaching case.** Compare, per head, the denoising recovery (is its clean
# value *sufficient* to bring the answer back?) with the noising drop (is it *necessary*?). The issue
# expected a head that is sufficient but not necessary — one whose clean value alone restores much of
# the answer while corrupting it costs little, because other heads carry the same information
# redundantly (a "backup" head, Wang et al., 2023). **This model has no such head**: measured below, no
# head's recovery exceeds its drop by more than 0.1 on any pair kind. The opposite case is clear
# instead, for two heads. **No single head is sufficient** (the largest single-head denoising recovery is
# printed; it stays well below 1), but **L0H3 alone is close to necessary** on negation and drug swaps:
# corrupting it in the clean run removes most of the answer, while its clean value alone restores much
# less. **L0H0** shows the same gap on a smaller scale: what these heads write is only useful together
# with the others (the layer-1 heads read it).

# %% slideshow={"slide_type": "fragment"}
gaps = {
    n: max(
        single[k, "denoise", n].mean() - single[k, "noise", n].mean()
        for k in PAIR_KINDS
    )
    for n in HEADS
}
print(
    "largest (denoise − noise) per head over the three kinds: "
    + ", ".join(f"{n} {g:+.2f}" for n, g in gaps.items())
);

# %% slideshow={"slide_type": "skip"}
for kind in PAIR_KINDS:
    dn, ns = (
        ci(single[kind, "denoise", "L0H0"], k=160),
        ci(single[kind, "noise", "L0H0"], k=161),
    )
    gap = paired_difference(
        single[kind, "noise", "L0H0"],
        single[kind, "denoise", "L0H0"],
        seed=derived_seed(162),
        n_resamples=N_BOOT,
    )
    print(
        f"L0H0, {kind:8s} swap: necessary (noise drop) {fmt(ns)} vs sufficient "
        f"(denoise recovery) {fmt(dn)}; "
        f"paired Δ [{gap[0]:+.2f}, {gap[1]:+.2f}]"
    )
    assert gap[0] > 0.05, "L0H0 is more necessary than sufficient"

# %% slideshow={"slide_type": "skip"}
for kind in ("negation", "drug"):
    dn, ns = (
        ci(single[kind, "denoise", "L0H3"], k=163),
        ci(single[kind, "noise", "L0H3"], k=164),
    )
    gap = paired_difference(
        single[kind, "noise", "L0H3"],
        single[kind, "denoise", "L0H3"],
        seed=derived_seed(165),
        n_resamples=N_BOOT,
    )
    print(
        f"L0H3, {kind:8s} swap: necessary (noise drop) {fmt(ns)} vs sufficient "
        f"(denoise recovery) {fmt(dn)}; "
        f"paired Δ [{gap[0]:+.2f}, {gap[1]:+.2f}]"
    )
    assert ns[1] > 0.6 and gap[0] > 0.05, (
        "L0H3 alone is close to necessary, and more necessary than sufficient"
    )
max_denoise = max(single[k, "denoise", n].mean() for k in PAIR_KINDS for n in HEADS)

# %% slideshow={"slide_type": "subslide"}
print(f"largest single-head denoising recovery (any kind): {max_denoise:.2f}")

# %% slideshow={"slide_type": "skip"}
assert max_denoise < 0.7, "no single head is sufficient"
assert max(gaps.values()) < 0.1, "no head here is sufficient but not necessary"

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Patterns or values? And at which position?** A head's output depends on *where* it looks (the
# pattern A) and *what* it reads there (the values V). Denoising only `hook_pattern` or only `hook_v`
# of one head separates the two. Then `transformer_lens.patching.get_act_patch_resid_pre` patches the
# residual stream one (layer, position) at a time (for time: the pattern/value grid on the first 300 pairs of
# each kind, the position grid on the first 200).

# %% slideshow={"slide_type": "fragment"}
pv = np.array(
    [
        [
            effect(
                kind,
                "denoise",
                [(f"blocks.{int(n[1])}.attn.hook_{what}", int(n[3]))],
                n=300,
            ).mean()
            for n in HEADS
        ]
        for kind in PAIR_KINDS
        for what in ("pattern", "v")
    ]
)

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
fig, axes = plt.subplots(
    1, 2, figsize=(12.5, 3.4), gridspec_kw={"width_ratios": [1, 2.2]}
)
heatmap(
    axes[0],
    pv,
    rows=[f"{k} · {w}" for k in PAIR_KINDS for w in ("pattern", "value")],
    cols=HEADS,
    title="denoise one head's pattern or value",
)
by_position = {}
for kind in PAIR_KINDS:
    s = pair_sets[kind]
    c_ld, k_ld = s["clean_ld"][:200].mean(), s["corrupt_ld"][:200].mean()
    _, sub_cache = model.run_with_cache(
        s["clean"][:200], names_filter=lambda n: n.endswith("hook_resid_pre")
    )
    by_position[kind] = patching.get_act_patch_resid_pre(
        model,
        s["corrupt"][:200],
        sub_cache,
        lambda lg: (answer_ld(lg).mean() - k_ld) / (c_ld - k_ld),
    )
heatmap(
    axes[1],
    np.concatenate([by_position[k].numpy() for k in PAIR_KINDS]),
    rows=[f"{k} · L{l}" for k in PAIR_KINDS for l in range(2)],
    cols=cols,
    title="denoise resid_pre at one position",
    fmt="{:.1f}",
)
plt.tight_layout()
plt.show()

# %% slideshow={"slide_type": "subslide"}
value_wins = (pv[1::2] > pv[0::2]).mean()
print(
    f"value patch > pattern patch for {value_wins:.0%} of the 24 (kind, head) cells; "
    f"largest pattern effect "
    f"{pv[0::2].max():.2f}, largest value effect {pv[1::2].max():.2f}"
);

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
for kind in PAIR_KINDS:
    diffpos = list(PAIR_KINDS[kind])
    assert (
        by_position[kind][0, diffpos].sum() > 0.9
        or by_position[kind][0, diffpos].max() > 0.9
    )
    assert (
        by_position[kind][0, [p for p in range(17) if p not in diffpos]].abs().max()
        < 1e-3
    )
    print(
        f"{kind:8s}: layer-1 input, recovery by position: "
        + ", ".join(
            f"{p} {v:.2f}"
            for p, v in enumerate(by_position[kind][1].tolist())
            if abs(v) > 0.05
        )
    )

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** At the model's input the difference sits only where the prompts differ (recovery 1 there,
# 0 elsewhere). At the input of layer 1 it has been spread by layer 0 over several later positions, `:`
# carrying the largest share — so "the allergen position" and "the query position" are not the whole
# story. Patterns and values both matter, head by head (printed above: neither wins in most cells,
# and the largest pattern effect is as large as the largest value effect): an allergen or drug swap
# changes *where* a head looks (the key token changed) as well as *what* it reads there, so "the head
# attends to X" and "the head copies X" are separate claims to test.
#
# **The same patch with raw PyTorch hooks.** TransformerLens hook points are ordinary `torch.nn.Module`s
# (identity functions); a plain `register_forward_hook` whose return value replaces the module's output
# does the same patch without TransformerLens's hook API. One difference shows up: the raw module sees
# the heads concatenated, `(n, pos, n_heads · d_head)`, where TransformerLens's hook API hands us
# `(n, pos, head, d_head)`. We reproduce one single-head denoising number.

# %% slideshow={"slide_type": "subslide"}
s = pair_sets["allergen"]
clean_z = pair_caches("allergen")[0]["blocks.1.attn.hook_z"]


def torch_hook(module, inputs, output):
    print(f"the raw hook point's output has shape {tuple(output.shape)}")
    output = output.clone()
    # a view: same memory
    per_head = output.view(*output.shape[:2], model.cfg.n_heads, model.cfg.d_head)
    per_head[:, :, 1] = clean_z[:, :, 1]  # head 1 of layer 1
    return output  # a forward hook's return value replaces the module's output


handle = model.blocks[1].attn.hook_z.register_forward_hook(torch_hook)
try:
    raw = answer_ld(model(s["corrupt"]))
finally:
    handle.remove()  # always remove a raw hook, or it stays on the model
raw_recovery = ((raw - s["corrupt_ld"]) / (s["clean_ld"] - s["corrupt_ld"])).numpy()

# %% slideshow={"slide_type": "skip"}
np.testing.assert_allclose(
    raw_recovery, single["allergen", "denoise", "L1H1"], atol=1e-5
);

# %% slideshow={"slide_type": "subslide"}
print(
    f"L1H1 denoising recovery with a raw torch forward hook: {raw_recovery.mean():.3f} "
    f"(TransformerLens: "
    f"{single['allergen', 'denoise', 'L1H1'].mean():.3f})"
)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. Probing or patching in an audit?
#
# | question | method | what it can show | what it cannot |
# |---|---|---|---|
# | which words drive this answer? | occlusion / LIME on words | input sensitivity, for any model | which component uses them |
# | is concept c *present* at layer ℓ? | probe + control task | decodable, selectively | that the model uses it |
# | is the direction *used*? | steer / ablate along it vs random | causal role of one direction | the whole mechanism |
# | which components are *necessary* / *sufficient*? | noising / denoising patching, joint and complement | the circuit, with intervals | behaviour off the pairs' distribution |
#
# Probes need no matched pairs and scale to many concepts: use them to *find* candidates. Patching needs
# pairs that isolate one factor (here: allergen, negation, drug), and answers the audit question — does
# this component carry the decision? Attention maps answer neither.
#
# ## What this means for the clinic
#
# The issue that motivated this module hoped for one "allergy-checking head" to audit or monitor. **This
# model has none that is *sufficient*, and whether one is *necessary* depends on the metric.** Its answers
# follow the prompt on held-out combinations, also on the strict subset whose meaning never occurs in
# training (Section 1; held out in wording for most notes, so the strict subset is the one that tests
# novelty). No single head restores the answer alone (denoising), but L0H3 alone is close to necessary
# (noising and resample ablation remove most of the margin), while mean ablation would have called every
# head minor. The earlier "circuit" C of four heads beats its complement, yet it is not special among the
# 70 four-head sets, and two or three heads per kind do as well ({L0H3, L1H1} for the allergen–drug
# comparison, {L0H0, L0H3} for negation). Attention maps do not rank tokens the way their occlusion
# effect does. An audit built on attention would have
# certified a picture, not the mechanism; claims of a single responsible unit must be measured — with
# joint patches, complements and nulls — not assumed. QK/OV circuits and sparse autoencoders follow in
# module 05b.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** The audit table: occlusion for input sensitivity, probes to find candidates, steering for the
# causal role of a direction, patching for necessity and sufficiency — attention answers none of these.
# Then the clinical conclusion: answers follow the note, no single head is sufficient, L0H3 is close to
# necessary depending on the metric, and the four-head circuit is not special.
#
# **Clinical point:** an audit of a clinical language model needs matched pairs that isolate the factor a
# clinician cares about (allergen, negation, drug).
#
# **Expected question:** "Does this scale to real LLMs?" — *Answer:* the methods do (with cost), the
# certainty does not: a 2-layer toy with a planted rule is where we can check the answers.
