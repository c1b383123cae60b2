# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 06 · Can we trust the confidence?
#
# In the lecture you used scikit-learn, MAPIE and statsmodels to validate, calibrate and wrap a model. Here
# you write the numbers a validation report rests on yourself, each in a few lines, and check each one
# against a planted truth:
#
# 1. the expected calibration error (ECE) and its binning,
# 2. temperature scaling, fitted by the negative log-likelihood (NLL),
# 3. the split-conformal quantile with its finite-sample correction, and the prediction sets it gives,
# 4. PPV and NPV from sensitivity, specificity and prevalence, and the likelihood ratios,
# 5. patient-level leakage in a train/test split, and the optimism it buys,
# 6. Cohen's kappa between annotators with known flip rates,
# 7. a judgement: is the model fit for a new site, given its calibration and coverage there?
#
# Each exercise is followed by a check cell: it prints a ✔ line when your function is right, or tells you
# what to fix. Replace each `raise NotImplementedError(...)` with your code. The written answers (4b, 7b)
# are checked only for completeness (sentences that touch each topic): their ✔ means *complete*, not
# *correct* — a person marks them with the rubric.
#
# **Data.** `make_trust_cohort` draws chest-pain patients with 1–5 visit records each (near-duplicates of
# one physiology, the patient's outcome repeated), five sites of which site 4 has a planted measurement
# shift (QTc and ST deviation read high; the outcome does not change), three annotators with flip rates
# 5 %, 15 % and 30 %, and the exact true risk `p_true` of every record. A *development* cohort trains and
# calibrates the models; a second draw of fresh patients plays the *deployment* sites.

# %%
import math

import matplotlib.pyplot as plt
import numpy as np
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import GroupKFold, KFold, cross_val_predict
from sklearn.neighbors import KNeighborsClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
import statsmodels.stats.inter_rater  # noqa: F401  (imported here so that the kappa check cell stays fast)

from xaihealth.checks.trust import (
    SENSIBLE_MAX_ECE,
    SENSIBLE_MIN_COVERAGE,
    check_answer_4b,
    check_answer_7b,
    check_cohen_kappa,
    check_conformal_quantile,
    check_expected_calibration_error,
    check_fit_for_site,
    check_fit_temperature,
    check_leaked_fraction,
    check_prediction_sets,
    check_predictive_values,
    check_temperature_report,
)
from xaihealth.data import make_trust_cohort
from xaihealth.data.trust import expected_kappa
from xaihealth.notebook import derived_seed, setup
from xaihealth.scorecard import paired_difference

SEED = setup(seed=0)

dev = make_trust_cohort(n_patients=1500, seed=derived_seed(0))
deploy = make_trust_cohort(n_patients=2500, seed=derived_seed(1))
SHIFTED = dev.truth["shifted_site"]
X_dev, y_dev = dev.X.to_numpy(), dev.y
X_dep, y_dep = deploy.X.to_numpy(), deploy.y

# The development sites are 0-3; their patients are split 60/40 into training and calibration patients.
home = dev.site != SHIFTED
home_patients = np.unique(dev.patient[home])
cal_patients = np.random.default_rng(derived_seed(2)).choice(home_patients, len(home_patients) * 2 // 5, replace=False)
cal = home & np.isin(dev.patient, cal_patients)
train = home & ~cal
model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X_dev[train], y_dev[train])
print(f"development: {dev.n_records} records of {len(np.unique(dev.patient))} patients; training "
      f"{train.sum()} records, calibration {cal.sum()}; deployment: {deploy.n_records} records at sites "
      f"{sorted(set(deploy.site.tolist()))} (site {SHIFTED} shifted)")


def cluster_bootstrap(statistic, groups, seed, n_resamples=1000, level=0.95):
    """Percentile interval of ``statistic(index)`` resampling whole patients (their records stay together)."""
    groups = np.asarray(groups)
    ids, inverse = np.unique(groups, return_inverse=True)
    members = [np.flatnonzero(inverse == k) for k in range(len(ids))]
    rng = np.random.default_rng(seed)
    values = [statistic(np.concatenate([members[k] for k in rng.integers(0, len(ids), len(ids))]))
              for _ in range(n_resamples)]
    return tuple(np.quantile(values, [(1 - level) / 2, (1 + level) / 2]))


# %% [markdown]
# ## Exercise 1 — expected calibration error (3 points)
#
# Write `expected_calibration_error(y_true, p, n_bins=10)` for a binary outcome: `y_true` holds 0/1
# labels, `p` the predicted probabilities of class 1.
#
# 1. Cut [0, 1] (always [0, 1], not [min p, max p] of the sample) into `n_bins` **equal-width** bins with
#    edges `np.linspace(0, 1, n_bins + 1)`: bin b is
#    $[b/B, (b+1)/B)$, except the **last, which is closed**, $[1 - 1/B, 1]$, so that $p = 1.0$ is counted.
# 2. $\mathrm{ECE} = \sum_b \frac{n_b}{n}\,\bigl|\bar y_b - \bar p_b\bigr|$ over the non-empty bins:
#    each bin's gap between the observed rate and the mean predicted risk, weighted by its share of cases.
#
# (Naeini, Cooper & Hauskrecht, 2015, *AAAI*; Guo et al., 2017, *ICML*, use the top-label version of the
# same sum for multiclass models.) The checker compares your value exactly with its own for 3, 7, 10 and
# 15 bins on planted samples: one with a third of the cases at exactly $p = 1.0$, one where
# $\bar y = \bar p$ overall yet every bin is off by 0.3, one with most $p$ near 0.

