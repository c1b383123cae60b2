# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 00 · Auditing a data set for Clever Hans shortcuts
#
# In the lecture a boosted model reached a cross-validated AUC near 0.9 on the UCI heart disease data, partly
# by recognising the hospital from how the data were recorded. In this lab you build the tools a careful
# reviewer runs **before** trusting such a number:
#
# 1. a per-site audit table (size, prevalence, missingness),
# 2. a detector for features whose *missing-value code* predicts the label on its own,
# 3. a leave-one-site-out evaluation,
# 4. calibration-in-the-large on each held-out site,
#
# and then (5) you judge, from intervals and class counts, which per-site differences are real.
#
# Each exercise is followed by a check cell: it prints a ✔ line when your function is right, or tells you
# what to fix. Replace each `raise NotImplementedError(...)` with your code.

# %%
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import LeaveOneGroupOut, StratifiedKFold, cross_val_predict

from xaihealth.checks.clever_hans import (
    check_held_out_calibration,
    check_leave_one_site_out,
    check_missing_code_auc,
    check_site_audit,
    check_written_answer,
)
from xaihealth.data import FEATURES, load_heart_disease
from xaihealth.notebook import derived_seed, setup

SEED = setup(seed=0)
df = load_heart_disease(chol_zero_as_missing=True)
df.head()


# %% [markdown]
# ## Exercise 1 — per-site audit table
#
# Write `site_audit(df, features)` returning a DataFrame with **one row per site** (index: the site name)
# and the columns
# - `n`: number of patients at the site,
# - `prevalence`: share of the site's patients with `disease == 1`,
# - one column per feature in `features`, named like the feature: the share of the site's patients whose
#   value is missing (NaN).
#
# *Hint:* `df.groupby("site", observed=True)`; `df[features].isna()` is a frame of booleans, and the mean
# of booleans is a share.

# %%
def site_audit(df, features):
    ### BEGIN SOLUTION
    by_site = df.groupby("site", observed=True)
    table = pd.DataFrame({"n": by_site.size(), "prevalence": by_site["disease"].mean()})
    missing_share = df[list(features)].isna().groupby(df["site"], observed=True).mean()
    return table.join(missing_share)
    ### END SOLUTION


audit = site_audit(df, FEATURES)
audit.round(2)

# %%
check_site_audit(site_audit)

# %% [markdown]
# **Read your table.** Which sites recorded cholesterol? Which recorded `ca` and `thal`? Which of the
# lecture's eight "recorded everywhere" features (age, sex, chest pain, blood pressure, maximal heart rate,
# exercise angina, ST depression, fasting sugar) really have no gaps? Compare with the prevalence column.

# %%
assert audit.loc["Switzerland", "chol"] == 1.0 and audit.loc["Cleveland", "chol"] == 0.0
assert audit["prevalence"].max() - audit["prevalence"].min() > 0.5
assert audit.loc["Switzerland", "fbs"] > 0.5 and audit.loc["VA Long Beach", "trestbps"] > 0.25


# %% [markdown]
# ## Exercise 2 — label-revealing missing codes
#
# Write `missing_code_auc(df, features, target, sentinels)` that, for every feature, builds the 0/1
# indicator *"this value is missing, or equals the feature's sentinel code"* (`sentinels` maps a feature to
# the number used to mean "not measured", e.g. `{"chol": 0}`) and scores how well that indicator **alone**
# separates the classes of the column `target`:
# - use `roc_auc_score(df[target], indicator)`, made direction-free: `max(auc, 1 - auc)`;
# - a feature whose indicator is constant (never missing) scores exactly 0.5;
# - return a `pd.Series` indexed by feature, sorted from most to least revealing.
#
# Run it on the data **as shipped** (zeros still in `chol`), with `{"chol": 0}`.

# %%
def missing_code_auc(df, features, target, sentinels):
    ### BEGIN SOLUTION
    scores = {}
    for feature in features:
        code = df[feature].isna()
        if feature in sentinels:
            code = code | (df[feature] == sentinels[feature])
        if code.nunique() < 2:
            scores[feature] = 0.5
            continue
        auc = roc_auc_score(df[target], code.astype(int))
        scores[feature] = max(auc, 1 - auc)
    return pd.Series(scores).sort_values(ascending=False)
    ### END SOLUTION


raw = load_heart_disease()
revealing = missing_code_auc(raw, FEATURES, "disease", {"chol": 0})
revealing.round(3)

# %%
check_missing_code_auc(missing_code_auc)

# %% [markdown]
# Flag every feature whose code alone reaches an AUC of 0.6 — a deliberately low bar for "worth a look".

# %%
flagged = revealing[revealing >= 0.6].index.tolist()
print("flagged:", flagged)
assert "chol" in flagged, "the cholesterol-0 code should be flagged"
assert "age" not in flagged, "age is recorded for everybody"


