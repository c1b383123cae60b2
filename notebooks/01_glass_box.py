# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown] slideshow={"slide_type": "slide"}
# # 01 · Glass-box models: the false dilemma
#
# *XAI for Health, module 01.* A common belief: "accurate models are black boxes; interpretable models are
# too weak for medicine". Rudin (2019, *Nat Mach Intell* 1:206–215) calls this a false dilemma for
# tabular data, and Caruana et al. (2015, *KDD*) showed with a pneumonia model why it matters: an
# intelligible model revealed that "asthma lowers the risk of death" — a real pattern in the data (asthmatics
# went straight to intensive care) that would have killed patients if deployed.
#
# **Question of the module:** can a model whose every prediction is a sum of readable curves be as accurate
# as a boosted black box — and what do we gain by being able to read (and edit) it?
#
# **Data:** the synthetic cardiovascular cohort (`make_cardio_cohort`, where the true shape functions are
# *known*, datasheet `datasets/cardio_cohort.md`) and UCI Heart Disease (920 patients, four hospitals).

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** Open with Caruana et al.'s pneumonia story: an intelligible model showed "asthma lowers the
# risk of death", a real pattern of care (asthmatics went straight to intensive care) that would have
# harmed patients if deployed. The question of the module is whether a model made of readable curves can
# match a boosted black box, on a cohort where the true curves are known and on the real heart data.
#
# **Clinical point:** being able to read a model is what lets you catch — and edit — a pattern that is
# true in the data but wrong for the patient.
#
# **Expected question:** "Is the synthetic cohort not too easy?" — *Answer:* yes, its logit is itself a
# GA2M, so it tests the fitting; UCI heart disease is the test that counts (section 6).

# %% slideshow={"slide_type": "skip"}
import copy
import warnings

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from interpret import develop
from interpret.glassbox import ExplainableBoostingClassifier
from interpret.utils import measure_interactions
from scipy import stats
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GridSearchCV, ShuffleSplit, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import SplineTransformer, StandardScaler

from xaihealth.data import FEATURES, load_heart_disease, make_cardio_cohort
from xaihealth.notebook import derived_seed, setup
from xaihealth.plots.glass_box import plot_auc_intervals, plot_shape_function
from xaihealth.scorecard import paired_difference, record

SEED = setup(seed=0, threads=1)  # one thread: stays fast when the CPU is shared (OpenMP spin-waits otherwise)
# interpret's libebm boosts with AVX-512 kernels where the CPU has them, and they round differently from its
# AVX2 ones (printed AUC intervals moved in the third digit): the AVX2 kernels on every x86 machine
develop.set_option("acceleration", 0x2)  # libebm's AccelerationFlags_AVX2

# %% [markdown] slideshow={"slide_type": "subslide"}
# We draw 4,000 patients. Each comes with the **true** contribution of every feature to his or her log-odds
# of a cardiovascular event within 10 years: planted steps in age at 65 and 80, a U-shape in BMI with its
# nadir at 25 kg/m², a QTc hinge above 450 ms, linear blood pressure and cholesterol, and one interaction
# (age × BMI: obesity matters less with age). `qt_drug` and two noise columns have no effect. The hospital
# code `site` is nominal and has no effect either; we leave it out.

# %% slideshow={"slide_type": "fragment"}
cohort = make_cardio_cohort(n=4000, seed=derived_seed(0))
X = cohort.X.drop(columns="site")
y = cohort.y
# true centred contribution of each term, one row per patient
truth = cohort.contributions
print(
    f"{len(X)} patients, {y.mean():.1%} with an event; AUC of the true logit "
    f"{roc_auc_score(y, cohort.logit):.3f}"
)

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 1. Logistic regression: one number per feature
#
# A logistic regression is the oldest glass box: log-odds = β₀ + Σ βⱼ xⱼ. Each coefficient is an **odds
# ratio** once exponentiated, and an odds ratio only means something *with its unit*: "per 10 mmHg", not
# "per standard deviation". We standardise to fit, then convert back to clinical units.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** A logistic regression is the oldest glass box: one coefficient per feature, an odds ratio once
# exponentiated — and only with its unit ("per 10 mmHg"). On the synthetic cohort, where the truth is known,
# the printed odds ratios match the planted ones where the effect is linear (blood pressure, cholesterol).
# For BMI and QTc the single number is an average over a curve.
#
# **Clinical point:** "odds ratio 1.34 per 5 kg/m²" hides that risk rises on both sides of BMI 25; a line
# cannot show a U-shape, a hinge or a step.
#
# **Expected question:** "Why standardise and convert back?" — *Answer:* the fit is better conditioned on
# standardised inputs; the clinician needs the per-unit number, so we divide by the scale.

# %% slideshow={"slide_type": "fragment"}
logreg = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(X, y)
beta = logreg[-1].coef_[0] / logreg[0].scale_  # log-odds per unit of each raw feature
unit = pd.Series(
    {
        "age": 10,
        "male": 1,
        "bmi": 5,
        "sbp": 10,
        "chol": 1,
        "smoker": 1,
        "diabetes": 1,
        "qtc": 10,
        "qt_drug": 1,
        "noise_1": 1,
        "noise_2": 1,
    }
)

# %% slideshow={"slide_type": "subslide"}
unit_name = {
    "age": "10 years",
    "bmi": "5 kg/m²",
    "sbp": "10 mmHg",
    "chol": "1 mmol/L",
    "qtc": "10 ms",
    "noise_1": "1 sd",
    "noise_2": "1 sd",
}

# %% slideshow={"slide_type": "subslide"}
planted = {
    "male": 0.35,
    "sbp": 0.02 * 10,
    "chol": 0.3,
    "smoker": 0.65,
    "diabetes": 0.8,
    "qt_drug": 0.0,
    # planted log-odds per unit, for the features that are linear
    "noise_1": 0.0,
    "noise_2": 0.0,
}

# %% slideshow={"slide_type": "subslide"}
odds = pd.DataFrame(
    {
        "per": [unit_name.get(f, "yes vs no") for f in X.columns],
        "odds ratio": np.exp(beta * unit[X.columns]),
        "planted": [np.exp(planted[f]) if f in planted else np.nan for f in X.columns],
    },
    index=X.columns,
)
print(odds.round(3).to_string(na_rep="not linear"))

# %% [markdown] slideshow={"slide_type": "subslide"}
# Where the truth *is* linear, the odds ratios are right: blood pressure 1.24 per 10 mmHg (planted 1.22),
# cholesterol 1.36 per mmol/L (planted 1.35). Where it is not, the single number is an average over a
# curve: BMI "1.34 per 5 kg/m²" hides that risk rises on *both* sides of 25 kg/m², and QTc "1.04 per
# 10 ms" hides a hinge at 450 ms.

# %% slideshow={"slide_type": "skip"}
log_or = np.log(odds["odds ratio"])
assert abs(log_or["sbp"] - 0.2) < 0.1 and abs(log_or["chol"] - 0.3) < 0.1, "linear effects are recovered"
assert abs(log_or["noise_1"]) < 0.1 and abs(log_or["qt_drug"]) < 0.2, "no-effect features get OR near 1"

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 2. A spline GAM: one *curve* per feature
#
# A generalised additive model (Hastie & Tibshirani, 1986, *Stat Sci*) replaces βⱼxⱼ by a smooth function
# fⱼ(xⱼ). In scikit-learn: expand each continuous feature in its own cubic B-spline basis
# (`SplineTransformer`), keep binary features as they are, and fit a logistic regression on the result.
# The shape function of feature j is its basis times its block of coefficients.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** A GAM replaces each line by a smooth curve: a spline basis per feature and a logistic regression
# on top. We score each learned term against the planted one by R² and slope (slope < 1 means shrunk). The
# spline finds the BMI U and the QTc hinge but smooths over the age steps at 65 and 80.
#
# **Clinical point:** whether a jump at 65 is real (a practice change at retirement age, a coding rule) is
# exactly what a clinician wants to see, so we want a model that can show jumps.
#
# **Expected question:** "Why not more knots?" — *Answer:* more knots follow the data more closely but
# become noisier; a cubic spline still cannot jump.

# %% slideshow={"slide_type": "fragment"}
continuous = ["age", "bmi", "sbp", "chol", "qtc", "noise_1", "noise_2"]
binary = ["male", "smoker", "diabetes", "qt_drug"]


def spline_gam(continuous, binary, n_knots=6, C=1.0):
    """Logistic GAM: one spline basis per continuous feature, binary features passed
    through."""
    per_feature = [
        (f, SplineTransformer(n_knots=n_knots, knots="quantile"), [f])
        for f in continuous
    ]
    design = ColumnTransformer(per_feature + [("binary", "passthrough", binary)])
    return make_pipeline(design, LogisticRegression(C=C, max_iter=2000))


gam = spline_gam(continuous, binary).fit(X, y)

