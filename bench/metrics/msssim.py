"""MS-SSIM (Wang, Simoncelli and Bovik 2003) as pytorch-msssim and TensorFlow compute it.

Five scales of Wang et al.'s 11x11 Gaussian window (sigma 1.5), ``data_range=1``, K = (0.01,
0.03) and their exponents (0.0448, 0.2856, 0.3001, 0.2363, 0.1333); each scale filtered with
valid windows only (no padded border), halved by 2x2 averaging (an odd side padded with one
zero on each side, as pytorch-msssim's ``avg_pool2d(padding=1)`` does); contrast-structure
terms of the first four scales and the SSIM of the last, negative values clipped to 0
(pytorch-msssim's and TensorFlow's ReLU), multiplied per colour channel, then averaged over the
channels. tests/metrics/test_msssim.py checks it against pytorch-msssim 1.0.0.

Five scales need the smaller side above (11 - 1) * 2**4 = 160 pixels (pytorch-msssim's
assertion; torchmetrics refuses the same sizes): at 160 px and below the value is withheld
(NaN, with one warning). ``msssim:scales=N`` uses the first N scales with their exponents
renormalised to sum 1 (needs a side above 10 * 2**(N-1)): comparable only with values of the same N.
MS-SSIM has no per-pixel map, so there is no hole value.
"""

from __future__ import annotations

import logging

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from bench.metrics.registry import register_metric
from bench.metrics.ssim_kernel import window_weights

WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
WINDOW = 11
K1, K2 = 0.01, 0.03
DATA_RANGE = 1.0

log = logging.getLogger("bench")
_warned: set[int] = set()


def min_side(scales: int) -> int:
    """Smallest image side (exclusive bound is this minus one) at which ``scales`` scales are computed."""
    return (WINDOW - 1) * 2 ** (scales - 1) + 1


def _filter(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    # Separable correlation over rows then columns, valid part only.
    x = sliding_window_view(x, w.size, axis=0) @ w
    return sliding_window_view(x, w.size, axis=1) @ w


def _ssim_cs(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean SSIM and contrast-structure term over the valid windows."""
    c1, c2 = (K1 * DATA_RANGE) ** 2, (K2 * DATA_RANGE) ** 2
    mu_x, mu_y = _filter(x, w), _filter(y, w)
    var_x = _filter(x * x, w) - mu_x**2
    var_y = _filter(y * y, w) - mu_y**2
    cov = _filter(x * y, w) - mu_x * mu_y
    cs = (2 * cov + c2) / (var_x + var_y + c2)
    ssim = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs
    return ssim.mean(axis=(0, 1)), cs.mean(axis=(0, 1))


def _halve(x: np.ndarray) -> np.ndarray:
    """2x2 average, an odd side padded with a zero on each side (zeros counted), as avg_pool2d(padding=1)."""
    pads = [(1, 1) if s % 2 else (0, 0) for s in x.shape[:2]] + [(0, 0)]
    x = np.pad(x, pads)
    h, w = x.shape[0] // 2 * 2, x.shape[1] // 2 * 2
    x = x[:h, :w]
    return x.reshape(h // 2, 2, w // 2, 2, -1).mean(axis=(1, 3))


def ms_ssim(pred: np.ndarray, target: np.ndarray, scales: int = 5) -> float:
    """MS-SSIM of two contract images (see the module docstring); NaN when ``scales`` do not fit.

    Parameters
    ----------
    pred, target : np.ndarray
        ``H x W x 3`` in [0, 1].
    scales : int
        1 to 5; fewer than 5 renormalises the exponents of the first ``scales`` scales.
    """
    if not 1 <= scales <= len(WEIGHTS):
        raise ValueError(f"metric 'msssim': scales={scales} is not between 1 and {len(WEIGHTS)}")
    if min(pred.shape[:2]) < min_side(scales):
        return float("nan")
    # Wang et al.'s five exponents as published (they sum to 1.0001); fewer scales renormalised.
    weights = np.array(WEIGHTS) if scales == len(WEIGHTS) else np.array(WEIGHTS[:scales]) / sum(WEIGHTS[:scales])
    w = window_weights(True)
    x, y = pred.astype(np.float64), target.astype(np.float64)
    terms = []
    for level in range(scales):
        ssim, cs = _ssim_cs(x, y, w)
        if level < scales - 1:
            terms.append(np.maximum(cs, 0.0))
            x, y = _halve(x), _halve(y)
    terms.append(np.maximum(ssim, 0.0))
    per_channel = np.prod(np.stack(terms) ** weights[:, None], axis=0)
    return float(per_channel.mean())


@register_metric(
    "msssim",
    kind="image",
    higher_is_better=True,
    summary="MS-SSIM (Wang et al. 2003, 5 scales, as pytorch-msssim); withheld (NaN) at sides <= 160 px, "
    "msssim:scales=N for fewer scales; whole image only",
    label="MS-SSIM",
    digits=4,
    tolerance={"abs": 0.002},
    group="perceptual",
    reference="Wang, Simoncelli and Bovik 2003; pytorch-msssim 1.0.0 ms_ssim(data_range=1)",
    params={"scales": 5},
    regions=("image",),
)
def msssim(
    pred: np.ndarray, target: np.ndarray, mask: np.ndarray, region: str = "image", scales: int = 5
) -> float | None:
    """MS-SSIM of the whole image; no hole value (it has no per-pixel map)."""
    if region != "image":
        return None
    value = ms_ssim(pred, target, scales)
    if np.isnan(value) and scales not in _warned:
        _warned.add(scales)
        log.warning(
            "msssim with %d scales needs images of at least %d px a side (these are %dx%d): withheld (NaN); "
            "use a larger --size or msssim:scales=N with fewer scales",
            scales,
            min_side(scales),
            pred.shape[0],
            pred.shape[1],
        )
    return value
