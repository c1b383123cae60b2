# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 08 · Choose, run, sanity-check and report: an explanation of an unfamiliar model
#
# A vendor sells your hospital a model that gives the risk of an acute myocardial infarction (MI) for a
# patient with chest pain, from nine routine values. You cannot see its code, its weights or its training
# data: you can only send it patient rows and read back probabilities, through an API that counts every
# row and **stops answering after 200,000 rows**. The cardiology board asks you which of the nine values
# the model relies on, how sure you are, and which it ignores.
#
# In the lecture you saw the decision guide; here you follow it end to end:
#
# 1. choose the method the access allows (a black box behind a budget) and run it for 30 patients,
#    spending the budget on purpose (and say why this method, 1b);
# 2. build a null model for the sanity check: the same pipeline must find nothing where there is nothing;
# 3. turn the attributions into a global importance with a patient-bootstrap interval;
# 4. write the report (features, importance, interval, which matter), then say what to tell the clinician
#    and what to archive (4b).
#
# The data are generated (`xaihealth.data.blackbox`), so the truth behind the vendor's model is known:
# the checkers keep it, and the check of Exercise 4 scores reports against it. The datasheet describes
# only the structure: which markers carry an effect, and how large, is drawn anew for each seed, so the
# answer is in the vendor's model, not in the documentation. Each exercise is followed
# by a check cell: it prints a ✔ line when your function is right, or tells you what to fix. Replace each
# `raise NotImplementedError(...)` with your code. The written answers (1b, 4b) are checked only for
# completeness: their ✔ means *complete*, not *correct* — a person marks them with the rubric.

# %%
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import shap
from scipy import stats

from xaihealth.checks.choosing import (
    MIN_EFFECT,
    check_ablated,
    check_answer_1b,
    check_answer_4b,
    check_importance_intervals,
    check_kernel_shap_within_budget,
    check_make_report,
    check_my_report,
)
from xaihealth.data.blackbox import FEATURES, make_blackbox_case
from xaihealth.notebook import derived_seed, setup

SEED = setup(seed=0)

case = make_blackbox_case(n=400, seed=derived_seed(0), budget=200_000)
vendor = case.model  # a BudgetedModel: predict_proba and a query counter, nothing else
X = case.X.to_numpy()
X_pool, patients, null_patients = X[:300], X[300:330], X[330:340]


def predict_mi(rows):
    """P(MI) for each row, from the vendor's API (every row counts against the budget)."""
    return vendor.predict_proba(rows)[:, 1]


print(f"{len(case.X)} patients, columns {list(FEATURES)}; budget {vendor.budget} rows, used {vendor.queries}")
case.X.describe().round(2).T[["mean", "std", "min", "max"]]

# %% [markdown]
# ## Exercise 1 — KernelSHAP within the budget (4 points)
#
# With only the model's outputs, TreeSHAP (it needs the trees), Integrated Gradients (gradients) and an
# EBM (it needs the training data and the design) are out; KernelSHAP and LIME remain. KernelSHAP
# estimates Shapley values with a fixed base value and efficiency, and shap runs it for you; what you
# write is the *pipeline*:
#
# 1. **Background.** `n_background` rows of `X_pool` drawn without replacement by
#    `np.random.default_rng(seed).choice(len(X_pool), n_background, replace=False)` (not the patients you
#    explain). Every background row costs a query per coalition, so shap's own documentation of
#    `KernelExplainer` advises summarising the background by a small sample (`shap.sample`) or k-means
#    centres (`shap.kmeans`); the values are then relative to that sample (interventional Shapley values,
#    Janzing et al., 2020, *AISTATS*).
# 2. **nsamples from the budget.** shap's `KernelExplainer` queries the B background rows once, then, for
#    each of the P patients, the patient's row and `nsamples × B` rows. So take the largest
#    `nsamples = (budget - B - P) // (P * B)`. If that is below `2 * n_features + 2` (too few coalitions
#    to fit a regression with one unknown per feature), raise a `ValueError` naming the budget.
# 3. **Run.** `shap.KernelExplainer(predict, background, link="logit")` explains the **log-odds** (so the
#    attributions add up to `logit f(x) - logit E[f]` and the 0–1 squashing of probabilities does not
#    shrink large effects). Call `np.random.seed(seed)` just before
#    `explainer.shap_values(patients, nsamples=nsamples, l1_reg=False, silent=True)` (shap draws its
#    coalitions from numpy's global generator; `l1_reg=False` keeps every feature).
#
# Return the array of attributions, shape (patients, features). The checker runs your pipeline on fresh
# vendor models with other seeds, budgets and background sizes and grades the **properties** any sound
# estimator has, not one recipe: the budget kept (and at least half of it spent), the shape, efficiency
# (each patient's attributions add up to the gap in log-odds between the patient and the background
# above), and closeness to the exact Shapley values of the log-odds relative to the same background,
# which the checker computes by evaluating all 2⁹ coalitions on its own copy of the model (within 10 %
# root mean square; KernelSHAP at this budget is about 3 % away). Seeding per patient, or calling shap
# one patient at a time, is fine; only the background draw is fixed, so that the checker knows it.

