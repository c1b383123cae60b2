"""Checkers for lab 05, *Inside a clinical language model*.

Exercise 1 (linear probe with a Hewitt & Liang control task) is graded on planted activations whose
answer is known: word identities that any probe can memorise, a concept with no identity information,
and pure noise (a probe scored on its own training split, or fitted on train + test, is caught there; a
binary control for a 4-class concept is caught by its control accuracy averaged over seeds). Exercise 2
(activation patching with raw PyTorch forward hooks) is compared with ``transformer_lens.patching`` on the
shipped notes transformer, with the TransformerLens hook API switched off. Exercise 3 (OV read-out) is
compared with the weights' ``OV`` ``FactoredMatrix``. Exercise 4 (attention from Q and K with the causal
mask) is compared with the model's ``hook_pattern`` and with random Q, K of another head size. Exercise 5
(word occlusion) is compared with a reference on real notes, with two fill tokens. Exercise 6 is a
written answer, checked for completeness only. The references are in
:mod:`xaihealth.instructor.references.llm_internals` (instructor-only, replayed in a student release);
hints never print the solution.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np

from xaihealth.checks._core import describe, exercise, written_answer
from xaihealth.checks._reference import references

refs = references("llm_internals")  # the reference implementations, or their replay

# ------------------------------------------------------------------------- helpers the references share


def _answer_ids():
    from xaihealth.data.notes import NotesTokenizer

    tok = NotesTokenizer()
    return tok.token_id("avoid"), tok.token_id("safe")


# ---------------------------------------------------------------------------------------- planted data


def _planted_probe_data(kind: str, seed: int = 3, labels=(0, 1, 2, 3)):
    """Activations (n, d), concept labels, word types; 20 types, concept = labels[type % 4].

    200 training and 80 test points (small, so that the checker stays well under 2 s).
    """
    rng = np.random.default_rng(seed)
    n_types, d = 20, 32
    if kind == "noise":
        x = rng.normal(size=(180, 60))
        types = rng.integers(0, n_types, 180)
        y = rng.integers(0, 2, 180)
        return x[:120], y[:120], types[:120], x[120:], y[120:], types[120:]
    types = np.tile(np.arange(n_types), 14)
    rng.shuffle(types)
    y = types % 4
    if kind == "identity":  # each word has its own random vector: any partition is learnable
        centres = rng.normal(size=(n_types, d)) * 3
        x = centres[types]
    else:  # "concept": only the class is written, the word identity is not
        centres = rng.normal(size=(4, d)) * 3
        x = centres[y]
    x = x + rng.normal(size=x.shape) * 0.5
    y = np.asarray(labels)[y]
    cut = 200
    return x[:cut], y[:cut], types[:cut], x[cut:], y[cut:], types[cut:]


@lru_cache(maxsize=1)
def _pairs():
    import torch

    from xaihealth.data.notes import make_patching_pairs

    pairs = make_patching_pairs(32, seed=11, kind="allergen")
    return torch.from_numpy(pairs.clean_tokens), torch.from_numpy(pairs.corrupt_tokens)


@lru_cache(maxsize=1)
def _own_model():
    from xaihealth.models.notes_transformer import load_notes_transformer

    model = load_notes_transformer()
    model.requires_grad_(False)  # the checker only reads the model; no global grad switch (it would leak)
    return model


def _model_and_pairs(model=None):
    """The lab's notes transformer if it is passed (loading one costs ~7 s), else the checker's own."""
    if model is None:
        model = _own_model()
    else:
        from transformer_lens.model_bridge import TransformerBridge

        if not isinstance(model, TransformerBridge):
            raise TypeError(
                f"model must be the notes transformer (a TransformerBridge), got {describe(model)}"
            )
    return (model, *_pairs())


@lru_cache(maxsize=1)
def _tl_patching_grid():
    from transformer_lens import patching

    patching.tqdm = lambda iterable, **kwargs: iterable  # quiet: no progress bar in the lab's output
    import torch

    model, clean, corrupt = _model_and_pairs()
    avoid, safe = _answer_ids()

    def ld(logits):
        return (logits[:, -1, avoid] - logits[:, -1, safe]).mean()

    with torch.no_grad():
        _, clean_cache = model.run_with_cache(clean)
        clean_ld, corrupt_ld = ld(model(clean)), ld(model(corrupt))
        grid = patching.get_act_patch_resid_pre(
            model, corrupt, clean_cache, lambda logits: (ld(logits) - corrupt_ld) / (clean_ld - corrupt_ld)
        )
    return grid.numpy()


# ---------------------------------------------------------------------------------------------- checkers


def _as_float(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def check_probe_selectivity(probe_selectivity: Callable) -> None:
    """Exercise 1: probe accuracy, control-task accuracy and selectivity on planted activations."""
    from threadpoolctl import threadpool_limits

    keys = ("accuracy", "control", "selectivity", "control_labels")
    with exercise("Exercise 1 (linear probe with a control task)") as ex, threadpool_limits(1):

        def call(data, seed):
            res = ex.call(probe_selectivity, *data, seed=seed)
            ex.returns(res, dict, "a dict with the keys " + ", ".join(repr(k) for k in keys), keys=keys)
            labels = np.asarray(res["control_labels"])
            ex.expect(
                labels.shape == np.shape(data[4]),
                "'control_labels' must hold the control label of each TEST note, shape "
                f"{np.shape(data[4])}; yours has shape {labels.shape}",
            )
            return {**{k: _as_float(res[k]) for k in keys[:3]}, "control_labels": labels}

        out = {kind: call(_planted_probe_data(kind), 0) for kind in ("identity", "concept", "noise")}
        for kind, res in out.items():
            ex.expect(
                abs(res["selectivity"] - (res["accuracy"] - res["control"])) < 1e-9,
                f"selectivity must be accuracy − control (a difference of test accuracies); on the {kind!r} "
                f"data you returned { {k: res[k] for k in keys[:3]} }",
            )
        ex.expect(
            out["noise"]["accuracy"] < 0.75,
            "on pure-noise activations your probe scores "
            f"{out['noise']['accuracy']:.2f}: it must be fitted on the training activations and scored "
            "on the held-out test activations only",
        )
        ex.expect(
            out["concept"]["accuracy"] > 0.95 and out["identity"]["accuracy"] > 0.95,
            "the probe should reach > 0.95 test accuracy on linearly separable planted concepts; fit "
            "LogisticRegression on (acts_train, y_train) and score on (acts_test, y_test)",
        )
        ex.expect(
            out["concept"]["control"] < 0.75,
            f"control accuracy {out['concept']['control']:.2f} on activations that encode only the concept: "
            "the control labels must be a RANDOM label per word type, not the concept itself",
        )
        ex.expect(
            out["noise"]["control"] < 0.75,
            f"on pure-noise activations your CONTROL probe scores {out['noise']['control']:.2f}: fit the "
            "control probe on the training activations only and score it on the test activations (not on "
            "its own training split, and not fitted on train + test)",
        )
        ex.expect(
            out["identity"]["control"] > 0.85,
            f"control accuracy {out['identity']['control']:.2f} where every word has its own vector: "
            "give each word TYPE one random label (the same label every time the word occurs), do not "
            "shuffle the labels sample by sample",
        )
        # a 4-class concept whose labels are {1, 2, 5, 7}, not 0..3: the control draws from that set
        odd = _planted_probe_data("concept", labels=(1, 2, 5, 7))
        runs = [call(odd, s) for s in (0, 1, 2, 3, 0)]
        types_test = odd[5]
        for r in runs[:4]:
            ex.expect(
                all(len(set(r["control_labels"][types_test == t].tolist())) == 1
                    for t in np.unique(types_test)),  # fmt: skip
                "every occurrence of a word type must get the SAME control label (one random label per type)",
            )
        used = set(np.concatenate([r["control_labels"] for r in runs[:4]]).tolist())
        ex.expect(
            used == {1, 2, 5, 7},
            f"for a concept with the labels [1, 2, 5, 7] your control labels (seeds 0..3) take the values "
            f"{sorted(used)}: draw each word type's control label from the concept's OWN label set "
            "(np.unique(y_train)), all of it, not from {0, 1} or range(number of labels)",
        )
        ex.expect(
            len({tuple(r["control_labels"].tolist()) for r in runs[:4]}) > 1,
            "your control labels do not change with the seed: draw them with np.random.default_rng(seed)",
        )
        ex.expect(
            np.array_equal(runs[0]["control_labels"], runs[4]["control_labels"])
            and runs[0]["control"] == runs[4]["control"],
            "two calls with seed=0 gave different control labels: draw them with "
            "np.random.default_rng(seed), not with an unseeded generator",
        )
        ex.expect(
            float(np.mean([r["control"] for r in runs[:4]])) < 0.6,
            f"averaged over seeds 0..3, your control accuracy on a 4-class concept is "
            f"{np.mean([r['control'] for r in runs[:4]]):.2f}; a control with 4 labels scores about 0.4 "
            "there",
        )


def _tl_hook_api(model):
    """The TransformerLens calls Exercise 2 forbids: (owner, attribute) pairs for :func:`replaced`.

    The model class's hook methods, the same names on the instance (in case they were bound there), and
    ``HookPoint.add_hook`` / ``add_perma_hook`` / ``hooks`` (a TransformerLens hook attached to one point).
    """
    from transformer_lens.hook_points import HookPoint

    names = ("run_with_hooks", "run_with_cache", "hooks", "add_hook", "add_perma_hook", "reset_hooks")
    targets = [(type(model), n) for n in names if hasattr(type(model), n)]
    targets += [(model, n) for n in names if n in vars(model)]
    targets += [(HookPoint, n) for n in ("add_hook", "add_perma_hook", "hooks") if hasattr(HookPoint, n)]
    return targets


def _forbidden(*args, **kwargs):
    raise RuntimeError(
        "Exercise 2 asks for raw PyTorch hooks: use module.register_forward_hook(fn) on "
        "model.blocks[layer].hook_resid_pre (and handle.remove() afterwards), not the TransformerLens "
        "hook API (run_with_hooks / run_with_cache / hooks / HookPoint.add_hook)"
    )


def _leftover_hooks(model) -> int:
    return sum(len(m._forward_hooks) for m in model.modules())


def check_patch_resid_pre(patch_resid_pre: Callable, model=None) -> None:
    """Exercise 2: residual-stream patching with raw torch forward hooks agrees with the raw reference.

    ``model``: the lab's notes transformer (else the checker loads its own, ~7 s). The reference is
    :func:`reference_patch_resid_pre` on 6 (layer, position) cells; its agreement with
    ``transformer_lens.patching.get_act_patch_resid_pre`` is a unit test. Both the ratio of mean logit
    differences and the mean of the per-pair recoveries are accepted.
    """
    import torch

    from xaihealth.checks._core import replaced

    model, clean, corrupt = _model_and_pairs(model)
    cells = ((0, 6), (0, 3), (1, 6), (1, 16), (1, 15), (1, 8))
    with torch.no_grad():
        want = {c: (refs.reference_patch_resid_pre(model, clean, corrupt, *c),
                    refs.reference_patch_resid_pre(model, clean, corrupt, *c, per_pair=True))
                for c in cells}  # fmt: skip

    def hint(got: object, want: float) -> str:
        value = _as_float(got)
        if np.isnan(value):
            return f"return one number, the recovery (yours: {describe(got)})"
        return (
            f"your recovery is {value:.3f}; the reference disagrees. Check that you patch the "
            "clean activation of THAT hook point (blocks[layer].hook_resid_pre, not hook_resid_post) at THAT "
            "position only, into the CORRUPTED run, and that the recovery is (patched − corrupted) / "
            "(clean − corrupted) on the mean logit difference avoid − safe"
        )

    with exercise("Exercise 2 (activation patching with raw PyTorch hooks)") as ex:
        before = _leftover_hooks(model)
        try:
            with replaced(_tl_hook_api(model), _forbidden):
                ex.over(
                    patch_resid_pre,
                    model,
                    clean,
                    corrupt,
                    cases=[{"layer": a, "position": b} for a, b in cells],
                    reference=lambda model, clean, corrupt, layer, position: want[layer, position],
                    compare=lambda got, want: min(abs(_as_float(got) - w) for w in want) < 1e-3,  # NaN: no
                    hint=lambda got, want: hint(got, want[0]),
                )
        finally:
            left = _leftover_hooks(model) - before
            if left:  # clean up, so that the next run starts from a bare model
                for m in model.modules():
                    m._forward_hooks.clear()
        ex.expect(
            left == 0,
            f"{left} forward hook(s) were still attached to the model after your function returned: keep "
            "the handle of register_forward_hook and call handle.remove() (in a finally: block)",
        )


def check_ov_readout(ov_readout: Callable, model=None) -> None:
    """Exercise 3: a head's OV read-out equals x @ W_V @ W_O (the OV FactoredMatrix), no biases."""
    import torch

    model, _, _ = _model_and_pairs(model)
    x = torch.randn(7, model.cfg.d_model, generator=torch.Generator().manual_seed(0))
    with exercise("Exercise 3 (OV-circuit read-out)") as ex:
        for layer, head in ((0, 1), (1, 2)):
            out = ex.call(ov_readout, model, layer, head, x)
            ex.returns(out, torch.Tensor, "a tensor of shape (n, d_model)")
            ex.expect(
                tuple(out.shape) == (7, model.cfg.d_model),
                f"return a tensor of shape (n, d_model) = (7, {model.cfg.d_model}); the OV circuit maps a "
                "residual vector back into the residual stream (through W_V, then W_O)",
            )
            expected = model.OV[layer, head].AB
            ex.expect(
                torch.allclose(out, x @ expected, atol=1e-4),
                f"layer {layer} head {head}: your read-out differs from the OV circuit. Use the value "
                "weights (not the query weights), multiply row vectors on the left (x @ W), and leave "
                "out the biases",
            )


