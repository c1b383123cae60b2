"""Module 03: LIME's instability and kernel-width sensitivity on the UCI heart model, as the package runs it.

For 8 patients (the lecture's Swiss patient and 7 others drawn from the four sites), 5 kernel widths
(0.5, 1, the default 0.75 * sqrt(13) = 2.70, 5, 10) and 10 LIME seeds, in both of lime's modes that the
lecture uses -- quartile-discretised (the default) and continuous -- with the categorical features
declared, this script records the surrogate's R^2 and the top-5 features; it writes

* per (mode, width): the mean over patients of the pairwise top-5 Jaccard across the 10 seeds, the mean
  Jaccard between this width's and the default width's top 5 (same seed), and the mean R^2, each with a
  95 % percentile-bootstrap interval over the 8 patients;

to ``datasets/results/03_lime_stability.json``. The model is the lecture's (same base seed, the UCI matrix as
recorded, no jitter). Run from the repository root::

    .venv/bin/python scripts/03_lime_stability.py            # about 2 minutes on one core
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from pathlib import Path

import numpy as np
from lime.lime_tabular import LimeTabularExplainer
from scipy import stats
from sklearn.ensemble import GradientBoostingClassifier

from xaihealth.data import FEATURES, load_heart_disease
from xaihealth.notebook import derived_seed, setup

CATEGORICAL = ["male", "cp", "fbs", "restecg", "exang", "slope", "ca", "thal"]
WIDTHS = [0.5, 1.0, None, 5.0, 10.0]
N_SEEDS, N_SAMPLES, TOP = 10, 1000, 5
OUT = Path("datasets/results/03_lime_stability.json")


def main() -> None:
    setup(seed=0)
    start = time.perf_counter()
    heart = load_heart_disease()
    H = heart[list(FEATURES)].copy()
    for col in H.select_dtypes("category"):
        H[col] = H[col].cat.codes
    H0 = H.fillna(-1).to_numpy(float)
    model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=derived_seed(0)).fit(
        H0, heart["disease"]
    )
    swiss = int(np.flatnonzero(heart["site"] == "Switzerland")[5])
    others = np.random.default_rng(derived_seed(70)).choice(
        np.setdiff1d(np.arange(len(H0)), [swiss]), 7, replace=False
    )
    patients = [swiss, *map(int, others)]
    categorical = [FEATURES.index(c) for c in CATEGORICAL]
    results = []
    for mode in ("discretised", "continuous"):
        tops: dict[tuple, set] = {}
        r2: dict[tuple, float] = {}
        for width in WIDTHS:
            for seed in range(N_SEEDS):
                explainer = LimeTabularExplainer(
                    H0,
                    feature_names=list(FEATURES),
                    categorical_features=categorical,
                    kernel_width=width,
                    discretize_continuous=mode == "discretised",
                    random_state=derived_seed(100 + seed),
                )
                for p in patients:
                    e = explainer.explain_instance(
                        H0[p], model.predict_proba, num_features=TOP, num_samples=N_SAMPLES
                    )
                    tops[width, seed, p] = {i for i, _ in e.as_map()[1]}
                    r2[width, seed, p] = float(e.score)
        for width in WIDTHS:
            seed_j = np.array(
                [
                    np.mean(
                        [
                            len(tops[width, a, p] & tops[width, b, p])
                            / len(tops[width, a, p] | tops[width, b, p])
                            for a, b in itertools.combinations(range(N_SEEDS), 2)
                        ]
                    )
                    for p in patients
                ]
            )
            vs_default = np.array(
                [
                    np.mean(
                        [
                            len(tops[width, s, p] & tops[None, s, p])
                            / len(tops[width, s, p] | tops[None, s, p])
                            for s in range(N_SEEDS)
                        ]
                    )
                    for p in patients
                ]
            )
            fit = np.array([np.mean([r2[width, s, p] for s in range(N_SEEDS)]) for p in patients])
            row = {"mode": mode, "width": "default (2.70)" if width is None else width}
            for name, values, offset in (
                ("seed_jaccard", seed_j, 1),
                ("vs_default_jaccard", vs_default, 2),
                ("r2", fit, 3),
            ):
                if np.ptp(values) == 0:
                    low = high = float(values[0])
                else:
                    ci = stats.bootstrap(
                        (values,),
                        np.mean,
                        n_resamples=2000,
                        method="percentile",
                        random_state=np.random.default_rng(derived_seed(80 + offset)),
                    ).confidence_interval
                    low, high = float(ci.low), float(ci.high)
                row[name] = {
                    "mean": float(values.mean()),
                    "low": low,
                    "high": high,
                    "per_patient": values.round(4).tolist(),
                }
            results.append(row)
            print(
                mode,
                row["width"],
                {k: round(row[k]["mean"], 3) for k in ("seed_jaccard", "vs_default_jaccard", "r2")},
                flush=True,
            )
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(
        json.dumps(
            {
                "command": "python scripts/03_lime_stability.py",
                "base_seed": 0,
                "patients": patients,
                "categorical_features": CATEGORICAL,
                "n_seeds": N_SEEDS,
                "num_samples": N_SAMPLES,
                "num_features": TOP,
                "lime_settings": "LimeTabularExplainer(H0, categorical_features=..., kernel_width=w, "
                "discretize_continuous=mode, "
                "random_state=...) with the defaults discretizer='quartile', sample_around_instance=False, "
                "feature_selection='auto', Ridge(alpha=1)",
                "seconds": round(time.perf_counter() - start, 1),
                "python": sys.version.split()[0],
                "results": results,
            },
            indent=1,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