# %%
def kernel_shap_within_budget(predict, X_pool, patients, budget, n_background=40, seed=0):
    ### BEGIN SOLUTION
    X_pool, patients = np.asarray(X_pool, dtype=float), np.asarray(patients, dtype=float)
    background = X_pool[np.random.default_rng(seed).choice(len(X_pool), n_background, replace=False)]
    n_patients, n_features = patients.shape
    nsamples = (budget - n_background - n_patients) // (n_patients * n_background)
    if nsamples < 2 * n_features + 2:
        raise ValueError(f"budget={budget} gives nsamples={nsamples} per patient; KernelSHAP needs at least "
                         f"{2 * n_features + 2} with {n_features} features")
    explainer = shap.KernelExplainer(predict, background, link="logit")
    np.random.seed(seed)
    return np.asarray(explainer.shap_values(patients, nsamples=nsamples, l1_reg=False, silent=True))
    ### END SOLUTION


MAIN_BUDGET = 150_000  # three quarters for the 30 patients, the rest for the sanity check
phi = kernel_shap_within_budget(predict_mi, X_pool, patients, MAIN_BUDGET, n_background=40, seed=derived_seed(1))
assert vendor.queries <= MAIN_BUDGET
print(f"attributions {phi.shape}; rows queried {vendor.queries} of {vendor.budget}")

# %%
check_kernel_shap_within_budget(kernel_shap_within_budget)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.choosing import hidden_check_kernel_shap_within_budget
hidden_check_kernel_shap_within_budget(kernel_shap_within_budget)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 1b — why KernelSHAP here
#
# Justify the choice for this access and this budget against the alternatives the course measured: why
# not TreeSHAP, gradients or a glass box (what access would each need)? Why KernelSHAP rather than LIME
# here (what does each give you for the same queries; think of efficiency, the base value and stability
# across seeds, module 03)? What does the budget buy, and what would you do with a budget ten times
# smaller? Write 60 words or more as a string `answer_1b = """..."""`.

# %%
answer_1b = """
(your answer here)
"""
### BEGIN SOLUTION
answer_1b = """
We have black-box access only: the vendor's API returns probabilities, so TreeSHAP (it needs the trees),
Integrated Gradients or Grad-CAM (they need gradients) and an EBM (it needs the training data and the
design) are not available; only model-agnostic methods that query the model remain, KernelSHAP and LIME.
KernelSHAP estimates Shapley values: they add up to the gap between the patient's log-odds and the
background's, relative to a stated background, and module 03 measured that it converges to the exact
values as the coalitions grow. LIME fits a weighted linear surrogate with an intercept, but nothing
makes its coefficients add up to f(x) minus a stated base value (no efficiency), and its answer depends on
its kernel width and its seed. The budget sets the number of coalitions per patient, hence the precision: here about 120
coalitions for 30 patients with a background of 40 rows. With a budget ten times smaller I would explain
fewer patients or use a smaller background (a few k-means centres) rather than too few coalitions, and I
would report the wider intervals that result.
"""
# Marking rubric (6 points):
# - 2: the access rules out TreeSHAP, gradient methods and a glass box, each with what it would need.
# - 2: KernelSHAP over LIME with a reason grounded in the course (efficiency and a stated base value,
#      convergence; LIME's dependence on kernel width and seed, module 03).
# - 2: what the budget buys (coalitions per patient, precision) and a sensible plan for a smaller one
#      (fewer patients, a smaller or summarised background, wider intervals reported), not "use LIME".
### END SOLUTION

# %%
check_answer_1b(answer_1b)

