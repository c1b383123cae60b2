"""Synthetic chest-pain cohort with planted trust failures: repeated visits, a shifted site, a weak subgroup.

See ``datasets/trust_cohort.md`` for the datasheet. Module 06 asks "can we trust the confidence?"; every
lesson needs a failure whose size is *known*, so that a check can be scored against it:

- **Patient-level leakage.** Each patient has 1..``max_records`` records (ECG-derived and laboratory
  measurements from separate visits) that are noisy copies of the same latent physiology and share the
  patient's outcome. A split that puts one patient's records on both sides lets a flexible model recognise
  the patient; the truth is the performance on *fresh* patients, which the generator can draw in any
  number (another ``seed``).
- **A shifted site.** At one site (``truth["shifted_site"]``, a new ECG cart and troponin assay) two
  measurements are offset by a fixed amount. The outcome depends on the latent physiology, not on the
  recorded value, so p(x) changes there and a model that ignores the site is miscalibrated (confidently
  too high) on it.
- **A degraded subgroup.** In one age band (``truth["degraded_group"]``, 80+: atypical presentation,
  multimorbidity) the outcome depends on the same physiology with weaker weights: the best possible AUC
  is lower there, and a pooled model is overconfident there. Another band (``truth["small_group"]``,
  18-39) has the majority's mechanism but few patients: its per-group metrics are honestly inconclusive.
- **Annotators with known symmetric flip rates.** Annotator ``k`` reports ``y`` flipped with probability
  ``noise_rates[k]``, independently per record and annotator.
- **The true probability.** ``p_true[i] = P(y = 1 | X[i], site[i], group[i])`` exactly (by Gauss–Hermite
  quadrature, error < 1e-9): calibration error can be measured against the truth.

Outcome model. Patient ``i`` has latent standardised physiology ``z_i ~ N(0, I_6)``; record ``j`` of the
patient measures ``s_ij = z_i + e_ij`` with ``e_ij ~ N(0, measurement_sd^2 I)``, plus the site offset
``delta`` at the shifted site; ``X`` is ``s`` in clinical units (``MEANS + SDS * s``). The outcome (one per
patient, repeated on each of its records) is ``y_i ~ Bernoulli(sigmoid(w_g . z_i))`` with
``w_g = WEIGHTS`` in every group but the degraded one, where ``w_g = degraded_strength * WEIGHTS``. Because
``z | s`` is Gaussian (mean ``s / (1 + sd^2)``, variance ``sd^2 / (1 + sd^2)`` per coordinate),
``w . z | s`` is Gaussian too and ``p_true = E[sigmoid(w . z) | s]`` is a one-dimensional integral. The
intercept is 0 and ``z`` is symmetric, so the prevalence is exactly 0.5 in every group and site (balanced
classes: Cohen's kappa between annotators with flip rates e1, e2 is then (1 - 2 e1)(1 - 2 e2)).

Randomness: ``seed`` feeds a :class:`numpy.random.SeedSequence` with child streams for the patients, the
record noise, the annotators and the noise columns. Patient ``i`` (its records, outcome and annotations)
is the same for every ``n_patients > i``: a smaller cohort is a prefix of a larger one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np
import pandas as pd
from scipy.special import expit

from xaihealth import validate

FEATURES = ("hr", "qrs", "qtc", "st_dev", "log_troponin", "potassium")
"""Measured columns of ``X``, in order; ``noise_1..noise_k`` follow when ``n_noise > 0``."""
UNITS = MappingProxyType(
    {
        "hr": "heart rate, beats/min",
        "qrs": "QRS duration, ms",
        "qtc": "QTc (Bazett), ms",
        "st_dev": "maximal ST deviation, mm",
        "log_troponin": "log10 of hs-troponin T, log10(ng/L)",
        "potassium": "serum potassium, mmol/L",
    }
)
MEANS = np.array([78.0, 96.0, 430.0, 0.5, 1.2, 4.2])
SDS = np.array([14.0, 12.0, 25.0, 0.6, 0.5, 0.4])
WEIGHTS = np.array([0.3, 0.2, 0.5, 1.0, 0.9, 0.0])
"""Log-odds per latent standard deviation of each feature; potassium has no effect."""

SITES = (0, 1, 2, 3, 4)
SITE_PROBS = (0.30, 0.25, 0.20, 0.15, 0.10)
SHIFTED_SITE = 4
SITE_SHIFT = MappingProxyType({"qtc": 1.2, "st_dev": 0.8})
"""Offset of the shifted site's recorded values, in feature standard deviations (times ``shift``)."""

