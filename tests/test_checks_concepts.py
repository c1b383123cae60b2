"""Mutation tests for the lab 02 checkers: each accepts the reference and rejects plausible mistakes."""

import numpy as np
import pytest
import torch
from mutation import case_id, mutation_cases, run_case
from scipy import stats
from sklearn.linear_model import LogisticRegression

from xaihealth.checks import concepts as cc
from xaihealth.instructor.references import concepts as cc_ref

# --- Exercise 1: concept bottleneck with intervention ----------------------------------------------------


class WrongIndexCBM(cc_ref.ReferenceCBM):
    """Intervenes on the concept after the named one (an off-by-one in the index)."""

    def intervene(self, x, name, value):
        z = self.concepts(x).clone()
        j = (self.names.index(name) + 1) % len(self.names)
        z[:, j] = (torch.as_tensor(value) - self.mean[j]) / self.sd[j]
        return self.head(z)


class UnstandardisedCBM(cc_ref.ReferenceCBM):
    """Writes the true value in its unit (ms) into a bottleneck that works in SD units."""

    def intervene(self, x, name, value):
        z = self.concepts(x).clone()
        z[:, self.names.index(name)] = torch.as_tensor(value)
        return self.head(z)


class AfterHeadCBM(cc_ref.ReferenceCBM):
    """Computes the logits first and overwrites one of them with the standardised true value."""

    def intervene(self, x, name, value):
        logits = self.head(self.concepts(x)).clone()
        j = self.names.index(name)
        logits[:, min(j, logits.shape[1] - 1)] = (torch.as_tensor(value) - self.mean[j]) / self.sd[j]
        return logits


class FirstConceptStatsCBM(cc_ref.ReferenceCBM):
    """Standardises every concept with the mean and SD of the first one."""

    def intervene(self, x, name, value):
        z = self.concepts(x).clone()
        z[:, self.names.index(name)] = (torch.as_tensor(value) - self.mean[0]) / self.sd[0]
        return self.head(z)


CBM_CASES = mutation_cases(
    cc.check_cbm, cc_ref.ReferenceCBM, [WrongIndexCBM, UnstandardisedCBM, AfterHeadCBM, FirstConceptStatsCBM]
)

# --- Exercise 2: CAV and TCAV score ----------------------------------------------------------------------


def solution_cav(concept_acts, random_acts):
    """A student's correct CAV (the checker refuses its own reference while the student's code runs)."""
    X = np.concatenate([concept_acts, random_acts])
    y = np.r_[np.ones(len(concept_acts)), np.zeros(len(random_acts))]
    w = LogisticRegression(max_iter=1000).fit(X, y).coef_[0]
    return w / np.linalg.norm(w)


def solution_tcav_score(model, layer, inputs, cav, target):
    """A student's correct TCAV score."""
    seen = []

    def keep(_m, _i, out):
        out.retain_grad()
        seen.append(out)

    handle = layer.register_forward_hook(keep)
    model.zero_grad()
    model(inputs)[:, target].sum().backward()
    handle.remove()
    derivative = seen[0].grad.flatten(1) @ torch.as_tensor(np.asarray(cav), dtype=torch.float32)
    return float((derivative > 0).float().mean())


def cav_wrong_way(concept_acts, random_acts):
    """Random minus concept: the CAV points away from the concept."""
    return -solution_cav(concept_acts, random_acts)


def cav_not_normalised(concept_acts, random_acts):
    X = np.concatenate([concept_acts, random_acts])
    y = np.r_[np.ones(len(concept_acts)), np.zeros(len(random_acts))]
    return LogisticRegression(max_iter=1000).fit(X, y).coef_[0]


def cav_mean_difference_of_random(concept_acts, random_acts):
    """Uses the mean of the random activations as the direction."""
    v = random_acts.mean(0)
    return v / np.linalg.norm(v)


def score_wrong_class(model, layer, inputs, cav, target):
    return solution_tcav_score(model, layer, inputs, cav, 1 - target)


