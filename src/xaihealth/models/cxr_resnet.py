"""A small ResNet for the synthetic chest radiographs (module 04: Grad-CAM, IG, sanity checks).

The network *is* a ``torchvision.models.resnet.ResNet`` built from ``BasicBlock`` (He et al., 2016), so
that it has the module names every Grad-CAM tutorial expects (``conv1``, ``bn1``, ``layer1`` ...
``layer4``, ``avgpool``, ``fc``). It is adapted to 1-channel 64 x 64 images and to a CPU budget:

- ``conv1`` is a 3 x 3 convolution with stride 1 (not 7 x 7 stride 2) and ``maxpool`` is the identity, so
  the first stage sees the full resolution and small opacities are not averaged away;
- the four stages have ``width, 2 width, 4 width, 8 width`` channels (default width 8, not 64) and
  ``blocks`` BasicBlocks each (default one), strides 1, 2, 2, 2: a 64 x 64 input gives 8 x 8 maps in
  ``layer4`` (the layer to hook for Grad-CAM);
- ``fc`` maps the pooled ``8 width`` features to 2 logits (0 = no pneumonia, 1 = pneumonia).

With the defaults the model has about 78k parameters (a 0.3 MB checkpoint). No weights are downloaded:
the shipped checkpoints are trained by ``scripts/train_cxr_resnet.py``:

- ``cxr_shortcut``: trained on ``standard_splits()["train"]`` (marker correlation 0.9);
- ``cxr_control``: trained on the same kind of data with marker correlation 0;
- ``cxr_shuffled``: trained on the shortcut data with randomly permuted labels (the data-randomisation
  test of Adebayo et al., 2018, "Sanity checks for saliency maps").
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torchvision.models.resnet import BasicBlock, ResNet

from xaihealth import validate
from xaihealth.checkpoints import checkpoint_entry, load_state_dict

CHECKPOINTS = ("cxr_shortcut", "cxr_control", "cxr_shuffled")
DEFAULT_CONFIG: dict[str, Any] = {"width": 8, "blocks": [1, 1, 1, 1], "num_classes": 2, "in_channels": 1}


class CXRResNet(ResNet):
    """torchvision's ResNet with BasicBlocks, narrowed and adapted to small grayscale images."""

    def __init__(
        self,
        width: int = 8,
        blocks: Sequence[int] = (1, 1, 1, 1),
        num_classes: int = 2,
        in_channels: int = 1,
    ) -> None:
        width = validate.integer("width", width, minimum=1, maximum=64)
        num_classes = validate.integer("num_classes", num_classes, minimum=1)
        in_channels = validate.integer("in_channels", in_channels, minimum=1)
        if isinstance(blocks, str) or len(blocks) != 4:
            raise ValueError(f"blocks={blocks!r} must list 4 block counts, one per stage, e.g. [1, 1, 1, 1]")
        blocks = [validate.integer("blocks", b, minimum=1, maximum=8) for b in blocks]
        # Build torchvision's smallest layout, then replace the stem and the stages by narrower ones with
        # ResNet's own _make_layer, so that block wiring and module names stay exactly torchvision's.
        super().__init__(BasicBlock, [1, 1, 1, 1], num_classes=num_classes)
        self.inplanes = width
        self.conv1 = nn.Conv2d(in_channels, width, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.maxpool = nn.Identity()
        self.layer1 = self._make_layer(BasicBlock, width, blocks[0])
        self.layer2 = self._make_layer(BasicBlock, 2 * width, blocks[1], stride=2)
        self.layer3 = self._make_layer(BasicBlock, 4 * width, blocks[2], stride=2)
        self.layer4 = self._make_layer(BasicBlock, 8 * width, blocks[3], stride=2)
        self.fc = nn.Linear(8 * width, num_classes)
        for m in self.modules():  # torchvision's initialisation, re-applied to the new modules
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        self.config = {
            "width": width,
            "blocks": blocks,
            "num_classes": num_classes,
            "in_channels": in_channels,
        }


def build_cxr_resnet(config: dict[str, Any] | None = None) -> CXRResNet:
    """A freshly initialised :class:`CXRResNet` from a config dict (keys of :data:`DEFAULT_CONFIG`)."""
    cfg = dict(DEFAULT_CONFIG)
    if config:
        unknown = sorted(set(config) - set(DEFAULT_CONFIG) - {"arch"})
        if unknown:
            raise ValueError(f"config has unknown keys {unknown}; allowed: {sorted(DEFAULT_CONFIG)}")
        cfg.update({k: v for k, v in config.items() if k != "arch"})
    return CXRResNet(cfg["width"], cfg["blocks"], cfg["num_classes"], cfg["in_channels"])


def load_cxr_resnet(name: str = "cxr_shortcut", folder: Path | None = None) -> CXRResNet:
    """Load a shipped radiograph CNN in eval mode, after checking its sha256 against the manifest.

    ``name`` is one of :data:`CHECKPOINTS` (or any entry of the manifest in ``folder`` made by
    ``scripts/train_cxr_resnet.py``). The input is a float tensor (batch, 1, 64, 64) in [0, 1], as from
    :func:`xaihealth.data.cxr.make_chest_xrays`; the output is 2 logits (class 1 = pneumonia).
    """
    if not isinstance(name, str):
        raise TypeError(f"name={name!r} must be a string such as 'cxr_shortcut'")
    entry = checkpoint_entry(name, folder)
    if entry.get("config", {}).get("arch") != "cxr_resnet":
        raise ValueError(
            f"name={name!r} is not a radiograph ResNet checkpoint; choose one of {list(CHECKPOINTS)}"
        )
    config = entry["config"]  # also records the training recipe; keep the keys that define the network
    model = build_cxr_resnet({k: config[k] for k in DEFAULT_CONFIG if k in config})
    model.load_state_dict(load_state_dict(name, folder))
    return model.eval()


@torch.no_grad()
def predict_proba(model: nn.Module, images: Any, batch_size: int = 256) -> torch.Tensor:
    """Probability of class 1 (pneumonia) for an array or tensor of images (n, 1, H, W)."""
    batch_size = validate.integer("batch_size", batch_size, minimum=1)
    x = torch.as_tensor(images, dtype=torch.float32)
    if x.ndim != 4:
        raise ValueError(f"images has shape {tuple(x.shape)}; expected (n, channels, height, width)")
    was_training = model.training
    model.eval()
    out = [torch.softmax(model(x[i : i + batch_size]), dim=1)[:, 1] for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out)
