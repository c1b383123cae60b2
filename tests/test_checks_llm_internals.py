"""Mutation tests for the lab 05 checkers: each accepts the reference and rejects plausible mistakes."""

import numpy as np
import pytest
from mutation import case_id, mutation_cases, run_case
from sklearn.linear_model import LogisticRegression

from xaihealth.checks import llm_internals as li

# --- Exercise 1: probe with a control task ---------------------------------------------------------------


def _score(x_tr, y_tr, x_te, y_te):
    return LogisticRegression(max_iter=2000).fit(x_tr, y_tr).score(x_te, y_te)


def probe_trained_on_test(acts_train, y_train, types_train, acts_test, y_test, types_test, seed=0):
    ref = li.reference_probe_selectivity(
        acts_train, y_train, types_train, acts_test, y_test, types_test, seed
    )
    acc = _score(acts_test, y_test, acts_test, y_test)
    return {"accuracy": acc, "control": ref["control"], "selectivity": acc - ref["control"]}


def probe_control_not_shuffled(acts_train, y_train, types_train, acts_test, y_test, types_test, seed=0):
    acc = _score(acts_train, y_train, acts_test, y_test)
    return {"accuracy": acc, "control": acc, "selectivity": 0.0}


def probe_control_shuffled_per_sample(
    acts_train, y_train, types_train, acts_test, y_test, types_test, seed=0
):
    rng = np.random.default_rng(seed)
    acc = _score(acts_train, y_train, acts_test, y_test)
    ctrl = _score(acts_train, rng.permutation(y_train), acts_test, rng.permutation(y_test))
    return {"accuracy": acc, "control": ctrl, "selectivity": acc - ctrl}


def probe_selectivity_as_ratio(acts_train, y_train, types_train, acts_test, y_test, types_test, seed=0):
    ref = li.reference_probe_selectivity(
        acts_train, y_train, types_train, acts_test, y_test, types_test, seed
    )
    return {**ref, "selectivity": ref["accuracy"] / ref["control"]}


# --- Exercise 2: patching by hooks -----------------------------------------------------------------------


def patch_wrong_position(model, clean, corrupt, layer, position):
    return li.reference_patch_resid_pre(model, clean, corrupt, layer, max(position - 1, 0))


def patch_wrong_normalisation(model, clean, corrupt, layer, position):
    avoid, safe = li._answer_ids()
    rec = li.reference_patch_resid_pre(model, clean, corrupt, layer, position)
    ld = lambda lg: (lg[:, -1, avoid] - lg[:, -1, safe]).mean().item()  # noqa: E731
    clean_ld, corrupt_ld = ld(model(clean)), ld(model(corrupt))
    patched = rec * (clean_ld - corrupt_ld) + corrupt_ld
    return patched / clean_ld  # forgets to subtract the corrupted baseline


def patch_wrong_layer(model, clean, corrupt, layer, position):
    avoid, safe = li._answer_ids()
    name = f"blocks.{layer}.hook_resid_post"
    ld = lambda lg: (lg[:, -1, avoid] - lg[:, -1, safe]).mean().item()  # noqa: E731
    clean_logits, cache = model.run_with_cache(clean, names_filter=name)

    def hook(act, hook):
        act[:, position] = cache[name][:, position]
        return act

    corrupt_ld = ld(model(corrupt))
    patched = ld(model.run_with_hooks(corrupt, fwd_hooks=[(name, hook)]))
    return (patched - corrupt_ld) / (ld(clean_logits) - corrupt_ld)


def patch_all_positions(model, clean, corrupt, layer, position):
    return li.reference_patch_resid_pre(model, clean, corrupt, layer, slice(position, None))


# --- Exercise 3: OV read-out -----------------------------------------------------------------------------


def ov_uses_w_q(model, layer, head, x):
    return x @ model.W_Q[layer, head] @ model.W_O[layer, head]


def ov_missing_w_o(model, layer, head, x):
    return x @ model.W_V[layer, head]


def ov_wrong_transpose(model, layer, head, x):
    return x @ model.OV[layer, head].AB.T


def ov_with_value_bias(model, layer, head, x):
    return (x @ model.W_V[layer, head] + model.b_V[layer, head]) @ model.W_O[layer, head]


CASES = [
    *mutation_cases(
        li.check_probe_selectivity,
        li.reference_probe_selectivity,
        [probe_trained_on_test, probe_control_not_shuffled, probe_control_shuffled_per_sample,
         probe_selectivity_as_ratio],
    ),
    *mutation_cases(
        li.check_patch_resid_pre,
        li.reference_patch_resid_pre,
        [patch_wrong_position, patch_wrong_normalisation, patch_wrong_layer, patch_all_positions],
    ),
    *mutation_cases(
        li.check_ov_readout,
        li.reference_ov_readout,
        [ov_uses_w_q, ov_missing_w_o, ov_wrong_transpose, ov_with_value_bias],
    ),
]  # fmt: skip


@pytest.mark.parametrize(("checker", "function", "accept"), CASES, ids=case_id)
def test_checker(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


def test_reference_patching_matches_the_library():
    model, clean, corrupt = li._model_and_pairs()
    grid = li._tl_patching_grid()
    assert abs(grid[0, 6] - 1) < 1e-4 and grid[1, 6] + grid[1, 16] > 0.8
    assert abs(li.reference_patch_resid_pre(model, clean, corrupt, 1, 16) - grid[1, 16]) < 1e-4