GROUPS = ("18-39", "40-64", "65-79", "80+")
GROUP_PROBS = (0.04, 0.46, 0.35, 0.15)
DEGRADED_GROUP = "80+"
SMALL_GROUP = "18-39"

DEFAULT_NOISE_RATES = (0.05, 0.15, 0.30)
MAX_PATIENTS = 1_000_000
MAX_NOISE = 100
MAX_ANNOTATORS = 20
_N_QUAD = 48
_GH_T, _GH_W = np.polynomial.hermite.hermgauss(_N_QUAD)


@dataclass(frozen=True)
class TrustCohort:
    """A sample from :func:`make_trust_cohort`: one row per record, with the planted truth.

    Attributes
    ----------
    X:
        Measurements, one row per record (see :data:`FEATURES` and :data:`UNITS`), float64.
    y:
        Outcome per record, int64 0/1 (the patient's outcome, the same on all its records): a major
        adverse cardiac event within 30 days.
    p_true:
        ``P(y = 1 | X row, site, group)`` per record, exact: the best any model could predict from
        the record together with its site and age band.
    patient:
        Patient id per record, int64, 0..n_patients-1; records of one patient are contiguous.
    site:
        Site per record, int64 in :data:`SITES`; ``truth["shifted_site"]`` carries the measurement shift.
    group:
        Age band per record, str in :data:`GROUPS`.
    annotations:
        ``(n_records, n_annotators)`` int64 labels: ``y`` flipped independently with each annotator's rate.
    noise_rates:
        The annotators' flip rates, in column order.
    truth:
        The planted facts (read-only mapping); see the datasheet for every key.
    """

    X: pd.DataFrame
    y: np.ndarray
    p_true: np.ndarray
    patient: np.ndarray
    site: np.ndarray
    group: np.ndarray
    annotations: np.ndarray
    noise_rates: tuple[float, ...]
    truth: Mapping[str, object]

    @property
    def n_records(self) -> int:
        return int(self.y.shape[0])


