"""Mutation tests for the lab 05 checkers: each accepts the reference and rejects plausible mistakes."""

import math

import numpy as np
import pytest
import torch
from mutation import case_id, mutation_cases, run_case
from sklearn.linear_model import LogisticRegression

from xaihealth.checks import llm_internals as li
from xaihealth.instructor.references import llm_internals as li_ref

# --- Exercise 1: probe with a control task ---------------------------------------------------------------


def _score(x_tr, y_tr, x_te, y_te):
    return LogisticRegression(max_iter=2000).fit(x_tr, y_tr).score(x_te, y_te)


def probe_trained_on_test(acts_train, y_train, types_train, acts_test, y_test, types_test, seed=0):
    ref = li_ref.reference_probe_selectivity(
        acts_train, y_train, types_train, acts_test, y_test, types_test, seed
    )
    acc = _score(acts_test, y_test, acts_test, y_test)
    return {"accuracy": acc, "control": ref["control"], "selectivity": acc - ref["control"],
            "control_labels": ref["control_labels"]}


def probe_control_not_shuffled(acts_train, y_train, types_train, acts_test, y_test, types_test, seed=0):
    acc = _score(acts_train, y_train, acts_test, y_test)
    return {"accuracy": acc, "control": acc, "selectivity": 0.0, "control_labels": y_test}


def probe_control_shuffled_per_sample(
    acts_train, y_train, types_train, acts_test, y_test, types_test, seed=0
):
    rng = np.random.default_rng(seed)
    acc = _score(acts_train, y_train, acts_test, y_test)
    c_test = rng.permutation(y_test)
    ctrl = _score(acts_train, rng.permutation(y_train), acts_test, c_test)
    return {"accuracy": acc, "control": ctrl, "selectivity": acc - ctrl, "control_labels": c_test}


def _control_variant(label_draw, train_on="train", rng_of=np.random.default_rng, order=np.unique):
    """A probe_selectivity whose control labels come from label_draw(labels, n_types, rng)."""

    def f(acts_train, y_train, types_train, acts_test, y_test, types_test, seed=0):
        rng = rng_of(seed)
        uniq = order(np.concatenate([types_train, types_test]))
        lookup = dict(
            zip(uniq.tolist(), label_draw(np.unique(y_train), len(uniq), rng).tolist(), strict=True)
        )
        c_tr = np.array([lookup[t] for t in types_train.tolist()])
        c_te = np.array([lookup[t] for t in types_test.tolist()])
        acc = _score(acts_train, y_train, acts_test, y_test)
        if train_on == "train":
            ctrl = _score(acts_train, c_tr, acts_test, c_te)
        elif train_on == "own split":  # the control probe scored on its own training split
            ctrl = _score(acts_train, c_tr, acts_train, c_tr)
        else:  # fitted on train + test, scored on test
            ctrl = _score(
                np.concatenate([acts_train, acts_test]), np.concatenate([c_tr, c_te]), acts_test, c_te
            )
        return {"accuracy": acc, "control": ctrl, "selectivity": acc - ctrl, "control_labels": c_te}

    return f


probe_control_balanced = _control_variant(lambda labels, m, rng: rng.permutation(np.resize(labels, m)))
probe_control_balanced.__name__ = "probe_control_balanced"  # a valid alternative: balanced random labels
probe_control_on_own_split = _control_variant(lambda labels, m, rng: rng.choice(labels, m), "own split")
probe_control_on_own_split.__name__ = "probe_control_on_own_split"
probe_control_fit_on_all = _control_variant(lambda labels, m, rng: rng.choice(labels, m), "train+test")
probe_control_fit_on_all.__name__ = "probe_control_fit_on_all"
probe_binary_control = _control_variant(lambda labels, m, rng: rng.integers(0, 2, m))
probe_binary_control.__name__ = "probe_binary_control"  # 2 control labels for a 4-class concept
# review 05, finding 5: these passed before the checker saw the control labels
probe_unseeded_rng = _control_variant(lambda labels, m, rng: rng.choice(labels, m),
                                      rng_of=lambda seed: np.random.default_rng())  # fmt: skip
probe_unseeded_rng.__name__ = "probe_unseeded_rng"  # the seed parameter is ignored
probe_control_three_labels = _control_variant(lambda labels, m, rng: rng.choice(labels[:3], m))
probe_control_three_labels.__name__ = "probe_control_three_labels"  # a 3-label control for 4 classes
probe_control_arange_labels = _control_variant(
    lambda labels, m, rng: rng.choice(np.arange(len(labels)), m)
)
probe_control_arange_labels.__name__ = "probe_control_arange_labels"  # wrong unless labels are 0..K-1
probe_control_seed_plus_one = _control_variant(
    lambda labels, m, rng: rng.choice(labels, m), rng_of=lambda seed: np.random.default_rng(seed + 1)
)
probe_control_seed_plus_one.__name__ = "probe_control_seed_plus_one"  # another valid draw: accepted


