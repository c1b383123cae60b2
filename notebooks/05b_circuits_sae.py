# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # 05b · Circuits, superposition and sparse autoencoders
#
# *XAI for Health, module 05, second notebook.* Module 05 found that the notes transformer checks an
# allergy with a small distributed circuit: L0H1 and L0H0 move the prescribed drug and the allergen to
# `:`, L1H1 and L1H2 write the answer. Here we read those heads **from their weights** (QK and OV
# circuits; Elhage et al., 2021, *A Mathematical Framework for Transformer Circuits*), then ask why
# single neurons or directions are often hard to read at all (**superposition**; Elhage et al., 2022,
# *Toy Models of Superposition*) and try the tool built for it: the **sparse autoencoder** (Bricken et
# al., 2023, *Towards Monosemanticity*; Cunningham et al., 2023, *ICLR 2024*).
#
# **Question of the module:** can we read *what* a component computes — and can we trust a "feature"
# that a dictionary-learning tool hands us?

# %% slideshow={"slide_type": "skip"}
import copy
import os

os.environ["TQDM_DISABLE"] = "1"  # before transformer_lens imports tqdm

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from xaihealth.data.notes import ALL_DRUGS, CLASS_DRUGS, CLASS_NAMES, DRUG_TO_CLASS, POSITIONS, NotesTokenizer, make_notes
from xaihealth.models.notes_transformer import build_notes_transformer, load_notes_transformer
from xaihealth.notebook import derived_seed, setup
from xaihealth.plots.circuits_sae import superposition_panels, tradeoff
from xaihealth.plots.llm_internals import heatmap

SEED = setup(seed=0)
torch.set_num_threads(1)
torch.set_grad_enabled(False)
model = load_notes_transformer()
tok = NotesTokenizer()
HEADS = [f"L{l}H{h}" for l in range(2) for h in range(4)]


def ln1_layer0(resid, m=model):
    """The LayerNorm in front of layer 0 (the heads read this normalised stream)."""
    centred = resid - resid.mean(-1, keepdim=True)
    normed = centred / (centred.pow(2).mean(-1, keepdim=True) + 1e-5).sqrt()
    return normed * m.blocks[0].ln1.weight + m.blocks[0].ln1.bias


# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. The OV circuit: what does a head write?
#
# A head moves information in two independent steps (Elhage et al., 2021). The **QK circuit**
# `W_Q W_Kᵀ` decides *where* to look; the **OV circuit** `W_V W_O` decides *what* to write, given the
# token it looks at. Both are 64 × 64 matrices of rank ≤ 16, which TransformerLens stores as
# `FactoredMatrix` objects (`model.OV[layer, head]`). Feeding every drug through the OV circuit of a
# layer-0 head, at the position where the drug sits, gives the vector the head would add to `:` if it
# attended there.
#
# **Test.** Do drugs of the same class get similar OV outputs? Classify each of the 23 drugs by the
# nearest class centroid of the *other* drugs (leave-one-out, cosine). Baselines: the head's input itself,
# and the same heads in an **untrained** model.

# %% slideshow={"slide_type": "fragment"}
drug_ids = torch.tensor([tok.token_id(d) for d in ALL_DRUGS])
classes = np.array([DRUG_TO_CLASS[d] for d in ALL_DRUGS])


def nearest_centroid_loo(vectors, labels):
    """Leave-one-out accuracy of classifying each row by the closest class centroid (cosine)."""
    v = F.normalize(vectors, dim=-1).numpy()
    hits = []
    for i in range(len(v)):
        others = np.arange(len(v)) != i
        centroids = {c: v[others & (labels == c)].mean(0) for c in np.unique(labels[others])}
        hits.append(max(centroids, key=lambda c: v[i] @ centroids[c]) == labels[i])
    return float(np.mean(hits))


untrained = build_notes_transformer()  # same architecture, random weights (seed 0)
ov_table = {}
for name, m in (("trained", model), ("untrained", untrained)):
    x = ln1_layer0(m.W_E[drug_ids] + m.W_pos[POSITIONS["prescribed"]], m)  # the drug at position 15
    row = {"input": nearest_centroid_loo(x, classes)}
    for h in range(4):
        row[f"L0H{h}"] = nearest_centroid_loo(x @ m.OV[0, h].AB, classes)  # OV read-out of the drug
    ov_table[name] = row
    print(f"{name:9s} " + "  ".join(f"{k} {v:.3f}" for k, v in row.items()))
