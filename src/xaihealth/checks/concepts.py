"""Checkers for lab 02, *Concepts: bottleneck models and TCAV on ECGs*.

Exercise 1 grades a concept bottleneck module with an ``intervene`` method on a small planted network
with known weights (so every mistake changes the logits) and on the shipped CBM. Exercise 2 grades a CAV
(logistic regression on layer activations) against a reference, and a TCAV score (fraction of positive
directional derivatives) against ``captum.concept.TCAV`` run on the same CAV. Exercise 3 grades the
significance test of TCAV scores (concept CAVs against random CAVs, over several runs) on planted scores.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence

import numpy as np
import torch
from scipy import stats
from sklearn.linear_model import LogisticRegression
from torch import nn

from xaihealth.checks._core import exercise

# ---------------------------------------------------------------------------------------------- references


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


def layer_activations(model: nn.Module, layer: nn.Module, x: torch.Tensor) -> np.ndarray:
    """Activations of ``layer`` (its output) for inputs ``x``, flattened to ``(n, features)``."""
    seen: list[torch.Tensor] = []
    handle = layer.register_forward_hook(lambda _m, _i, out: seen.append(out.detach()))
    try:
        with torch.no_grad():
            model(x)
    finally:
        handle.remove()
    return seen[0].flatten(1).numpy()


def reference_cav(concept_acts: np.ndarray, random_acts: np.ndarray) -> np.ndarray:
    X = np.concatenate([concept_acts, random_acts])
    y = np.r_[np.ones(len(concept_acts)), np.zeros(len(random_acts))]
    w = LogisticRegression(max_iter=1000).fit(X, y).coef_[0]
    return w / np.linalg.norm(w)


def reference_tcav_score(model: nn.Module, layer: nn.Module, inputs: torch.Tensor, cav, target: int) -> float:
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


def reference_tcav_significance(concept_scores, random_scores, alpha: float = 0.05) -> tuple[float, bool]:
    p = float(stats.ttest_ind(np.asarray(concept_scores), np.asarray(random_scores)).pvalue)
    return p, bool(p < alpha)


# ---------------------------------------------------------------------------------------- planted data

_NAMES = ("hr", "qtc", "qrs")
_MEAN = (72.0, 446.0, 98.0)
_SD = (14.0, 30.0, 14.0)


def _planted_cbm_parts(seed: int = 5) -> tuple[nn.Module, nn.Module, torch.Tensor]:
    """A linear 'encoder' (6 inputs -> 3 concepts) and head (3 -> 2) with fixed, distinct weights."""
    g = torch.Generator().manual_seed(seed)
    encoder, head = nn.Linear(6, 3), nn.Linear(3, 2)
    with torch.no_grad():
        encoder.weight.copy_(torch.randn(3, 6, generator=g))
        encoder.bias.copy_(torch.randn(3, generator=g))
        head.weight.copy_(torch.tensor([[0.3, -1.5, 0.2], [-0.4, 2.0, 0.9]]))
        head.bias.copy_(torch.tensor([0.1, -0.2]))
    x = torch.randn(8, 6, generator=g)
    return encoder, head, x


def _close(a: object, b: torch.Tensor, atol: float = 1e-5) -> bool:
    if not isinstance(a, torch.Tensor) or a.shape != b.shape:
        return False
    return bool(torch.allclose(a.detach().float(), b.detach().float(), atol=atol))


# ------------------------------------------------------------------------------------------------ checkers


def check_cbm(cbm_class: type) -> None:
    """Exercise 1: a concept bottleneck module whose ``intervene`` replaces one concept before the head."""
    with exercise("Exercise 1 (a bottleneck you can intervene on)") as ex:
        encoder, head, x = _planted_cbm_parts()
        student = ex.call(cbm_class, encoder, head, list(_NAMES), torch.tensor(_MEAN), torch.tensor(_SD))
        ref = ReferenceCBM(encoder, head, _NAMES, _MEAN, _SD)
        with torch.no_grad():
            ex.expect(
                _close(ex.call(student.concepts, x), ref.concepts(x)),
                "concepts(x) should return the encoder's output (the standardised predicted concepts)",
            )
            ex.expect(
                _close(ex.call(student, x), ref(x)),
                "forward(x) should pass the predicted concepts through the head and return its logits "
                "(batch, 2)",
            )
            value = torch.linspace(380.0, 520.0, len(x))
            out = ex.call(student.intervene, x, "qtc", value)
            want = ref.intervene(x, "qtc", value)
            ex.returns(out, torch.Tensor, "logits from intervene as a tensor, like forward")
            ex.expect(
                out.shape == want.shape,
                f"intervene should return logits of shape {tuple(want.shape)}, like forward",
            )
            ex.expect(
                not _close(out, ref(x)),
                "intervene returned the same logits as forward: the true value must replace the predicted "
                "concept",
            )
            ex.expect(
                _close(out, want),
                "intervene(x, 'qtc', value) is wrong: find the position of the named concept in `names`, "
                "convert the true value (in ms) to SD units with (value - mean) / sd of THAT concept, write "
                "it into the concept vector and only then apply the head",
            )
            for name, value in (("hr", torch.full((len(x),), 110.0)), ("qrs", torch.full((len(x),), 150.0))):
                ex.expect(
                    _close(ex.call(student.intervene, x, name, value), ref.intervene(x, name, value)),
                    f"intervening on {name!r} gives the wrong logits: check that you use the index of the "
                    "concept you were given, and its own mean and SD",
                )
            before = encoder.weight.detach().clone()
            ex.call(student.intervene, x, "qtc", value)
            ex.expect(torch.equal(before, encoder.weight), "intervene must not change the encoder's weights")

        from xaihealth.data import make_ecgs
        from xaihealth.models.ecg_cbm import load_ecg_cbm

        cbm = load_ecg_cbm("independent")
        real = ex.call(
            cbm_class, cbm.predict_concepts, cbm.head, list(cbm.concepts), cbm.concept_mean, cbm.concept_sd
        )
        ecgs = make_ecgs(16, 4242)
        xs = torch.from_numpy(ecgs.signals)
        qtc = torch.from_numpy(ecgs.concepts["qtc"].to_numpy(dtype=np.float32))
        with torch.no_grad():
            ex.expect(
                _close(ex.call(real.intervene, xs, "qtc", qtc), cbm.intervene(xs, {"qtc": qtc}), atol=1e-4),
                "right on the planted network but not on the shipped ECG CBM: does your class accept any "
                "callable encoder and tensors for mean and sd?",
            )


def _tcav_setup() -> dict:
    from xaihealth.data import make_ecgs
    from xaihealth.models.ecg_cnn import load_ecg_cnn

    model = load_ecg_cnn()
    return {
        "model": model,
        "layer": model.features[0],
        "concept": torch.from_numpy(make_ecgs(30, 611, qtc=(490, 540)).signals),
        "random": torch.from_numpy(make_ecgs(30, 612).signals),
        "inputs": torch.from_numpy(make_ecgs(40, 613).signals),
    }


def captum_tcav_score(model, layer_name: str, inputs, concept_x, random_x, cav, target: int) -> float:
    """captum's TCAV sign-count score for the CAV ``cav`` (given, not trained) of a concept vs random."""
    from captum.concept import TCAV, Concept
    from captum.concept._utils.classifier import Classifier
    from torch.utils.data import DataLoader

    class Fixed(Classifier):
        def __init__(self) -> None:
            pass

        def train_and_eval(self, dataloader, **kwargs):
            return {}

        def weights(self):
            w = torch.as_tensor(np.asarray(cav), dtype=torch.float32)
            return torch.stack([-w, w])

        def classes(self):
            return [0, 1]  # row 0 belongs to concept id 0 (random), row 1 to concept id 1

    random_c = Concept(0, "random", DataLoader(random_x, batch_size=len(random_x)))
    concept_c = Concept(1, "concept", DataLoader(concept_x, batch_size=len(concept_x)))
    tcav = TCAV(model, [layer_name], classifier=Fixed(), save_path=tempfile.mkdtemp())
    out = tcav.interpret(inputs, [[concept_c, random_c]], target=target)
    return float(next(iter(out.values()))[layer_name]["sign_count"][0])