# %%
def expected_calibration_error(y_true, p, n_bins=10):
    ### BEGIN SOLUTION
    y, p = np.asarray(y_true, dtype=float), np.asarray(p, dtype=float)
    index = np.digitize(p, np.linspace(0, 1, n_bins + 1)[1:-1])  # 0..n_bins-1; p = 1.0 in the last bin
    ece = 0.0
    for b in range(n_bins):
        inside = index == b
        if inside.any():
            ece += inside.mean() * abs(y[inside].mean() - p[inside].mean())
    return float(ece)
    ### END SOLUTION


p_model = model.predict_proba(X_dep)[:, 1]
print(f"ECE of the model at the deployment sites 0-3: "
      f"{expected_calibration_error(y_dep[deploy.site != SHIFTED], p_model[deploy.site != SHIFTED]):.3f}")

# %%
check_expected_calibration_error(expected_calibration_error)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.trust import hidden_check_expected_calibration_error
hidden_check_expected_calibration_error(expected_calibration_error)
### END HIDDEN TESTS

# %% [markdown]
# **The ECE is a biased estimate.** Even the *true* risk `p_true` — a perfectly calibrated model — has an
# ECE above 0 on a finite sample: within a bin, $|\bar y_b - \bar p_b|$ is the absolute value of a noisy
# difference, positive on average. Below, 100 samples of n records each are drawn from the deployment
# cohort with labels drawn from `p_true` itself, and the ECE (10 bins) of `p_true` is averaged. The bias
# shrinks roughly like $1/\sqrt{n}$ — a tolerance on the ECE must depend on the number of cases.

# %%
rng = np.random.default_rng(derived_seed(3))
bias = {}
for n in (200, 1000, 5000):
    draws = []
    for _ in range(100):
        p_true = rng.choice(deploy.p_true, n)
        draws.append(expected_calibration_error((rng.random(n) < p_true).astype(int), p_true))
    low, high = stats.bootstrap((np.array(draws),), np.mean, n_resamples=2000, method="percentile",
                                random_state=np.random.default_rng(derived_seed(4))).confidence_interval
    bias[n] = (float(np.mean(draws)), low, high)
    print(f"n = {n:5d}: ECE of the true risk {np.mean(draws):.4f} [{low:.4f}, {high:.4f}] (mean of 100 draws)")
assert bias[200][1] > bias[1000][2] and bias[1000][1] > bias[5000][2] > 0, "the bias falls with n, above 0"

# %% [markdown]
# ## Exercise 2 — temperature scaling by NLL (3 points)
#
# We use **multiclass logits**: an array of shape `(n, K)`; a binary model is the case K = 2 with logits
# `(0, z)`, since $\mathrm{softmax}((0, z)/T)_1 = \sigma(z / T)$. Write
#
# - `fit_temperature(logits, y)` returning the single $T > 0$ that minimises the mean NLL
#   $-\frac1n\sum_i \log \mathrm{softmax}(z_i / T)_{y_i}$ on the given (calibration) cases. One $T$ for all
#   classes; dividing by $T$ never changes the argmax. Use a bounded scalar optimiser
#   (`scipy.optimize.minimize_scalar(..., bounds=..., method="bounded")` on $\log T$ or $1/T$, where the
#   NLL is convex) — the checker wants the optimum within 0.1 %, which a coarse grid misses.
# - `temperature_report(logits_cal, y_cal, logits_test, y_test)` returning
#   `{"T": ..., "nll_before": ..., "nll_after": ...}`: $T$ fitted on the **calibration** cases only, then
#   the test cases' mean NLL at $T = 1$ and at the fitted $T$.
#
# (Guo, Pleiss, Sun & Weinberger, 2017, *ICML*.) The checker plants logits $= c \times$ the true logits, so
# the right $T$ is close to $c$; its test sets are drawn with another $c$, so a $T$ fitted on them shows.

# %%
def log_softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def fit_temperature(logits, y):
    ### BEGIN SOLUTION
    from scipy.optimize import minimize_scalar

    z, y = np.asarray(logits, dtype=float), np.asarray(y)

    def nll(log_t):
        return -log_softmax(z / math.exp(log_t))[np.arange(len(z)), y].mean()

    result = minimize_scalar(nll, bounds=(math.log(0.01), math.log(100)), method="bounded",
                             options={"xatol": 1e-9})
    return float(math.exp(result.x))
    ### END SOLUTION