chance = np.bincount(classes).max() / len(classes)
print(f"majority class: {chance:.3f};  OV rank of L0H1: {torch.linalg.matrix_rank(model.OV[0, 1].AB).item()}")
assert ov_table["trained"]["input"] == 1.0 and ov_table["trained"]["L0H1"] == 1.0
assert ov_table["trained"]["L0H0"] == 1.0
assert ov_table["untrained"]["input"] < 0.5 and max(ov_table["untrained"].values()) < 0.5

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading, honestly.** L0H1 — the head the model cannot lose — writes a class-consistent vector for the
# prescribed drug (leave-one-out accuracy 1.0), and so does L0H0. But the *input* already has it: training
# grouped the **embeddings** by class, and the OV circuit keeps the grouping rather than creating it. In
# the untrained model neither the embedding nor any OV output knows the classes (near the majority rate).
# So the OV test says "this head can carry the class", and the embedding baseline says where the class
# was learned. A full-vocabulary read-out `W_E · OV · W_U` (the "copying" test of Elhage et al.) is not
# meaningful for these layer-0 heads: their output is read by layer 1, not by the unembedding.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. The QK circuit: where does `:` look?
#
# The attention score from `:` to position `p` is `(x_: W_Q + b_Q) · (x_p W_K + b_K) / √16`; its
# token-by-token core is the `FactoredMatrix` `model.QK[layer, head]`. We rebuild the scores of the
# layer-0 heads from the weights for 500 notes and ask which key position wins most often.

# %% slideshow={"slide_type": "fragment"}
notes = make_notes(500, seed=derived_seed(123))
prompts = torch.from_numpy(notes.tokens[:, : POSITIONS["answer"]])
_, cache = model.run_with_cache(prompts, names_filter=["blocks.0.attn.hook_q", "blocks.0.attn.hook_k"])
Q = POSITIONS["query"]
x = ln1_layer0(model.W_E[prompts] + model.W_pos[: prompts.shape[1]])  # (n, 17, 64)
q = torch.einsum("nd,hde->nhe", x[:, Q], model.W_Q[0]) + model.b_Q[0]  # (n, heads, 16): the query at ':'
k = torch.einsum("npd,hde->nphe", x, model.W_K[0]) + model.b_K[0]  # (n, 17, heads, 16)
scores = torch.einsum("nhe,nphe->nhp", q, k) / 16**0.5
cached = torch.einsum("nhe,nphe->nhp", cache["blocks.0.attn.hook_q"][:, Q], cache["blocks.0.attn.hook_k"]) / 4
torch.testing.assert_close(scores, cached, atol=1e-4, rtol=1e-4)  # the weights reproduce the model
core = torch.einsum("nd,hde,npe->nhp", x[:, Q], model.QK[0].AB, x) / 4  # bias-free FactoredMatrix part
core_share = 1 - (scores - core).var(-1).mean() / scores.var(-1).mean()
print(f"share of the score variance over positions explained by the bias-free QK core: {core_share:.2f}")
assert core_share > 0.99

winner = np.stack([np.bincount(scores[:, h].argmax(-1).numpy(), minlength=17) / len(notes) for h in range(4)])
words = ["<bos>", "patient", "cue", "cue", "allergy", "to", "ALLERGEN", ",", "reaction", "severity", ".",
         "findings", "finding", ".", "prescribe", "DRUG", ":"]  # fmt: skip
fig, ax = plt.subplots(figsize=(10, 2.6))
heatmap(ax, winner, rows=HEADS[:4], cols=[f"{i} {w}" for i, w in enumerate(words)],
        title="fraction of notes in which the key position gets the highest QK score from ':'", cmap="Blues",
        center=False, fmt="{:.2f}")
plt.show()
A, D = POSITIONS["allergen"], POSITIONS["prescribed"]
for h in range(4):
    print(f"L0H{h}: top key position {winner[h].argmax()} ({words[winner[h].argmax()]}) in "
          f"{winner[h].max():.0%} of notes; allergen {winner[h, A]:.0%}, drug {winner[h, D]:.0%}")
assert winner[0].argmax() == A and winner[0, A] > 0.6  # L0H0 looks up the allergen
assert winner[1].argmax() == D and winner[1, D] > 0.6  # L0H1 looks up the prescribed drug

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Full vocabulary.** Which *words* does L0H0 prefer at the allergen slot? Put every vocabulary word at
# position 6 and score it from `:` — a read-out of the QK circuit over the whole vocabulary.

