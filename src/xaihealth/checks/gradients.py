"""Checkers for lab 04, *Gradient explanations and their sanity checks*.

Each checker runs the student's function on a tiny convolutional network it builds itself (seeded, a few
hundred weights, 12 x 12 inputs) so that the checks take well under a second, and compares the answer
with Captum or with a plain reference implementation (:mod:`xaihealth.instructor.references.gradients`,
instructor-only, replayed in a student release). Checkers never print the solution.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import captum.attr
import numpy as np
import pandas as pd
import torch
from captum.attr import IntegratedGradients, LayerGradCam, Saliency
from scipy.stats import spearmanr
from torch import nn

from xaihealth import validate
from xaihealth.checks import _core
from xaihealth.checks._core import exercise, replaced, written_answer
from xaihealth.checks._reference import references

refs = references("gradients")  # the reference implementations, or their replay

__all__ = [
    "check_answer_5",
    "check_answer_6",
    "check_answer_7",
    "check_parameterised_layers",
    "check_cascading_randomisation",
    "check_grad_cam",
    "check_integrated_gradients",
    "check_mask_scores",
    "randomise_layer",
    "tiny_cnn",
]

# ------------------------------------------------------------------------------------------ small models


class TinyCNN(nn.Module):
    """conv1 -> ReLU -> conv2 (stride 2) -> ReLU -> global average pool -> fc (2 logits)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.fc = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.conv2(torch.relu(self.conv1(x))))
        return self.fc(h.mean(dim=(2, 3)))


class TinyBNCNN(nn.Module):
    """conv1 -> bn1 -> ReLU (a module without weights) -> conv2 -> ReLU -> pool -> fc: for exercise 6."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 4, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(4)
        self.act = nn.ReLU()
        self.conv2 = nn.Conv2d(4, 6, 3, stride=2, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(6, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.act(self.conv2(self.act(self.bn1(self.conv1(x)))))
        return self.fc(self.pool(h).flatten(1))


class NestedCNN(nn.Module):
    """Other names and nested containers: stem, norm, act, blocks (Sequential), flat (no weights), head."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(1, 3, 3, padding=1)
        self.norm = nn.BatchNorm2d(3)
        self.act = nn.ReLU()
        self.blocks = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU())
        self.flat = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.flat(self.blocks(self.act(self.norm(self.stem(x))))))


def _forbidden(what: str) -> Callable[..., None]:
    def stub(*args, **kwargs):
        raise RuntimeError(f"{what} is switched off while the checker runs your function: this exercise "
                           "asks you to write it yourself")
    return stub


_CAPTUM_IG = [(captum.attr.IntegratedGradients, "attribute")]
_CAPTUM_CAM = [(captum.attr.LayerGradCam, "attribute"), (captum.attr.GuidedGradCam, "attribute"),
               (captum.attr.LayerActivation, "attribute"),
               (captum.attr.LayerGradientXActivation, "attribute")]
_HOOKS = ("register_forward_hook", "register_full_backward_hook", "register_backward_hook",
          "register_forward_pre_hook")


@contextmanager
def _hook_log(layer: nn.Module) -> Iterator[list | None]:
    """Record which hook methods are called on ``layer`` (instance attributes shadow the class methods);
    ``None`` where the student's code runs in another process (the judge), which this cannot see."""
    if _core.STUDENT_CODE_ELSEWHERE:  # make grade's judge: the student's hooks are set in another process
        yield None
        return
    calls: list[str] = []
    for name in _HOOKS:
        original = getattr(layer, name)

        def wrapper(*args, _name=name, _original=original, **kwargs):
            calls.append(_name)
            return _original(*args, **kwargs)

        object.__setattr__(layer, name, wrapper)
    try:
        yield calls
    finally:
        for name in _HOOKS:
            object.__delattr__(layer, name)


def tiny_cnn(seed: int = 0) -> TinyCNN:
    """A seeded, untrained :class:`TinyCNN` in eval mode (inputs ``(n, 1, H, W)``, 2 logits)."""
    seed = validate.integer("seed", seed, minimum=0)
    torch.manual_seed(seed)
    return TinyCNN().eval()