# %% [markdown]
# ## Exercise 2 — a null model for the sanity check (4 points)
#
# An explanation that finds structure everywhere is worthless (Adebayo et al., 2018, *NeurIPS*). Before
# believing the attributions, run the *same* pipeline on a model in which one feature cannot matter and
# check that it says so. Write `ablated(predict, column, value)`: it returns a new function of the rows
# that answers `predict` on a **copy** of the rows with column `column` set to `value` (one query per
# row, the input untouched). With troponin fixed at its median, its attributions must be near zero: the
# size of what the pipeline still gives it is the pipeline's noise floor.

# %%
def ablated(predict, column, value):
    ### BEGIN SOLUTION
    def ablated_predict(rows):
        rows = np.array(rows, dtype=float, copy=True)
        rows[:, column] = value
        return predict(rows)

    return ablated_predict
    ### END SOLUTION


TROPONIN = FEATURES.index("troponin")
null_predict = ablated(predict_mi, TROPONIN, float(np.median(X_pool[:, TROPONIN])))
phi_null = kernel_shap_within_budget(null_predict, X_pool, null_patients, vendor.remaining, n_background=40,
                                     seed=derived_seed(2))
print(f"null run: attributions {phi_null.shape}; rows queried {vendor.queries} of {vendor.budget}")

# %%
check_ablated(ablated)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.choosing import hidden_check_ablated
hidden_check_ablated(ablated)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3 — global importance with an interval (4 points)
#
# The global importance of a feature is the mean over patients of |attribution| (a large negative
# contribution matters as much as a large positive one). Thirty patients are a sample: write
# `importance_intervals(phi, features, seed=0, n_resamples=2000, level=0.95)` returning a DataFrame
# indexed by feature (in the given order) with the columns `importance`, `low`, `high`, where the
# interval is a percentile bootstrap that **resamples patients** (rows of `phi`), for example
# `scipy.stats.bootstrap((np.abs(phi),), np.mean, axis=0, n_resamples=n_resamples,
# confidence_level=level, method="percentile", rng=np.random.default_rng(seed))`, or your own.

# %%
def importance_intervals(phi, features, seed=0, n_resamples=2000, level=0.95):
    ### BEGIN SOLUTION
    magnitude = np.abs(np.asarray(phi, dtype=float))
    result = stats.bootstrap((magnitude,), np.mean, axis=0, n_resamples=n_resamples, confidence_level=level,
                             method="percentile", rng=np.random.default_rng(seed))
    return pd.DataFrame({"importance": magnitude.mean(axis=0), "low": result.confidence_interval.low,
                         "high": result.confidence_interval.high}, index=list(features))
    ### END SOLUTION


intervals = importance_intervals(phi, FEATURES, seed=derived_seed(3))
null_intervals = importance_intervals(phi_null, FEATURES, seed=derived_seed(4))
# The sanity check, as a gap between intervals: troponin on the vendor's model vs on the null model.
real, null = intervals.loc["troponin"], null_intervals.loc["troponin"]
FLOOR = max(MIN_EFFECT, float(null_intervals.loc["troponin", "high"]))
# The null model's noise floor is far below MIN_EFFECT, so the check that can fail is the one against the
# floor: troponin on the vendor's model is above it, troponin on the null model and the decoy (ck_mb,
# correlated with troponin, unused by the truth) are not.
assert real["low"] > FLOOR >= null["high"], (real, null, FLOOR)
assert intervals.loc["ck_mb", "low"] <= FLOOR, intervals.loc["ck_mb"]
print(f"troponin: {real['importance']:.3f} [{real['low']:.3f}, {real['high']:.3f}] on the vendor's model, "
      f"{null['importance']:.4f} [{null['low']:.4f}, {null['high']:.4f}] on the null model (noise floor)")
print(f"floor for 'matters': {FLOOR:.3f} log-odds (the larger of the stated minimum effect and the noise floor)")

