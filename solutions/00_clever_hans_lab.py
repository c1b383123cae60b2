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
# and then you judge, from intervals and class counts, (5) which per-site differences are real and (6)
# whether a new hospital can use the model's risk levels.
#
# Each exercise is followed by a check cell: it prints a ✔ line when your function is right, or tells you
# what to fix (Exercises 5 and 6, written judgements, are marked by a person: their checks print NOT
# GRADED).
# Replace each `raise NotImplementedError(...)` with your code.

# %%
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import LeaveOneGroupOut, StratifiedKFold, cross_val_predict
from threadpoolctl import threadpool_limits

from xaihealth.checks.clever_hans import (
    check_held_out_calibration,
    check_leave_one_site_out,
    check_missing_code_auc,
    check_answer_5,
    check_answer_6,
    check_site_audit,
)
from xaihealth.data import FEATURES, load_heart_disease
from xaihealth.notebook import derived_seed, setup

SEED = setup(seed=0)
threadpool_limits(1)  # one OpenMP thread: much faster on a small shared machine, identical results
df = load_heart_disease(chol_zero_as_missing=True)
df.head()


# %% [markdown]
# ## Exercise 1 — per-site audit table (5 points)
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
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.clever_hans import hidden_check_site_audit
hidden_check_site_audit(site_audit)
### END HIDDEN TESTS

# %% [markdown]
# **Read your table.** Which sites recorded cholesterol? Which recorded `ca` and `thal`? Which of the
# lecture's eight "recorded everywhere" features (age, sex, chest pain, blood pressure, maximal heart rate,
# exercise angina, ST depression, fasting sugar) really have no gaps? Compare with the prevalence column.

# %%
assert audit.loc["Switzerland", "chol"] == 1.0 and audit.loc["Cleveland", "chol"] == 0.0
assert audit["prevalence"].max() - audit["prevalence"].min() > 0.5
assert audit.loc["Switzerland", "fbs"] > 0.5 and audit.loc["VA Long Beach", "trestbps"] > 0.25


# %% [markdown]
# ## Exercise 2 — label-revealing missing codes (5 points)
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
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.clever_hans import hidden_check_missing_code_auc
hidden_check_missing_code_auc(missing_code_auc)
### END HIDDEN TESTS

# %% [markdown]
# Flag every feature whose code alone reaches an AUC of 0.6 — a deliberately low bar for "worth a look".

# %%
flagged = revealing[revealing >= 0.6].index.tolist()
print("flagged:", flagged)
assert "chol" in flagged, "the cholesterol-0 code should be flagged"
assert "age" not in flagged, "age is recorded for everybody"


# %% [markdown]
# ## Exercise 3 — leave-one-site-out evaluation (5 points)
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
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.clever_hans import hidden_check_leave_one_site_out
hidden_check_leave_one_site_out(leave_one_site_out)
### END HIDDEN TESTS


# %% [markdown]
# ## Exercise 4 — calibration-in-the-large per held-out site (5 points)
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
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.clever_hans import hidden_check_held_out_calibration
hidden_check_held_out_calibration(held_out_calibration)
### END HIDDEN TESTS


# %% [markdown]
# ## The fair comparison, on the heart data
#
# Now the lecture's boosted model. A pooled AUC over all four hospitals ranks patients of different
# hospitals against each other, so it rewards recognising the hospital: it is nobody's AUC. The fair
# comparison for a new hospital is its **within-site** AUC (shuffled 5-fold CV, ten repeats with each
# patient's out-of-fold risk averaged, scored among the site's own patients) against its **held-out** AUC
# (your Exercise 3). The helper below gives each AUC a 95 % stratified percentile-bootstrap interval (sick and
# healthy patients resampled separately, 2,000 resamples); with `minus=` it gives the paired difference on
# the same patients. `summary` then measures, with one interval resampling the sick and the healthy patients
# of each site: the **inflation** of the pooled AUC over the stratified AUC (same-site pairs only), and the
# mean difference held out − within over the sites, with and without Zurich/Basel (8 healthy patients).

# %%
def boosted_model():
    return HistGradientBoostingClassifier(
        max_iter=100, learning_rate=0.1, max_depth=3, categorical_features="from_dtype", random_state=derived_seed(0)
    )


