"""Hidden tests for lab 02 (concept bottleneck, CAV and TCAV, significance, a dissociating concept).

Another planted bottleneck (four concepts in another order, three classes, other means and SDs), other
activation clouds for the CAV, two other planted networks and layers for TCAV, unequal run counts and other
(alpha, n_concepts) for the significance test, and other ECG samples for the dissociating concept.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from scipy import stats
from torch import nn

from xaihealth.checks._core import describe
from xaihealth.checks.concepts import _close, _student, concept_summary
from xaihealth.instructor.hidden import hidden_references
from xaihealth.instructor.integrity import exercise

refs = hidden_references("concepts")


def _planted_parts(seed: int) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    encoder, head = nn.Linear(5, 4), nn.Linear(4, 3)
    with torch.no_grad():
        for p in (*encoder.parameters(), *head.parameters()):
            p.copy_(torch.randn(p.shape, generator=g))
    return encoder, head, torch.randn(6, 5, generator=g)


def hidden_check_cbm(cbm_class: type) -> None:
    """Four concepts (t_amp, qtc, hr, qrs), three classes: concepts, forward and every intervention."""
    with exercise("Exercise 1 (a bottleneck you can intervene on) (hidden tests)") as ex:
        names, mean, sd = ["t_amp", "qtc", "hr", "qrs"], (0.3, 430.0, 80.0, 92.0), (0.1, 25.0, 12.0, 9.0)
        encoder, head, x = _planted_parts(17)
        values = [torch.linspace(mean[j] - 2 * sd[j], mean[j] + 3 * sd[j], len(x)) for j in range(len(names))]
        # the reference's outputs through a replayable function (the grading kit has no ReferenceCBM class)
        interventions = list(zip(names, values, strict=True))
        want = refs.reference_cbm_outputs(encoder, head, names, mean, sd, x, interventions)
        student = ex.call(cbm_class, encoder, head, list(names), torch.tensor(mean), torch.tensor(sd))
        before = encoder.weight.detach().clone()
        with torch.no_grad():
            same = _close(ex.call(student.concepts, x), want["concepts"])
            ex.expect(same and _close(ex.call(student, x), want["logits"]),
                      "concepts(x) or forward(x) differ on another network (4 concepts, 3 classes)")
            for j, concept in enumerate(names):
                ex.expect(
                    _close(ex.call(student.intervene, x, concept, values[j]), want[f"intervene:{concept}"]),
                    f"intervening on {concept!r} (position {j} of {names}) gives the wrong logits",
                )
        ex.expect(torch.equal(before, encoder.weight), "intervene must not change the encoder's weights")


def _clouds(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    scale = np.array([2.0, 0.4, 1.0, 0.7, 1.5, 0.2])
    return rng.standard_normal((25, 6)) * scale + 0.6 * scale, rng.standard_normal((35, 6)) * scale


def _network(seed: int, widths: tuple[int, ...], probe: int) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    """An MLP with ReLUs and random weights, probed at its linear layer number ``probe``.

    The first layer's weights are positive and a quarter of the inputs negative, so that those inputs
    switch every unit of the first layer off: their directional derivative there is exactly 0.
    """
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for a, b in zip(widths[:-1], widths[1:], strict=True):
        layers += [nn.Linear(a, b), nn.ReLU()]
    model = nn.Sequential(*layers[:-1]).eval()
    with torch.no_grad():
        model[0].weight.abs_()
        model[0].bias.zero_()
    inputs = torch.randn(40, widths[0], generator=torch.Generator().manual_seed(seed + 1))
    inputs[:10] = -inputs[:10].abs()
    return model, model[2 * probe], inputs


_TCAV_CASES = ((43, (4, 6, 5, 3), 0, (2, 0)), (54, (7, 5, 8, 2), 1, (0, 1)))  # seed, widths, layer, targets


def hidden_check_cav_and_tcav(
    compute_cav: Callable[..., np.ndarray], tcav_score: Callable[..., float]
) -> None:
    """CAVs of two other clouds (both directions); TCAV on two other networks at an inner layer."""
    with exercise("Exercise 2 (a CAV and a TCAV score) (hidden tests)") as ex:
        for seed in (41, 42):
            concept, random = _clouds(seed)
            for c, r in ((concept, random), (random, concept)):
                want = refs.reference_cav(c, r)
                raw = _student(ex, compute_cav, c.copy(), r.copy())
                ex.returns(raw, (np.ndarray, torch.Tensor, list), "the CAV as a vector (a numpy array)")
                cav = np.asarray(raw, dtype=float).ravel()
                unit = cav.shape == want.shape and abs(np.linalg.norm(cav) - 1) < 1e-3
                ex.expect(unit and cav @ want > 0.995,
                          f"on other activation clouds your CAV is not the unit normal of the logistic "
                          f"regression (yours: {describe(raw)})")  # fmt: skip
        for seed, widths, probe, targets in _TCAV_CASES:
            model, layer, inputs = _network(seed, widths, probe)
            cav = np.random.default_rng(seed).standard_normal(layer.out_features)
            cav /= np.linalg.norm(cav)
            for target in targets:
                want = refs.reference_tcav_score(model, layer, inputs, cav, target)
                mine = _student(ex, tcav_score, model, layer, inputs.clone(), cav.copy(), target)
                ex.returns(mine, (float, np.floating, torch.Tensor), "one number (a float), the TCAV score")
                ex.expect(abs(float(mine) - want) < 1e-6,
                          f"on another network (widths {widths}), an inner layer and target class "
                          f"{target} TCAV gives {want:.3f}, you give {float(mine):.3f}")  # fmt: skip


def _p_between(alpha: float, n_concepts: int) -> tuple[np.ndarray, np.ndarray]:
    """Equal-spread scores (Student's p = Welch's) with p halfway between Bonferroni's and Sidak's limits."""
    from scipy.optimize import brentq

    random = np.array([0.41, 0.55, 0.47, 0.62, 0.50, 0.58, 0.44, 0.53])
    target = (alpha / n_concepts + 1 - (1 - alpha) ** (1 / n_concepts)) / 2
    def gap(shift: float) -> float:
        return float(stats.ttest_ind(random[::-1] + shift, random).pvalue) - target

    shift = brentq(gap, 0, 0.5, xtol=1e-14)
    return random[::-1] + shift, random


def hidden_check_tcav_significance(tcav_significance: Callable[..., tuple[float, bool]]) -> None:
    """Unequal run counts, other (alpha, n_concepts), p between alpha / n and alpha, and between
    Bonferroni's and Sidak's limits; Student's or Welch's p accepted, decided by p < alpha / n_concepts."""
    with exercise("Exercise 3 (is the concept significant?) (hidden tests)") as ex:
        rng = np.random.default_rng(47)
        lifted = (np.clip(0.75 + 0.06 * rng.standard_normal(12), 0, 1), rng.uniform(0.35, 0.75, 7))
        lowered = (np.clip(0.4 + 0.1 * rng.standard_normal(6), 0, 1), rng.uniform(0.3, 0.8, 11))
        none = (rng.uniform(0.3, 0.8, 9), rng.uniform(0.3, 0.8, 6))
        plan = [(lifted, 0.2, 3), (lowered, 0.1, 1), (lowered, 0.05, 50), (none, 0.3, 1),
                (_p_between(0.1, 4), 0.1, 4)]  # fmt: skip
        for (c, r), alpha, n_concepts in plan:
            out = ex.call(tcav_significance, list(c), list(r), alpha, n_concepts)
            p, significant = ex.returns(out, tuple, "a tuple (p_value, significant)", size=2)
            accepted = [refs.reference_tcav_significance(c, r)[0],
                        float(stats.ttest_ind(c, r, equal_var=False).pvalue)]  # fmt: skip
            shown = f"{len(c)} concept runs, {len(r)} random runs, alpha={alpha}, n_concepts={n_concepts}"
            number = isinstance(p, int | float | np.floating) and not isinstance(p, bool)
            ex.expect(number and min(abs(float(p) - q) for q in accepted) < 1e-9,
                      f"with {shown} your p-value is not the two-sided two-sample t-test's")  # fmt: skip
            ex.expect(bool(significant) == (float(p) < alpha / n_concepts),
                      f"with {shown} significant should be p < alpha / n_concepts")  # fmt: skip


def hidden_check_dissociating_concept(spec: object) -> None:
    """The concept's effect on two other ECG samples (other seeds and size) against random ECGs."""
    with exercise("Exercise 4 (design a dissociating concept) (hidden tests)") as ex:
        ex.expect(
            isinstance(spec, dict) and set(spec) <= {"hr", "qtc"} and spec,
            f"give the concept as a dict of make_ecgs ranges for 'hr' and 'qtc' (yours: {describe(spec)})",
        )
        for seed in (197, 297):
            try:
                mine = concept_summary(spec, n=200, seed=seed)
            except (TypeError, ValueError) as err:
                ex.fail(f"make_ecgs refused your concept: {err}")
            default = concept_summary({}, n=200, seed=seed)
            up_qtc, up_qt = mine["qtc"] - default["qtc"], mine["qt"] - default["qt"]
            ex.expect(abs(up_qtc) >= 20 and up_qtc * up_qt < 0 and abs(up_qt) >= 12,
                      f"on another sample of ECGs (seed={seed}) your concept moves QTc by {up_qtc:+.0f} ms "
                      f"and raw QT by {up_qt:+.0f} ms: they must move clearly, in opposite "
                      "directions")  # fmt: skip