# %%
check_importance_intervals(importance_intervals)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.choosing import hidden_check_importance_intervals
hidden_check_importance_intervals(importance_intervals)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4 — the report (4 points)
#
# Write `make_report(intervals, floor)`: the rows of `intervals` sorted by decreasing importance, with
# the columns `importance`, `low`, `high` unchanged and a boolean column `matters` that is True when the
# **lower end** of the interval is above `floor` (strictly). The decision rule was fixed before looking
# at the result: a feature matters when the lower end of its 95 % interval for the mean absolute contribution exceeds both
# the smallest effect worth reporting (`MIN_EFFECT` = 0.1 log-odds, about a 10 % change in the odds) and
# what the pipeline gives a feature the model cannot use (Exercise 2). The check cell first tests your
# function on planted intervals, then scores **your own report** (the `report` below, from your pipeline)
# against the planted truth of this `case`, which only the checker knows: the ranking, the null features,
# the features with a real effect, the scale, and whether each interval is honest about its uncertainty.
#
# What the interval covers: it resamples the 30 patients, with the background and the KernelSHAP draw
# held fixed, so it is an interval for the mean |attribution| *relative to this background*, not for the
# importance in the whole population. Over base seeds 1-12 the 95 % intervals contained the planted
# population importance for only about 65 % of the real effects (another background shifts every
# attribution); read them as a lower bound on the uncertainty.

# %%
def make_report(intervals, floor):
    ### BEGIN SOLUTION
    report = intervals[["importance", "low", "high"]].sort_values("importance", ascending=False, kind="stable")
    return report.assign(matters=report["low"] > floor)
    ### END SOLUTION


report = make_report(intervals, FLOOR)
fig, ax = plt.subplots(figsize=(6, 3.2))
ax.errorbar(report["importance"], range(len(report)), xerr=[report["importance"] - report["low"],
            report["high"] - report["importance"]], fmt="o", color="black", capsize=3)
ax.axvline(FLOOR, color="grey", linestyle="--", label=f"floor {FLOOR:.2f}")
ax.set_yticks(range(len(report)), report.index)
ax.invert_yaxis()
ax.set_xlabel("mean |KernelSHAP| (log-odds), 95 % patient bootstrap")
ax.set_title("What the vendor's model uses (30 patients)")
ax.legend(loc="lower right")
plt.tight_layout()
plt.show()
report.round(3)

# %%
check_make_report(make_report)
check_my_report(report, case)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.choosing import hidden_check_make_report, hidden_check_my_report
hidden_check_make_report(make_report)
hidden_check_my_report(report, case)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 4b — what to tell, what to archive
#
# Using your report, write what you would tell the cardiology board: (1) which values the model relies on
# and how sure you are, in a sentence a clinician can use; (2) what the report does **not** say: think of
# cause and effect for a patient, of `ck_mb` (correlated with troponin in these patients), of the
# background the attributions are relative to; (3) what you would archive so that an auditor can redo the
# analysis (module 07). Write 70 words or more as a string `answer_4b = """..."""`.

# %%
answer_4b = """
(your answer here)
"""
### BEGIN SOLUTION
answer_4b = """
The vendor's model relies above all on troponin, then (in the committed run; another seed draws other
markers) on hemoglobin, age and the combination of systolic pressure and heart rate; each of these has a 95 % patient-bootstrap interval over 30 patients above our
floor of 0.1 log-odds (an interval relative to our background sample, which under-states the uncertainty:
such intervals held the planted importance about 65 % of the time on other draws), and the null model with troponin fixed gives it almost nothing, so the pipeline does not invent
importance. It does not use CK-MB, sodium, potassium or CRP to any degree we could measure. This
says what the model uses, not what causes infarction: the attributions are not causal claims about
patients, changing a patient's value would not change their risk as the model does, and CK-MB being
ignored does not mean it carries no information, since it is correlated with troponin and the model may
simply use troponin instead. Attributions are relative to our background sample and to the log-odds
scale. For an audit I would archive the model version, the background rows and patients explained, the
seeds, nsamples and budget, the shap version, the raw attributions and the bootstrap intervals, the
null-model run and the decision rule fixed in advance.
"""
# Marking rubric (8 points):
# - 2: a usable statement of what the model uses, with the uncertainty (intervals, 30 patients) and the
#      sanity check.
# - 2: no causal claim about patients; attributions describe the model, not the disease or a treatment.
# - 2: the decoy: CK-MB is correlated with troponin, so low attribution does not mean no information (and
#      a model could have used either); attributions are relative to the background and the scale.
# - 2: an archive that lets an auditor redo it: model version, data rows, seeds, nsamples, budget,
#      library versions, raw attributions, null run, decision rule stated in advance.
### END SOLUTION

# %%
check_answer_4b(answer_4b)