def temperature_report(logits_cal, y_cal, logits_test, y_test):
    ### BEGIN SOLUTION
    t = fit_temperature(logits_cal, y_cal)
    z, y = np.asarray(logits_test, dtype=float), np.asarray(y_test)
    rows = np.arange(len(z))
    return {"T": t, "nll_before": float(-log_softmax(z)[rows, y].mean()),
            "nll_after": float(-log_softmax(z / t)[rows, y].mean())}
    ### END SOLUTION


# %%
check_fit_temperature(fit_temperature)
check_temperature_report(temperature_report)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.trust import hidden_check_fit_temperature, hidden_check_temperature_report
hidden_check_fit_temperature(fit_temperature)
hidden_check_temperature_report(temperature_report)
### END HIDDEN TESTS

# %% [markdown]
# The talk's overconfident model: an unregularised logistic regression (`C=1e4`) fitted on only 120
# patients, with 40 pure-noise columns next to the 6 real ones. It learns the noise with large weights,
# so its risks are too extreme. Calibrate it on the development calibration patients and test it on the
# deployment sites 0-3; per record, the paired difference of the NLL after − before scaling.

# %%
noisy_dev = make_trust_cohort(n_patients=1500, seed=derived_seed(0), n_noise=40)  # same patients, + noise
noisy_dep = make_trust_cohort(n_patients=2500, seed=derived_seed(1), n_noise=40)
few = home & np.isin(noisy_dev.patient, np.random.default_rng(derived_seed(5)).choice(np.unique(noisy_dev.patient[train]), 120, replace=False))
overfit = make_pipeline(StandardScaler(), LogisticRegression(C=1e4, max_iter=5000)).fit(noisy_dev.X.to_numpy()[few], y_dev[few])


def logits_of(clf, X):
    return np.column_stack([np.zeros(len(X)), clf.decision_function(X)])


dep_home = deploy.site != SHIFTED
z_cal, z_test = logits_of(overfit, noisy_dev.X.to_numpy()[cal]), logits_of(overfit, noisy_dep.X.to_numpy()[dep_home])
report = temperature_report(z_cal, y_dev[cal], z_test, y_dep[dep_home])
T = report["T"]
rows = np.arange(len(z_test))
nll_before, nll_after = -log_softmax(z_test)[rows, y_dep[dep_home]], -log_softmax(z_test / T)[rows, y_dep[dep_home]]
d_nll = paired_difference(nll_after, nll_before, seed=derived_seed(6), n_resamples=2000)  # 9999 × 6,600 cases: 1.5 GB
p_before, p_after = np.exp(log_softmax(z_test))[:, 1], np.exp(log_softmax(z_test / T))[:, 1]
truth = deploy.p_true[dep_home]
err_before, err_after = np.abs(p_before - truth), np.abs(p_after - truth)
d_err = paired_difference(err_after, err_before, seed=derived_seed(7), n_resamples=2000)
print(f"T = {T:.2f} (fitted on {cal.sum()} calibration records); test NLL {report['nll_before']:.3f} -> "
      f"{report['nll_after']:.3f}, after − before [{d_nll[0]:+.3f}, {d_nll[1]:+.3f}]")
print(f"ECE {expected_calibration_error(y_dep[dep_home], p_before):.3f} -> {expected_calibration_error(y_dep[dep_home], p_after):.3f}; "
      f"mean |p − p_true| {err_before.mean():.3f} -> {err_after.mean():.3f}, after − before [{d_err[0]:+.3f}, {d_err[1]:+.3f}]")
assert T > 1 and d_nll[1] < 0 and d_err[1] < 0, "overconfident: T > 1, and scaling lowers the NLL and the error vs the truth"

fig, ax = plt.subplots(figsize=(5, 4), dpi=110)
edges = np.linspace(0, 1, 11)
for p, label, colour in ((p_before, "before", "#D55E00"), (p_after, f"after (T = {T:.1f})", "#0072B2")):
    index = np.digitize(p, edges[1:-1])
    used = [b for b in range(10) if (index == b).any()]
    ax.plot([p[index == b].mean() for b in used], [y_dep[dep_home][index == b].mean() for b in used], "o-", color=colour, label=label)
ax.plot([0, 1], [0, 1], ":", color="grey", label="perfect calibration")
ax.set(xlabel="predicted risk (mean in bin)", ylabel="observed rate of events", title="Reliability, sites 0-3")
ax.legend()
plt.show()

# %% [markdown]
# Read the two lines above: temperature scaling brings the ECE down to near the level of a calibrated
# model, but the error against the *true* risk, $|p - p_\mathrm{true}|$, falls far less. One temperature
# rescales every logit alike; it cannot remove the noise the model learned from the 40 useless columns
# (that changes the *ranking* of patients, which calibration leaves untouched). A low ECE says the risks are
# right *on average within bins*, not that each patient's risk is right.