# %% slideshow={"slide_type": "subslide"}
def gam_term(gam, feature, values):
    """Shape function of one feature: its spline basis at `values` times its
    coefficients (log-odds)."""
    design, coef = gam[0], gam[-1].coef_[0]
    basis = design.named_transformers_[feature].transform(
        pd.DataFrame({feature: values})
    )
    return basis @ coef[design.output_indices_[feature]]

# %% [markdown] slideshow={"slide_type": "subslide"}
# Compare each model's term with the planted one, patient by patient, on the 4,000 patients. A correlation
# forgives a curve that is too flat, so we report two numbers against the planted contribution (both
# centred): the **R²** (1 = the planted curve exactly, 0 = no better than a flat line, scale errors count)
# and the **slope** of learned on planted (1 = the right size, < 1 = shrunk). This is one cohort and one
# fit; the claims are tested with intervals over 10 cohorts in the scorecard section below.

# %% slideshow={"slide_type": "fragment"}
def centred(values):
    return values - values.mean()


def r2_slope(fitted, planted):
    """R² of a learned shape against the planted one (both centred), and the slope of
    learned on planted."""
    fitted, planted = (
        centred(np.asarray(fitted, float)),
        centred(np.asarray(planted, float)),
    )
    return 1 - ((fitted - planted) ** 2).sum() / (
        planted**2
    ).sum(), fitted @ planted / (planted @ planted)


shape_features = ["age", "bmi", "sbp", "chol", "qtc"]

# %% slideshow={"slide_type": "subslide"}
recovery = pd.DataFrame(
    {
        **{
            ("logistic", k): [
                r2_slope(beta[X.columns.get_loc(f)] * X[f], truth[f])[i]
                for f in shape_features
            ]
            for i, k in enumerate(["R²", "slope"])
        },
        **{
            ("spline GAM", k): [
                r2_slope(gam_term(gam, f, X[f]), truth[f])[i] for f in shape_features
            ]
            for i, k in enumerate(["R²", "slope"])
        },
    },
    index=shape_features,
)

# %% slideshow={"slide_type": "subslide"}
print(recovery.round(2).to_string())

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
for ax, f, label in zip(axes, ["age", "bmi", "qtc"], ["age (years)", "BMI (kg/m²)", "QTc (ms)"], strict=True):
    grid = np.linspace(*np.quantile(X[f], [0.01, 0.99]), 200)
    true_curve = cohort.shape_functions[f](grid)
    ax.plot(grid, centred(true_curve), "k--", label="planted")
    ax.plot(grid, centred(beta[X.columns.get_loc(f)] * grid), color="#0072B2", label="logistic (a line)")
    ax.plot(grid, centred(gam_term(gam, f, grid)), color="#E69F00", label="spline GAM")
    ax.set(xlabel=label, ylabel="contribution (log-odds)")
    odds = ax.secondary_yaxis(
        "right", functions=(np.exp, lambda v: np.log(np.clip(v, 1e-9, None)))
    )
    odds.set_yticks([0.25, 0.5, 0.75, 1, 1.5, 2, 3, 4], labels=["0.25", "0.5", "0.75", "1", "1.5", "2", "3", "4"])
    odds.set_ylabel("odds ratio (×)")
axes[0].legend(fontsize=8)
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Why odds ratios here, not risk.** Each curve is a *centred* contribution of its own model, and the
# logistic model and the spline GAM have different intercepts: no single risk scale fits both curves (and
# the planted one). The right-hand axis therefore reads the curves as odds ratios against the feature's
# average, the one reading the three share. The EBM shape plots below belong to one model, so they get a
# risk axis ("risk if all else average").
#
# **Reading.** The spline finds the BMI U-shape and the QTc hinge. It *smooths over* the age steps at 65
# and 80: a cubic spline with a few knots cannot jump. Whether a jump at 65 is real (a change of practice at
# retirement age, a coding rule) or an artefact is exactly what a clinician wants to see — so we want a
# model that can show jumps.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 3. Explainable Boosting Machine (EBM)
#
# An EBM (Lou, Caruana & Gehrke, 2012, *KDD*; Nori et al., 2019, InterpretML) is still a GAM, but each
# fⱼ is a **lookup table over bins** of xⱼ, learned by boosting: fit a tiny tree (here: one split, two
# leaves, interpret's default `max_leaves=2`) on one feature to the current gradient, add it with a small
# learning rate, repeat thousands of times. Bagging over several "outer bags" gives each bin a spread.
#
# *Which* feature is boosted next matters, and interpret 0.7.8's default is **not** the round-robin of the
# 2012 paper. With its defaults (`smoothing_rounds=75`, `greedy_ratio=10`, `cyclic_progress=False`), the
# first 75 rounds are cyclic rounds that *do* update the model, with random split points (this smooths the
# curves, and early stopping is off meanwhile); after them, each cyclic pass only *measures* every term's
# gain, and 10 × (number of terms) **greedy** steps boost whichever term gains most (semi-greedy boosting).
# Pairs get the same treatment with their own `interaction_smoothing_rounds` (default 75). We set
# `greedy_ratio=0`, `smoothing_rounds=0` and `interaction_smoothing_rounds=0`: every round then boosts
# every term in turn with its best split (round-robin, every step updating the model). One difference from
# the lab's version remains: interpret visits the terms in a **random permutation** of the columns, drawn
# once at the start (its `randomize_initial_feature_order` option), not in column order.

# %% [markdown] slideshow={"slide_type": "subslide"}
# Why switch smoothing off? It spreads every jump over neighbouring bins, and jumps are what we want to see.
# The choice is a trade-off, not a free win. Measured once, on this notebook's cohort (base seed 0, a side
# experiment not run here), interpret's defaults give smoother and closer curves (R² after purification:
# SBP 0.83 instead of 0.59, QTc 0.82 instead of 0.72, the age × BMI pair 0.89 instead of 0.70) but a
# step at 65 of 0.09 instead of 0.28 log-odds: smoothing buys smooth shapes with visible jumps.
# Other settings, fast here: 4 bags, up to 64 bins, 3 pairwise interactions, learning rate 0.05.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** An EBM is still a GAM, but each curve is a lookup table over bins learned by boosting one feature
# at a time. We switch interpret's smoothing and greedy rounds off so every round visits every term
# (round-robin) — a trade-off: jumps stay visible, curves are noisier. The band is ±1 sd over 4 bags, not a
# 95 % interval: the printed coverage table shows it covers the planted curve in far fewer than 95 % of
# bins. The jump at 65 is the largest of the three models but well under the planted 0.76.
#
# **Clinical point:** for one patient the explanation is exact: intercept plus one looked-up score per
# term (additivity asserted to 1e-9). No sampling, no approximation.
#
# **Expected question:** "Is the band a confidence interval?" — *Answer:* no; the bags share most patients
# and the shrinkage biases them all the same way — read it as "the bags disagree this much".

# %% slideshow={"slide_type": "fragment"}
EBM_SETTINGS = dict(
    outer_bags=4,
    interactions=3,
    learning_rate=0.05,
    max_bins=64,
    early_stopping_rounds=50,
    smoothing_rounds=0,
    interaction_smoothing_rounds=0,
    greedy_ratio=0.0,
    random_state=derived_seed(0),
    n_jobs=1,
)
ebm = ExplainableBoostingClassifier(**EBM_SETTINGS).fit(X, y)
print("terms:", ", ".join(ebm.term_names_))

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
explanation = ebm.explain_global()
fig, axes = plt.subplots(1, 3, figsize=(10, 3.2))
for ax, f, label in zip(axes, ["age", "bmi", "qtc"], ["age (years)", "BMI (kg/m²)", "QTc (ms)"], strict=True):
    d = explanation.data(ebm.term_names_.index(f))  # bin edges, score per bin, bagged band
    plot_shape_function(ax, d["names"], d["scores"], lower=d["lower_bounds"], upper=d["upper_bounds"],
                        truth=cohort.shape_functions[f], xlabel=label,
                        risk_at=ebm.intercept_[0])  # fmt: skip
    ax.set_xlim(np.quantile(X[f], [0.005, 0.995]))
axes[1].legend(fontsize=8, loc="upper left")  # the BMI panel has room there
plt.tight_layout()
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# The age curve now *jumps* at 65 and 80, the BMI curve has its U, and the QTc curve is flat until its
# hinge. The band is **± 1 standard deviation of the bin's score over the 4 bags**: it shows how much the
# bags disagree, it is *not* a 95 % confidence interval for the true curve (4 bags share most of their
# patients, and the band ignores the shrinkage that biases every bag the same way). How often does it cover
# the planted curve? We count, for the bins in the central 95 % of patients, whether the planted value at the
# bin's middle lies inside the band.

