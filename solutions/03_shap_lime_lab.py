# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 03 · Shapley values, KernelSHAP and LIME from scratch
#
# In the lecture you used `shap` and `lime`. Here you write the methods yourself, in a few lines each, and
# check them against their defining properties and against `shap`:
#
# 1. exact Shapley values by enumerating coalitions,
# 2. KernelSHAP: sampled coalitions, the Shapley kernel, least squares under the efficiency constraint,
# 3. LIME for tabular data: perturbations, kernel, weighted linear surrogate and its R²,
# 4. a stability measure for explanations (top-k Jaccard across seeds),
# 5. a deletion curve, to measure how faithful a ranking of features is,
# 6. a *scaffold* (Slack et al., 2020, *AIES*) that hides a biased model from LIME, and how to detect it.
#
# Each exercise is followed by a check cell: it prints a ✔ line when your function is right, or tells you
# what to fix. Replace each `raise NotImplementedError(...)` with your code. The written answers (3b, 6b)
# are checked only for completeness (sentences that touch each topic): their ✔ means *complete*, not
# *correct* — a person marks them with the rubric, so a list of keywords passes nothing that counts.
#
# **Convention.** A *value function* `value(mask)` takes a boolean array of length `n` (`True` = the
# feature is in the coalition, i.e. set to the patient's value) and returns a number: the worth of the
# coalition.

# %%
import itertools
import math

import matplotlib.pyplot as plt
import numpy as np
import shap
from scipy import stats
from sklearn.ensemble import GradientBoostingClassifier

from xaihealth.checks.shapley import (
    SCAFFOLD_MALE,
    SCAFFOLD_UNRELATED,
    check_answer_3b,
    check_answer_6b,
    check_deletion_curve,
    check_kernel_shap,
    check_lime_tabular,
    check_make_scaffold,
    check_shapley_values,
    check_topk_jaccard,
    scaffold_biased,
    scaffold_data,
    scaffold_innocuous,
)
from xaihealth.data import make_cardio_cohort
from xaihealth.notebook import derived_seed, setup
from xaihealth.scorecard import paired_difference

SEED = setup(seed=0)

# A six-feature risk model on the synthetic cohort, explained on the log-odds scale.
cohort = make_cardio_cohort(n=2500, seed=derived_seed(0))
features = ["age", "male", "bmi", "sbp", "chol", "smoker"]
X = cohort.X[features].to_numpy(float)
X[:, [0, 2, 3, 4]] += np.random.default_rng(derived_seed(1)).uniform(-0.005, 0.005, (len(X), 4))  # no ties at split thresholds
model = GradientBoostingClassifier(n_estimators=100, max_depth=3, random_state=derived_seed(0)).fit(X[:2000], cohort.y[:2000])
f = model.decision_function
background = X[2000:2100]
patient = X[2100]


def make_value(x):
    """Value function of patient x: mean log-odds with the features in the mask set to x's values.

    Cached, because there are only 2**6 = 64 coalitions and the methods below ask for some many times.
    """
    cache = {}

    def value(mask):
        mask = np.asarray(mask, dtype=bool)
        key = mask.tobytes()
        if key not in cache:
            rows = background.copy()
            rows[:, mask] = x[mask]
            cache[key] = f(rows).mean()
        return cache[key]

    return value


value = make_value(patient)


print("patient:", {name: round(float(v), 1) for name, v in zip(features, patient)})
print(f"f(x) = {f(patient[None])[0]:.3f}, E[f] over the background = {f(background).mean():.3f}")


# %% [markdown]
# ## Exercise 1 — exact Shapley values (3 points)
#
# Write `shapley_values(value, n)` returning a NumPy array of the `n` Shapley values
#
# $$\phi_i = \sum_{S \subseteq N \setminus \{i\}} \frac{|S|!\,(n-|S|-1)!}{n!}\,\big(v(S \cup \{i\}) - v(S)\big).$$
#
# *Hint:* `itertools.combinations(others, size)` lists the coalitions of a given size; `math.factorial`.

