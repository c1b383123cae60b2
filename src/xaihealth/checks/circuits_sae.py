"""Checkers for lab 05b, *Circuits, superposition and sparse autoencoders*.

All three exercises are graded on synthetic data with KNOWN answers: planted sparse features (unit
directions in a space with fewer dimensions than features) for the SAE training loop and its metrics,
and small hand-built direction sets for the feature-recovery score. References live here; hints never
print the solution.

Conventions shared by the lab and the references:

* an SAE is a dict of tensors ``W_enc`` (d, h), ``b_enc`` (h,), ``W_dec`` (h, d) and ``b_dec`` (d,);
  latents are ``relu((x - b_dec) @ W_enc + b_enc)`` and the reconstruction is ``latents @ W_dec + b_dec``;
  the rows of ``W_dec`` are the learned feature directions and must have unit norm;
* feature recovery compares directions **with their sign**: SAE latents are non-negative, so a decoder
  row pointing along ``-f`` reconstructs ``-f``, which the data never contains; it is not a recovery of
  ``f``.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch

from xaihealth.checks._core import exercise

# ---------------------------------------------------------------------------------------- planted data


def planted_sparse_data(n: int = 2048, d: int = 16, k: int = 32, p: float = 0.05, seed: int = 0):
    """``x`` (n, d) = sparse non-negative combinations of ``k`` random unit directions ``features`` (k, d).

    Each feature is active with probability ``p`` in a sample, with a magnitude uniform in [0, 1).
    Returns ``(x, features, activations)``.
    """
    g = torch.Generator().manual_seed(seed)
    features = torch.nn.functional.normalize(torch.randn(k, d, generator=g), dim=1)
    activations = (torch.rand(n, k, generator=g) < p) * torch.rand(n, k, generator=g)
    return activations @ features, features, activations


# ---------------------------------------------------------------------------------------------- references


def sae_forward(sae, x):
    """Latents and reconstruction of an SAE dict (see the module docstring)."""
    latents = torch.relu((x - sae["b_dec"]) @ sae["W_enc"] + sae["b_enc"])
    return latents, latents @ sae["W_dec"] + sae["b_dec"]


def reference_sae_metrics(x, x_hat, latents):
    l0 = (latents > 0).float().sum(1).mean().item()
    fve = 1 - ((x - x_hat) ** 2).sum().item() / ((x - x.mean(0)) ** 2).sum().item()
    dead = int(((latents > 0).sum(0) == 0).sum().item())
    return {"l0": l0, "fve": fve, "dead": dead}


def reference_train_sae(x, n_latents, l1_coeff, steps=300, lr=1e-2, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = x.shape[1]
    init = torch.nn.functional.normalize(torch.randn(n_latents, d, generator=g), dim=1)
    W_enc = torch.nn.Parameter(init.T.clone())
    W_dec = torch.nn.Parameter(init.clone())
    b_enc = torch.nn.Parameter(torch.zeros(n_latents))
    b_dec = torch.nn.Parameter(x.mean(0).clone())
    opt = torch.optim.Adam([W_enc, b_enc, W_dec, b_dec], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            latents = torch.relu((x - b_dec) @ W_enc + b_enc)
            x_hat = latents @ W_dec + b_dec
            loss = ((x - x_hat) ** 2).sum(1).mean() + l1_coeff * latents.abs().sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                W_dec.data = torch.nn.functional.normalize(W_dec.data, dim=1)
    return {
        "W_enc": W_enc.detach(),
        "b_enc": b_enc.detach(),
        "W_dec": W_dec.detach(),
        "b_dec": b_dec.detach(),
    }


def reference_feature_recovery(true_dirs, learned_dirs, threshold=0.9):
    t = torch.nn.functional.normalize(torch.as_tensor(true_dirs, dtype=torch.float32), dim=1)
    s = torch.nn.functional.normalize(torch.as_tensor(learned_dirs, dtype=torch.float32), dim=1)
    max_cos = (t @ s.T).max(dim=1).values
    return {"max_cos": max_cos, "n_recovered": int((max_cos > threshold).sum().item())}


# ---------------------------------------------------------------------------------------------- helpers


def _as_array(value):
    try:
        if isinstance(value, torch.Tensor):
            return value.detach().cpu().numpy().astype(float)
        return np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        return np.array(np.nan)


def _as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _metrics_case():
    """Off-centre data, a noisy reconstruction, latents with magnitudes != 1 and 3 dead latents."""
    g = torch.Generator().manual_seed(4)
    x = torch.randn(200, 8, generator=g) + 3.0
    x_hat = x + 0.4 * torch.randn(200, 8, generator=g)
    latents = torch.relu(torch.randn(200, 12, generator=g) - 0.8) * 3.0
    latents[:, [2, 5, 9]] = 0.0
    return x, x_hat, latents


@lru_cache(maxsize=1)
def _planted():
    return planted_sparse_data()


# ---------------------------------------------------------------------------------------------- checkers


def check_sae_metrics(sae_metrics: Callable) -> None:
    """Exercise 1: L0, fraction of variance explained and dead latents of an SAE's output."""
    x, x_hat, latents = _metrics_case()
    ref = reference_sae_metrics(x, x_hat, latents)
    with exercise("Exercise 1 (SAE metrics)") as ex:
        out = ex.call(sae_metrics, x.clone(), x_hat.clone(), latents.clone())
        ex.returns(out, dict, "a dict with the keys 'l0', 'fve' and 'dead'", keys=("l0", "fve", "dead"))
        l0, fve, dead = (_as_float(out[k]) for k in ("l0", "fve", "dead"))
        ex.expect(
            abs(l0 - ref["l0"]) < 1e-4,
            f"l0 = {l0:.3f} is not the average NUMBER of non-zero latents per sample: count the latents "
            "that are > 0 in each row (their size does not matter), then average over the samples",
        )
        ex.expect(
            abs(fve - ref["fve"]) < 1e-4,
            f"fve = {fve:.3f}: the fraction of variance explained is 1 − (squared error) / (squared "
            "deviation of x from its per-dimension MEAN); the data here are not centred at 0",
        )
        ex.expect(
            dead == ref["dead"],
            f"dead = {dead:g}: a dead latent is a latent (a COLUMN of `latents`) that is zero on every "
            "sample; return how many there are",
        )


