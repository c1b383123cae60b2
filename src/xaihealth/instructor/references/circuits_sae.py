"""Reference implementations for the checkers of :mod:`xaihealth.checks.circuits_sae` (instructor-only).

Moved verbatim out of the module the labs import, so that student code cannot call them; the
checkers reach them only through ``xaihealth.checks._reference.references("circuits_sae")``, which in a
student release replays the values these functions returned when the solutions were checked.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from xaihealth.checks.circuits_sae import _adam_steps


def reference_sae_metrics(x, x_hat, latents):
    l0 = (latents > 0).float().sum(1).mean().item()
    fve = 1 - ((x - x_hat) ** 2).sum().item() / ((x - x.mean(0)) ** 2).sum().item()
    dead = int(((latents > 0).sum(0) == 0).sum().item())
    return {"l0": l0, "fve": fve, "dead": dead}


def reference_train_sae(x, n_latents, l1_coeff, steps=300, lr=3e-2, seed=0):
    g = torch.Generator().manual_seed(seed)
    d = x.shape[1]
    init = torch.nn.functional.normalize(torch.randn(n_latents, d, generator=g), dim=1).to(x.dtype)
    start = {
        "W_enc": init.T,
        "b_enc": torch.zeros(n_latents, dtype=x.dtype),
        "W_dec": init,
        "b_dec": x.mean(0),
    }
    return _adam_steps(x, start, l1_coeff, steps, lr)


def reference_feature_recovery(true_dirs, learned_dirs, threshold=0.9):
    t = torch.nn.functional.normalize(torch.as_tensor(true_dirs, dtype=torch.float64), dim=1)
    s = torch.nn.functional.normalize(torch.as_tensor(learned_dirs, dtype=torch.float64), dim=1)
    cos = (t @ s.T).numpy()
    rows, cols = linear_sum_assignment(cos, maximize=True)  # one learned row per true direction at most
    matched = np.full(len(t), np.nan)
    matched[rows] = cos[rows, cols]
    return {
        "max_cos": torch.from_numpy(cos.max(axis=1)),
        "n_recovered": int((cos.max(axis=1) > threshold).sum()),
        "matched_cos": torch.from_numpy(matched),
    }
