"""A sparse autoencoder (SAE) to train and score: the library the 05b lecture uses.

The 05b lab asks the student to write these two functions themselves (Exercise 1: :func:`sae_metrics`,
Exercise 2: :func:`train_sae`); a lab solution that calls them is flagged at grading as not the student's
own implementation. The conventions are those of :mod:`xaihealth.checks.circuits_sae`: an SAE is a dict of
tensors ``W_enc`` (d, h), ``b_enc`` (h,), ``W_dec`` (h, d) and ``b_dec`` (d,); latents are
``relu((x - b_dec) @ W_enc + b_enc)``, the reconstruction ``latents @ W_dec + b_dec``, and the rows of
``W_dec`` (the learned feature directions) have unit norm.
"""

from __future__ import annotations

import torch

from xaihealth import validate


def _data(x: object) -> torch.Tensor:
    if not isinstance(x, torch.Tensor) or x.ndim != 2 or not x.is_floating_point():
        shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise TypeError(f"x must be a 2-D floating-point torch.Tensor (samples, dimensions), got {shape}")
    return x


def sae_metrics(x: torch.Tensor, x_hat: torch.Tensor, latents: torch.Tensor) -> dict[str, float | int]:
    """``l0`` (mean number of active latents per sample), ``fve`` (fraction of variance of ``x`` explained
    by ``x_hat``, around the per-dimension mean of ``x``) and ``dead`` (latents never active)."""
    for name, value in (("x", x), ("x_hat", x_hat), ("latents", latents)):
        if not isinstance(value, torch.Tensor) or value.ndim != 2:
            raise TypeError(f"{name} must be a 2-D torch.Tensor, got {type(value).__name__}")
    l0 = (latents > 0).float().sum(1).mean().item()
    fve = 1 - ((x - x_hat) ** 2).sum().item() / ((x - x.mean(0)) ** 2).sum().item()
    dead = int(((latents > 0).sum(0) == 0).sum().item())
    return {"l0": l0, "fve": fve, "dead": dead}


def adam_steps(
    x: torch.Tensor, init: dict[str, torch.Tensor], l1_coeff: float, steps: int, lr: float
) -> dict[str, torch.Tensor]:
    """``steps`` full-batch Adam steps of the SAE loss from the SAE dict ``init`` (decoder rows renormalised
    after each step); returns detached tensors.

    The loss is the squared error summed over dimensions and averaged over samples, plus ``l1_coeff`` times
    the L1 norm of the latents (summed over latents, averaged over samples).
    """
    params = {
        k: torch.nn.Parameter(init[k].detach().clone().to(x.dtype))
        for k in ("W_enc", "b_enc", "W_dec", "b_dec")
    }
    W_enc, b_enc, W_dec, b_dec = (params[k] for k in ("W_enc", "b_enc", "W_dec", "b_dec"))
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
    return {k: v.detach() for k, v in params.items()}


def train_sae(
    x: torch.Tensor, n_latents: int, l1_coeff: float, steps: int = 300, lr: float = 3e-2, seed: int = 0
) -> dict[str, torch.Tensor]:
    """Train an SAE with ``n_latents`` latents on ``x`` (samples, d) by :func:`adam_steps`.

    Initialisation: ``n_latents`` random unit directions from ``torch.Generator().manual_seed(seed)`` as
    the decoder rows, their transpose as the encoder, a zero encoder bias and ``b_dec = x.mean(0)``.
    """
    x = _data(x)
    n_latents = validate.integer("n_latents", n_latents, minimum=1)
    l1_coeff = validate.number("l1_coeff", l1_coeff, minimum=0.0)
    steps = validate.integer("steps", steps, minimum=0)
    lr = validate.number("lr", lr, minimum=0.0)
    seed = validate.integer("seed", seed, minimum=0)
    g = torch.Generator().manual_seed(seed)
    d = x.shape[1]
    init = torch.nn.functional.normalize(torch.randn(n_latents, d, generator=g), dim=1).to(x.dtype)
    start = {
        "W_enc": init.T,
        "b_enc": torch.zeros(n_latents, dtype=x.dtype),
        "W_dec": init,
        "b_dec": x.mean(0),
    }
    return adam_steps(x, start, l1_coeff, steps, lr)
