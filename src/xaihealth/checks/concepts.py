"""Checkers for lab 02, *Concepts: bottleneck models and TCAV on ECGs*.

Exercise 1 grades a concept bottleneck module with an ``intervene`` method on a small planted network
with known weights (so every mistake changes the logits) and on the shipped CBM. Exercise 2 grades a CAV
(logistic regression on layer activations) against a reference, and a TCAV score (fraction of positive
directional derivatives of the target LOGIT) against a reference that equals ``captum.concept.TCAV`` on the
same CAV (tested in tests/, not run here: it is slow), on two layers and both targets of the shipped CNN,
and exactly on a planted three-unit network whose answers
separate the logit from the softmax probability, ``> 0`` from ``>= 0``, the target from the other class,
and the fraction from the mean derivative; captum's TCAV and the reference functions are switched off
while the student's code runs. Exercise 3 grades the significance test of TCAV scores (concept
CAVs against random CAVs, over several runs, Bonferroni across concepts) on planted scores and several
``alpha`` and ``n_concepts``. Exercise 4 grades a dissociating concept (raw QT and QTc moving apart) and
the written answers only for completeness; a person marks them with the rubric.
"""

from __future__ import annotations

import contextlib
import numbers
import sys
import tempfile
from collections.abc import Callable, Iterator

import numpy as np
import torch
from scipy import stats
from torch import nn

from xaihealth.checks._core import describe, exercise, replaced, written_answer
from xaihealth.checks._reference import references

refs = references("concepts")  # the reference implementations, or their replay

# ------------------------------------------------------------------------- helpers the references share


_STUDENT_RUNNING = {"on": False}
_SHORTCUT = (
    "Exercise 2 asks you to write the CAV and the TCAV score yourself: captum's TCAV and the checker's "
    "reference functions are switched off while your function runs"
)


def _refuse_shortcut(*_args: object, **_kwargs: object) -> None:
    raise RuntimeError(_SHORTCUT)


@contextlib.contextmanager
def _own_work_only() -> Iterator[None]:
    """Switch off ``captum.concept.TCAV`` and this module's reference answers while the student's code runs.

    The reference functions check the flag themselves (so an imported alias is refused too); captum's
    ``TCAV.__init__``/``interpret`` are replaced (or, if ``captum.concept`` is not imported yet, importing
    it is blocked) and restored when the call returns.
    """
    blocked = "captum.concept" not in sys.modules  # not imported yet: block the import (cheaper than it)
    if blocked:
        sys.modules["captum.concept"] = None  # type: ignore[assignment]  # `import` raises ImportError
        targets: list[tuple[object, str]] = []
    else:
        tcav = sys.modules["captum.concept"].TCAV
        targets = [(tcav, name) for name in ("__init__", "interpret") if name in vars(tcav)]
    _STUDENT_RUNNING["on"] = True
    try:
        with replaced(targets, _refuse_shortcut):
            yield
    finally:
        _STUDENT_RUNNING["on"] = False
        if blocked and sys.modules.get("captum.concept", 0) is None:
            del sys.modules["captum.concept"]


def _no_student() -> None:
    if _STUDENT_RUNNING["on"]:
        raise RuntimeError(_SHORTCUT)


def _student(ex, function: Callable[..., object], *args: object) -> object:
    with _own_work_only():
        return ex.call(function, *args)


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


# ---------------------------------------------------------------------------------------- planted data

_NAMES = ("qrs", "hr", "qtc")  # not the shipped order: an index hard-coded from the ECG CBM fails
_MEAN = (98.0, 72.0, 446.0)
_SD = (14.0, 14.0, 30.0)


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


_PLANTED_W = torch.tensor([[2.0, -1.0, 0.0], [1.0, 1.0, -1.0]])  # head rows: class 0, class 1
_PLANTED_CAV = np.array([0.6, 0.8, 0.0])
# Layer outputs h = x (identity layer), then ReLU: each input activates a chosen set of units, so the
# gradient of a logit with respect to h is the head row masked by the active units.
_PLANTED_X = torch.tensor(
    [[1.0, -1.0, -1.0], [-1.0, 1.0, -1.0], [-1.0, -1.0, 1.0], [-1.0, -1.0, -1.0], [1.0, 1.0, -1.0]]
)


