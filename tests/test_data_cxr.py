"""Synthetic chest radiographs: exact masks, planted marker correlation, determinism, bad input."""

from __future__ import annotations

import numpy as np
import pytest

from xaihealth.data import make_chest_xrays
from xaihealth.data.cxr import (
    LESION_THRESHOLD,
    STANDARD_CORRELATIONS,
    correlation_range,
    marker_probabilities,
    split_seed,
    standard_splits,
)


@pytest.fixture(scope="module")
def batch():
    return make_chest_xrays(96, seed=3, marker_correlation=0.5)


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.astype(float), b.astype(float))[0, 1])


def test_shapes_types_and_range(batch):
    n = 96
    assert batch.images.shape == (n, 1, 64, 64) and batch.images.dtype == np.float32
    assert batch.images.min() >= 0.0 and batch.images.max() <= 1.0
    assert batch.labels.shape == batch.has_marker.shape == (n,)
    assert set(np.unique(batch.labels)) == {0, 1} and set(np.unique(batch.has_marker)) == {0, 1}
    for masks in (batch.lesion_masks, batch.marker_masks, batch.lung_masks):
        assert masks.shape == (n, 64, 64) and masks.dtype == bool
    assert len(batch) == n and batch.size == 64


def test_lesion_mask_is_exactly_where_the_opacity_was_drawn(batch):
    clean = make_chest_xrays(96, seed=3, marker_correlation=0.5, render_lesions=False)
    np.testing.assert_array_equal(clean.lesion_masks, batch.lesion_masks)
    changed = batch.images[:, 0] != clean.images[:, 0]
    np.testing.assert_array_equal(changed, batch.lesion_masks)
    # On the mask the opacity adds at least the stated threshold (up to the per-image gain of 0.92-1.08).
    diff = (batch.images - clean.images)[:, 0]
    assert diff[batch.lesion_masks].min() >= 0.92 * LESION_THRESHOLD - 1e-6
    assert diff[batch.lesion_masks].max() < 0.5


def test_marker_mask_is_exactly_the_marker(batch):
    clean = make_chest_xrays(96, seed=3, marker_correlation=0.5, render_markers=False)
    np.testing.assert_array_equal(clean.marker_masks, batch.marker_masks)
    changed = batch.images[:, 0] != clean.images[:, 0]
    np.testing.assert_array_equal(changed, batch.marker_masks)
    # The marker is bright (a lead letter) and sits in the top-right corner, off the body.
    assert batch.images[:, 0][batch.marker_masks].min() >= 0.85
    rows, cols = np.nonzero(batch.marker_masks.any(axis=0))
    assert rows.max() < 64 // 3 and cols.min() > 2 * 64 // 3


def test_masks_agree_with_labels_and_anatomy(batch):
    lesion_px = batch.lesion_masks.sum(axis=(1, 2))
    assert np.all(lesion_px[batch.labels == 0] == 0), "negative images must have empty lesion masks"
    assert np.all(lesion_px[batch.labels == 1] > 0), "every positive image must have a visible opacity"
    assert not np.any(batch.lesion_masks & ~batch.lung_masks), "lesions must lie inside the lung fields"
    marker_px = batch.marker_masks.sum(axis=(1, 2))
    assert np.all((marker_px > 0) == (batch.has_marker == 1))
    assert not np.any(batch.marker_masks & batch.lung_masks)
    # Lungs are dark (air), the heart shadow is right of centre (patient's left, radiological convention).
    img = make_chest_xrays(64, seed=5, render_lesions=False, render_markers=False, noise=0.0).images[:, 0]
    lungs = make_chest_xrays(64, seed=5).lung_masks
    assert img[lungs].mean() + 0.1 < img[:, 20:44, 20:44][~lungs[:, 20:44, 20:44]].mean()
    heart_zone = img[:, 36:42, 34:44].mean(), img[:, 36:42, 20:30].mean()
    assert heart_zone[0] > heart_zone[1] + 0.05


@pytest.mark.parametrize("size", [32, 96])
def test_other_sizes(size):
    d = make_chest_xrays(24, seed=1, size=size, marker_correlation=1.0)
    assert d.images.shape == (24, 1, size, size)
    assert np.all(d.lesion_masks.sum(axis=(1, 2))[d.labels == 1] > 0)
    assert np.array_equal(d.has_marker, d.labels)  # correlation 1 with marker rate = prevalence
    assert not np.any(d.lesion_masks & ~d.lung_masks)