# %%
def shapley_values(value, n):
    ### BEGIN SOLUTION
    phi = np.zeros(n)
    for i in range(n):
        others = [j for j in range(n) if j != i]
        for size in range(n):
            weight = math.factorial(size) * math.factorial(n - size - 1) / math.factorial(n)
            for subset in itertools.combinations(others, size):
                mask = np.zeros(n, dtype=bool)
                mask[list(subset)] = True
                without_i = value(mask)
                mask[i] = True
                phi[i] += weight * (value(mask) - without_i)
    return phi
    ### END SOLUTION


phi = shapley_values(value, 6)
print({name: round(float(v), 3) for name, v in zip(features, phi)})

# %%
check_shapley_values(shapley_values)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.shapley import hidden_check_shapley_values
hidden_check_shapley_values(shapley_values)
### END HIDDEN TESTS

# %% [markdown]
# Compare with `shap`'s TreeSHAP on the same model and background, and check efficiency yourself.

# %%
tree = shap.TreeExplainer(model, data=background, feature_perturbation="interventional")
phi_tree = tree.shap_values(patient[None])[0]
print(f"max |yours - TreeSHAP| = {np.abs(phi - phi_tree).max():.1e}")
assert np.allclose(phi, phi_tree, atol=1e-6)
assert abs(phi.sum() - (f(patient[None])[0] - f(background).mean())) < 1e-9


# %% [markdown]
# ## Exercise 2 — KernelSHAP from scratch (3 points)
#
# Write `kernel_shap(value, n, n_coalitions, seed=0)`:
#
# 1. with `rng = np.random.default_rng(seed)`, draw `n_coalitions` coalitions: first a size `s` in
#    `1..n-1` with probability proportional to the Shapley kernel mass of that size, $(n-1)/(s(n-s))$,
#    then `s` distinct features uniformly (`rng.choice(n, size=s, replace=False)`);
# 2. evaluate `value` on each coalition, on the empty one and on the full one;
# 3. solve the least-squares problem $v(S) - v(\emptyset) \approx \sum_{i \in S} \phi_i$ **under the
#    constraint** $\sum_i \phi_i = v(N) - v(\emptyset)$: substitute
#    $\phi_n = v(N) - v(\emptyset) - \sum_{i<n} \phi_i$ and solve for the others with `np.linalg.lstsq`.
#
# The kernel is already in the sampling, so every drawn coalition gets weight 1 in the regression.
# Evaluate `value` once per drawn coalition (no caching): the checker records every call, and on the
# coalitions your function drew it compares your values with this least squares exactly (10⁻⁹); another
# valid draw of the same distribution is accepted.

# %%
def kernel_shap(value, n, n_coalitions, seed=0):
    ### BEGIN SOLUTION
    rng = np.random.default_rng(seed)
    sizes = np.arange(1, n)
    p = (n - 1) / (sizes * (n - sizes))
    masks = np.zeros((n_coalitions, n), dtype=bool)
    for row, size in zip(masks, rng.choice(sizes, size=n_coalitions, p=p / p.sum())):
        row[rng.choice(n, size=size, replace=False)] = True
    v_empty, v_full = value(np.zeros(n, dtype=bool)), value(np.ones(n, dtype=bool))
    y = np.array([value(m) for m in masks]) - v_empty
    Z = masks.astype(float)
    A = Z[:, :-1] - Z[:, [-1]]
    b = y - Z[:, -1] * (v_full - v_empty)
    rest = np.linalg.lstsq(A, b, rcond=None)[0]
    return np.append(rest, (v_full - v_empty) - rest.sum())
    ### END SOLUTION


# %%
check_kernel_shap(kernel_shap)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.shapley import hidden_check_kernel_shap
hidden_check_kernel_shap(kernel_shap)
### END HIDDEN TESTS

# %% [markdown]
# How many coalitions does KernelSHAP need on our model? Error against your exact values, 5 seeds each.

# %%
budgets = [10, 30, 100, 300, 1000]
errors = np.array([[np.abs(kernel_shap(value, 6, k, seed=derived_seed(s)) - phi).max() for s in range(5)] for k in budgets])
for k, e in zip(budgets, errors.mean(axis=1)):
    print(f"{k:5d} coalitions: mean max error {e:.3f} log-odds")
