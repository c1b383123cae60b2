"""Reference implementations for the checkers of :mod:`xaihealth.checks.clever_hans` (instructor-only).

Moved verbatim out of the module the labs import, so that student code cannot call them; the
checkers reach them only through ``xaihealth.checks._reference.references("clever_hans")``, which in a
student release replays the values these functions returned when the solutions were checked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score


def reference_site_audit(df: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    by_site = df.groupby("site", observed=True)
    table = pd.DataFrame({"n": by_site.size(), "prevalence": by_site["disease"].mean()})
    return table.join(df[list(features)].isna().groupby(df["site"], observed=True).mean())


def reference_missing_code_auc(
    df: pd.DataFrame, features: Sequence[str], target: str, sentinels: Mapping[str, float]
) -> pd.Series:
    out = {}
    for feature in features:
        code = df[feature].isna()
        if feature in sentinels:
            code = code | (df[feature] == sentinels[feature])
        if code.nunique() < 2:
            out[feature] = 0.5
            continue
        auc = roc_auc_score(df[target], code.astype(int))
        out[feature] = max(auc, 1 - auc)
    return pd.Series(out).sort_values(ascending=False)


def reference_leave_one_site_out(
    make_model: Callable[[], object], X: pd.DataFrame, y: pd.Series, sites: pd.Series
) -> pd.Series:
    aucs = {}
    for site in pd.unique(sites):
        held_out = np.asarray(sites == site)
        model = make_model().fit(X[~held_out], y[~held_out])
        aucs[site] = roc_auc_score(y[held_out], model.predict_proba(X[held_out])[:, 1])
    return pd.Series(aucs)


def reference_held_out_calibration(
    make_model: Callable[[], object], X: pd.DataFrame, y: pd.Series, sites: pd.Series
) -> pd.DataFrame:
    rows = {}
    for site in pd.unique(sites):
        held_out = np.asarray(sites == site)
        model = make_model().fit(X[~held_out], y[~held_out])
        observed = float(np.mean(y[held_out]))
        predicted = float(np.mean(model.predict_proba(X[held_out])[:, 1]))
        rows[site] = {"observed": observed, "predicted": predicted, "citl": observed - predicted}
    return pd.DataFrame(rows).T
