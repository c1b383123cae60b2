"""A small 1-D convolutional network that reads long QT from a raw synthetic ECG.

The network is deliberately plain, so that every layer can be inspected in the concept and gradient
modules: a stack of convolution blocks (Conv1d - BatchNorm - ReLU - MaxPool), a last convolution block
called ``features`` (the layer Grad-CAM and TCAV hook), global average pooling over time, and a linear
head with two logits (0 = normal QTc, 1 = long QT). Input is ``(batch, leads, samples)`` in mV, as
returned by :func:`xaihealth.data.make_ecgs`; each lead is centred on its mean inside the model, so slow
offsets do not matter and a zero baseline (for Integrated Gradients) is a flat trace.

The shipped checkpoint ``ecg_cnn`` is trained by ``scripts/train_ecg_cnn.py``; its manifest entry holds
the configuration that :func:`load_ecg_cnn` uses to rebuild it, and its held-out metrics.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from xaihealth import validate
from xaihealth.checkpoints import checkpoint_entry, load_state_dict

__all__ = ["CLASSES", "ECGCNN", "load_ecg_cnn"]

CLASSES = ("normal", "long_qt")


def _block(c_in: int, c_out: int, kernel: int, *, stride: int = 1, pool: bool = True) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=kernel // 2, bias=False),
        nn.BatchNorm1d(c_out),
        nn.ReLU(),
    ]
    if pool:
        layers.append(nn.MaxPool1d(2))
    return nn.Sequential(*layers)


def ecg_encoder(
    in_leads: int, widths: Sequence[int], kernel: int
) -> tuple[nn.Sequential, nn.Sequential, dict[str, Any]]:
    """The convolutional trunk shared by the ECG models: ``body`` (strided blocks) and ``features``.

    ``features`` is the last convolutional block, the layer Grad-CAM and TCAV hook. Returns both modules and
    the validated architecture (``in_leads``, ``widths``, ``kernel``) for the model's config.
    """
    in_leads = validate.integer("in_leads", in_leads, minimum=1)
    kernel = validate.integer("kernel", kernel, minimum=1)
    if kernel % 2 == 0:
        raise ValueError(f"kernel={kernel!r} must be odd (so that 'same' padding keeps the time axis)")
    widths = [validate.integer("widths[i]", w, minimum=1) for w in widths]
    if len(widths) < 2:
        raise ValueError(f"widths={widths!r} needs at least two blocks (body and features)")
    body = [_block(in_leads, widths[0], kernel, stride=2)]
    body += [_block(a, b, kernel) for a, b in zip(widths[:-2], widths[1:-1], strict=True)]
    features = _block(widths[-2], widths[-1], kernel, pool=False)
    return nn.Sequential(*body), features, {"in_leads": in_leads, "widths": widths, "kernel": kernel}


class ECGCNN(nn.Module):
    """1-D CNN for binary classification of ECG records (logits for :data:`CLASSES`).

    Parameters
    ----------
    in_leads:
        Number of input leads.
    widths:
        Channels of the convolution blocks; the first block has stride 2 (the signal is sampled finely
        enough for that), the middle ones halve the time axis with max pooling, and the last one is the
        ``features`` block, which keeps its time resolution for Grad-CAM: with the default four blocks
        one step of ``features`` is 16 input samples (64 ms at 250 Hz; 156 steps for a 10 s record).
    kernel:
        Odd kernel size of every convolution.
    dropout:
        Dropout before the linear head.
    """

    def __init__(
        self,
        in_leads: int = 1,
        widths: Sequence[int] = (8, 16, 32, 32),
        kernel: int = 7,
        dropout: float = 0.1,
    ) -> None:
        super().__init__()
        self.body, self.features, arch = ecg_encoder(in_leads, widths, kernel)
        dropout = validate.number("dropout", dropout, minimum=0.0, maximum=1.0)
        self.config: dict[str, Any] = {**arch, "dropout": dropout}
        self.pool = nn.AdaptiveAvgPool1d(1)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(widths[-1], len(CLASSES))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map ``(batch, leads, samples)`` signals in mV to ``(batch, 2)`` logits."""
        if x.ndim != 3 or x.shape[1] != self.config["in_leads"]:
            raise ValueError(
                f"x has shape {tuple(x.shape)}; expected (batch, {self.config['in_leads']}, samples)"
            )
        x = x - x.mean(dim=-1, keepdim=True)
        h = self.features(self.body(x))
        return self.head(self.dropout(self.pool(h).flatten(1)))

    @torch.no_grad()
    def predict_proba(self, x: torch.Tensor) -> torch.Tensor:
        """Probability of long QT, shape ``(batch,)``."""
        return torch.softmax(self(x), dim=1)[:, 1]


def build_ecg_cnn(config: Mapping[str, Any]) -> ECGCNN:
    """Build an untrained :class:`ECGCNN` from a manifest ``config`` (extra keys are ignored)."""
    keys = ("in_leads", "widths", "kernel", "dropout")
    return ECGCNN(**{k: config[k] for k in keys if k in config})


def load_ecg_cnn(name: str = "ecg_cnn", folder: Path | None = None) -> ECGCNN:
    """Load a trained :class:`ECGCNN` (eval mode) after checking its sha256 against the manifest.

    ``folder`` defaults to the shipped ``datasets/models``; the manifest entry's ``config`` rebuilds the
    architecture, and :func:`xaihealth.checkpoints.load_state_dict` refuses a file that was changed.
    """
    entry = checkpoint_entry(name, folder)
    model = build_ecg_cnn(entry["config"])
    model.load_state_dict(load_state_dict(name, folder))
    return model.eval()