def u_stat(score, i, j):
    """Mann–Whitney count of (sick i, healthy j) pairs ranked the right way (ties one half), vectorised."""
    return stats.mannwhitneyu(score[i], score[j], axis=-1).statistic


def auc_ci(target, score, seed, minus=None):
    """AUC(score) − AUC(minus) (or AUC(score) alone) with a 95 % stratified percentile-bootstrap interval."""
    target, score = np.asarray(target), np.asarray(score, dtype=float)
    sick, healthy = np.flatnonzero(target == 1), np.flatnonzero(target == 0)

    def stat(i, j, axis=-1):
        i, j = i.astype(int), j.astype(int)
        auc = u_stat(score, i, j) / (i.shape[-1] * j.shape[-1])
        if minus is not None:
            auc = auc - u_stat(minus, i, j) / (i.shape[-1] * j.shape[-1])
        return auc

    res = stats.bootstrap((sick.astype(float), healthy.astype(float)), stat, n_resamples=2000, batch=500,
                          method="percentile", random_state=seed)
    return round(float(stat(sick[None], healthy[None])[0]), 3), round(res.confidence_interval.low, 3), round(
        res.confidence_interval.high, 3)


X, y, sites = df[list(FEATURES)], df["disease"], df["site"]
names = list(sites.cat.categories)
within_risk = np.mean([
    cross_val_predict(boosted_model(), X, y, method="predict_proba",
                      cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=derived_seed(r)))[:, 1]
    for r in range(10)], axis=0)
held_out_risk = cross_val_predict(boosted_model(), X, y, groups=sites, cv=LeaveOneGroupOut(),
                                  method="predict_proba")[:, 1]
by_site = leave_one_site_out(boosted_model, X, y, sites)
assert np.allclose([roc_auc_score(y[sites == s], held_out_risk[sites == s]) for s in by_site.index], by_site)

table = pd.DataFrame({
    s: {"sick": int(y[sites == s].sum()), "healthy": int((1 - y[sites == s]).sum()),
        "within site": auc_ci(y[sites == s], within_risk[sites == s], derived_seed(10 + k)),
        "site held out": auc_ci(y[sites == s], held_out_risk[sites == s], derived_seed(20 + k)),
        "held out − within": auc_ci(y[sites == s], held_out_risk[sites == s], derived_seed(30 + k),
                                    minus=within_risk[sites == s])}
    for k, s in enumerate(names)}).T
print(table.to_string())

yv, sv = y.to_numpy(), sites.to_numpy()
strata = [np.flatnonzero((sv == s) & (yv == c)) for s in names for c in (1, 0)]


def summary(*idx, axis=-1):
    """Inflation (pooled − stratified AUC); mean held out − within over all sites and without Switzerland."""
    idx = [i.astype(int) for i in idx]
    sick, healthy = np.concatenate(idx[0::2], axis=-1), np.concatenate(idx[1::2], axis=-1)
    pooled = u_stat(within_risk, sick, healthy) / (sick.shape[-1] * healthy.shape[-1])
    pairs = [idx[2 * k].shape[-1] * idx[2 * k + 1].shape[-1] for k in range(len(names))]
    u_in = [u_stat(within_risk, idx[2 * k], idx[2 * k + 1]) for k in range(len(names))]
    diffs = [(u_stat(held_out_risk, idx[2 * k], idx[2 * k + 1]) - u_in[k]) / pairs[k] for k in range(len(names))]
    no_swiss = np.mean([d for s, d in zip(names, diffs, strict=True) if s != "Switzerland"], axis=0)
    return np.stack([pooled - sum(u_in) / sum(pairs), np.mean(diffs, axis=0), no_swiss])


point = summary(*[g[None].astype(float) for g in strata])[:, 0]
res = stats.bootstrap([g.astype(float) for g in strata], summary, n_resamples=2000, batch=200,
                      method="percentile", random_state=derived_seed(50))
overall = pd.DataFrame({"estimate": point, "low": res.confidence_interval.low, "high": res.confidence_interval.high},
                       index=["inflation: pooled − stratified AUC", "mean held out − within, all sites",
                              "mean held out − within, without Switzerland"])
print("\n" + overall.round(3).to_string())

calibration = held_out_calibration(boosted_model, X, y, sites)
gaps = {s: y[sites == s].to_numpy() - held_out_risk[np.asarray(sites == s)] for s in calibration.index}
calibration["95 % interval"] = [
    tuple(np.round(stats.bootstrap((gaps[s],), np.mean, n_resamples=2000, method="percentile",
                                   random_state=derived_seed(40 + k)).confidence_interval, 3))
    for k, s in enumerate(calibration.index)]
