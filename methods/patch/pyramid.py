"""Masked Gaussian pyramid, texture features and the automatic number of levels.

Only known pixels ever contribute to a coarse value or a feature: a filter tap
that falls on the hole (or outside the image) is dropped and the remaining taps
are renormalised, so nothing of the blanked hole leaks into the pyramid.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit, prange


def gaussian_kernel(size: int = 3, sigma: float = 1.5) -> np.ndarray:
    """Normalised 1-D Gaussian taps (the reference code filters with 3 taps, sigma 1.5)."""
    x = np.arange(size, dtype=np.float64) - size // 2
    k = np.exp(-x * x / (2.0 * sigma * sigma))
    return k / k.sum()


KERNEL = gaussian_kernel()

# A coarse pixel is a hole pixel as soon as any of its filter taps falls on the
# hole (the reference code re-binarises the filtered mask this way). Every fine
# hole pixel then has a hole parent, and no known coarse pixel mixes in a
# blanked value.
HOLE_SHARE = 0.0

# Luma weights (ITU-R BT.709, as in the reference code) for the grey image of
# the texture features.
LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)


@njit(cache=True, parallel=True)
def _downsample(image, known, kernel):
    h, w, c = image.shape
    h2, w2 = (h + 1) // 2, (w + 1) // 2
    r = kernel.shape[0] // 2
    out = np.zeros((h2, w2, c), dtype=np.float32)
    share = np.zeros((h2, w2), dtype=np.float64)
    for i in prange(h2):
        acc = np.zeros(c, dtype=np.float64)
        for j in range(w2):
            acc[:] = 0.0
            den = 0.0
            hole = 0.0
            tot = 0.0
            for a in range(-r, r + 1):
                y = 2 * i + a
                if y < 0 or y >= h:
                    continue
                for b in range(-r, r + 1):
                    x = 2 * j + b
                    if x < 0 or x >= w:
                        continue
                    wt = kernel[a + r] * kernel[b + r]
                    tot += wt
                    if known[y, x]:
                        den += wt
                        for ch in range(c):
                            acc[ch] += wt * image[y, x, ch]
                    else:
                        hole += wt
            if den > 0.0:
                for ch in range(c):
                    out[i, j, ch] = acc[ch] / den
            share[i, j] = hole / tot
    return out, share


def downsample(image: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One pyramid step: masked Gaussian filtering, factor-2 subsampling, re-binarised mask.

    Parameters
    ----------
    image : np.ndarray
        float32 ``H x W x C``; values under ``mask`` are ignored.
    mask : np.ndarray
        bool ``H x W``, True = missing.

    Returns
    -------
    coarse : np.ndarray
        float32 ``ceil(H/2) x ceil(W/2) x C``: the Gaussian-weighted mean of the
        known pixels around each even-indexed pixel (0 where none is known).
    coarse_mask : np.ndarray
        bool, True where any filter tap falls on the hole.
    """
    coarse, share = _downsample(np.ascontiguousarray(image, dtype=np.float32), np.ascontiguousarray(~mask), KERNEL)
    return coarse, share > HOLE_SHARE