# %% slideshow={"slide_type": "fragment"}
coverage = {}
for f in shape_features:
    d = explanation.data(ebm.term_names_.index(f))
    edges_f = np.asarray(d["names"], dtype=float)
    middle = (edges_f[:-1] + edges_f[1:]) / 2
    keep = (middle > np.quantile(X[f], 0.025)) & (middle < np.quantile(X[f], 0.975))
    # centred like the EBM term
    planted_mid = cohort.shape_functions[f](middle) - truth[f].mean()
    inside = (d["lower_bounds"] <= planted_mid) & (planted_mid <= d["upper_bounds"])
    coverage[f] = inside[keep].mean()
coverage = pd.Series(coverage, name="share of bins whose band covers the planted value")
print(coverage.round(2).to_string())

# %% [markdown] slideshow={"slide_type": "subslide"}
# A 95 % interval would cover about 95 % of the bins; the ±1 sd band covers far fewer (see the table;
# it varies with the draw). Read the band as "the bags disagree this much", not "the truth is in here".
#
# How big is the jump at 65? Average each curve over the two years after 65 minus the two years before
# (planted: 0.7 plus two years of slope, 0.76).

# %% slideshow={"slide_type": "fragment"}
def step_at(curve, knot=65.0, width=2.0):
    """Mean of a curve over [knot, knot + width) minus its mean over [knot - width,
    knot)."""
    grid = np.arange(knot - width, knot + width, 0.1) + 0.05
    values = curve(grid)
    return values[grid >= knot].mean() - values[grid < knot].mean()


def ebm_curve(ebm, feature):
    """EBM term of one feature as a function of its value (other features at their
    median)."""

    def curve(values):
        probe = pd.DataFrame([X.median()] * len(values)).reset_index(drop=True)
        probe[feature] = values
        return ebm.eval_terms(probe)[:, ebm.term_names_.index(feature)]

    return curve

# %% slideshow={"slide_type": "subslide"}
steps = pd.Series({
    "planted": step_at(cohort.shape_functions["age"]),
    "logistic": step_at(lambda a: beta[X.columns.get_loc("age")] * a),
    "spline GAM": step_at(lambda a: gam_term(gam, "age", a)),
    "EBM": step_at(ebm_curve(ebm, "age")),
}, name="step in log-odds at 65")  # fmt: skip
print(steps.round(3).to_string())

# %% [markdown]
# The EBM shows the largest jump of the three models, but well under the planted one (the scorecard
# section below measures this over 10 cohorts, with an interval). Boosting with a small learning rate and
# early stopping *shrinks* every bin towards its neighbours, and 4,000 patients (about 150 per year of age
# near 65) cannot pin a jump down sharply. A glass box shows what the data support, not the truth: the
# curve is an estimate.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### A local explanation is a table lookup
#
# For one patient, an EBM's log-odds is the intercept plus one looked-up score per term. No approximation,
# no sampling: the explanation *is* the model. `eval_terms` returns each term's score for each patient.

# %% slideshow={"slide_type": "fragment"}
terms = pd.DataFrame(ebm.eval_terms(X), columns=ebm.term_names_)
patient = 0
local = terms.iloc[patient].sort_values(key=abs, ascending=False)
print(X.iloc[patient].round(1).to_string())

# %% slideshow={"slide_type": "subslide"}
print(f"\nintercept {ebm.intercept_[0]:+.3f}")
print(local.round(3).to_string())
print(
    f"sum = {ebm.intercept_[0] + local.sum():+.3f} = model log-odds "
    f"{ebm.decision_function(X.iloc[[patient]])[0]:+.3f}"
)

# %% slideshow={"slide_type": "skip"}
additivity_error = np.abs(
    ebm.intercept_[0] + terms.sum(axis=1) - ebm.decision_function(X)
).max()

# %% slideshow={"slide_type": "skip"}
assert additivity_error < 1e-9, "intercept + term scores must equal the model's logit for every patient"

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 4. GA2M: interactions found automatically
#
# A GA2M (Lou et al., 2013, *KDD*) adds a few pairwise terms fᵢⱼ(xᵢ, xⱼ). Which pairs? The FAST heuristic
# scores every pair on what the *additive model* could not explain, and keeps the best. With interpret's
# `measure_interactions` that means passing the fitted additive model as `init_score`; without it, the
# pairs are scored from the intercept alone and strong main effects leak into the pair scores. We fit a
# purely additive EBM (`interactions=0`) and score all 55 pairs on its residuals. The null: the 54 pairs
# with no planted interaction.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** GA2M adds a few pair terms chosen by the FAST score. Scored on the additive model's residuals
# (`init_score`), the planted age × BMI pair ranks first, above all 54 unplanted pairs (asserted); scored
# from the intercept, strong main effects leak into the pair scores. After purification the EBM's pair is
# clearly shrunk. Over 10 cohorts the spline GAM recovers the main shapes better than the EBM (paired
# interval below 0), while only the EBM shows the pair and the jump.
#
# **Clinical point:** a pair term answers "does obesity matter less in the old?" in one picture a
# cardiologist can check against the literature.
#
# **Expected question:** "Why purify?" — *Answer:* a pair table can absorb part of a main effect without
# changing any prediction; purification moves those means back into the curves before we compare.

# %% slideshow={"slide_type": "fragment"}
additive = ExplainableBoostingClassifier(**{**EBM_SETTINGS, "interactions": 0}).fit(
    X, y
)


def fast_ranking(X, y, init_score=None):
    return pd.Series(
        {
            f"{X.columns[i]} & {X.columns[j]}": score
            for (i, j), score in measure_interactions(X, y, init_score=init_score)
        }
    )


pair_ranking = fast_ranking(X, y, init_score=additive)
from_intercept = fast_ranking(X, y)

# %% slideshow={"slide_type": "subslide"}
print(
    pd.DataFrame(
        {
            "on the additive model's residuals": pair_ranking.head(5)
            .round(4)
            .to_dict(),
            "from the intercept only": from_intercept.head(5).round(4).to_dict(),
        }
    ).to_string(na_rep="")
)
null_pairs = pair_ranking.drop("age & bmi")
print(
    f"age & bmi: {pair_ranking['age & bmi']:.4f}; the 54 unplanted pairs: up to "
    f"{null_pairs.max():.4f} "
    f"(median {null_pairs.median():.4f})"
)
pairs_in_model = [t for t in ebm.term_names_ if " & " in t]

# %% slideshow={"slide_type": "skip"}
assert pair_ranking["age & bmi"] > null_pairs.max(), "FAST on the residuals ranks the planted pair above every null pair"
assert "age & bmi" in pairs_in_model, "the GA2M (which runs FAST on its own main effects) kept the planted pair"

# %% [markdown] slideshow={"slide_type": "subslide"}
# Do the recovered curves have the planted shapes? A pair table can hide main effects: adding g(age) to
# every row of the age × BMI table and subtracting it from the age curve changes nothing in the
# predictions. Before comparing with the truth we therefore **purify** (Lengerich, Tan, Chang, Hooker &
# Caruana, 2020, *AISTATS*, "Purifying interaction effects with the functional ANOVA"): we move the mean of
# the pair table over BMI into the age curve and its mean over age into the BMI curve, so that the pair term
# keeps only the pure interaction. We purify with respect to the uniform measure on the 15 × 15 grid over
# the central 90 % of age and BMI (the paper purifies with respect to a distribution; age and BMI are
# independent in this cohort, and a grid keeps it simple). `interactions=3` makes interpret keep three pairs
# even though only one is planted, so the EBM also has two *unplanted* pairs; their marginals are folded
# into their features' curves the same way (a binary feature's grid is its two values), and we report how
# large their pure interaction is. Then we score each shape by R² and slope against the planted shape,
# purified the same way, on a 50-point grid over the central 95 % of each feature.

# %% slideshow={"slide_type": "fragment"}
grids = {f: np.linspace(*np.quantile(X[f], [0.025, 0.975]), 50) for f in shape_features}
age_axis, bmi_axis = (
    np.linspace(*np.quantile(X[f], [0.05, 0.95]), 15) for f in ("age", "bmi")
)
ages, bmis = np.meshgrid(age_axis, bmi_axis)  # rows: BMI, columns: age


def purify(table):
    """Pure interaction of a pair table on a uniform grid: remove its row means and
    column means."""
    return (
        table
        - table.mean(axis=0, keepdims=True)
        - table.mean(axis=1, keepdims=True)
        + table.mean()
    )

# %% slideshow={"slide_type": "subslide"}
def pair_marginal(pair_term, feature, values):
    """Mean of a pair term over the other feature's grid: the main effect the pair
    table carries."""
    other = bmi_axis if feature == "age" else age_axis
    v, o = np.repeat(values, len(other)), np.tile(other, len(values))
    a, b = (v, o) if feature == "age" else (o, v)
    return pair_term(a, b).reshape(len(values), len(other)).mean(axis=1)


planted_pair_term = cohort.shape_functions["age:bmi"]
planted_pair = purify(planted_pair_term(ages.ravel(), bmis.ravel()).reshape(ages.shape))

