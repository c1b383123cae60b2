"""Reference implementations for the checkers of :mod:`xaihealth.checks.gradients` (instructor-only).

Moved verbatim out of the module the labs import, so that student code cannot call them; the
checkers reach them only through ``xaihealth.checks._reference.references("gradients")``, which in a
student release replays the values these functions returned when the solutions were checked.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import pandas as pd
import torch
from torch import nn

from xaihealth.checks.gradients import _spearman_abs, randomise_layer


def reference_integrated_gradients(
    model: nn.Module, x: torch.Tensor, baseline: torch.Tensor, target: int, n_steps: int
) -> torch.Tensor:
    alphas = (torch.arange(n_steps, dtype=x.dtype) + 0.5) / n_steps
    total = torch.zeros_like(x)
    for alpha in alphas:
        point = (baseline + alpha * (x - baseline)).detach().requires_grad_(True)
        model(point)[:, target].sum().backward()
        total += point.grad
    return (x - baseline) * total / n_steps


def reference_grad_cam(model: nn.Module, layer: nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    store = {}

    def keep(module, inputs, output):
        store["act"] = output
        output.register_hook(lambda g: store.__setitem__("grad", g))

    handle = layer.register_forward_hook(keep)
    try:
        model(x)[:, target].sum().backward()
    finally:
        handle.remove()
    weights = store["grad"].mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * store["act"]).sum(dim=1)).detach()


def reference_cascading_randomisation(
    model: nn.Module, layers: Sequence[str], explain: Callable, x: torch.Tensor
) -> pd.Series:
    original = explain(model, x)
    randomised = copy.deepcopy(model)
    out = {}
    for name in reversed(list(layers)):
        randomise_layer(randomised, name)
        out[name] = _spearman_abs(original, explain(randomised, x))
    return pd.Series(out)


def reference_mask_scores(attributions: np.ndarray, masks: np.ndarray) -> dict[str, np.ndarray]:
    pos = np.clip(attributions, 0, None)
    share = (pos * masks).sum(axis=(1, 2)) / pos.sum(axis=(1, 2))
    peak = attributions.reshape(len(attributions), -1).argmax(axis=1)
    hit = masks.reshape(len(masks), -1)[np.arange(len(masks)), peak]
    return {"share": share, "hit": hit}


def reference_parameterised_layers(model: nn.Module) -> list[str]:
    return [name for name, child in model.named_children() if any(True for _ in child.parameters())]
