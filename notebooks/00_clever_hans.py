# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # 00 · Clever Hans in the clinic
#
# *XAI for Health, module 00.* In 1907 the horse Clever Hans "did arithmetic" by reading tiny cues in his
# trainer's posture (Pfungst, 1911). A model can do the same: score well by reading a cue that has nothing
# to do with the disease.
#
# **Question of the module:** a gradient-boosted model predicts coronary artery disease with an AUC near
# 0.9. Is it right *for the right reasons*?
#
# **Data:** UCI Heart Disease, 920 patients from four hospitals (Cleveland, Budapest, Zurich/Basel,
# VA Long Beach), CC BY 4.0 — Detrano et al. (1989), *Am J Cardiol* 64:304–310. Datasheet:
# `datasets/heart_disease_uci.md`.

# %% slideshow={"slide_type": "skip"}
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.inspection import partial_dependence
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_predict

from xaihealth.data import FEATURES, load_heart_disease
from xaihealth.notebook import derived_seed, setup

SEED = setup(seed=0)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. A strong model
#
# Thirteen clinical features (age, sex, chest-pain type, resting blood pressure, cholesterol, fasting
# sugar, resting ECG, maximal heart rate, exercise angina, ST depression, ST slope, number of vessels on
# fluoroscopy, thallium scan). Target: any coronary narrowing > 50 % (`num > 0`). The hospital (`site`) is
# *not* given to the model.

# %% slideshow={"slide_type": "fragment"}
df = load_heart_disease()
X, y = df[list(FEATURES)], df["disease"]
print(f"{len(df)} patients, {y.mean():.1%} with disease")
df.groupby("site", observed=True).agg(patients=("disease", "size"), prevalence=("disease", "mean"))


# %% [markdown] slideshow={"slide_type": "subslide"}
# Gradient boosting handles missing values and categories natively. We score it the usual way: 5-fold
# cross-validation, patients shuffled across folds.

# %% slideshow={"slide_type": "fragment"}
def boosted_model():
    """Histogram gradient boosting with fixed settings and seed."""
    return HistGradientBoostingClassifier(
        max_iter=100, learning_rate=0.1, max_depth=3, categorical_features="from_dtype", random_state=derived_seed(0)
    )


cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=derived_seed(0))


def cv_auc(features, target, model=boosted_model):
    """Out-of-fold predicted risk and pooled AUC under shuffled 5-fold cross-validation."""
    risk = cross_val_predict(model(), features, target, cv=cv, method="predict_proba")[:, 1]
    return risk, roc_auc_score(target, risk)


risk, auc_pooled = cv_auc(X, y)
print(f"cross-validated AUC: {auc_pooled:.3f}")
assert auc_pooled > 0.85, "the black box should look strong: that is the trap"

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. What does it lean on? Cholesterol = 0
#
# Partial dependence: set every patient's cholesterol to a value, average the predicted risk. Clinically,
# risk should rise slowly with cholesterol. Watch the left edge.

# %% slideshow={"slide_type": "fragment"}
model = boosted_model().fit(X, y)
grid = np.array([0.0, 100, 150, 200, 250, 300, 350, 400])
pd_chol = partial_dependence(model, X, ["chol"], custom_values={"chol": grid}, kind="average", method="brute"
)
avg_risk = pd.Series(pd_chol["average"][0], index=grid, name="mean predicted risk")
print(avg_risk.round(3).to_string())

fig, ax = plt.subplots()
ax.plot(grid[1:], avg_risk.values[1:], "o-", label="measured cholesterol")
ax.plot([0], [avg_risk.iloc[0]], "rs", markersize=9, label="cholesterol recorded as 0")
ax.set(xlabel="serum cholesterol set to (mg/dL)", ylabel="mean predicted risk", ylim=(0, 1))
ax.legend()
plt.show()

jump = avg_risk.loc[0.0] - avg_risk.loc[200.0]
assert jump > 0.10, "the model should give a cholesterol of 0 a large extra risk"

# %% [markdown] slideshow={"slide_type": "subslide"}
# A cholesterol of 0 mg/dL is not a measurement: no living patient has it. Where do these zeros come from?