def _inputs(seed: int, n: int = 3, size: int = 12) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, 1, size, size), generator=g)


def randomise_layer(model: nn.Module, name: str) -> None:
    """Re-initialise, in place, every weight of the submodule called ``name`` (its default initialiser).

    The seed is derived from ``name``, so the same layer always gets the same random weights, whatever
    was randomised before: results do not depend on the global random state.
    """
    if not isinstance(name, str):
        raise TypeError(f"name={name!r} must be the name of a submodule, e.g. 'fc' or 'layer4'")
    modules = dict(model.named_modules())
    if name not in modules:
        raise ValueError(f"name={name!r} is not a submodule of the model; allowed: {sorted(modules)[1:12]}")
    state = torch.random.get_rng_state()
    torch.manual_seed(zlib.crc32(name.encode()))
    for m in modules[name].modules():
        if hasattr(m, "reset_parameters"):
            m.reset_parameters()
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.reset_running_stats()
    torch.random.set_rng_state(state)


# ------------------------------------------------------------------------- helpers the references share


def _spearman_abs(a: np.ndarray, b: np.ndarray) -> float:
    pairs = zip(a, b, strict=True)
    return float(np.mean([spearmanr(np.abs(p).ravel(), np.abs(q).ravel())[0] for p, q in pairs]))