def _planted_cav_case() -> tuple[np.ndarray, np.ndarray]:
    """Two overlapping, anisotropic 4-D clouds where the regularisation strength C moves the CAV.

    Cosine with the C = 1 normal: C = 0.01 0.51, C = 0.1 0.79, C = 10 0.96, C = 100 0.95, mean difference
    0.43; other solvers of the same problem (newton-cg, saga, liblinear) 0.9998 or more.
    """
    rng = np.random.default_rng(0)
    scale = np.array([0.3, 3.0, 1.0, 0.6])
    concept = rng.standard_normal((20, 4)) * scale + np.array([1.5, 1.5, 0.0, 0.0]) * scale / 1.5
    random = rng.standard_normal((20, 4)) * scale
    return concept, random


def _planted_tcav_model() -> tuple[nn.Module, nn.Module]:
    """A 3-unit network whose TCAV answers are known: logit target 1 -> 3/5, target 0 -> 2/5.

    The softmax probability of class 1 gives 2/5, ``>= 0`` gives 5/5, the mean derivative 0.56, the other
    class 2/5 (target 1) or 3/5 (target 0), the gradient of the summed logits 2/5.
    """
    layer = nn.Linear(3, 3)
    head = nn.Linear(3, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.eye(3))
        layer.bias.zero_()
        head.weight.copy_(_PLANTED_W)
        head.bias.copy_(torch.tensor([0.3, -0.2]))
    return nn.Sequential(layer, nn.ReLU(), head).eval(), layer


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
        value = torch.linspace(380.0, 520.0, len(x))
        planted = (("qtc", value), ("hr", torch.full((len(x),), 110.0)),
                   ("qrs", torch.full((len(x),), 150.0)))  # fmt: skip
        ref = refs.reference_cbm_outputs(encoder, head, _NAMES, _MEAN, _SD, x, planted)
        with torch.no_grad():
            ex.expect(
                _close(ex.call(student.concepts, x), ref["concepts"]),
                "concepts(x) should return the encoder's output (the standardised predicted concepts)",
            )
            ex.expect(
                _close(ex.call(student, x), ref["logits"]),
                "forward(x) should pass the predicted concepts through the head and return its logits "
                "(batch, 2)",
            )
            out = ex.call(student.intervene, x, "qtc", value)
            want = ref["intervene:qtc"]
            ex.returns(out, torch.Tensor, "logits from intervene as a tensor, like forward")
            ex.expect(
                out.shape == want.shape,
                f"intervene should return logits of shape {tuple(want.shape)}, like forward",
            )
            ex.expect(
                not _close(out, ref["logits"]),
                "intervene returned the same logits as forward: the true value must replace the predicted "
                "concept",
            )
            ex.expect(
                _close(out, want),
                "intervene(x, 'qtc', value) is wrong: find the position of the named concept in `names`, "
                "convert the true value (in ms) to SD units with (value - mean) / sd of THAT concept, write "
                "it into the concept vector and only then apply the head",
            )
            for name, other in planted[1:]:
                ex.expect(
                    _close(ex.call(student.intervene, x, name, other), ref[f"intervene:{name}"]),
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
    _no_student()
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
        raw = _student(ex, compute_cav, acts_c.copy(), acts_r.copy())
        ex.returns(raw, (np.ndarray, torch.Tensor, list), "the CAV as a vector (a numpy array)")
        cav = np.asarray(raw, dtype=float).ravel()
        ref = refs.reference_cav(acts_c, acts_r)
        ex.expect(cav.shape == ref.shape, f"the CAV should be a vector of {ref.size} numbers (one per unit)")
        ex.expect(abs(np.linalg.norm(cav) - 1) < 1e-3, "return the CAV with unit length (divide by its norm)")
        cosine = float(cav @ ref)
        ex.expect(
            cosine > -0.5,
            "your CAV points the wrong way: it must point from the random examples TOWARDS the concept "
            "(label the concept examples 1 and the random ones 0)",
        )
        ex.expect(
            cosine > 0.95,
            f"your CAV has cosine {cosine:.3f} with the normal of a logistic regression separating concept "
            "from random activations; fit LogisticRegression(max_iter=1000) (default penalty and solver) on "
            "the activations and take its coef_",
        )
        # a second, swapped pair: the CAV must follow which argument is the concept
        swapped = np.asarray(_student(ex, compute_cav, acts_r.copy(), acts_c.copy()), dtype=float).ravel()
        ex.expect(
            swapped.shape == ref.shape and float(swapped @ refs.reference_cav(acts_r, acts_c)) > 0.95,
            "with the arguments swapped your CAV should point towards the FIRST argument (the concept): do "
            "not decide the direction from the data",
        )
        # a small case where the regularisation strength C changes the direction (C = 10 gives 0.96)
        planted_c, planted_r = _planted_cav_case()
        small = np.asarray(_student(ex, compute_cav, planted_c.copy(), planted_r.copy()), dtype=float).ravel()
        want_small = refs.reference_cav(planted_c, planted_r)
        ex.expect(
            small.shape == want_small.shape and float(small @ want_small) > 0.995,
            "on a small planted case where the regularisation matters your CAV has cosine "
            f"{float(small @ want_small) if small.shape == want_small.shape else float('nan'):.3f} with the "
            "logistic-regression normal: keep scikit-learn's default penalty (L2, C=1.0) and fit on the raw "
            "activations you are given",
        )

        model, layer = _planted_tcav_model()
        wants = {1: 0.6, 0: 0.4}
        for target, want in wants.items():
            mine = _student(ex, tcav_score, model, layer, _PLANTED_X.clone(), _PLANTED_CAV.copy(), target)
            ex.returns(mine, (float, np.floating, torch.Tensor), "one number (a float), the TCAV score")
            mine = float(mine)
            ex.expect(
                0.0 <= mine <= 1.0,
                f"a TCAV score is a fraction of inputs, between 0 and 1 (you returned {mine:.3g}): count the "
                "inputs whose directional derivative is positive, do not average the derivatives",
            )
            hints = {
                1.0: "inputs whose derivative is exactly 0 do not count: use > 0, not >= 0",
                0.56: "you averaged the directional derivatives: report the FRACTION of inputs where it "
                "is > 0",
            }
            other = wants[1 - target]
            ex.expect(
                abs(mine - want) < 1e-6,
                f"on a small planted network with target class {target} the TCAV score is {want:.2f} and you "
                f"give {mine:.2f}: "
                + (
                    hints[round(mine, 2)]
                    if round(mine, 2) in hints
                    else "you seem to use the other class"
                    if abs(mine - other) < 1e-6 and target == 0
                    else "take the gradient of the LOGIT of the target class (not its softmax probability, "
                    "not "
                    "the sum of the logits) with respect to the output of `layer`, dot it with the CAV"
                ),
            )
        model, cnn_layer = s["model"], s["layer"]
        for layer_name, layer in (("features.0", cnn_layer), ("body.1", model.body[1])):
            acts_c = layer_activations(model, layer, s["concept"])
            acts_r = layer_activations(model, layer, s["random"])
            v = refs.reference_cav(acts_c, acts_r)
            for target in (1, 0):
                mine = _student(ex, tcav_score, model, layer, s["inputs"].clone(), v.copy(), target)
                # the reference equals captum's TCAV on all four cases (tests/test_checks_concepts.py);
                # captum itself is not run here, it takes seconds
                theirs = refs.reference_tcav_score(model, layer, s["inputs"], v, target)
                ex.returns(mine, (float, np.floating, torch.Tensor), "one number (a float), the TCAV score")
                ex.expect(
                    abs(float(mine) - theirs) < 1e-6,
                    f"at layer {layer_name} for target class {target} TCAV gives {theirs:.3f} with this CAV "
                    f"and you give {float(mine):.3f}: use the `layer` and `target` you are given, take the "
                    "gradient of the target logit with respect to that layer's output, dot it with the CAV "
                    "for each input, and report the share that is > 0",
                )


def _between_bonferroni_and_sidak() -> tuple[np.ndarray, np.ndarray]:
    """Scores with p = 0.00842 (Student and Welch alike): above 0.05 / 6 = 0.00833, below Šidák's 0.00851."""
    from scipy.optimize import brentq

    random = np.array([0.52, 0.61, 0.47, 0.58, 0.66, 0.55, 0.49, 0.63, 0.57, 0.60])
    base = random[::-1].copy()  # the same spread, so Student and Welch have the same statistic and df

    def gap(shift: float) -> float:
        return float(stats.ttest_ind(base + shift, random).pvalue) - 0.00842

    return base + brentq(gap, 0.0, 0.5, xtol=1e-14), random


def check_tcav_significance(tcav_significance: Callable[..., tuple[float, bool]]) -> None:
    """Exercise 3: two-sided two-sample t-test of concept-CAV scores against random-CAV scores, Bonferroni.

    Student's and Welch's t-tests are both accepted (equal run counts give the same statistic, different
    degrees of freedom); the decision is ``p < alpha / n_concepts``.
    """
    with exercise("Exercise 3 (is the concept significant?)") as ex:
        rng = np.random.default_rng(11)
        cases = {
            "high": (np.clip(0.9 + 0.05 * rng.standard_normal(8), 0, 1), rng.uniform(0.1, 0.9, 8)),
            "low": (np.clip(0.08 + 0.04 * rng.standard_normal(8), 0, 1), rng.uniform(0.3, 0.7, 8)),
            "spread": (
                np.array([0.7, 0.72, 0.75, 0.73, 0.71, 0.74]),
                np.array([0.2, 0.95, 0.5, 0.9, 0.1, 0.85]),
            ),
            # p about 0.02 (Student): significant alone at 0.05, not after Bonferroni over 6, not at 0.01
            "moderate": (
                np.array([0.62, 0.70, 0.66, 0.74, 0.58, 0.68, 0.72, 0.64, 0.69, 0.61]),
                np.array([0.57, 0.68, 0.50, 0.72, 0.54, 0.62, 0.47, 0.65, 0.60, 0.52]),
            ),
        }
        cases["between"] = _between_bonferroni_and_sidak()
        plan = [("low", 0.05, 1), ("spread", 0.05, 1), ("high", 0.05, 1), ("moderate", 0.05, 1),
                ("moderate", 0.01, 1), ("moderate", 0.05, 6), ("moderate", 0.1, 1),
                ("high", 0.05, 6), ("between", 0.05, 6)]  # fmt: skip
        for name, alpha, n_concepts in plan:
            c, r = cases[name]
            out = ex.call(tcav_significance, list(c), list(r), alpha, n_concepts)
            p, significant = ex.returns(out, tuple, "a tuple (p_value, significant)", size=2)
            p_ref, sig_ref = refs.reference_tcav_significance(c, r, alpha, n_concepts)
            p_welch = float(stats.ttest_ind(c, r, equal_var=False).pvalue)
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
                isinstance(p, int | float | np.floating) and not isinstance(p, bool),
                f"the p-value should be a number (yours: {describe(p)})",
            )
            ex.expect(
                min(abs(float(p) - p_ref), abs(float(p) - p_welch)) < 1e-9,
                f"p-value {float(p):.4g} where a two-sided two-sample t-test (scipy.stats.ttest_ind) of "
                f"concept scores against random scores gives {p_ref:.4g}; check the test and its sides, and "
                "report the raw p-value (apply Bonferroni to the threshold, not to p)",
            )
            ex.expect(
                bool(significant) == sig_ref,
                f"with alpha={alpha} and n_concepts={n_concepts}, significant should be "
                "p < alpha / n_concepts "
                "(Bonferroni: each of n_concepts tests at level alpha / n_concepts)"
                + (" — not Šidák's 1 - (1 - alpha)**(1 / n_concepts)" if name == "between" else ""),
            )


