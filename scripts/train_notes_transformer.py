"""Train the tiny notes transformer of module 05 and save it to ``datasets/models``.

The model (2 layers, 4 heads, d_model 64, attention only; TransformerLens 4 ``TransformerBridge.boot_native``)
reads a synthetic note up to the ":" query and is trained to predict the next token there, ``safe`` or
``avoid``: the cross-entropy is taken over the whole vocabulary but only at the query position, so the
model learns nothing but the allergy check. Training notes are drawn with ``split="train"``: a fixed fifth
of the (cue, allergen, drug) combinations is never shown (``xaihealth.data.notes.in_heldout``). The model is
evaluated on ``split="heldout"`` notes (none of which can occur verbatim in training; the measured verbatim
overlap is stored as a metric), on the hard subset there (negated allergy with a same-class drug), on
fresh notes of the training combinations, and on held-out clean/corrupted patching pairs of the three
kinds (allergen, negation and drug swaps).

    python scripts/train_notes_transformer.py            # full run (about 1 min of CPU on one core)
    python scripts/train_notes_transformer.py --quick --out /tmp/m   # CI smoke run (< 20 s)
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from transformer_lens.model_bridge import TransformerBridge

from xaihealth.checkpoints import models_dir, save_checkpoint
from xaihealth.data.notes import PAIR_KINDS, POSITIONS, in_heldout, make_notes, make_patching_pairs
from xaihealth.models.notes_transformer import (
    NAME,
    QUERY_POSITION,
    answer_logits,
    build_notes_transformer,
    notes_transformer_config,
    predict_avoid,
)

TRAIN_SEED, TEST_SEED, PAIRS_SEED, TORCH_SEED = 0, 1, 2, 0
QUICK = {"n_train": 2000, "n_test": 1000, "n_pairs": 200, "steps": 60, "batch": 64, "lr": 3e-3}
FULL = {"n_train": 20000, "n_test": 5000, "n_pairs": 1000, "steps": 800, "batch": 256, "lr": 3e-3}


def _batches(n: int, batch: int, steps: int, seed: int) -> torch.Tensor:
    """Indices of ``steps`` minibatches: shuffled epochs, so each note is seen equally often."""
    g = torch.Generator().manual_seed(seed)
    need = steps * batch
    perms = [torch.randperm(n, generator=g) for _ in range(-(-need // n))]
    return torch.cat(perms)[:need].view(steps, batch)


def train(
    *, n_train: int, n_test: int, n_pairs: int, steps: int, batch: int, lr: float, log: bool = True
) -> tuple[TransformerBridge, dict[str, float]]:
    """Train from scratch with fixed seeds; return the model (eval mode) and its test metrics."""
    random.seed(TORCH_SEED)
    np.random.seed(TORCH_SEED)
    torch.manual_seed(TORCH_SEED)
    model = build_notes_transformer(notes_transformer_config())
    train_set = make_notes(n_train, TRAIN_SEED, split="train")
    x = torch.from_numpy(train_set.tokens[:, : POSITIONS["answer"]])
    y = torch.from_numpy(train_set.tokens[:, POSITIONS["answer"]])

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.01, betas=(0.9, 0.98))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.1)
    model.train()
    start = time.perf_counter()
    for step, idx in enumerate(_batches(len(x), batch, steps, TORCH_SEED)):
        logits = model(x[idx])[:, QUERY_POSITION]
        loss = F.cross_entropy(logits, y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        if log and (step % 100 == 0 or step == steps - 1):
            print(f"step {step:4d}  loss {loss.item():.4f}", flush=True)
    seconds = time.perf_counter() - start
    model.eval()

    test = make_notes(n_test, TEST_SEED, split="heldout")
    seen = {row.tobytes() for row in train_set.tokens}
    overlap = float(np.mean([row.tobytes() in seen for row in test.tokens]))
    fresh_train_combos = make_notes(n_test, TEST_SEED, split="train")
    overlap_train_combos = float(np.mean([row.tobytes() in seen for row in fresh_train_combos.tokens]))
    pred = predict_avoid(model, test.tokens)
    negated = test.concepts["negation"][:, POSITIONS["cue_det"]] == 1
    same_class = (
        test.concepts["drug_class"][:, POSITIONS["allergen"]]
        == test.concepts["drug_class"][:, POSITIONS["prescribed"]]
    )
    hard = negated & same_class
    with torch.no_grad():
        full_logits = model(torch.from_numpy(test.tokens[:, : POSITIONS["answer"]]))[:, QUERY_POSITION]
        test_loss = F.cross_entropy(full_logits, torch.from_numpy(test.tokens[:, POSITIONS["answer"]])).item()
        top1 = (full_logits.argmax(-1).numpy() == test.tokens[:, POSITIONS["answer"]]).mean()
    margin = answer_logits(model, test.tokens)
    signed = (margin[:, 1] - margin[:, 0]) * torch.from_numpy(2 * test.labels - 1)

    train_pred = predict_avoid(model, train_set.tokens[:2000])
    fresh_pred = predict_avoid(model, fresh_train_combos.tokens)
    metrics = {
        "test_accuracy": float((pred == test.labels).mean()),
        "test_accuracy_negated_same_class": float((pred[hard] == test.labels[hard]).mean()),
        "test_top1_full_vocab": float(top1),
        "test_loss": test_loss,
        "test_min_margin": float(signed.min()),
        "test_mean_margin": float(signed.mean()),
        "test_in_heldout": float(in_heldout(test.tokens).mean()),
        "test_verbatim_in_train": overlap,
        "fresh_train_combos_accuracy": float((fresh_pred == fresh_train_combos.labels).mean()),
        "fresh_train_combos_verbatim_in_train": overlap_train_combos,
        "train_accuracy": float((train_pred == train_set.labels[:2000]).mean()),
        "n_test": float(n_test),
        "steps": float(steps),
    }
    for kind in PAIR_KINDS:
        pairs = make_patching_pairs(n_pairs, PAIRS_SEED, kind=kind, split="heldout")
        clean = answer_logits(model, pairs.clean_tokens)
        corrupt = answer_logits(model, pairs.corrupt_tokens)
        metrics[f"pairs_{kind}_clean_accuracy"] = float((clean[:, 1] > clean[:, 0]).float().mean())
        metrics[f"pairs_{kind}_corrupt_accuracy"] = float((corrupt[:, 0] > corrupt[:, 1]).float().mean())
        metrics[f"pairs_{kind}_clean_logit_diff"] = float((clean[:, 1] - clean[:, 0]).mean())
        metrics[f"pairs_{kind}_corrupt_logit_diff"] = float((corrupt[:, 1] - corrupt[:, 0]).mean())
    if log:
        print(f"trained {steps} steps in {seconds:.1f} s ({steps * batch / seconds:,.0f} notes/s)")
    return model, metrics


def main(argv: Sequence[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny data and few steps (CI smoke run)")
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: datasets/models)")
    parser.add_argument("--threads", type=int, default=1, choices=(1, 2), help="torch threads")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    settings = QUICK if args.quick else FULL
    model, metrics = train(**settings, log=not args.quick)
    command = "python scripts/train_notes_transformer.py" + (" --quick" if args.quick else "")
    command += f" --threads {args.threads}" if args.threads != 1 else ""
    path = save_checkpoint(
        NAME,
        model.state_dict(),
        command=command,
        data_seed=TRAIN_SEED,
        metrics=metrics,
        config={
            **notes_transformer_config(),
            "training": {
                **settings,
                "test_seed": TEST_SEED,
                "pairs_seed": PAIRS_SEED,
                "threads": args.threads,
                "train_split": "train",
                "test_split": "heldout",
            },  # fmt: skip
        },
        folder=args.out or models_dir(),
    )
    print(f"saved {path}")
    for key, value in metrics.items():
        print(f"  {key}: {value:.4f}")
    return path


if __name__ == "__main__":
    main(sys.argv[1:])