# %% [markdown]
# ## Exercise 3 — split-conformal quantile (3 points)
#
# Split conformal prediction (Vovk, Gammerman & Shafer, 2005; Lei et al., 2018, *JASA*; Angelopoulos &
# Bates, 2023, *Found. Trends Mach. Learn.*) turns any classifier into sets that contain the true class
# with probability at least $1 - \alpha$, if calibration and test cases are exchangeable. Write
#
# - `conformal_quantile(scores, alpha)`: the $\lceil (n+1)(1-\alpha) \rceil$-th smallest of the $n$
#   calibration scores — an actual score, no interpolation — and `float("inf")` when that rank exceeds
#   $n$ (too few cases for the level: every set is then the full set). The $+1$ is the finite-sample
#   correction: the test case is the $(n+1)$-th exchangeable draw.
# - `prediction_sets(probs_cal, y_cal, probs_test, alpha)`: the score of a calibration case is
#   $1 - \hat p(\text{its true class})$; with $q$ the quantile above, a test case's set holds every class
#   $k$ with $1 - \hat p_k \le q$. Return a boolean array of the shape of `probs_test`.
#
# Two traps. **Ties:** keep a class whose score *equals* $q$ ($\le$, not $<$). The guarantee is
# $P(\text{score} \le q) \ge 1 - \alpha$, ties included; models often output rounded probabilities, and
# then many scores equal $q$ exactly. With probabilities in steps of 1/16 and 30 calibration cases at
# $\alpha = 0.1$, sets with $<$ cover 0.869 (SE 0.005) of test cases over 300 draws, those with $\le$ 0.926.
# **`np.quantile`:** the tutorial code `np.quantile(scores, ceil((n+1)(1-alpha))/n, method="higher")`
# (Angelopoulos & Bates) returns the $(r+1)$-th smallest score whenever the rank
# $r = \lceil (n+1)(1-\alpha) \rceil < n$, because numpy places a level $\ell$ at position $\ell(n-1)$ of the
# sorted scores. Example: $n = 30$, $\alpha = 0.1$, $r = 28$; 'higher' gives the 29th score. Those sets
# still cover, but one rank more conservatively than the rule asks, so the checker rejects it. `method="inverted_cdf"` gives the $r$-th score, except where
# $r/n \cdot n$ rounds above $r$ in floating point (54 of 2,833 $(n, \alpha)$ pairs we tried, e.g.
# $n = 29$, $\alpha = 0.5$). `method="nearest"` rounds the position $r - r/n$ to the nearest rank: the
# $r$-th score while $r/n > 1/2$, but the $(r+1)$-th when $r/n < 1/2$, i.e. for $\alpha$ above about 0.5
# (2,643 of 2,652 such pairs for $n = 5..300$, $\alpha = 0.05..0.95$; the checker includes such $\alpha$). Sorting and indexing avoids all these problems.
#
# The checker compares exactly with its own quantile for several $n$ and $\alpha$. It tests your sets on
# rounded probabilities, where ties occur. It also measures the coverage of your sets over 300 fresh draws
# of 30 calibration cases.

# %%
def conformal_quantile(scores, alpha):
    ### BEGIN SOLUTION
    s = np.sort(np.asarray(scores, dtype=float))
    rank = math.ceil((len(s) + 1) * (1 - alpha))
    return float("inf") if rank > len(s) else float(s[rank - 1])
    ### END SOLUTION


def prediction_sets(probs_cal, y_cal, probs_test, alpha):
    ### BEGIN SOLUTION
    probs_cal, probs_test = np.asarray(probs_cal, dtype=float), np.asarray(probs_test, dtype=float)
    scores = 1 - probs_cal[np.arange(len(probs_cal)), np.asarray(y_cal)]
    return (1 - probs_test) <= conformal_quantile(scores, alpha)
    ### END SOLUTION


# %%
check_conformal_quantile(conformal_quantile)
check_prediction_sets(prediction_sets)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.trust import hidden_check_conformal_quantile, hidden_check_prediction_sets
hidden_check_conformal_quantile(conformal_quantile)
hidden_check_prediction_sets(prediction_sets)
### END HIDDEN TESTS

# %% [markdown]
# Now the cohort: sets at $\alpha = 0.1$ for the logistic model, calibrated on the development calibration
# patients (sites 0-3), applied at every deployment site. The guarantee is *marginal* over exchangeable
# cases: site 4's records are not exchangeable with the calibration set (its measurements are shifted).
# Intervals resample patients.

# %%
ALPHA = 0.1
probs_cal, probs_dep = model.predict_proba(X_dev[cal]), model.predict_proba(X_dep)
sets = prediction_sets(probs_cal, y_dev[cal], probs_dep, ALPHA)
covered = sets[np.arange(len(y_dep)), y_dep]
coverage = {}
for s in range(5):
    at = np.flatnonzero(deploy.site == s)
    low, high = cluster_bootstrap(lambda i, at=at: covered[at][i].mean(), deploy.patient[at], derived_seed(10 + s), 500)
    coverage[s] = (covered[at].mean(), low, high)
    print(f"site {s}: {len(at):4d} records, coverage {covered[at].mean():.3f} [{low:.3f}, {high:.3f}], "
          f"mean set size {sets[at].sum(axis=1).mean():.2f}")
at_home = np.flatnonzero(dep_home)
print(f"sites 0-3 pooled: coverage {covered[at_home].mean():.3f}; all five sites pooled: {covered.mean():.3f} "
      f"(target ≥ {1 - ALPHA})")