# %% slideshow={"slide_type": "fragment"}
zero = df["chol"] == 0
table = pd.crosstab(df["site"], zero.rename("chol recorded as 0"), margins=True)
print(table.to_string())
print(f"\ndisease among chol = 0: {df.loc[zero, 'disease'].sum()} of {zero.sum()} "
      f"({df.loc[zero, 'disease'].mean():.1%}); elsewhere {df.loc[~zero, 'disease'].mean():.1%}")

assert zero.sum() == 172 and df.loc[zero, "disease"].sum() == 152
assert set(df.loc[zero, "site"]) == {"Switzerland", "VA Long Beach"}
assert (df.loc[df["site"] == "Switzerland", "chol"] == 0).all()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** Zurich/Basel did not record cholesterol and wrote 0 for every patient; VA Long Beach did so
# for 49. All four centres studied patients referred for angiography, but these two had far more disease:
# a prevalence of 93 % and 75 %, against 36–46 % at Cleveland and Budapest. So "cholesterol = 0" means
# "recorded at a high-prevalence hospital". The model learned the *coding habit of a site*, not physiology.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. It is not only cholesterol: missingness tells the hospital
#
# The same holds for every gap in the record. Keep only *whether* each value is missing (treating the
# cholesterol zeros as missing too) and throw away every clinical value.

# %% slideshow={"slide_type": "fragment"}
df_nan = load_heart_disease(chol_zero_as_missing=True)
missing = df_nan[list(FEATURES)].isna().astype(int)
missing = missing.loc[:, missing.any()]
print("features with gaps:", ", ".join(missing.columns))

linear = lambda: LogisticRegression(max_iter=1000)  # noqa: E731
_, auc_missing_only = cv_auc(missing, y, model=linear)
site_guess = cross_val_predict(linear(), missing, df["site"].cat.codes, cv=cv)
site_acc = accuracy_score(df["site"].cat.codes, site_guess)
print(f"AUC for disease from the missingness pattern alone: {auc_missing_only:.3f}")
print(f"site recognised from the missingness pattern: {site_acc:.1%} (largest site: "
      f"{df['site'].value_counts(normalize=True).max():.1%})")

assert auc_missing_only > 0.70, "gaps alone should predict disease well above chance"
assert site_acc > 0.75

# %% [markdown] slideshow={"slide_type": "subslide"}
# With **no clinical value at all**, the pattern of gaps predicts disease with an AUC above 0.7, because it
# identifies the hospital and the hospitals differ in prevalence. Part of the pooled AUC is
# "which hospital?" — a question that has an easy answer in this data set and no answer at the bedside.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. Fix 1: call the sentinel what it is
#
# The textbook fix is to turn the zeros into missing values.

# %% slideshow={"slide_type": "fragment"}
_, auc_fixed = cv_auc(df_nan[list(FEATURES)], y)
print(f"AUC with 0 as a number: {auc_pooled:.3f}   with 0 as missing: {auc_fixed:.3f}   "
      f"change: {auc_fixed - auc_pooled:+.3f}")
assert abs(auc_fixed - auc_pooled) < 0.02, "renaming the code should barely change the AUC"

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Almost nothing changes.** Boosted trees route missing values to a branch of their own, so "missing"
# carries exactly the information that "0" did. The fix is right for data hygiene (a mean or a plot no
# longer sees fake zeros) but it does not remove the shortcut: the problem is the *association between how
# data was recorded and the label*, not the number 0.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Fix 2: evaluate the way the model will be used
#
# A model is deployed in a *new* hospital. Leave-one-site-out: train on three sites, test on the fourth.
# We compare with the AUC the shuffled cross-validation reported *within* each site.

# %% slideshow={"slide_type": "fragment"}
def leave_one_site_out(features):
    """AUC on each site for a model trained on the three other sites."""
    aucs = {}
    for site in df["site"].cat.categories:
        held_out = (df["site"] == site).to_numpy()
        fitted = boosted_model().fit(features[~held_out], y[~held_out])
        aucs[site] = roc_auc_score(y[held_out], fitted.predict_proba(features[held_out])[:, 1])
    return pd.Series(aucs)