# %% slideshow={"slide_type": "subslide"}
def shape_scores(main_term, pair_term):
    """R² and slope, after purification, of the 5 planted main effects and of the age
    × BMI pair."""
    rows = {}
    for f in shape_features:
        fitted, planted = main_term(f, grids[f]), cohort.shape_functions[f](grids[f])
        if f in ("age", "bmi"):
            fitted = fitted + pair_marginal(pair_term, f, grids[f])
            planted = planted + pair_marginal(planted_pair_term, f, grids[f])
        rows[f] = r2_slope(fitted, planted)
    fitted_pair = purify(pair_term(ages.ravel(), bmis.ravel()).reshape(ages.shape))
    rows["age × bmi"] = r2_slope(fitted_pair.ravel(), planted_pair.ravel())
    return pd.DataFrame(rows, index=["R²", "slope"]).T

# %% slideshow={"slide_type": "subslide"}
def pair_axis(feature):
    """Grid of one feature of a pair: its two values if binary, else 15 points over
    its central 90 %."""
    values = np.unique(X[feature])
    return (
        values
        if len(values) <= 2
        else np.linspace(*np.quantile(X[feature], [0.05, 0.95]), 15)
    )

# %% slideshow={"slide_type": "subslide"}
def ebm_pair(model, name):
    """Pair term `name` ("a & b") of an EBM as a function of its two features (others
    at their median)."""
    first, second = name.split(" & ")

    def term(a, b):
        probe = pd.DataFrame([X.median()] * len(a)).reset_index(drop=True)
        probe[first], probe[second] = a, b
        return model.eval_terms(probe)[:, model.term_names_.index(name)]

    return term

# %% slideshow={"slide_type": "skip"}
def ebm_terms(model):
    """Main term of an EBM with the marginal of every *other* pair that uses the
    feature folded in."""
    others = [t for t in model.term_names_ if " & " in t and t != "age & bmi"]

    def main(f, grid):
        curve = ebm_curve(model, f)(grid)
        for name in others:
            first, second = name.split(" & ")
            if f in (first, second):
                other = pair_axis(second if f == first else first)
                v, o = np.repeat(grid, len(other)), np.tile(other, len(grid))
                a, b = (v, o) if f == first else (o, v)
                curve = curve + ebm_pair(model, name)(a, b).reshape(
                    len(grid), len(other)
                ).mean(axis=1)
        return curve

    def pair(a, b):
        if "age & bmi" not in model.term_names_:
            # FAST chose other pairs: the model has no age × BMI term
            return np.zeros(len(a))
        return ebm_pair(model, "age & bmi")(a, b)

    return main, pair

# %% slideshow={"slide_type": "subslide"}
def unplanted_pairs(model):
    """The pairs FAST added that were not planted, with the RMS of their purified
    (pure-interaction) table."""
    sizes = {}
    for name in (t for t in model.term_names_ if " & " in t and t != "age & bmi"):
        first, second = name.split(" & ")
        A, B = np.meshgrid(pair_axis(first), pair_axis(second))
        table = ebm_pair(model, name)(A.ravel(), B.ravel()).reshape(A.shape)
        sizes[name] = np.sqrt((purify(table) ** 2).mean())
    return sizes


def no_pair(a, b):
    return np.zeros(len(a))

# %% slideshow={"slide_type": "subslide"}
def linear_terms(model, columns):
    per_unit = model[-1].coef_[0] / model[0].scale_
    return (lambda f, grid: per_unit[list(columns).index(f)] * grid), no_pair


def gam_terms(model):
    return (lambda f, grid: gam_term(model, f, grid)), no_pair


scores = pd.concat(
    {
        "EBM": shape_scores(*ebm_terms(ebm)),
        "spline GAM": shape_scores(*gam_terms(gam)),
        # fmt: skip
        "logistic": shape_scores(*linear_terms(logreg, X.columns)),
    },
    axis=1,
)

# %% slideshow={"slide_type": "subslide"}
print(scores.round(2).to_string())
planted_pair_rms = np.sqrt((planted_pair**2).mean())
print(
    "unplanted pairs kept (RMS of their pure interaction, log-odds): "
    + ", ".join(f"{n} {v:.3f}" for n, v in unplanted_pairs(ebm).items())
    + f"; planted pair: {planted_pair_rms:.3f}"
)

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
fitted_pair = purify(ebm_terms(ebm)[1](ages.ravel(), bmis.ravel()).reshape(ages.shape))
fig, axes = plt.subplots(1, 2, figsize=(9, 3.4), sharey=True)
extent = [ages.min(), ages.max(), bmis.min(), bmis.max()]
for ax, values, title in zip(axes, [planted_pair, fitted_pair], ["planted age × BMI (pure)", "EBM pair term, purified"],
                             strict=True):  # fmt: skip
    image = ax.imshow(values, origin="lower", extent=extent, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
    ax.set(xlabel="age (years)", title=title)
axes[0].set_ylabel("BMI (kg/m²)")
fig.colorbar(image, ax=axes, label="contribution (log-odds)")
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** In a young patient a high BMI adds risk; in an old patient it adds less (blue top right).
# A purely additive model cannot say this; the pair term says it in one picture that a cardiologist can
# check against the literature (the "obesity paradox" in older patients). But the learned pair is much
# *flatter* than the planted one (slope well below 1 in the table): boosting shrinks it.

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Scorecard: how much of each planted shape is recovered, over 10 cohorts?
#
# One cohort is one draw. We refit the EBM, the spline GAM and the logistic regression on 9 **fresh
# cohorts** of 4,000 patients from the same generator (10 with this one) and score each fit as above
# (R² and slope after purification, and the step at 65). Intervals: 95 % t-intervals over the 10 cohorts,
# which cover the data draw and the fit. Models fitted on the same cohort are compared cohort by cohort
# (**paired** percentile bootstrap of the difference over the 10 cohorts). The main effects (mean R² over
# the 5) and the pair are reported separately. Nulls: the logistic regression's lines (no pair term), a
# constant shape (R² = 0 and slope = 0 exactly), and for the EBM's main effects the spline GAM as well.

# %% slideshow={"slide_type": "fragment"}
def t_interval(values):
    values = np.asarray(values, dtype=float)
    half = (
        stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values))
    )
    return values.mean(), values.mean() - half, values.mean() + half


per_cohort = {
    "EBM": [scores["EBM"]],
    "spline GAM": [scores["spline GAM"]],
    "logistic": [scores["logistic"]],
}
age_steps = {"EBM": [steps["EBM"]], "spline GAM": [steps["spline GAM"]]}
unplanted = [unplanted_pairs(ebm)]

# %% slideshow={"slide_type": "subslide"}
for r in range(1, 10):  # fresh cohorts: same generator, new patients
    fresh = make_cardio_cohort(n=4000, seed=derived_seed(100 + r))
    Xr = fresh.X.drop(columns="site")
    refit = ExplainableBoostingClassifier(
        **{**EBM_SETTINGS, "random_state": derived_seed(100 + r)}
    ).fit(Xr, fresh.y)
    gam_r = spline_gam(continuous, binary).fit(Xr, fresh.y)
    line = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000)).fit(
        Xr, fresh.y
    )
    per_cohort["EBM"].append(shape_scores(*ebm_terms(refit)))
    per_cohort["spline GAM"].append(shape_scores(*gam_terms(gam_r)))
    per_cohort["logistic"].append(shape_scores(*linear_terms(line, Xr.columns)))
    unplanted.append(unplanted_pairs(refit))
    age_steps["EBM"].append(step_at(ebm_curve(refit, "age")))
    age_steps["spline GAM"].append(step_at(lambda a, g=gam_r: gam_term(g, "age", a)))

# %% slideshow={"slide_type": "subslide"}
mean_r2 = {
    name: np.array([s.loc[shape_features, "R²"].mean() for s in tables])
    for name, tables in per_cohort.items()
}
summary = pd.DataFrame({name: t_interval(v) for name, v in mean_r2.items()},
                       index=["mean R² (5 main effects)", "low", "high"]).T  # fmt: skip
per_shape = pd.concat(
    {
        name: pd.concat(tables).groupby(level=0).mean()
        for name, tables in per_cohort.items()
    },
    axis=1,
)
print(summary.round(3).to_string())
print("\nmean over the 10 cohorts, per shape:\n" + per_shape.round(2).to_string())

# %% slideshow={"slide_type": "subslide"}
def over_cohorts(name, shape, column):
    return np.array([s.loc[shape, column] for s in per_cohort[name]])


paired = {
    name: paired_difference(mean_r2[name], mean_r2["logistic"], seed=derived_seed(200))
    for name in ("EBM", "spline GAM")
}
ebm_vs_gam = paired_difference(
    mean_r2["EBM"], mean_r2["spline GAM"], seed=derived_seed(203)
)
pair_r2, pair_slope = (
    over_cohorts("EBM", "age × bmi", "R²"),
    over_cohorts("EBM", "age × bmi", "slope"),
)

