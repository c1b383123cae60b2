"""Synthetic electrocardiograms with ground-truth concepts (heart rate, PR, QRS width, QTc, T amplitude).

See ``datasets/synthetic_ecg.md`` for the datasheet. Each beat is a sum of Gaussian waves (P, Q, R, S and
an asymmetric T), in the spirit of ECGSYN (McSharry et al., 2003, IEEE Trans Biomed Eng 50:289-294), but
the waves are placed in *time* relative to the R peak rather than on a limit cycle, so that every clinical
interval is set exactly:

- every wave boundary is where the tangent at the steepest slope of the outer wave meets the baseline (the
  tangent method used to read the end of the T wave, Postema & Wilde, 2014); for a Gaussian of centre
  ``mu`` and width ``sigma`` that point is ``mu +/- 2 sigma``, so the generator places the waves such that
  QRS onset, QRS offset, T end and P onset fall exactly on the requested intervals;
- QT = QTc * sqrt(RR) (Bazett, 1920) with RR the mean RR interval in seconds;
- the RR series has mean exactly 60 / hr and standard deviation exactly ``hrv`` (ms) over the beats that
  cover the record.

The labels derive from the true concepts only: ``long_qt`` is QTc > 450 ms (men) or > 470 ms (women), the
thresholds for a prolonged QTc in adults of Goldenberg, Moss & Zareba (2006, J Cardiovasc Electrophysiol
17:333-336); ``wide_qrs`` is QRS >= 120 ms (Surawicz et al., 2009, AHA/ACCF/HRS recommendations, part
III). Sex is *not* drawn into the signal except through a weaker R wave and a slightly longer QTc in women,
so a classifier that sees only the trace cannot know which threshold applies: records with a QTc between
450 and 470 ms are ambiguous, as they are for a reader who is not told the patient's sex.

Every concept is drawn from its own random stream, so changing one range (for example ``noise=0``) leaves
the other concepts of the same seed unchanged: that gives clean and noisy versions of the same patients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr, ndtri

from xaihealth import validate

__all__ = [
    "CONCEPT_DEFAULTS",
    "CONCEPTS",
    "FIDUCIALS",
    "LABELS",
    "LEAD_NAMES",
    "QTC_THRESHOLD_MS",
    "R_TO_QRS_ONSET",
    "WIDE_QRS_MS",
    "ECGSet",
    "make_ecgs",
]

QTC_THRESHOLD_MS: Mapping[str, float] = {"male": 450.0, "female": 470.0}
WIDE_QRS_MS = 120.0
LEAD_NAMES = ("II", "I", "V2")
LABELS = ("long_qt", "wide_qrs")
FIDUCIALS = ("p_on", "qrs_on", "r_peak", "qrs_off", "t_peak", "t_end")
CONCEPTS = ("hr", "pr", "qrs", "qt", "qtc", "t_amp", "r_amp", "hrv", "noise", "wander", "sex")
SEXES = ("female", "male")
# QRS onset lies this fraction of the QRS width before the R peak (the R peak is 45 % into the complex).
R_TO_QRS_ONSET = 0.45

# Per-lead gains of the P, Q, R, S and T waves: lead II is the reference; lead I has smaller waves;
# V2 has a small r, a deep S and a tall T, as in a normal precordial lead.
_LEAD_GAINS = np.array(
    [
        [1.00, 1.00, 1.00, 1.00, 1.00],
        [0.60, 0.80, 0.70, 0.50, 0.80],
        [0.50, 0.20, 0.45, 2.50, 1.40],
    ]
)
_WANDER_GAINS = np.array([1.0, 0.8, 0.6])


@dataclass(frozen=True)
class _Prior:
    """A truncated normal prior: ``mean``/``sd`` (``female_shift`` added for women), default range, limits."""

    mean: float
    sd: float
    lo: float
    hi: float
    limits: tuple[float, float]
    unit: str
    female_shift: float = 0.0


# Defaults are realistic for adults at rest and overlap across the label thresholds on purpose.
CONCEPT_DEFAULTS: Mapping[str, _Prior] = {
    "hr": _Prior(72.0, 14.0, 45.0, 120.0, (30.0, 180.0), "bpm"),
    "pr": _Prior(160.0, 22.0, 110.0, 240.0, (80.0, 320.0), "ms"),
    "qrs": _Prior(98.0, 14.0, 70.0, 170.0, (60.0, 200.0), "ms"),
    "qtc": _Prior(440.0, 28.0, 370.0, 540.0, (300.0, 650.0), "ms", female_shift=12.0),
    "t_amp": _Prior(0.35, 0.12, 0.10, 0.80, (0.02, 1.5), "mV"),
    "r_amp": _Prior(1.20, 0.25, 0.40, 2.20, (0.20, 3.0), "mV", female_shift=-0.20),
    "hrv": _Prior(35.0, 20.0, 0.0, 100.0, (0.0, 150.0), "ms"),
    "noise": _Prior(0.03, 0.03, 0.0, 0.20, (0.0, 1.0), "mV"),
    "wander": _Prior(0.10, 0.10, 0.0, 0.50, (0.0, 2.0), "mV"),
}
_ALLOWED_KEYWORDS = (*CONCEPT_DEFAULTS, "sex")
# Independent random streams, one per quantity, so that fixing one concept leaves the others unchanged.
_STREAMS = (
    "sex",
    *CONCEPT_DEFAULTS,
    "morphology",
    "rhythm",
    "rhythm_jitter",
    "wander_shape",
    "noise_samples",
)
_CHUNK = 256  # records built at once (bounds memory to a few tens of MB)


@dataclass(frozen=True)
class ECGSet:
    """A batch of synthetic ECGs with their ground truth.

    Attributes
    ----------
    signals:
        ``float32`` array ``(n, leads, fs * duration)`` in mV; lead order is :data:`LEAD_NAMES`.
    concepts:
        One row per record: ``hr`` [bpm], ``pr`` [ms], ``qrs`` [ms], ``qt`` [ms], ``qtc`` [ms] (Bazett),
        ``t_amp`` [mV], ``r_amp`` [mV], ``hrv`` [ms, SD of RR], ``noise`` [mV, SD], ``wander`` [mV, peak],
        ``sex`` (``"female"`` / ``"male"``).
    labels:
        0/1 integers: ``long_qt`` (QTc above the sex-specific threshold of :data:`QTC_THRESHOLD_MS`) and
        ``wide_qrs`` (QRS >= 120 ms).
    fiducials:
        Per-beat sample indices of the *complete* beats (all of P onset ... T end inside the record), as
        padded ``int32`` arrays ``(n, max_beats)`` under keys :data:`FIDUCIALS`, with ``-1`` as padding,
        and ``"mask"`` (bool, True for a real beat). :meth:`beats` gives one record as a table.
    fs:
        Sampling rate in Hz.
    """

    signals: np.ndarray
    concepts: pd.DataFrame
    labels: pd.DataFrame
    fiducials: dict[str, np.ndarray]
    fs: int

    def __len__(self) -> int:
        return int(self.signals.shape[0])

    @property
    def time(self) -> np.ndarray:
        """Sample times in seconds."""
        return np.arange(self.signals.shape[-1]) / self.fs

    def beats(self, i: int) -> pd.DataFrame:
        """The fiducial sample indices of record ``i``, one row per complete beat."""
        i = validate.integer("i", i, minimum=0, maximum=len(self) - 1)
        keep = self.fiducials["mask"][i]
        return pd.DataFrame({k: self.fiducials[k][i][keep] for k in FIDUCIALS})


def make_ecgs(
    n: int,
    seed: int = 0,
    *,
    fs: int = 250,
    duration: float = 10.0,
    leads: int = 1,
    **concepts: Any,
) -> ECGSet:
    """Generate ``n`` synthetic ECGs whose clinical intervals and amplitudes are known exactly.

    Parameters
    ----------
    n:
        Number of records (>= 1).
    seed:
        Seed of the random streams; the same seed gives byte-identical output.
    fs:
        Sampling rate in Hz (100 to 2000).
    duration:
        Length of each record in seconds; must hold at least two beats at the slowest heart rate allowed.
    leads:
        1 to 3 leads, in the order II, I, V2 (projections of the same waves with different gains).
    **concepts:
        Fix or restrict a concept: a number fixes it (``noise=0``), a pair ``(lo, hi)`` restricts its
        default truncated-normal distribution to that range (``qtc=(480, 540)``). Allowed: ``hr``,
        ``pr``, ``qrs``, ``qtc``, ``t_amp``, ``r_amp``, ``hrv``, ``noise``, ``wander`` (see
        :data:`CONCEPT_DEFAULTS` for units, defaults and limits), and ``sex`` (``"female"``, ``"male"``
        or ``None`` for both, half each on average).

    Returns
    -------
    :class:`ECGSet` with signals (mV), concepts, labels, fiducials and ``fs``.
    """
    n = validate.integer("n", n, minimum=1)
    seed = validate.integer("seed", seed, minimum=0)
    fs = validate.integer("fs", fs, minimum=100, maximum=2000)
    duration = validate.number("duration", duration, minimum=0.5, maximum=300.0)
    leads = validate.integer("leads", leads, minimum=1, maximum=len(LEAD_NAMES))
    ranges, sex_choice = _resolve_ranges(concepts)
    slowest_rr = 60.0 / ranges["hr"][0]
    if duration < 2 * slowest_rr:
        raise ValueError(
            f"duration={duration!r} s is too short to hold two beats at hr={ranges['hr'][0]:g} bpm; "
            f"allowed: duration >= {2 * slowest_rr:g} s (or raise the lower end of hr)"
        )
    n_samples = int(round(fs * duration))

    streams = dict(zip(_STREAMS, np.random.SeedSequence(seed).spawn(len(_STREAMS)), strict=True))
    rngs = {k: np.random.default_rng(s) for k, s in streams.items()}
    table = _draw_concepts(n, ranges, sex_choice, rngs)
    labels = pd.DataFrame(
        {
            "long_qt": (table["qtc"] > np.where(table["female"], 470.0, 450.0)).astype(np.int64),
            "wide_qrs": (table["qrs"] >= WIDE_QRS_MS).astype(np.int64),
        }
    )
    morph = _draw_morphology(n, rngs["morphology"])
    hr_hi = ranges["hr"][1]
    n_beats = int(np.ceil((duration + 2 * _PAD) / (0.5 * 60.0 / hr_hi))) + 2
    rhythm_u = rngs["rhythm"].random((n, 3))
    rhythm_e = rngs["rhythm_jitter"].standard_normal((n, n_beats))
    wander_u = rngs["wander_shape"].random((n, 4))

    signals = np.empty((n, leads, n_samples), dtype=np.float32)
    fid_parts: list[dict[str, np.ndarray]] = []
    noise_rng = rngs["noise_samples"]
    for start in range(0, n, _CHUNK):
        sl = slice(start, min(n, start + _CHUNK))
        sub = {k: v[sl] for k, v in table.items()}
        r_times = _r_peak_times(sub, rhythm_u[sl], rhythm_e[sl], duration)
        clean, fid = _render(sub, {k: v[sl] for k, v in morph.items()}, r_times, fs, n_samples, leads)
        t = np.arange(n_samples) / fs
        clean += _wander(sub["wander"], wander_u[sl], t)[:, None, :] * _WANDER_GAINS[:leads, None]
        noise = noise_rng.standard_normal(clean.shape, dtype=np.float32)
        clean += noise * sub["noise"][:, None, None].astype(np.float32)
        signals[sl] = clean
        fid_parts.append(fid)
    fiducials = _stack_fiducials(fid_parts)

    concept_df = pd.DataFrame({k: table[k] for k in CONCEPTS if k != "sex"})
    concept_df["sex"] = pd.Categorical(np.where(table["female"], "female", "male"), categories=list(SEXES))
    return ECGSet(signals=signals, concepts=concept_df, labels=labels, fiducials=fiducials, fs=fs)


# --- concept distributions -----------------------------------------------------------------------------

_PAD = 1.2  # seconds of beats generated before and after the record, so that edges look like the middle


def _resolve_ranges(concepts: Mapping[str, Any]) -> tuple[dict[str, tuple[float, float]], str | None]:
    """Check the keyword overrides and return ``{concept: (lo, hi)}`` and the sex choice."""
    for key in concepts:
        if key not in _ALLOWED_KEYWORDS:
            raise ValueError(
                f"{key!r} is not a concept of make_ecgs; allowed keywords: {', '.join(_ALLOWED_KEYWORDS)} "
                "(and n, seed, fs, duration, leads)"
            )
    sex = concepts.get("sex")
    if sex is not None:
        validate.one_of("sex", sex, SEXES)
    ranges: dict[str, tuple[float, float]] = {}
    for key, prior in CONCEPT_DEFAULTS.items():
        value = concepts.get(key)
        lo_lim, hi_lim = prior.limits
        if value is None:
            ranges[key] = (prior.lo, prior.hi)
            continue
        if isinstance(value, tuple | list) and len(value) == 2:
            lo = validate.number(f"{key}[0]", value[0], minimum=lo_lim, maximum=hi_lim)
            hi = validate.number(f"{key}[1]", value[1], minimum=lo_lim, maximum=hi_lim)
            if lo > hi:
                raise ValueError(f"{key}={tuple(value)!r} has lo > hi; give a range (lo, hi) with lo <= hi")
            ranges[key] = (lo, hi)
        elif isinstance(value, tuple | list):
            raise ValueError(f"{key}={value!r} must be a number or a pair (lo, hi) in {prior.unit}")
        else:
            v = validate.number(key, value, minimum=lo_lim, maximum=hi_lim)
            ranges[key] = (v, v)
    return ranges, sex


def _truncated_normal(u: np.ndarray, mean: np.ndarray, sd: float, lo: float, hi: float) -> np.ndarray:
    """Inverse-CDF draw from N(mean, sd) truncated to [lo, hi], from uniforms ``u`` (vectorised, stable)."""
    if lo == hi:
        return np.full_like(u, lo)
    a = (lo - mean) / sd
    b = (hi - mean) / sd
    # Work in the lower tail, where ndtr keeps its precision, by mirroring ranges above the mean.
    flip = a > 0
    a2, b2 = np.where(flip, -b, a), np.where(flip, -a, b)
    pa, pb = ndtr(a2), ndtr(b2)
    z = ndtri(pa + u * (pb - pa))
    # Ranges so far in the tail that their probability underflows are sampled uniformly.
    z = np.where(np.isfinite(z) & (pb > pa), z, a2 + u * (b2 - a2))
    z = np.clip(z, a2, b2)
    z = np.where(flip, -z, z)
    return np.clip(mean + sd * z, lo, hi)


def _draw_concepts(
    n: int,
    ranges: Mapping[str, tuple[float, float]],
    sex: str | None,
    rngs: Mapping[str, np.random.Generator],
) -> dict[str, np.ndarray]:
    u_sex = rngs["sex"].random(n)
    female = np.full(n, sex == "female") if sex is not None else u_sex < 0.5
    table: dict[str, np.ndarray] = {"female": female}
    for key, prior in CONCEPT_DEFAULTS.items():
        u = rngs[key].random(n)
        mean = prior.mean + prior.female_shift * female
        table[key] = _truncated_normal(u, mean, prior.sd, *ranges[key])
    rr = 60.0 / table["hr"]
    table["qt"] = table["qtc"] * np.sqrt(rr)
    return table


def _draw_morphology(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Nuisance shape parameters that are not concepts: P amplitude, Q and S depth relative to R."""
    u = rng.random((n, 3))
    return {
        "p_amp": 0.08 + 0.12 * u[:, 0],  # mV
        "q_frac": 0.08 + 0.14 * u[:, 1],  # Q depth / R height
        "s_frac": 0.10 + 0.25 * u[:, 2],  # S depth / R height
    }


