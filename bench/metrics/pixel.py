"""Per-image pixel metrics: MSE, L1, PSNR and SSIM, on the whole image or the hole.

SSIM is scikit-image's, always with an explicit ``data_range=1.0`` (the study's
numbers omitted it, which makes float SSIM depend on the image's own range).
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio, structural_similarity

from bench.metrics.registry import register_metric

DATA_RANGE = 1.0


def _hole_pixels(pred: np.ndarray, target: np.ndarray, mask: np.ndarray):
    return pred[mask].astype(np.float64), target[mask].astype(np.float64)


def hole_bbox(mask: np.ndarray) -> tuple[slice, slice] | None:
    """Bounding box of the True pixels of ``mask`` as a pair of slices (None if empty)."""
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


@register_metric("mse", kind="image", higher_is_better=False, summary="mean squared error, [0,1] scale")
def mse(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, region: str = "image") -> float:
    """Mean squared error over all pixels and channels of the region."""
    if region == "image":
        return float(mean_squared_error(target.astype(np.float64), pred.astype(np.float64)))
    if not mask.any():
        return float("nan")
    p, t = _hole_pixels(pred, target, mask)
    return float(np.mean((p - t) ** 2))


@register_metric("l1", kind="image", higher_is_better=False, summary="mean absolute error, [0,1] scale")
def l1(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, region: str = "image") -> float:
    """Mean absolute error over all pixels and channels of the region."""
    if region == "image":
        return float(np.mean(np.abs(pred.astype(np.float64) - target.astype(np.float64))))
    if not mask.any():
        return float("nan")
    p, t = _hole_pixels(pred, target, mask)
    return float(np.mean(np.abs(p - t)))


@register_metric("psnr", kind="image", higher_is_better=True, summary="peak signal-to-noise ratio (dB), data_range=1")
def psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, region: str = "image") -> float:
    """PSNR in dB with peak 1.0; infinite when the region is reproduced exactly."""
    if region == "image":
        with np.errstate(divide="ignore"):
            return float(peak_signal_noise_ratio(target.astype(np.float64), pred.astype(np.float64),
                                                 data_range=DATA_RANGE))
    err = mse(pred, target, mask, region)
    if np.isnan(err):
        return err
    if err == 0.0:
        return float("inf")
    return float(10.0 * np.log10(DATA_RANGE**2 / err))


@register_metric("ssim", kind="image", higher_is_better=True,
                 summary="structural similarity (scikit-image, 7x7, data_range=1); hole: its bounding box")
def ssim(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, region: str = "image") -> float:
    """scikit-image SSIM over RGB (channel_axis=-1) with ``data_range=1``.

    For ``region="hole"`` SSIM is computed on the hole's bounding box, because SSIM
    needs a full window around each pixel. Boxes narrower than the default 7-pixel
    window use the largest odd window that fits; below 3 pixels it is undefined (NaN).
    """
    if region == "hole":
        box = hole_bbox(mask)
        if box is None:
            return float("nan")
        pred, target = pred[box], target[box]
    win = min(7, *pred.shape[:2])
    if win % 2 == 0:
        win -= 1
    if win < 3:
        return float("nan")
    return float(structural_similarity(target.astype(np.float64), pred.astype(np.float64),
                                       data_range=DATA_RANGE, channel_axis=-1, win_size=win))
