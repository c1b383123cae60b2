"""Mutation tests for the lab 05b checkers: each accepts the reference and rejects plausible mistakes."""

import pytest
import torch
from mutation import case_id, mutation_cases, run_case

from xaihealth.checks import circuits_sae as cs

# --- Exercise 1: SAE metrics -----------------------------------------------------------------------------


def metrics_l0_mean_activation(x, x_hat, latents):
    return {**cs.reference_sae_metrics(x, x_hat, latents), "l0": latents.sum(1).mean().item()}


def metrics_l0_fraction_of_latents(x, x_hat, latents):
    return {**cs.reference_sae_metrics(x, x_hat, latents), "l0": (latents > 0).float().mean().item()}


def metrics_fve_not_centred(x, x_hat, latents):
    fve = 1 - ((x - x_hat) ** 2).sum().item() / (x**2).sum().item()
    return {**cs.reference_sae_metrics(x, x_hat, latents), "fve": fve}


def metrics_dead_over_samples(x, x_hat, latents):
    dead = int(((latents > 0).sum(1) == 0).sum().item())
    return {**cs.reference_sae_metrics(x, x_hat, latents), "dead": dead}


# --- Exercise 2: SAE training loop -----------------------------------------------------------------------


def _train(x, n_latents, l1_coeff, steps, lr, seed, *, normalise=True, penalty="latents"):
    g = torch.Generator().manual_seed(seed)
    init = torch.nn.functional.normalize(torch.randn(n_latents, x.shape[1], generator=g), dim=1)
    W_enc, W_dec = torch.nn.Parameter(init.T.clone()), torch.nn.Parameter(init.clone())
    b_enc, b_dec = torch.nn.Parameter(torch.zeros(n_latents)), torch.nn.Parameter(x.mean(0).clone())
    opt = torch.optim.Adam([W_enc, b_enc, W_dec, b_dec], lr=lr)
    with torch.enable_grad():
        for _ in range(steps):
            latents = torch.relu((x - b_dec) @ W_enc + b_enc)
            loss = ((x - latents @ W_dec - b_dec) ** 2).sum(1).mean()
            if penalty == "latents":
                loss = loss + l1_coeff * latents.abs().sum(1).mean()
            elif penalty == "decoder":
                loss = loss + l1_coeff * W_dec.abs().sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
            if normalise:
                with torch.no_grad():
                    W_dec.data = torch.nn.functional.normalize(W_dec.data, dim=1)
    return {
        "W_enc": W_enc.detach(),
        "b_enc": b_enc.detach(),
        "W_dec": W_dec.detach(),
        "b_dec": b_dec.detach(),
    }


def train_decoder_not_normalised(x, n_latents, l1_coeff, steps=300, lr=1e-2, seed=0):
    return _train(x, n_latents, l1_coeff, steps, lr, seed, normalise=False)


def train_l1_on_decoder(x, n_latents, l1_coeff, steps=300, lr=1e-2, seed=0):
    return _train(x, n_latents, l1_coeff, steps, lr, seed, penalty="decoder")


def train_without_l1(x, n_latents, l1_coeff, steps=300, lr=1e-2, seed=0):
    return _train(x, n_latents, l1_coeff, steps, lr, seed, penalty="none")


def train_normalised_wrong_axis(x, n_latents, l1_coeff, steps=300, lr=1e-2, seed=0):
    sae = _train(x, n_latents, l1_coeff, steps, lr, seed, normalise=False)
    return {**sae, "W_dec": torch.nn.functional.normalize(sae["W_dec"], dim=0)}


# --- Exercise 3: feature recovery ------------------------------------------------------------------------


def recovery_not_normalised(true_dirs, learned_dirs, threshold=0.9):
    max_cos = (true_dirs @ learned_dirs.T).max(dim=1).values
    return {"max_cos": max_cos, "n_recovered": int((max_cos > threshold).sum())}


def recovery_wrong_axis(true_dirs, learned_dirs, threshold=0.9):
    t, s = (torch.nn.functional.normalize(v, dim=1) for v in (true_dirs, learned_dirs))
    max_cos = (t @ s.T).max(dim=0).values
    return {"max_cos": max_cos, "n_recovered": int((max_cos > threshold).sum())}


def recovery_wrong_axis_same_shape(true_dirs, learned_dirs, threshold=0.9):
    out = recovery_wrong_axis(true_dirs, learned_dirs, threshold)
    return {"max_cos": out["max_cos"][: len(true_dirs)], "n_recovered": out["n_recovered"]}


def recovery_absolute_cosine(true_dirs, learned_dirs, threshold=0.9):
    t, s = (torch.nn.functional.normalize(v, dim=1) for v in (true_dirs, learned_dirs))
    max_cos = (t @ s.T).abs().max(dim=1).values
    return {"max_cos": max_cos, "n_recovered": int((max_cos > threshold).sum())}


CASES = [
    *mutation_cases(
        cs.check_sae_metrics,
        cs.reference_sae_metrics,
        [
            metrics_l0_mean_activation,
            metrics_l0_fraction_of_latents,
            metrics_fve_not_centred,
            metrics_dead_over_samples,
        ],
    ),
    *mutation_cases(
        cs.check_train_sae,
        cs.reference_train_sae,
        [train_decoder_not_normalised, train_l1_on_decoder, train_without_l1, train_normalised_wrong_axis],
    ),
    *mutation_cases(
        cs.check_feature_recovery,
        cs.reference_feature_recovery,
        [
            recovery_not_normalised,
            recovery_wrong_axis,
            recovery_wrong_axis_same_shape,
            recovery_absolute_cosine,
        ],
    ),
]


@pytest.mark.parametrize(("checker", "function", "accept"), CASES, ids=case_id)
def test_checker(checker, function, accept, capsys):
    torch.set_num_threads(1)
    run_case(checker, function, accept, capsys)


def test_planted_data_are_sparse_and_reference_recovers_them():
    x, features, acts = cs.planted_sparse_data()
    assert x.shape == (2048, 16) and features.shape == (32, 16)
    assert torch.allclose(features.norm(dim=1), torch.ones(32))
    assert 1.0 < (acts > 0).float().sum(1).mean() < 2.5