at_shifted = deploy.site == SHIFTED
gap = covered[at_shifted].mean() - covered[dep_home].mean()
gap_ci = cluster_bootstrap(lambda i: covered[i][at_shifted[i]].mean() - covered[i][dep_home[i]].mean(),
                           deploy.patient, derived_seed(15), 500)
print(f"site {SHIFTED} − sites 0-3: {gap:+.3f} [{gap_ci[0]:+.3f}, {gap_ci[1]:+.3f}] (same bootstrap of patients)")
assert coverage[SHIFTED][2] < 1 - ALPHA and gap_ci[1] < 0, "the shifted site is under-covered"

# %% [markdown]
# The guarantee holds on average over draws of the calibration set; one calibration set gives a coverage
# that scatters around $1 - \alpha$ (a little below or above 0.90 at sites 0-3, depending on the draw), and
# the records of one patient are correlated, so the intervals are wider than a count of records suggests.
# Site 4's whole interval lies below the promised 0.90, and its difference from the pooled sites 0-3 (one
# bootstrap of patients for both, so the comparison is paired) has an interval below 0: its shifted
# measurements make the model confidently wrong for patients the calibration set never resembled. How far
# below depends on the draw (about 0.73-0.85 on base seeds 0-10; on some draws site 4's interval overlaps
# another site's), so the check that holds is the one the guarantee is about, coverage against 1 − α.
# Its sets are no larger than the other sites' (on most draws smaller): the model is not unsure there, it
# is overconfident. One coverage pooled over all five sites (printed above) dilutes site 4's shortfall, as
# site 4 holds only about a tenth of the records: report coverage per site (Mondrian, per-site calibration
# is the lecture's fix).

# %% [markdown]
# ## Exercise 4 — PPV, NPV and likelihood ratios (3 points)
#
# A hospital's validation protocol asks for a sensitivity and a specificity; what a clinician reads is
# the probability of disease after a result, which depends on the **prevalence** where the test is used.
# Write `predictive_values(sensitivity, specificity, prevalence)` returning a dict with
#
# - `"ppv"` $= \dfrac{\mathrm{se}\,\pi}{\mathrm{se}\,\pi + (1-\mathrm{sp})(1-\pi)}$ and `"npv"`
#   $= \dfrac{\mathrm{sp}\,(1-\pi)}{\mathrm{sp}\,(1-\pi) + (1-\mathrm{se})\,\pi}$ (Bayes' rule),
# - `"lr_plus"` $= \mathrm{se}/(1-\mathrm{sp})$ and `"lr_minus"` $= (1-\mathrm{se})/\mathrm{sp}$: the
#   factors by which a positive or negative result multiplies the pre-test **odds**.
#
# All three inputs lie strictly between 0 and 1. The checker varies all three, with prevalences from
# 0.1 % to 50 %.

# %%
def predictive_values(sensitivity, specificity, prevalence):
    ### BEGIN SOLUTION
    se, sp, pi = sensitivity, specificity, prevalence
    return {"ppv": se * pi / (se * pi + (1 - sp) * (1 - pi)),
            "npv": sp * (1 - pi) / (sp * (1 - pi) + (1 - se) * pi),
            "lr_plus": se / (1 - sp), "lr_minus": (1 - se) / sp}
    ### END SOLUTION


# %%
check_predictive_values(predictive_values)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.trust import hidden_check_predictive_values
hidden_check_predictive_values(predictive_values)
### END HIDDEN TESTS

# %% [markdown]
# The hospital talk's example: a model validated at sensitivity 0.97 and specificity 0.98 — "✓?". Read it
# at the prevalences of a referral clinic and of a screening programme.

# %%
for prevalence in (0.5, 0.1, 0.01, 0.001):
    v = predictive_values(0.97, 0.98, prevalence)
    print(f"prevalence {prevalence:6.1%}: PPV {v['ppv']:.3f}, NPV {v['npv']:.5f}  "
          f"(LR+ {v['lr_plus']:.1f}, LR− {v['lr_minus']:.3f})")
at_1 = predictive_values(0.97, 0.98, 0.01)
assert predictive_values(0.97, 0.98, 0.5)["ppv"] > 0.97 and at_1["ppv"] < 0.35 < 0.999 < at_1["npv"]

# %% [markdown]
# ## Exercise 4b — a threshold a hospital can sign
#
# The same model, sensitivity 0.97 and specificity 0.98, is proposed twice: for patients referred to a
# chest-pain clinic (prevalence about 10 %) and for screening the general population (about 1 %). Using
# **your** numbers above, say what a positive and a negative result mean for a patient in each setting,
# whether the validation thresholds should be the same in both, and what you would put in the validation
# protocol instead of "sensitivity ≥ 0.95 and specificity ≥ 0.95". Write 60 words or more as a string
# `answer_4b = """..."""`.

