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
# by recognising the hospital from how the data were recorded. In this lab you build the three tools a
# careful reviewer runs **before** trusting such a number:
#
# 1. a per-site audit table (size, prevalence, missingness),
# 2. a detector for features whose *missing-value code* predicts the label on its own,
# 3. a leave-one-site-out evaluation, compared with a shuffled split.
#
# Each exercise is followed by a check cell: it prints a ✔ line when your function is right, or tells you
# what to fix. Replace each `raise NotImplementedError(...)` with your code.

# %%
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from xaihealth.checks.clever_hans import check_leave_one_site_out, check_missing_code_auc, check_site_audit
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
#   value is missing.
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
# **Read your table.** Which sites recorded cholesterol? Which recorded `ca` and `thal`? Compare with the
# prevalence column. A model that can tell the sites apart from the gaps can "predict" disease without
# reading any clinical value.

# %%
assert audit.loc["Switzerland", "chol"] == 1.0 and audit.loc["Cleveland", "chol"] == 0.0
assert audit["prevalence"].max() - audit["prevalence"].min() > 0.5


# %% [markdown]
# ## Exercise 2 — label-revealing missing codes
#
# Write `missing_code_auc(df, features, target, sentinels)` that, for every feature, builds the 0/1
# indicator *"this value is missing, or equals the feature's sentinel code"* (`sentinels` maps a feature to
# the number used to mean "not measured", e.g. `{"chol": 0}`) and scores how well that indicator **alone**
# separates the classes of `target`:
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
# Write `leave_one_site_out(make_model, X, y, sites)`: for each site, build a **fresh** model with
# `make_model()`, fit it on the patients of all *other* sites, and compute the AUC of
# `predict_proba(...)[:, 1]` on the held-out site. Return a `pd.Series` of AUCs indexed by site.

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
# Now compare, for the same boosted model, the pooled AUC of a shuffled 5-fold split with the AUC of each
# held-out site.

# %%
def boosted_model():
    return HistGradientBoostingClassifier(
        max_iter=100, learning_rate=0.1, max_depth=3, categorical_features="from_dtype", random_state=derived_seed(0)
    )


X, y = df[list(FEATURES)], df["disease"]
cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=derived_seed(0))
shuffled = roc_auc_score(y, cross_val_predict(boosted_model(), X, y, cv=cv, method="predict_proba")[:, 1])
by_site = leave_one_site_out(boosted_model, X, y, df["site"])
print(f"shuffled 5-fold AUC: {shuffled:.3f}")
print(by_site.round(3).to_string())
assert by_site.mean() < shuffled, "held-out sites should score below the shuffled split"

# %% [markdown]
# **To write in your own words** (two or three sentences, for a clinical reader): what would you report to
# a hospital that wants to deploy this model, and why is the shuffled-split AUC the wrong number to quote?
