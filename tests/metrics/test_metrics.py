"""Per-image metrics against hand-computed values and scikit-image."""

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from bench.metrics import all_metrics, column_direction, evaluate_image, get_metric
from bench.metrics.pixel import PSNR_MAX, hole_bbox, l1, mse, psnr, ssim, ssim_gaussian


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
    ref = structural_similarity(target.astype(np.float64), pred.astype(np.float64), data_range=1.0, channel_axis=-1)
    assert ssim(pred, target, mask) == pytest.approx(ref, abs=1e-12)
    # Hole SSIM: scikit-image's own full SSIM map, averaged over the hole pixels of every channel.
    _, full = structural_similarity(
        target.astype(np.float64), pred.astype(np.float64), data_range=1.0, channel_axis=-1, full=True
    )
    assert ssim(pred, target, mask, "hole") == pytest.approx(full[mask].mean(), abs=1e-12)


def test_gaussian_ssim_is_wang_et_al_window():
    pred, target, mask = _pair()
    kw = dict(data_range=1.0, channel_axis=-1, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    ref = structural_similarity(target.astype(np.float64), pred.astype(np.float64), **kw)
    assert ssim_gaussian(pred, target, mask) == pytest.approx(ref, abs=1e-12)
    _, full = structural_similarity(target.astype(np.float64), pred.astype(np.float64), full=True, **kw)
    assert ssim_gaussian(pred, target, mask, "hole") == pytest.approx(full[mask].mean(), abs=1e-12)
    assert ssim_gaussian(pred, target, mask, "hole") != pytest.approx(ssim(pred, target, mask, "hole"), abs=1e-4)


def test_spreading_holes_apart_cannot_raise_hole_ssim():
    """The old failure mode: with the bounding box, two distant holes scored known pixels between them."""
    rng = np.random.default_rng(3)
    target = rng.random((64, 64, 3)).astype(np.float32)
    a = np.zeros((64, 64), bool)
    a[4:14, 4:14] = True
    b = np.zeros((64, 64), bool)
    b[48:58, 46:60] = True
    both = a | b
    pred = target.copy()
    pred[both] = 0.5  # a poor fill inside the holes, known pixels copied back
    sa, sb, sab = (ssim(pred, target, m, "hole") for m in (a, b, both))
    # Windows of the two holes do not overlap, so the two-hole score is the pixel-weighted mean.
    assert sab == pytest.approx((sa * a.sum() + sb * b.sum()) / both.sum(), abs=1e-12)
    assert min(sa, sb) <= sab <= max(sa, sb)
    rows, cols = hole_bbox(both)
    old = structural_similarity(
        target[rows, cols].astype(np.float64), pred[rows, cols].astype(np.float64), data_range=1.0, channel_axis=-1
    )
    assert old > max(sa, sb) + 0.3  # what the bounding-box definition reported


def test_perfect_reconstruction():
    _, target, mask = _pair()
    row = evaluate_image(target, target, mask, all_metrics("image"))
    assert row["mse"] == 0 and row["hole_mse"] == 0 and row["l1"] == 0
    assert row["psnr"] == row["hole_psnr"] == PSNR_MAX == 100.0  # capped: an exact output has no finite PSNR
    assert row["ssim"] == pytest.approx(1.0) and row["hole_ssim"] == pytest.approx(1.0)


def test_tiny_and_empty_holes():
    pred, target, _ = _pair()
    empty = np.zeros(target.shape[:2], bool)
    assert math.isnan(mse(pred, target, empty, "hole"))
    assert math.isnan(ssim(pred, target, empty, "hole"))
    thin = empty.copy()
    thin[5, 5:30] = True  # a 1-pixel-high hole still has full windows around it
    _, full = structural_similarity(
        target.astype(np.float64), pred.astype(np.float64), data_range=1.0, channel_axis=-1, full=True
    )
    assert ssim(pred, target, thin, "hole") == pytest.approx(full[thin].mean(), abs=1e-12)
    tiny = np.zeros((5, 5), bool)
    tiny[2, 2] = True  # an image smaller than the 7x7 window
    assert math.isnan(ssim(pred[:5, :5], target[:5, :5], tiny, "hole"))


def test_directions_and_columns():
    assert column_direction("hole_psnr") is True
    assert column_direction("mse") is False
    assert column_direction("hole_ssim") is True
    assert get_metric("psnr").column("hole") == "hole_psnr"
    with pytest.raises(KeyError, match="did you mean"):
        get_metric("psrn")


@pytest.mark.parametrize("gaussian", [False, True])
@pytest.mark.parametrize("shape", [(160, 160), (37, 64), (11, 11), (7, 9)])
def test_image_ssim_from_the_shared_map_equals_scikit_image(gaussian, shape):
    # The image SSIM is read off the map that hole SSIM also uses; scikit-image's own mean is the reference.
    from skimage.metrics import structural_similarity

    from bench.metrics.pixel import ssim, ssim_gaussian

    rng = np.random.default_rng(shape[0] * 100 + shape[1])
    target = rng.random((*shape, 3), dtype=np.float32)
    pred = np.clip(target + 0.2 * rng.standard_normal(target.shape).astype(np.float32), 0, 1)
    mask = np.zeros(shape, bool)
    mask[shape[0] // 3 :, : shape[1] // 2] = True
    fn = ssim_gaussian if gaussian else ssim
    if min(shape) < (11 if gaussian else 7):
        assert np.isnan(fn(pred, target, mask, "image"))
        return
    kwargs = {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False} if gaussian else {}
    expected = structural_similarity(
        target.astype(np.float64), pred.astype(np.float64), data_range=1.0, channel_axis=-1, **kwargs
    )
    hole_first = fn(pred, target, mask, "hole")  # fills the map cache before the image value is read
    assert fn(pred, target, mask, "image") == pytest.approx(expected, abs=1e-12)
    _, full = structural_similarity(
        target.astype(np.float64), pred.astype(np.float64), data_range=1.0, channel_axis=-1, full=True, **kwargs
    )
    assert hole_first == pytest.approx(full.mean(axis=-1)[mask].mean(), abs=1e-12)
    # A new output for the same target must not be served the cached map.
    other = np.clip(pred + 0.1, 0, 1)
    assert fn(other, target, mask, "image") != pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("gaussian", [False, True])
@pytest.mark.parametrize("shape", [(160, 160, 3), (7, 9, 3), (12, 11, 3), (33, 20, 1), (15, 200, 3)])
def test_compiled_ssim_map_is_scikit_images_map_to_rounding(gaussian, shape):
    # Every pixel, borders included (hole SSIM averages the map wherever the hole is).
    from bench.metrics.ssim_kernel import ssim_map

    if gaussian and min(shape[:2]) < 11:
        pytest.skip("scikit-image's Gaussian window needs 11 pixels")
    rng = np.random.default_rng(sum(shape))
    target = rng.random(shape, dtype=np.float32)
    pred = np.clip(target + 0.15 * rng.standard_normal(shape).astype(np.float32), 0, 1)
    side = min(7, *(s if s % 2 else s - 1 for s in shape[:2]))
    kwargs = (
        {"gaussian_weights": True, "sigma": 1.5, "use_sample_covariance": False} if gaussian else {"win_size": side}
    )
    _, full = structural_similarity(
        target.astype(np.float64), pred.astype(np.float64), data_range=1.0, channel_axis=-1, full=True, **kwargs
    )
    got = ssim_map(pred, target, gaussian)
    assert got.shape == shape[:2] and got.dtype == np.float64
    np.testing.assert_allclose(got, full.mean(axis=-1), rtol=0, atol=1e-12)
    # A hand case: identical images have SSIM 1 everywhere.
    np.testing.assert_allclose(ssim_map(target, target, gaussian), 1.0, rtol=0, atol=1e-12)
    with pytest.raises(ValueError, match="one shape"):
        ssim_map(pred[:-1], target, gaussian)
