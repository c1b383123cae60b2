"""Checkers for lab 05, *Inside a clinical language model*.

Exercise 1 (linear probe with a Hewitt & Liang control task) is graded on planted activations whose
answer is known: word identities that any probe can memorise, a concept with no identity information,
and pure noise. Exercise 2 (activation patching by hooks) is compared with ``transformer_lens.patching``
on the shipped notes transformer. Exercise 3 (OV read-out) is compared with the weights' ``OV``
``FactoredMatrix``. References live here; hints never print the solution.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache

import numpy as np
from sklearn.linear_model import LogisticRegression

from xaihealth.checks._core import describe, exercise

# ---------------------------------------------------------------------------------------------- references


def reference_probe_selectivity(acts_train, y_train, types_train, acts_test, y_test, types_test, seed=0):
    rng = np.random.default_rng(seed)
    labels = np.unique(y_train)
    uniq = np.unique(np.concatenate([types_train, types_test]))
    control = dict(zip(uniq.tolist(), rng.choice(labels, size=len(uniq)).tolist(), strict=True))
    c_train = np.array([control[t] for t in np.asarray(types_train).tolist()])
    c_test = np.array([control[t] for t in np.asarray(types_test).tolist()])

    def fit_score(y_tr, y_te):
        if len(np.unique(y_tr)) < 2:
            return float(np.mean(y_te == y_tr[0]))
        return LogisticRegression(max_iter=2000).fit(acts_train, y_tr).score(acts_test, y_te)

    accuracy, control_accuracy = fit_score(y_train, y_test), fit_score(c_train, c_test)
    return {"accuracy": accuracy, "control": control_accuracy, "selectivity": accuracy - control_accuracy}


def _answer_ids():
    from xaihealth.data.notes import NotesTokenizer

    tok = NotesTokenizer()
    return tok.token_id("avoid"), tok.token_id("safe")


def reference_patch_resid_pre(model, clean, corrupt, layer, position):
    avoid, safe = _answer_ids()

    def ld(logits):
        return (logits[:, -1, avoid] - logits[:, -1, safe]).mean().item()

    name = f"blocks.{layer}.hook_resid_pre"
    clean_logits, clean_cache = model.run_with_cache(clean, names_filter=name)
    corrupt_ld = ld(model(corrupt))

    def hook(act, hook):
        act[:, position] = clean_cache[name][:, position]
        return act

    patched = model.run_with_hooks(corrupt, fwd_hooks=[(name, hook)])
    return (ld(patched) - corrupt_ld) / (ld(clean_logits) - corrupt_ld)


def reference_ov_readout(model, layer, head, x):
    return x @ model.W_V[layer, head] @ model.W_O[layer, head]


# ---------------------------------------------------------------------------------------- planted data


def _planted_probe_data(kind: str, seed: int = 3):
    """Activations (n, d), concept labels, word types; 20 types, concept = type % 4."""
    rng = np.random.default_rng(seed)
    n_types, d = 20, 32
    if kind == "noise":
        x = rng.normal(size=(180, 60))
        types = rng.integers(0, n_types, 180)
        y = rng.integers(0, 2, 180)
        return x[:120], y[:120], types[:120], x[120:], y[120:], types[120:]
    types = np.tile(np.arange(n_types), 30)
    rng.shuffle(types)
    y = types % 4
    if kind == "identity":  # each word has its own random vector: any partition is learnable
        centres = rng.normal(size=(n_types, d)) * 3
        x = centres[types]
    else:  # "concept": only the class is written, the word identity is not
        centres = rng.normal(size=(4, d)) * 3
        x = centres[y]
    x = x + rng.normal(size=x.shape) * 0.5
    cut = 400
    return x[:cut], y[:cut], types[:cut], x[cut:], y[cut:], types[cut:]


@lru_cache(maxsize=1)
def _model_and_pairs():
    import torch

    from xaihealth.data.notes import make_patching_pairs
    from xaihealth.models.notes_transformer import load_notes_transformer

    model = load_notes_transformer()
    model.requires_grad_(False)  # the checker only reads the model; no global grad switch (it would leak)
    pairs = make_patching_pairs(32, seed=11)
    return model, torch.from_numpy(pairs.clean_tokens), torch.from_numpy(pairs.corrupt_tokens)


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
    with exercise("Exercise 1 (linear probe with a control task)") as ex:
        out = {}
        for kind in ("identity", "concept", "noise"):
            res = ex.call(probe_selectivity, *_planted_probe_data(kind), seed=0)
            keys = ("accuracy", "control", "selectivity")
            ex.returns(res, dict, "a dict with the keys 'accuracy', 'control' and 'selectivity'", keys=keys)
            out[kind] = {k: _as_float(res[k]) for k in ("accuracy", "control", "selectivity")}
        for kind, res in out.items():
            ex.expect(
                abs(res["selectivity"] - (res["accuracy"] - res["control"])) < 1e-9,
                f"selectivity must be accuracy − control (a difference of test accuracies); on the {kind!r} "
                f"data you returned {res}",
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
            out["identity"]["control"] > 0.85,
            f"control accuracy {out['identity']['control']:.2f} where every word has its own vector: "
            "give each word TYPE one random label (the same label every time the word occurs), do not "
            "shuffle the labels sample by sample",
        )


def check_patch_resid_pre(patch_resid_pre: Callable) -> None:
    """Exercise 2: hand-written residual-stream patching agrees with transformer_lens.patching."""
    model, clean, corrupt = _model_and_pairs()
    grid = _tl_patching_grid()

    def hint(got: object, want: float) -> str:
        value = _as_float(got)
        if np.isnan(value):
            return f"return one number, the recovery (yours: {describe(got)})"
        return (
            f"your recovery is {value:.3f}; transformer_lens.patching disagrees. Check that you patch the "
            "clean activation of THAT hook (blocks.<layer>.hook_resid_pre, not resid_post) at THAT position "
            "only, and that the recovery is (patched − corrupted) / (clean − corrupted) on the mean logit "
            "difference avoid − safe"
        )

    with exercise("Exercise 2 (activation patching by hooks)") as ex:
        ex.over(
            patch_resid_pre,
            model,
            clean,
            corrupt,
            cases=[{"layer": a, "position": b} for a, b in ((0, 6), (0, 3), (1, 6), (1, 16), (1, 15))],
            reference=lambda model, clean, corrupt, layer, position: float(grid[layer, position]),
            compare=lambda got, want: abs(_as_float(got) - want) < 1e-3,  # False for NaN
            hint=hint,
        )


def check_ov_readout(ov_readout: Callable) -> None:
    """Exercise 3: a head's OV read-out equals x @ W_V @ W_O (the OV FactoredMatrix), no biases."""
    import torch

    model, _, _ = _model_and_pairs()
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
