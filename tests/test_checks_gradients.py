"""Mutation tests for the lab 04 checkers: each accepts the reference and rejects plausible mistakes."""

import copy

import numpy as np
import pandas as pd
import pytest
import torch
from mutation import case_id, mutation_cases, run_case

from xaihealth.checks import gradients as gr
from xaihealth.instructor.references import gradients as gr_ref

# --- Exercise 1: Integrated Gradients ---------------------------------------------------------------------


def _path_gradients(model, x, baseline, target, alphas):
    total = torch.zeros_like(x)
    for alpha in alphas:
        point = (baseline + alpha * (x - baseline)).detach().requires_grad_(True)
        model(point)[:, target].sum().backward()
        total += point.grad
    return total / len(alphas)


def ig_no_input_factor(model, x, baseline, target, n_steps):
    """Averages the path gradients but forgets to multiply by (x - baseline)."""
    return _path_gradients(model, x, baseline, target, (torch.arange(n_steps) + 0.5) / n_steps)


def ig_alpha_grid_off_by_one(model, x, baseline, target, n_steps):
    """Uses alpha = k / n_steps for k = 1 .. n_steps (a right Riemann sum) instead of the midpoints."""
    alphas = torch.arange(1, n_steps + 1) / n_steps
    return (x - baseline) * _path_gradients(model, x, baseline, target, alphas)


def ig_wrong_path_scaling(model, x, baseline, target, n_steps):
    """Sums the gradients instead of averaging them (forgets the 1 / n_steps step size)."""
    alphas = (torch.arange(n_steps) + 0.5) / n_steps
    return (x - baseline) * _path_gradients(model, x, baseline, target, alphas) * n_steps


def ig_baseline_ignored(model, x, baseline, target, n_steps):
    """Always integrates from a black image."""
    return gr_ref.reference_integrated_gradients(model, x, torch.zeros_like(x), target, n_steps)


def ig_steps_hard_coded(model, x, baseline, target, n_steps):
    """Ignores n_steps and always uses 8 midpoints."""
    return gr_ref.reference_integrated_gradients(model, x, baseline, target, 8)


def ig_target_ignored(model, x, baseline, target, n_steps):
    """Always explains logit 1."""
    return gr_ref.reference_integrated_gradients(model, x, baseline, 1, n_steps)


def ig_gauss_legendre_default(model, x, baseline, target, n_steps):
    """Calls Captum with its default Gauss-Legendre rule instead of writing the midpoint sum."""
    from captum.attr import IntegratedGradients

    return IntegratedGradients(model).attribute(x, baselines=baseline, target=target, n_steps=n_steps)


def ig_captum_midpoint(model, x, baseline, target, n_steps):
    """The library shortcut with the right rule: the exercise is "from scratch" (review 04, 7c)."""
    from captum.attr import IntegratedGradients

    return IntegratedGradients(model).attribute(x, baselines=baseline, target=target, n_steps=n_steps,
                                                method="riemann_middle")


def ig_alternative_vectorised(model, x, baseline, target, n_steps):
    """A correct alternative: all path points in one batch (must be accepted)."""
    alphas = (torch.arange(n_steps, dtype=x.dtype) + 0.5) / n_steps
    points = baseline[None] + alphas[:, None, None, None, None] * (x - baseline)[None]
    points = points.reshape(-1, *x.shape[1:])
    points = points.detach().requires_grad_(True)
    model(points)[:, target].sum().backward()
    grads = points.grad.reshape(n_steps, *x.shape).mean(0)
    return (x - baseline) * grads


# --- Exercise 2: Grad-CAM ----------------------------------------------------------------------------------


def _hooked(model, layer, x, target):
    store = {}

    def keep(module, inputs, output):
        store["act"] = output
        output.register_hook(lambda g: store.__setitem__("grad", g))

    handle = layer.register_forward_hook(keep)
    model(x)[:, target].sum().backward()
    handle.remove()
    return store["act"].detach(), store["grad"].detach()


def cam_no_relu(model, layer, x, target):
    act, grad = _hooked(model, layer, x, target)
    return (grad.mean(dim=(2, 3), keepdim=True) * act).sum(dim=1)