# %% slideshow={"slide_type": "fragment"}
allergen_words = set(CLASS_DRUGS) | set(CLASS_NAMES)
x_vocab = ln1_layer0(model.W_E + model.W_pos[A])  # (vocab, 64): every word at position 6
x_query = ln1_layer0(model.W_E[tok.token_id(":")] + model.W_pos[Q])
vocab_scores = ((x_query @ model.W_Q[0, 0] + model.b_Q[0, 0]) @ (x_vocab @ model.W_K[0, 0] + model.b_K[0, 0]).T) / 4
top = torch.argsort(vocab_scores, descending=True)[: len(allergen_words)].tolist()
top_words = [tok.words[i] for i in top]
share = np.mean([w in allergen_words for w in top_words])
print(f"L0H0, key at position 6: top {len(top_words)} words: {', '.join(top_words[:8])}, …")
base_rate = len(allergen_words) / len(tok.words)
print(f"{share:.0%} of the top {len(top_words)} are possible allergens (drug or class name); "
      f"base rate in the vocabulary {base_rate:.0%}")
assert 1.5 * base_rate < share < 0.8  # a preference for allergen words, but far from a clean lookup

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** Read from the weights alone, L0H0's query at `:` prefers the allergen *position*; at that
# position it prefers allergen words only moderately (above their share of the vocabulary, but with
# template words such as `<eos>` or `,` among its favourites, and some classes ranked above others) —
# harmless here, because only drugs and class names ever occur at position 6. The selectivity lives in
# *where* the head looks, not in a clean "allergen detector". L0H1 prefers the prescribed drug. The circuit description of module 05 is now
# mechanistic: *where* (QK) and *what* (OV) for each mover head. Yet module 05 also showed that L0H0 is
# almost dispensable — a clean QK/OV story for a head says nothing about whether the model depends on it.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Superposition: more features than dimensions
#
# Reading the notes model was easy because each concept has plenty of room (64 dimensions, a few dozen
# words). Real models represent more features than they have dimensions. Elhage et al. (2022) show it in
# a toy model: `n = 20` features are compressed into `m = 5` dimensions and read back by
# `x' = ReLU(WᵀW x + b)`, with an importance-weighted squared error (importance `0.9^i`). Each feature
# is zero with probability `1 − p`; we train four models at once, for `p = 1, 0.3, 0.1, 0.03`.

# %% slideshow={"slide_type": "fragment"}
N_FEAT, M_DIM, PROBS = 20, 5, (1.0, 0.3, 0.1, 0.03)
importance = 0.9 ** torch.arange(N_FEAT).float()
g = torch.Generator().manual_seed(derived_seed(0))
W = torch.nn.Parameter(torch.randn(len(PROBS), M_DIM, N_FEAT, generator=g) * (2 / (N_FEAT + M_DIM)) ** 0.5)
b = torch.nn.Parameter(torch.zeros(len(PROBS), 1, N_FEAT))
p = torch.tensor(PROBS)[:, None, None]
opt = torch.optim.Adam([W, b], lr=1e-2)
with torch.enable_grad():
    for step in range(1500):
        x = torch.rand(len(PROBS), 512, N_FEAT, generator=g) * (torch.rand(len(PROBS), 512, N_FEAT, generator=g) < p)
        x_hat = torch.relu(x @ W.transpose(1, 2) @ W + b)
        loss = (importance * (x - x_hat) ** 2).mean(dim=(1, 2)).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
W = W.detach()
norms = W.norm(dim=1)  # (models, features): ||W_i||, how strongly feature i is represented
represented = (norms > 0.5).sum(1)
dims_per_feature = M_DIM / (W**2).sum(dim=(1, 2))  # Elhage et al.: m / ||W||_F^2
for prob, r, dpf in zip(PROBS, represented, dims_per_feature, strict=True):
    print(f"p = {prob:<4}: {r.item():2d} of {N_FEAT} features represented (||W_i|| > 0.5), "
          f"{dpf:.2f} dimensions per feature")