def check_attention_pattern(attention_pattern: Callable, model=None) -> None:
    """Exercise 4: A = softmax(QKᵀ/√d_head + causal mask) over the keys, checked against the model."""
    import torch

    model, clean, _ = _model_and_pairs(model)
    with torch.no_grad():
        _, cache = model.run_with_cache(clean[:8])
    g = torch.Generator().manual_seed(5)
    random_qk = torch.randn(3, 7, 2, 9, generator=g) * 2, torch.randn(3, 7, 2, 9, generator=g) * 2
    from xaihealth.checks._core import replaced

    def no_sdpa(*args, **kwargs):
        raise RuntimeError(
            "Exercise 4 asks you to build the pattern yourself: scaled_dot_product_attention returns the "
            "heads' outputs, not A, and is switched off here; use einsum (or @), a causal mask and softmax"
        )

    sdpa = [(torch.nn.functional, "scaled_dot_product_attention")]
    with exercise("Exercise 4 (attention from Q and K with the causal mask)") as ex, replaced(sdpa, no_sdpa):
        layers = [
            (
                f"layer {layer} of the notes model",
                (cache[f"blocks.{layer}.attn.hook_q"], cache[f"blocks.{layer}.attn.hook_k"]),
            )
            for layer in (0, 1)
        ]
        layers.append(("random Q, K with d_head = 9 and 7 positions", random_qk))
        for label, (q, k) in layers:
            out = ex.call(attention_pattern, q.clone(), k.clone())
            ex.returns(out, torch.Tensor, "a tensor of shape (n, head, query position, key position)")
            want = refs.reference_attention_pattern(q, k)
            ex.expect(
                tuple(out.shape) == tuple(want.shape),
                f"{label}: return shape (n, head, query, key) = {tuple(want.shape)}; yours is "
                f"{tuple(out.shape)}",
            )
            ex.expect(
                bool(torch.isfinite(out).all()) and bool(torch.triu(out.abs(), diagonal=1).amax() < 1e-6),
                f"{label}: a query must give weight exactly 0 to later keys (the causal mask: set the "
                "scores above the diagonal to -inf BEFORE the softmax; the diagonal itself stays)",
            )
            ex.expect(
                torch.allclose(out.sum(-1), torch.ones_like(out.sum(-1)), atol=1e-4),
                f"{label}: each row (one query) must sum to 1 over the KEYS: softmax over the last axis",
            )
            ex.expect(
                torch.allclose(out, want, atol=1e-4),
                f"{label}: your pattern differs from softmax(QKᵀ/√d_head) with the causal mask. Scale by the "
                "square root of the head size (q.shape[-1]), not by a fixed number",
            )
        mine = ex.call(attention_pattern, cache["blocks.0.attn.hook_q"], cache["blocks.0.attn.hook_k"])
        ex.expect(
            torch.allclose(mine, cache["blocks.0.attn.hook_pattern"], atol=1e-4),
            "your pattern differs from the model's own blocks.0.attn.hook_pattern",
        )