def cam_pool_over_channels(model, layer, x, target):
    """Averages the gradients over channels instead of over positions."""
    act, grad = _hooked(model, layer, x, target)
    return torch.relu((grad.mean(dim=1, keepdim=True) * act).sum(dim=1))


def cam_activations_only(model, layer, x, target):
    """Uses the activations without gradient weights (a class-independent map)."""
    act, _ = _hooked(model, layer, x, target)
    return torch.relu(act.sum(dim=1))


def cam_hooks_left_behind(model, layer, x, target):
    """Right maps, but never removes its forward hook."""
    store = {}

    def keep(module, inputs, output):
        store["act"] = output
        output.register_hook(lambda g: store.__setitem__("grad", g))

    layer.register_forward_hook(keep)
    model(x)[:, target].sum().backward()
    weights = store["grad"].mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * store["act"]).sum(dim=1)).detach()


def cam_fixed_layer(model, layer, x, target):
    """Ignores `layer` and always hooks conv2."""
    return gr_ref.reference_grad_cam(model, model.conv2, x, target)


def cam_target_ignored(model, layer, x, target):
    return gr_ref.reference_grad_cam(model, layer, x, 1)


def cam_captum_shortcut(model, layer, x, target):
    """The library shortcut: the exercise is "with hooks" (review 04, 7d)."""
    from captum.attr import LayerGradCam

    return LayerGradCam(model, layer).attribute(x, target=target, relu_attributions=True)[:, 0].detach()


def cam_captum_layer_activation(model, layer, x, target):
    """Captum's LayerActivation and autograd.grad instead of hooks."""
    from captum.attr import LayerActivation

    act = LayerActivation(model, layer).attribute(x)
    return torch.relu(act.sum(dim=1)).detach()


def cam_alternative_full_backward_hook(model, layer, x, target):
    """A correct alternative: forward hook for activations, full backward hook for gradients (accepted)."""
    store = {}
    h1 = layer.register_forward_hook(lambda m, i, o: store.__setitem__("act", o))
    h2 = layer.register_full_backward_hook(lambda m, gi, go: store.__setitem__("grad", go[0]))
    try:
        model(x)[:, target].sum().backward()
    finally:
        h1.remove()
        h2.remove()
    weights = store["grad"].mean(dim=(2, 3), keepdim=True)
    return torch.relu((weights * store["act"]).sum(dim=1)).detach()


# --- Exercise 3: cascading randomisation -----------------------------------------------------------------


def _spearman(a, b, absolute=True):
    from scipy.stats import spearmanr

    f = np.abs if absolute else (lambda v: v)
    return float(np.mean([spearmanr(f(p).ravel(), f(q).ravel())[0] for p, q in zip(a, b, strict=True)]))


def cascade_from_bottom(model, layers, explain, x):
    original, m, out = explain(model, x), copy.deepcopy(model), {}
    for name in layers:
        gr.randomise_layer(m, name)
        out[name] = _spearman(original, explain(m, x))
    return pd.Series(out)


def cascade_signed_spearman(model, layers, explain, x):
    original, m, out = explain(model, x), copy.deepcopy(model), {}
    for name in reversed(layers):
        gr.randomise_layer(m, name)
        out[name] = _spearman(original, explain(m, x), absolute=False)
    return pd.Series(out)


def cascade_no_copy(model, layers, explain, x):
    """Randomises the trained model in place: it is destroyed, and a second call accumulates."""
    original, out = explain(model, x), {}
    for name in reversed(layers):
        gr.randomise_layer(model, name)
        out[name] = _spearman(original, explain(model, x))
    return pd.Series(out)


def cascade_independent(model, layers, explain, x):
    """Randomises one layer at a time on a fresh copy: not cascading."""
    original, out = explain(model, x), {}
    for name in reversed(layers):
        m = copy.deepcopy(model)
        gr.randomise_layer(m, name)
        out[name] = _spearman(original, explain(m, x))
    return pd.Series(out)


def cascade_hard_coded_layers(model, layers, explain, x):
    """Ignores `layers` and always randomises fc, conv2, conv1."""
    return gr_ref.reference_cascading_randomisation(model, ["conv1", "conv2", "fc"], explain, x)


def cascade_skips_first(model, layers, explain, x):
    """Off by one: never randomises the first (input) layer."""
    out = gr_ref.reference_cascading_randomisation(model, list(layers)[1:], explain, x)
    out[list(layers)[0]] = out.iloc[-1]
    return out