# %% slideshow={"slide_type": "subslide"}
superposition_panels([W[i].T @ W[i] for i in range(len(PROBS))], norms, [f"p = {x}" for x in PROBS])
plt.show()
assert represented[0] <= M_DIM, "dense features: at most one feature per dimension"
assert all(represented[i + 1] >= represented[i] for i in range(len(PROBS) - 1))
assert represented[-1] > 2 * M_DIM and dims_per_feature[-1] < 0.4

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** With dense inputs the model keeps the 5 most important features, one per dimension
# (`WᵀW` is a clean diagonal block, 1 dimension per feature). As features get rarer, it packs more of
# them into the same 5 dimensions — off-diagonal entries appear in `WᵀW`: features share directions and
# interfere, which is cheap when two of them are rarely active together. A single dimension (a
# "neuron") then responds to several unrelated features: it is **polysemantic**. This is why reading
# individual neurons of a real clinical model is unreliable, and why we need a tool that pulls the
# features apart again.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Sparse autoencoders: recovering planted features
#
# A sparse autoencoder (SAE) learns an overcomplete dictionary: `h = ReLU((x − b_dec) W_enc + b_enc)`,
# `x̂ = h W_dec + b_dec`, loss = `‖x − x̂‖² + λ‖h‖₁`, decoder rows kept at unit norm (Bricken et al., 2023).
# To know whether it works, test it where the answer is known: `k = 32` random unit directions in
# `d = 16` dimensions, each active in 5 % of 2048 samples (about 1.6 per sample) — superposition by
# construction. Score: for each planted direction, the best cosine with a decoder row (> 0.9 = found).

# %% slideshow={"slide_type": "fragment"}
def planted(n=2048, d=16, k=32, p=0.05, seed=0):
    gen = torch.Generator().manual_seed(seed)
    features = F.normalize(torch.randn(k, d, generator=gen), dim=1)
    activations = (torch.rand(n, k, generator=gen) < p) * torch.rand(n, k, generator=gen)
    return activations @ features, features


def train_sae(x, n_latents, l1, steps=300, lr=1e-2, seed=0):
    gen = torch.Generator().manual_seed(seed)
    init = F.normalize(torch.randn(n_latents, x.shape[1], generator=gen), dim=1).to(x.dtype)
    W_enc, W_dec = torch.nn.Parameter(init.T.clone()), torch.nn.Parameter(init.clone())
    b_enc, b_dec = torch.nn.Parameter(torch.zeros(n_latents, dtype=x.dtype)), torch.nn.Parameter(x.mean(0).clone())
    opt = torch.optim.Adam([W_enc, b_enc, W_dec, b_dec], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            h = torch.relu((x - b_dec) @ W_enc + b_enc)
            loss = ((x - h @ W_dec - b_dec) ** 2).sum(1).mean() + l1 * h.sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            W_dec.data = F.normalize(W_dec.data, dim=1)  # unit-norm dictionary: no dodging the L1 penalty
    return {"W_enc": W_enc.detach(), "b_enc": b_enc.detach(), "W_dec": W_dec.detach(), "b_dec": b_dec.detach()}


def sae_metrics(sae, x):
    h = torch.relu((x - sae["b_dec"]) @ sae["W_enc"] + sae["b_enc"])
    x_hat = h @ sae["W_dec"] + sae["b_dec"]
    fve = 1 - ((x - x_hat) ** 2).sum() / ((x - x.mean(0)) ** 2).sum()
    return h, {"l0": (h > 0).float().sum(1).mean().item(), "fve": fve.item(), "dead": int(((h > 0).sum(0) == 0).sum())}


x_syn, true_dirs = planted(seed=derived_seed(0))
L1S = (0.03, 0.1, 0.3, 1.0)
sweep = []
for l1 in L1S:
    sae = train_sae(x_syn, 64, l1, seed=derived_seed(0))
    _, m = sae_metrics(sae, x_syn)
    max_cos = (true_dirs @ sae["W_dec"].T).max(dim=1).values  # both unit norm; sign matters
    m["found"] = int((max_cos > 0.9).sum())
    sweep.append(m)
    print(f"λ = {l1:<4}: L0 {m['l0']:.2f}, variance explained {m['fve']:.3f}, dead latents {m['dead']:2d}, "
          f"planted features found {m['found']}/32")

# %% slideshow={"slide_type": "subslide"}
tradeoff([s["l0"] for s in sweep], [s["fve"] for s in sweep], [s["found"] for s in sweep], L1S, 32)
plt.show()
by = dict(zip(L1S, sweep, strict=True))
assert all(sweep[i + 1]["l0"] < sweep[i]["l0"] and sweep[i + 1]["fve"] < sweep[i]["fve"] for i in range(3))
assert by[0.1]["found"] >= 30 and by[0.3]["found"] >= 30 and by[1.0]["found"] < 20
assert by[1.0]["dead"] > by[0.1]["dead"]

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** The L1 coefficient trades reconstruction for sparsity. In the middle of the curve
# (λ = 0.1–0.3, a few latents per sample) the SAE finds 31–32 of the 32 planted directions, although
# they live in only 16 dimensions. Too little penalty: many latents fire together (L0 ≈ 10) and the
# variance is explained by mixtures — still most directions are found here, but the code is not sparse.
# Too much: the SAE gives up features (latents die) and variance explained collapses. "Variance explained"
# alone would have picked the least sparse SAE; only the planted ground truth tells which λ is right.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. An SAE on the notes model: monosemantic latents?
#
# Now without ground truth: the residual stream at `:` after layer 0 (64 dimensions), where module 05's
# probes found the negation and the allergen's class. We train a 128-latent SAE on 2000 notes and ask,
# for each concept, how well the best single latent marks it: **precision** (when the latent fires, is
# the concept present?) and **recall** (when the concept is present, does the latent fire?). The stream
# and the SAE are computed in float64: training amplifies rounding, and in float32 the second decimal of
# these scores depended on the CPU's vector unit (AVX2 or AVX-512).

# %% slideshow={"slide_type": "fragment"}
train_notes = make_notes(2000, seed=derived_seed(11))
model64 = copy.deepcopy(model).double()  # the same weights in float64
_, c = model64.run_with_cache(torch.from_numpy(train_notes.tokens[:, : POSITIONS["answer"]]),
                              names_filter="blocks.1.hook_resid_pre")
resid = c["blocks.1.hook_resid_pre"][:, Q]
resid = (resid - resid.mean(0)) / resid.norm(dim=1).mean()  # centred, unit average norm
sae_notes = train_sae(resid, 128, 0.03, seed=derived_seed(0))
h_notes, m_notes = sae_metrics(sae_notes, resid)
print(f"notes SAE: L0 {m_notes['l0']:.1f}, variance explained {m_notes['fve']:.3f}, dead {m_notes['dead']}")

fire = (h_notes > 0).numpy()
concepts = {"negated allergy": train_notes.concepts["negation"][:, 3] == 1, "answer avoid": train_notes.labels == 1}
for cid, cname in enumerate(CLASS_NAMES):
    concepts[f"allergen is {cname}"] = train_notes.concepts["drug_class"][:, A] == cid
    concepts[f"drug is {cname}"] = train_notes.concepts["drug_class"][:, D] == cid
best = {}
for name, y in concepts.items():
    tp = (fire & y[:, None]).sum(0)
    precision, recall = tp / np.maximum(fire.sum(0), 1), tp / y.sum()
    f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-9)
    j = int(f1.argmax())
    best[name] = (j, precision[j], recall[j], f1[j])
    print(f"{name:28s} best latent {j:3d}: precision {precision[j]:.2f}, recall {recall[j]:.2f}, F1 {f1[j]:.2f}")