# %%
answer_4b = """
(your answer here)
"""
### BEGIN SOLUTION
answer_4b = """
At 10 % prevalence a positive result means disease with probability about 0.84 (PPV) and a negative one
rules it out with an NPV of about 0.997; at 1 % prevalence the same model gives a PPV of only about 0.33:
two of three positives are false alarms, while the NPV is above 0.9997. The sensitivity and specificity
did not change; the prevalence did. So the thresholds cannot be the same: for screening the specificity
must be much higher (or positives must go to a confirmatory test) to keep the PPV and the workload
acceptable, while the clinic can accept more false positives. The protocol should state the intended
population and its prevalence, and require the PPV and NPV (or LR+ and LR−) at that prevalence, with
confidence intervals from enough cases, and the cost of a false positive and of a missed case.
"""
# Marking rubric (8 points):
# - 2: quotes the PPV and NPV at both prevalences from the printed numbers (about 0.84/0.997 and 0.33/0.9997)
#      and says what a positive and a negative mean for the patient.
# - 2: the test's sensitivity and specificity are the same; the prevalence changes the predictive values
#      (Bayes' rule; or the likelihood ratios multiply the pre-test odds).
# - 2: thresholds depend on the setting: screening needs a higher specificity or a confirmatory step;
#      a clinic can trade false positives for missed cases; names the cost of each error.
# - 2: a protocol item: intended population and its prevalence, PPV/NPV or LRs at that prevalence, with an
#      interval and a sample size, set case by case.
### END SOLUTION

# %%
check_answer_4b(answer_4b)

# %% [markdown]
# ## Exercise 5 — patient leakage in a split (3 points)
#
# A patient's records are near-duplicates of one physiology and share its outcome. When some records of a
# patient are in the training set and others in the test set, the test set is no longer made of new
# patients. Write `leaked_fraction(train_idx, test_idx, patient)`: `train_idx` and `test_idx` are integer
# positions of records, `patient` holds the patient id of every record (any type: ints or strings);
# return the share of the **test records** whose patient also has a record in the training set.
#
# The checker plants splits with a known leaked share (none, all, and shares in between), with string ids
# and shuffled records.

# %%
def leaked_fraction(train_idx, test_idx, patient):
    ### BEGIN SOLUTION
    patient = np.asarray(patient)
    return float(np.isin(patient[np.asarray(test_idx)], patient[np.asarray(train_idx)]).mean())
    ### END SOLUTION


# %%
check_leaked_fraction(leaked_fraction)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.trust import hidden_check_leaked_fraction
hidden_check_leaked_fraction(leaked_fraction)
### END HIDDEN TESTS

# %% [markdown]
# Cross-validation on the development sites 0-3, once with `KFold` over records (leaky) and once with
# `GroupKFold` by patient, for a 15-nearest-neighbour model — a model that profits from seeing a patient's
# near-duplicate. The truth is the AUC on **fresh patients**: the same model fitted on all development
# records, tested on the deployment sites 0-3. The optimism (leaky − grouped AUC, both on the same
# out-of-fold records) gets an interval by resampling patients.

# %%
Xh, yh, gh = X_dev[home], y_dev[home], dev.patient[home]
leaky_cv = KFold(5, shuffle=True, random_state=derived_seed(20))
grouped_cv = GroupKFold(5)
splitters = {"KFold": (leaky_cv, None), "GroupKFold": (grouped_cv, gh)}  # KFold ignores patients
shares = {name: np.mean([leaked_fraction(a, b, gh) for a, b in cv.split(Xh, yh, groups)])
          for name, (cv, groups) in splitters.items()}
knn = make_pipeline(StandardScaler(), KNeighborsClassifier(n_neighbors=15))
oof = {name: cross_val_predict(knn, Xh, yh, cv=cv, groups=groups, method="predict_proba")[:, 1]
       for name, (cv, groups) in splitters.items()}
auc = {name: roc_auc_score(yh, p) for name, p in oof.items()}
optimism = cluster_bootstrap(lambda i: roc_auc_score(yh[i], oof["KFold"][i]) - roc_auc_score(yh[i], oof["GroupKFold"][i]),
                             gh, derived_seed(21), 300)
p_fresh = knn.fit(Xh, yh).predict_proba(X_dep[dep_home])[:, 1]
fresh = roc_auc_score(y_dep[dep_home], p_fresh)
fresh_ci = cluster_bootstrap(lambda i: roc_auc_score(y_dep[dep_home][i], p_fresh[i]), deploy.patient[dep_home], derived_seed(22), 300)
print(f"leaked share of test records: KFold {shares['KFold']:.2f}, GroupKFold {shares['GroupKFold']:.2f}")
print(f"AUC: leaky KFold {auc['KFold']:.3f}, GroupKFold {auc['GroupKFold']:.3f}, fresh patients {fresh:.3f} "
      f"[{fresh_ci[0]:.3f}, {fresh_ci[1]:.3f}]")
print(f"optimism of the leaky CV: {auc['KFold'] - auc['GroupKFold']:+.3f} [{optimism[0]:+.3f}, {optimism[1]:+.3f}]")
assert shares["GroupKFold"] == 0 and shares["KFold"] > 0.5
assert optimism[0] > 0 and auc["KFold"] > fresh_ci[1], "leaky CV is optimistic; grouped CV is not"

