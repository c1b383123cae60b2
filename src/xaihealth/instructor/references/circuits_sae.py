"""Reference implementations for the checkers of :mod:`xaihealth.checks.circuits_sae` (instructor-only).

Moved verbatim out of the module the labs import, so that student code cannot call them; the
checkers reach them only through ``xaihealth.checks._reference.references("circuits_sae")``, which in a
student release replays the values these functions returned when the solutions were checked.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from xaihealth.models import sae

# Exercises 1 and 2: the lecture's library (xaihealth.models.sae) is the reference; it is in the student
# release (the lecture runs there), and a lab solution that calls it is flagged at grading
reference_sae_metrics = sae.sae_metrics
reference_train_sae = sae.train_sae


def reference_feature_recovery(true_dirs, learned_dirs, threshold=0.9):
    t = torch.nn.functional.normalize(torch.as_tensor(true_dirs, dtype=torch.float64), dim=1)
    s = torch.nn.functional.normalize(torch.as_tensor(learned_dirs, dtype=torch.float64), dim=1)
    cos = (t @ s.T).numpy()
    rows, cols = linear_sum_assignment(cos, maximize=True)  # one learned row per true direction at most
    matched = np.full(len(t), np.nan)
    matched[rows] = cos[rows, cols]
    return {
        "max_cos": torch.from_numpy(cos.max(axis=1)),
        "n_recovered": int((cos.max(axis=1) > threshold).sum()),
        "matched_cos": torch.from_numpy(matched),
    }
