"""Hidden tests for lab 05 (probe with a control task, patching, OV read-out, attention, occlusion).

Other planted activations (seeds, another label set), other prompt pairs ("negation" twins, another seed),
other (layer, position) cells and heads, random Q and K of other shapes and the model's second layer, and
other notes, positions and fill tokens for occlusion.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
import torch

from xaihealth.checks._core import replaced
from xaihealth.checks.llm_internals import (
    _as_float,
    _forbidden,
    _leftover_hooks,
    _model_and_pairs,
    _planted_probe_data,
    _tl_hook_api,
)
from xaihealth.instructor.hidden import hidden_references
from xaihealth.instructor.integrity import exercise

refs = hidden_references("llm_internals")


@lru_cache(maxsize=1)
def _other_pairs() -> tuple[torch.Tensor, torch.Tensor]:
    from xaihealth.data.notes import make_patching_pairs

    pairs = make_patching_pairs(20, seed=23, kind="negation")
    return torch.from_numpy(pairs.clean_tokens), torch.from_numpy(pairs.corrupt_tokens)


def hidden_check_probe_selectivity(probe_selectivity: Callable) -> None:
    """Other planted seeds and the label set {2, 4, 6, 8}: the same properties as the public checker."""
    from threadpoolctl import threadpool_limits

    keys = ("accuracy", "control", "selectivity", "control_labels")
    with exercise("Exercise 1 (linear probe with a control task) (hidden tests)") as ex, threadpool_limits(1):

        def call(data, seed):
            res = ex.call(probe_selectivity, *data, seed=seed)
            ex.returns(res, dict, "a dict with the keys " + ", ".join(map(repr, keys)), keys=keys)
            ex.expect(
                abs(_as_float(res["selectivity"]) - (_as_float(res["accuracy"]) - _as_float(res["control"])))
                < 1e-9,
                "selectivity must be accuracy − control",
            )
            return {
                **{k: _as_float(res[k]) for k in keys[:3]},
                "control_labels": np.asarray(res["control_labels"]),
            }

        labels = (2, 4, 6, 8)
        identity = call(_planted_probe_data("identity", seed=8, labels=labels), 5)
        noise = call(_planted_probe_data("noise", seed=9), 6)
        ex.expect(
            identity["accuracy"] > 0.95 and identity["control"] > 0.85,
            "where every word has its own vector, the probe and the control (one label per word type) "
            "must both be learnable",
        )
        ex.expect(
            noise["accuracy"] < 0.75 and noise["control"] < 0.75,
            "on pure noise, probe and control must be scored on the held-out test activations",
        )
        concept = _planted_probe_data("concept", seed=10, labels=labels)
        runs = [call(concept, s) for s in (5, 6, 7, 8)]
        for r in runs:
            ex.expect(
                all(
                    len(set(r["control_labels"][concept[5] == t].tolist())) == 1
                    for t in np.unique(concept[5])
                ),
                "every occurrence of a word type must get the same control label",
            )
        again = call(concept, 5)
        ex.expect(
            np.array_equal(again["control_labels"], runs[0]["control_labels"]),
            "two calls with seed=5 gave different control labels: draw them with default_rng(seed)",
        )
        ex.expect(
            len({tuple(r["control_labels"].tolist()) for r in runs}) > 1,
            "your control labels do not change with the seed (seeds 5..8)",
        )
        used = set(np.concatenate([r["control_labels"] for r in runs]).tolist())
        ex.expect(
            used == set(labels),
            f"with the labels {list(labels)} your control labels (seeds 5..8) take "
            f"the values {sorted(used)}: draw from the concept's own labels",
        )
        ex.expect(
            np.mean([r["control"] for r in runs]) < 0.6 and min(r["accuracy"] for r in runs) > 0.95,
            "on a 4-class concept the probe must be near 1 and the control near 0.25-0.4",
        )


def hidden_check_patch_resid_pre(patch_resid_pre: Callable, model=None) -> None:
    """Negation pairs (another seed) at other (layer, position) cells; both recoveries accepted."""
    model, _, _ = _model_and_pairs(model)
    clean, corrupt = _other_pairs()
    cells = ((0, 1), (0, 16), (1, 4), (1, 12))
    with torch.no_grad():
        want = {
            c: (
                refs.reference_patch_resid_pre(model, clean, corrupt, *c),
                refs.reference_patch_resid_pre(model, clean, corrupt, *c, per_pair=True),
            )
            for c in cells
        }
    with exercise("Exercise 2 (activation patching with raw PyTorch hooks) (hidden tests)") as ex:
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
                    compare=lambda got, want: min(abs(_as_float(got) - w) for w in want) < 1e-3,
                    hint="on other prompt pairs (negation twins) your recovery differs from the lab's",
                )
        finally:
            left = _leftover_hooks(model) - before
            if left:
                for m in model.modules():
                    m._forward_hooks.clear()
        ex.expect(left == 0, f"{left} forward hook(s) were still attached after your function returned")


def hidden_check_ov_readout(ov_readout: Callable, model=None) -> None:
    """Other heads (0, 3) and (1, 0), another batch of residual vectors."""
    model, _, _ = _model_and_pairs(model)
    x = torch.randn(4, model.cfg.d_model, generator=torch.Generator().manual_seed(31)) * 2
    with exercise("Exercise 3 (OV-circuit read-out) (hidden tests)") as ex:
        for layer, head in ((0, 3), (1, 0)):
            out = ex.call(ov_readout, model, layer, head, x.clone())
            ex.returns(out, torch.Tensor, "a tensor of shape (n, d_model)")
            ex.expect(
                tuple(out.shape) == tuple(x.shape)
                and torch.allclose(out, x @ model.OV[layer, head].AB, atol=1e-4),
                f"layer {layer} head {head}: your read-out differs from x @ W_V @ W_O",
            )


def hidden_check_attention_pattern(attention_pattern: Callable, model=None) -> None:
    """Random Q, K of other shapes (d_head 4 and 16, 5 and 11 positions) and layer 1 on other notes."""
    model, _, _ = _model_and_pairs(model)
    clean, _ = _other_pairs()
    with torch.no_grad():
        _, cache = model.run_with_cache(clean[:5])
    g = torch.Generator().manual_seed(33)
    cases = [
        (torch.randn(2, 5, 3, 4, generator=g) * 3, torch.randn(2, 5, 3, 4, generator=g) * 3),
        (torch.randn(1, 11, 1, 16, generator=g), torch.randn(1, 11, 1, 16, generator=g)),
        (cache["blocks.1.attn.hook_q"], cache["blocks.1.attn.hook_k"]),
    ]

    def no_sdpa(*args, **kwargs):
        raise RuntimeError("scaled_dot_product_attention is switched off: build the pattern yourself")

    sdpa = [(torch.nn.functional, "scaled_dot_product_attention")]
    with exercise("Exercise 4 (attention from Q and K with the causal mask) (hidden tests)") as ex:
        for q, k in cases:
            with replaced(sdpa, no_sdpa):
                out = ex.call(attention_pattern, q.clone(), k.clone())
            ex.returns(out, torch.Tensor, "a tensor of shape (n, head, query position, key position)")
            want = refs.reference_attention_pattern(q, k)
            ex.expect(
                tuple(out.shape) == tuple(want.shape) and torch.allclose(out, want, atol=1e-4),
                f"for Q of shape {tuple(q.shape)} your pattern differs from the causal softmax(QKᵀ/√d_head)",
            )
        ex.expect(
            torch.allclose(out, cache["blocks.1.attn.hook_pattern"], atol=1e-4),
            "your pattern differs from the model's own blocks.1.attn.hook_pattern",
        )


def hidden_check_word_occlusion(word_occlusion: Callable, model=None) -> None:
    """Other notes (negation pairs), other positions and fill tokens."""
    from xaihealth.data.notes import NotesTokenizer

    model, _, _ = _model_and_pairs(model)
    clean, corrupt = _other_pairs()
    tok = NotesTokenizer()
    tokens = torch.cat([clean[:4], corrupt[4:8]])
    with exercise("Exercise 5 (word occlusion on a note) (hidden tests)") as ex:
        for positions, fill in (([0, 4, 12], tok.token_id("safe")), ([16, 5], tok.pad_id)):
            original = tokens.clone()
            out = ex.call(word_occlusion, model, tokens, list(positions), fill)
            ex.expect(torch.equal(tokens, original), "your function changed the tokens it was given")
            arr = np.asarray(out.detach().numpy() if isinstance(out, torch.Tensor) else out, dtype=float)
            want = refs.reference_word_occlusion(model, tokens, positions, fill)
            ex.expect(
                arr.shape == want.shape and np.allclose(arr, want, atol=1e-3),
                f"positions {positions}, fill token {fill}, other notes: your occlusion effects differ",
            )