def _gradient_maps(model: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Signed input gradients of logit 1, as (n, H, W) numpy: the explanation used by exercise 3."""
    x = x.detach().clone().requires_grad_(True)
    return Saliency(model).attribute(x, target=1, abs=False).detach().numpy()[:, 0]


# ------------------------------------------------------------------------------------------------ checkers


def _as_tensor(out: object) -> torch.Tensor | None:
    if isinstance(out, torch.Tensor):
        return out.detach().float()
    if isinstance(out, np.ndarray):
        return torch.as_tensor(out, dtype=torch.float32)
    return None


def check_integrated_gradients(integrated_gradients: Callable[..., torch.Tensor]) -> None:
    """Exercise 1: midpoint-Riemann IG, ``integrated_gradients(model, x, baseline, target, n_steps)``."""
    with exercise("Exercise 1 (Integrated Gradients from scratch)") as ex:
        model, x = tiny_cnn(1), _inputs(1)
        zeros = torch.zeros_like(x)
        with replaced(_CAPTUM_IG, _forbidden("captum's IntegratedGradients")):
            raw = ex.call(integrated_gradients, model, x.clone(), zeros.clone(), 1, 8)
        out = _as_tensor(ex.returns(raw, (torch.Tensor, np.ndarray), "a tensor with the shape of x"))
        ex.expect(
            out is not None and tuple(out.shape) == tuple(x.shape),
            f"return a tensor with the shape of x, {tuple(x.shape)}: one attribution per input value",
        )
        ref = IntegratedGradients(model).attribute(
            x, baselines=zeros, target=1, n_steps=8, method="riemann_middle"
        )
        ex.expect(
            torch.allclose(out, ref, atol=1e-5, rtol=1e-4),
            "does not match captum's IntegratedGradients(method='riemann_middle') with 8 steps: use "
            "the midpoints alpha = (k + 0.5) / n_steps, k = 0 .. n_steps - 1, average the gradients "
            "of the target logit and multiply by (x - baseline)",
        )
        baseline = 0.5 * _inputs(2)
        out_b = _as_tensor(ex.call(integrated_gradients, model, x.clone(), baseline.clone(), 1, 8))
        ref_b = IntegratedGradients(model).attribute(
            x, baselines=baseline, target=1, n_steps=8, method="riemann_middle"
        )
        ex.expect(
            out_b is not None and torch.allclose(out_b, ref_b, atol=1e-5, rtol=1e-4),
            "right from a zero baseline but wrong from another baseline: the path starts at the "
            "baseline (baseline + alpha * (x - baseline)) and the factor is (x - baseline)",
        )
        out_5 = _as_tensor(ex.call(integrated_gradients, model, x.clone(), baseline.clone(), 1, 5))
        ref_5 = IntegratedGradients(model).attribute(
            x, baselines=baseline, target=1, n_steps=5, method="riemann_middle"
        )
        ex.expect(
            out_5 is not None and torch.allclose(out_5, ref_5, atol=1e-5, rtol=1e-4),
            "right with 8 steps but wrong with n_steps=5: use the n_steps you are given for the "
            "midpoints alpha = (k + 0.5) / n_steps, do not fix the number of steps",
        )
        out_long = _as_tensor(ex.call(integrated_gradients, model, x.clone(), baseline.clone(), 0, 32))
        with torch.no_grad():
            gap = model(x)[:, 0] - model(baseline)[:, 0]
        ex.expect(
            out_long is not None and torch.allclose(out_long.sum(dim=(1, 2, 3)), gap, rtol=0.02, atol=1e-4),
            "completeness fails: with 32 steps the attributions of each input must add up to "
            "f(x) - f(baseline) for the requested target",
        )


def check_grad_cam(grad_cam: Callable[..., torch.Tensor]) -> None:
    """Exercise 2: Grad-CAM with hooks, ``grad_cam(model, layer, x, target)`` -> (n, h, w) maps."""
    with exercise("Exercise 2 (Grad-CAM with hooks)") as ex:
        for seed, target in ((3, 1), (4, 0)):
            model, x = tiny_cnn(seed), _inputs(seed, n=4)
            no_captum = replaced(_CAPTUM_CAM, _forbidden("captum's layer attribution"))
            with no_captum, _hook_log(model.conv2) as hooks:
                raw = ex.call(grad_cam, model, model.conv2, x.clone(), target)
            out = _as_tensor(ex.returns(raw, (torch.Tensor, np.ndarray), "a tensor of maps (n, h, w)"))
            ex.expect(
                hooks is None or bool(hooks),
                "no hook was registered on the layer: catch its activations with "
                "layer.register_forward_hook (and their gradients with a tensor or backward hook)",
            )
            ex.expect(
                out is not None and tuple(out.shape) == (4, 6, 6),
                "return one map per image at the layer's resolution, shape (n, height, width) = "
                "(4, 6, 6) here: sum the weighted channels, do not upsample",
            )
            ref = LayerGradCam(model, model.conv2).attribute(x, target=target, relu_attributions=True)[:, 0]
            ex.expect(
                bool((out >= 0).all()),
                "Grad-CAM keeps only positive evidence: apply a ReLU to the weighted sum of channels",
            )
            ex.expect(
                torch.allclose(out, ref.detach(), atol=1e-6, rtol=1e-4),
                "does not match captum's LayerGradCam: weight each channel by the mean of its "
                "gradient over the spatial positions (height and width), then sum channels and ReLU",
            )
            ex.expect(
                not any(h for h in model.conv2._forward_hooks.values()),
                "remove your hooks after use (handle.remove()), or they pile up on every call",
            )
        model, x = tiny_cnn(6), _inputs(6, n=2)
        with replaced(_CAPTUM_CAM, _forbidden("captum's layer attribution")):
            out1 = _as_tensor(ex.call(grad_cam, model, model.conv1, x.clone(), 1))
        ref1 = LayerGradCam(model, model.conv1).attribute(x, target=1, relu_attributions=True)[:, 0]
        ex.expect(
            out1 is not None and tuple(out1.shape) == (2, 12, 12) and torch.allclose(out1, ref1.detach(),
                                                                                     atol=1e-6, rtol=1e-4),
            "right on conv2 but wrong on another layer (conv1, 12 x 12 maps here): hook the `layer` you "
            "are given, not a fixed one",
        )


def check_cascading_randomisation(cascading_randomisation: Callable[..., pd.Series]) -> None:
    """Exercise 3: ``cascading_randomisation(model, layers, explain, x)`` -> Spearman per randomised layer."""
    with exercise("Exercise 3 (Cascading model randomisation)") as ex:
        model, x = tiny_cnn(5), _inputs(5, n=4)
        layers = ["conv1", "conv2", "fc"]
        before = {k: v.clone() for k, v in model.state_dict().items()}
        out = ex.call(cascading_randomisation, model, layers, _gradient_maps, x.clone())
        ex.returns(out, pd.Series, "a pandas Series indexed by layer name, one value per randomised layer")
        ex.expect(set(out.index) == set(layers), "index the Series by layer name, one per randomised layer")
        ex.expect(
            all(torch.equal(before[k], v) for k, v in model.state_dict().items()),
            "the model passed in was changed: randomise a copy (copy.deepcopy(model)), never the "
            "trained model itself",
        )
        ex.expect(
            list(out.index) == layers[::-1],
            "randomise from the output downwards: the first entry is the last layer ('fc'), "
            "the last entry the first layer",
        )
        ref = refs.reference_cascading_randomisation(model, layers, _gradient_maps, x)
        ex.expect(
            np.allclose(out.loc[ref.index].astype(float), ref, atol=1e-6),
            "the similarities are off. Re-initialise each layer with randomise_layer(model_copy, name) "
            "(the checker compares exact numbers, so another random draw fails), compare absolute values "
            "of the maps (Spearman rank correlation per image, then the mean), and keep the layers "
            "randomised so far randomised (cascading)",
        )
        short = ["conv2", "fc"]
        out_short = ex.call(cascading_randomisation, model, short, _gradient_maps, x.clone())
        ref_short = refs.reference_cascading_randomisation(model, short, _gradient_maps, x)
        ex.expect(
            isinstance(out_short, pd.Series) and list(out_short.index) == short[::-1]
            and np.allclose(out_short.astype(float), ref_short, atol=1e-6),
            "wrong for another list of layers (['conv2', 'fc']): randomise exactly the layers you are "
            "given, from the last one to the first",
        )
        again = ex.call(cascading_randomisation, model, layers, _gradient_maps, x.clone())
        ex.expect(
            isinstance(again, pd.Series) and np.allclose(again.loc[ref.index].astype(float), ref, atol=1e-6),
            "a second call gives other numbers: each call must start from a fresh copy of the trained model",
        )


def check_mask_scores(mask_scores: Callable[..., dict]) -> None:
    """Exercise 4: positive-attribution share in a mask and pointing game, ``mask_scores(attr, masks)``."""
    with exercise("Exercise 4 (Scoring a map against a mask)") as ex:
        rng = np.random.default_rng(4)
        attr = rng.normal(size=(5, 10, 10))
        masks = np.zeros((5, 10, 10), dtype=bool)
        masks[:, 2:5, 3:8] = True
        masks[4] = False
        masks[4, 6:10, 0:3] = True
        attr[0, 3, 4] = 6.0  # a clear peak inside the mask
        attr[1, 9, 9] = 6.0  # a clear peak outside
        attr[2, 2, 3] = -8.0  # a large negative value inside the mask
        out = ex.call(mask_scores, attr.copy(), masks.copy())
        what = "a dict with the keys 'share' and 'hit', one value per image"
        ex.returns(out, dict, what, keys=("share", "hit"))
        share, hit = np.asarray(out["share"], dtype=float), np.asarray(out["hit"])
        ref = refs.reference_mask_scores(attr, masks)
        ex.expect(
            share.shape == (5,) and hit.shape == (5,), "give one share and one hit per image (shape (n,))"
        )
        ex.expect(
            bool(hit[0]) and not bool(hit[1]),
            "the pointing game asks whether the pixel with the HIGHEST attribution lies in the mask",
        )
        ex.expect(
            np.array_equal(hit.astype(bool), ref["hit"]),
            "'hit' is True when the pixel with the highest attribution (argmax) lies in the mask",
        )
        ex.expect(np.all((share >= 0) & (share <= 1)), "a share lies between 0 and 1")
        ex.expect(
            np.allclose(share, ref["share"], atol=1e-9),
            "'share' is the positive attribution inside the mask divided by all positive attribution "
            "in the image: clip negative values to 0 (do not take absolute values) and do not divide "
            "by the mask's area",
        )
        # Non-square images, a mask that is not symmetric under transposition, peaks off the diagonal.
        attr2 = rng.normal(size=(3, 8, 12))
        masks2 = np.zeros((3, 8, 12), dtype=bool)
        masks2[:, 1:3, 7:11] = True
        attr2[0, 2, 9] = 7.0  # in the mask; its transpose (9, 2) is not even inside an 8-row image
        attr2[1, 6, 1] = 7.0  # outside the mask
        attr2[2, 1, 7] = 7.0  # in the mask
        out2 = ex.call(mask_scores, attr2.copy(), masks2.copy())
        ex.returns(out2, dict, what, keys=("share", "hit"))
        ref2 = refs.reference_mask_scores(attr2, masks2)
        ex.expect(
            np.array_equal(np.asarray(out2["hit"]).astype(bool), ref2["hit"])
            and np.allclose(np.asarray(out2["share"], dtype=float), ref2["share"], atol=1e-9),
            "wrong on non-square images (8 x 12): the peak's row indexes the first image axis and its "
            "column the second (np.unravel_index(argmax, (H, W)) gives (row, column) in that order)",
        )


def check_parameterised_layers(parameterised_layers: Callable[[nn.Module], list]) -> None:
    """Exercise 6, part a: ``parameterised_layers(model)`` -> names of top-level layers with parameters."""
    with exercise("Exercise 6 (every parameterised layer)") as ex:
        torch.manual_seed(0)
        model = TinyBNCNN().eval()
        out = ex.call(parameterised_layers, model)
        ex.returns(out, (list, tuple), "a list of submodule names, e.g. ['conv1', ...]")
        out = list(out)
        ex.expect(all(isinstance(n, str) for n in out), "return the names (strings) of the submodules")
        ex.expect(
            "." not in "".join(out),
            "give top-level layer names ('conv1', 'bn1', ...), not parameter names ('conv1.weight')",
        )
        ex.expect(
            "bn1" in out,
            "a batch-normalisation layer has parameters too (weight and bias, and running statistics): "
            "'bn1' must be in the list",
        )
        ex.expect(
            "act" not in out and "pool" not in out,
            "list only the layers that own parameters: ReLU and pooling layers have none",
        )
        ref = refs.reference_parameterised_layers(model)
        ex.expect(out == ref, "list them in the order the model defines them, from the input to the output")
        tiny = tiny_cnn(0)
        out2 = ex.call(parameterised_layers, tiny)
        ex.expect(
            isinstance(out2, (list, tuple)) and list(out2) == refs.reference_parameterised_layers(tiny),
            "wrong on another model (conv1, conv2, fc): read the layers from the model you are given",
        )
        torch.manual_seed(1)
        nested = NestedCNN().eval()
        out3 = ex.call(parameterised_layers, nested)
        ex.expect(
            isinstance(out3, (list, tuple)) and list(out3) == refs.reference_parameterised_layers(nested),
            "wrong on a model with nested containers (stem, norm, act, blocks = Sequential(conv, bn, relu), "
            "flat = Sequential(pool, flatten), head): a container owns the parameters of its children "
            "(count child.parameters(), do not look for a .weight attribute), and a container without "
            "parameters is not listed",
        )




def check_answer_5(answer: object) -> None:
    """Exercise 5: which IG baseline, defended with a measurement; marked by a person with the rubric."""
    with exercise("Exercise 5 (choose an IG baseline)") as ex:
        written_answer(ex, answer, "answer_5", [("baseline",), ("complete", "sum"), ("marker", "lesion"),
                                          ("question", "compare", "rather than")], 60)


def check_answer_6(answer: object) -> None:
    """Exercise 6, part b: reading the randomisation tests; marked by a person with the rubric."""
    with exercise("Exercise 6 (every parameterised layer)") as ex:
        written_answer(ex, answer, "answer_6", [("bn1", "batch"), ("floor", "random init", "untrained"),
                                          ("shuffled", "permuted")], 60)


def check_answer_7(answer: object) -> None:
    """Exercise 7: which Grad-CAM layer; marked by a person with the rubric."""
    with exercise("Exercise 7 (choose a Grad-CAM layer)") as ex:
        written_answer(ex, answer, "answer_7", [("layer3", "layer 3"), ("layer4", "layer 4"),
                                          ("resolution", "8 x 8", "8 × 8", "16"), ("marker",)], 50)
