"""The monitoring statistics against their nulls: PSI and its sample-size threshold on fresh no-drift cohorts
(false alarms at the nominal rate, within a binomial interval), planted shifts at the lecture's size,
calibration of calibrated vs miscalibrated planted cases, explanation drift, latency percentiles."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from scipy import stats

from xaihealth.data import make_cardio_cohort
from xaihealth.serving.models import CARDIO_FEATURES
from xaihealth.serving.monitor import (
    calibration,
    cardio_reference,
    explanation_drift,
    input_drift,
    latency_summary,
    psi,
    psi_null_threshold,
    rule_of_thumb,
)

N = 200  # the lecture's batch of recent cases


@pytest.fixture(scope="module")
def reference():
    return cardio_reference()


def _binomial_interval(k, n, level=0.999):
    """Clopper-Pearson interval of a proportion k / n."""
    alpha = 1 - level
    lo = 0.0 if k == 0 else stats.beta.ppf(alpha / 2, k, n - k + 1)
    hi = 1.0 if k == n else stats.beta.ppf(1 - alpha / 2, k + 1, n - k)
    return lo, hi


def test_the_reference_is_the_served_models_training_draw(reference):
    assert list(reference.columns) == list(CARDIO_FEATURES) and len(reference) == 2000
    assert reference.equals(make_cardio_cohort(2000, seed=0, n_noise=0).X[list(CARDIO_FEATURES)])


def test_psi_of_identical_samples_is_zero_and_it_grows_with_the_shift(reference):
    sbp = reference["sbp"].to_numpy()
    assert psi(sbp, sbp) == 0.0 and psi(sbp, np.random.default_rng(0).permutation(sbp)) == 0.0
    shifted = [psi(sbp, sbp[:N] + d) for d in (0, 5, 10, 20)]
    assert shifted == sorted(shifted) and shifted[-1] > 1
    rng = np.random.default_rng(1)
    assert all(psi(rng.normal(size=50), rng.normal(size=80)) >= 0 for _ in range(20))


def test_a_rare_binary_feature_is_binned_by_its_levels():
    rng = np.random.default_rng(0)
    rare, common = (rng.random(2000) < 0.05).astype(float), (rng.random(N) < 0.25).astype(float)
    assert psi(rare, common) > 0.3  # quantile bins alone would put every 0 and 1 in one bin: PSI 0
    assert psi(rare, rare[:N]) < 0.01


def test_the_null_threshold_falls_with_n(reference):
    for feature in ("sbp", "male"):
        thresholds = [psi_null_threshold(reference[feature], n, n_draws=200) for n in (100, 400, 1600)]
        assert thresholds[0] > thresholds[1] > thresholds[2] > 0


def test_no_drift_alerts_at_about_the_nominal_rate_on_fresh_cohorts(reference):
    q, cohorts = 0.9, 300
    thresholds = {f: psi_null_threshold(reference[f], N, q=q, n_draws=400) for f in CARDIO_FEATURES}
    alarms = rule = 0
    for seed in range(1000, 1000 + cohorts):  # independent draws of the same population, not resamples
        fresh = make_cardio_cohort(N, seed=seed, n_noise=0).X
        values = {f: psi(reference[f], fresh[f]) for f in CARDIO_FEATURES}
        alarms += sum(values[f] > thresholds[f] for f in CARDIO_FEATURES)
        rule += values["age"] > 0.1
    lo, hi = _binomial_interval(alarms, cohorts * len(CARDIO_FEATURES))
    assert lo <= 1 - q <= hi, (alarms, lo, hi)
    # the fixed 0.1 cut-off ignores n: at 200 cases it fires well above 1 % of the time with no drift
    assert _binomial_interval(rule, cohorts)[0] > 0.01


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_a_planted_shift_raises_the_alert_at_the_lectures_size(reference, seed):
    hospital = make_cardio_cohort(N, seed=seed, n_noise=0).X.copy()
    hospital["sbp"] += 15  # mmHg
    hospital["age"] += 10  # years
    drift = {row["feature"]: row for row in input_drift(reference, hospital, ["age", "sbp", "bmi"])}
    assert drift["age"]["alert"] and drift["sbp"]["alert"]
    assert drift["age"]["ks_pvalue"] < 1e-6 and drift["age"]["psi"] > 3 * drift["age"]["threshold"]
    ks = stats.ks_2samp(reference["sbp"], hospital["sbp"])
    assert drift["sbp"]["ks"] == pytest.approx(ks.statistic) and drift["sbp"]["n"] == N


def test_input_drift_reuses_its_thresholds_and_names_bad_columns(reference):
    cache = {}
    first = input_drift(reference, reference.iloc[:N], ["sbp"], cache=cache)
    assert len(cache) == 1 and input_drift(reference, reference.iloc[:N], ["sbp"], cache=cache) == first
    with pytest.raises(ValueError, match="weight"):
        input_drift(reference, reference, ["weight"])
    with pytest.raises(ValueError, match="features"):
        input_drift(reference, reference, "sbp")
    assert [rule_of_thumb(v) for v in (0.05, 0.1, 0.3)] == ["stable", "moderate", "major"]


def test_calibration_exact_on_a_hand_case():
    report = calibration([0.1, 0.1, 0.9, 0.9], [0, 1, 1, 1], bins=5, min_labels=30)
    assert report["ece"] == pytest.approx((2 * 0.4 + 2 * 0.1) / 4)
    assert [b["n"] for b in report["bins"]] == [2, 0, 0, 0, 2] and report["bins"][0]["observed"] == 0.5
    assert report["enough"] is False and calibration([], [])["ece"] is None


def test_calibration_tells_a_calibrated_from_a_miscalibrated_planted_set():
    flagged_calibrated = flagged_overconfident = 0
    for seed in range(20):
        rng = np.random.default_rng(seed)
        risks = rng.beta(2, 5, size=300)
        calibrated = (rng.random(300) < risks).astype(int)
        overconfident = (rng.random(300) < np.clip(1.6 * risks, 0, 1)).astype(int)  # events 1.6x the risk
        flagged_calibrated += calibration(risks, calibrated)["miscalibrated"]
        flagged_overconfident += calibration(risks, overconfident)["miscalibrated"]
    assert flagged_calibrated <= 4  # q = 0.95: P(>= 5 of 20) = 0.003 for a calibrated model
    assert flagged_overconfident == 20


def test_explanation_drift_windows_by_count_and_by_time():
    t0 = datetime(2026, 1, 1, tzinfo=UTC)
    rows = [{"created_at": t0 + timedelta(minutes=i), "values": {"sbp": (1 if i < 4 else 3) * (-1) ** i,
                                                                 "age": 0.5}} for i in range(8)]  # fmt: skip
    by_count = explanation_drift(rows, 4)
    assert [w["n"] for w in by_count] == [4, 4]
    assert [w["mean_abs"]["sbp"] for w in by_count] == [1.0, 3.0] and by_count[1]["mean_abs"]["age"] == 0.5
    by_time = explanation_drift(rows, timedelta(minutes=3))
    assert [w["n"] for w in by_time] == [3, 3, 2] and by_time[0]["start"] == t0.isoformat()
    with pytest.raises(ValueError, match="window"):
        explanation_drift(rows, 0)
    with pytest.raises(ValueError, match=r"rows\[0\]"):
        explanation_drift([{"values": {}}], 2)


def test_latency_summary():
    values = [5.0, None, 1.0, 3.0, 100.0]
    p99 = np.percentile([5, 1, 3, 100], 99)
    assert latency_summary(values) == {"n": 4, "p50": 4.0, "p99": pytest.approx(p99)} and p99 > 90
    assert latency_summary([]) == {"n": 0, "p50": None, "p99": None}


@pytest.mark.parametrize("call, message", [
    (lambda: psi([], [1.0]), "reference"), (lambda: psi([1.0], [np.nan]), "current"),
    (lambda: psi([1.0, 2.0], [1.0], bins=1), "bins=1"), (lambda: psi_null_threshold([1.0, 2.0], 0), "n=0"),
    (lambda: psi_null_threshold([1.0, 2.0], 5, q=1.5), "q=1.5"),
    (lambda: calibration([0.2, 1.2], [0, 1]), "risks"), (lambda: calibration([0.2], [2]), "labels"),
    (lambda: calibration([0.2], [0, 1]), "same length"),
])  # fmt: skip
def test_bad_inputs_are_refused_naming_them(call, message):
    with pytest.raises(ValueError, match=message):
        call()
