"""Pyramid, texture features and level count of the patch method against plain numpy/scipy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from methods.patch.pyramid import (
    HOLE_SHARE,
    KERNEL,
    auto_levels,
    build_pyramid,
    downsample,
    erosion_depth,
    texture_features,
)


def reference_downsample(image, mask):
    """Masked Gaussian filtering with scipy (zero padding), then every other pixel."""
    known = (~mask).astype(np.float64)

    def blur(a):
        a = ndimage.correlate1d(a, KERNEL, axis=0, mode="constant", cval=0.0)
        return ndimage.correlate1d(a, KERNEL, axis=1, mode="constant", cval=0.0)

    num = np.stack([blur(image[..., c].astype(np.float64) * known) for c in range(image.shape[2])], -1)
    den = blur(known)
    total = blur(np.ones_like(known))  # in-image weight (less than 1 at the border)
    share = (total - den) / total
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where(den[..., None] > 0, num / den[..., None], 0.0)
    return value[::2, ::2], share[::2, ::2] > HOLE_SHARE


@pytest.mark.parametrize("shape", [(64, 64), (37, 50)])
def test_downsample_matches_scipy(shape, small_image):
    rng = np.random.default_rng(0)
    image = np.ascontiguousarray(small_image[: shape[0], : shape[1]])
    mask = np.zeros(shape, bool)
    mask[5:20, 8:30] = True
    mask[0:4, -6:] = True  # a hole on the border
    mask |= rng.random(shape) < 0.02  # and isolated pixels
    image = np.where(mask[..., None], 0.0, image).astype(np.float32)
    coarse, cmask = downsample(image, mask)
    ref, ref_mask = reference_downsample(image, mask)
    assert coarse.shape == ref.shape and coarse.dtype == np.float32
    assert np.array_equal(cmask, ref_mask)
    assert np.allclose(coarse[~cmask], ref[~cmask], atol=1e-6)


def test_coarse_hole_covers_every_fine_hole_pixel():
    rng = np.random.default_rng(1)
    mask = rng.random((45, 61)) < 0.03
    mask[10:14, 20:33] = True
    images, masks = build_pyramid(np.zeros((45, 61, 3), np.float32), mask, 3)
    for fine, coarse in zip(masks, masks[1:]):
        ys, xs = np.nonzero(fine)
        assert coarse[ys // 2, xs // 2].all()
    assert [m.shape for m in masks] == [(45, 61), (23, 31), (12, 16)]


def reference_features(image, mask, window):
    """Straightforward numpy: (one-sided where needed) differences, then a loop over the box offsets."""
    grey = image.astype(np.float64) @ np.array([0.2126, 0.7152, 0.0722])
    known = ~mask
    h, w = grey.shape
    out = []
    for axis in (1, 0):
        g_t = grey if axis == 1 else grey.T
        k_t = known if axis == 1 else known.T
        rows, cols = np.indices(g_t.shape)
        before = np.zeros_like(k_t)
        after = np.zeros_like(k_t)
        before[:, 1:] = k_t[:, :-1]
        after[:, :-1] = k_t[:, 1:]
        lo = np.where(before, cols - 1, cols)
        hi = np.where(after, cols + 1, cols)
        ok = k_t & (hi > lo)
        g = np.abs(g_t[rows, hi] - g_t[rows, lo]) / np.maximum(hi - lo, 1)
        if axis == 0:
            g, ok = g.T, ok.T
        start = window // 2
        pad = window
        gp = np.pad(np.where(ok, g, 0), pad)
        op = np.pad(ok.astype(float), pad)
        s = np.zeros((h, w))
        n = np.zeros((h, w))
        for dy in range(-start, window - start):
            for dx in range(-start, window - start):
                s += gp[pad + dy : pad + dy + h, pad + dx : pad + dx + w]
                n += op[pad + dy : pad + dy + h, pad + dx : pad + dx + w]
        out.append(np.where(n > 0, s / np.maximum(n, 1), 0))
    return np.stack(out, -1)


@pytest.mark.parametrize("window", [1, 4, 8])
def test_texture_features_match_numpy(window, small_image):
    mask = np.zeros(small_image.shape[:2], bool)
    mask[20:41, 12:30] = True
    image = np.where(mask[..., None], 0.0, small_image).astype(np.float32)
    ours = texture_features(image, mask, window)
    ref = reference_features(image, mask, window)
    assert ours.shape == (64, 64, 2) and ours.dtype == np.float32
    assert np.allclose(ours, ref, atol=1e-5)


def test_texture_features_ignore_the_hole_contents(small_image):
    mask = np.zeros(small_image.shape[:2], bool)
    mask[10:30, 10:30] = True
    garbage = small_image.copy()
    garbage[mask] = np.random.default_rng(0).random((mask.sum(), 3))
    blank = np.where(mask[..., None], 0.0, small_image).astype(np.float32)
    assert np.array_equal(texture_features(blank, mask, 8), texture_features(garbage, mask, 8))
    with pytest.raises(ValueError, match="window"):
        texture_features(blank, mask, 0)


def test_erosion_depth_counts_erosions():
    rng = np.random.default_rng(2)
    for _ in range(5):
        mask = np.zeros((50, 60), bool)
        for _ in range(3):
            y, x = rng.integers(0, 40), rng.integers(0, 50)
            mask[y : y + rng.integers(1, 20), x : x + rng.integers(1, 25)] = True
        steps, m = 0, mask.copy()
        while m.any():  # 3x3 erosion; outside the image is not known, so it does not erode
            m = ndimage.binary_erosion(m, np.ones((3, 3), bool), border_value=1)
            steps += 1
        assert erosion_depth(mask) == steps


def test_auto_levels_hand_computed():
    def square(side, shape=(160, 160)):
        m = np.zeros(shape, bool)
        m[40 : 40 + side, 40 : 40 + side] = True
        return m

    # depth r = ceil(side / 2); L = max(1, floor(log2(2 r / size))), capped by a coarsest side >= 4 size.
    assert auto_levels(square(6), 7) == 1  # 6/7 < 1
    assert auto_levels(square(20), 7) == 1  # log2(20/7) = 1.5
    assert auto_levels(square(32), 7) == 2  # log2(32/7) = 2.2
    assert auto_levels(square(80), 7) == 3  # log2(80/7) = 3.5
    assert auto_levels(square(80), 5) == 4  # log2(16) = 4; 160 -> 20 still >= 20
    assert auto_levels(square(80), 7, min_side=60) == 2  # 160 -> 80 is the last side >= 60
    assert auto_levels(np.zeros((160, 160), bool), 7) == 1