assert errors.mean(axis=1)[-1] < errors.mean(axis=1)[0]

fig, ax = plt.subplots()
ax.loglog(budgets, errors.mean(axis=1), "o-")
ax.set(xlabel="sampled coalitions", ylabel="max error vs exact (log-odds)")
plt.show()


# %% [markdown]
# ## Exercise 3 — LIME for tabular data, from scratch (3 points)
#
# Write `lime_tabular(predict, x, X_train, n_samples=1000, kernel_width=None, seed=0)` returning
# `(coefficients, r2)`:
#
# 1. `scale = X_train.std(axis=0)`; draw `Z = rng.standard_normal((n_samples, m))` with
#    `rng = np.random.default_rng(seed)`: perturbations in standard-deviation units; the perturbed
#    patients are `x + Z * scale`; get their predictions `y`;
# 2. distance to `x` in standard-deviation units, `d = sqrt(sum(Z**2, axis=1))`; kernel weight
#    `w = sqrt(exp(-d**2 / kernel_width**2))`, with `kernel_width = 0.75 * sqrt(m)` by default (LIME's);
# 3. weighted linear regression of `y` on `Z` with an intercept (multiply rows by `sqrt(w)` and use
#    `np.linalg.lstsq`); the coefficients (without the intercept) are the explanation: the change in
#    prediction per standard deviation of each feature;
# 4. weighted R²: `1 - sum(w * residual**2) / sum(w * (y - weighted mean of y)**2)`.
#
# This is **not** what the `lime` package runs with its defaults (the lecture's section 5): the package
# samples from the training distribution, not around `x` (`sample_around_instance=False`), discretises
# continuous features into quartile bins, fits `Ridge(alpha=1)` and selects features (`'auto'`). Ours
# samples around `x`, keeps the features continuous, fits plain weighted least squares and selects nothing
# — so its R² behaves differently (below).

# %%
def lime_tabular(predict, x, X_train, n_samples=1000, kernel_width=None, seed=0):
    ### BEGIN SOLUTION
    x, X_train = np.asarray(x, dtype=float), np.asarray(X_train, dtype=float)
    m = len(x)
    width = 0.75 * math.sqrt(m) if kernel_width is None else kernel_width
    rng = np.random.default_rng(seed)
    scale = X_train.std(axis=0)
    Z = rng.standard_normal((n_samples, m))
    y = np.asarray(predict(x + Z * scale), dtype=float)
    d = np.sqrt((Z**2).sum(axis=1))
    w = np.sqrt(np.exp(-(d**2) / width**2))
    D = np.column_stack([np.ones(n_samples), Z])
    sw = np.sqrt(w)
    beta = np.linalg.lstsq(D * sw[:, None], y * sw, rcond=None)[0]
    residual = y - D @ beta
    r2 = 1 - np.sum(w * residual**2) / np.sum(w * (y - np.average(y, weights=w)) ** 2)
    return beta[1:], float(r2)
    ### END SOLUTION


coef, r2 = lime_tabular(f, patient, X[:2000], n_samples=500, seed=derived_seed(0))
print("LIME slopes (log-odds per SD):", {name: round(float(v), 3) for name, v in zip(features, coef)}, f" R^2 = {r2:.2f}")

# %%
check_lime_tabular(lime_tabular)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.shapley import hidden_check_lime_tabular
hidden_check_lime_tabular(lime_tabular)
### END HIDDEN TESTS

# %% [markdown]
# Compare with the Shapley values of Exercise 1. They answer different questions: LIME gives a **slope**
# ("what if this value moved by one standard deviation?"), Shapley a **share of the deviation from the
# average patient**. A BMI near the nadir of the planted U-shape has a slope near zero, yet its Shapley value
# can be clearly negative (lower risk than the average patient's BMI brings); a low SBP has a positive slope
# and a negative Shapley value.
#
# The kernel width decides how local "local" is. Watch the surrogate's fit and the top feature, for 5
# patients (one row each), at four widths (the third is the default, $0.75\sqrt{6} = 1.84$).

