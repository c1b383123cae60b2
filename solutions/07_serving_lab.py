# ---
# jupyter:
#   kernelspec:
#     display_name: Python 3 (ipykernel)
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Lab 07 · Explanations in production: an idempotent worker, a drift alarm, an audit, pseudonyms
#
# The lecture ran the course's small prediction service: the doctor's request is answered at once, a
# queue carries the prediction's id to a worker that computes the explanation, and an append-only archive
# keeps predictions, explanations and clinicians' feedback for an auditor. Here you write four pieces of
# that service yourself, against the **real** archive (`xaihealth.serving.archive`, SQLAlchemy on a SQLite
# file in a temporary folder) and a real huey queue (in memory), with no server to start:
#
# 1. the explanation job, **idempotent**: a retried job, a crash after the write, two workers racing must
#    never duplicate or lose an explanation;
# 2. a drift statistic, the population stability index (PSI), and
# 3. its no-drift threshold at the sample size, with the alert rule;
# 4. the auditor's query, "every explanation given by model version X for site Y in this period";
# 5. keyed pseudonyms of record numbers, and why an unkeyed hash is not one.
#
# Each exercise is followed by a check cell: it prints a ✔ line when your function is right, or tells you
# what to fix. Replace each `raise NotImplementedError(...)` with your code. The service's own versions
# (`Archive.record_explanation`, `worker.explain_and_record`, `serving.monitor`, `serving.privacy`) are off
# limits in the exercises that re-implement them. The written answers (3b, 5b) are checked only for
# completeness: their ✔ means *complete*, not *correct*; a person marks them with the rubric.

# %%
import hashlib
import hmac
import tempfile
import time

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from xaihealth.checks.serving import (
    LAB_KEY,
    RECORD_BLOCK,
    WINDOW,
    check_answer_3b,
    check_answer_5b,
    check_audit_query,
    check_drift_alert,
    check_explain_job,
    check_psi,
    check_psi_null_threshold,
    check_pseudonym,
    dictionary_attack,
    explanation_rows,
    lab_archive,
    plant_audit_archive,
    plant_predictions,
    toy_explain,
)
from xaihealth.notebook import derived_seed, setup
from xaihealth.serving.archive import Explanation, Prediction

SEED = setup(seed=0)
workdir = tempfile.TemporaryDirectory()  # the lab's archive lives here and goes with the kernel
archive = lab_archive(workdir.name)
ids = plant_predictions(archive, 5, seed=derived_seed(0))
print(f"archive {archive.engine.url.database.rsplit('/', 1)[-1]}: {len(ids)} predictions, e.g.")
{k: v for k, v in archive.prediction(ids[0]).items() if k not in ("id", "created_at")}  # (both vary per run)

# %% [markdown]
# ## Exercise 1 — the idempotent explanation job (6 points)
#
# The app archives a prediction and puts only its id on the queue; the worker calls
# `explain_job(archive, prediction_id, explain)`. huey acknowledges a job when it returns and retries it
# when it raises, so the same id can come twice (a retry; a worker that wrote, then died before the
# acknowledgement), and two workers can take the same id at once. Write the job so that in every case the
# archive ends with **exactly one** explanation of the prediction:
#
# 1. read the prediction (`session.get(Prediction, prediction_id)` in a `Session(archive.engine)`); an
#    unknown id raises a `LookupError` naming it (a job that "succeeds" hides a lost prediction);
# 2. if the prediction has an explanation already, return `False` **without computing** (an explanation
#    costs 10–100 predictions);
# 3. compute `result = explain(prediction.inputs)` (a dict with `method`, `parameters`, `attributions`,
#    `background_sha256`) and time it with `time.perf_counter()` (`latency_ms`, milliseconds);
# 4. insert one `Explanation` row in a transaction (`with Session(archive.engine) as s, s.begin():`) and
#    return `True`. The table has a **unique key** on `prediction_id`: when a rival wrote first, the insert
#    raises `sqlalchemy.exc.IntegrityError`; that is the race lost, not an error: return `False`.
#
# Let every other exception through: a job that swallows it is acknowledged and never retried. Hold no
# lock while `explain` runs (neither a `threading.Lock`, which a worker in another process does not
# share, nor an open write transaction, which would stall every prediction the app archives for the
# 10–100× cost of an explanation): read, compute outside any transaction, then insert. Do not call
# `archive.record_explanation` or `xaihealth.serving.worker.explain_and_record` (that is what you are
# writing). The checker plants the faults on a fresh archive: a retry, an id explained already, an unknown
# id, a crash inside `explain` (then its retry), an insert the database refuses (an `OperationalError`,
# "database is locked"; then its retry), a crash between your commit and huey's acknowledgement (huey runs
# the task again), and two threads racing, held at a barrier inside `explain` so that both have looked and
# neither has written.