def score_mean_derivative(model, layer, inputs, cav, target):
    seen = []

    def keep(_m, _i, out):
        out.retain_grad()
        seen.append(out)

    handle = layer.register_forward_hook(keep)
    model(inputs)[:, target].sum().backward()
    handle.remove()
    d = seen[0].grad.flatten(1) @ torch.as_tensor(cav, dtype=torch.float32)
    return float(d.mean())


def score_of_activations(model, layer, inputs, cav, target):
    """Projects the activations (not their gradients) on the CAV."""
    acts = cc.layer_activations(model, layer, inputs)
    return float((acts @ cav > 0).mean())


def _pair(cav_fn, score_fn):
    def both(check):
        return check(cav_fn, score_fn)

    both.__name__ = f"{cav_fn.__name__}+{score_fn.__name__}"
    return both


def _check_pair(pair):
    pair(cc.check_cav_and_tcav)


TCAV_CASES = mutation_cases(
    _check_pair,
    _pair(solution_cav, solution_tcav_score),
    [
        _pair(cav_wrong_way, solution_tcav_score),
        _pair(cav_not_normalised, solution_tcav_score),
        _pair(cav_mean_difference_of_random, solution_tcav_score),
        _pair(solution_cav, score_wrong_class),
        _pair(solution_cav, score_mean_derivative),
        _pair(solution_cav, score_of_activations),
    ],
)

# --- Exercise 3: significance -----------------------------------------------------------------------------


def significance_one_sided(concept_scores, random_scores, alpha=0.05):
    p = stats.ttest_ind(concept_scores, random_scores, alternative="greater").pvalue
    return float(p), bool(p < alpha)


def significance_single_random_run(concept_scores, random_scores, alpha=0.05):
    p = stats.ttest_1samp(concept_scores, random_scores[0]).pvalue
    return float(p), bool(p < alpha)


def significance_against_half(concept_scores, random_scores, alpha=0.05):
    """Ignores the random runs' variance: tests the concept scores against 0.5."""
    p = stats.ttest_1samp(concept_scores, 0.5).pvalue
    return float(p), bool(p < alpha)


def significance_pooled_means(concept_scores, random_scores, alpha=0.05):
    """One number per side: a binomial test of the mean concept score against the mean random score."""
    k = int(round(np.mean(concept_scores) * 100))
    p = stats.binomtest(k, 100, float(np.clip(np.mean(random_scores), 0.01, 0.99))).pvalue
    return float(p), bool(p < alpha)


SIG_CASES = mutation_cases(
    cc.check_tcav_significance,
    cc_ref.reference_tcav_significance,
    [
        significance_one_sided,
        significance_single_random_run,
        significance_against_half,
        significance_pooled_means,
    ],
)