def build_pyramid(image: np.ndarray, mask: np.ndarray, levels: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Images and masks of ``levels`` pyramid levels, finest first.

    Parameters
    ----------
    image : np.ndarray
        float32 ``H x W x C``.
    mask : np.ndarray
        bool ``H x W``, True = missing.
    levels : int
        Number of levels (1 = the image alone).

    Returns
    -------
    images, masks : list of np.ndarray
    """
    images, masks = [image], [mask]
    for _ in range(levels - 1):
        im, m = downsample(images[-1], masks[-1])
        images.append(im)
        masks.append(m)
    return images, masks


@njit(cache=True)
def _box_mean(values, ok, size):
    # Summed-area tables of the valid values and of their count make each
    # window sum O(1), so the feature cost does not depend on the window size.
    h, w = values.shape
    s = np.zeros((h + 1, w + 1), dtype=np.float64)
    n = np.zeros((h + 1, w + 1), dtype=np.float64)
    for y in range(h):
        for x in range(w):
            v = values[y, x] if ok[y, x] else 0.0
            s[y + 1, x + 1] = v + s[y, x + 1] + s[y + 1, x] - s[y, x]
            n[y + 1, x + 1] = (1.0 if ok[y, x] else 0.0) + n[y, x + 1] + n[y + 1, x] - n[y, x]
    out = np.zeros((h, w), dtype=np.float32)
    lo = size // 2
    hi = size - lo  # window offsets are -lo .. hi - 1 (an even window cannot be centred)
    for y in range(h):
        y0 = max(y - lo, 0)
        y1 = min(y + hi, h)
        for x in range(w):
            x0 = max(x - lo, 0)
            x1 = min(x + hi, w)
            cnt = n[y1, x1] - n[y0, x1] - n[y1, x0] + n[y0, x0]
            if cnt > 0.5:
                out[y, x] = (s[y1, x1] - s[y0, x1] - s[y1, x0] + s[y0, x0]) / cnt
    return out


@njit(cache=True)
def _abs_gradients(grey, known):
    # Central differences; where a neighbour is outside the image or in the
    # hole, the centre pixel stands in for it (a one-sided difference, as the
    # reference code does at the image border). Undefined when the centre is in
    # the hole or both neighbours are unavailable: blanked values never enter.
    h, w = grey.shape
    gx = np.zeros((h, w), dtype=np.float32)
    gy = np.zeros((h, w), dtype=np.float32)
    okx = np.zeros((h, w), dtype=np.bool_)
    oky = np.zeros((h, w), dtype=np.bool_)
    for y in range(h):
        for x in range(w):
            if not known[y, x]:
                continue
            x0 = x - 1 if x > 0 and known[y, x - 1] else x
            x1 = x + 1 if x < w - 1 and known[y, x + 1] else x
            if x1 > x0:
                gx[y, x] = abs(grey[y, x1] - grey[y, x0]) / (x1 - x0)
                okx[y, x] = True
            y0 = y - 1 if y > 0 and known[y - 1, x] else y
            y1 = y + 1 if y < h - 1 and known[y + 1, x] else y
            if y1 > y0:
                gy[y, x] = abs(grey[y1, x] - grey[y0, x]) / (y1 - y0)
                oky[y, x] = True
    return gx, gy, okx, oky


def texture_features(image: np.ndarray, mask: np.ndarray, window: int) -> np.ndarray:
    """Newson et al.'s texture features: box-averaged absolute gradients of the grey image.

    Parameters
    ----------
    image : np.ndarray
        Contract image (float32 ``H x W x 3``); values under ``mask`` are ignored.
    mask : np.ndarray
        bool ``H x W``, True = missing.
    window : int
        Side of the averaging box (``2**levels``); offsets ``-window//2 .. window - window//2 - 1``.

    Returns
    -------
    np.ndarray
        float32 ``H x W x 2``: mean of ``|dI/dx|`` and of ``|dI/dy|`` over the
        defined gradients in the box (0 where none is defined). Gradients are
        central differences of the BT.709 grey image, one-sided next to the
        image border or the hole, undefined on the hole.
    """
    if window < 1:
        raise ValueError(f"texture feature window must be >= 1, got {window}")
    grey = np.ascontiguousarray(image @ LUMA, dtype=np.float32)
    gx, gy, okx, oky = _abs_gradients(grey, np.ascontiguousarray(~mask))
    return np.stack([_box_mean(gx, okx, window), _box_mean(gy, oky, window)], axis=-1)


def erosion_depth(mask: np.ndarray) -> int:
    """Number of 3x3 erosions that remove the hole (its largest chessboard distance to a known pixel)."""
    from scipy.ndimage import distance_transform_cdt

    if not mask.any():
        return 0
    return int(distance_transform_cdt(mask, metric="chessboard").max())


def auto_levels(mask: np.ndarray, size: int, min_side: int | None = None) -> int:
    """Number of pyramid levels for a hole, following Newson et al.'s reference code.

    With an erosion depth ``r`` (so a hole about ``2 r`` wide), the coarsest
    level should shrink the hole to about one patch: ``L = floor(log2(2 r / size))``,
    at least 1. The count is also capped so that the coarsest image keeps a side
    of at least ``min_side`` (default ``4 * size``): below that there are too
    few source patches to copy from.

    Parameters
    ----------
    mask : np.ndarray
        bool ``H x W``, True = missing.
    size : int
        Patch side.
    min_side : int, optional
        Smallest allowed side of the coarsest image.

    Returns
    -------
    int
        At least 1.
    """
    depth = erosion_depth(mask)
    want = max(1, math.floor(math.log2(2.0 * depth / size))) if depth > 0 else 1
    min_side = 4 * size if min_side is None else min_side
    cap, side = 1, min(mask.shape)
    while (side + 1) // 2 >= min_side:
        side = (side + 1) // 2
        cap += 1
    return max(1, min(want, cap))
