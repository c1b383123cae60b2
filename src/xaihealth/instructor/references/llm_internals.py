"""Reference implementations for the checkers of :mod:`xaihealth.checks.llm_internals` (instructor-only).

Moved verbatim out of the module the labs import, so that student code cannot call them; the
checkers reach them only through ``xaihealth.checks._reference.references("llm_internals")``, which in a
student release replays the values these functions returned when the solutions were checked.
"""

from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression

from xaihealth.checks.llm_internals import _answer_ids


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
        return LogisticRegression(max_iter=2000, tol=1e-6).fit(acts_train, y_tr).score(acts_test, y_te)

    accuracy, control_accuracy = fit_score(y_train, y_test), fit_score(c_train, c_test)
    return {"accuracy": accuracy, "control": control_accuracy, "selectivity": accuracy - control_accuracy,
            "control_labels": c_test}


def reference_patch_resid_pre(model, clean, corrupt, layer, position, per_pair=False):
    """Raw PyTorch: one forward hook stores the clean activation, a second one pastes it in.

    The recovery is the ratio of the mean logit differences; ``per_pair=True`` returns the mean of the
    per-pair recoveries instead (the lecture's metric), which the checker accepts too.
    """
    avoid, safe = _answer_ids()

    def ld(logits):
        return logits[:, -1, avoid] - logits[:, -1, safe]

    point = model.blocks[layer].hook_resid_pre
    stored = {}
    handle = point.register_forward_hook(
        lambda module, inputs, output: stored.update(act=output.detach().clone())
    )
    try:
        clean_ld = ld(model(clean))
    finally:
        handle.remove()

    def paste(module, inputs, output):
        output = output.clone()
        output[:, position] = stored["act"][:, position]
        return output

    corrupt_ld = ld(model(corrupt))
    handle = point.register_forward_hook(paste)
    try:
        patched_ld = ld(model(corrupt))
    finally:
        handle.remove()
    if per_pair:
        return ((patched_ld - corrupt_ld) / (clean_ld - corrupt_ld)).mean().item()
    return ((patched_ld.mean() - corrupt_ld.mean()) / (clean_ld.mean() - corrupt_ld.mean())).item()


def reference_attention_pattern(q, k):
    """q, k: (n, pos, head, d_head) -> A: (n, head, query pos, key pos), causal, softmax over keys."""
    import torch

    scores = torch.einsum("nqhd,nkhd->nhqk", q, k) / q.shape[-1] ** 0.5
    n_pos = q.shape[1]
    future = torch.triu(torch.ones(n_pos, n_pos, dtype=torch.bool), diagonal=1)
    return scores.masked_fill(future, float("-inf")).softmax(dim=-1)


def reference_word_occlusion(model, tokens, positions, fill_id):
    """(n, len(positions)): logit difference of the prompt minus that with one token replaced by fill_id."""
    import torch

    avoid, safe = _answer_ids()

    def ld(t):
        with torch.no_grad():
            logits = model(t)
        return logits[:, -1, avoid] - logits[:, -1, safe]

    base = ld(tokens)
    out = []
    for p in positions:
        occluded = tokens.clone()
        occluded[:, p] = fill_id
        out.append(base - ld(occluded))
    return torch.stack(out, dim=1).numpy()


def reference_ov_readout(model, layer, head, x):
    return x @ model.W_V[layer, head] @ model.W_O[layer, head]