# --- Exercise 4: mask share and pointing game ------------------------------------------------------------


def scores_absolute(attr, masks):
    a = np.abs(attr)
    share = (a * masks).sum((1, 2)) / a.sum((1, 2))
    return {"share": share, "hit": gr_ref.reference_mask_scores(attr, masks)["hit"]}


def scores_area_normalised(attr, masks):
    """Divides the positive mass inside the mask by the mask's area (a density, not a share)."""
    pos = np.clip(attr, 0, None)
    share = (pos * masks).sum((1, 2)) / masks.sum((1, 2))
    return {"share": share, "hit": gr_ref.reference_mask_scores(attr, masks)["hit"]}


def scores_area_ratio(attr, masks):
    """Divides the share by the mask's area fraction (an enrichment, not a share)."""
    ref = gr_ref.reference_mask_scores(attr, masks)
    return {"share": ref["share"] / masks.mean((1, 2)), "hit": ref["hit"]}


def scores_argmin(attr, masks):
    ref = gr_ref.reference_mask_scores(attr, masks)
    low = attr.reshape(len(attr), -1).argmin(1)
    return {"share": ref["share"], "hit": masks.reshape(len(masks), -1)[np.arange(len(masks)), low]}


def scores_abs_argmax(attr, masks):
    """Points with the largest |attribution|, which can be a large negative value."""
    ref = gr_ref.reference_mask_scores(attr, masks)
    peak = np.abs(attr).reshape(len(attr), -1).argmax(1)
    return {"share": ref["share"], "hit": masks.reshape(len(masks), -1)[np.arange(len(masks)), peak]}


def scores_transposed_peak(attr, masks):
    """Reads the peak as (column, row): right only where the mask is symmetric."""
    ref = gr_ref.reference_mask_scores(attr, masks)
    n, h, w = attr.shape
    peak = attr.reshape(n, -1).argmax(1)
    r, c = np.unravel_index(peak, (h, w))
    hit = np.array([masks[i, c[i] % h, r[i] % w] for i in range(n)])
    return {"share": ref["share"], "hit": hit}


def scores_square_assumed(attr, masks):
    """Unravels the peak with the number of rows for both axes (assumes square images)."""
    ref = gr_ref.reference_mask_scores(attr, masks)
    n, h, w = attr.shape
    peak = attr.reshape(n, -1).argmax(1)
    r, c = peak // h, peak % h
    hit = np.array([masks[i, min(r[i], h - 1), c[i]] for i in range(n)])
    return {"share": ref["share"], "hit": hit}


def scores_alternative_unravel(attr, masks):
    """A correct alternative with np.unravel_index (must be accepted)."""
    pos = np.where(attr > 0, attr, 0.0)
    share = np.array([(p * m).sum() / p.sum() for p, m in zip(pos, masks, strict=True)])
    hit = []
    for a, m in zip(attr, masks, strict=True):
        r, c = np.unravel_index(np.argmax(a), a.shape)
        hit.append(bool(m[r, c]))
    return {"share": share, "hit": np.array(hit)}


# --- Exercise 6a: every parameterised layer ------------------------------------------------------------


def layers_convs_only(model):
    """Keeps convolutions and linear layers, forgets batch normalisation."""
    return [n for n, c in model.named_children() if isinstance(c, torch.nn.Conv2d | torch.nn.Linear)]


def layers_all_children(model):
    """Every child, parameterless ReLU and pooling included."""
    return [n for n, _ in model.named_children()]


def layers_reversed(model):
    return gr_ref.reference_parameterised_layers(model)[::-1]


def layers_parameter_names(model):
    """Dotted parameter names instead of layer names."""
    return [n for n, _ in model.named_parameters()]


def layers_hard_coded(model):
    """The ResNet list of the lecture's first draft, whatever the model (and without bn1)."""
    return ["conv1", "layer1", "layer2", "layer3", "layer4", "fc"]


def layers_hard_coded_tiny(model):
    """The tiny BN network's list, whatever the model."""
    return ["conv1", "bn1", "conv2", "fc"]


def layers_sorted(model):
    """Alphabetical, not the model's order."""
    return sorted(gr_ref.reference_parameterised_layers(model))


