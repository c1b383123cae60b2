"""Reference implementations for the checkers of :mod:`xaihealth.checks.concepts` (instructor-only).

Moved verbatim out of the module the labs import, so that student code cannot call them; the
checkers reach them only through ``xaihealth.checks._reference.references("concepts")``, which in a
student release replays the values these functions returned when the solutions were checked.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from scipy import stats
from sklearn.linear_model import LogisticRegression
from torch import nn

from xaihealth.checks.concepts import _no_student


def reference_cav(concept_acts: np.ndarray, random_acts: np.ndarray) -> np.ndarray:
    _no_student()
    X = np.concatenate([concept_acts, random_acts])
    y = np.r_[np.ones(len(concept_acts)), np.zeros(len(random_acts))]
    w = LogisticRegression(max_iter=1000).fit(X, y).coef_[0]
    return w / np.linalg.norm(w)


def reference_tcav_score(model: nn.Module, layer: nn.Module, inputs: torch.Tensor, cav, target: int) -> float:
    _no_student()
    seen: list[torch.Tensor] = []

    def keep(_m, _i, out):
        out.retain_grad()
        seen.append(out)

    handle = layer.register_forward_hook(keep)
    try:
        model.zero_grad()
        model(inputs)[:, target].sum().backward()
    finally:
        handle.remove()
    grads = seen[0].grad.flatten(1)
    derivative = grads @ torch.as_tensor(np.asarray(cav), dtype=grads.dtype)
    return float((derivative > 0).float().mean())


def reference_tcav_significance(
    concept_scores, random_scores, alpha: float = 0.05, n_concepts: int = 1
) -> tuple[float, bool]:
    """Two-sided two-sample t-test; significant if p < alpha / n_concepts (Bonferroni)."""
    p = float(stats.ttest_ind(np.asarray(concept_scores), np.asarray(random_scores)).pvalue)
    return p, bool(p < alpha / n_concepts)


class ReferenceCBM(nn.Module):
    """encoder: x -> standardised concepts; head: concepts -> logits; intervene before the head."""

    def __init__(self, encoder: nn.Module, head: nn.Module, names: Sequence[str], mean, sd) -> None:
        super().__init__()
        self.encoder, self.head, self.names = encoder, head, list(names)
        self.mean = torch.as_tensor(mean, dtype=torch.float32)
        self.sd = torch.as_tensor(sd, dtype=torch.float32)

    def concepts(self, x: torch.Tensor) -> torch.Tensor:
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.concepts(x))

    def intervene(self, x: torch.Tensor, name: str, value: torch.Tensor) -> torch.Tensor:
        z = self.concepts(x).clone()
        j = self.names.index(name)
        z[:, j] = (torch.as_tensor(value, dtype=z.dtype) - self.mean[j]) / self.sd[j]
        return self.head(z)


def reference_cbm_outputs(
    encoder: nn.Module, head: nn.Module, names: Sequence[str], mean, sd, x: torch.Tensor,
    interventions: Sequence[tuple[str, torch.Tensor]],
) -> dict[str, torch.Tensor]:
    """What :class:`ReferenceCBM` returns on ``x``: ``concepts``, ``logits`` and ``intervene:<name>``."""
    ref = ReferenceCBM(encoder, head, names, mean, sd)
    with torch.no_grad():
        out = {"concepts": ref.concepts(x), "logits": ref(x)}
        out.update({f"intervene:{name}": ref.intervene(x, name, value) for name, value in interventions})
    return out