def concept_summary(spec: dict, n: int = 300, seed: int = 97) -> dict[str, float]:
    """Mean raw QT, QTc and heart rate of ``make_ecgs(n, seed, **spec)``."""
    from xaihealth.data import make_ecgs

    table = make_ecgs(n, seed, **spec).concepts
    return {k: float(table[k].mean()) for k in ("qt", "qtc", "hr")}


def check_dissociating_concept(spec: object) -> None:
    """Exercise 4: concept examples whose QTc is long while their raw QT is short (or the reverse)."""
    with exercise("Exercise 4 (design a dissociating concept)") as ex:
        ex.expect(
            isinstance(spec, dict) and spec and all(isinstance(k, str) for k in spec),
            "give the concept as a dict of make_ecgs keywords, e.g. {'hr': (60, 70)} "
            f"(yours: {describe(spec)})",
        )
        from xaihealth.data.ecg import CONCEPT_DEFAULTS

        allowed = (*CONCEPT_DEFAULTS, "sex")
        unknown = [k for k in spec if k not in allowed]
        ex.expect(not unknown, f"unknown make_ecgs keywords {unknown}; allowed: {list(allowed)}")
        others = [k for k in spec if k not in ("hr", "qtc")]
        ex.expect(
            not others,
            f"set only 'hr' and 'qtc' (yours also sets {others}): anything else you change (noise, sex, R "
            "or T amplitude, QRS) is a confounder that the random examples do not share",
        )
        for key, unit, width in (("hr", "bpm", 5.0), ("qtc", "ms", 10.0)):
            if key not in spec:
                continue
            rng_ = spec[key]
            ok = (
                isinstance(rng_, tuple | list)
                and len(rng_) == 2
                and all(isinstance(v, numbers.Real) and not isinstance(v, bool | np.bool_) for v in rng_)
            )
            ex.expect(ok, f"give {key!r} as a range (low, high) in {unit} (yours: {describe(rng_)})")
            ex.expect(
                float(rng_[1]) - float(rng_[0]) >= width,
                f"the {key!r} range {tuple(rng_)} is {float(rng_[1]) - float(rng_[0]):g} {unit} wide: a "
                f"concept is a population, give a range at least {width:g} {unit} wide",
            )
        try:
            mine = concept_summary(spec)
        except (TypeError, ValueError) as err:
            ex.fail(f"make_ecgs refused your concept: {err}")
        default = concept_summary({})
        up_qtc, up_qt = mine["qtc"] - default["qtc"], mine["qt"] - default["qt"]
        ex.expect(
            abs(up_qtc) >= 25,
            f"your examples' mean QTc is {mine['qtc']:.0f} ms against {default['qtc']:.0f} ms for random "
            "ECGs: "
            "move QTc clearly (by 25 ms or more) to one side of the thresholds",
        )
        ex.expect(
            up_qtc * up_qt < 0 and abs(up_qt) >= 15,
            f"mean raw QT {mine['qt']:.0f} ms vs {default['qt']:.0f} ms for random ECGs, mean QTc "
            f"{mine['qtc']:.0f} vs {default['qtc']:.0f}: for the concept to dissociate the two, raw QT must "
            "move "
            "the OTHER way (by 15 ms or more) — choose the heart rate so that QT = QTc·√RR goes against QTc",
        )




def check_answer_1b(answer: object) -> None:
    """Exercise 1b: which concept to ask the clinician for; marked by a person with the rubric."""
    with exercise("Exercise 1b (which concept to ask for)") as ex:
        written_answer(ex, answer, "answer_1b", [("sex", "female"), ("creat",), ("joint",)], 60)


def check_answer_4b(answer: object) -> None:
    """Exercise 4b: what the dissociating concept says; marked by a person with the rubric."""
    with exercise("Exercise 4b (what your concept says)") as ex:
        written_answer(ex, answer, "answer_4", [("qtc", "rate"), ("raw",), ("confound", "control")], 50)