def layers_hasattr_weight(model):
    """Top-level children with a .weight attribute: drops containers such as ResNet's layer1-4 (review 7a)."""
    return [n for n, c in model.named_children() if hasattr(c, "weight")]


def layers_hard_coded_both(model):
    """Hard-codes both checker models' answers (review 04, 7b)."""
    return ["conv1", "bn1", "conv2", "fc"] if hasattr(model, "bn1") else ["conv1", "conv2", "fc"]


def layers_alternative_modules(model):
    """A correct alternative via named_modules at depth 1 (must be accepted)."""
    return [n for n, m in model.named_modules() if n and "." not in n and len(list(m.parameters())) > 0]


CASES = (
    mutation_cases(
        gr.check_integrated_gradients,
        gr_ref.reference_integrated_gradients,
        [ig_no_input_factor, ig_alpha_grid_off_by_one, ig_wrong_path_scaling, ig_baseline_ignored,
         ig_steps_hard_coded, ig_target_ignored, ig_gauss_legendre_default, ig_captum_midpoint],
    )
    + mutation_cases(
        gr.check_grad_cam,
        gr_ref.reference_grad_cam,
        [cam_no_relu, cam_pool_over_channels, cam_activations_only, cam_hooks_left_behind, cam_fixed_layer,
         cam_target_ignored, cam_captum_shortcut, cam_captum_layer_activation],
    )
    + mutation_cases(
        gr.check_cascading_randomisation,
        gr_ref.reference_cascading_randomisation,
        [cascade_from_bottom, cascade_signed_spearman, cascade_no_copy, cascade_independent,
         cascade_hard_coded_layers, cascade_skips_first],
    )
    + mutation_cases(
        gr.check_mask_scores,
        gr_ref.reference_mask_scores,
        [scores_absolute, scores_area_normalised, scores_area_ratio, scores_argmin, scores_abs_argmax,
         scores_transposed_peak, scores_square_assumed],
    )
    + mutation_cases(
        gr.check_parameterised_layers,
        gr_ref.reference_parameterised_layers,
        [layers_convs_only, layers_all_children, layers_reversed, layers_parameter_names, layers_hard_coded,
         layers_hard_coded_tiny, layers_sorted, layers_hasattr_weight, layers_hard_coded_both],
    )
    + [(gr.check_parameterised_layers, layers_alternative_modules, True)]
    + [(gr.check_grad_cam, cam_alternative_full_backward_hook, True)]
    + [(gr.check_integrated_gradients, ig_alternative_vectorised, True),
       (gr.check_mask_scores, scores_alternative_unravel, True)]
)


@pytest.mark.parametrize(("checker", "function", "accept"), CASES, ids=case_id)
def test_checker(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


def test_randomise_layer_is_deterministic_and_validates():
    a, b = gr.tiny_cnn(0), gr.tiny_cnn(0)
    gr.randomise_layer(a, "fc")
    torch.manual_seed(123)
    gr.randomise_layer(b, "fc")
    assert torch.equal(a.fc.weight, b.fc.weight)
    assert not torch.equal(a.fc.weight, gr.tiny_cnn(0).fc.weight)
    with pytest.raises(ValueError, match="name='nope'"):
        gr.randomise_layer(a, "nope")
    with pytest.raises(TypeError):
        gr.randomise_layer(a, 3)


GOOD = (
    "IG explains f(x) minus f(baseline), a comparison, so the baseline is part of the question we ask. "
    "With enough steps the sums are complete and the marker share rises from the blurred baseline. "
    "The layer bn1 has batch parameters and the floor of two random init models matters here. "
    "The shuffled model memorised permuted labels, and layer3 has a finer resolution than layer4 "
    "on the marker."
)


@pytest.mark.parametrize("checker", [gr.check_answer_5, gr.check_answer_6, gr.check_answer_7])
def test_written_answers(checker, capsys):
    checker(GOOD)
    assert "passed" in capsys.readouterr().out
    for bad in (None, "too short.", "baseline complete marker question " * 20, GOOD.replace("marker", "x")
                .replace("bn1", "y").replace("batch", "z").replace("layer3", "w").replace("baseline", "v")):
        with pytest.raises(AssertionError):
            checker(bad)