def check_word_occlusion(word_occlusion: Callable, model=None) -> None:
    """Exercise 5: per note and position, logit difference of the prompt minus the occluded prompt."""
    import torch

    from xaihealth.data.notes import NotesTokenizer

    model, clean, corrupt = _model_and_pairs(model)
    tok = NotesTokenizer()
    tokens = torch.cat([clean[:6], corrupt[:6]])
    with exercise("Exercise 5 (word occlusion on a note)") as ex:
        for positions, fill in (([3, 6, 15], tok.pad_id), ([1, 2, 3, 6, 9, 15], tok.token_id("fever"))):
            original = tokens.clone()
            out = ex.call(word_occlusion, model, tokens, positions, fill)
            ex.expect(
                torch.equal(tokens, original),
                "your function changed the tokens it was given: occlude a COPY (tokens.clone())",
            )
            arr = np.asarray(out.detach().numpy() if isinstance(out, torch.Tensor) else out, dtype=float)
            want = refs.reference_word_occlusion(model, tokens, positions, fill)
            ex.expect(
                arr.shape == want.shape,
                f"return one value per note and position, shape (n, len(positions)) = {want.shape}; yours "
                f"has shape {arr.shape}",
            )
            ex.expect(
                np.allclose(arr, want, atol=1e-3),
                f"positions {positions}, fill token {fill}: your occlusion effects differ. Occlude ONE "
                "position at a time (start from the original prompt each time), replace it by fill_id, and "
                "return the original logit difference minus the occluded one (signed, per note)",
            )




def check_answer_6(answer: object) -> None:
    """Exercise 6: attention, occlusion, probing and patching in an audit; marked with the rubric."""
    with exercise("Exercise 6 (which evidence would you put in an audit?)") as ex:
        written_answer(ex, answer, "answer_6", [("attention",), ("occlusion", "occlud"), ("probe", "probing"),
                                          ("patch",)], 60)  # fmt: skip


def check_answer_7(answer: object) -> None:
    """Exercise 7: a probe as a runtime monitor, judged from the lab's patching and probe numbers."""
    with exercise("Exercise 7 (a probe as a safety monitor?)") as ex:
        topics = [("patch", "recover"), ("control", "selectiv"), ("alarm", "false"),
                  ("causal", "steer", "interven", "behaviour", "behavior")]
        written_answer(ex, answer, "answer_7", topics, 60)