# %% [markdown]
# ## Exercise 3 — leave-one-site-out evaluation
#
# Write `leave_one_site_out(make_model, X, y, sites)`: `X` is a DataFrame of inputs (it may contain NaN),
# `y` a Series of 0/1 labels, `sites` a Series of site labels (strings or categorical), all aligned. For
# each site, build a **fresh** model (`make_model()`, or `sklearn.base.clone` of one), fit it on the
# patients of all *other* sites, and compute the AUC of `predict_proba(...)[:, 1]` on the held-out site.
# Return a `pd.Series` of AUCs indexed by site. Do not scale or impute `X` yourself: preprocessing belongs
# inside the model, fitted on the training sites only (`LeaveOneGroupOut` from scikit-learn is welcome).

# %%
def leave_one_site_out(make_model, X, y, sites):
    ### BEGIN SOLUTION
    aucs = {}
    for site in pd.unique(sites):
        held_out = np.asarray(sites == site)
        model = make_model().fit(X[~held_out], y[~held_out])
        aucs[site] = roc_auc_score(y[held_out], model.predict_proba(X[held_out])[:, 1])
    return pd.Series(aucs)
    ### END SOLUTION


# %%
check_leave_one_site_out(leave_one_site_out)


# %% [markdown]
# ## Exercise 4 — calibration-in-the-large per held-out site
#
# A model can rank a new hospital's patients well and still be wrong about their *level* of risk. Write
# `held_out_calibration(make_model, X, y, sites)` (same arguments as Exercise 3) returning a DataFrame with
# one row per site (index: the site) and the columns
# - `observed`: the share of the held-out site's patients with `y == 1`,
# - `predicted`: the mean of `predict_proba(...)[:, 1]` over them, from the model trained on the other sites,
# - `citl`: `observed − predicted` (calibration-in-the-large: > 0 when the model under-predicts the site).

# %%
def held_out_calibration(make_model, X, y, sites):
    ### BEGIN SOLUTION
    rows = {}
    for site in pd.unique(sites):
        held_out = np.asarray(sites == site)
        model = make_model().fit(X[~held_out], y[~held_out])
        observed = float(np.mean(y[held_out]))
        predicted = float(np.mean(model.predict_proba(X[held_out])[:, 1]))
        rows[site] = {"observed": observed, "predicted": predicted, "citl": observed - predicted}
    return pd.DataFrame(rows).T
    ### END SOLUTION


# %%
check_held_out_calibration(held_out_calibration)


# %% [markdown]
# ## The fair comparison, on the heart data
#
# Now the lecture's boosted model. A pooled AUC over all four hospitals ranks patients of different
# hospitals against each other, so it rewards recognising the hospital: it is nobody's AUC. The fair
# comparison for a new hospital is its **within-site** AUC (shuffled 5-fold CV predictions, scored among the
# site's own patients) against its **held-out** AUC (your Exercise 3). The helper below gives each AUC a
# 95 % stratified percentile-bootstrap interval (sick and healthy patients resampled separately, 2,000
# resamples); with `minus=` it gives the paired difference on the same patients.

# %%
def boosted_model():
    return HistGradientBoostingClassifier(
        max_iter=100, learning_rate=0.1, max_depth=3, categorical_features="from_dtype", random_state=derived_seed(0)
    )


def auc_ci(target, score, seed, minus=None):
    """AUC(score) − AUC(minus) (or AUC(score) alone) with a 95 % stratified percentile-bootstrap interval."""
    target, score = np.asarray(target), np.asarray(score, dtype=float)
    sick, healthy = np.flatnonzero(target == 1), np.flatnonzero(target == 0)

    def stat(i, j, axis=-1):
        i, j = i.astype(int), j.astype(int)
        auc = stats.mannwhitneyu(score[i], score[j], axis=-1).statistic / (i.shape[-1] * j.shape[-1])
        if minus is not None:
            auc = auc - stats.mannwhitneyu(minus[i], minus[j], axis=-1).statistic / (i.shape[-1] * j.shape[-1])
        return auc

    res = stats.bootstrap((sick.astype(float), healthy.astype(float)), stat, n_resamples=2000, batch=500,
                          method="percentile", random_state=seed)
    return round(float(stat(sick[None], healthy[None])[0]), 3), round(res.confidence_interval.low, 3), round(
        res.confidence_interval.high, 3)


X, y, sites = df[list(FEATURES)], df["disease"], df["site"]
cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=derived_seed(0))
shuffled_risk = cross_val_predict(boosted_model(), X, y, cv=cv, method="predict_proba")[:, 1]
held_out_risk = cross_val_predict(boosted_model(), X, y, groups=sites, cv=LeaveOneGroupOut(),
                                  method="predict_proba")[:, 1]
