# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 05b · Building and scoring a sparse autoencoder
#
# The lecture trained sparse autoencoders (SAEs) on planted features and on the notes model. Here you
# build the pieces yourself and learn the mistakes that make SAE numbers look better than they are:
#
# 1. the **metrics**: L0, fraction of variance explained, dead latents;
# 2. the **training loop**: L1 penalty on the latents, unit-norm decoder rows;
# 3. the **feature-recovery score** against known ground-truth directions.
#
# Data: `planted_sparse_data()` returns `x` (2048 × 16), sparse non-negative combinations of 32 unit
# directions `features` (32 × 16) — more features than dimensions. An SAE is a dict of tensors `W_enc`
# (d, h), `b_enc` (h,), `W_dec` (h, d), `b_dec` (d,); `sae_forward(sae, x)` returns `(latents, x_hat)`
# with `latents = relu((x − b_dec) @ W_enc + b_enc)` and `x_hat = latents @ W_dec + b_dec`.

# %%
import torch
import torch.nn.functional as F

from xaihealth.checks.circuits_sae import (
    check_feature_recovery, check_sae_metrics, check_train_sae, planted_sparse_data, sae_forward,
)  # fmt: skip
from xaihealth.notebook import derived_seed, setup

SEED = setup(seed=0)
torch.set_num_threads(1)
x, features, activations = planted_sparse_data(seed=derived_seed(0))
print(f"x {tuple(x.shape)}, {len(features)} planted directions, "
      f"{(activations > 0).float().sum(1).mean():.2f} active per sample on average")


# %% [markdown]
# ## Exercise 1 — SAE metrics
#
# Write `sae_metrics(x, x_hat, latents)` returning a dict with
# - `"l0"`: the average **number** of non-zero latents per sample (not their average size);
# - `"fve"`: the fraction of variance explained, `1 − Σ(x − x̂)² / Σ(x − mean(x))²`, where the mean is
#   taken per dimension over the samples (real activations are not centred at 0);
# - `"dead"`: how many latents (columns of `latents`) are zero on **every** sample.

# %%
def sae_metrics(x, x_hat, latents):
    ### BEGIN SOLUTION
    active = latents > 0
    l0 = active.float().sum(1).mean().item()
    fve = 1 - ((x - x_hat) ** 2).sum().item() / ((x - x.mean(0)) ** 2).sum().item()
    dead = int((active.sum(0) == 0).sum().item())
    return {"l0": l0, "fve": fve, "dead": dead}
    ### END SOLUTION


# %%
check_sae_metrics(sae_metrics)


# %% [markdown]
# ## Exercise 2 — training a sparse autoencoder
#
# Write `train_sae(x, n_latents, l1_coeff, steps=300, lr=1e-2, seed=0)` returning the SAE dict:
# - initialise with `torch.Generator().manual_seed(seed)`: decoder rows = random unit vectors, encoder =
#   their transpose, `b_enc = 0`, `b_dec = x.mean(0)`; make the four tensors `torch.nn.Parameter`s;
# - each step (Adam, full batch): loss = squared error summed over dimensions and averaged over samples
#   **plus** `l1_coeff ×` the L1 norm of the **latents** (averaged over samples);
# - after each optimiser step, renormalise every **row** of `W_dec` to unit length (inside
#   `torch.no_grad()`): otherwise the model shrinks the latents and grows the decoder to dodge the penalty;
# - return detached tensors.

# %%
def train_sae(x, n_latents, l1_coeff, steps=300, lr=1e-2, seed=0):
    ### BEGIN SOLUTION
    gen = torch.Generator().manual_seed(seed)
    init = F.normalize(torch.randn(n_latents, x.shape[1], generator=gen), dim=1)
    W_enc, W_dec = torch.nn.Parameter(init.T.clone()), torch.nn.Parameter(init.clone())
    b_enc, b_dec = torch.nn.Parameter(torch.zeros(n_latents)), torch.nn.Parameter(x.mean(0).clone())
    opt = torch.optim.Adam([W_enc, b_enc, W_dec, b_dec], lr=lr)
    for _ in range(steps):
        latents = torch.relu((x - b_dec) @ W_enc + b_enc)
        x_hat = latents @ W_dec + b_dec
        loss = ((x - x_hat) ** 2).sum(1).mean() + l1_coeff * latents.abs().sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            W_dec.data = F.normalize(W_dec.data, dim=1)
    return {"W_enc": W_enc.detach(), "b_enc": b_enc.detach(), "W_dec": W_dec.detach(), "b_dec": b_dec.detach()}
    ### END SOLUTION


sae = train_sae(x, 64, 0.1, seed=derived_seed(0))
latents, x_hat = sae_forward(sae, x)
print({k: round(v, 3) for k, v in sae_metrics(x, x_hat, latents).items()})

# %%
check_train_sae(train_sae)


# %% [markdown]
# ## Exercise 3 — feature-recovery score
#
# Write `feature_recovery(true_dirs, learned_dirs, threshold=0.9)` returning
# `{"max_cos": ..., "n_recovered": ...}`:
# - `max_cos[i]` = the largest **cosine** between true direction `i` and any learned direction (rows of
#   both inputs; normalise them first — they need not be unit vectors): one value per TRUE direction;
# - `n_recovered` = how many true directions have `max_cos > threshold`.
#
# **Sign matters, so no absolute value:** SAE latents are non-negative, so a decoder row equal to `−f`
# can only ever reconstruct `−f`, which never occurs in the data; it has not recovered `f`.

# %%
def feature_recovery(true_dirs, learned_dirs, threshold=0.9):
    ### BEGIN SOLUTION
    cos = F.normalize(true_dirs, dim=1) @ F.normalize(learned_dirs, dim=1).T
    max_cos = cos.max(dim=1).values
    return {"max_cos": max_cos, "n_recovered": int((max_cos > threshold).sum())}
    ### END SOLUTION


# %%
check_feature_recovery(feature_recovery)

# %% [markdown]
# **Use it.** How many planted directions does your SAE find, and how does the answer change with the
# L1 coefficient? (The lecture measured 32/32 at λ = 0.1 and 12/32 at λ = 1.)

# %%
for l1 in (0.1, 1.0):
    s = train_sae(x, 64, l1, seed=derived_seed(0))
    lat, rec = sae_forward(s, x)
    m = sae_metrics(x, rec, lat)
    r = feature_recovery(features, s["W_dec"])
    print(f"λ = {l1}: L0 {m['l0']:.2f}, variance explained {m['fve']:.3f}, dead {m['dead']}, "
          f"found {r['n_recovered']}/32")
    assert (r["n_recovered"] >= 30) if l1 == 0.1 else (r["n_recovered"] < 20)

# %% [markdown]
# **Reading.** A reasonable λ recovers almost every planted direction; a large one kills latents and loses
# most of them, although L0 looks beautifully sparse. Every mistake of Exercises 1–3 would have made one of
# these numbers look better (or just different) than the truth — which is why SAE claims need ground truth
# or careful metrics.