def _first_seen(values):
    _, idx = np.unique(values, return_index=True)
    return np.asarray(values)[np.sort(idx)]


probe_control_first_seen_order = _control_variant(
    lambda labels, m, rng: rng.choice(labels, m), order=_first_seen
)
probe_control_first_seen_order.__name__ = "probe_control_first_seen_order"  # valid: types in another order


def probe_control_ignores_seed(acts_train, y_train, types_train, acts_test, y_test, types_test, seed=0):
    args = (acts_train, y_train, types_train, acts_test, y_test, types_test)
    return li_ref.reference_probe_selectivity(*args, 0)


def probe_selectivity_as_ratio(acts_train, y_train, types_train, acts_test, y_test, types_test, seed=0):
    ref = li_ref.reference_probe_selectivity(
        acts_train, y_train, types_train, acts_test, y_test, types_test, seed
    )
    return {**ref, "selectivity": ref["accuracy"] / ref["control"]}


# --- Exercise 2: patching with raw torch hooks ------------------------------------------------------------


def _raw_patch(model, clean, corrupt, layer, position, point="hook_resid_pre", into="corrupt", remove=True):
    avoid, safe = li._answer_ids()
    ld = lambda lg: (lg[:, -1, avoid] - lg[:, -1, safe]).mean().item()  # noqa: E731
    module = getattr(model.blocks[layer], point)
    stored = {}
    h = module.register_forward_hook(lambda m, i, o: stored.update(act=o.clone()))
    clean_ld = ld(model(clean))
    h.remove()
    corrupt_ld = ld(model(corrupt))
    if into == "clean":  # patches the corrupted activation into the clean run instead
        h = module.register_forward_hook(lambda m, i, o: stored.update(act=o.clone()))
        model(corrupt)
        h.remove()

    def paste(m, i, o):
        o = o.clone()
        o[:, position] = stored["act"][:, position]
        return o

    h = module.register_forward_hook(paste)
    patched = ld(model(clean if into == "clean" else corrupt))
    if remove:
        h.remove()
    base = clean_ld if into == "clean" else corrupt_ld
    other = corrupt_ld if into == "clean" else clean_ld
    return (patched - base) / (other - base)


def patch_alternative_capture(model, clean, corrupt, layer, position):
    """A valid alternative: capture with a hook on the previous block's output (= this block's input)."""
    return _raw_patch(model, clean, corrupt, layer, position)


def patch_wrong_position(model, clean, corrupt, layer, position):
    return _raw_patch(model, clean, corrupt, layer, max(position - 1, 0))


def patch_wrong_normalisation(model, clean, corrupt, layer, position):
    avoid, safe = li._answer_ids()
    rec = _raw_patch(model, clean, corrupt, layer, position)
    ld = lambda lg: (lg[:, -1, avoid] - lg[:, -1, safe]).mean().item()  # noqa: E731
    clean_ld, corrupt_ld = ld(model(clean)), ld(model(corrupt))
    patched = rec * (clean_ld - corrupt_ld) + corrupt_ld
    return patched / clean_ld  # forgets to subtract the corrupted baseline


def patch_wrong_layer(model, clean, corrupt, layer, position):
    return _raw_patch(model, clean, corrupt, layer, position, point="hook_resid_post")


def patch_all_positions(model, clean, corrupt, layer, position):
    return _raw_patch(model, clean, corrupt, layer, slice(position, None))


def patch_noising_direction(model, clean, corrupt, layer, position):
    return _raw_patch(model, clean, corrupt, layer, position, into="clean")


def patch_leaves_hook(model, clean, corrupt, layer, position):
    return _raw_patch(model, clean, corrupt, layer, position, remove=False)


def patch_with_hookpoint_add_hook(model, clean, corrupt, layer, position):
    """The TransformerLens hook API through HookPoint.add_hook (review 05, finding 5: passed before)."""
    avoid, safe = li._answer_ids()
    ld = lambda lg: (lg[:, -1, avoid] - lg[:, -1, safe]).mean().item()  # noqa: E731
    point, stored = model.blocks[layer].hook_resid_pre, {}
    point.add_hook(lambda a, hook: stored.update(a=a.clone()))
    c = ld(model(clean))
    point.remove_hooks()
    k = ld(model(corrupt))

    def paste(a, hook):
        a[:, position] = stored["a"][:, position]
        return a

    point.add_hook(paste)
    p = ld(model(corrupt))
    point.remove_hooks()
    return (p - k) / (c - k)