def make_trust_cohort(
    n_patients: int = 2000,
    seed: int = 0,
    *,
    max_records: int = 5,
    measurement_sd: float = 0.3,
    shift: float = 1.0,
    degraded_strength: float = 0.4,
    noise_rates: Sequence[float] = DEFAULT_NOISE_RATES,
    n_noise: int = 0,
) -> TrustCohort:
    """Draw ``n_patients`` patients (1..``max_records`` records each) with the planted trust failures.

    Parameters
    ----------
    n_patients:
        Number of patients, 1 to 1,000,000 (records: about 1 + (max_records - 1) / 2 per patient).
    seed:
        Non-negative integer; the same seed gives byte-identical outputs; another seed, fresh patients.
    max_records:
        Records per patient are uniform on 1..max_records (1 to 20); 1 removes the leakage.
    measurement_sd:
        Visit-to-visit measurement noise in latent standard deviations (0.01 to 3); small values make a
        patient's records near-duplicates.
    shift:
        Multiplier of the shifted site's offsets :data:`SITE_SHIFT` (0 to 5); 0 is the null (no shift).
    degraded_strength:
        Multiplier of the outcome weights in the degraded group (0 to 1); 1 is the null (no degradation).
    noise_rates:
        Flip rate of each annotator, each in [0, 0.5); 1 to 20 annotators.
    n_noise:
        Number of pure-noise columns ``noise_1..`` (standard normal, independent of everything), 0 to 100.
    """
    n_patients = validate.integer("n_patients", n_patients, minimum=1, maximum=MAX_PATIENTS)
    seed = validate.integer("seed", seed, minimum=0)
    max_records = validate.integer("max_records", max_records, minimum=1, maximum=20)
    measurement_sd = validate.number("measurement_sd", measurement_sd, minimum=0.01, maximum=3.0)
    shift = validate.number("shift", shift, minimum=0.0, maximum=5.0)
    degraded_strength = validate.number("degraded_strength", degraded_strength, minimum=0.0, maximum=1.0)
    rates = _noise_rates(noise_rates)
    n_noise = validate.integer("n_noise", n_noise, minimum=0, maximum=MAX_NOISE)

    pat_seq, z_seq, rec_seq, ann_seq, noise_seq = np.random.SeedSequence(seed).spawn(5)
    d = len(FEATURES)
    # per patient: uniforms for site, group, record count and outcome; 6 latent normals
    pat = np.random.default_rng(pat_seq).random((n_patients, 4))
    z = np.random.default_rng(z_seq).standard_normal((n_patients, d))
    site_p = np.searchsorted(np.cumsum(SITE_PROBS)[:-1], pat[:, 0], side="right").astype(np.int64)
    group_idx = np.searchsorted(np.cumsum(GROUP_PROBS)[:-1], pat[:, 1], side="right")
    counts = 1 + np.minimum((pat[:, 2] * max_records).astype(np.int64), max_records - 1)
    strength = np.where(np.asarray(GROUPS)[group_idx] == DEGRADED_GROUP, degraded_strength, 1.0)
    y_p = (pat[:, 3] < expit(strength * (z @ WEIGHTS))).astype(np.int64)

    patient = np.repeat(np.arange(n_patients, dtype=np.int64), counts)
    n_rec = patient.shape[0]
    e = np.random.default_rng(rec_seq).standard_normal((n_rec, d)) * measurement_sd
    delta = shift * _shift_vector()
    site = site_p[patient]
    s_true = z[patient] + e  # what a correct instrument records (latent units)
    s_obs = s_true + np.where((site == SHIFTED_SITE)[:, None], delta, 0.0)
    group = np.asarray(GROUPS)[group_idx][patient]
    y = y_p[patient]
    p_true = true_probability(s_true, strength[patient], measurement_sd)

    flips = np.random.default_rng(ann_seq).random((n_rec, len(rates))) < np.asarray(rates)
    annotations = np.where(flips, 1 - y[:, None], y[:, None]).astype(np.int64)

    columns = {name: MEANS[j] + SDS[j] * s_obs[:, j] for j, name in enumerate(FEATURES)}
    for k, child in enumerate(noise_seq.spawn(n_noise), start=1):
        columns[f"noise_{k}"] = np.random.default_rng(child).standard_normal(n_rec)
    X = pd.DataFrame(columns)

    truth = MappingProxyType(
        {
            "shifted_site": SHIFTED_SITE,
            "shift": MappingProxyType({k: shift * v * SDS[FEATURES.index(k)] for k, v in SITE_SHIFT.items()}),
            "shift_sd": MappingProxyType({k: shift * v for k, v in SITE_SHIFT.items()}),
            "shift_logit": float(WEIGHTS @ delta / (1.0 + measurement_sd**2)),
            "degraded_group": DEGRADED_GROUP,
            "degraded_strength": degraded_strength,
            "small_group": SMALL_GROUP,
            "weights": MappingProxyType(dict(zip(FEATURES, WEIGHTS.tolist(), strict=True))),
            "measurement_sd": measurement_sd,
            "max_records": max_records,
            "prevalence": 0.5,
            "noise_rates": rates,
            "n_patients": n_patients,
        }
    )
    return TrustCohort(
        X=X,
        y=y,
        p_true=p_true,
        patient=patient,
        site=site,
        group=group,
        annotations=annotations,
        noise_rates=rates,
        truth=truth,
    )