# %% slideshow={"slide_type": "subslide"}
size_error = {
    name: np.array(
        [(1 - s.loc[shape_features, "slope"]).abs().mean() for s in per_cohort[name]]
    )
    for name in per_cohort
}
bent = {
    name: np.array([s.loc[["bmi", "qtc"], "R²"].mean() for s in per_cohort[name]])
    for name in per_cohort
}
bent_gap = paired_difference(
    bent["spline GAM"], bent["logistic"], seed=derived_seed(201)
)
step_gap = paired_difference(
    age_steps["EBM"], age_steps["spline GAM"], seed=derived_seed(202)
)
step_ebm = t_interval(age_steps["EBM"])
unplanted_rms = np.array([max(u.values(), default=0.0) for u in unplanted])

# %% slideshow={"slide_type": "subslide"}
for name in ("EBM", "spline GAM"):
    print(
        f"{name} − logistic, mean R² of the 5 main effects, paired over the 10 "
        f"cohorts: "
        f"{mean_r2[name].mean() - mean_r2['logistic'].mean():+.3f} "
        f"[{paired[name][0]:+.3f}, {paired[name][1]:+.3f}]"
    )
print(
    f"EBM − spline GAM, same metric: "
    f"{mean_r2['EBM'].mean() - mean_r2['spline GAM'].mean():+.3f} "
    f"[{ebm_vs_gam[0]:+.3f}, {ebm_vs_gam[1]:+.3f}]"
)
print(
    f"spline GAM − logistic, mean R² of BMI and QTc: [{bent_gap[0]:+.2f}, "
    f"{bent_gap[1]:+.2f}]"
)

# %% slideshow={"slide_type": "subslide"}
print(
    "EBM pair term: R² {:.2f} [{:.2f}, {:.2f}], slope {:.2f} [{:.2f}, {:.2f}]".format(
        *t_interval(pair_r2), *t_interval(pair_slope)
    )
)
print(
    "mean |1 − slope| of the 5 main effects (0 = right size): "
    + ", ".join(f"{n} {size_error[n].mean():.2f}" for n in size_error)
)
print(
    f"unplanted pairs: {sum(len(u) for u in unplanted)} in 10 cohorts (interactions=3 "
    f"forces 3 pairs); "
    "RMS of the largest pure unplanted interaction {:.3f} [{:.3f}, {:.3f}] vs planted {:.3f}".format(
        *t_interval(unplanted_rms), planted_pair_rms
    )
)

# %% slideshow={"slide_type": "subslide"}
print(
    f"step at 65: planted {steps['planted']:.2f}; EBM {step_ebm[0]:.2f} "
    f"[{step_ebm[1]:.2f}, {step_ebm[2]:.2f}]; "
    f"EBM − spline GAM [{step_gap[0]:+.2f}, {step_gap[1]:+.2f}] (paired)"
)

NOTE = (
    "interval: 95 % t-interval over 10 fits on independent cohorts of 4,000 (this "
    "notebook's + 9 fresh draws); "
    "shapes purified (functional ANOVA on a uniform 15 × 15 grid; the marginals of "
    "every pair, planted or not, "
    "folded into the main curves) before scoring; the nulls are refitted on the same "
    "cohorts and Δ is the paired "
    "percentile-bootstrap interval over those cohorts; the constant shape's score is "
    "exactly 0"
)
EBM_LABEL = "EBM (4 bags, 3 pairs, round-robin, no smoothing rounds for mains or pairs)"

# %% slideshow={"slide_type": "subslide"}
gam_null = {
    "score": summary.loc["spline GAM", "mean R² (5 main effects)"],
    "interval": tuple(summary.loc["spline GAM", ["low", "high"]]),
    "paired": ebm_vs_gam,
}

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
for name, method in (
    ("EBM", EBM_LABEL),
    ("spline GAM", "spline GAM (6 knots, no pair)"),
):
    record(
        module="01",
        method=method,
        data="synthetic cohort, n = 4,000",
        truth="planted shape functions (5 main effects), purified",
        metric="R² of learned vs planted shape after purification, mean over the 5 main effects",
        score=summary.loc[name, "mean R² (5 main effects)"],
        interval=tuple(summary.loc[name, ["low", "high"]]),
        baselines={
            "logistic regression (lines)": {
                "score": summary.loc["logistic", "mean R² (5 main effects)"],
                "interval": tuple(summary.loc["logistic", ["low", "high"]]),
                "paired": paired[name],
            },
            **({"spline GAM (6 knots)": gam_null} if name == "EBM" else {}),
            "constant shape": 0.0,
        },
        note=NOTE,
    )

# %% slideshow={"slide_type": "subslide"}
for metric, values in (("R²", pair_r2), ("slope", pair_slope)):
    mean, low, high = t_interval(values)
    record(
        module="01",
        method=EBM_LABEL,
        data="synthetic cohort, n = 4,000",
        truth="planted pure age × BMI interaction",
        metric=f"{metric} of the purified pair term vs planted (1 = exact)",
        score=mean,
        interval=(low, high),
        baselines={"no pair term (additive model)": 0.0},
        note=NOTE,
    )

# %% slideshow={"slide_type": "skip"}
assert paired["EBM"][0] > 0 and paired["spline GAM"][0] > 0, "both GAMs recover the main shapes better than lines"
assert ebm_vs_gam[1] < 0, "on the 5 main effects the spline GAM beats the EBM, cohort by cohort (paired)"
assert bent_gap[0] > 0, "a spline follows the U-shape and the hinge better than a line, cohort by cohort"
assert t_interval(pair_r2)[1] > 0, "the EBM's pair term recovers part of the planted interaction"
assert t_interval(pair_slope)[2] < 1, "but it is shrunk: the pair slope's interval lies below 1"
assert step_gap[0] > 0, "the binned model shows a larger jump at 65 than the spline"
assert step_ebm[2] < steps["planted"], "yet it underestimates the planted jump"

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** The headline is split on purpose: a mean over "5 main effects + the pair" would give the
# spline and the lines a structural 0 for the pair they cannot have, and the EBM would win on that alone.
# - **Main effects:** both GAMs recover them better than a line per feature, cohort by cohort, but the
#   **spline GAM recovers them better than the EBM** (paired interval of EBM − spline GAM below 0). The EBM
#   loses most where the truth is smooth: SBP and cholesterol are lines, QTc a hinge; its binned curves are
#   noisier, and the two unplanted pairs that `interactions=3` forces into the model carry part of SBP
#   (their marginals are folded in above, their pure parts are small next to the planted pair). Where the
#   truth *is* a line (SBP, cholesterol) the logistic regression is the best estimate of all.
# - **Size:** the mean |1 − slope| over the 5 main effects shows how far each model is from the right size;
#   a mean slope would let a slope of 1.1 (SBP) cancel a slope of 0.9.
# - **The pair and the jump**, which only the EBM can show: its pair term is clearly *shrunk* (slope well
#   below 1), and its age jump at 65 is larger than the spline's but well under the planted 0.76 log-odds
#   (an earlier version of this notebook measured 0.29 on one cohort; the interval above is over 10). A
#   binned model pays for its flexibility with noise and shrinkage; what it buys is the jump and the pair.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 5. Real data: reading — and editing — the cholesterol-0 artefact
#
# Module 00 found that 172 patients from two hospitals have cholesterol recorded as 0 and 88 % of them are
# sick. A black box hid that. An EBM shows it directly as the score of its first cholesterol bin. The UCI
# data also have many *missing* values (NaN); interpret gives each feature a separate missing-value bin
# (`missing="separate"`), stores its score at index 0 of the term's table, and **leaves it out of its
# plots**, warning about it at every fit. We silence that warning only around our own fits (a scoped
# `warnings.catch_warnings`) and print those scores ourselves.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** On UCI heart the EBM shows the cholesterol-0 artefact directly as its riskiest cholesterol bin,
# and interpret also stores missing-value bins it never plots — we print them. Because the model is its
# tables, we edit it: zero the chol-0 bin, then all missing-value bins. Only the 172 chol-0 patients
# change (asserted). Hospital by hospital and at a new hospital the edits cost nothing beyond the 0.02
# margin (asserted); the pooled AUC drops, and that drop is between-hospital ranking.
#
# **Clinical point:** an edit removes what you edit, not necessarily the shortcut: the hospital is also
# carried by other gaps. A possible gain at a new site appears on some draws only, so it is not asserted.
#
# **Expected question:** "Could we do this with a black box?" — *Answer:* not exactly and locally; one would
# retrain without the feature and hope.

# %% slideshow={"slide_type": "fragment"}
heart = load_heart_disease()
Xh, yh = heart[list(FEATURES)], heart["disease"].to_numpy()
site = heart["site"].to_numpy()


def fit_quietly(model, X, y):
    """Fit, silencing only interpret's 'Missing values detected' warning (we show
    those bins ourselves)."""
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Missing values detected", category=UserWarning
        )
        return model.fit(X, y)