# %%
widths = (0.3, 1.0, 0.75 * math.sqrt(6), 10.0)
lime_patients = X[2100:2105]
for j, x in enumerate(lime_patients):
    fits = [lime_tabular(f, x, X[:2000], n_samples=500, kernel_width=w, seed=derived_seed(0)) for w in widths]
    print(f"patient {j}: " + "; ".join(f"width {w:4.2f}: R^2 {r:.2f}, top {features[int(np.abs(c).argmax())]}"
                                      for w, (c, r) in zip(widths, fits)))


# %% [markdown]
# ## Exercise 4 — stability across seeds (3 points)
#
# Write `topk_jaccard(coefs, k)`: `coefs` is an array with one explanation per row (one row per random
# seed). For each row take the set of the `k` features with the largest **absolute** weight; return the
# mean Jaccard overlap $|A \cap B| / |A \cup B|$ over every pair of *different* rows.

# %%
def topk_jaccard(coefs, k):
    ### BEGIN SOLUTION
    tops = [set(np.argsort(-np.abs(row), kind="stable")[:k]) for row in np.asarray(coefs, dtype=float)]
    return float(np.mean([len(a & b) / len(a | b) for a, b in itertools.combinations(tops, 2)]))
    ### END SOLUTION


# %%
check_topk_jaccard(topk_jaccard)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.shapley import hidden_check_topk_jaccard
hidden_check_topk_jaccard(topk_jaccard)
### END HIDDEN TESTS

# %% [markdown]
# LIME with 10 seeds on the same 5 patients: how stable are the top 3 features, with 100 and with 2,000
# samples, at the default width and at width 0.3? Each number is the mean pairwise Jaccard over the 10
# seeds; the last column compares the two widths (top 3 at width 0.3 vs at the default, same seed).

# %%
stability = {}
for n_samples in (100, 2000):
    for j, x in enumerate(lime_patients):
        runs = {w: np.array([lime_tabular(f, x, X[:2000], n_samples=n_samples, kernel_width=w, seed=derived_seed(s))[0]
                             for s in range(10)]) for w in (0.3, None)}
        across = np.mean([topk_jaccard(np.vstack([a, b]), 3) for a, b in zip(runs[0.3], runs[None])])
        stability[n_samples, j] = (topk_jaccard(runs[None], 3), topk_jaccard(runs[0.3], 3), across)
for n_samples in (100, 2000):
    print(f"{n_samples:5d} samples, per patient (default width | width 0.3 | default vs 0.3): "
          + "  ".join(f"{a:.2f}|{b:.2f}|{c:.2f}" for (m, _), (a, b, c) in stability.items() if m == n_samples))
table = np.array(list(stability.values())).reshape(2, 5, 3)
assert (table[1, :, 0] >= table[0, :, 0] - 1e-12).mean() >= 0.6  # more samples: at least as stable, mostly

# %% [markdown]
# ## Exercise 3b — LIME's seed and kernel width
#
# Read **your** numbers above (not what you expected). For these 5 patients: how much did the top 3
# change with the seed at the default width, with 100 and with 2,000 samples? How much did it change when
# the width went from the default to 0.3, and what happened to the surrogate's R² across widths? Then say
# what you would require before a LIME explanation is shown next to a risk score in a clinic. Write 50
# words or more as a string `answer_3b = """..."""`.