@pytest.mark.parametrize(("checker", "function", "accept"), CBM_CASES + SIG_CASES + TCAV_CASES, ids=case_id)
def test_checker(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


# --- more mutants (issue 11): units, concepts, logit vs probability, layer and target, Bonferroni --------


class MeanOnlyCBM(cc_ref.ReferenceCBM):
    """Subtracts the mean but forgets to divide by the SD."""

    def intervene(self, x, name, value):
        z = self.concepts(x).clone()
        j = self.names.index(name)
        z[:, j] = torch.as_tensor(value) - self.mean[j]
        return self.head(z)


class TimesSdCBM(cc_ref.ReferenceCBM):
    """Multiplies by the SD instead of dividing (unstandardises instead of standardising)."""

    def intervene(self, x, name, value):
        z = self.concepts(x).clone()
        j = self.names.index(name)
        z[:, j] = (torch.as_tensor(value) - self.mean[j]) * self.sd[j]
        return self.head(z)


class AlwaysQtcCBM(cc_ref.ReferenceCBM):
    """Always overwrites the QTc slot, whatever concept is named."""

    def intervene(self, x, name, value):
        z = self.concepts(x).clone()
        j = self.names.index("qtc")
        z[:, j] = (torch.as_tensor(value) - self.mean[j]) / self.sd[j]
        return self.head(z)


class ProbabilitiesCBM(cc_ref.ReferenceCBM):
    """Returns softmax probabilities instead of logits after the intervention."""

    def intervene(self, x, name, value):
        return torch.softmax(super().intervene(x, name, value), 1)


class MeanOfBatchCBM(cc_ref.ReferenceCBM):
    """Standardises the true values with the batch's own mean and SD instead of the training statistics."""

    def intervene(self, x, name, value):
        z = self.concepts(x).clone()
        v = torch.as_tensor(value, dtype=z.dtype)
        z[:, self.names.index(name)] = (v - v.mean()) / (v.std() + 1e-6)
        return self.head(z)


class AllConceptsCBM(cc_ref.ReferenceCBM):
    """Writes the standardised value into every concept slot."""

    def intervene(self, x, name, value):
        z = self.concepts(x).clone()
        j = self.names.index(name)
        z[:] = ((torch.as_tensor(value) - self.mean[j]) / self.sd[j])[:, None]
        return self.head(z)


MORE_CBM = mutation_cases(
    cc.check_cbm,
    cc_ref.ReferenceCBM,
    [MeanOnlyCBM, TimesSdCBM, AlwaysQtcCBM, ProbabilitiesCBM, MeanOfBatchCBM, AllConceptsCBM],
)


def _grads(model, layer, inputs, output_fn):
    seen = []

    def keep(_m, _i, out):
        out.retain_grad()
        seen.append(out)

    handle = layer.register_forward_hook(keep)
    model.zero_grad()
    output_fn(model(inputs)).sum().backward()
    handle.remove()
    return seen[0].grad.flatten(1)


def score_softmax(model, layer, inputs, cav, target):
    """Directional derivative of the softmax probability instead of the logit."""
    g = _grads(model, layer, inputs, lambda out: torch.softmax(out, 1)[:, target])
    return float((g @ torch.as_tensor(cav, dtype=torch.float32) > 0).float().mean())


def score_log_softmax(model, layer, inputs, cav, target):
    g = _grads(model, layer, inputs, lambda out: torch.log_softmax(out, 1)[:, target])
    return float((g @ torch.as_tensor(cav, dtype=torch.float32) > 0).float().mean())


def score_non_negative(model, layer, inputs, cav, target):
    """Counts derivatives >= 0 (zero derivatives included)."""
    g = _grads(model, layer, inputs, lambda out: out[:, target])
    return float((g @ torch.as_tensor(cav, dtype=torch.float32) >= 0).float().mean())


def score_sum_of_logits(model, layer, inputs, cav, target):
    """Gradient of the summed logits (ignores the target)."""
    g = _grads(model, layer, inputs, lambda out: out.sum(1))
    return float((g @ torch.as_tensor(cav, dtype=torch.float32) > 0).float().mean())


def score_fixed_target(model, layer, inputs, cav, target):
    """Always class 1, whatever target it is given."""
    return solution_tcav_score(model, layer, inputs, cav, 1)


def score_fixed_layer(model, layer, inputs, cav, target):
    """Uses the lecture's layer (features.0) instead of the layer it is given."""
    return solution_tcav_score(model, model.features[0], inputs, cav, target)


def score_negative_fraction(model, layer, inputs, cav, target):
    """Fraction with a NEGATIVE derivative."""
    return 1 - score_non_negative(model, layer, inputs, cav, target)


def score_logit_difference(model, layer, inputs, cav, target):
    """Gradient of logit[target] - logit[other]: the log-odds (sign of the softmax derivative)."""
    g = _grads(model, layer, inputs, lambda out: out[:, target] - out[:, 1 - target])
    return float((g @ torch.as_tensor(cav, dtype=torch.float32) > 0).float().mean())


def score_input_gradient(model, layer, inputs, cav, target):
    """Gradient with respect to the input instead of the layer."""
    x = inputs.clone().requires_grad_(True)
    model(x)[:, target].sum().backward()
    g = x.grad.flatten(1)
    v = torch.as_tensor(cav, dtype=torch.float32)
    return float((g[:, : v.numel()] @ v > 0).float().mean())


def cav_swapped_labels(concept_acts, random_acts):
    """Labels the random examples 1 and the concept examples 0."""
    return solution_cav(random_acts, concept_acts)


def cav_standardised(concept_acts, random_acts):
    """Standardises the activations first: another regulariser (cosine 0.98 on the CNN, 0.93 planted)."""
    X = np.concatenate([concept_acts, random_acts])
    sd = X.std(0) + 1e-8
    w = solution_cav((concept_acts - X.mean(0)) / sd, (random_acts - X.mean(0)) / sd)
    return w / np.linalg.norm(w)


def cav_mean_difference(concept_acts, random_acts):
    v = concept_acts.mean(0) - random_acts.mean(0)
    return v / np.linalg.norm(v)


def cav_strong_penalty(concept_acts, random_acts):
    """LogisticRegression(C=1e-4): a heavily regularised fit, close to the mean difference."""
    X = np.concatenate([concept_acts, random_acts])
    y = np.r_[np.ones(len(concept_acts)), np.zeros(len(random_acts))]
    w = LogisticRegression(C=1e-4, max_iter=1000).fit(X, y).coef_[0]
    return w / np.linalg.norm(w)


MORE_TCAV = mutation_cases(
    _check_pair,
    _pair(solution_cav, solution_tcav_score),
    [
        _pair(solution_cav, score_softmax),
        _pair(solution_cav, score_log_softmax),
        _pair(solution_cav, score_non_negative),
        _pair(solution_cav, score_sum_of_logits),
        _pair(solution_cav, score_fixed_target),
        _pair(solution_cav, score_fixed_layer),
        _pair(solution_cav, score_negative_fraction),
        _pair(solution_cav, score_logit_difference),
        _pair(solution_cav, score_input_gradient),
        _pair(cav_swapped_labels, solution_tcav_score),
        _pair(cav_mean_difference, solution_tcav_score),
        _pair(cav_strong_penalty, solution_tcav_score),
    ],
)


def cav_other_solver(concept_acts, random_acts):
    """A correct alternative: the same logistic regression with another solver."""
    X = np.concatenate([concept_acts, random_acts])
    y = np.r_[np.ones(len(concept_acts)), np.zeros(len(random_acts))]
    w = LogisticRegression(solver="newton-cg", max_iter=1000).fit(X, y).coef_[0]
    return w / np.linalg.norm(w)


def score_via_autograd(model, layer, inputs, cav, target):
    """A correct alternative: torch.autograd.grad on the kept activation, float64 dot product."""
    seen = []
    handle = layer.register_forward_hook(lambda _m, _i, out: seen.append(out))
    logits = model(inputs)
    handle.remove()
    (g,) = torch.autograd.grad(logits[:, target].sum(), seen[0])
    d = g.flatten(1).double() @ torch.as_tensor(np.asarray(cav), dtype=torch.float64)
    return (d > 0).double().mean().item()


def significance_bonferroni_on_p(concept_scores, random_scores, alpha=0.05, n_concepts=1):
    """Returns the Bonferroni-adjusted p-value (p * n) instead of the raw one."""
    p = min(1.0, stats.ttest_ind(concept_scores, random_scores).pvalue * n_concepts)
    return float(p), bool(p < alpha)


def significance_ignores_n(concept_scores, random_scores, alpha=0.05, n_concepts=1):
    p = stats.ttest_ind(concept_scores, random_scores).pvalue
    return float(p), bool(p < alpha)


def significance_multiplies_alpha(concept_scores, random_scores, alpha=0.05, n_concepts=1):
    p = stats.ttest_ind(concept_scores, random_scores).pvalue
    return float(p), bool(p < alpha * n_concepts)


def significance_fixed_alpha(concept_scores, random_scores, alpha=0.05, n_concepts=1):
    p = stats.ttest_ind(concept_scores, random_scores).pvalue
    return float(p), bool(p < 0.05 / n_concepts)


def significance_paired(concept_scores, random_scores, alpha=0.05, n_concepts=1):
    p = stats.ttest_rel(concept_scores, random_scores).pvalue
    return float(p), bool(p < alpha / n_concepts)


def significance_mann_whitney(concept_scores, random_scores, alpha=0.05, n_concepts=1):
    p = stats.mannwhitneyu(concept_scores, random_scores).pvalue
    return float(p), bool(p < alpha / n_concepts)


def significance_complement(concept_scores, random_scores, alpha=0.05, n_concepts=1):
    """Returns 1 - p and calls it significant when it is large."""
    p = 1 - stats.ttest_ind(concept_scores, random_scores).pvalue
    return float(p), bool(p > 1 - alpha / n_concepts)


def significance_welch(concept_scores, random_scores, alpha=0.05, n_concepts=1):
    """A correct alternative: Welch's t-test."""
    p = stats.ttest_ind(concept_scores, random_scores, equal_var=False).pvalue
    return float(p), bool(p < alpha / n_concepts)


MORE_SIG = mutation_cases(
    cc.check_tcav_significance,
    cc_ref.reference_tcav_significance,
    [
        significance_bonferroni_on_p,
        significance_ignores_n,
        significance_multiplies_alpha,
        significance_fixed_alpha,
        significance_paired,
        significance_mann_whitney,
        significance_complement,
    ],
)
ALTERNATIVES = [
    (_check_pair, _pair(cav_other_solver, solution_tcav_score), True),
    (_check_pair, _pair(solution_cav, score_via_autograd), True),
    (cc.check_tcav_significance, significance_welch, True),
]

# --- review of issue 11 (module 02): holes found by an expert reviewer ---------------------------------


class HardCodedIndexCBM(cc_ref.ReferenceCBM):
    """Looks the concept up in the shipped CBM's order instead of in `names`."""

    IDX = {"hr": 0, "qtc": 1, "qrs": 2, "t_amp": 3, "r_amp": 4, "female": 5}

    def intervene(self, x, name, value):
        z = self.concepts(x).clone()
        j = self.IDX[name]
        z[:, j] = (torch.as_tensor(value) - self.mean[j]) / self.sd[j]
        return self.head(z)


class DetachCBM(cc_ref.ReferenceCBM):
    """A correct alternative: detach, then clone."""

    def intervene(self, x, name, value):
        z = self.concepts(x).detach().clone()
        j = self.names.index(name)
        z[:, j] = (torch.as_tensor(value) - self.mean[j]) / self.sd[j]
        return self.head(z)


def score_captum(model, layer, inputs, cav, target):
    """Hands the work to captum's TCAV (the library shortcut)."""
    name = [n for n, m in model.named_modules() if m is layer][0]
    return cc.captum_tcav_score(model, name, inputs, inputs, inputs, cav, target)


def score_captum_direct(model, layer, inputs, cav, target):
    """Builds captum.concept.TCAV itself (not through the checker's helper)."""
    from captum.concept import TCAV

    TCAV(model, [layer])
    return solution_tcav_score(model, layer, inputs, cav, target)


def cav_reference_import(concept_acts, random_acts):
    """Calls the checker's reference CAV."""
    from xaihealth.instructor.references.concepts import reference_cav

    return reference_cav(concept_acts, random_acts)


def _lr_cav(concept_acts, random_acts, **kw):
    X = np.concatenate([concept_acts, random_acts])
    y = np.r_[np.ones(len(concept_acts)), np.zeros(len(random_acts))]
    w = LogisticRegression(**kw).fit(X, y).coef_[0]
    return w / np.linalg.norm(w)


def cav_c_001(concept_acts, random_acts):
    """LogisticRegression(C=0.01): passed the CNN case (cosine 0.985); 0.51 on the planted case."""
    return _lr_cav(concept_acts, random_acts, C=0.01, max_iter=1000)


def cav_c_10(concept_acts, random_acts):
    """LogisticRegression(C=10): 0.96 on the planted case."""
    return _lr_cav(concept_acts, random_acts, C=10, max_iter=1000)


def cav_default_iterations(concept_acts, random_acts):
    """max_iter=100 (scikit-learn's default): lbfgs converges before 100 steps here, the same CAV."""
    return _lr_cav(concept_acts, random_acts)


def score_threshold(model, layer, inputs, cav, target):
    """A correct alternative on these cases: > 1e-7 instead of > 0."""
    seen = []

    def keep(_m, _i, out):
        out.retain_grad()
        seen.append(out)

    handle = layer.register_forward_hook(keep)
    model.zero_grad()
    model(inputs)[:, target].sum().backward()
    handle.remove()
    derivative = seen[0].grad.flatten(1) @ torch.as_tensor(np.asarray(cav), dtype=torch.float32)
    return float((derivative > 1e-7).float().mean())


def significance_sidak(concept_scores, random_scores, alpha=0.05, n_concepts=1):
    """Šidák instead of the Bonferroni correction the exercise asks for."""
    p = stats.ttest_ind(concept_scores, random_scores).pvalue
    return float(p), bool(p < 1 - (1 - alpha) ** (1 / n_concepts))


def significance_p_times_n(concept_scores, random_scores, alpha=0.05, n_concepts=1):
    """A correct alternative: p * n < alpha is Bonferroni."""
    p = stats.ttest_ind(concept_scores, random_scores).pvalue
    return float(p), bool(p * n_concepts < alpha)


REVIEW_MUTANTS = [
    (cc.check_cbm, HardCodedIndexCBM, False),
    (cc.check_cbm, DetachCBM, True),
    (_check_pair, _pair(solution_cav, score_captum), False),
    (_check_pair, _pair(solution_cav, score_captum_direct), False),
    (_check_pair, _pair(solution_cav, cc_ref.reference_tcav_score), False),  # imported as the student's own
    (_check_pair, _pair(cav_reference_import, solution_tcav_score), False),
    (_check_pair, _pair(cc_ref.reference_cav, solution_tcav_score), False),
    (_check_pair, _pair(cav_c_001, solution_tcav_score), False),
    (_check_pair, _pair(cav_c_10, solution_tcav_score), False),
    (_check_pair, _pair(cav_standardised, solution_tcav_score), False),
    (_check_pair, _pair(cav_default_iterations, solution_tcav_score), True),
    (_check_pair, _pair(solution_cav, score_threshold), True),
    (cc.check_tcav_significance, significance_sidak, False),
    (cc.check_tcav_significance, significance_p_times_n, True),
]


@pytest.mark.parametrize(("checker", "function", "accept"), REVIEW_MUTANTS, ids=case_id)
def test_review_mutants(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


def test_captum_import_blocked_during_the_call(capsys):
    """Before captum.concept is imported, importing it inside the student's function fails."""
    import sys

    saved = {k: v for k, v in sys.modules.items() if k == "captum.concept"}
    sys.modules.pop("captum.concept", None)
    try:
        with pytest.raises(AssertionError):
            cc.check_cav_and_tcav(solution_cav, score_captum_direct)
        assert "captum.concept" not in sys.modules or sys.modules["captum.concept"] is not None
    finally:
        sys.modules.update(saved)


def test_shortcuts_restored_after_the_check():
    """captum and the references work again once the student's call has returned."""
    from captum.concept import TCAV

    init = TCAV.__init__
    with pytest.raises(AssertionError):
        cc.check_cav_and_tcav(solution_cav, score_captum)
    assert TCAV.__init__ is init and not cc._STUDENT_RUNNING["on"]
    assert cc_ref.reference_cav(np.eye(4)[:2], np.eye(4)[2:]).shape == (4,)


DISSOCIATING = [
    (cc.check_dissociating_concept, {"hr": (100, 120), "qtc": (490, 540)}, True),  # long QTc, short QT
    (cc.check_dissociating_concept, {"hr": (45, 55), "qtc": (390, 420)}, True),  # normal QTc, long QT
    (cc.check_dissociating_concept, {"hr": tuple(np.array([100, 120])),
                                     "qtc": tuple(np.array([490.0, 540.0]))}, True),  # numpy scalars
    (cc.check_dissociating_concept, {"qtc": (490, 540)}, False),  # both long: not dissociating
    (cc.check_dissociating_concept, {"hr": (45, 55)}, False),  # raw QT only
    (cc.check_dissociating_concept, {"hr": (45, 55), "qtc": (490, 540)}, False),  # both long
    (cc.check_dissociating_concept, {"qt": (300, 350)}, False),  # not a make_ecgs keyword
    (cc.check_dissociating_concept, "fast hearts", False),
    # review: confounded or degenerate concepts
    (cc.check_dissociating_concept, {"hr": (100, 120), "qtc": (490, 540), "noise": (0.15, 0.2)}, False),
    (cc.check_dissociating_concept, {"hr": (100, 120), "qtc": (480, 540), "sex": "female",
                                     "r_amp": (0.4, 0.6)}, False),
    (cc.check_dissociating_concept, {"hr": (119.9, 120), "qtc": (539.9, 540)}, False),
    (cc.check_dissociating_concept, {"hr": 110, "qtc": (490, 540)}, False),
    (cc.check_dissociating_concept, {"hr": (95, 120), "qtc": (480, 540)}, True),
]


def _call(checker, value):
    return checker(value)


@pytest.mark.parametrize(
    ("checker", "function", "accept"), MORE_CBM + MORE_TCAV + MORE_SIG + ALTERNATIVES, ids=case_id
)
def test_more_mutants(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


@pytest.mark.parametrize(("checker", "spec", "accept"), DISSOCIATING, ids=lambda v: str(v)[:40])
def test_dissociating_concept(checker, spec, accept, capsys):
    run_case(lambda f: checker(f), spec, accept, capsys)


ANSWER_1B = (
    "I would ask for the patient's sex from the chart. Correcting QTc fixed some errors but created "
    "almost as many, so its gain is small. Sex is barely in the trace and it decides the threshold, so "
    "entering it fixes most of the remaining errors. I would not let anyone intervene on the joint model: "
    "its head gives the female unit the wrong sign, so a true value makes it worse. Deploy the "
    "independent model and count the errors that an intervention creates on held-out records."
)
ANSWER_4B = (
    "Fast hearts with a long QTc have a short raw QT, and the trained network scores them near one. "
    "Untrained networks do the same, so this score alone says nothing about the rate-corrected interval. "
    "A concept with the same heart rate and a normal QTc is the control for the confound of heart rate, "
    "and only that contrast separates the trained trunk from the untrained one."
)


@pytest.mark.parametrize(
    ("checker", "answer", "accept"),
    [
        (cc.check_answer_1b, ANSWER_1B, True),
        (cc.check_answer_1b, "sex " * 10 + "created errors and the joint model leaks " * 8, False),
        (cc.check_answer_1b, "sex creat joint " * 25, False),  # review: keyword stuffing
        (cc.check_answer_1b, "sex " * 70, False),  # misses the created errors and the joint model
        (cc.check_answer_1b, "too short", False),
        (cc.check_answer_4b, ANSWER_4B, True),
        (cc.check_answer_4b, "qtc raw confound " * 20, False),  # review: keyword stuffing
        (cc.check_answer_4b, 42, False),
    ],
    ids=case_id,
)
def test_written(checker, answer, accept, capsys):
    run_case(checker, answer, accept, capsys)


@pytest.mark.parametrize(
    ("layer_name", "target"), [("features.0", 1), ("features.0", 0), ("body.1", 1), ("body.1", 0)]
)
def test_reference_tcav_equals_captum(layer_name, target):
    s = cc._tcav_setup()
    layer = dict(s["model"].named_modules())[layer_name]
    v = cc_ref.reference_cav(
        cc.layer_activations(s["model"], layer, s["concept"]),
        cc.layer_activations(s["model"], layer, s["random"]),
    )
    ours = cc_ref.reference_tcav_score(s["model"], layer, s["inputs"], v, target)
    theirs = cc.captum_tcav_score(s["model"], layer_name, s["inputs"], s["concept"], s["random"], v, target)
    assert abs(ours - theirs) < 1e-6