@pytest.mark.parametrize(("corr", "prevalence"), [(0.9, 0.5), (0.0, 0.5), (-0.6, 0.5), (0.5, 0.3)])
def test_marker_correlation_and_prevalence_as_requested(corr, prevalence):
    n = 3000
    d = make_chest_xrays(n, seed=11, size=32, marker_correlation=corr, prevalence=prevalence)
    se_p = np.sqrt(prevalence * (1 - prevalence) / n)
    assert abs(d.labels.mean() - prevalence) < 4 * se_p
    assert abs(d.has_marker.mean() - prevalence) < 4 * se_p + 0.01  # marker rate defaults to prevalence
    assert abs(_corr(d.labels, d.has_marker) - corr) < 4 * (1 - corr**2) / np.sqrt(n) + 0.01


def test_marker_probabilities_and_range():
    assert marker_probabilities(0.9, 0.5, 0.5) == pytest.approx((0.95, 0.05))
    assert marker_probabilities(0.0, 0.3, 0.6) == pytest.approx((0.6, 0.6))
    assert correlation_range(0.5) == pytest.approx((-1.0, 1.0))
    assert correlation_range(0.2) == pytest.approx((-0.25, 1.0))
    low, high = correlation_range(0.3, 0.5)
    for r in (low, high):  # at the ends one conditional probability reaches 0 or 1
        p1, p0 = marker_probabilities(r, 0.3, 0.5)
        assert min(p1, p0) == pytest.approx(0.0, abs=1e-9) or max(p1, p0) == pytest.approx(1.0)


def test_standard_splits():
    splits = standard_splits(seed=0, n_train=1500, n_test=1500, size=32)
    assert set(splits) == {"train", "test_id", "test_shifted"}
    for name, data in splits.items():
        assert data.marker_correlation == STANDARD_CORRELATIONS[name]
        assert data.seed == split_seed(0, name)
        assert abs(_corr(data.labels, data.has_marker) - STANDARD_CORRELATIONS[name]) < 0.08
    assert STANDARD_CORRELATIONS == {"train": 0.9, "test_id": 0.9, "test_shifted": 0.0}
    assert len({split_seed(0, s) for s in splits} | {split_seed(1, s) for s in splits}) == 6
    assert not np.array_equal(splits["train"].images[:10], splits["test_id"].images[:10])


def test_deterministic():
    a = make_chest_xrays(300, seed=7, marker_correlation=0.8)  # > one rendering chunk of 256
    b = make_chest_xrays(300, seed=7, marker_correlation=0.8)
    for field in ("images", "labels", "has_marker", "lesion_masks", "marker_masks", "lung_masks"):
        assert getattr(a, field).tobytes() == getattr(b, field).tobytes(), field
    c = make_chest_xrays(300, seed=8, marker_correlation=0.8)
    assert a.images.tobytes() != c.images.tobytes()


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"n": 0}, "n"),
        ({"n": -5}, "n"),
        ({"size": 16}, "size"),
        ({"size": 31}, "size"),
        ({"marker_correlation": 1.5}, "marker_correlation"),
        ({"marker_correlation": -1.01}, "marker_correlation"),
        ({"marker_correlation": -0.5, "prevalence": 0.2}, "marker_correlation"),  # allowed down to -0.25
        ({"prevalence": 0.0}, "prevalence"),
        ({"prevalence": 1.0}, "prevalence"),
        ({"prevalence": 1.3}, "prevalence"),
        ({"marker_rate": 0.0}, "marker_rate"),
        ({"noise": -0.1}, "noise"),
        ({"seed": -1}, "seed"),
    ],
)
def test_bad_input_raises_value_error_naming_the_parameter(kwargs, name):
    args = {"n": 4, **kwargs}
    with pytest.raises(ValueError, match=rf"\b{name}="):
        make_chest_xrays(**args)


def test_unachievable_correlation_message_gives_the_range():
    with pytest.raises(ValueError, match=r"allowed: -0\.2500 <= value <= 1\.0000"):
        make_chest_xrays(4, marker_correlation=-0.5, prevalence=0.2)


def test_bad_types_and_split_name():
    with pytest.raises(TypeError, match="n="):
        make_chest_xrays(2.5)
    with pytest.raises(TypeError, match="render_lesions="):
        make_chest_xrays(2, render_lesions="no")
    with pytest.raises(ValueError, match="split="):
        split_seed(0, "validation")
    with pytest.raises(ValueError, match="n_train="):
        standard_splits(n_train=0)