# the null for transfer: a prior-only model trained on the other sites predicts their prevalence for everyone
calibration["citl, prior only"] = [calibration.loc[s, "observed"] - y[sites != s].mean() for s in calibration.index]


def gain_interval(site, seed):
    """95 % interval of |citl of the prior| − |citl of the model|, bootstrap over the site's patients."""
    obs, risk_s, prior = y[sites == site].to_numpy(), held_out_risk[np.asarray(sites == site)], y[sites != site].mean()
    everyone = np.arange(len(obs)).astype(float)

    def stat(i, axis=-1):
        i = i.astype(int)
        return np.abs((obs[i] - prior).mean(axis=-1)) - np.abs((obs[i] - risk_s[i]).mean(axis=-1))

    ci = stats.bootstrap((everyone,), stat, n_resamples=2000, method="percentile", random_state=seed).confidence_interval
    return round(ci.low, 3), round(ci.high, 3)


calibration["gain over prior, 95 %"] = [gain_interval(s, derived_seed(60 + k)) for k, s in enumerate(calibration.index)]
print("\n" + calibration.round(3).to_string())

# %% [markdown]
# The lecture's conclusions, asserted on your functions: pooling inflates the AUC above the stratified AUC
# (interval above 0); at the three sites with enough healthy patients a held-out site loses a little ranking
# (interval of the mean difference below 0); transfer breaks the risk level — at three of the four sites the
# interval of calibration-in-the-large excludes 0 — while the features still move the level closer to each
# site's own than the prior-only null does (interval of the gain above 0 at three sites or more; at
# Cleveland, on this data, the gain is small and its interval only just clears 0).

# %%
assert overall.loc["inflation: pooled − stratified AUC", "low"] > 0, "the pooled AUC rewards telling sites apart"
assert overall.loc["mean held out − within, without Switzerland", "high"] < 0, "transfer costs a little ranking"
miscalibrated = [s for s, (lo, hi) in calibration["95 % interval"].items() if lo > 0 or hi < 0]
print("held-out sites whose calibration interval excludes 0:", miscalibrated)
assert len(miscalibrated) >= 3 and calibration.loc["Switzerland", "citl"] > 0.15
assert sum(lo > 0 for lo, _ in calibration["gain over prior, 95 %"]) >= 3, "the features beat the prior-only null"


# %% [markdown]
# ## Exercise 5 — is the difference real?
#
# Read the tables above (the `held out − within` column is the paired difference with its 95 % interval; the
# `sick` and `healthy` columns give each site's class counts; `overall` averages the differences). Your
# numbers depend on the draw (`XAIHEALTH_SEED`): answer from **your** tables. For **each of the four
# sites**, decide whether you would tell that hospital "the model ranks your patients differently once it is
# trained elsewhere", and say why, from the interval *and* the class counts. Then say in one sentence what
# you would report to a hospital that wants to deploy the model, and why the pooled AUC is the wrong number
# to quote.
#
# Write your answer (60 words or more) as a string: replace the stub with `answer_5 = """..."""`. The check
# only sees that the answer is complete and prints NOT GRADED; it is marked by a person with a rubric.

