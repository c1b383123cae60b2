"""Train the ECG Concept Bottleneck Models (Koh et al., 2020) and save checkpoints ``ecg_cbm_<mode>``.

Same data as the baseline CNN (``scripts/train_ecg_cnn.py``): synthetic ECGs from
:func:`xaihealth.data.make_ecgs` (10 s, 250 Hz, lead II), training seed 101, held-out seed 202. The
bottleneck holds six concepts (``xaihealth.models.ecg_cbm.CONCEPTS``: heart rate, QTc, QRS width,
T and R amplitude, and female sex), standardised with the training mean and SD. Three schemes:

- ``independent``: the encoder (trace -> concepts) is trained on the concept loss (MSE in SD units);
  the linear head is fitted on the TRUE concepts of the training records;
- ``sequential``: the same encoder; the head is fitted on the concepts the trained encoder PREDICTS;
- ``joint``: encoder and head are trained together on cross-entropy + LAMBDA x concept MSE.

The held-out metrics (accuracy and AUC for long QT, and the RMSE of each concept in its unit) go into
the manifest.

Usage::

    python scripts/train_ecg_cbm.py            # full run (about 3-4 minutes on one core)
    python scripts/train_ecg_cbm.py --quick --out /tmp/models   # seconds, for tests
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np
import torch
from sklearn.metrics import roc_auc_score
from torch import nn

from xaihealth.checkpoints import models_dir, save_checkpoint
from xaihealth.data.ecg import make_ecgs
from xaihealth.models.ecg_cbm import CLASSES, CONCEPTS, ECGCBM, MODES, concept_table

TRAIN_SEED = 101  # data seed of the training records (as for the baseline CNN)
TEST_SEED = 202  # data seed of the held-out test records
TORCH_SEED = 0
LAMBDA = 1.0  # weight of the concept loss in joint training
FULL = {"n_train": 5000, "n_test": 2000, "epochs": 12, "head_epochs": 300, "batch": 64, "lr": 3e-3}
QUICK = {"n_train": 192, "n_test": 128, "epochs": 2, "head_epochs": 20, "batch": 64, "lr": 3e-3}
DATA = {"fs": 250, "duration": 10.0, "leads": 1, "label": "long_qt"}


def _tensors(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Signals, true concepts (in units) and labels of ``n`` records of seed ``seed``."""
    ecgs = make_ecgs(n, seed, fs=DATA["fs"], duration=DATA["duration"], leads=DATA["leads"])
    x = torch.from_numpy(ecgs.signals)
    c = torch.from_numpy(concept_table(ecgs.concepts, CONCEPTS))
    y = torch.from_numpy(ecgs.labels[DATA["label"]].to_numpy().copy())
    return x, c, y


