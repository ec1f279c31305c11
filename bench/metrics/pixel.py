"""Per-image pixel metrics: MSE, L1, PSNR and SSIM, on the whole image or the hole.

SSIM is scikit-image's definition, always with an explicit ``data_range=1.0`` (the study's
numbers omitted it, which makes float SSIM depend on the image's own range), computed by
:mod:`bench.metrics.ssim_kernel` and tested against scikit-image itself.

PSNR is capped at :data:`PSNR_MAX` (100 dB): an exact reconstruction has MSE 0 and an
infinite PSNR, which no mean, interval or JSON file can hold. Tables count the images at
the cap (:func:`psnr_capped`).
"""

from __future__ import annotations

import numpy as np
from skimage.metrics import mean_squared_error

from bench.metrics.registry import register_metric
from bench.metrics.ssim_kernel import GAUSSIAN_SIGMA, GAUSSIAN_TRUNCATE
from bench.metrics.ssim_kernel import ssim_map as compiled_ssim_map

DATA_RANGE = 1.0
# The usual "exact = 100 dB" convention: above every 8-bit PSNR that is not exact for images
# up to about 226 x 226 (one level off in one channel of one pixel), and far above any score
# a method reaches, so only (near-)exact reconstructions sit on it.
PSNR_MAX = 100.0
PSNR_COLUMNS = ("psnr", "hole_psnr")


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


@register_metric(
    "psnr",
    kind="image",
    higher_is_better=True,
    summary=f"peak signal-to-noise ratio (dB), data_range=1, capped at {PSNR_MAX:g} dB (exact reconstructions)",
)
def psnr(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, region: str = "image") -> float:
    """PSNR in dB with peak 1.0, at most :data:`PSNR_MAX` (an exact reconstruction scores the cap)."""
    err = mse(pred, target, mask, region)
    if np.isnan(err):
        return err
    return psnr_from_mse(err)


def psnr_from_mse(err: float) -> float:
    """``10 log10(1 / err)`` capped at :data:`PSNR_MAX` (NaN stays NaN).

    Examples
    --------
    >>> psnr_from_mse(1e-3), psnr_from_mse(0.0)
    (30.0, 100.0)
    """
    if np.isnan(err):
        return float("nan")
    if err <= DATA_RANGE**2 * 10.0 ** (-PSNR_MAX / 10.0):
        return PSNR_MAX
    return float(10.0 * np.log10(DATA_RANGE**2 / err))


def psnr_capped(values) -> np.ndarray:
    """Per-image PSNRs clipped to :data:`PSNR_MAX` (an infinity from older records included).

    NaN (no hole) stays NaN. The number of images at the cap is ``(psnr_capped(v) == PSNR_MAX).sum()``.
    """
    x = np.asarray(values, dtype=np.float64)
    return np.where(np.isnan(x), x, np.minimum(x, PSNR_MAX))


def ssim_map(pred: np.ndarray, target: np.ndarray, gaussian: bool = False) -> np.ndarray:
    """Per-pixel SSIM of two contract images (H x W, averaged over the three channels).

    ``gaussian=False`` is scikit-image's default 7x7 uniform window; ``gaussian=True``
    is Wang et al.'s 11x11 Gaussian window (sigma 1.5). Both with ``data_range=1``.
    """
    for key, value in _MAP_CACHE:
        if key[0] is pred and key[1] is target and key[2] == gaussian:
            return value
    # scikit-image's map, computed in one compiled pass (equal to it to 1e-14, tests/metrics/test_metrics.py):
    # the largest per-image cost of a run, so worth compiling.
    value = compiled_ssim_map(pred, target, gaussian, DATA_RANGE)
    value.setflags(write=False)
    # The image and hole SSIM of one output share this map: keeping the last two (one per window)
    # halves the SSIM work of a record. The cache holds the arrays themselves, so the identity
    # test cannot be fooled by a freed array's address being reused.
    _MAP_CACHE.insert(0, ((pred, target, gaussian), value))
    del _MAP_CACHE[2:]
    return value


_MAP_CACHE: list = []


def _window_pad(pred: np.ndarray, gaussian: bool) -> int:
    """Border that scikit-image crops before averaging the SSIM map (half its window)."""
    if gaussian:
        # scikit-image's Gaussian window: 2 * int(3.5 * sigma + 0.5) + 1 = 11 pixels
        return int(GAUSSIAN_TRUNCATE * GAUSSIAN_SIGMA + 0.5)
    return (min(7, *_odd_sides(pred)) - 1) // 2


def _odd_sides(image: np.ndarray) -> tuple[int, int]:
    return tuple(s if s % 2 else s - 1 for s in image.shape[:2])


def _ssim(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, region: str, gaussian: bool) -> float:
    if min(_odd_sides(pred)) < (11 if gaussian else 7):
        return float("nan")
    full = ssim_map(pred, target, gaussian)
    if region == "image":
        # scikit-image's mean SSIM: the map without the border its window cannot cover.
        pad = _window_pad(pred, gaussian)
        return float(full[pad:-pad, pad:-pad].mean(dtype=np.float64))
    if not mask.any():
        return float("nan")
    return float(full[mask].mean())


@register_metric(
    "ssim",
    kind="image",
    higher_is_better=True,
    summary="SSIM (scikit-image, 7x7 uniform window, data_range=1); hole: SSIM map averaged over hole pixels",
)
def ssim(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, region: str = "image") -> float:
    """scikit-image SSIM over RGB (channel_axis=-1, 7x7 uniform window, ``data_range=1``).

    For ``region="hole"`` it is the full-image SSIM map averaged over the hole pixels
    (each pixel's window sees its surroundings, known pixels included), so known
    pixels never count as scored pixels and a score cannot rise because a mask's
    rectangles are spread out. Images smaller than the window give NaN.
    """
    return _ssim(pred, target, mask, region, gaussian=False)


@register_metric(
    "ssim_gaussian",
    kind="image",
    higher_is_better=True,
    summary="SSIM with Wang et al.'s 11x11 Gaussian window (sigma 1.5); hole: map averaged over hole pixels",
)
def ssim_gaussian(pred: np.ndarray, target: np.ndarray, mask: np.ndarray, region: str = "image") -> float:
    """SSIM as Wang et al. 2004 define it.

    scikit-image's ``gaussian_weights=True``, sigma 1.5, population covariances; the hole region
    as in :func:`ssim`.
    """
    return _ssim(pred, target, mask, region, gaussian=True)
