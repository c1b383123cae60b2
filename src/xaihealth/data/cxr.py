"""Synthetic chest radiographs with pixel-exact lesion masks and a planted hospital-marker shortcut.

See ``datasets/synthetic_cxr.md`` for the datasheet. Each image is a cartoon of a posteroanterior (PA)
chest radiograph drawn with numpy on a ``size`` x ``size`` grid: body outline, two dark lung fields,
curved rib bands, a spine/mediastinum band, a heart shadow, diaphragm domes, and Gaussian noise.
Positive images (``labels == 1``, "pneumonia-like") carry a blurry opacity inside the lung fields whose
pixels are listed exactly in ``lesion_masks``. Some images carry an opaque "L" hospital marker in the
top-right corner, listed exactly in ``marker_masks``; how often it co-occurs with the label is the
parameter ``marker_correlation``, so that a classifier can be tempted by a shortcut (the "Clever Hans"
effect; Zech et al., 2018, found CNNs reading the hospital from radiograph markers).

Orientation follows the radiological convention: the patient faces the viewer, so the patient's left is
on the image's right. The heart shadow therefore sits right of the image centre (column > size / 2), the
right hemidiaphragm (image left) is a little higher, and the "L" side marker is on the image's right.

Ground truth is exact by construction:

- ``lesion_masks[i]`` is ``True`` exactly where the opacity added intensity to image ``i``: the opacity
  profile ``g`` (a sum of up to three anisotropic Gaussians) is drawn only where ``g > LESION_THRESHOLD``
  and inside the lung field, and there it adds ``g`` (at least ``LESION_THRESHOLD`` = 0.03).
- ``marker_masks[i]`` is ``True`` exactly on the marker's pixels, which are *replaced* by a bright level
  (a lead marker is opaque to X-rays).
- ``make_chest_xrays(..., render_lesions=False)`` or ``render_markers=False`` draws the same random
  numbers and returns the same images without the opacity or the marker: a counterfactual of the same
  "patient", used by the tests to prove the masks and by the course to ask "what if the marker were
  not there?".
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from xaihealth import validate

LESION_THRESHOLD = 0.03
"""An opacity is drawn (and masked) where its profile adds more than this intensity (images are in [0, 1])."""

MIN_SIZE = 32
MAX_SIZE = 512
_CHUNK = 256  # images rendered at once; fixed, so that outputs do not depend on memory settings
_N_BLOBS = 3  # Gaussians per opacity (the 2nd and 3rd may have zero amplitude)
_N_CANDIDATES = 24  # candidate lesion centres tried per image (the first inside the lung field wins)


@dataclass(frozen=True)
class CXRSet:
    """A batch of synthetic radiographs and their ground truth.

    Attributes
    ----------
    images:
        float32 array (n, 1, size, size) with values in [0, 1] (0 = black, no attenuation).
    labels:
        int64 array (n,), 1 = pneumonia-like opacity present, 0 = none.
    has_marker:
        int64 array (n,), 1 = the "L" hospital marker is burnt into the image.
    lesion_masks:
        bool array (n, size, size), True exactly where the opacity added intensity (all False if label 0).
    marker_masks:
        bool array (n, size, size), True exactly on the marker's pixels (all False if no marker).
    lung_masks:
        bool array (n, size, size), the visible lung fields (inside the lung outline, above the diaphragm,
        outside the heart shadow). Every lesion pixel lies inside them.
    seed, marker_correlation, prevalence, marker_rate:
        the generator arguments, for the record.
    """

    images: np.ndarray
    labels: np.ndarray
    has_marker: np.ndarray
    lesion_masks: np.ndarray
    marker_masks: np.ndarray
    lung_masks: np.ndarray
    seed: int
    marker_correlation: float
    prevalence: float
    marker_rate: float

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @property
    def size(self) -> int:
        """Image side in pixels."""
        return int(self.images.shape[-1])


def marker_probabilities(
    marker_correlation: float, prevalence: float, marker_rate: float
) -> tuple[float, float]:
    """Return ``(P(marker | y=1), P(marker | y=0))`` giving the requested correlation and marker rate.

    With label rate ``p``, marker rate ``q`` and difference ``d = P(m|1) - P(m|0)``, the Pearson (phi)
    correlation of the two 0/1 variables is ``r = d * sqrt(p (1 - p)) / sqrt(q (1 - q))``; the marker rate
    fixes ``p P(m|1) + (1 - p) P(m|0) = q``. Hence ``P(m|1) = q + (1 - p) d`` and ``P(m|0) = q - p d``.
    Both must be probabilities, which bounds ``r`` (see :func:`correlation_range`).
    """
    d = marker_correlation * np.sqrt(marker_rate * (1 - marker_rate)) / np.sqrt(prevalence * (1 - prevalence))
    p1 = marker_rate + (1 - prevalence) * d
    p0 = marker_rate - prevalence * d
    return float(np.clip(p1, 0.0, 1.0)), float(np.clip(p0, 0.0, 1.0))


def correlation_range(prevalence: float, marker_rate: float | None = None) -> tuple[float, float]:
    """The interval of marker-label correlations achievable for this prevalence and marker rate.

    ``marker_rate`` defaults to ``prevalence``; then the range is ``[-min(p/(1-p), (1-p)/p), 1]``, i.e.
    ``[-1, 1]`` for a balanced data set.
    """
    p = prevalence
    q = p if marker_rate is None else marker_rate
    scale = np.sqrt(p * (1 - p)) / np.sqrt(q * (1 - q))
    d_max = min((1 - q) / (1 - p), q / p)
    d_min = max(-q / (1 - p), -(1 - q) / p)
    return float(d_min * scale), float(d_max * scale)


def _open_unit(name: str, value: float) -> float:
    value = validate.number(name, value)
    if not 0.0 < value < 1.0:
        raise ValueError(f"{name}={value!r} is out of range; allowed: 0 < value < 1 (exclusive)")
    return value


def make_chest_xrays(
    n: int,
    seed: int = 0,
    *,
    size: int = 64,
    marker_correlation: float = 0.0,
    prevalence: float = 0.5,
    marker_rate: float | None = None,
    noise: float = 0.02,
    render_lesions: bool = True,
    render_markers: bool = True,
) -> CXRSet:
    """Draw ``n`` synthetic chest radiographs with lesion masks and a hospital marker.

    Parameters
    ----------
    n:
        Number of images (>= 1).
    seed:
        Seed of the numpy generator; the same arguments give byte-identical outputs.
    size:
        Image side in pixels (32 to 512); the anatomy scales with it.
    marker_correlation:
        Expected Pearson correlation between ``has_marker`` and ``labels`` (0 = no shortcut, 0.9 = strong
        shortcut, negative = reversed shortcut). Must lie in :func:`correlation_range`.
    prevalence:
        Probability of a positive (pneumonia-like) image, in (0, 1). Labels are drawn independently.
    marker_rate:
        Probability that an image carries the marker, in (0, 1); defaults to ``prevalence``.
    noise:
        Mean standard deviation of the additive Gaussian pixel noise (each image draws its own in
        [0.75, 1.25] x ``noise``); 0 to 0.2.
    render_lesions, render_markers:
        If False, the opacity / the marker is not drawn, but every random number is drawn as before and
        the masks are returned unchanged: the same images without that component (a counterfactual).

    Returns
    -------
    :class:`CXRSet` with ``images`` (n, 1, size, size) float32 in [0, 1], ``labels``, ``has_marker``,
    ``lesion_masks``, ``marker_masks`` and ``lung_masks``.
    """
    n = validate.integer("n", n, minimum=1)
    seed = validate.integer("seed", seed, minimum=0)
    size = validate.integer("size", size, minimum=MIN_SIZE, maximum=MAX_SIZE)
    prevalence = _open_unit("prevalence", prevalence)
    marker_rate = prevalence if marker_rate is None else _open_unit("marker_rate", marker_rate)
    marker_correlation = validate.number("marker_correlation", marker_correlation)
    low, high = correlation_range(prevalence, marker_rate)
    if not low - 1e-12 <= marker_correlation <= high + 1e-12:
        raise ValueError(
            f"marker_correlation={marker_correlation!r} is not achievable with prevalence={prevalence} and "
            f"marker_rate={marker_rate}; allowed: {low:.4f} <= value <= {high:.4f}"
        )
    noise = validate.number("noise", noise, minimum=0.0, maximum=0.2)
    render_lesions = validate.boolean("render_lesions", render_lesions)
    render_markers = validate.boolean("render_markers", render_markers)

    rng = np.random.default_rng(seed)
    labels = (rng.random(n) < prevalence).astype(np.int64)
    p1, p0 = marker_probabilities(marker_correlation, prevalence, marker_rate)
    has_marker = (rng.random(n) < np.where(labels == 1, p1, p0)).astype(np.int64)
    anatomy = _draw_anatomy(rng, n)
    lesion = _draw_lesions(rng, anatomy, labels, size)
    marker = _draw_markers(rng, n, size)

    images = np.empty((n, 1, size, size), dtype=np.float32)
    lesion_masks = np.zeros((n, size, size), dtype=bool)
    marker_masks = np.zeros((n, size, size), dtype=bool)
    lung_masks = np.zeros((n, size, size), dtype=bool)
    for start in range(0, n, _CHUNK):
        sl = slice(start, min(start + _CHUNK, n))
        eps = rng.standard_normal((sl.stop - sl.start, size, size), dtype=np.float32)
        img, lungs = _render_anatomy(anatomy, sl, size)
        lesion_add, lesion_mask = _render_lesions(lesion, labels, sl, size, lungs)
        if render_lesions:
            img = img + lesion_add
        img = img * anatomy["gain"][sl, None, None] + eps * (noise * anatomy["noise_scale"][sl, None, None])
        img = np.clip(img, 0.0, 1.0)
        mark = _render_markers(marker, has_marker, sl, size)
        if render_markers:
            img = np.where(mark, marker["level"][sl, None, None], img)
        images[sl, 0] = img
        lesion_masks[sl] = lesion_mask
        marker_masks[sl] = mark
        lung_masks[sl] = lungs
    return CXRSet(
        images=images,
        labels=labels,
        has_marker=has_marker,
        lesion_masks=lesion_masks,
        marker_masks=marker_masks,
        lung_masks=lung_masks,
        seed=seed,
        marker_correlation=float(marker_correlation),
        prevalence=float(prevalence),
        marker_rate=float(marker_rate),
    )


STANDARD_CORRELATIONS = {"train": 0.9, "test_id": 0.9, "test_shifted": 0.0}
"""Marker-label correlation of each split returned by :func:`standard_splits`."""


def split_seed(seed: int, split: str) -> int:
    """The generator seed of ``split`` (derived from ``seed`` so that the splits never share images)."""
    validate.one_of("split", split, tuple(STANDARD_CORRELATIONS))
    index = tuple(STANDARD_CORRELATIONS).index(split)
    return int(np.random.SeedSequence([int(seed), index]).generate_state(1)[0])


def standard_splits(
    seed: int = 0, n_train: int = 3000, n_test: int = 1000, size: int = 64
) -> dict[str, CXRSet]:
    """The course's three splits: a hospital where the marker is a shortcut, and one where it is not.

    - ``"train"``: ``n_train`` images, marker correlation 0.9 (P(marker | pneumonia) = 0.95,
      P(marker | no pneumonia) = 0.05 at prevalence 0.5);
    - ``"test_id"``: ``n_test`` images from the same distribution, another seed;
    - ``"test_shifted"``: ``n_test`` images with marker correlation 0 (the marker appears in half of the
      images, independently of the label), another seed.

    Seeds come from :func:`split_seed`; prevalence is 0.5 everywhere.
    """
    seed = validate.integer("seed", seed, minimum=0)
    n_train = validate.integer("n_train", n_train, minimum=1)
    n_test = validate.integer("n_test", n_test, minimum=1)
    sizes = {"train": n_train, "test_id": n_test, "test_shifted": n_test}
    return {
        split: make_chest_xrays(
            sizes[split], split_seed(seed, split), size=size, marker_correlation=corr, prevalence=0.5
        )
        for split, corr in STANDARD_CORRELATIONS.items()
    }


# --- drawing -------------------------------------------------------------------------------------------
# Coordinates are in units of the image side: u = (column + 0.5) / size, v = (row + 0.5) / size, both in
# (0, 1), v pointing down. Every shape parameter is drawn per image, so the anatomy varies a little.


def _draw_anatomy(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    def uni(lo: float, hi: float) -> np.ndarray:
        return rng.uniform(lo, hi, n).astype(np.float32)

    cx = (0.5 + np.clip(rng.normal(0.0, 0.012, n), -0.03, 0.03)).astype(np.float32)
    a = {
        "cx": cx,
        "body_a": uni(0.40, 0.44),
        "body_b": uni(0.50, 0.56),
        "body_cy": uni(0.53, 0.57),
        "lung_a": uni(0.13, 0.16),
        "lung_b": uni(0.26, 0.30),
        "lung_cy": uni(0.44, 0.48),
        "lung_dx": uni(0.17, 0.20),
        "lung_dark": uni(0.22, 0.30),
        "dome_drop": uni(0.06, 0.10),  # how far the dome falls from its top to the lung's lateral edge
        "dome_top": uni(0.60, 0.70),  # dome top, as a fraction of the lung half-height below its centre
        "heart_dx": uni(0.05, 0.09),
        "heart_cy": uni(0.57, 0.62),
        "heart_a": uni(0.12, 0.15),
        "heart_b": uni(0.10, 0.13),
        "heart_amp": uni(0.10, 0.16),
        "rib_top": uni(0.12, 0.16),
        "rib_spacing": uni(0.075, 0.085),
        "rib_curv": uni(0.6, 0.9),
        "rib_amp": uni(0.07, 0.11),
        "gain": uni(0.92, 1.08),
        "noise_scale": uni(0.75, 1.25),
    }
    return a


def _ellipse_r2(u: np.ndarray, v: np.ndarray, cu: np.ndarray, cv: np.ndarray, au, bv) -> np.ndarray:
    """Squared normalised radius: < 1 inside the ellipse."""
    return ((u - cu) / au) ** 2 + ((v - cv) / bv) ** 2


def _dome(u: np.ndarray, a: dict[str, np.ndarray], idx, side: int) -> np.ndarray:
    """Row coordinate v of the diaphragm dome under lung ``side`` (-1: image left, +1: image right)."""
    lung_u = a["cx"][idx] + side * a["lung_dx"][idx]
    top = a["lung_cy"][idx] + a["dome_top"][idx] * a["lung_b"][idx]
    if side < 0:  # the patient's right hemidiaphragm (image left) sits a little higher
        top = top - 0.02
    return top + a["dome_drop"][idx] * ((u - lung_u) / a["lung_a"][idx]) ** 2


def _lung_field(u: np.ndarray, v: np.ndarray, a: dict[str, np.ndarray], idx) -> np.ndarray:
    """Boolean visible lung field at points (u, v) for images ``idx`` (broadcast shapes)."""
    inside = np.zeros(np.broadcast_shapes(u.shape, v.shape, np.shape(a["cx"][idx])), dtype=bool)
    for side in (-1, 1):
        lung = _ellipse_r2(u, v, a["cx"][idx] + side * a["lung_dx"][idx], a["lung_cy"][idx],
                           a["lung_a"][idx], a["lung_b"][idx]) < 1.0  # fmt: skip
        inside |= lung & (v < _dome(u, a, idx, side))
    heart = _ellipse_r2(u, v, a["cx"][idx] + a["heart_dx"][idx], a["heart_cy"][idx],
                        a["heart_a"][idx], a["heart_b"][idx]) < 1.0  # fmt: skip
    return inside & ~heart


def _ramp(x: np.ndarray) -> np.ndarray:
    """Smooth step from 0 (x <= -1) to 1 (x >= 1), 0.5 at x = 0; a cheap stand-in for a sigmoid edge."""
    t = np.clip(0.5 + 0.5 * x, 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    t = ((np.arange(size, dtype=np.float32) + 0.5) / size).astype(np.float32)
    return t[None, None, :], t[None, :, None]  # u (columns), v (rows)


def _render_anatomy(a: dict[str, np.ndarray], sl: slice, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Return the image without lesion, gain, noise or marker, and the boolean lung fields."""
    u, v = _grid(size)
    p = {k: val[sl, None, None] for k, val in a.items()}
    full = slice(None)
    # Soft edges are smooth steps on the squared ellipse radius (r^2 = 1 on the outline).
    body = _ramp((1.0 - _ellipse_r2(u, v, p["cx"], p["body_cy"], p["body_a"], p["body_b"])) / 0.12)
    lungs_soft = np.zeros_like(body)
    domes = []
    for side in (-1, 1):
        r2 = _ellipse_r2(u, v, p["cx"] + side * p["lung_dx"], p["lung_cy"], p["lung_a"], p["lung_b"])
        dome = _dome(u, p, full, side)
        domes.append(dome)
        lungs_soft += _ramp((1.0 - r2) / 0.18) * _ramp((dome - v) / 0.02)
    abdomen = _ramp((v - np.minimum(*domes)) / 0.03) * body
    heart_r2 = _ellipse_r2(u, v, p["cx"] + p["heart_dx"], p["heart_cy"], p["heart_a"], p["heart_b"])
    heart = _ramp((1.0 - heart_r2) / 0.25)
    lungs_soft = lungs_soft * (1.0 - heart)  # the heart shadow hides the lung behind it
    spine = _ramp((0.045 - np.abs(u - p["cx"])) / 0.02)  # (m, 1, size): a band of columns
    phase = (v - p["rib_top"] - p["rib_curv"] * (u - p["cx"]) ** 2) / p["rib_spacing"]
    c2 = (0.5 + 0.5 * np.cos(2.0 * np.pi * phase)) ** 2
    ribs = c2 * c2 * c2 * ((phase > -0.5) & (phase < 7.5))
    img = (
        0.05
        + 0.42 * body
        - p["lung_dark"] * lungs_soft
        + 0.08 * abdomen
        + p["heart_amp"] * heart
        + 0.10 * spine * body
        + p["rib_amp"] * ribs * body * (0.35 + 0.65 * lungs_soft)
    )
    return img.astype(np.float32), _lung_field(u, v, p, full)


