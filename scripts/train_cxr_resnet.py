"""Train the three radiograph CNNs of module 04 and record them in the checkpoint manifest.

- ``cxr_shortcut``: trained on ``standard_splits()["train"]``, where the "L" hospital marker is a strong
  shortcut (marker-label correlation 0.9);
- ``cxr_control``: the same recipe on data whose marker is uninformative (correlation 0);
- ``cxr_shuffled``: the shortcut training images with randomly permuted labels, for the
  data-randomisation sanity check of Adebayo et al. (2018, NeurIPS). As in the paper, this model must
  *memorise* the permuted labels: it trains for ``SHUFFLED_EPOCHS`` (50) epochs instead of 3, and its
  manifest entry records ``train_accuracy``, its accuracy on its own (permuted) training labels.

Each model is evaluated on ``test_id`` (correlation 0.9, new seed) and ``test_shifted`` (correlation 0):
accuracy and AUC on both, and ``marker_effect``, the mean rise in P(pneumonia) that the marker causes on
``test_shifted`` images that carry it (prediction with the marker minus prediction on the same image
rendered without it). The shortcut model should lose accuracy on ``test_shifted``; the control should not.

Usage::

    python scripts/train_cxr_resnet.py            # full run, writes datasets/models/cxr_*.safetensors
    python scripts/train_cxr_resnet.py --quick --out /tmp/models   # tiny run for the tests
    python scripts/train_cxr_resnet.py --only cxr_shuffled        # retrain one model (others untouched)

One epoch of 2000 images takes about 8 s on one CPU thread, so the shuffled model takes about 7 minutes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from xaihealth.checkpoints import models_dir, save_checkpoint
from xaihealth.data.cxr import CXRSet, make_chest_xrays, split_seed, standard_splits
from xaihealth.models.cxr_resnet import DEFAULT_CONFIG, build_cxr_resnet, predict_proba

DATA_SEED = 0
TRAIN_SEEDS = {"cxr_shortcut": 1, "cxr_control": 2, "cxr_shuffled": 3}
CONTROL_SEED_OFFSET = 10_000  # the control's training images come from split_seed(DATA_SEED + offset)
FULL = {"n_train": 2000, "n_test": 1000, "epochs": 3}
QUICK = {"n_train": 128, "n_test": 64, "epochs": 1}
SHUFFLED_EPOCHS = {"full": 50, "quick": 2}  # memorising permuted labels takes many more epochs


def train(
    data: CXRSet, labels: np.ndarray, *, seed: int, epochs: int, batch_size: int = 64, lr: float = 3e-3
) -> nn.Module:
    """Train a fresh :class:`CXRResNet` with AdamW and a one-cycle schedule (warm-up, then cosine decay)."""
    torch.manual_seed(seed)
    model = build_cxr_resnet(DEFAULT_CONFIG)
    x = torch.from_numpy(data.images)
    y = torch.from_numpy(labels.astype(np.int64))
    steps = epochs * ((len(x) + batch_size - 1) // batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    gen = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(epochs):
        order = torch.randperm(len(x), generator=gen)
        for start in range(0, len(x), batch_size):
            idx = order[start : start + batch_size]
            loss = nn.functional.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def evaluate(model: nn.Module, tests: dict[str, CXRSet], no_marker: CXRSet) -> dict[str, float]:
    """Accuracy and AUC on each test split, and the marker effect on ``test_shifted``."""
    metrics: dict[str, float] = {}
    for split, data in tests.items():
        prob = predict_proba(model, data.images).numpy()
        metrics[f"{split}_accuracy"] = float(np.mean((prob > 0.5) == (data.labels == 1)))
        metrics[f"{split}_auc"] = float(roc_auc_score(data.labels, prob))
    shifted = tests["test_shifted"]
    with_marker = shifted.has_marker == 1
    p_with = predict_proba(model, shifted.images[with_marker]).numpy()
    p_without = predict_proba(model, no_marker.images[with_marker]).numpy()
    metrics["marker_effect"] = float(np.mean(p_with - p_without))
    return metrics


def main(argv: list[str] | None = None) -> dict[str, dict[str, float]]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick", action="store_true", help="tiny data and one epoch (a few seconds), for CI"
    )
    parser.add_argument("--out", type=Path, default=None, help="output folder (default: datasets/models)")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 or 2)")
    parser.add_argument(
        "--only", choices=sorted(TRAIN_SEEDS), action="append", default=None,
        help="train only this model (repeatable); the other checkpoints are left as they are",
    )  # fmt: skip
    args = parser.parse_args(argv)
    out = args.out if args.out is not None else models_dir()
    plan = QUICK if args.quick else FULL
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)
    np.random.seed(DATA_SEED)

    t0 = time.perf_counter()
    splits = standard_splits(DATA_SEED, n_train=plan["n_train"], n_test=plan["n_test"])
    tests = {"test_id": splits["test_id"], "test_shifted": splits["test_shifted"]}
    no_marker = make_chest_xrays(
        plan["n_test"], split_seed(DATA_SEED, "test_shifted"), marker_correlation=0.0, render_markers=False
    )
    control = make_chest_xrays(
        plan["n_train"], split_seed(DATA_SEED + CONTROL_SEED_OFFSET, "train"), marker_correlation=0.0
    )
    shortcut = splits["train"]
    shuffled_labels = np.random.default_rng(TRAIN_SEEDS["cxr_shuffled"]).permutation(shortcut.labels)
    runs = {
        "cxr_shortcut": (shortcut, shortcut.labels, "standard_splits()['train'], marker correlation 0.9"),
        "cxr_control": (control, control.labels, "marker correlation 0 (seed offset 10000)"),
        "cxr_shuffled": (shortcut, shuffled_labels, "standard_splits()['train'] with permuted labels"),
    }
    command = "python scripts/train_cxr_resnet.py" + (" --quick" if args.quick else "")
    results: dict[str, dict[str, float]] = {}
    for name, (data, labels, description) in runs.items():
        if args.only and name not in args.only:
            continue
        epochs = plan["epochs"]
        if name == "cxr_shuffled":
            epochs = SHUFFLED_EPOCHS["quick" if args.quick else "full"]
        model = train(data, labels, seed=TRAIN_SEEDS[name], epochs=epochs)
        metrics = evaluate(model, tests, no_marker)
        if name == "cxr_shuffled":  # memorisation of the permuted labels (Adebayo et al. report > 95 %)
            fit = predict_proba(model, data.images).numpy() > 0.5
            metrics["train_accuracy"] = float(np.mean(fit == (labels == 1)))
        config = {
            "arch": "cxr_resnet",
            **DEFAULT_CONFIG,
            "image_size": data.size,
            "training_data": description,
            "n_train": plan["n_train"],
            "n_test": plan["n_test"],
            "epochs": epochs,
            "train_seed": TRAIN_SEEDS[name],
        }
        save_checkpoint(
            name, model.state_dict(), command=command, data_seed=DATA_SEED, metrics=metrics, config=config,
            folder=out,
        )  # fmt: skip
        results[name] = metrics
        summary = ", ".join(f"{k}={v:.3f}" for k, v in metrics.items())
        print(f"{name}: {summary} ({time.perf_counter() - t0:.0f} s)", flush=True)
    return results


if __name__ == "__main__":
    main(sys.argv[1:])
