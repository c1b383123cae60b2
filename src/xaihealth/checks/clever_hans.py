"""Checkers for lab 00, *Clever Hans in the clinic*.

Each checker runs the student's function on the real heart disease data and on a small frame it builds
with a planted answer, and compares with a reference. The references live here so the checkers can grade
properties the student cannot see; they are deliberately plain.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from xaihealth.checks._core import describe, exercise
from xaihealth.data.heart import FEATURES, load_heart_disease

# ---------------------------------------------------------------------------------------------- references


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


# ---------------------------------------------------------------------------------------- planted data


def _planted_frame(seed: int = 7, n: int = 400) -> pd.DataFrame:
    """Three sites; 'a' goes missing mostly in sick patients, 'b' never, 'c' uses -1 as a code."""
    rng = np.random.default_rng(seed)
    site = rng.choice(["North", "South", "East"], size=n, p=[0.5, 0.3, 0.2])
    disease = (rng.random(n) < np.where(site == "East", 0.8, 0.4)).astype(int)
    num = disease * rng.integers(1, 5, size=n)
    a = rng.normal(size=n)
    a[(disease == 1) & (rng.random(n) < 0.6)] = np.nan
    b = rng.normal(size=n)
    c = rng.normal(size=n)
    c[(site == "East") & (rng.random(n) < 0.9)] = -1.0
    d = rng.normal(size=n)
    d[(disease == 0) & (rng.random(n) < 0.5)] = np.nan
    return pd.DataFrame({"site": site, "a": a, "b": b, "c": c, "d": d, "num": num, "disease": disease})


def _same_frame(student: object, reference: pd.DataFrame) -> bool:
    if not isinstance(student, pd.DataFrame):
        return False
    if set(student.index) != set(reference.index) or not set(reference.columns) <= set(student.columns):
        return False
    aligned = student.loc[reference.index, reference.columns].astype(float)
    return bool(
        np.allclose(aligned.to_numpy(), reference.astype(float).to_numpy(), atol=1e-9, equal_nan=True)
    )


def _same_series(student: object, reference: pd.Series, atol: float = 1e-9) -> bool:
    if not isinstance(student, pd.Series) or set(student.index) != set(reference.index):
        return False
    return bool(np.allclose(student.loc[reference.index].astype(float), reference.astype(float), atol=atol))


# ------------------------------------------------------------------------------------------------ checkers


def check_site_audit(site_audit: Callable[[pd.DataFrame, Sequence[str]], pd.DataFrame]) -> None:
    """Exercise 1: one row per site with ``n``, ``prevalence`` and the share missing of each feature."""
    with exercise("Exercise 1 (per-site audit table)") as ex:
        planted = _planted_frame()
        out = ex.call(site_audit, planted.copy(), ["a", "b", "c"])
        ex.returns(out, pd.DataFrame, "a pandas DataFrame with one row per site")
        ex.expect(
            set(out.index) == {"North", "South", "East"}, "index the rows by the value of the 'site' column"
        )
        ex.expect(
            {"n", "prevalence", "a", "b", "c"} <= set(out.columns),
            "give the columns 'n', 'prevalence' and one column per feature, named like the feature",
        )
        ref = reference_site_audit(planted, ["a", "b", "c"])
        ex.expect(
            np.array_equal(out.loc[ref.index, "n"].to_numpy(), ref["n"].to_numpy()),
            "'n' should count the patients (rows) of each site, missing values or not",
        )
        ex.expect(
            np.allclose(out.loc[ref.index, "prevalence"].astype(float), ref["prevalence"]),
            "'prevalence' is the share of patients with disease == 1 at the site (not the mean of 'num')",
        )
        ex.expect(
            _same_frame(out[["a", "b", "c"]], ref[["a", "b", "c"]]),
            "each feature column is the share of the site's patients whose value is missing (NaN), "
            "computed within the site",
        )
        real = load_heart_disease(chol_zero_as_missing=True)
        out_real = ex.call(site_audit, real.copy(), list(FEATURES))
        ex.expect(
            _same_frame(out_real, reference_site_audit(real, FEATURES)),
            "your table is right on the practice frame but not on the heart disease data: check categorical "
            "sites (use observed=True when grouping) and that every feature gets a column",
        )


def check_missing_code_auc(missing_code_auc: Callable[..., pd.Series]) -> None:
    """Exercise 2: direction-free AUC of 'missing or sentinel' for each feature."""
    with exercise("Exercise 2 (label-revealing missing codes)") as ex:
        planted = _planted_frame()
        features = ["a", "b", "c", "d"]
        out = ex.call(missing_code_auc, planted.copy(), features, "disease", {"c": -1.0})
        ref = reference_missing_code_auc(planted, features, "disease", {"c": -1.0})
        ex.expect(
            isinstance(out, pd.Series) and set(out.index) == set(features),
            f"return a pandas Series indexed by feature name, one value per feature (yours: {describe(out)})",
        )
        ex.expect(
            np.all((out.astype(float) >= 0.5 - 1e-12) & (out.astype(float) <= 1 + 1e-12)),
            "values must lie in [0.5, 1]: a code that marks *healthy* patients is as revealing as one that "
            "marks sick patients, so use max(AUC, 1 - AUC)",
        )
        ex.expect(
            abs(float(out["b"]) - 0.5) < 1e-12,
            "a feature that is never missing carries no information through its missingness: score 0.5",
        )
        ex.expect(
            abs(float(out["c"]) - ref["c"]) < 1e-9,
            "feature 'c' codes missing values as -1: count a value equal to its sentinel as missing",
        )
        ex.expect(
            _same_series(out, ref),
            "score the 0/1 indicator 'missing or equal to the sentinel' with the AUC, "
            "not the feature's values",
        )
        ex.expect(list(out.index) == list(ref.index), "sort the Series from the most to the least revealing")
        real = load_heart_disease()
        out_real = ex.call(missing_code_auc, real.copy(), list(FEATURES), "disease", {"chol": 0})
        ex.expect(
            _same_series(out_real, reference_missing_code_auc(real, FEATURES, "disease", {"chol": 0})),
            "right on the practice frame but not on the heart disease data: do categorical columns with "
            "NaN work in your code?",
        )


def check_leave_one_site_out(leave_one_site_out: Callable[..., pd.Series]) -> None:
    """Exercise 3: AUC on each site of a fresh model trained on the other sites."""
    with exercise("Exercise 3 (leave-one-site-out evaluation)") as ex:
        rng = np.random.default_rng(3)
        n = 600
        sites = pd.Series(rng.choice(["North", "South", "East"], size=n))
        X = pd.DataFrame({"x1": rng.normal(size=n), "x2": rng.normal(size=n)})
        shift = np.where(sites == "East", -1.5, 1.5)  # the sign of x2's effect differs at East
        y = pd.Series((rng.random(n) < 1 / (1 + np.exp(-(X["x1"] + shift * X["x2"])))).astype(int))
        calls = []

        def make_model() -> LogisticRegression:
            calls.append(1)
            return LogisticRegression()

        out = ex.call(leave_one_site_out, make_model, X.copy(), y.copy(), sites.copy())
        ex.expect(
            isinstance(out, pd.Series) and set(out.index) == {"North", "South", "East"},
            f"return a pandas Series indexed by site, one AUC per held-out site (yours: {describe(out)})",
        )
        ex.expect(
            len(calls) == 3,
            f"call make_model() once per held-out site for a fresh model (you called it "
            f"{len(calls)} times): a model fitted on one split must not be reused on another",
        )
        ref = reference_leave_one_site_out(LogisticRegression, X, y, sites)
        ex.expect(
            float(out["East"]) < 0.5,
            "East reverses the effect of x2, so a model trained on North and South must do poorly there; "
            "make sure the held-out site is excluded from training",
        )
        ex.expect(
            _same_series(out, ref, atol=1e-6),
            "train on all other sites, score the held-out site with roc_auc_score on predict_proba[:, 1]",
        )