# %% [markdown]
# ## Exercise 6 — Cohen's kappa (3 points)
#
# Write `cohen_kappa(table)` for a $K \times K$ confusion matrix of counts (rows: rater A's labels,
# columns: rater B's): $\kappa = (p_o - p_e)/(1 - p_e)$ with $p_o$ the share of cases on the diagonal and
# $p_e = \sum_k \frac{r_k}{n}\frac{c_k}{n}$, the agreement expected by chance from **both** raters'
# marginals (row totals $r_k$, column totals $c_k$), over all $K$ categories (Cohen, 1960, *Educ. Psychol.
# Meas.*). Write it from the table with NumPy: the checker compares with
# `statsmodels.stats.inter_rater.cohens_kappa` and with annotators whose flip rates it plants (it cannot
# tell whether you called that library function or scikit-learn's `cohen_kappa_score` — that would pass,
# and teach you nothing).

# %%
def cohen_kappa(table):
    ### BEGIN SOLUTION
    t = np.asarray(table, dtype=float)
    n = t.sum()
    observed = np.trace(t) / n
    chance = float(t.sum(axis=1) @ t.sum(axis=0)) / n**2
    return float((observed - chance) / (1 - chance))
    ### END SOLUTION


# %%
check_cohen_kappa(cohen_kappa)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.trust import hidden_check_cohen_kappa
hidden_check_cohen_kappa(cohen_kappa)
### END HIDDEN TESTS

# %% [markdown]
# The cohort's three annotators flip the outcome with rates 5 %, 15 % and 30 %, independently per record.
# For symmetric noise on **balanced** classes, kappa between two annotators is $(1-2\varepsilon_1)
# (1-2\varepsilon_2)$ (and $1 - 2\varepsilon$ against the truth); `expected_kappa` gives the general
# formula at the cohort's measured prevalence. Both intervals printed resample patients. A 95 % interval
# misses the truth one time in twenty, so with three pairs a draw where one pair's 95 % interval excludes
# the theory is expected now and then (2 of 33 pairs on base seeds 0-10, e.g. seed 7's pair 0-2, 0.397
# [0.369, 0.424] against 0.360); the assertion therefore asks the theory to lie in the 99.9 % interval.

# %%
def table_of(a, b):
    t = np.zeros((2, 2))
    np.add.at(t, (a, b), 1)
    return t


A, rates = dev.annotations, dev.noise_rates
for j, k in ((0, 1), (0, 2), (1, 2)):
    kappa = cohen_kappa(table_of(A[:, j], A[:, k]))
    ci = cluster_bootstrap(lambda i, j=j, k=k: cohen_kappa(table_of(A[i, j], A[i, k])), dev.patient, derived_seed(30 + j + k), 1000)
    wide = cluster_bootstrap(lambda i, j=j, k=k: cohen_kappa(table_of(A[i, j], A[i, k])), dev.patient, derived_seed(40 + j + k), 1000, level=0.999)
    balanced = (1 - 2 * rates[j]) * (1 - 2 * rates[k])
    at_prevalence = expected_kappa(rates[j], rates[k], prevalence=float(y_dev.mean()))
    print(f"annotators {j} and {k} (flip {rates[j]:.2f}, {rates[k]:.2f}): kappa {kappa:.3f}, 95 % [{ci[0]:.3f}, "
          f"{ci[1]:.3f}], 99.9 % [{wide[0]:.3f}, {wide[1]:.3f}]; theory (1-2e1)(1-2e2) = {balanced:.3f}, "
          f"at prevalence {y_dev.mean():.3f}: {at_prevalence:.3f}")
    assert wide[0] <= at_prevalence <= wide[1]
print(f"annotator 2 vs the truth: kappa {cohen_kappa(table_of(A[:, 2], y_dev)):.3f} (theory {1 - 2 * rates[2]:.2f})")

# %% [markdown]
# ## Exercise 7 — is the model fit for this site? (3 points)
#
# A site asks whether it may use the model. Write `fit_for_site(y, p, covered, thresholds)`: `y` are the
# site's labels, `p` the model's risks there, `covered` a boolean array (did the conformal set of
# Exercise 3, at $\alpha = 0.1$, contain the true class?), `thresholds` your dict
# `{"max_ece": ..., "min_coverage": ...}`. Return
# `{"fit": bool, "ece": ..., "coverage": ..., "reasons": [...]}`: the ECE with **10 bins** (your Exercise 1),
# the share of covered cases, `fit` true only when `ece <= max_ece` and `coverage >= min_coverage` (a site
# exactly at a limit meets it, one float past it does not: the checker probes limits equal to your own
# numbers and just past them, so decide on the very `ece` and `coverage` you return), and one reason per
# failed criterion, each a sentence that names it (ECE / coverage) and gives the site's measured number
# (e.g. 0.153 or 83 %; the limit alone is not enough).
#
# Choose `THRESHOLDS` yourself, and justify them: a healthy site of about 1,000 records must not be refused
# by chance — remember the ECE's bias above, that our logistic model is not exactly the true risk model, and
# that one calibration set and the correlated records of a patient make a healthy site's coverage scatter
# by several points around 0.90 (see the per-site coverages above) — and a site where risks are off by 10
# points must not pass. The checker tests your thresholds for sense (it says which range it accepts, and
# why) and your function on planted sites — healthy ones, one at the edge of healthy, a shifted one
# (miscalibrated and under-covered), one only miscalibrated, one only under-covered — with your thresholds
# and with limits of its own placed next to a site's numbers, where the decision must flip.