def _draw_lesions(
    rng: np.random.Generator, a: dict[str, np.ndarray], labels: np.ndarray, size: int
) -> dict[str, np.ndarray]:
    """Opacity parameters for every image (used only where label is 1): centres inside the lung field."""
    n = labels.shape[0]
    # Candidate centres: a lung side, then a point uniform in 80 % of that lung's ellipse, snapped to a
    # pixel centre so that the opacity's peak pixel is inside the lung field (the mask is never empty).
    side = np.where(rng.random((n, _N_CANDIDATES)) < 0.5, -1.0, 1.0)
    radius = 0.8 * np.sqrt(rng.random((n, _N_CANDIDATES)))
    angle = rng.uniform(0.0, 2.0 * np.pi, (n, _N_CANDIDATES))
    cu = a["cx"][:, None] + side * a["lung_dx"][:, None] + radius * np.cos(angle) * a["lung_a"][:, None]
    cv = a["lung_cy"][:, None] + radius * np.sin(angle) * a["lung_b"][:, None]
    cu = ((np.clip(np.floor(cu * size), 0, size - 1) + 0.5) / size).astype(np.float32)
    cv = ((np.clip(np.floor(cv * size), 0, size - 1) + 0.5) / size).astype(np.float32)
    ok = _lung_field(cu, cv, a, (slice(None), None))
    first = np.argmax(ok, axis=1)
    # Fallback (never needed in practice): the upper middle of the image-left lung, always in the field.
    fallback_u = a["cx"] - a["lung_dx"]
    fallback_v = a["lung_cy"] - 0.3 * a["lung_b"]
    fallback_u = ((np.floor(fallback_u * size) + 0.5) / size).astype(np.float32)
    fallback_v = ((np.floor(fallback_v * size) + 0.5) / size).astype(np.float32)
    rows = np.arange(n)
    centre_u = np.where(ok.any(axis=1), cu[rows, first], fallback_u)
    centre_v = np.where(ok.any(axis=1), cv[rows, first], fallback_v)

    amp = rng.uniform(0.10, 0.24, n)
    extra = rng.random((n, _N_BLOBS - 1)) < 0.6
    amps = np.concatenate([amp[:, None], amp[:, None] * rng.uniform(0.3, 0.8, (n, _N_BLOBS - 1)) * extra], 1)
    sig_u = rng.uniform(0.030, 0.060, (n, _N_BLOBS))
    sig_v = rng.uniform(0.030, 0.060, (n, _N_BLOBS))
    off_u = np.concatenate([np.zeros((n, 1)), rng.normal(0.0, 1.0, (n, _N_BLOBS - 1)) * sig_u[:, 1:]], 1)
    off_v = np.concatenate([np.zeros((n, 1)), rng.normal(0.0, 1.0, (n, _N_BLOBS - 1)) * sig_v[:, 1:]], 1)
    f32 = np.float32
    return {
        "u": (centre_u[:, None] + off_u).astype(f32),
        "v": (centre_v[:, None] + off_v).astype(f32),
        "amp": amps.astype(f32),
        "sig_u": sig_u.astype(f32),
        "sig_v": sig_v.astype(f32),
    }