# %%
### BEGIN SOLUTION
answer_5 = """
(From my tables, base seed 0.) Cleveland (139 sick, 165 healthy): the held-out AUC is about 0.05 lower and
the paired interval lies below 0, so the loss is real; it is small, and the held-out AUC stays far above
chance. Hungary (106 sick, 187 healthy) and VA Long Beach (149 sick, 51 healthy): the intervals of the
difference contain 0, so the data cannot tell whether ranking changes there; that is not evidence that it
does not. Averaged over these three sites the held-out AUC is about 0.03 lower, interval below 0: transfer
costs a little ranking. Switzerland (115 sick, 8 healthy): every AUC there rests on 8 healthy patients (one
patient moves it by up to 1/8), the within-site interval reaches down to about 0.46, and a percentile
bootstrap with 8 cases in a class covers only about 80-92 % instead of 95 %, so whatever the interval of
the difference says, I draw no conclusion. To the hospital I would report its own held-out AUC with its
interval and class counts, and its calibration: a model trained elsewhere over- or under-predicts the risk
level by 10 to 25 points at three of four sites, so it must be recalibrated locally. The pooled AUC ranks
patients of different hospitals against each other and rewards recognising the hospital (here about 0.03
above the stratified AUC): no single hospital ever sees it.
"""
# Mark each verdict against the student's OWN table (the numbers change with the draw); a verdict that
# follows the student's interval is right even if it differs from the model answer.
# Marking rubric (10 points):
# - 2: Cleveland — if its interval excludes 0: difference real but small, with the size, not only the sign;
#      if it contains 0: "cannot tell".
# - 2: Hungary and VA — the same rule, each from its own interval; an interval containing 0 → "cannot tell",
#      explicitly not "no difference".
# - 3: Switzerland — names the 8 healthy patients and refuses to conclude whatever its difference interval
#      says (a small-class bootstrap covers less than its nominal level). 0 points if the answer reads the
#      Swiss difference as a real gain or loss.
# - 2: deployment — per-site AUC with interval and counts, plus calibration (observed vs predicted) and
#      local recalibration.
# - 1: pooled AUC — mixes hospitals, rewards the site shortcut; nobody's AUC.
### END SOLUTION

# %%
check_answer_5(answer_5)

# %% [markdown]
# ## Exercise 6 — a risk level for Hungary
#
# Hungary asks to use the model, trained on the other three hospitals, to tell each patient their risk of
# heart disease and to refer every patient above 50 % to angiography. Read **your** calibration table
# (`observed`, `predicted`, `citl` with its 95 % interval, the prior-only null and the gain over it), the
# held-out AUCs above and your audit table (Exercise 1: what Hungary does not record). Decide whether
# Hungary may use the predicted risks as they are; if not, what you would do before deployment (with what
# data, about how many patients) and what you would watch afterwards. Does the model still rank Hungary's
# patients? Is there a hospital where the risk level did transfer, and what would you conclude from it?
#
# Write your answer (60 words or more) as a string: replace the stub with `answer_6 = """..."""`. As for
# Exercise 5, the check only sees that the answer is complete and prints NOT GRADED.

# %%
### BEGIN SOLUTION
answer_6 = """
(From my tables, base seed 0.) Not as they are. Hungary's observed prevalence is 0.36 but the model
predicts 0.50 on average: a calibration-in-the-large of -0.14 with an interval of about -0.18 to -0.10,
so it over-predicts by about 14 points and a 50 % referral threshold would send far too many patients to
angiography. The ranking transfers much better: the held-out AUC is about 0.88, within about 0.01 of the
within-site AUC, and the features move the level closer to Hungary's own than the prior-only null does
(gain 0.10 to 0.18). So the model is worth keeping, but its level comes from hospitals with prevalences
of 0.46 to 0.93 and from missing-value patterns (Hungary records almost no ca, thal or slope) that are
not Hungary's. Before deployment I would recalibrate it on a local sample of Hungarian patients with
known outcomes (a few hundred: with 293 patients the interval of the calibration is about +-0.04 wide),
refitting at least the intercept, then set the referral threshold from the local costs of a missed case
and of an unnecessary angiography. After deployment I would monitor observed against predicted risk. VA
Long Beach's interval contains 0 (about -0.07 to +0.05): there the level happened to transfer, but that
says we cannot tell, not that the model is calibrated for any new hospital.
"""
# Mark the numbers against the student's OWN tables (they change with the draw).
# Marking rubric (8 points):
# - 2: reads Hungary's row: predicted above observed (about 0.50 vs 0.36), citl about -0.14 with an
#      interval that excludes 0; concludes that the 0.5 referral threshold would refer too many.
# - 2: separates ranking from level: the held-out AUC (or the gain over the prior-only null) shows that
#      the features still rank Hungary's patients; so recalibrate, do not discard or retrain blindly.
# - 2: a concrete step before deployment: local recalibration (intercept or logistic) on Hungarian
#      patients with outcomes, with a sample size or the interval it buys; the threshold set from local
#      costs; monitoring of observed vs predicted afterwards.
# - 2: why the level does not transfer (other hospitals' prevalences, missing ca/thal/slope carrying the
#      site) and VA's interval containing 0 read as "cannot tell", not as "calibrated".
### END SOLUTION

# %%
check_answer_6(answer_6)
