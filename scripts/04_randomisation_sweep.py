"""Module 04: the random-model floor and the independent-layer randomisation, too heavy for the lecture.

The lecture's sanity checks (section 5) compare maps of ``cxr_shortcut`` with maps of randomised or
permuted-label models. A similarity only means something next to the **floor**: the same similarity between
the maps of two fresh random initialisations. One pair of initialisations is a noisy floor (Grad-CAM's
Spearman |map| ranges from about 0.1 to 0.5 between pairs), so this script, for each base seed (the films
of the lecture at that seed: ``standard_splits(seed=derived_seed(1))``, films 4..11 of the shifted
pneumonia-with-marker films), builds ``N_INITS`` fresh initialisations (``derived_seed(70 + k)``), scores
``N_INITS // 2`` disjoint pairs, and records per (measure, method) the minimum, median and maximum over the
pairs; it also records the similarity of the shortcut model's maps to those of ``cxr_shuffled`` (the
data-randomisation test) and of ``cxr_control`` (a model trained on the true labels: a positive control
that the test must be able to fail). For the lecture's base seed 0 it also runs the independent
(one layer at a time) randomisation. The maps and measures are the lecture's (imported from this file by
nothing else: the code is repeated here on purpose, so that the lecture stays the reference).

Run from the repository root (one thread)::

    .venv/bin/python scripts/04_randomisation_sweep.py            # base seeds 0..10
"""

from __future__ import annotations

import copy
import json
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from captum.attr import (
    GuidedBackprop,
    GuidedGradCam,
    IntegratedGradients,
    LayerAttribution,
    LayerGradCam,
    Saliency,
)
from scipy.stats import spearmanr
from skimage.feature import hog
from skimage.metrics import structural_similarity

from xaihealth.checks.gradients import randomise_layer
from xaihealth.data.cxr import standard_splits
from xaihealth.models.cxr_resnet import DEFAULT_CONFIG, build_cxr_resnet, load_cxr_resnet
from xaihealth.notebook import derived_seed, setup

warnings.filterwarnings("ignore", message=".*(require gradients|backward hooks).*")
OUT = Path("datasets/results/04_randomisation.json")
BASE_SEEDS = list(range(11))
N_INITS = 10  # 5 disjoint pairs
STAGES = ["fc", "layer4", "layer3", "layer2", "layer1", "bn1", "conv1"]


def maps_for(model, xr):
    gc_map = LayerGradCam(model, model.layer4).attribute(xr, target=1, relu_attributions=True)
    out = {
        "gradient": Saliency(model).attribute(xr, target=1, abs=False),
        "IG (black)": IntegratedGradients(model).attribute(xr, target=1, n_steps=16, method="riemann_middle",
                                                           internal_batch_size=32),
        "Grad-CAM": LayerAttribution.interpolate(gc_map, (64, 64), "bilinear"),
        "Guided Backprop": GuidedBackprop(model).attribute(xr, target=1),
        "Guided Grad-CAM": GuidedGradCam(model, model.layer4).attribute(xr, target=1),
    }
    return {k: v.detach().numpy()[:, 0] for k, v in out.items()}


def _unit(p):
    p = np.abs(p)
    return p / (p.max() + 1e-12)


def _corr(p, q):
    return 0.0 if p.std() == 0 or q.std() == 0 else float(np.corrcoef(p, q)[0, 1])


def _spearman(p, q):
    return 0.0 if p.std() == 0 or q.std() == 0 else float(spearmanr(p.ravel(), q.ravel())[0])


MEASURES = {
    "Spearman |map|": lambda p, q: _spearman(np.abs(p), np.abs(q)),
    "Spearman signed": _spearman,
    "SSIM": lambda p, q: float(structural_similarity(_unit(p), _unit(q), win_size=7, data_range=1.0)),
    "HOG": lambda p, q: _corr(*(hog(_unit(m), orientations=9, pixels_per_cell=(8, 8), cells_per_block=(2, 2))
                               for m in (p, q))),
}


def similarity(a, b):
    """{measure: {method: mean over films}}."""
    return {measure: {k: float(np.mean([fn(p, q) for p, q in zip(a[k], b[k], strict=True)])) for k in a}
            for measure, fn in MEASURES.items()}


def films(seed):
    setup(seed=seed)
    splits = standard_splits(seed=derived_seed(1), n_train=1, n_test=200)
    shifted = splits["test_shifted"]
    pick = np.flatnonzero((shifted.labels == 1) & (shifted.has_marker == 1))
    return torch.tensor(shifted.images[pick[:12]])[4:12]


def main() -> None:
    start = time.time()
    models = {n: load_cxr_resnet(n) for n in ("cxr_shortcut", "cxr_control", "cxr_shuffled")}
    result = {"command": "python scripts/04_randomisation_sweep.py", "base_seeds": BASE_SEEDS,
              "n_inits": N_INITS, "init_seeds": "derived_seed(70 + k), k = 0..9, pairs (0,1), (2,3), ...",
              "films": "films 4..11 of the lecture (shifted site, pneumonia with marker)",
              "ig_steps": 16, "measures": list(MEASURES), "per_seed": {}}
    for seed in BASE_SEEDS:
        xr = films(seed)
        original = maps_for(models["cxr_shortcut"], xr)
        inits = []
        for k in range(N_INITS):
            torch.manual_seed(derived_seed(70 + k))
            inits.append(maps_for(build_cxr_resnet(DEFAULT_CONFIG).eval(), xr))
        pairs = [similarity(inits[2 * i], inits[2 * i + 1]) for i in range(N_INITS // 2)]
        floor = {}
        for m in MEASURES:
            floor[m] = {}
            for k in original:
                values = [p[m][k] for p in pairs]
                floor[m][k] = {"min": min(values), "median": float(np.median(values)), "max": max(values),
                               "pairs": values}
        entry = {"floor": floor,
                 "vs cxr_shuffled": similarity(original, maps_for(models["cxr_shuffled"], xr)),
                 "vs cxr_control": similarity(original, maps_for(models["cxr_control"], xr)),
                 "all-zero Grad-CAM films, per init": [int((np.abs(m["Grad-CAM"]).sum((1, 2)) == 0).sum())
                                                       for m in inits]}
        if seed == 0:
            independent = {}
            for stage in STAGES:
                alone = copy.deepcopy(models["cxr_shortcut"])
                randomise_layer(alone, stage)
                independent[stage] = similarity(original, maps_for(alone, xr))
            entry["independent"] = independent
        result["per_seed"][str(seed)] = entry
        print(f"seed {seed} done, {time.time() - start:.0f} s", flush=True)
    pooled = {m: {k: max(result["per_seed"][s]["floor"][m][k]["max"] for s in result["per_seed"])
                  for k in result["per_seed"]["0"]["floor"][m]} for m in MEASURES}
    result["floor_max_over_seeds"] = pooled
    result["seconds"] = round(time.time() - start, 1)
    result["python"] = sys.version.split()[0]
    OUT.write_text(json.dumps(result, indent=1))
    print(f"wrote {OUT} in {result['seconds']} s")


if __name__ == "__main__":
    main()
