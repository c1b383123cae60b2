"""Hidden tests for lab 04 (Integrated Gradients, Grad-CAM, cascading randomisation, mask scores, layers).

Other seeded networks, input sizes, baselines, targets and step counts; Grad-CAM at both layers of other
networks on larger images; other layer lists and a model with other names; other masks and image shapes;
models built from containers the public checker does not use.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable

import numpy as np
import pandas as pd
import torch
from captum.attr import IntegratedGradients, LayerGradCam
from torch import nn

from xaihealth.checks._core import replaced
from xaihealth.checks.gradients import (
    _CAPTUM_CAM,
    _CAPTUM_IG,
    NestedCNN,
    _as_tensor,
    _forbidden,
    _gradient_maps,
    _hook_log,
    _inputs,
    tiny_cnn,
)
from xaihealth.instructor.hidden import hidden_references
from xaihealth.instructor.integrity import exercise

refs = hidden_references("gradients")


def hidden_check_integrated_gradients(integrated_gradients: Callable[..., torch.Tensor]) -> None:
    """Other networks, 10 x 10 inputs, random baselines, both targets, 3 and 11 steps (captum's answer)."""
    with exercise("Exercise 1 (Integrated Gradients from scratch) (hidden tests)") as ex:
        for seed, target, n_steps in ((7, 0, 3), (8, 1, 11)):
            model, x = tiny_cnn(seed), _inputs(seed + 20, n=2, size=10)
            baseline = 0.3 * _inputs(seed + 40, n=2, size=10)
            with replaced(_CAPTUM_IG, _forbidden("captum's IntegratedGradients")):
                out = _as_tensor(
                    ex.call(integrated_gradients, model, x.clone(), baseline.clone(), target, n_steps)
                )
            want = IntegratedGradients(model).attribute(
                x, baselines=baseline, target=target, n_steps=n_steps, method="riemann_middle"
            )
            ex.expect(
                out is not None and out.shape == x.shape and torch.allclose(out, want, atol=1e-5, rtol=1e-4),
                f"with target={target}, n_steps={n_steps} and another baseline your attributions differ "
                "from captum's midpoint Riemann IG",
            )


def hidden_check_grad_cam(grad_cam: Callable[..., torch.Tensor]) -> None:
    """Other networks and targets on 16 x 16 images, at conv2 (8 x 8 maps) and conv1 (16 x 16)."""
    with exercise("Exercise 2 (Grad-CAM with hooks) (hidden tests)") as ex:
        for seed, target, layer_name in ((10, 1, "conv2"), (11, 0, "conv1"), (12, 0, "conv2")):
            model, x = tiny_cnn(seed), _inputs(seed, n=3, size=16)
            layer = getattr(model, layer_name)
            with replaced(_CAPTUM_CAM, _forbidden("captum's layer attribution")), _hook_log(layer) as hooks:
                out = _as_tensor(ex.call(grad_cam, model, layer, x.clone(), target))
            ex.expect(hooks is None or bool(hooks), "no hook was registered on the layer")
            want = (
                LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)[:, 0].detach()
            )
            ex.expect(
                out is not None
                and out.shape == want.shape
                and torch.allclose(out, want, atol=1e-6, rtol=1e-4),
                f"at {layer_name} of another network, target {target}, 16 x 16 images: your maps differ "
                "from Grad-CAM's",
            )
            ex.expect(not any(layer._forward_hooks.values()), "remove your hooks after use")