ebm_heart = fit_quietly(ExplainableBoostingClassifier(**EBM_SETTINGS), Xh, yh)
chol = ebm_heart.term_names_.index("chol")
d = ebm_heart.explain_global().data(chol)

# %% slideshow={"slide_type": "subslide"}
# the first plotted bin holds cholesterol 0 and nothing else
zero_bin_score = d["scores"][0]
print(
    f"first cholesterol bin: [{d['names'][0]:.0f}, {d['names'][1]:.1f}) mg/dL, score "
    f"{zero_bin_score:+.3f}"
)
print(
    f"scores of all other bins: from {d['scores'][1:].min():+.3f} to "
    f"{d['scores'][1:].max():+.3f}"
)
print("pair terms:", [t for t in ebm_heart.term_names_ if " & " in t])

# %% slideshow={"slide_type": "skip"}
assert Xh["chol"][(Xh["chol"] > 0)].min() > d["names"][1], (
    "the first bin contains only the zeros"
)
assert zero_bin_score == d["scores"].max(), (
    "the artefact bin is the riskiest cholesterol value"
)

# %% slideshow={"slide_type": "subslide"}
hidden = pd.DataFrame(
    {
        "patients missing": Xh.isna().sum(),
        "missing-bin score": [
            ebm_heart.term_scores_[ebm_heart.term_names_.index(f)][0] for f in FEATURES
        ],
        "plotted scores from": [
            ebm_heart.term_scores_[ebm_heart.term_names_.index(f)][1:].min()
            for f in FEATURES
        ],
        "to": [
            ebm_heart.term_scores_[ebm_heart.term_names_.index(f)][1:].max()
            for f in FEATURES
        ],
    },
    index=list(FEATURES),
).query("`patients missing` > 0")

# %% slideshow={"slide_type": "subslide"}
print(
    "\nthe missing-value bins interpret does not plot (log-odds):\n"
    + hidden.round(3).to_string()
)

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
fig, ax = plt.subplots()
edges = np.array(d["names"], dtype=float)
edges[0] = -25.0  # draw the zero bin with a visible width
plot_shape_function(ax, edges, d["scores"], lower=d["lower_bounds"], upper=d["upper_bounds"],
                    xlabel="serum cholesterol (mg/dL)", color="#D55E00",
                    risk_at=ebm_heart.intercept_[0])  # fmt: skip
ax.annotate("cholesterol recorded as 0", (0, zero_bin_score), (120, zero_bin_score + 0.1),
            arrowprops={"arrowstyle": "->"})  # fmt: skip
ax.axhline(hidden.loc["chol", "missing-bin score"], color="#0072B2", linestyle=":", label="missing (NaN), not plotted by interpret")
ax.legend(loc="upper right", fontsize=8)
plt.show()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Editing the model
#
# Because the model *is* its tables, we can remove the artefact: set the score of the cholesterol-0 bin to
# 0 (the average patient) in every term that uses cholesterol, including pairs. Nothing else changes. A
# second, stronger edit also zeroes the **missing-value** bin of every term (index 0 of each table), since
# module 00 showed that gaps in the record reveal the hospital just as well.

# %% slideshow={"slide_type": "fragment"}
def zero_bin(model, feature, value):
    """Copy of an EBM whose bin containing `value` of `feature` scores 0 in every
    term using the feature."""
    edited = copy.deepcopy(model)
    f = list(model.feature_names_in_).index(feature)
    for t, features in enumerate(edited.term_features_):
        if f in features:
            # pairs may use coarser bins
            cuts = edited.bins_[f][min(len(features), len(edited.bins_[f])) - 1]
            index = [slice(None)] * len(features)
            # bin 0 = missing
            index[features.index(f)] = np.searchsorted(cuts, value, side="right") + 1
            edited.term_scores_[t][tuple(index)] = 0.0
    return edited

# %% slideshow={"slide_type": "subslide"}
def zero_missing_bins(model):
    """Copy of an EBM in which a missing value scores 0 (the average patient) in
    every term."""
    edited = copy.deepcopy(model)
    for scores in edited.term_scores_:
        scores[0] = 0.0  # index 0 along the first axis = first feature missing
        if scores.ndim == 2:
            scores[:, 0] = 0.0
    return edited


zero = (Xh["chol"] == 0).to_numpy()
no_chol_zero = zero_bin(ebm_heart, "chol", 0.0)
risk_before, risk_after = (
    ebm_heart.predict_proba(Xh)[:, 1],
    no_chol_zero.predict_proba(Xh)[:, 1],
)

# %% slideshow={"slide_type": "subslide"}
print(
    f"mean predicted risk of the {zero.sum()} chol-0 patients: "
    f"{risk_before[zero].mean():.3f} -> "
    f"{risk_after[zero].mean():.3f}; largest change for anyone else: "
    f"{np.abs(risk_after - risk_before)[~zero].max():.3f}"
)

# %% slideshow={"slide_type": "skip"}
assert np.array_equal(risk_before[~zero], risk_after[~zero]), "the edit touches only the chol-0 patients"
assert risk_after[zero].mean() < risk_before[zero].mean()

# %% [markdown] slideshow={"slide_type": "subslide"}
# ### Does the edit remove what a new hospital would not reproduce?
#
# Claim to test: the missing-value and chol-0 scores encode recording habits of the four hospitals, so
# removing them should cost nothing that a hospital the model has never seen would reproduce. Two
# measurements, each with the edits applied after training:
#
# - **within the hospitals**: 5-fold cross-validation over all 920 patients (2 bags per fold to stay fast);
# - **at a new hospital**: leave one site out — train on three hospitals, edit, score the fourth.
#
# **Compare like with like.** A new hospital's AUC ranks that hospital's patients among themselves. An AUC
# *pooled* over the four hospitals also rewards ranking patients *between* hospitals, and prevalence differs
# a lot by hospital, and missing values flag the three hospitals other than Cleveland (both printed below). So the within-hospital effect is computed the same
# way as at a new site: AUC per hospital, then the mean over the 4 hospitals. The pooled within-hospital AUC
# is shown as well, and "pooled − per hospital" measures how much of the edit's effect on it is
# between-hospital ranking.

# %% [markdown] slideshow={"slide_type": "subslide"}
# AUC by the Mann–Whitney rank formula. Intervals: paired percentile bootstrap of AUC(edited) − AUC(as
# trained) over the same held-out patients, 1,000 resamples drawn within each site, and the *same* resampled
# patients used for every row, so that differences between rows are paired contrasts too. Switzerland has
# only 8 patients without disease: its interval is wide (and a resample with none is dropped), and we say so
# rather than conclude. **Margin stated in advance** (as in section 6): an edit "costs nothing measurable" if
# the lower bound of its interval is above −0.02 AUC.

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
def auc(y, score):
    """AUC by the rank (Mann–Whitney) formula, ties counted one half; vectorised over leading axes.

    A resample with no patient of one class has no AUC: nan (dropped by the interval below)."""
    ranks = stats.rankdata(score, axis=-1)
    positives = y.sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return ((ranks * y).sum(axis=-1) - positives * (positives + 1) / 2) / (
            positives * (y.shape[-1] - positives)
        )


FAST_EBM = {**EBM_SETTINGS, "outer_bags": 2}
EDITS = ["chol-0 bin zeroed", "+ missing bins zeroed"]


def edited_scores(model, X):
    variants = {"as trained": model, "chol-0 bin zeroed": zero_bin(model, "chol", 0.0)}
    variants["+ missing bins zeroed"] = zero_missing_bins(variants["chol-0 bin zeroed"])
    return {name: m.decision_function(X) for name, m in variants.items()}


cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=derived_seed(0))
within = {name: np.zeros(len(yh)) for name in ["as trained", *EDITS]}
for train, test in cv.split(Xh, yh):
    fold_model = fit_quietly(
        ExplainableBoostingClassifier(**FAST_EBM), Xh.iloc[train], yh[train]
    )
    for name, s in edited_scores(fold_model, Xh.iloc[test]).items():
        # out-of-fold scores: every patient scored by a model that never saw them
        within[name][test] = s

loso = {}
for held_out in heart["site"].unique():
    out = site == held_out
    site_model = fit_quietly(
        ExplainableBoostingClassifier(**FAST_EBM), Xh[~out], yh[~out]
    )
    loso[held_out] = edited_scores(site_model, Xh[out])

rng = np.random.default_rng(derived_seed(300))
sites = list(loso)
position = {h: np.flatnonzero(site == h) for h in sites}
# resample within each site
local = {h: rng.integers(0, len(position[h]), (1000, len(position[h]))) for h in sites}
# the same patients, all sites together
pooled = np.concatenate([position[h][local[h]] for h in sites], axis=1)


def interval(point, draws):
    # nan: a resample with no patient of one class
    return (point, *np.nanquantile(draws, [0.025, 0.975]))


