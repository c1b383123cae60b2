"""Train the ECG 1-D CNN (long QT from the raw trace) and save it as checkpoint ``ecg_cnn``.

Data: synthetic ECGs from :func:`xaihealth.data.make_ecgs` (10 s, 250 Hz, lead II) with the default,
overlapping concept distributions. Training and test records come from different seeds, so the test set
is held out. The label ``long_qt`` depends on the patient's sex, which the trace does not show, so no
model can be perfect on records with a QTc between 450 and 470 ms.

Usage::

    python scripts/train_ecg_cnn.py            # full run (about 1-2 minutes on one core)
    python scripts/train_ecg_cnn.py --quick --out /tmp/models   # seconds, for tests
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from xaihealth.checkpoints import models_dir, save_checkpoint
from xaihealth.data.ecg import make_ecgs
from xaihealth.models.ecg_cnn import CLASSES, ECGCNN

NAME = "ecg_cnn"
TRAIN_SEED = 101  # data seed of the training records
TEST_SEED = 202  # data seed of the held-out test records
TORCH_SEED = 0
FULL = {"n_train": 5000, "n_test": 2000, "epochs": 10, "batch": 64, "lr": 3e-3}
QUICK = {"n_train": 192, "n_test": 128, "epochs": 2, "batch": 64, "lr": 3e-3}
DATA = {"fs": 250, "duration": 10.0, "leads": 1, "label": "long_qt"}


def _tensors(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    ecgs = make_ecgs(n, seed, fs=DATA["fs"], duration=DATA["duration"], leads=DATA["leads"])
    x = torch.from_numpy(ecgs.signals)
    y = torch.from_numpy(ecgs.labels[DATA["label"]].to_numpy().copy())
    return x, y


def evaluate(model: ECGCNN, x: torch.Tensor, y: torch.Tensor, batch: int = 256) -> dict[str, float]:
    """Accuracy (at probability 0.5), ROC AUC and prevalence of long QT on ``(x, y)``."""
    model.eval()
    with torch.no_grad():
        p = torch.cat([model.predict_proba(x[i : i + batch]) for i in range(0, len(x), batch)]).numpy()
    y_np = y.numpy()
    return {
        "accuracy": float(((p > 0.5) == (y_np == 1)).mean()),
        "auc": float(roc_auc_score(y_np, p)),
        "prevalence": float(y_np.mean()),
        "n_test": float(len(y_np)),
    }


def train(n_train: int, n_test: int, epochs: int, batch: int, lr: float) -> tuple[ECGCNN, dict[str, float]]:
    """Train on ``n_train`` records (seed TRAIN_SEED), evaluate on ``n_test`` (seed TEST_SEED)."""
    torch.manual_seed(TORCH_SEED)
    x_train, y_train = _tensors(n_train, TRAIN_SEED)
    x_test, y_test = _tensors(n_test, TEST_SEED)
    model = ECGCNN(in_leads=DATA["leads"])
    steps = epochs * ((n_train + batch - 1) // batch)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()
    order = torch.Generator().manual_seed(TORCH_SEED)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(n_train, generator=order)
        total = 0.0
        for i in range(0, n_train, batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            loss = loss_fn(model(x_train[idx]), y_train[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"epoch {epoch + 1}/{epochs}: train loss {total / n_train:.4f}", flush=True)
    metrics = evaluate(model, x_test, y_test)
    return model.eval(), metrics


def main(argv: list[str] | None = None) -> ECGCNN:
    """Train, evaluate on the held-out seed, save checkpoint ``ecg_cnn``; return the trained model."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny data and two epochs (for tests)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the checkpoint and manifest")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 or 2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    hp = QUICK if args.quick else FULL
    start = time.perf_counter()
    model, metrics = train(**hp)
    seconds = time.perf_counter() - start
    print(
        f"held-out: accuracy {metrics['accuracy']:.3f}, AUC {metrics['auc']:.3f} ({seconds:.0f} s)",
        flush=True,
    )
    command = "python scripts/train_ecg_cnn.py" + (" --quick" if args.quick else "")
    config = {
        **model.config,
        **DATA,
        "classes": list(CLASSES),
        "train_seed": TRAIN_SEED,
        "test_seed": TEST_SEED,
        "torch_seed": TORCH_SEED,
        **hp,
    }
    path = save_checkpoint(
        NAME,
        model.state_dict(),
        command=command,
        data_seed=TRAIN_SEED,
        metrics=metrics,
        config=config,
        folder=args.out or models_dir(),
    )
    print(f"saved {path}")
    return model


if __name__ == "__main__":
    main()
