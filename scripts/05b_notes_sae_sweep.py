"""Module 05b: sparse autoencoders on the notes transformer, swept over the L1 penalty and the seed.

The lecture trains ONE SAE on the residual stream at ':' after layer 0; this script asks whether what it
finds depends on that choice. For each L1 coefficient and each initialisation seed it trains a 128-latent
SAE (the lecture's code: ``xaihealth.models.sae.train_sae``, 300 Adam steps, lr 0.03,
float64) on 2000 notes and scores it on 2000 other notes:

* held-out fraction of variance explained, L0, dead latents (zero on every held-out note);
* per concept, the held-out precision, recall and F1 of the latent chosen on the TRAINING notes;
* allergen class vs prescribed-drug class, deconfounded: "allergen is c" scored only on notes whose drug
  is not of class c, "drug is c" only on notes whose allergen is not of class c;
* the same scores for a random dictionary (the SAE at initialisation, 0 steps): runs with ``l1 = "random"``;
* stability: the mean one-to-one (Hungarian) cosine between the decoders of two seeds at the same
  penalty, next to the same score for two random dictionaries.

Run:  .venv/bin/python scripts/05b_notes_sae_sweep.py   (about 2 minutes on one core)
Writes datasets/results/05b_notes_sae_sweep.json (the command and the settings are recorded in it).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TQDM_DISABLE", "1")

import numpy as np
import torch

from xaihealth.checks.circuits_sae import (  # noqa: I001
    concept_scores,
    match_latents,
    notes_concepts,
    sae_forward,
)
from xaihealth.data.notes import POSITIONS, make_notes
from xaihealth.models.notes_transformer import load_notes_transformer
from xaihealth.models.sae import sae_metrics, train_sae

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "datasets" / "results" / "05b_notes_sae_sweep.json"


def residual(model, notes):
    _, cache = model.run_with_cache(torch.from_numpy(notes.tokens[:, : POSITIONS["answer"]]),
                                    names_filter="blocks.1.hook_resid_pre")  # fmt: skip
    return cache["blocks.1.hook_resid_pre"][:, POSITIONS["query"]]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--l1", type=float, nargs="+", default=[0.01, 0.03, 0.1])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    torch.set_grad_enabled(False)
    start = time.perf_counter()
    model = load_notes_transformer().double()
    train, test = make_notes(2000, seed=11), make_notes(2000, seed=12)
    r_train, r_test = residual(model, train), residual(model, test)
    mean, scale = r_train.mean(0), (r_train - r_train.mean(0)).norm(dim=1).mean()
    r_train, r_test = (r_train - mean) / scale, (r_test - mean) / scale
    c_train, c_test = notes_concepts(train), notes_concepts(test)
    runs = []
    settings = [*itertools.product(args.l1, range(args.seeds)), *(("random", s) for s in range(args.seeds))]
    for l1, seed in settings:  # "random": the null, a random dictionary (the SAE at initialisation)
        steps, coeff = (0, 0.0) if l1 == "random" else (300, l1)
        sae = train_sae(r_train, 128, coeff, steps=steps, lr=3e-2, seed=1000 + seed)
        h_train, _ = sae_forward(sae, r_train)
        h_test, x_hat = sae_forward(sae, r_test)
        m = sae_metrics(r_test, x_hat, h_test)
        scores = concept_scores((h_train > 0).numpy(), (h_test > 0).numpy(), c_train, c_test)
        runs.append({"l1": l1, "seed": 1000 + seed, **m, "concepts": scores, "W_dec": sae["W_dec"]})
        print(f"λ {l1!s:<6} seed {seed}: FVE {m['fve']:.3f}, L0 {m['l0']:.1f}, dead {m['dead']}", flush=True)
    stability = {}
    g = torch.Generator().manual_seed(7)
    rand = [torch.nn.functional.normalize(torch.randn(128, 64, generator=g, dtype=torch.float64), dim=1)
            for _ in range(args.seeds)]  # fmt: skip
    null = [np.nanmean(match_latents(a, b)[1]) for a, b in itertools.combinations(rand, 2)]
    for l1 in args.l1:
        decs = [r["W_dec"] for r in runs if r["l1"] == l1]
        alive = []
        for a, b in itertools.combinations(decs, 2):
            alive.append(float(np.nanmean(match_latents(a, b)[1])))
        stability[str(l1)] = alive
    for r in runs:
        del r["W_dec"]
    result = {
        "command": "python "
        + " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
        "settings": {
            "latents": 128,
            "steps": 300,
            "lr": 0.03,
            "dtype": "float64",
            "train_notes": "make_notes(2000, seed=11)",
            "test_notes": "make_notes(2000, seed=12)",
            "site": "blocks.1.hook_resid_pre at ':'",
        },  # fmt: skip
        "runs": runs,
        "stability_one_to_one_cos": stability,
        "stability_random_dictionary": [float(v) for v in null],
        "seconds": round(time.perf_counter() - start, 1),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1, default=float) + "\n", encoding="utf-8")
    print(f"wrote {args.out} in {result['seconds']} s")


if __name__ == "__main__":
    main()