# %%
def explain_job(archive, prediction_id, explain):
    ### BEGIN SOLUTION
    with Session(archive.engine) as session:
        prediction = session.get(Prediction, prediction_id)
        if prediction is None:
            raise LookupError(f"prediction_id={prediction_id!r} is not in the archive")
        inputs = prediction.inputs
        explained = session.scalar(select(Explanation.id).where(Explanation.prediction_id == prediction_id))
    if explained is not None:
        return False
    start = time.perf_counter()
    result = explain(inputs)
    latency_ms = (time.perf_counter() - start) * 1e3
    row = Explanation(prediction_id=prediction_id, method=result["method"], parameters=result["parameters"],
                      attributions=result["attributions"], background_sha256=result.get("background_sha256"),
                      latency_ms=latency_ms)
    try:
        with Session(archive.engine) as session, session.begin():
            session.add(row)
    except IntegrityError:
        return False
    return True
    ### END SOLUTION


written = [explain_job(archive, pid, toy_explain) for pid in ids[:3]]
written.append(explain_job(archive, ids[0], toy_explain))  # the same job again
print(f"jobs wrote {written}; explanations of the first prediction: {len(explanation_rows(archive, ids[0]))}")

# %%
check_explain_job(explain_job)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.serving import hidden_check_explain_job
hidden_check_explain_job(explain_job)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 2 — the population stability index (4 points)
#
# The data scientist's page compares each feature's recent values with the training data. PSI cuts the
# reference (training) sample into `bins` bins at its quantiles, so each holds about 1/bins of it, and
# compares the proportions r_i (reference) and c_i (current) in the same bins:
#
# PSI = Σ_i (c_i − r_i) · ln(c_i / r_i)
#
# (a symmetrised Kullback–Leibler divergence between the binned distributions). Write
# `psi(reference, current, bins=10)`: the inner edges are `np.quantile(reference, np.linspace(0, 1,
# bins + 1)[1:-1])`, a value goes to bin `np.searchsorted(edges, x, side="right")` (a value equal to an
# edge goes to the bin above it, which matters on rounded data such as ages to 0.1 year; the outer bins
# are open, so a current value beyond the reference's range still counts), and a proportion below
# **ε = 1e-4** is raised to ε (an empty bin would make the PSI infinite). Do not use
# `xaihealth.serving.monitor`. The checker tests the properties (0 for the same sample, larger for a
# larger shift, unchanged by a monotone transform of both samples, finite with empty bins) and compares
# with its reference on fixed draws.

# %%
def psi(reference, current, bins=10):
    ### BEGIN SOLUTION
    reference, current = np.asarray(reference, dtype=float), np.asarray(current, dtype=float)
    edges = np.quantile(reference, np.linspace(0, 1, bins + 1)[1:-1])

    def shares(x):
        counts = np.bincount(np.searchsorted(edges, x, side="right"), minlength=bins)
        return np.maximum(counts / len(x), 1e-4)

    r, c = shares(reference), shares(current)
    return float(np.sum((c - r) * np.log(c / r)))
    ### END SOLUTION


rng = np.random.default_rng(derived_seed(1))
reference = rng.normal(size=2000)  # a feature of the training data, standardised
print({shift: round(psi(reference, rng.normal(shift, size=1000)), 4) for shift in (0.0, 0.1, 0.25, 0.5, 1.0)})

# %%
check_psi(psi)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.serving import hidden_check_psi
hidden_check_psi(psi)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3 — the no-drift threshold and the alert (4 points)
#
# A rule of thumb from credit scoring reads PSI < 0.1 as stable, 0.1–0.25 as a moderate shift and > 0.25
# as a large one, whatever the number of rows. But the PSI of a sample *with no drift at all* is not 0: it
# is noise, roughly a χ² with bins − 1 degrees of freedom times (1/n + 1/N) for n current and N reference
# rows: the reference is a sample too. So measure the null at the sample sizes: write
# `psi_null_threshold(reference, n, bins=10, q=0.99, n_draws=200, seed=0)`, the q-quantile of the PSI of
# `n_draws` pairs of samples drawn **from the reference itself** with replacement, in each draw first
# `rng.choice(reference, size=len(reference), replace=True)` (the reference as it might have come out),
# then `rng.choice(reference, size=n, replace=True)` (a current sample with no drift), with
# `rng = np.random.default_rng(seed)`, and `psi(first, second, bins)`. (Holding the reference fixed and
# resampling only the current side misses the reference's own noise: with N = 2,000 it flagged 38 of 50
# no-drift samples of 5,000 rows, base seed 0, when this lab was written.) Then
# `drift_alert(reference, current, bins=10, q=0.99, n_draws=200, seed=0)`
# returns `{"psi": ..., "threshold": ..., "alert": ...}` with the threshold at `len(current)` and `alert`
# the bool psi > threshold. The cell below measures, with your functions, how often each rule raises an
# alert on samples with and without a planted drift.