# %%
### BEGIN SOLUTION
answer_3b = """
On my run, with the default width the seed changed the top 3 for some patients with 100 samples (the
per-patient Jaccards printed above differ from patient to patient; on another draw some fell to about
0.4-0.7) and hardly at all with 2,000 samples, so sampling noise shrinks once enough samples are drawn.
The width matters more: at width 0.3 the fit uses only the few samples close to the patient, the top 3
agrees less well across seeds and with the default width's top 3, and the R2 moves with the width (it
measures fit at that scale, not truth): our LIME samples around x, so a narrow kernel sees an almost linear
piece of the model and its R2 rises, while the package's default LIME in the lecture samples from the whole
training distribution, where a narrow kernel keeps almost no sample and its R2 collapses. Before showing LIME in a clinic I would require
the width and sample size to be stated, the explanation repeated over seeds and over a range of widths with
its stability and R2 reported, and a check against a method with a fixed answer such as exact Shapley values.
"""
# Marking rubric (8 points):
# - 2: reads the printed numbers: quotes the per-patient Jaccards of *this* run (they vary with the draw:
#      at 100 samples from about 0.4 to 1); seed instability shrinks from 100 to 2,000 samples; claims
#      nothing the output does not show.
# - 2: the width changes the explanation more than the seed (lower Jaccard at 0.3, lower agreement with the
#      default's top 3) and the R² changes with the width.
# - 2: R² is fit at one scale, not correctness; a high R² at a tiny width is not a better explanation;
#      why it rises here at narrow widths but collapses in the lecture (around x vs. from the training
#      distribution).
# - 2: a requirement: report width and samples, repeat over seeds and widths, report stability and R², or
#      compare with a method with a unique answer (Shapley).
### END SOLUTION

# %%
check_answer_3b(answer_3b)


# %% [markdown]
# ## Exercise 5 — a deletion curve (3 points)
#
# Write `deletion_curve(predict, x, baseline, order)` returning `(curve, area)`:
# - `curve[k]` is the prediction for `x` with the **first k** features of `order` replaced by their
#   `baseline` values (so `curve[0] = f(x)` and `curve[-1] = f(baseline)`; `n + 1` points);
# - `area` is the area under the rescaled curve `(curve - curve[-1]) / (curve[0] - curve[-1])`, by the
#   trapezoid rule over the fraction of features deleted, `np.linspace(0, 1, n + 1)`.
#
# A ranking that puts the features the model really uses first closes the gap fast: small area.

# %%
def deletion_curve(predict, x, baseline, order):
    ### BEGIN SOLUTION
    x, baseline = np.asarray(x, dtype=float), np.asarray(baseline, dtype=float)
    rows = np.repeat(x[None, :], len(order) + 1, axis=0)
    for k in range(1, len(order) + 1):
        rows[k:, order[k - 1]] = baseline[order[k - 1]]
    curve = np.asarray(predict(rows), dtype=float)
    rescaled = (curve - curve[-1]) / (curve[0] - curve[-1])
    return curve, float(np.trapezoid(rescaled, np.linspace(0, 1, len(curve))))
    ### END SOLUTION


# %%
check_deletion_curve(deletion_curve)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.shapley import hidden_check_deletion_curve
hidden_check_deletion_curve(deletion_curve)
### END HIDDEN TESTS

# %% [markdown]
# Compare your exact Shapley ranking, your LIME ranking and random orders on 20 patients far from the
# baseline.

# %%
baseline = X[:2000].mean(axis=0)
candidates = X[2200:2500]
chosen = candidates[np.abs(f(candidates) - f(baseline[None])) > 1.0][:20]
rng = np.random.default_rng(derived_seed(0))
areas = {"Shapley": [], "LIME": [], "random": []}
for x in chosen:
    phi_x = shapley_values(make_value(x), 6)
    areas["Shapley"].append(deletion_curve(f, x, baseline, np.argsort(-np.abs(phi_x)))[1])
    lime_coef = lime_tabular(f, x, X[:2000], n_samples=500, seed=derived_seed(0))[0]
    areas["LIME"].append(deletion_curve(f, x, baseline, np.argsort(-np.abs(lime_coef)))[1])
    areas["random"].append(np.mean([deletion_curve(f, x, baseline, rng.permutation(6))[1] for _ in range(5)]))