# %% slideshow={"slide_type": "subslide"}
f1s = {name: v[3] for name, v in best.items()}
print(f"best F1 over all concepts: {max(f1s.values()):.2f} ({max(f1s, key=f1s.get)}); "
      f"latent {best['negated allergy'][0]} marks negation with F1 {f1s['negated allergy']:.2f}")
assert m_notes["fve"] > 0.95 and m_notes["l0"] < 20
assert f1s["negated allergy"] > 0.7  # a recognisable negation latent ...
assert max(f1s.values()) < 0.85  # ... but no latent is a clean (monosemantic) marker of any concept here

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** The SAE reconstructs the stream well (99 % of the variance, about 16 latents per note), and
# some latents are recognisable: one fires mostly on **negated** allergies (precision 0.84, recall 0.71).
# But no latent marks any of these concepts cleanly (best F1 0.77), and some mix concepts — the best
# latent for "allergen is a penicillin" is also the best for "prescribed drug is a penicillin". On
# planted data the same training recovered the ground truth; here the model's own features need not be
# our concepts, and the SAE's dictionary depends on λ, width and seed. Labelling latent 117 "the negation
# feature" would overstate what we measured.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## What this means for the clinic
#
# * **Circuits from weights** (QK/OV) describe *what a head can do* — L0H0 looks up the allergen, L0H1
#   the prescribed drug and copies its class — without running a single patient note. They do not say
#   whether the model *relies* on the head: module 05's ablations are still needed.
# * **Superposition** is the default when features are sparse: a neuron or direction may mean several
#   things. Auditing a clinical model by "the neuron for sepsis" assumes what must be shown.
# * **SAEs** can undo superposition — on planted data, where we could verify it, and only at a good
#   sparsity. On a real model there is no ground truth: a latent's label is a hypothesis, to be scored
#   by precision and recall against annotated concepts (and, ideally, by interventions) before anyone
#   builds a safety monitor on it.