rows = {}
for edit in EDITS:
    pooled_draws = auc(yh[pooled], within[edit][pooled]) - auc(
        yh[pooled], within["as trained"][pooled]
    )
    pooled_point = auc(yh, within[edit]) - auc(yh, within["as trained"])
    rows[("within, pooled over hospitals", edit)] = interval(pooled_point, pooled_draws)
    within_draws, within_points, site_draws, site_points = [], [], [], []
    for h in sites:
        ys, r = yh[position[h]], local[h]
        w, s = {name: v[position[h]] for name, v in within.items()}, loso[h]
        within_draws.append(auc(ys[r], w[edit][r]) - auc(ys[r], w["as trained"][r]))
        within_points.append(auc(ys, w[edit]) - auc(ys, w["as trained"]))
        site_draws.append(auc(ys[r], s[edit][r]) - auc(ys[r], s["as trained"][r]))
        site_points.append(auc(ys, s[edit]) - auc(ys, s["as trained"]))
        rows[(f"new site: {h}", edit)] = interval(site_points[-1], site_draws[-1])
    within_mean, site_mean = np.mean(within_draws, axis=0), np.mean(site_draws, axis=0)
    rows[("within, per hospital (mean of 4)", edit)] = interval(
        np.mean(within_points), within_mean
    )
    rows[("new site: mean of 4", edit)] = interval(np.mean(site_points), site_mean)
    rows[("new site − within (both per hospital)", edit)] = interval(
        np.mean(site_points) - np.mean(within_points), site_mean - within_mean
    )
    rows[("within: pooled − per hospital", edit)] = interval(
        pooled_point - np.mean(within_points), pooled_draws - within_mean
    )
edit_effect = pd.DataFrame(rows, index=["ΔAUC", "low", "high"]).T
print(
    pd.DataFrame(
        {
            "prevalence": [yh[site == h].mean() for h in sites],
            "share with a missing value": [
                Xh[site == h].isna().any(axis=1).mean() for h in sites
            ],
        },
        index=sites,
    )
    .round(2)
    .to_string()
    + "\n"
)
print(edit_effect.round(3).to_string())
print(
    "\nAUC as trained: within "
    + f"{auc(yh, within['as trained']):.3f}; new site "
    + ", ".join(f"{h} {auc(yh[position[h]], loso[h]['as trained']):.3f}" for h in sites)
)

# %% slideshow={"slide_type": "skip"}
for edit in EDITS:
    assert edit_effect.loc[("within, per hospital (mean of 4)", edit), "low"] > -0.02, \
        f"{edit}: no within-hospital loss beyond the 0.02 margin (AUC per hospital, as at a new site)"
    assert edit_effect.loc[("new site: mean of 4", edit), "low"] > -0.02, \
        f"{edit}: no loss beyond the 0.02 margin at a hospital the model has never seen"
assert edit_effect.loc[("within, pooled over hospitals", "+ missing bins zeroed"), "high"] < 0, \
    "zeroing the missing-value bins lowers the AUC pooled over the four hospitals"
assert edit_effect.loc[("within: pooled − per hospital", "+ missing bins zeroed"), "high"] < 0, \
    "that pooled loss is between-hospital ranking: it is larger than the per-hospital effect"

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading, honestly.**
# - Zeroing the cholesterol-0 bin lowers the predicted risk of those 172 patients but barely moves any AUC:
#   presumably because the same "which hospital?" signal is *also* carried by the missing `ca`, `thal` and
#   `slope` of those patients, so the other terms still rank them high (a hypothesis we do not test here).
#   An edit removes what you edit, not necessarily the shortcut.
# - Zeroing every missing-value bin as well lowers the AUC **pooled** over the four training hospitals (the
#   interval lies below 0). An earlier version of this notebook read that as a "within-hospital cost that
#   does not travel"; it compared a pooled AUC with per-hospital AUCs. Measured like with like, **hospital by
#   hospital, there is no measurable cost**: the per-hospital mean change is small (on this draw +0.007
#   [−0.008, +0.020]; in separate runs with base seeds 0–5 its interval included 0 on five of six), and the
#   pooled drop is "pooled − per hospital" (asserted below 0), i.e. the edit removes the model's ability to
#   tell the hospitals apart (between-hospital ranking), which no single new hospital can reward.
# - At a new hospital the edit costs nothing measurable either (lower bound above −0.02, asserted; it holds
#   on every base seed in `make robustness`). We had also expected a *gain* there. On this draw there is one
#   (mean of 4 new sites +0.036 [+0.014, +0.059]; VA Long Beach, where every patient has a gap, +0.104
#   [+0.020, +0.187]), larger than the per-hospital change within (new site − within +0.029 [+0.005,
#   +0.053]). But in separate runs with base seeds 1, 2, 4 and 5 both intervals include 0, so the notebook
#   does not assert a gain. What holds on every draw: **no measurable loss within a hospital or at a new one; the
#   pooled-AUC loss is between-hospital ranking.** At Cleveland almost nothing is missing, so the edit changes
#   little there; Switzerland's interval is wide.

# %% [markdown] slideshow={"slide_type": "subslide"}
# - Only a glass box makes this edit exact and local; with a black box one would retrain and hope.

# %% [markdown] slideshow={"slide_type": "slide"}
# ## 6. The false dilemma, measured
#
# Out-of-fold AUC (5 folds, the same folds for every model) of logistic regression, the spline GAM, the EBM
# (with 3 pairs) and a boosted black box (histogram gradient boosting), on both data sets. Two cautions:
#
# - **The synthetic cohort is circular.** Its logit *is* a GA2M (five main effects and one pair), so a
#   GA2M cannot lose there for lack of flexibility. It tests the fitting, not the dilemma; the real data
#   (UCI heart disease) are the test that counts.

# %% [markdown] slideshow={"slide_type": "subslide"}
# - **A fair black box is tuned.** On UCI heart, inside each training fold and on training patients only,
#   `GridSearchCV` chooses among 4 settings (learning rate 0.02 or 0.1 × 3 or 8 leaves, at least 40
#   patients per leaf) by 3-fold cross-validated AUC, each fit stopping early (up to 300 trees, 20 rounds
#   without gain on an internal 20 % split), then refits on the whole training fold. The grid is small to
#   fit the time budget, and it was chosen with the data: in side experiments on base seed 0, an 8-setting
#   grid (also 10 patients per leaf) picked 40 in 3 of 5 folds and reached the same out-of-fold AUC
#   (0.8995 vs 0.8997 here), and a 36-setting grid that also varies L2 and allows 16 leaves reached 0.8995.
#   Choosing the grid from the data favours the black box, not the EBM. On the
#   synthetic cohort, where the comparison is circular anyway, a cheaper grid keeps the notebook within its
#   time budget: 4 settings (learning rate 0.05 or 0.2 × 4 or 16 leaves, 150 trees) chosen on one 25 %
#   hold-out of the training fold. The EBM keeps its fixed settings. (An earlier version tuned UCI heart with
#   the cheap grid too; the trees then lost about 0.01 AUC, which read as EBM superiority.)
#
# Every patient gets one out-of-fold prediction per model, so the models are compared on the **same**
# patients: the interval of AUC(EBM) − AUC(boosted trees) is a paired bootstrap over patients (1,000
# resamples; it ignores that folds share training data, Bates, Hastie & Tibshirani, 2024, *JASA*, so it is
# somewhat too narrow). **Margin stated in advance: the EBM is non-inferior if the lower bound of that
# interval is above −0.02.**

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** The comparison: out-of-fold AUC of four models on the same folds, with a tuned black box and a
# non-inferiority margin of −0.02 stated in advance. The EBM is non-inferior on both data sets (asserted);
# that is not evidence it is better — the paired AUC and Brier intervals include 0 on UCI heart. On the
# synthetic cohort the result is circular, as its logit is a GA2M.
#
# **Clinical point:** on structured data with meaningful features you can often have the readable model at
# no measurable cost, as Rudin argues — not on images, signals or text.
#
# **Expected question:** "Was the black box tuned fairly?" — *Answer:* yes, inside each training fold; a
# larger grid reached the same AUC, and choosing the grid from the data favours the black box.

# %% slideshow={"slide_type": "fragment"}
def heart_design(frame):
    """One-hot categoricals (with a column for missing) for the linear models;
    numbers stay as they are."""
    return pd.get_dummies(
        frame, columns=["cp", "restecg", "slope", "thal"], dummy_na=True, dtype=float
    )

# %% slideshow={"slide_type": "subslide"}
def tuned_boosted_trees():
    """UCI heart: 4 settings, 3-fold CV on the training fold, early stopping on a
    20 % split of each fit."""
    grid = {
        "learning_rate": [0.02, 0.1],
        "max_leaf_nodes": [3, 8],
        "min_samples_leaf": [40],
    }
    trees = HistGradientBoostingClassifier(
        max_iter=300,
        early_stopping=True,
        validation_fraction=0.2,
        n_iter_no_change=20,
        categorical_features="from_dtype",
        random_state=derived_seed(0),
    )
    return GridSearchCV(
        trees,
        grid,
        scoring="roc_auc",
        cv=StratifiedKFold(3, shuffle=True, random_state=derived_seed(1)),
    )