# %%
def psi_null_threshold(reference, n, bins=10, q=0.99, n_draws=200, seed=0):
    ### BEGIN SOLUTION
    reference = np.asarray(reference, dtype=float)
    rng = np.random.default_rng(seed)
    values = []
    for _ in range(n_draws):
        resampled = rng.choice(reference, size=len(reference), replace=True)
        values.append(psi(resampled, rng.choice(reference, size=n, replace=True), bins))
    return float(np.quantile(values, q))
    ### END SOLUTION


def drift_alert(reference, current, bins=10, q=0.99, n_draws=200, seed=0):
    ### BEGIN SOLUTION
    value = psi(reference, current, bins)
    threshold = psi_null_threshold(reference, len(current), bins, q, n_draws, seed)
    return {"psi": value, "threshold": threshold, "alert": bool(value > threshold)}
    ### END SOLUTION


def alert_rates(n, shift, repeats=200):
    """Share of `repeats` fresh samples of n rows (mean shifted by `shift` SD) flagged by each rule."""
    threshold = psi_null_threshold(reference, n, seed=derived_seed(2))
    values = np.array([psi(reference, rng.normal(shift, size=n)) for _ in range(repeats)])
    return {"n": n, "shift (SD)": shift, "null threshold": round(threshold, 4),
            "alerts, PSI > threshold": float(np.mean(values > threshold)),
            "alerts, PSI > 0.25": float(np.mean(values > 0.25)),
            "alerts, PSI > 0.1": float(np.mean(values > 0.1))}


rates = pd.DataFrame([alert_rates(30, 0.0), alert_rates(5000, 0.0, repeats=50),
                      alert_rates(5000, 0.2, repeats=50)])
small, large_drift = rates.iloc[0], rates.iloc[2]
# Measured: with no drift and 30 rows, most samples are above 0.25 (false alarms of the rule); with no
# drift and 5,000 rows the threshold keeps its false-alarm rate; a 0.2-SD shift on 5,000 rows stays under
# 0.1 (the rule misses it) yet the threshold catches nearly every one.
no_drift_large = rates.iloc[1]
assert small["alerts, PSI > 0.25"] > 0.4 and small["alerts, PSI > threshold"] < 0.05, small
assert no_drift_large["alerts, PSI > threshold"] < 0.1, no_drift_large
assert large_drift["alerts, PSI > 0.1"] < 0.05 and large_drift["alerts, PSI > threshold"] > 0.95, large_drift
rates

# %%
check_psi_null_threshold(psi_null_threshold)
check_drift_alert(drift_alert)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.serving import hidden_check_drift_alert, hidden_check_psi_null_threshold
hidden_check_psi_null_threshold(psi_null_threshold)
hidden_check_drift_alert(drift_alert)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 3b — is an alert a reason to retrain?
#
# The page raises a PSI alert on a feature of the cohort model (the marker hospital has joined, module
# 00). Using the table above, say what the alert does and does not tell you: why a fixed 0.1/0.25 rule is
# wrong at 30 rows and at 5,000; what the alert says about the model's accuracy for these patients (think
# of labels, calibration of recent labelled cases, which input shifts matter to the model); and what you
# would check before retraining, and what retraining on the new data could hide. Write 80 words or more as
# a string `answer_3b = """..."""`.