def patch_per_pair_alternative(model, clean, corrupt, layer, position):
    """A valid alternative (review 05, finding 6): the mean of the per-pair recoveries."""
    return li_ref.reference_patch_resid_pre(model, clean, corrupt, layer, position, per_pair=True)


def patch_with_transformer_lens(model, clean, corrupt, layer, position):
    """The library shortcut the exercise forbids (run_with_cache / run_with_hooks)."""
    avoid, safe = li._answer_ids()
    name = f"blocks.{layer}.hook_resid_pre"
    ld = lambda lg: (lg[:, -1, avoid] - lg[:, -1, safe]).mean().item()  # noqa: E731
    clean_logits, cache = model.run_with_cache(clean, names_filter=name)

    def hook(act, hook):
        act[:, position] = cache[name][:, position]
        return act

    corrupt_ld = ld(model(corrupt))
    patched = ld(model.run_with_hooks(corrupt, fwd_hooks=[(name, hook)]))
    return (patched - corrupt_ld) / (ld(clean_logits) - corrupt_ld)


# --- Exercise 3: OV read-out -----------------------------------------------------------------------------


def ov_uses_w_q(model, layer, head, x):
    return x @ model.W_Q[layer, head] @ model.W_O[layer, head]


def ov_missing_w_o(model, layer, head, x):
    return x @ model.W_V[layer, head]


def ov_wrong_transpose(model, layer, head, x):
    return x @ model.OV[layer, head].AB.T


def ov_with_value_bias(model, layer, head, x):
    return (x @ model.W_V[layer, head] + model.b_V[layer, head]) @ model.W_O[layer, head]


def ov_ignores_head(model, layer, head, x):
    return x @ model.W_V[layer, 0] @ model.W_O[layer, 0]


def ov_factored_alternative(model, layer, head, x):
    return x @ model.OV[layer, head].AB  # a valid alternative: the FactoredMatrix product


# --- Exercise 4: attention from Q and K ------------------------------------------------------------------


def _scores(q, k, scale):
    return torch.einsum("nqhd,nkhd->nhqk", q, k) / scale


def _mask(n, diagonal=1):
    return torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=diagonal)


def attention_tril_alternative(q, k):
    """A valid alternative: transpose, matmul, a lower-triangular keep-mask and torch.softmax."""
    qh, kh = q.transpose(1, 2), k.transpose(1, 2)  # (n, head, pos, d)
    scores = qh @ kh.transpose(-1, -2) / math.sqrt(q.shape[-1])
    keep = torch.tril(torch.ones(scores.shape[-2:], dtype=torch.bool))
    return torch.softmax(torch.where(keep, scores, torch.tensor(float("-inf"))), dim=-1)


def attention_softmax_over_queries(q, k):
    s = _scores(q, k, math.sqrt(q.shape[-1])).masked_fill(_mask(q.shape[1]), float("-inf"))
    return s.softmax(dim=-2)


def attention_no_scaling(q, k):
    return _scores(q, k, 1.0).masked_fill(_mask(q.shape[1]), float("-inf")).softmax(-1)


def attention_hard_coded_scale(q, k):
    return _scores(q, k, 4.0).masked_fill(_mask(q.shape[1]), float("-inf")).softmax(-1)  # sqrt(16) only


def attention_scaled_by_d_head(q, k):
    return _scores(q, k, q.shape[-1]).masked_fill(_mask(q.shape[1]), float("-inf")).softmax(-1)


def attention_no_mask(q, k):
    return _scores(q, k, math.sqrt(q.shape[-1])).softmax(-1)


def attention_masks_the_diagonal(q, k):
    s = _scores(q, k, math.sqrt(q.shape[-1])).masked_fill(_mask(q.shape[1], 0), float("-inf"))
    return s.softmax(-1)


def attention_sdpa_shortcut(q, k):
    """The library shortcut (review 05, finding 5): an identity V makes sdpa return the pattern itself."""
    qh, kh = q.transpose(1, 2), k.transpose(1, 2)
    eye = torch.eye(q.shape[1]).expand(*qh.shape[:2], -1, -1)
    return torch.nn.functional.scaled_dot_product_attention(qh, kh, eye, is_causal=True)


def attention_mask_after_softmax(q, k):
    a = _scores(q, k, math.sqrt(q.shape[-1])).softmax(-1)
    return a.masked_fill(_mask(q.shape[1]), 0.0)  # zeroed but not renormalised


