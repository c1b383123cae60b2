"""A Concept Bottleneck Model (CBM) for long QT on synthetic ECGs (Koh et al., 2020, ICML).

The network reads the raw trace with the same kind of 1-D convolution stack as
:class:`xaihealth.models.ecg_cnn.ECGCNN`, but instead of going straight to the diagnosis it must first
predict a short list of clinical **concepts** (the bottleneck), and the diagnosis is a *linear* function of
those concepts only::

    trace --CNN--> standardised concepts c = (hr, qtc, qrs, t_amp, r_amp, female) --linear--> 2 logits

Concepts are standardised with the training-set mean and SD stored as buffers (``concept_mean``,
``concept_sd``), so one unit of the bottleneck is one SD of that concept, and the head's weights are
comparable. ``female`` is 1 for a woman and 0 for a man: the trace only hints at it (a weaker R wave, a
slightly longer QTc), but a clinician knows it from the chart, which makes it the natural concept to
*intervene* on (:meth:`ECGCBM.intervene`): replace a predicted concept by its true value, in its own unit,
and let the head re-decide.

Three checkpoints are trained by ``scripts/train_ecg_cbm.py``, one per training scheme of Koh et al.:
``ecg_cbm_independent`` (head fitted on the *true* concepts), ``ecg_cbm_sequential`` (head fitted on the
concepts the trained encoder predicts) and ``ecg_cbm_joint`` (encoder and head trained together on
cross-entropy + concept loss). Load them with :func:`load_ecg_cbm`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from xaihealth import validate
from xaihealth.checkpoints import checkpoint_entry, load_state_dict
from xaihealth.models.ecg_cnn import CLASSES, ecg_encoder

__all__ = ["CLASSES", "CONCEPTS", "MODES", "UNITS", "ECGCBM", "concept_table", "load_ecg_cbm"]

CONCEPTS = ("hr", "qtc", "qrs", "t_amp", "r_amp", "female")
UNITS = {"hr": "bpm", "qtc": "ms", "qrs": "ms", "t_amp": "mV", "r_amp": "mV", "female": "0/1"}
MODES = ("independent", "sequential", "joint")


def concept_table(concepts: pd.DataFrame, names: Sequence[str] = CONCEPTS) -> np.ndarray:
    """The true concepts of :func:`xaihealth.data.make_ecgs` as a float32 ``(n, len(names))`` array in units.

    ``female`` is derived from the ``sex`` column (1 = female); the others are copied.
    """
    columns = []
    for name in names:
        if name == "female":
            columns.append((concepts["sex"].astype(str) == "female").to_numpy(dtype=np.float32))
        elif name in concepts:
            columns.append(concepts[name].to_numpy(dtype=np.float32))
        else:
            raise ValueError(
                f"names contains {name!r}, which is not a concept; allowed: {', '.join(CONCEPTS)}"
            )
    return np.stack(columns, axis=1).astype(np.float32)


class ECGCBM(nn.Module):
    """Trace -> standardised concepts -> linear head with two logits (normal, long QT).

    Parameters
    ----------
    concepts:
        Names of the bottleneck concepts (a subset of :data:`CONCEPTS`, in order).
    in_leads, widths, kernel, dropout:
        The convolution stack, as in :class:`xaihealth.models.ecg_cnn.ECGCNN`.
    """

    def __init__(
        self,
        concepts: Sequence[str] = CONCEPTS,
        in_leads: int = 1,
        widths: Sequence[int] = (8, 16, 32, 32),
        kernel: int = 7,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        concepts = [validate.one_of("concepts[i]", c, CONCEPTS) for c in concepts]
        if not concepts or len(set(concepts)) != len(concepts):
            raise ValueError(f"concepts={concepts!r} must name at least one concept, each once")
        self.body, self.features, arch = ecg_encoder(in_leads, widths, kernel)
        dropout = validate.number("dropout", dropout, minimum=0.0, maximum=1.0)
        self.config: dict[str, Any] = {"concepts": list(concepts), **arch, "dropout": dropout}
        self.concepts = tuple(concepts)
        k = len(concepts)
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.dropout = nn.Dropout(dropout)
        self.concept_layer = nn.Linear(widths[-1], k)
        self.head = nn.Linear(k, len(CLASSES))
        self.register_buffer("concept_mean", torch.zeros(k))
        self.register_buffer("concept_sd", torch.ones(k))

    # --- the bottleneck ------------------------------------------------------------------------------

    def index(self, name: str) -> int:
        """Position of concept ``name`` in the bottleneck."""
        return self.concepts.index(validate.one_of("name", name, self.concepts))

    def standardise(self, values: torch.Tensor) -> torch.Tensor:
        """Concepts in their units ``(batch, k)`` -> standardised (SD units of the training set)."""
        return (values - self.concept_mean) / self.concept_sd

    def unstandardise(self, z: torch.Tensor) -> torch.Tensor:
        """Standardised concepts ``(batch, k)`` -> their units (bpm, ms, mV, 0/1)."""
        return z * self.concept_sd + self.concept_mean

    def predict_concepts(self, x: torch.Tensor) -> torch.Tensor:
        """Standardised predicted concepts ``(batch, k)`` of signals ``(batch, leads, samples)`` in mV."""
        if x.ndim != 3 or x.shape[1] != self.config["in_leads"]:
            raise ValueError(
                f"x has shape {tuple(x.shape)}; expected (batch, {self.config['in_leads']}, samples)"
            )
        x = x - x.mean(dim=-1, keepdim=True)
        h = self.features(self.body(x))
        return self.concept_layer(self.dropout(self.pool(h).flatten(1)))

    def from_concepts(self, z: torch.Tensor) -> torch.Tensor:
        """Logits ``(batch, 2)`` from standardised concepts ``(batch, k)``: the linear head alone."""
        return self.head(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, leads, samples)`` signals in mV to ``(batch, 2)`` logits through the bottleneck."""
        return self.from_concepts(self.predict_concepts(x))

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Probability of long QT, shape ``(batch,)``."""
        return torch.softmax(self(x), dim=1)[:, 1]

    @torch.no_grad()
    def intervene(self, x: torch.Tensor, true_values: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Logits after replacing the named predicted concepts by their true values (in their units).

        ``true_values`` maps a concept name to a tensor ``(batch,)`` (or a number) in the concept's unit,
        e.g. ``{"qtc": torch.tensor([495.0]), "female": torch.tensor([1.0])}``. Each value is standardised
        with the training statistics and written into the bottleneck *before* the head.
        """
        z = self.predict_concepts(x).clone()
        for name, value in true_values.items():
            j = self.index(name)
            value = torch.as_tensor(value, dtype=z.dtype).expand(z.shape[0])
            z[:, j] = (value - self.concept_mean[j]) / self.concept_sd[j]
        return self.from_concepts(z)


def build_ecg_cbm(config: Mapping[str, Any]) -> ECGCBM:
    """Build an untrained :class:`ECGCBM` from a manifest ``config`` (extra keys are ignored)."""
    keys = ("concepts", "in_leads", "widths", "kernel", "dropout")
    return ECGCBM(**{k: config[k] for k in keys if k in config})


def load_ecg_cbm(mode: str = "independent", folder: Path | None = None) -> ECGCBM:
    """Load the trained CBM of one training scheme (``independent``, ``sequential`` or ``joint``).

    The checkpoint is ``ecg_cbm_<mode>``; its sha256 is checked against the manifest and the manifest's
    ``config`` rebuilds the architecture. Returned in eval mode.
    """
    mode = validate.one_of("mode", mode, MODES)
    name = f"ecg_cbm_{mode}"
    entry = checkpoint_entry(name, folder)
    model = build_ecg_cbm(entry["config"])
    model.load_state_dict(load_state_dict(name, folder))
    return model.eval()