def true_probability(s: np.ndarray, strength: np.ndarray | float, measurement_sd: float) -> np.ndarray:
    """``E[sigmoid(strength * w . z) | s]`` for records ``s = z + e`` in latent units (no site offset).

    ``z | s ~ N(s / (1 + sd^2), sd^2 / (1 + sd^2) I)``, so the logit is Gaussian with mean
    ``strength * w . s / (1 + sd^2)`` and variance ``strength^2 |w|^2 sd^2 / (1 + sd^2)``; the expectation
    of its sigmoid is computed with 48-node Gauss–Hermite quadrature.
    """
    s = np.asarray(s, dtype=np.float64)
    if s.ndim != 2 or s.shape[1] != len(FEATURES):
        raise ValueError(f"s must have shape (n, {len(FEATURES)}) (latent units); got {s.shape}")
    shrink = 1.0 / (1.0 + measurement_sd**2)
    strength = np.broadcast_to(np.asarray(strength, dtype=np.float64), (s.shape[0],))
    mean = strength * (s @ WEIGHTS) * shrink
    sd = strength * np.sqrt(WEIGHTS @ WEIGHTS * measurement_sd**2 * shrink)
    nodes = mean[:, None] + np.sqrt(2.0) * sd[:, None] * _GH_T[None, :]
    return expit(nodes) @ _GH_W / np.sqrt(np.pi)


def to_latent(X: pd.DataFrame, site: np.ndarray, shift: float = 1.0) -> np.ndarray:
    """Recorded values of :data:`FEATURES` back to latent units, the shifted site's offset removed."""
    s = (np.asarray(X[list(FEATURES)], dtype=np.float64) - MEANS) / SDS
    return s - np.where((np.asarray(site) == SHIFTED_SITE)[:, None], shift * _shift_vector(), 0.0)


def expected_kappa(rate_a: float, rate_b: float | None = None, prevalence: float = 0.5) -> float:
    """Cohen's kappa expected between two annotators with symmetric flip rates (``None``: the truth).

    With ``rate_b=None`` the second rater is the true label (rate 0): on balanced classes that is
    ``1 - 2 rate_a``; two annotators give ``(1 - 2 a)(1 - 2 b)`` on balanced classes, and the general
    formula ``(p_o - p_e) / (1 - p_e)`` for another prevalence.
    """
    a = validate.number("rate_a", rate_a, minimum=0.0, maximum=0.5)
    b = 0.0 if rate_b is None else validate.number("rate_b", rate_b, minimum=0.0, maximum=0.5)
    pi = validate.number("prevalence", prevalence, minimum=0.0, maximum=1.0)
    p_o = (1 - a) * (1 - b) + a * b
    qa, qb = pi * (1 - a) + (1 - pi) * a, pi * (1 - b) + (1 - pi) * b
    p_e = qa * qb + (1 - qa) * (1 - qb)
    return float((p_o - p_e) / (1 - p_e)) if p_e < 1 else float("nan")


def _shift_vector() -> np.ndarray:
    return np.array([SITE_SHIFT.get(name, 0.0) for name in FEATURES])


def _noise_rates(noise_rates: Sequence[float]) -> tuple[float, ...]:
    if isinstance(noise_rates, str | bytes) or not isinstance(noise_rates, Sequence | np.ndarray):
        raise TypeError(
            f"noise_rates={noise_rates!r} must be a sequence of flip rates, not {type(noise_rates).__name__}"
        )
    rates = tuple(validate.number(f"noise_rates[{k}]", r, minimum=0.0) for k, r in enumerate(noise_rates))
    if not 1 <= len(rates) <= MAX_ANNOTATORS:
        raise ValueError(f"noise_rates has {len(rates)} annotators; allowed: 1 to {MAX_ANNOTATORS}")
    for k, r in enumerate(rates):
        if r >= 0.5:
            raise ValueError(f"noise_rates[{k}]={r!r} is too large; allowed: 0 <= value < 0.5")
    return rates