# --- Exercise 5: word occlusion --------------------------------------------------------------------------


def _ld(model, t):
    avoid, safe = li._answer_ids()
    with torch.no_grad():
        lg = model(t)
    return lg[:, -1, avoid] - lg[:, -1, safe]


def occlusion_where_alternative(model, tokens, positions, fill_id):
    """A valid alternative: torch.where per position, numpy list of columns."""
    base = _ld(model, tokens)
    cols = []
    for p in positions:
        is_p = torch.arange(tokens.shape[1]) == p
        cols.append((base - _ld(model, torch.where(is_p, torch.tensor(fill_id), tokens))).numpy())
    return np.stack(cols, axis=1)


def occlusion_cumulative(model, tokens, positions, fill_id):
    base, t, out = _ld(model, tokens), tokens.clone(), []
    for p in positions:
        t[:, p] = fill_id  # never reset: occludes all earlier positions too
        out.append(base - _ld(model, t))
    return torch.stack(out, 1).numpy()


def occlusion_sign_flipped(model, tokens, positions, fill_id):
    return -li_ref.reference_word_occlusion(model, tokens, positions, fill_id)


def occlusion_absolute(model, tokens, positions, fill_id):
    return np.abs(li_ref.reference_word_occlusion(model, tokens, positions, fill_id))


def occlusion_off_by_one(model, tokens, positions, fill_id):
    return li_ref.reference_word_occlusion(model, tokens, [p + 1 for p in positions], fill_id)


def occlusion_ignores_fill(model, tokens, positions, fill_id):
    return li_ref.reference_word_occlusion(model, tokens, positions, 0)


def occlusion_in_place(model, tokens, positions, fill_id):
    base, out = _ld(model, tokens), []
    for p in positions:
        saved = tokens[:, p].clone()
        tokens[:, p] = fill_id
        out.append(base - _ld(model, tokens))
    tokens[:, positions[0]] = saved  # restores only the last column, into the wrong place
    return torch.stack(out, 1).numpy()


def occlusion_mean_over_notes(model, tokens, positions, fill_id):
    return li_ref.reference_word_occlusion(model, tokens, positions, fill_id).mean(0)


# --- Exercise 6: written answer --------------------------------------------------------------------------

GOOD_6 = (
    "Attention maps show where a head reads, and here no head's attention ranks the tokens like their "
    "occlusion effect. Occlusion says which words change the answer, but not which component uses them. A "
    "probe shows that negation is decodable after layer 0, and steering along it shows a small causal role. "
    "Joint patching of the circuit and of its complement shows which heads are necessary and sufficient, so "
    "an audit should rest on patching with nulls."
)


def answer_6_keywords_only(answer):
    return li.check_answer_6(answer)


CASES = [
    *mutation_cases(
        li.check_probe_selectivity,
        li_ref.reference_probe_selectivity,
        [probe_trained_on_test, probe_control_not_shuffled, probe_control_shuffled_per_sample,
         probe_selectivity_as_ratio, probe_control_on_own_split, probe_control_fit_on_all,
         probe_binary_control, probe_control_ignores_seed, probe_unseeded_rng, probe_control_three_labels,
         probe_control_arange_labels],
    ),
    (li.check_probe_selectivity, probe_control_balanced, True),
    (li.check_probe_selectivity, probe_control_seed_plus_one, True),
    (li.check_probe_selectivity, probe_control_first_seen_order, True),
    *mutation_cases(
        li.check_patch_resid_pre,
        li_ref.reference_patch_resid_pre,
        [patch_wrong_position, patch_wrong_normalisation, patch_wrong_layer, patch_all_positions,
         patch_noising_direction, patch_leaves_hook, patch_with_transformer_lens,
         patch_with_hookpoint_add_hook],
    ),
    (li.check_patch_resid_pre, patch_alternative_capture, True),
    (li.check_patch_resid_pre, patch_per_pair_alternative, True),
    *mutation_cases(
        li.check_ov_readout,
        li_ref.reference_ov_readout,
        [ov_uses_w_q, ov_missing_w_o, ov_wrong_transpose, ov_with_value_bias, ov_ignores_head],
    ),
    (li.check_ov_readout, ov_factored_alternative, True),
    *mutation_cases(
        li.check_attention_pattern,
        li_ref.reference_attention_pattern,
        [attention_softmax_over_queries, attention_no_scaling, attention_hard_coded_scale,
         attention_scaled_by_d_head, attention_no_mask, attention_masks_the_diagonal,
         attention_mask_after_softmax, attention_sdpa_shortcut],
    ),
    (li.check_attention_pattern, attention_tril_alternative, True),
    *mutation_cases(
        li.check_word_occlusion,
        li_ref.reference_word_occlusion,
        [occlusion_cumulative, occlusion_sign_flipped, occlusion_absolute, occlusion_off_by_one,
         occlusion_ignores_fill, occlusion_in_place, occlusion_mean_over_notes],
    ),
    (li.check_word_occlusion, occlusion_where_alternative, True),
]  # fmt: skip