site_of = df["site"].to_numpy()
within_site = pd.Series({s: roc_auc_score(y[site_of == s], risk[site_of == s]) for s in df["site"].cat.categories})
loso = leave_one_site_out(X)
comparison = pd.DataFrame({"shuffled CV, within site": within_site, "site held out": loso})
print(comparison.round(3).to_string())
print(f"\npooled shuffled-CV AUC {auc_pooled:.3f}  vs  mean held-out-site AUC {loso.mean():.3f}")
assert loso.mean() < auc_pooled - 0.05, "a new hospital should see a clearly lower AUC than the pooled CV"
assert loso.min() < 0.75

# %% [markdown] slideshow={"slide_type": "subslide"}
# The pooled 0.89 was never the AUC any single hospital sees. Within Zurich/Basel and VA Long Beach the
# model discriminates far worse, and a model trained elsewhere transfers to them poorly.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. Fix 3: use what every site measured
#
# Keep only the features recorded at all four sites (age, sex, chest pain, blood pressure, maximal heart
# rate, exercise angina, ST depression, fasting sugar) and repeat both evaluations.

# %% slideshow={"slide_type": "fragment"}
core = ["age", "male", "cp", "trestbps", "thalch", "exang", "oldpeak", "fbs"]
_, auc_core = cv_auc(df[core], y)
loso_core = leave_one_site_out(df[core])
summary = pd.DataFrame({"all features": loso, "recorded everywhere": loso_core})
print(f"pooled shuffled-CV AUC: all features {auc_pooled:.3f}, recorded everywhere {auc_core:.3f}")
print(summary.round(3).to_string())
assert auc_core < auc_pooled, "dropping the site-revealing features costs pooled AUC"
assert loso_core["Switzerland"] > loso["Switzerland"], "and buys transfer to Zurich/Basel"

# %% [markdown] slideshow={"slide_type": "subslide"}
# The honest model looks *worse* in the pooled number and does *better* where it matters for Zurich/Basel.
# VA Long Beach stays hard with either feature set: its patients differ in more ways than recording habits
# (older, almost all men, a different referral pattern) — a real dataset shift that no feature selection
# removes. An explanation (here: a partial-dependence curve and a cross-table) found the shortcut; a
# site-aware evaluation measured its price.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 7. Why it matters: clinic and law
#
# - **Clinically**, a model that reads recording habits fails silently when a hospital changes its forms,
#   its lab, or its referral pattern. Shortcut learning is the rule rather than the exception in medical
#   imaging too (e.g. Zech et al., 2018, *PLoS Med*: pneumonia models that recognised the hospital from the
#   radiograph; DeGrave et al., 2021, *Nat Mach Intell*: COVID-19 detectors reading text markers).
# - **EU AI Act** (Regulation (EU) 2024/1689): software intended for medical diagnosis that is a medical
#   device under the MDR is a *high-risk* AI system (Art. 6 and Annex I). Providers must manage data quality
#   and bias (Art. 10), be transparent enough for users to interpret the output (Art. 13) and allow human
#   oversight (Art. 14).
# - **GDPR Art. 22** gives a person the right not to be subject to a decision based *solely* on automated
#   processing with significant effects, and Arts. 13–15 require "meaningful information about the logic
#   involved". In France the HAS publishes guidance on evaluating AI-based medical devices.
#
# None of these asks for a formula. They ask that someone can check *why* the model decides — which is what
# the rest of this course teaches.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Take-aways
#
# 1. A high cross-validated AUC can hide a rule built on a recording artefact (cholesterol = 0 ⇒ referral
#    centre ⇒ high prevalence).
# 2. Recoding the sentinel as missing cleans the data but **not** the shortcut: missingness is information.
# 3. Evaluate as you will deploy: hold out whole sites. Report per-site performance.
# 4. Explanations are how we *found* the problem; later modules ask when explanations themselves can be
#    trusted.
#
# **Lab 00:** build the per-site audit table, a detector for label-revealing missing codes, and the
# leave-one-site-out evaluation yourself.
