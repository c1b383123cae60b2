"""The synthetic trust cohort (module 06): determinism, shapes, and every planted truth on a large draw."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, roc_auc_score

from xaihealth.data import make_trust_cohort
from xaihealth.data.trust import (
    DEGRADED_GROUP,
    FEATURES,
    GROUPS,
    SHIFTED_SITE,
    SITES,
    SMALL_GROUP,
    TrustCohort,
    expected_kappa,
    to_latent,
    true_probability,
)


@pytest.fixture(scope="module")
def big() -> TrustCohort:
    return make_trust_cohort(60_000, seed=2024)


def test_same_seed_same_bytes_and_other_seed_fresh_patients() -> None:
    a, b = make_trust_cohort(300, seed=5), make_trust_cohort(300, seed=5)
    for field in dataclasses.fields(TrustCohort):
        va, vb = getattr(a, field.name), getattr(b, field.name)
        if hasattr(va, "equals"):
            assert va.equals(vb)
        elif isinstance(va, np.ndarray):
            assert np.array_equal(va, vb)
    c = make_trust_cohort(300, seed=6)
    assert not np.allclose(a.X.to_numpy()[:10], c.X.to_numpy()[:10])


def test_prefix_property() -> None:
    small, large = make_trust_cohort(100, seed=3), make_trust_cohort(400, seed=3)
    n = small.n_records
    assert np.array_equal(small.patient, large.patient[:n])
    assert np.allclose(small.X.to_numpy(), large.X.to_numpy()[:n])
    assert np.array_equal(small.annotations, large.annotations[:n])
    assert np.allclose(small.p_true, large.p_true[:n])


def test_shapes_and_types() -> None:
    c = make_trust_cohort(500, seed=1, noise_rates=(0.1, 0.2), n_noise=3)
    n = c.n_records
    assert list(c.X.columns) == [*FEATURES, "noise_1", "noise_2", "noise_3"]
    assert c.y.shape == c.p_true.shape == c.patient.shape == c.site.shape == c.group.shape == (n,)
    assert c.annotations.shape == (n, 2) and c.noise_rates == (0.1, 0.2)
    assert c.y.dtype == np.int64 and set(np.unique(c.y)) <= {0, 1}
    assert set(np.unique(c.site)) <= set(SITES) and set(np.unique(c.group)) <= set(GROUPS)
    assert np.all((c.p_true > 0) & (c.p_true < 1))
    counts = np.bincount(c.patient)
    assert counts.min() >= 1 and counts.max() <= 5 and np.all(np.diff(c.patient) >= 0)
    for pid in range(20):  # site, group and outcome belong to the patient
        m = c.patient == pid
        assert len(set(c.site[m])) == len(set(c.group[m])) == len(set(c.y[m])) == 1
    assert make_trust_cohort(50, seed=1, max_records=1).n_records == 50


@pytest.mark.parametrize(
    ("kwargs", "error", "word"),
    [
        ({"n_patients": 0}, ValueError, "n_patients"),
        ({"n_patients": 2.5}, TypeError, "n_patients"),
        ({"seed": -1}, ValueError, "seed"),
        ({"max_records": 0}, ValueError, "max_records"),
        ({"measurement_sd": 0.0}, ValueError, "measurement_sd"),
        ({"shift": -1.0}, ValueError, "shift"),
        ({"degraded_strength": 1.5}, ValueError, "degraded_strength"),
        ({"noise_rates": (0.1, 0.5)}, ValueError, "noise_rates[1]"),
        ({"noise_rates": ()}, ValueError, "noise_rates"),
        ({"noise_rates": "0.1"}, TypeError, "noise_rates"),
        ({"n_noise": 101}, ValueError, "n_noise"),
    ],
)
def test_bad_arguments(kwargs: dict, error: type, word: str) -> None:
    with pytest.raises(error, match=word.replace("[", r"\[").replace("]", r"\]")):
        make_trust_cohort(**{"n_patients": 10, **kwargs})


def test_p_true_is_calibrated_and_balanced(big: TrustCohort) -> None:
    edges = np.quantile(big.p_true, np.linspace(0, 1, 11))
    idx = np.clip(np.searchsorted(edges, big.p_true, side="right") - 1, 0, 9)
    for b in range(10):
        m = idx == b
        se = np.sqrt(big.p_true[m].mean() * (1 - big.p_true[m].mean()) / m.sum()) * 3  # records cluster
        assert abs(big.y[m].mean() - big.p_true[m].mean()) < 4 * se
    assert abs(big.y.mean() - 0.5) < 0.01 and abs(big.p_true.mean() - 0.5) < 0.005


def test_quadrature_matches_monte_carlo() -> None:
    rng = np.random.default_rng(0)
    s = rng.standard_normal((5, len(FEATURES)))
    exact = true_probability(s, 1.0, 0.3)
    shrink = 1 / 1.09
    z = s[:, None, :] * shrink + np.sqrt(0.09 * shrink) * rng.standard_normal((5, 400_000, len(FEATURES)))
    from xaihealth.data.trust import WEIGHTS

    mc = (1 / (1 + np.exp(-(z @ WEIGHTS)))).mean(axis=1)
    assert np.allclose(exact, mc, atol=3e-3)


def test_degraded_group_has_lower_bayes_auc_and_small_group_is_small(big: TrustCohort) -> None:
    auc = {g: roc_auc_score(big.y[big.group == g], big.p_true[big.group == g]) for g in GROUPS}
    for g in GROUPS:
        if g != DEGRADED_GROUP:
            assert auc[g] - auc[DEGRADED_GROUP] > 0.1 and abs(auc[g] - auc["40-64"]) < 0.02
    share = np.mean(big.group[np.r_[True, np.diff(big.patient) > 0]] == SMALL_GROUP)
    assert 0.03 < share < 0.05
    null = make_trust_cohort(20_000, seed=7, degraded_strength=1.0)
    m = null.group == DEGRADED_GROUP
    assert abs(roc_auc_score(null.y[m], null.p_true[m]) - roc_auc_score(null.y[~m], null.p_true[~m])) < 0.03


def test_shifted_site_moves_p_x_but_not_p_y(big: TrustCohort) -> None:
    s = big.site == SHIFTED_SITE
    for name, offset in big.truth["shift"].items():
        diff = big.X[name][s].mean() - big.X[name][~s].mean()
        assert abs(diff - offset) < 0.1 * abs(offset) + 0.05
    assert abs(big.y[s].mean() - big.y[~s].mean()) < 0.03
    lat = to_latent(big.X, big.site)
    assert abs(lat[s].mean(0)).max() < 0.05 and abs(lat[~s].mean(0)).max() < 0.05
    null = make_trust_cohort(2000, seed=9, shift=0.0)
    assert np.allclose(to_latent(null.X, null.site, shift=0.0), to_latent(null.X, np.zeros_like(null.site)))


def test_annotators_flip_at_their_rates_and_kappa_matches(big: TrustCohort) -> None:
    for k, rate in enumerate(big.noise_rates):
        assert abs(np.mean(big.annotations[:, k] != big.y) - rate) < 0.005
        assert abs(cohen_kappa_score(big.annotations[:, k], big.y) - expected_kappa(rate)) < 0.01
    k01 = cohen_kappa_score(big.annotations[:, 0], big.annotations[:, 1])
    assert abs(k01 - (1 - 2 * big.noise_rates[0]) * (1 - 2 * big.noise_rates[1])) < 0.01
    assert expected_kappa(0.1, 0.2) == pytest.approx(0.8 * 0.6)
    assert expected_kappa(0.1, 0.1, prevalence=0.2) < 0.64  # imbalance lowers kappa at the same rates


def test_records_of_a_patient_are_near_duplicates(big: TrustCohort) -> None:
    lat = to_latent(big.X, big.site)
    same = np.diff(big.patient) == 0
    d_same = np.linalg.norm(np.diff(lat, axis=0)[same], axis=1).mean()
    d_other = np.linalg.norm(np.diff(lat, axis=0)[~same], axis=1).mean()
    assert d_same < 0.3 * d_other


def test_switches_change_only_what_they_plant() -> None:
    base = make_trust_cohort(3000, seed=4)
    no_deg = make_trust_cohort(3000, seed=4, degraded_strength=1.0)
    old = base.group == DEGRADED_GROUP
    assert no_deg.X.equals(base.X) and np.array_equal(no_deg.y[~old], base.y[~old])
    assert np.allclose(no_deg.p_true[~old], base.p_true[~old])
    assert not np.allclose(no_deg.p_true[old], base.p_true[old])
    no_shift = make_trust_cohort(3000, seed=4, shift=0.0)
    s4 = base.site == SHIFTED_SITE
    assert np.array_equal(no_shift.y, base.y) and np.allclose(no_shift.p_true, base.p_true)
    assert np.allclose(no_shift.X[~s4], base.X[~s4]) and not np.allclose(no_shift.X[s4], base.X[s4])
