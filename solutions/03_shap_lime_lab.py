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
# 5. a deletion curve, to measure how faithful a ranking of features is.
#
# Each exercise is followed by a check cell: it prints a ✔ line when your function is right, or tells you
# what to fix. Replace each `raise NotImplementedError(...)` with your code.
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
from sklearn.ensemble import GradientBoostingClassifier

from xaihealth.checks.shapley import (
    check_deletion_curve,
    check_kernel_shap,
    check_lime_tabular,
    check_shapley_values,
    check_topk_jaccard,
)
from xaihealth.data import make_cardio_cohort
from xaihealth.notebook import derived_seed, setup

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
# ## Exercise 1 — exact Shapley values
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

# %% [markdown]
# Compare with `shap`'s TreeSHAP on the same model and background, and check efficiency yourself.

# %%
tree = shap.TreeExplainer(model, data=background, feature_perturbation="interventional")
phi_tree = tree.shap_values(patient[None])[0]
print(f"max |yours - TreeSHAP| = {np.abs(phi - phi_tree).max():.1e}")
assert np.allclose(phi, phi_tree, atol=1e-6)
assert abs(phi.sum() - (f(patient[None])[0] - f(background).mean())) < 1e-9


# %% [markdown]
# ## Exercise 2 — KernelSHAP from scratch
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
# ## Exercise 3 — LIME for tabular data, from scratch
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

# %% [markdown]
# Compare with the Shapley values of Exercise 1. They answer different questions: LIME gives a **slope**
# ("what if this value moved by one standard deviation?"), Shapley a **share of the deviation from the
# average patient**. A BMI near the nadir of the planted U-shape has a slope near zero, yet its Shapley value
# can be clearly negative (lower risk than the average patient's BMI brings); a low SBP has a positive slope
# and a negative Shapley value.
#
# The kernel width decides how local "local" is. Watch the surrogate's fit.

# %%
for width in (0.3, 1.0, 0.75 * math.sqrt(6), 10.0):
    coef_w, r2_w = lime_tabular(f, patient, X[:2000], n_samples=500, kernel_width=width, seed=derived_seed(0))
    top = features[int(np.abs(coef_w).argmax())]
    print(f"kernel width {width:5.2f}: R^2 = {r2_w:.2f}, top feature: {top}")


# %% [markdown]
# ## Exercise 4 — stability across seeds
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

# %% [markdown]
# LIME with 10 seeds on our patient: how stable are the top 3 features, with 100 and with 2,000 samples?

# %%
for n_samples in (100, 2000):
    runs = np.array([lime_tabular(f, patient, X[:2000], n_samples=n_samples, seed=derived_seed(s))[0] for s in range(10)])
    print(f"{n_samples:5d} samples: top-3 Jaccard over 10 seeds = {topk_jaccard(runs, 3):.2f}")


# %% [markdown]
# ## Exercise 5 — a deletion curve
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
assert mean_area["Shapley"] < mean_area["random"] and mean_area["LIME"] < mean_area["random"]

# %% [markdown]
# Both rankings beat chance. Which of the two wins depends on how "deleting" is defined: here a feature is
# replaced by the cohort *mean* (a single baseline patient), whereas your Shapley values average over a
# background *sample*, and LIME measures slopes around the patient. A faithfulness metric always carries a
# definition of removal — state it when you report one.

# %% [markdown]
# **To write in your own words** (three or four sentences, for a clinical reader): your LIME explanation
# of a patient changed when you changed the seed or the kernel width, while the Shapley values did not.
# What would you require before an explanation is shown next to a risk score in a clinic?
