"""Mutation tests for the lab 02 checkers: each accepts the reference and rejects plausible mistakes."""

import numpy as np
import pytest
import torch
from mutation import case_id, mutation_cases, run_case
from scipy import stats
from sklearn.linear_model import LogisticRegression

from xaihealth.checks import concepts as cc

# --- Exercise 1: concept bottleneck with intervention ----------------------------------------------------


class WrongIndexCBM(cc.ReferenceCBM):
    """Intervenes on the concept after the named one (an off-by-one in the index)."""

    def intervene(self, x, name, value):
        z = self.concepts(x).clone()
        j = (self.names.index(name) + 1) % len(self.names)
        z[:, j] = (torch.as_tensor(value) - self.mean[j]) / self.sd[j]
        return self.head(z)


class UnstandardisedCBM(cc.ReferenceCBM):
    """Writes the true value in its unit (ms) into a bottleneck that works in SD units."""

    def intervene(self, x, name, value):
        z = self.concepts(x).clone()
        z[:, self.names.index(name)] = torch.as_tensor(value)
        return self.head(z)


class AfterHeadCBM(cc.ReferenceCBM):
    """Computes the logits first and overwrites one of them with the standardised true value."""

    def intervene(self, x, name, value):
        logits = self.head(self.concepts(x)).clone()
        j = self.names.index(name)
        logits[:, min(j, logits.shape[1] - 1)] = (torch.as_tensor(value) - self.mean[j]) / self.sd[j]
        return logits


class FirstConceptStatsCBM(cc.ReferenceCBM):
    """Standardises every concept with the mean and SD of the first one."""

    def intervene(self, x, name, value):
        z = self.concepts(x).clone()
        z[:, self.names.index(name)] = (torch.as_tensor(value) - self.mean[0]) / self.sd[0]
        return self.head(z)


CBM_CASES = mutation_cases(
    cc.check_cbm, cc.ReferenceCBM, [WrongIndexCBM, UnstandardisedCBM, AfterHeadCBM, FirstConceptStatsCBM]
)

# --- Exercise 2: CAV and TCAV score ----------------------------------------------------------------------


def cav_wrong_way(concept_acts, random_acts):
    """Random minus concept: the CAV points away from the concept."""
    return -cc.reference_cav(concept_acts, random_acts)


def cav_not_normalised(concept_acts, random_acts):
    X = np.concatenate([concept_acts, random_acts])
    y = np.r_[np.ones(len(concept_acts)), np.zeros(len(random_acts))]
    return LogisticRegression(max_iter=1000).fit(X, y).coef_[0]


def cav_mean_difference_of_random(concept_acts, random_acts):
    """Uses the mean of the random activations as the direction."""
    v = random_acts.mean(0)
    return v / np.linalg.norm(v)


def score_wrong_class(model, layer, inputs, cav, target):
    return cc.reference_tcav_score(model, layer, inputs, cav, 1 - target)


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
    _pair(cc.reference_cav, cc.reference_tcav_score),
    [
        _pair(cav_wrong_way, cc.reference_tcav_score),
        _pair(cav_not_normalised, cc.reference_tcav_score),
        _pair(cav_mean_difference_of_random, cc.reference_tcav_score),
        _pair(cc.reference_cav, score_wrong_class),
        _pair(cc.reference_cav, score_mean_derivative),
        _pair(cc.reference_cav, score_of_activations),
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
    cc.reference_tcav_significance,
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