by_site = leave_one_site_out(boosted_model, X, y, sites)
assert np.allclose([roc_auc_score(y[sites == s], held_out_risk[sites == s]) for s in by_site.index], by_site)

table = pd.DataFrame({
    s: {"sick": int(y[sites == s].sum()), "healthy": int((1 - y[sites == s]).sum()),
        "within site": auc_ci(y[sites == s], shuffled_risk[sites == s], derived_seed(10 + k)),
        "site held out": auc_ci(y[sites == s], held_out_risk[sites == s], derived_seed(20 + k)),
        "held out − within": auc_ci(y[sites == s], held_out_risk[sites == s], derived_seed(30 + k),
                                    minus=shuffled_risk[sites == s])}
    for k, s in enumerate(sites.cat.categories)}).T
pooled = roc_auc_score(y, shuffled_risk)
mean_within = np.mean([t[0] for t in table["within site"]])
print(table.to_string())
print(f"\npooled shuffled-CV AUC {pooled:.3f};  mean within-site {mean_within:.3f};  mean held out {by_site.mean():.3f}")

calibration = held_out_calibration(boosted_model, X, y, sites)
gaps = {s: y[sites == s].to_numpy() - held_out_risk[np.asarray(sites == s)] for s in calibration.index}
calibration["95 % interval"] = [
    tuple(np.round(stats.bootstrap((gaps[s],), np.mean, n_resamples=2000, method="percentile",
                                   random_state=derived_seed(40 + k)).confidence_interval, 3))
    for k, s in enumerate(calibration.index)]
print("\n" + calibration.round(3).to_string())

# %% [markdown]
# The lecture's conclusions, asserted on your functions: the pooled AUC is inflated above the within-site
# AUCs; in AUC a held-out site is not clearly worse than within site; but transfer breaks the risk level —
# at three of the four sites the interval of calibration-in-the-large excludes 0.

# %%
assert pooled > mean_within + 0.05, "the pooled AUC rewards telling the hospitals apart"
assert abs(by_site.mean() - mean_within) < 0.05, "in AUC, transfer is not clearly worse than within site"
miscalibrated = [s for s, (lo, hi) in calibration["95 % interval"].items() if lo > 0 or hi < 0]
print("held-out sites whose calibration interval excludes 0:", miscalibrated)
assert len(miscalibrated) >= 3 and calibration.loc["Switzerland", "citl"] > 0.15


# %% [markdown]
# ## Exercise 5 — is the difference real?
#
# Read the table above (the `held out − within` column is the paired difference with its 95 % interval; the
# `sick` and `healthy` columns give each site's class counts). For **each of the four sites**, decide
# whether you would tell that hospital "the model ranks your patients differently once it is trained
# elsewhere", and say why, from the interval *and* the class counts. Then say in one sentence what you would
# report to a hospital that wants to deploy the model, and why the pooled AUC is the wrong number to quote.
#
# Write your answer (60 words or more) as a string: replace the stub with `answer_5 = """..."""`. The check
# only sees that the answer is complete; it is marked by a person with a rubric.

# %%
### BEGIN SOLUTION
answer_5 = """
Cleveland (139 sick, 165 healthy): the held-out AUC is about 0.05 lower and the paired interval lies
below 0, so the loss is real; it is small, and the held-out AUC stays well above chance.
Hungary (106 sick, 187 healthy) and VA Long Beach (149 sick, 51 healthy): the intervals of the difference
contain 0, so the data cannot tell whether ranking changes; that is not evidence that it does not.
Switzerland (115 sick, 8 healthy): the within-site AUC interval reaches below 0.5, and every AUC there
rests on 8 healthy patients (one patient moves it by up to 1/8); a percentile bootstrap with 8 cases in a
class covers less than it claims, so even an interval that excludes 0 is not a finding: no conclusion.
To the hospital I would report its own held-out AUC with its interval and class counts, and its
calibration: a model trained elsewhere over- or under-predicts the risk level by 10 to 25 points at three
of four sites, so it must be recalibrated locally. The pooled AUC ranks patients of different hospitals
against each other and rewards recognising the hospital: no single hospital ever sees it.
"""
# Marking rubric (10 points):
# - 2: Cleveland — difference real (interval excludes 0) but small; says the size, not only the sign.
# - 2: Hungary and VA — interval contains 0 → "cannot tell", explicitly not "no difference".
# - 3: Switzerland — names the 8 healthy patients; within-site interval includes 0.5; refuses to conclude
#      even if the difference interval excludes 0 (small-class bootstrap unreliable). 0 points if the answer
#      reads the Swiss difference as a real gain.
# - 2: deployment — per-site AUC with interval and counts, plus calibration (observed vs predicted) and
#      local recalibration.
# - 1: pooled AUC — mixes hospitals, rewards the site shortcut; nobody's AUC.
### END SOLUTION
check_written_answer(answer_5)