def check_cav_and_tcav(
    compute_cav: Callable[[np.ndarray, np.ndarray], np.ndarray],
    tcav_score: Callable[..., float],
) -> None:
    """Exercise 2: CAV by logistic regression; TCAV score = fraction of positive directional derivatives."""
    with exercise("Exercise 2 (a CAV and a TCAV score)") as ex:
        s = _tcav_setup()
        acts_c = layer_activations(s["model"], s["layer"], s["concept"])
        acts_r = layer_activations(s["model"], s["layer"], s["random"])
        raw = ex.call(compute_cav, acts_c.copy(), acts_r.copy())
        ex.returns(raw, (np.ndarray, torch.Tensor, list), "the CAV as a vector (a numpy array)")
        cav = np.asarray(raw, dtype=float)
        ref = reference_cav(acts_c, acts_r)
        ex.expect(cav.shape == ref.shape, f"the CAV should be a vector of {ref.size} numbers (one per unit)")
        ex.expect(abs(np.linalg.norm(cav) - 1) < 1e-3, "return the CAV with unit length (divide by its norm)")
        cosine = float(cav @ ref)
        ex.expect(
            cosine > -0.5,
            "your CAV points the wrong way: it must point from the random examples TOWARDS the concept "
            "(label the concept examples 1 and the random ones 0)",
        )
        ex.expect(
            cosine > 0.9,
            f"your CAV has cosine {cosine:.2f} with the normal of a logistic regression separating concept "
            "from random activations; fit LogisticRegression(max_iter=1000) and take its coef_",
        )
        for target in (1, 0):
            mine = ex.call(tcav_score, s["model"], s["layer"], s["inputs"], ref.copy(), target)
            theirs = captum_tcav_score(
                s["model"], "features.0", s["inputs"], s["concept"], s["random"], ref, target
            )
            ex.returns(mine, (float, np.floating, torch.Tensor), "one number (a float), the TCAV score")
            mine = float(mine)
            ex.expect(
                0.0 <= mine <= 1.0,
                f"a TCAV score is a fraction of inputs, between 0 and 1 (you returned {mine:.3g}): count the "
                "inputs whose directional derivative is positive, do not average the derivatives",
            )
            ex.expect(
                abs(mine - theirs) < 1e-6,
                f"for target class {target} captum's TCAV gives {theirs:.3f} with this CAV and you give "
                f"{mine:.3f}: take the gradient of the logit of the TARGET class with respect to the layer's "
                "output, dot it with the CAV for each input, and report the share that is > 0",
            )