def _fit_net(model: ECGCBM, x, z, y, *, epochs: int, batch: int, lr: float, joint: bool) -> None:
    """Train the encoder (concept MSE) or, if ``joint``, encoder + head (cross-entropy + LAMBDA x MSE)."""
    params = list(model.parameters()) if joint else [
        p for n, p in model.named_parameters() if not n.startswith("head.")
    ]  # fmt: skip
    n = len(x)
    steps = epochs * ((n + batch - 1) // batch)
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    ce, mse = nn.CrossEntropyLoss(), nn.MSELoss()
    order = torch.Generator().manual_seed(TORCH_SEED)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(n, generator=order)
        total = 0.0
        for i in range(0, n, batch):
            idx = perm[i : i + batch]
            opt.zero_grad()
            z_hat = model.predict_concepts(x[idx])
            loss = LAMBDA * mse(z_hat, z[idx]) if joint else mse(z_hat, z[idx])
            if joint:
                loss = loss + ce(model.from_concepts(z_hat), y[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        print(f"  epoch {epoch + 1}/{epochs}: train loss {total / n:.4f}", flush=True)


def _fit_head(model: ECGCBM, z: torch.Tensor, y: torch.Tensor, epochs: int) -> None:
    """Fit the linear head alone (logistic regression, full batch) on standardised concepts ``z``."""
    torch.manual_seed(TORCH_SEED)
    model.head.reset_parameters()
    opt = torch.optim.LBFGS(model.head.parameters(), lr=0.5, max_iter=epochs, line_search_fn="strong_wolfe")
    loss_fn = nn.CrossEntropyLoss()
    z = z.detach()

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = loss_fn(model.head(z), y) + 1e-4 * model.head.weight.pow(2).sum()
        loss.backward()
        return loss

    opt.step(closure)


@torch.no_grad()
def _predict(model: ECGCBM, x: torch.Tensor, batch: int = 256) -> tuple[torch.Tensor, torch.Tensor]:
    model.eval()
    z = torch.cat([model.predict_concepts(x[i : i + batch]) for i in range(0, len(x), batch)])
    return z, torch.softmax(model.from_concepts(z), dim=1)[:, 1]


def evaluate(model: ECGCBM, x: torch.Tensor, c: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """Long-QT accuracy (p > 0.5), AUC, prevalence, and the RMSE of each concept in its unit."""
    z, p = _predict(model, x)
    y_np, p_np = y.numpy(), p.numpy()
    metrics = {
        "accuracy": float(((p_np > 0.5) == (y_np == 1)).mean()),
        "auc": float(roc_auc_score(y_np, p_np)),
        "prevalence": float(y_np.mean()),
        "n_test": float(len(y_np)),
    }
    err = (model.unstandardise(z) - c).numpy()
    for j, name in enumerate(model.concepts):
        metrics[f"rmse_{name}"] = float(np.sqrt((err[:, j] ** 2).mean()))
    return metrics


def train(
    n_train: int, n_test: int, epochs: int, head_epochs: int, batch: int, lr: float
) -> tuple[dict[str, ECGCBM], dict[str, dict[str, float]]]:
    """Train the three schemes on ``n_train`` records, evaluate each on ``n_test`` held-out records."""
    x_train, c_train, y_train = _tensors(n_train, TRAIN_SEED)
    x_test, c_test, y_test = _tensors(n_test, TEST_SEED)
    mean, sd = c_train.mean(0), c_train.std(0)
    z_train = (c_train - mean) / sd

    torch.manual_seed(TORCH_SEED)
    encoder = ECGCBM(CONCEPTS, in_leads=DATA["leads"])
    encoder.concept_mean.copy_(mean)
    encoder.concept_sd.copy_(sd)
    print("encoder (concept loss):", flush=True)
    _fit_net(encoder, x_train, z_train, y_train, epochs=epochs, batch=batch, lr=lr, joint=False)

    models: dict[str, ECGCBM] = {}
    models["independent"] = copy.deepcopy(encoder)
    _fit_head(models["independent"], z_train, y_train, head_epochs)
    models["sequential"] = copy.deepcopy(encoder)
    z_pred, _ = _predict(encoder, x_train)
    _fit_head(models["sequential"], z_pred, y_train, head_epochs)

    torch.manual_seed(TORCH_SEED)
    joint = ECGCBM(CONCEPTS, in_leads=DATA["leads"])
    joint.concept_mean.copy_(mean)
    joint.concept_sd.copy_(sd)
    print("joint (cross-entropy + concept loss):", flush=True)
    _fit_net(joint, x_train, z_train, y_train, epochs=epochs, batch=batch, lr=lr, joint=True)
    models["joint"] = joint

    metrics = {mode: evaluate(models[mode], x_test, c_test, y_test) for mode in MODES}
    return {m: models[m].eval() for m in MODES}, metrics


def main(argv: list[str] | None = None) -> dict[str, ECGCBM]:
    """Train, evaluate on the held-out seed, save checkpoints ``ecg_cbm_<mode>``; return the models."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="tiny data and two epochs (for tests)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the checkpoints and manifest")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (1 or 2)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    hp = QUICK if args.quick else FULL
    start = time.perf_counter()
    models, metrics = train(**hp)
    seconds = time.perf_counter() - start
    command = "python scripts/train_ecg_cbm.py" + (" --quick" if args.quick else "")
    for mode in MODES:
        m = metrics[mode]
        print(
            f"{mode}: held-out accuracy {m['accuracy']:.3f}, AUC {m['auc']:.3f}, "
            f"QTc RMSE {m['rmse_qtc']:.1f} ms ({seconds:.0f} s in all)",
            flush=True,
        )
        config = {
            **models[mode].config,
            **DATA,
            "mode": mode,
            "classes": list(CLASSES),
            "train_seed": TRAIN_SEED,
            "test_seed": TEST_SEED,
            "torch_seed": TORCH_SEED,
            "concept_loss_weight": LAMBDA,
            **hp,
        }
        path = save_checkpoint(
            f"ecg_cbm_{mode}",
            models[mode].state_dict(),
            command=command,
            data_seed=TRAIN_SEED,
            metrics=m,
            config=config,
            folder=args.out or models_dir(),
        )
        print(f"saved {path}")
    return models


if __name__ == "__main__":
    main()