@pytest.mark.parametrize(("checker", "function", "accept"), CASES, ids=case_id)
def test_checker(checker, function, accept, capsys):
    run_case(checker, function, accept, capsys)


@pytest.mark.parametrize(
    "answer",
    [None, "attention occlusion probe patch", "Attention. Occlusion. Probe. Patch. " * 20, GOOD_6[:200]],
)
def test_written_answer_6_rejects_incomplete_answers(answer, capsys):
    with pytest.raises(AssertionError):
        li.check_answer_6(answer)


def test_written_answer_6_accepts_a_complete_answer(capsys):
    li.check_answer_6(GOOD_6)
    assert "passed" in capsys.readouterr().out


GOOD_7 = (
    "Patching the allergen swap recovers 1.00 at layer 0 and about 0 at position 6 before layer 1, so the "
    "information has left the allergen's position; at the drug and query positions it recovers 0.39 and "
    "0.32, neither enough alone. The probe reads the class at 0.86 against a control of 0.63 to 0.76, a "
    "selectivity of about 0.17. With 14 % errors a monitor would raise a false alarm for about one note in "
    "seven. I would trust it only after a causal test: steering along the probe direction must change the "
    "answer."
)


@pytest.mark.parametrize(
    "answer",
    [None, 42, GOOD_7[:250], GOOD_7.replace("Patching the allergen swap recovers", "Layer 0 gives")
     .replace("it recovers", "it gives"), GOOD_7.replace("a control of", "chance levels of")
     .replace("a selectivity of", "a margin of"), GOOD_7.replace("a false alarm", "a wrong signal"),
     GOOD_7.replace("a causal test: steering along the probe direction must change the answer",
                    "a longer study on more notes"), "patch control alarm steer. " * 20],
    ids=["none", "number", "short", "no-patching", "no-control", "no-alarm", "no-causal-test", "keywords"],
)
def test_written_answer_7_rejects_incomplete_answers(answer, capsys):
    with pytest.raises(AssertionError):
        li.check_answer_7(answer)
    assert "passed" not in capsys.readouterr().out


def test_written_answer_7_accepts_a_complete_answer(capsys):
    li.check_answer_7(GOOD_7)
    assert "passed" in capsys.readouterr().out


def test_reference_patching_matches_the_library():
    model, clean, corrupt = li._model_and_pairs()
    grid = li._tl_patching_grid()
    assert abs(grid[0, 6] - 1) < 1e-4 and abs(grid[1, 6]) < 0.05 and grid[1, 16] > 0.2
    assert abs(li_ref.reference_patch_resid_pre(model, clean, corrupt, 1, 16) - grid[1, 16]) < 1e-4
    assert sum(len(m._forward_hooks) for m in model.modules()) == 0


def test_each_checker_first_call_is_under_two_seconds():
    """DESIGN §9: a check cell takes <= 2 s. First call of each checker (its own data and references
    built from scratch), with the lab's model passed in (as the lab does) and 1 BLAS / torch thread.
    CPU time of this process is asserted (wall time on a shared, loaded machine can be several times it)."""
    import time

    from threadpoolctl import threadpool_limits

    model = li._model_and_pairs()[0]  # the lab has its model already; loading is not part of a check cell
    li._pairs.cache_clear()
    calls = [(li.check_probe_selectivity, (li_ref.reference_probe_selectivity,), {}),
             (li.check_patch_resid_pre, (li_ref.reference_patch_resid_pre,), {"model": model}),
             (li.check_ov_readout, (li_ref.reference_ov_readout,), {"model": model}),
             (li.check_attention_pattern, (li_ref.reference_attention_pattern,), {"model": model}),
             (li.check_word_occlusion, (li_ref.reference_word_occlusion,), {"model": model}),
             (li.check_answer_6, (GOOD_6,), {})]  # fmt: skip
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            for checker, args, kwargs in calls:
                cpu, wall = time.process_time(), time.perf_counter()
                checker(*args, **kwargs)
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                print(f"{checker.__name__}: {cpu:.2f} s CPU, {wall:.2f} s wall")
                assert cpu < 2.0, f"{checker.__name__} took {cpu:.2f} s CPU"
    finally:
        torch.set_num_threads(threads)