# --- rhythm, waves, artefacts --------------------------------------------------------------------------


def _r_peak_times(
    table: Mapping[str, np.ndarray], u: np.ndarray, e: np.ndarray, duration: float
) -> np.ndarray:
    """R peak times (s), shape ``(m, n_beats)``: RR mean exactly 60/hr and SD exactly hrv over the record.

    The RR series mixes respiratory sinus arrhythmia (a sinusoid at 0.15-0.4 Hz) and white jitter in equal
    parts, then is standardised over the beats that cover the record (plus padding) so that ``hr`` and
    ``hrv`` are what the concepts table says.
    """
    m, n_beats = e.shape
    rr0 = 60.0 / table["hr"]
    hrv = table["hrv"] / 1000.0
    covering = np.ceil((duration + 2 * _PAD) / rr0).astype(int) + 1
    idx = np.arange(n_beats)
    inside = idx[None, :] < covering[:, None]
    f_resp = 0.15 + 0.25 * u[:, 0]
    phase = 2 * np.pi * u[:, 1]
    z = np.sin(2 * np.pi * f_resp[:, None] * rr0[:, None] * idx[None, :] + phase[:, None]) + e
    count = covering[:, None].astype(float)
    zmean = np.where(inside, z, 0.0).sum(1, keepdims=True) / count
    zsd = np.sqrt(np.where(inside, (z - zmean) ** 2, 0.0).sum(1, keepdims=True) / count)
    z = (z - zmean) / np.maximum(zsd, 1e-12)
    rr = rr0[:, None] + hrv[:, None] * z
    rr = np.maximum(rr, 0.5 * rr0[:, None])  # only bites for extreme hrv at high heart rates
    first = -_PAD + u[:, 2] * rr0
    return first[:, None] + np.concatenate([np.zeros((m, 1)), np.cumsum(rr[:, :-1], axis=1)], axis=1)