# %%
answer_3b = """
(your answer here)
"""
### BEGIN SOLUTION
answer_3b = """
A PSI alert says that the recent inputs of this feature are unlikely under the training distribution at
this sample size; it says nothing about whether the predictions became wrong. The fixed rule of thumb
ignores the number of rows: with 30 rows and no drift most samples exceed 0.25 (false alarms), while with
5,000 rows a real 0.2 SD shift stays under 0.1 and the rule misses it; the null threshold at the sample
size fixes the false-alarm rate instead. A shift in a feature the model barely uses may not change its
risk estimates, and a shift in the outcome given the features (a new label practice) would not show in
PSI at all. Before retraining I would look at the outcome side: the calibration and error of recent cases
labelled by clinicians' feedback, per site, and the explanation drift (are the attributions moving on the
shifted feature?). If performance held, I would not retrain. If the new site brings a shortcut (the marker
hospital), retraining on its data could teach the model the shortcut and hide the drift from the monitor;
I would fix the data, validate on the new site and record the decision.
"""
# Marking rubric (6 points):
# - 2: what PSI measures (a change in the input distribution) and the sample-size argument: false alarms
#      at small n, misses at large n under the fixed rule; the null threshold fixes the false-alarm rate.
# - 2: an input alert is not a performance drop: check labels (feedback), calibration, per-site error, and
#      whether the model uses the shifted feature; concept drift does not show in PSI.
# - 2: retraining is a decision with risks (learning a shortcut, hiding the drift, a new validation), not
#      the automatic answer.
### END SOLUTION

# %%
check_answer_3b(answer_3b)

# %% [markdown]
# ## Exercise 4 — the audit query (4 points)
#
# An auditor asks: "every explanation given by model `cohort-gbt` version `1.2.0` for site `north` in
# March 2026". Write `audit_query(model_name, model_version, site, start, end)` returning a SQLAlchemy
# **select** (do not run it; the checker does) over `Prediction` joined to its `Explanation`, for the
# predictions with that model name **and** version, that site, and `start <= Prediction.created_at < end`,
# with the columns labelled `prediction_id` (the prediction's id), `created_at` (the prediction's time),
# `model_name`, `model_version`, `site`, `output`, `method`, `attributions`, one row per explained
# prediction, ordered by `created_at`, then `prediction_id` (predictions made at the same instant come by
# id). The checker runs it on an archive planted with decoys: the same model at another version, the same
# version of another model, another site, a site whose name begins like the target's, predictions that
# were never explained, feedback rows, and predictions at both ends of the window; the rows are stored in
# no particular order, and some share their `created_at`.

# %%
def audit_query(model_name, model_version, site, start, end):
    ### BEGIN SOLUTION
    return (
        select(Prediction.id.label("prediction_id"), Prediction.created_at, Prediction.model_name,
               Prediction.model_version, Prediction.site, Prediction.output, Explanation.method,
               Explanation.attributions)
        .join(Explanation, Explanation.prediction_id == Prediction.id)
        .where(Prediction.model_name == model_name, Prediction.model_version == model_version,
               Prediction.site == site, Prediction.created_at >= start, Prediction.created_at < end)
        .order_by(Prediction.created_at, Prediction.id)
    )
    ### END SOLUTION


# %%
audit_dir = tempfile.TemporaryDirectory()
audit_archive, _ = plant_audit_archive(audit_dir.name)
with audit_archive.engine.connect() as connection:
    statement = audit_query("cohort-gbt", "1.2.0", "north", *WINDOW)
    found = pd.DataFrame(connection.execute(statement).mappings().all())
print(f"{len(found)} explanations by cohort-gbt 1.2.0 at north in March 2026")
found[["prediction_id", "created_at", "method", "output"]]

# %%
check_audit_query(audit_query)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.serving import hidden_check_audit_query
hidden_check_audit_query(audit_query)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5 — keyed pseudonyms (4 points)
#
# The archive must let an auditor follow one patient's records without holding the patient's record
# number. A plain hash does not do it: the hospital's record numbers have 7 digits, and an attacker who
# knows the format can hash every candidate and look the archive's values up. Write
# `pseudonym(record_number, key)`: **normalise** the record number (remove surrounding white space,
# upper-case its letters, so that `" ab-771 "` and `"AB-771"` are one record), refuse an empty one
# (`ValueError`) and a key that is not `bytes` of 16 or more (`ValueError` or `TypeError`), and return the
# hex HMAC-SHA256 of its UTF-8 bytes under `key` (`hmac.new(key, text, hashlib.sha256).hexdigest()`,
# RFC 2104). Do not use `xaihealth.serving.privacy`. The cell below runs the attack on both.