def hidden_check_cascading_randomisation(cascading_randomisation: Callable[..., pd.Series]) -> None:
    """Other layer lists on another TinyCNN, and a network with other layer names (stem, blocks, head)."""
    with exercise("Exercise 3 (Cascading model randomisation) (hidden tests)") as ex:
        torch.manual_seed(3)
        nested = NestedCNN().eval()
        cases = (
            (tiny_cnn(13), ["conv1", "fc"], _inputs(13, n=3)),
            (tiny_cnn(14), ["conv1", "conv2"], _inputs(14, n=2)),
            (nested, ["stem", "blocks", "head"], _inputs(15, n=3, size=10)),
        )
        for model, layers, x in cases:
            before = {k: v.clone() for k, v in model.state_dict().items()}
            out = ex.call(cascading_randomisation, model, list(layers), _gradient_maps, x.clone())
            ex.returns(out, pd.Series, "a pandas Series indexed by layer name")
            ex.expect(
                all(torch.equal(before[k], v) for k, v in model.state_dict().items()),
                "the model passed in was changed: randomise a copy",
            )
            want = refs.reference_cascading_randomisation(model, layers, _gradient_maps, x)
            ex.expect(
                list(out.index) == list(want.index) and np.allclose(out.astype(float), want, atol=1e-6),
                f"with the layers {layers} your similarities (or their order) differ from the lab's",
            )


def hidden_check_mask_scores(mask_scores: Callable[..., dict]) -> None:
    """Other image shapes (7 x 9, 1 x 13 x 5), masks of other shapes, peaks planted in and out."""
    with exercise("Exercise 4 (Scoring a map against a mask) (hidden tests)") as ex:
        rng = np.random.default_rng(44)
        attr = rng.normal(size=(4, 7, 9))
        masks = rng.random((4, 7, 9)) < 0.3
        attr[0][masks[0]] += 0.0
        attr[1, 6, 8], masks[1, 6, 8] = 9.0, True  # the peak in a corner, in the mask
        attr[2, 0, 8], masks[2, 0, 8] = 9.0, False  # in the other corner, outside
        attr[3] = -np.abs(attr[3])
        attr[3, 5, 1], masks[3, 5, 1] = 0.5, True  # the only positive value
        tall = rng.normal(size=(1, 13, 5))
        tall_mask = np.zeros((1, 13, 5), dtype=bool)
        tall_mask[0, 10:, 3:] = True
        tall[0, 11, 4] = 8.0
        for a, m in ((attr, masks), (tall, tall_mask)):
            out = ex.call(mask_scores, a.copy(), m.copy())
            ex.returns(out, dict, "a dict with the keys 'share' and 'hit'", keys=("share", "hit"))
            want = refs.reference_mask_scores(a, m)
            ex.expect(
                np.array_equal(np.asarray(out["hit"]).astype(bool).ravel(), want["hit"])
                and np.allclose(np.asarray(out["share"], dtype=float).ravel(), want["share"], atol=1e-9),
                f"on images of shape {a.shape[1:]} with other masks your shares or hits differ",
            )


def _branchy() -> nn.Module:
    """An embedding, a frozen layer, a parameter-free container, a GRU, a LayerNorm and a dropout, named
    (made of torch's own classes, so that make grade's judge can send it to the submission's process)."""
    return nn.Sequential(OrderedDict(
        embed=nn.Embedding(10, 4), frozen=nn.Linear(4, 4).requires_grad_(False),
        shape=nn.Sequential(nn.Identity(), nn.Dropout(0.1)), rnn=nn.GRU(4, 3, batch_first=True),
        norm=nn.LayerNorm(3), drop=nn.Dropout(0.2), out=nn.Linear(3, 2)))  # fmt: skip


def hidden_check_parameterised_layers(parameterised_layers: Callable[[nn.Module], list]) -> None:
    """A plain Sequential (layers '0', '2', ...); a model with embedding, GRU, frozen and empty parts."""
    with exercise("Exercise 6 (every parameterised layer) (hidden tests)") as ex:
        torch.manual_seed(2)
        sequential = nn.Sequential(
            nn.Conv2d(1, 2, 3), nn.ReLU(), nn.BatchNorm2d(2), nn.Flatten(), nn.Linear(8, 2)
        )
        models = {"plain Sequential": sequential, "named model with an embedding and a GRU": _branchy()}
        for what, model in models.items():
            out = ex.call(parameterised_layers, model)
            ex.returns(out, (list, tuple), "a list of submodule names")
            want = refs.reference_parameterised_layers(model)
            ex.expect(
                list(out) == want,
                f"on a {what} the layers with parameters are {want}, "
                f"in that order (yours: {list(out)})",
            )