mean_area = {name: float(np.mean(a)) for name, a in areas.items()}
print({name: round(a, 3) for name, a in mean_area.items()})
# the three rankings are scored on the same 20 patients: compare them patient by patient (paired bootstrap)
d_shapley = paired_difference(np.array(areas["Shapley"]), np.array(areas["random"]), seed=derived_seed(50))
d_lime = paired_difference(np.array(areas["LIME"]), np.array(areas["random"]), seed=derived_seed(51))
d_sl = paired_difference(np.array(areas["Shapley"]), np.array(areas["LIME"]), seed=derived_seed(52))
print(f"Shapley − random {mean_area['Shapley'] - mean_area['random']:+.3f} [{d_shapley[0]:+.3f}, {d_shapley[1]:+.3f}]; "
      f"LIME − random {mean_area['LIME'] - mean_area['random']:+.3f} [{d_lime[0]:+.3f}, {d_lime[1]:+.3f}]; "
      f"Shapley − LIME {mean_area['Shapley'] - mean_area['LIME']:+.3f} [{d_sl[0]:+.3f}, {d_sl[1]:+.3f}]")
assert d_shapley[1] < 0 and d_lime[1] < 0, "both rankings beat random orders, paired over the 20 patients"

# %% [markdown]
# Both rankings beat random orders, patient by patient (the paired intervals lie below 0). Between Shapley
# and LIME, read the last interval, which covers only the draw of these 20 patients (model, background and
# LIME samples fixed): a base seed gives another answer to "which is smaller". Which one "wins" depends on how deleting is defined: here a feature is replaced
# by the cohort *mean* (a single baseline patient), whereas your Shapley values average over a background
# *sample*, and LIME measures slopes around the patient. A faithfulness metric always carries a definition
# of removal — state it when you report one, with a paired interval, not two means.

# %% [markdown]
# ## Exercise 6a — build a scaffold (3 points)
#
# Slack et al. (2020, *AIES*, "Fooling LIME and SHAP") showed that a model can behave one way on real
# patients and another way on the synthetic points an explainer queries. The data below are planted
# records with five columns: age, male (0/1), SBP, a repeated SBP reading (within a few mmHg of the
# first) and an unrelated column. `scaffold_biased` decides on **sex** alone; `scaffold_innocuous` reads
# only the unrelated column.
#
# Write `make_scaffold(biased, innocuous, X_real, seed=0)` returning a function `predict(Z)`:
# 1. with `rng = np.random.default_rng(seed)`, draw one synthetic point per real record: first
#    `X_real + rng.standard_normal(X_real.shape) * X_real.std(axis=0)` (as your Exercise 3 LIME perturbs),
#    then replace the sex column by `rng.random(len(X_real)) < X_real[:, 1].mean()` (0/1): sex drawn from
#    its frequency, as the `lime` package does for a declared categorical feature — a vendor cannot rely
#    on the auditor's LIME giving itself away by a sex of 0.37;
# 2. train a `RandomForestClassifier(n_estimators=20, max_depth=8, random_state=seed)` to tell real
#    records (label 1) from synthetic ones (label 0);
# 3. `predict(Z)` answers with `biased(Z)` on the rows the detector calls real (probability > 0.5), and
#    with `innocuous(Z)` on the others.

# %%
def make_scaffold(biased, innocuous, X_real, seed=0):
    ### BEGIN SOLUTION
    from sklearn.ensemble import RandomForestClassifier

    X_real = np.asarray(X_real, dtype=float)
    rng = np.random.default_rng(seed)
    synthetic = X_real + rng.standard_normal(X_real.shape) * X_real.std(axis=0)
    synthetic[:, 1] = rng.random(len(X_real)) < X_real[:, 1].mean()
    detector = RandomForestClassifier(n_estimators=20, max_depth=8, random_state=seed).fit(
        np.vstack([X_real, synthetic]), np.r_[np.ones(len(X_real)), np.zeros(len(synthetic))])

    def predict(Z):
        Z = np.asarray(Z, dtype=float)
        return np.where(detector.predict_proba(Z)[:, 1] > 0.5, biased(Z), innocuous(Z))

    return predict
    ### END SOLUTION


# %%
check_make_scaffold(make_scaffold)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.shapley import hidden_check_make_scaffold
hidden_check_make_scaffold(make_scaffold)
### END HIDDEN TESTS

# %% [markdown]
# The audit: your LIME (Exercise 3, default width) on 20 new real patients, of the plain biased model and
# of the scaffold. Then a second audit that never leaves the data: on the same real patients, the mean
# risk the model gives men minus the mean it gives women (percentile bootstrap over the patients).