def _render_lesions(
    les: dict[str, np.ndarray], labels: np.ndarray, sl: slice, size: int, lungs: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return the opacity's added intensity and its mask (exactly where the addition is non-zero)."""
    u, v = _grid(size)
    m = sl.stop - sl.start
    p = {key: val[sl, :, None] for key, val in les.items()}  # (m, K, 1)
    # Each Gaussian is separable: exp(-(du^2 + dv^2) / 2) = exp(-dv^2 / 2) exp(-du^2 / 2), so the sum over
    # blobs is one batched matrix product (rows x blobs) @ (blobs x columns).
    ev = p["amp"] * np.exp(-0.5 * ((v.reshape(1, 1, size) - p["v"]) / p["sig_v"]) ** 2)  # (m, K, rows)
    eu = np.exp(-0.5 * ((u.reshape(1, 1, size) - p["u"]) / p["sig_u"]) ** 2)  # (m, K, columns)
    g = np.matmul(ev.transpose(0, 2, 1), eu).astype(np.float32).reshape(m, size, size)
    mask = (g > LESION_THRESHOLD) & lungs & (labels[sl, None, None] == 1)
    return np.where(mask, g, np.float32(0.0)), mask


def _draw_markers(rng: np.random.Generator, n: int, size: int) -> dict[str, np.ndarray]:
    """Position and brightness of an "L" glyph near the top-right corner (a few pixels of jitter)."""
    height = max(5, round(0.14 * size))
    width = max(4, round(0.10 * size))
    margin_lo, margin_hi = max(1, round(0.03 * size)), max(2, round(0.08 * size))
    top = rng.integers(margin_lo, margin_hi + 1, n)
    right_margin = rng.integers(margin_lo, margin_hi + 1, n)
    return {
        "top": top,
        "left": size - right_margin - width,
        "height": np.full(n, height),
        "width": np.full(n, width),
        "stroke": np.full(n, max(1, round(size / 32))),
        "level": rng.uniform(0.85, 0.98, n).astype(np.float32),
    }


def _render_markers(m: dict[str, np.ndarray], has_marker: np.ndarray, sl: slice, size: int) -> np.ndarray:
    """Boolean glyph masks: a vertical bar and a bottom bar, i.e. the letter "L"."""
    rows = np.arange(size)[None, :, None]
    cols = np.arange(size)[None, None, :]
    p = {k: val[sl, None, None] for k, val in m.items()}
    in_rows = (rows >= p["top"]) & (rows < p["top"] + p["height"])
    in_cols = (cols >= p["left"]) & (cols < p["left"] + p["width"])
    vertical = in_rows & (cols >= p["left"]) & (cols < p["left"] + p["stroke"])
    bottom = in_cols & (rows >= p["top"] + p["height"] - p["stroke"]) & (rows < p["top"] + p["height"])
    return (vertical | bottom) & (has_marker[sl, None, None] == 1)