def check_tcav_significance(tcav_significance: Callable[..., tuple[float, bool]]) -> None:
    """Exercise 3: two-sided two-sample t-test of concept-CAV scores against random-CAV scores."""
    with exercise("Exercise 3 (is the concept significant?)") as ex:
        rng = np.random.default_rng(11)
        cases = {
            "high": (np.clip(0.9 + 0.05 * rng.standard_normal(8), 0, 1), rng.uniform(0.1, 0.9, 8)),
            "low": (np.clip(0.08 + 0.04 * rng.standard_normal(8), 0, 1), rng.uniform(0.3, 0.7, 8)),
            "spread": (
                np.array([0.7, 0.72, 0.75, 0.73, 0.71, 0.74]),
                np.array([0.2, 0.95, 0.5, 0.9, 0.1, 0.85]),
            ),
        }
        for name in ("low", "spread", "high"):  # the specific hints first
            c, r = cases[name]
            out = ex.call(tcav_significance, list(c), list(r), 0.05)
            p, significant = ex.returns(out, tuple, "a tuple (p_value, significant)", size=2)
            p_ref, sig_ref = reference_tcav_significance(c, r, 0.05)
            if name == "low":
                ex.expect(
                    bool(significant),
                    "a concept whose TCAV scores are consistently far BELOW the random ones is significant "
                    "too (the concept lowers the class): use a two-sided test",
                )
            if name == "spread":
                ex.expect(
                    not bool(significant),
                    "here the random CAVs vary a lot from run to run, so 0.73 on average is not "
                    "distinguishable from random: compare with ALL random runs and their variance, not with "
                    "one random run or a fixed 0.5",
                )
            ex.expect(
                abs(float(p) - p_ref) < 1e-9,
                f"p-value {float(p):.4g} where a two-sided two-sample t-test (scipy.stats.ttest_ind) of "
                "concept scores against random scores gives another value; check the test and its sides",
            )
            ex.expect(bool(significant) == sig_ref, "significant should be p < alpha")