# %%
scaffold_names = ["age", "male", "sbp", "sbp_repeat", "unrelated"]
records = scaffold_data(1000, derived_seed(60))
new_patients = scaffold_data(200, derived_seed(61))
hidden = make_scaffold(scaffold_biased, scaffold_innocuous, records, seed=derived_seed(62))
for label, predict in (("biased model", scaffold_biased), ("scaffold", hidden)):
    tops = [scaffold_names[int(np.abs(lime_tabular(predict, x, records, n_samples=500, seed=derived_seed(63 + i))[0]).argmax())]
            for i, x in enumerate(new_patients[:20])]
    counts = {name: tops.count(name) for name in sorted(set(tops))}
    out = predict(new_patients)
    men = new_patients[:, SCAFFOLD_MALE] == 1
    diffs = stats.bootstrap((out[men], out[~men]), lambda a, b: a.mean() - b.mean(), n_resamples=2000,
                            method="percentile", random_state=np.random.default_rng(derived_seed(64))).confidence_interval
    print(f"{label:>12}: LIME top feature {counts}; on real patients, men − women risk "
          f"{out[men].mean() - out[~men].mean():+.2f} [{diffs.low:+.2f}, {diffs.high:+.2f}]")
    if label == "biased model":
        named_plain = counts.get("male", 0)
    else:
        assert counts.get("male", 0) < 10 < named_plain and diffs.low > 0.5, "LIME is fooled; the real-record audit is not"

# %% [markdown]
# For the plain model the real-record interval is a point: the rule is exact (0.9 for every man, 0.1 for
# every woman). The scaffold's difference is smaller and has a width because it answers with the innocuous
# model for the real patients its detector takes for synthetic ones — still far from 0. The detector
# is far from perfect — with sex drawn from its frequency, the reference forest calls only about 64 % of
# LIME-style points synthetic (the checker's two data sets; some perturbed points happen to keep the two
# BP readings close) — yet that is enough: sex's effect on LIME's surrogate is diluted below the unrelated
# column's for most patients (the plain biased model: sex for nearly all 20).

# %% [markdown]
# ## Exercise 6b — detect the scaffold
#
# You are the auditor and you do not know how the vendor built the model. From what you saw above, explain
# why LIME was fooled (what is different about the points it queries, for these data), name two checks
# that would have exposed the sex rule, and say what each costs or needs (data, access to the model,
# assumptions). Write 60 words or more as a string `answer_6b = """..."""`.

# %%
### BEGIN SOLUTION
answer_6b = """
LIME queries synthetic points drawn independently feature by feature, so they leave the data manifold:
the two blood-pressure readings disagree by far more than a few mmHg (and our LIME even gives sex
non-binary values), and a detector learns to tell such points from real records well enough, so mostly
real patients see the sex rule and LIME's surrogate sees mostly the innocuous model.
A first check needs no explainer: on real held-out patients, compare the model's risk between men and
women (here a difference of about 0.8 with a tight interval), a subgroup audit that only needs the model's
answers on real records. A second check keeps explanations on the manifold: conditional or
nearest-neighbour Shapley values that query the model only on real records, or testing whether the model
behaves differently on perturbed and real inputs (e.g. the share of perturbed points on which its answer
changes). Both need a sample of real records and queries the vendor cannot single out.
"""
# Marking rubric (10 points):
# - 3: why LIME is fooled: its points are off the data manifold (independent perturbations break the BP
#      pairing; with sex drawn from its frequency that pairing is the cue left), and a detector separates
#      enough of them from real records (it need not be perfect: about 64 % here).
# - 3: a check on real records: subgroup comparison of the model's output by sex on held-out patients
#      (with an interval), or an on-manifold (conditional) explanation.
# - 2: a second, different check (on-manifold Shapley, comparing behaviour on real vs perturbed inputs,
#      testing with real records the vendor cannot recognise).
# - 2: what each needs: real records, query access, the assumption that audit queries are indistinguishable
#      from real use.
### END SOLUTION

# %%
check_answer_6b(answer_6b)