def check_train_sae(train_sae: Callable) -> None:
    """Exercise 2: the SAE training loop on planted sparse features (d = 16, k = 32, 64 latents)."""
    x, features, _ = _planted()
    with exercise("Exercise 2 (training a sparse autoencoder)") as ex:
        sae = ex.call(train_sae, x.clone(), 64, 0.1, steps=300, lr=1e-2, seed=0)
        shapes = {"W_enc": (16, 64), "b_enc": (64,), "W_dec": (64, 16), "b_dec": (16,)}
        ex.returns(sae, dict, f"a dict of tensors with the shapes {shapes}", keys=shapes)
        ex.expect(
            all(isinstance(sae[k], torch.Tensor) and tuple(sae[k].shape) == s for k, s in shapes.items()),
            f"return a dict of tensors with the shapes {shapes}",
        )
        sae = {k: v.detach() for k, v in sae.items()}
        norms = sae["W_dec"].norm(dim=1)
        ex.expect(
            torch.allclose(norms, torch.ones_like(norms), atol=1e-3),
            f"decoder rows have norms between {norms.min():.2f} and {norms.max():.2f}: renormalise every "
            "row of W_dec to unit length after each optimiser step, otherwise the L1 penalty is dodged by "
            "shrinking the latents and growing the decoder",
        )
        latents, x_hat = sae_forward(sae, x)
        m = reference_sae_metrics(x, x_hat, latents)
        ex.expect(
            m["fve"] > 0.85,
            f"your SAE explains {m['fve']:.2f} of the variance (expected > 0.85 with l1_coeff 0.1): check "
            "the reconstruction loss (squared error summed over dimensions, averaged over samples)",
        )
        ex.expect(
            m["l0"] < 8,
            f"on average {m['l0']:.1f} latents fire per sample (the data use about 1.6 features): the L1 "
            "penalty must act on the LATENT activations, scaled by l1_coeff",
        )
        rec = reference_feature_recovery(features, sae["W_dec"])["n_recovered"]
        ex.expect(
            rec >= 28,
            f"only {rec} of the 32 planted directions have a decoder row with cosine > 0.9 (expected ≥ "
            "28): check the encoder (ReLU, subtract b_dec first) and the optimiser settings",
        )


def _recovery_cases():
    g = torch.Generator().manual_seed(2)
    true = torch.nn.functional.normalize(torch.randn(8, 6, generator=g), dim=1)
    rand = torch.randn(4, 6, generator=g)
    # case A: 12 learned rows (h != k): scaled copies of features 0-4, the NEGATIVE of feature 5, noise
    learned_a = torch.cat(
        [
            3.0 * true[:5],
            -true[5:6],
            0.1 * rand,
            true[6:7] + 0.8 * rand[0:1] / rand[0].norm(),
            2.0 * true[0:1],
        ]
    )
    # case B: h == k, duplicated features: the axis of the matching matters
    learned_b = torch.cat([true[0:1], true[0:1], true[1:2], true[2:3], 0.5 * rand[:4]])
    return true, learned_a, learned_b


def check_feature_recovery(feature_recovery: Callable) -> None:
    """Exercise 3: max cosine between each true direction and the learned ones, and the recovered count."""
    true, learned_a, learned_b = _recovery_cases()
    with exercise("Exercise 3 (feature-recovery score)") as ex:
        for name, learned in (("A", learned_a), ("B", learned_b)):
            ref = reference_feature_recovery(true, learned)
            out = ex.call(feature_recovery, true.clone(), learned.clone(), threshold=0.9)
            what = "a dict with the keys 'max_cos' and 'n_recovered'"
            ex.returns(out, dict, what, keys=("max_cos", "n_recovered"))
            got = _as_array(out["max_cos"])
            ex.expect(
                got.shape == (len(true),),
                f"case {name}: max_cos has shape {got.shape}; it needs one value per TRUE direction "
                f"({len(true)}): for each true feature, take the best match among the learned rows",
            )
            ex.expect(
                np.all(got <= 1 + 1e-5),
                f"case {name}: a cosine above 1 ({got.max():.2f}): normalise both sets of directions to unit "
                "length before taking dot products",
            )
            ex.expect(
                np.allclose(got, ref["max_cos"].numpy(), atol=1e-4),
                f"case {name}: max_cos differs from the expected values. A learned row equal to −f does NOT "
                "recover f (SAE latents are non-negative), so do not take absolute values; take the maximum "
                "over the learned rows for each true direction",
            )
            ex.expect(
                _as_float(out["n_recovered"]) == ref["n_recovered"],
                f"case {name}: n_recovered should count the true directions whose max_cos exceeds the "
                "threshold",
            )