# %% slideshow={"slide_type": "subslide"}
def cheaply_tuned_boosted_trees():
    """Synthetic cohort (circular anyway, 4,000 patients): 4 settings chosen on one
    25 % hold-out."""
    grid = {"learning_rate": [0.05, 0.2], "max_leaf_nodes": [4, 16]}
    trees = HistGradientBoostingClassifier(
        max_iter=150, categorical_features="from_dtype", random_state=derived_seed(0)
    )
    return GridSearchCV(
        trees,
        grid,
        scoring="roc_auc",
        cv=ShuffleSplit(n_splits=1, test_size=0.25, random_state=derived_seed(1)),
    )


heart_splines = ["age", "trestbps", "chol", "thalch", "oldpeak"]

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
models = {
    "logistic": lambda: make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True),
        StandardScaler(),
        LogisticRegression(max_iter=2000),
    ),
    "spline GAM": lambda: make_pipeline(
        SimpleImputer(strategy="median", add_indicator=True).set_output(
            transform="pandas"
        ),
        ColumnTransformer(
            [
                (f, SplineTransformer(n_knots=5, knots="quantile"), [f])
                for f in heart_splines
            ],
            remainder="passthrough",
        ),
        StandardScaler(),
        LogisticRegression(C=0.1, max_iter=2000),
    ),
    "EBM": lambda: ExplainableBoostingClassifier(**FAST_EBM),
    "boosted trees (tuned)": tuned_boosted_trees,
}

# %% slideshow={"slide_type": "fragment"}
cohort_models = {
    **models,
    "spline GAM": lambda: spline_gam(continuous, binary),
    "boosted trees (tuned)": cheaply_tuned_boosted_trees,
}

# %% slideshow={"slide_type": "subslide"}
def out_of_fold(models, features, target, linear_features=None):
    """One out-of-fold predicted risk per patient and model (same folds for all)."""
    predictions = {}
    for name, make in models.items():
        data = (
            linear_features
            if (linear_features is not None and name in ("logistic", "spline GAM"))
            else features
        )
        predictions[name] = np.zeros(len(target))
        for train, test in cv.split(features, target):
            fitted = fit_quietly(make(), data.iloc[train], target[train])
            predictions[name][test] = fitted.predict_proba(data.iloc[test])[:, 1]
    return predictions

# %% slideshow={"slide_type": "subslide"}
def auc_table(predictions, target, rng):
    rows = {}
    for name, p in predictions.items():
        idx = rng.integers(0, len(target), (1000, len(target)))
        rows[name] = {
            "mean": auc(target, p),
            **dict(
                zip(
                    ["low", "high"],
                    np.quantile(auc(target[idx], p[idx]), [0.025, 0.975]),
                )
            ),
        }
    return pd.DataFrame(rows).T


rng = np.random.default_rng(derived_seed(400))
oof_cohort = out_of_fold(cohort_models, X, y)

# %% slideshow={"slide_type": "subslide"}
oof_heart = out_of_fold(models, Xh, yh, linear_features=heart_design(Xh))
auc_cohort, auc_heart = auc_table(oof_cohort, y, rng), auc_table(oof_heart, yh, rng)
gap, brier_gap = {}, {}

# %% slideshow={"slide_type": "subslide"}
for data_name, oof, target in (
    ("synthetic cohort", oof_cohort, y),
    ("UCI heart disease", oof_heart, yh),
):
    ebm_p, trees_p = oof["EBM"], oof["boosted trees (tuned)"]
    # the same resamples for AUC and Brier
    idx = rng.integers(0, len(target), (1000, len(target)))
    draws = auc(target[idx], ebm_p[idx]) - auc(target[idx], trees_p[idx])
    gap[data_name] = (
        auc(target, ebm_p) - auc(target, trees_p),
        *np.quantile(draws, [0.025, 0.975]),
    )
    brier = ((ebm_p[idx] - target[idx]) ** 2).mean(axis=1) - (
        (trees_p[idx] - target[idx]) ** 2
    ).mean(axis=1)
    brier_gap[data_name] = (
        ((ebm_p - target) ** 2).mean() - ((trees_p - target) ** 2).mean(),
        *np.quantile(brier, [0.025, 0.975]),
    )

# %% slideshow={"slide_type": "subslide"}
gap = pd.DataFrame(gap, index=["EBM − boosted trees", "low", "high"]).T
brier_gap = pd.DataFrame(
    brier_gap, index=["Brier(EBM) − Brier(trees)", "low", "high"]
).T
print(
    f"synthetic cohort (true-logit AUC on these patients: "
    f"{auc(y, cohort.logit):.3f})\n{auc_cohort.round(3).to_string()}"
)
print(f"\nUCI heart disease\n{auc_heart.round(3).to_string()}")

# %% slideshow={"slide_type": "subslide"}
print(f"\npaired AUC difference (same patients)\n{gap.round(3).to_string()}")
print(
    f"\npaired Brier difference (lower is better; same "
    f"resamples)\n{brier_gap.round(4).to_string()}"
)

# %% slideshow={"slide_type": "subslide"} tags=["remove-input"]
fig, axes = plt.subplots(1, 2, figsize=(10, 2.8))
plot_auc_intervals(axes[0], auc_cohort, title="synthetic cohort (n = 4,000)", xlabel="out-of-fold AUC (95 % bootstrap)")
plot_auc_intervals(axes[1], auc_heart, title="UCI heart disease (n = 920)", xlabel="out-of-fold AUC (95 % bootstrap)")
plt.tight_layout()
plt.show()

# %% slideshow={"slide_type": "skip"}
assert (gap["low"] > -0.02).all(), "EBM non-inferior to the tuned black box: lower bound above −0.02 on both data sets"

# %% [markdown] slideshow={"slide_type": "subslide"}
# **Reading.** On both data sets the EBM is non-inferior to the tuned boosted black box within the margin
# stated in advance (lower bound of the paired interval above −0.02; see the table for the values on this
# draw). That is no evidence that it is *better*: with the black box tuned by cross-validation, the paired
# AUC interval on UCI heart includes 0 on base seed 0 (+0.003 [−0.003, +0.009]; with the cheap grid an
# earlier version showed +0.013 [+0.006, +0.020]), and so does the paired Brier-score difference
# (calibration and sharpness together; lower is better). On the synthetic cohort non-inferiority is
# expected, not evidence: the data *are* a GA2M, and every flexible
# model approaches the AUC of the true logit, the ceiling that no model can beat. On the real data with
# 920 patients, the intervals of all four models overlap. This is the pattern Rudin (2019) describes for
# structured data with meaningful features; it is *not* a theorem — on images, signals or text a glass box
# of this kind is usually much weaker (modules 02–05).

# %% [markdown] slideshow={"slide_type": "slide"}
# ## Take-aways
#
# 1. An odds ratio needs its unit, and a line hides U-shapes, hinges and steps.
# 2. A GAM gives one curve per feature; an EBM learns those curves as boosted lookup tables and can show
#    jumps. Its prediction for a patient is *exactly* the intercept plus one looked-up score per term.
# 3. GA2M finds interactions on the residuals of the additive model (`init_score`); on the cohort it found
#    the planted age × BMI pair. Judged by R² and slope after purification, over 10 cohorts, both GAMs
#    recover the main shapes better than lines, and the spline better than the EBM; the EBM alone shows the
#    pair and the jump at 65, both shrunk.
# 4. Reading the model found the cholesterol-0 artefact and the missing-value bins interpret does not plot.
#    Zeroing them costs no measurable AUC, hospital by hospital or at a new hospital (leave one site out);
#    the AUC pooled over hospitals drops because the edit removes between-hospital ranking.
# 5. On tabular data the EBM was non-inferior to a tuned black box (paired lower bound above −0.02 AUC); on
#    the synthetic cohort this is circular, on the real data it is the evidence.
#
# **Lab 01:** build a mini-EBM by cyclic boosting, explain an EBM by table lookup, write a FAST-like pair
# score, edit a shape function and measure the effect, and decide which term to edit before deploying at a
# new hospital, defended by a leave-one-site-out measurement.

# %% [markdown] slideshow={"slide_type": "notes"}
# **Say:** Five points: units for odds ratios, curves instead of lines, pairs on residuals, editing the
# artefact, and non-inferiority on tabular data.
#
# **Clinical point:** a model you can read is a model you can audit and correct before deployment.
#
# **Expected question:** "When should I still use a black box?" — *Answer:* when the inputs are raw signals
# or images and the interpretable model is measurably weaker; then the later modules' tools apply.
