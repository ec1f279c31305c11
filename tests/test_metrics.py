"""Per-image metrics against hand-computed values and scikit-image."""

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from bench.metrics import all_metrics, column_direction, evaluate_image, get_metric
from bench.metrics.pixel import hole_bbox, l1, mse, psnr, ssim


def _pair():
    rng = np.random.default_rng(0)
    target = rng.random((40, 50, 3)).astype(np.float32)
    pred = target.copy()
    mask = np.zeros((40, 50), bool)
    mask[10:20, 5:25] = True
    pred[mask] = np.clip(pred[mask] + 0.2, 0, 1)
    return pred, target, mask


def test_constant_offset_hand_computed():
    target = np.full((8, 8, 3), 0.25, np.float32)
    pred = np.full((8, 8, 3), 0.75, np.float32)
    mask = np.zeros((8, 8), bool)
    mask[:2, :4] = True
    assert mse(pred, target, mask) == pytest.approx(0.25)
    assert l1(pred, target, mask) == pytest.approx(0.5)
    assert psnr(pred, target, mask) == pytest.approx(10 * math.log10(1 / 0.25))
    assert mse(pred, target, mask, "hole") == pytest.approx(0.25)


def test_hole_metrics_only_see_the_hole():
    target = np.zeros((10, 10, 3), np.float32)
    pred = target.copy()
    mask = np.zeros((10, 10), bool)
    mask[2:4, 2:7] = True  # 10 pixels
    pred[mask] = 0.1
    assert mse(pred, target, mask, "hole") == pytest.approx(0.01)
    assert mse(pred, target, mask, "image") == pytest.approx(0.01 * 10 / 100)
    assert psnr(pred, target, mask, "hole") == pytest.approx(20.0)
    assert l1(pred, target, mask, "hole") == pytest.approx(0.1)


def test_ssim_is_scikit_images_with_explicit_range():
    pred, target, mask = _pair()
    ref = structural_similarity(target.astype(np.float64), pred.astype(np.float64), data_range=1.0,
                                channel_axis=-1)
    assert ssim(pred, target, mask) == pytest.approx(ref, abs=1e-12)
    rows, cols = hole_bbox(mask)
    ref_hole = structural_similarity(target[rows, cols].astype(np.float64), pred[rows, cols].astype(np.float64),
                                     data_range=1.0, channel_axis=-1)
    assert ssim(pred, target, mask, "hole") == pytest.approx(ref_hole, abs=1e-12)
    assert (rows, cols) == (slice(10, 20), slice(5, 25))


def test_perfect_reconstruction():
    _, target, mask = _pair()
    row = evaluate_image(target, target, mask, all_metrics("image"))
    assert row["mse"] == 0 and row["hole_mse"] == 0 and row["l1"] == 0
    assert math.isinf(row["psnr"]) and math.isinf(row["hole_psnr"])
    assert row["ssim"] == pytest.approx(1.0) and row["hole_ssim"] == pytest.approx(1.0)


def test_tiny_and_empty_holes():
    pred, target, _ = _pair()
    empty = np.zeros(target.shape[:2], bool)
    assert math.isnan(mse(pred, target, empty, "hole"))
    assert math.isnan(ssim(pred, target, empty, "hole"))
    thin = empty.copy()
    thin[5, 5:30] = True  # a 1-pixel-high box: no SSIM window fits
    assert math.isnan(ssim(pred, target, thin, "hole"))
    small = empty.copy()
    small[5:10, 5:10] = True  # 5x5 box: SSIM with a 5x5 window
    ref = structural_similarity(target[5:10, 5:10].astype(np.float64), pred[5:10, 5:10].astype(np.float64),
                                data_range=1.0, channel_axis=-1, win_size=5)
    assert ssim(pred, target, small, "hole") == pytest.approx(ref)


def test_directions_and_columns():
    assert column_direction("hole_psnr") is True
    assert column_direction("mse") is False
    assert column_direction("hole_ssim") is True
    assert get_metric("psnr").column("hole") == "hole_psnr"
    with pytest.raises(KeyError, match="did you mean"):
        get_metric("psrn")