def _wave_geometry(table: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Centres and widths (s, relative to the R peak) placing every boundary where the tangent puts it."""
    w = table["qrs"] / 1000.0
    qt = table["qt"] / 1000.0
    pr = table["pr"] / 1000.0
    onset = -R_TO_QRS_ONSET * w
    offset = onset + w
    sig_q = 0.10 * w
    sig_r = 0.09 * w
    sig_s = 0.10 * w
    mu_q = onset + 2 * sig_q  # tangent on the Q downstroke meets the baseline at the QRS onset
    mu_s = offset - 2 * sig_s  # tangent on the S upstroke meets the baseline at the QRS offset
    t_end = onset + qt
    sig_td = 0.11 * qt  # T peak to T end = 2 sig_td = 22 % of QT
    mu_t = t_end - 2 * sig_td  # tangent on the T downslope meets the baseline at T end
    sig_tu = np.clip((mu_t - offset) / 2.8, 0.012, 1.8 * sig_td)  # T upstroke starts after the J point
    sig_p = np.clip(0.12 * pr, 0.010, 0.020)
    mu_p = onset - pr + 2 * sig_p  # P onset (tangent) is PR before the QRS onset
    return {
        "onset": onset, "offset": offset, "t_end": t_end, "p_on": onset - pr,
        "mu_p": mu_p, "sig_p": sig_p, "mu_q": mu_q, "sig_q": sig_q, "sig_r": sig_r,
        "mu_s": mu_s, "sig_s": sig_s, "mu_t": mu_t, "sig_tu": sig_tu, "sig_td": sig_td,
    }  # fmt: skip


def _render(
    table: Mapping[str, np.ndarray],
    morph: Mapping[str, np.ndarray],
    r_times: np.ndarray,
    fs: int,
    n_samples: int,
    leads: int,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Sum the P, Q, R, S, T waves of every beat into ``(m, leads, n_samples)``; return fiducials too.

    Each group of waves (P; Q, R, S; T) is evaluated on a short window of samples around each R peak
    (arrays ``(m, beats, L)``) and scattered into the records with ``np.bincount``: the cost is linear in
    the number of beats, with no Python loop over samples, beats or records.
    """
    m = r_times.shape[0]
    duration = n_samples / fs
    g = _wave_geometry(table)
    # Keep, per record, only the beats whose waves can touch the record; unused slots go far away.
    lo_all, hi_all = g["mu_p"] - 4 * g["sig_p"], g["mu_t"] + 4 * g["sig_td"]
    touches = (r_times + hi_all[:, None] >= 0) & (r_times + lo_all[:, None] < duration)
    count = touches.sum(1)
    first = np.argmax(touches, axis=1)
    n_keep = max(int(count.max()), 1)
    cols = np.minimum(first[:, None] + np.arange(n_keep)[None, :], r_times.shape[1] - 1)
    r_times = np.where(np.arange(n_keep)[None, :] < count[:, None], np.take_along_axis(r_times, cols, 1), 1e6)

    r_amp = table["r_amp"]
    zero = np.zeros(m)
    # (wave index for the lead gains, amplitude, centre, width before the centre, width after it)
    groups = [
        [(0, morph["p_amp"], g["mu_p"], g["sig_p"], g["sig_p"])],
        [
            (1, -morph["q_frac"] * r_amp, g["mu_q"], g["sig_q"], g["sig_q"]),
            (2, r_amp, zero, g["sig_r"], g["sig_r"]),
            (3, -morph["s_frac"] * r_amp, g["mu_s"], g["sig_s"], g["sig_s"]),
        ],
        [(4, table["t_amp"], g["mu_t"], g["sig_tu"], g["sig_td"])],
    ]
    out = np.zeros((leads, m * n_samples))
    rec = np.arange(m)[:, None, None] * n_samples
    for waves in groups:
        lo = np.min([mu - 4 * s1 for _, _, mu, s1, _ in waves], axis=0)
        hi = np.max([mu + 4 * s2 for _, _, mu, _, s2 in waves], axis=0)
        width = int(np.ceil((hi - lo).max() * fs)) + 2
        k = np.floor((r_times + lo[:, None]) * fs).astype(np.int64)[:, :, None] + np.arange(width)
        tau = (k / fs - r_times[:, :, None]).astype(np.float32)
        # Cut each record's waves at its own +/- 4 sigma, so a record does not depend on its batch-mates.
        inside = (tau >= lo[:, None, None]) & (tau <= hi[:, None, None])
        valid = (k >= 0) & (k < n_samples) & inside
        index = (rec + k)[valid]
        per_lead = np.zeros((leads, *tau.shape), dtype=np.float32)
        for w, amp, mu, s1, s2 in waves:
            mu3 = mu[:, None, None].astype(np.float32)
            sig = s1 if s1 is s2 else None
            if sig is not None:
                sig3 = sig[:, None, None].astype(np.float32)
            else:
                sig3 = np.where(tau < mu3, s1[:, None, None], s2[:, None, None]).astype(np.float32)
            wave = amp[:, None, None].astype(np.float32) * np.exp(
                np.float32(-0.5) * ((tau - mu3) / sig3) ** 2
            )
            for lead in range(leads):
                per_lead[lead] += np.float32(_LEAD_GAINS[lead, w]) * wave
        for lead in range(leads):
            out[lead] += np.bincount(index, weights=per_lead[lead][valid], minlength=m * n_samples)
    signals = out.reshape(leads, m, n_samples).transpose(1, 0, 2).copy()

    def sample(offset: np.ndarray | float) -> np.ndarray:
        return np.round((r_times + np.broadcast_to(offset, (m,))[:, None]) * fs).astype(np.int64)

    fid = {
        "p_on": sample(g["p_on"]),
        "qrs_on": sample(g["onset"]),
        "r_peak": sample(0.0),
        "qrs_off": sample(g["offset"]),
        "t_peak": sample(g["mu_t"]),
        "t_end": sample(g["t_end"]),
    }
    complete = (fid["p_on"] >= 0) & (fid["t_end"] < n_samples)
    return signals, _compact(fid, complete)


def _compact(fid: Mapping[str, np.ndarray], complete: np.ndarray) -> dict[str, np.ndarray]:
    """Move each record's complete beats (a contiguous run) to the front; pad the rest with -1."""
    count = complete.sum(1)
    first = np.argmax(complete, axis=1)
    width = max(int(count.max()), 1)
    cols = first[:, None] + np.arange(width)[None, :]
    keep = np.arange(width)[None, :] < count[:, None]
    cols = np.minimum(cols, complete.shape[1] - 1)
    out = {
        k: np.where(keep, np.take_along_axis(v, cols, axis=1), -1).astype(np.int32) for k, v in fid.items()
    }
    out["mask"] = keep
    return out


def _stack_fiducials(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    width = max(p["mask"].shape[1] for p in parts)

    def pad(a: np.ndarray, fill: Any) -> np.ndarray:
        return np.pad(a, ((0, 0), (0, width - a.shape[1])), constant_values=fill)

    return {
        k: np.concatenate([pad(p[k], False if k == "mask" else -1) for p in parts])
        for k in (*FIDUCIALS, "mask")
    }


def _wander(amplitude: np.ndarray, u: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Baseline wander: respiration (0.15-0.4 Hz, 60 %) plus drift (0.03-0.1 Hz, 40 %); peak <= amplitude."""
    f_resp = (0.15 + 0.25 * u[:, 0]).astype(np.float32)
    f_drift = (0.03 + 0.07 * u[:, 1]).astype(np.float32)
    t32 = (2 * np.pi * t).astype(np.float32)[None, :]
    resp = np.sin(f_resp[:, None] * t32 + np.float32(2 * np.pi) * u[:, 2, None].astype(np.float32))
    drift = np.sin(f_drift[:, None] * t32 + np.float32(2 * np.pi) * u[:, 3, None].astype(np.float32))
    return amplitude[:, None].astype(np.float32) * (np.float32(0.6) * resp + np.float32(0.4) * drift)