# %%
### BEGIN SOLUTION
THRESHOLDS = {"max_ece": 0.08, "min_coverage": 0.82}  # healthy sites reach ECE ≈ 0.07, coverage ≈ 0.86
### END SOLUTION


def fit_for_site(y, p, covered, thresholds):
    ### BEGIN SOLUTION
    ece = expected_calibration_error(y, p, n_bins=10)
    coverage = float(np.mean(covered))
    reasons = []
    if ece > thresholds["max_ece"]:
        reasons.append(f"ECE {ece:.3f} is above the limit {thresholds['max_ece']}")
    if coverage < thresholds["min_coverage"]:
        reasons.append(f"coverage {coverage:.3f} is below the limit {thresholds['min_coverage']}")
    return {"fit": not reasons, "ece": ece, "coverage": coverage, "reasons": reasons}
    ### END SOLUTION


# %%
check_fit_for_site(fit_for_site, THRESHOLDS)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.trust import hidden_check_fit_for_site
hidden_check_fit_for_site(fit_for_site, THRESHOLDS)
### END HIDDEN TESTS

# %% [markdown]
# Your rule on the five deployment sites (fresh patients; model and conformal sets from the development
# sites 0-3). The assertion below does not depend on your choice: your rule (checked above) gives the same
# site decisions for every pair of limits the checker accepts (the corners of its ranges), so they are a
# property of the sites.

# %%
decisions = {}
for s in range(5):
    at = deploy.site == s
    decisions[s] = fit_for_site(y_dep[at], p_model[at], covered[at], THRESHOLDS)
    d = decisions[s]
    print(f"site {s}: {'FIT' if d['fit'] else 'REFUSED'}  (ECE {d['ece']:.3f}, coverage {d['coverage']:.3f})"
          + ("" if d["fit"] else "  " + "; ".join(d["reasons"])))
    if d["fit"] == (s == SHIFTED):
        print(f"  note: your limits {THRESHOLDS} decide site {s} differently from the planted truth")
corners = [{"max_ece": e, "min_coverage": c} for e in SENSIBLE_MAX_ECE for c in SENSIBLE_MIN_COVERAGE]
for s in range(5):
    at = deploy.site == s
    assert all(fit_for_site(y_dep[at], p_model[at], covered[at], t)["fit"] == (s != SHIFTED)
               for t in corners), f"site {s}: the decision depends on where in the sensible ranges the limits sit"

# %% [markdown]
# ## Exercise 7b — what the site check cannot tell
#
# Your rule refused site 4 and accepted the others. Using the numbers above, say (1) which of the two
# criteria carried the decision for site 4 and why the other one is weaker evidence there, (2) what the
# rule ignores about uncertainty (how many cases a site has, the interval of each number, records of the
# same patient), and (3) two failures that a site could have and that this rule would *not* detect (think
# of subgroups, of the ranking of patients, of a shift in the labels). Write 60 words or more as a string
# `answer_7b = """..."""`.

# %%
answer_7b = """
(your answer here)
"""
### BEGIN SOLUTION
answer_7b = """
For site 4 the ECE carried the decision: it is several times the limit and several times the healthy
sites' values, while the coverage is below the nominal 0.90 by a smaller margin and, depending on the
draw, is close to my limit or even above it (about 0.73 to 0.85 over draws), so on its own it is weaker
evidence. The rule compares point estimates
with fixed limits: it ignores how many cases a site has, the intervals of the ECE and of the coverage,
and that records of one patient are correlated, so a small site could pass or fail by chance; a better
rule would refuse only when the interval lies beyond the limit and ask for more cases when it straddles
it. It would not detect a subgroup (for example the oldest patients) that is miscalibrated while the site
average is fine, a model whose ranking is poor although it is calibrated (low AUC with low ECE), or a
change in the outcome definition or label quality, since ECE and coverage use the site's own labels.
"""
# Marking rubric (8 points):
# - 2: names the ECE as decisive for site 4, with the numbers (several times the limit) and why coverage is
#      the weaker signal (closer to its limit, marginal, can vary with the draw of the calibration set).
# - 2: the rule ignores sample size and intervals (bootstrap, by patient); proposes interval-based limits
#      or asking for more data.
# - 2: a first undetected failure: subgroup miscalibration hidden by the site average (Mondrian coverage,
#      per-group ECE), or poor discrimination with good calibration.
# - 2: a second, different one: label or outcome shift, a new case mix, a change over time; each named
#      with what would detect it.
### END SOLUTION

# %%
check_answer_7b(answer_7b)