# %%
def pseudonym(record_number, key):
    ### BEGIN SOLUTION
    if not isinstance(record_number, str):
        raise TypeError(f"record_number={record_number!r} must be a string")
    if not isinstance(key, bytes) or len(key) < 16:
        raise ValueError("key must be bytes of 16 or more (the service's secret pseudonymisation key)")
    text = record_number.strip().upper()
    if not text:
        raise ValueError(f"record_number={record_number!r} is empty once white space is removed")
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).hexdigest()
    ### END SOLUTION


patients = [f"{n:07d}" for n in rng.integers(*RECORD_BLOCK, size=20)]
unkeyed = {p: hashlib.sha256(p.encode()).hexdigest() for p in patients}
keyed = {p: pseudonym(p, LAB_KEY) for p in patients}
start = time.perf_counter()
cracked_unkeyed, cracked_keyed = dictionary_attack(unkeyed), dictionary_attack(keyed)
seconds = time.perf_counter() - start
print(f"enumerating {RECORD_BLOCK[1] - RECORD_BLOCK[0]:,} record numbers (x3 hash functions, twice) took "
      f"⏱ {seconds:.2f} s: {len(cracked_unkeyed)}/{len(patients)} unkeyed sha256 reversed, "
      f"{len(cracked_keyed)}/{len(patients)} keyed pseudonyms reversed")
assert len(cracked_unkeyed) == len(set(patients)) and not cracked_keyed

# %%
check_pseudonym(pseudonym)
### BEGIN HIDDEN TESTS
from xaihealth.instructor.hidden.serving import hidden_check_pseudonym
hidden_check_pseudonym(pseudonym)
### END HIDDEN TESTS

# %% [markdown]
# ## Exercise 5b — what the archive proves, what the pseudonyms protect
#
# The hospital's data-protection officer and its AI Act lead read your archive. Regulation (EU) 2024/1689
# requires high-risk AI systems to allow the automatic recording of events (Art. 12, record-keeping),
# providers to keep the logs (Art. 19) and deployers to keep them and use the system as instructed
# (Art. 26); Art. 86 gives a person affected by certain decisions a right to an explanation (read which
# systems it covers). Say (1) what an archived prediction with its explanation proves to an auditor and
# what it does not (is the explanation faithful to the model? was it shown, read, used by the doctor?);
# (2) what the keyed pseudonyms protect against and what they do not (GDPR recital 26: are pseudonymised
# data still personal data? who holds the key? what else in a row identifies a patient?). Write 120 words
# or more as a string `answer_5b = """..."""`.

# %%
answer_5b = """
(your answer here)
"""
### BEGIN SOLUTION
answer_5b = """
The archive shows which model version and weights (sha256) produced which output for which input hash,
when, at which site, and which explanation the worker computed with which method and parameters; with
the append-only triggers and the unique key, an auditor can check that each prediction has at most one
explanation and that rows were not rewritten through the database. That is the kind of event record that
Art. 12 asks a high-risk system to make possible and that Art. 19 and Art. 26 ask providers and
deployers to keep. It does not prove that the explanation is faithful to the model (that needs the sanity
checks of modules 03 and 04), that it is correct about the patient, that the doctor saw it, understood it
or based the decision on it, nor that the model was fit for this site. Art. 86 concerns decisions based on
the systems of Annex III, so for a medical device that is high-risk only through Annex I (the medical
device regulation) it may not apply at all, unless the use is also in Annex III (emergency patient triage,
point 5(d)); and an attribution vector is not by itself the clear and meaningful explanation of the role
of the system and the main elements of the decision that it asks the deployer for. The keyed
pseudonyms stop anyone without the key from recovering a record number by enumeration, and let an auditor
link one patient's rows. They are still personal data under GDPR recital 26: whoever holds the key, or can
link the inputs (age, site, dates, rare values) and the notes to a person, can re-identify the patient, so
the key must be kept apart and its access logged, and masking of the notes is imperfect.
"""
# Marking rubric (6 points):
# - 2: what the archive proves (which model and input gave which output and explanation, when; not
#      rewritten) tied correctly to Art. 12 / 19 / 26 (record-keeping, keeping logs), not "the AI Act
#      requires explanations to be archived".
# - 2: what it does not prove: faithfulness, correctness, that the clinician used it; Art. 86's scope
#      (decisions based on Annex III systems; a device high-risk only through Annex I is not covered) and
#      that attributions are not by themselves the explanation it asks for.
# - 2: pseudonyms are still personal data (recital 26): the key holder can re-identify, quasi-identifiers
#      in inputs and notes can too; the key must be kept apart; what they do protect (enumeration).
### END SOLUTION

# %%
check_answer_5b(answer_5b)
