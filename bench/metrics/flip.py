"""LDR-FLIP (Andersson et al. 2020): a per-pixel map of how visible the difference of two images is.

The map follows the paper's two pipelines. Colour: both images to YCxCz (linearised sRGB,
XYZ, D65), each channel filtered by its contrast sensitivity function (achromatic, red-green,
blue-yellow; edge pixels repeated), back to linear RGB clipped to the unit cube, to Hunt-adjusted
L*a*b*, HyAB distance raised to 0.7 and redistributed to [0, 1] (values below 0.4 of the
largest distance, green to blue, to [0, 0.95]). Features: edge and point detectors (first and
second derivatives of a Gaussian of 0.082 degrees, peak to trough) on the achromatic channel;
their largest magnitude difference, over sqrt 2, raised to 0.5. FLIP = colour ** (1 - features).
The observer sees ``ppd`` pixels per degree (default 67.02: a 0.7 m wide 4K display at 0.7 m,
FLIP's default). tests/metrics/test_flip.py checks the map against NVIDIA's ``flip-evaluator``.

``flip`` is the map's mean; ``hole_flip`` its mean over the hole, as hole SSIM.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.ndimage import correlate

from bench.metrics.registry import register_metric

DEFAULT_PPD = 0.7 * 3840 / 0.7 * math.pi / 180
QC, QF, PC, PT = 0.7, 0.5, 0.4, 0.95
EDGE_WIDTH = 0.082  # degrees, peak to trough of the edge detector (two standard deviations)
# Contrast sensitivity functions as sums of two Gaussians, (a1, b1, a2, b2) per opponent channel.
CSF = {"A": (1.0, 0.0047, 0.0, 1e-5), "RG": (1.0, 0.0053, 0.0, 1e-5), "BY": (34.1, 0.04, 13.5, 0.025)}
D65 = np.array([0.950428545, 1.0, 1.088900371])
RGB_TO_XYZ = np.array(
    [
        [10135552 / 24577794, 8788810 / 24577794, 4435075 / 24577794],
        [2613072 / 12288897, 8788810 / 12288897, 887015 / 12288897],
        [1425312 / 73733382, 8788810 / 73733382, 70074185 / 73733382],
    ]
)
XYZ_TO_RGB = np.linalg.inv(RGB_TO_XYZ)


def _linear(srgb: np.ndarray) -> np.ndarray:
    return np.where(srgb > 0.04045, ((np.maximum(srgb, 0.04045) + 0.055) / 1.055) ** 2.4, srgb / 12.92)


def _ycxcz(linear: np.ndarray) -> np.ndarray:
    xyz = linear @ RGB_TO_XYZ.T / D65
    return np.stack([116 * xyz[..., 1] - 16, 500 * (xyz[..., 0] - xyz[..., 1]), 200 * (xyz[..., 1] - xyz[..., 2])], -1)


def _ycxcz_to_linear(ycxcz: np.ndarray) -> np.ndarray:
    y = (ycxcz[..., 0] + 16) / 116
    xyz = np.stack([y + ycxcz[..., 1] / 500, y, y - ycxcz[..., 2] / 200], -1) * D65
    return xyz @ XYZ_TO_RGB.T


def _hunt_lab(linear: np.ndarray) -> np.ndarray:
    """Hunt-adjusted CIE L*a*b* (D65) of linear RGB."""
    xyz = linear @ RGB_TO_XYZ.T / D65
    delta = 6 / 29
    f = np.where(xyz > delta**3, np.cbrt(np.maximum(xyz, delta**3)), xyz / (3 * delta**2) + 4 / 29)
    lum = 116 * f[..., 1] - 16
    a, b = 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])
    return np.stack([lum, 0.01 * lum * a, 0.01 * lum * b], -1)


def _hyab(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    d = x - y
    return np.abs(d[..., 0]) + np.hypot(d[..., 1], d[..., 2])


def _csf_kernels(ppd: float) -> dict[str, np.ndarray]:
    widest = max(max(b1, b2) for _, b1, _, b2 in CSF.values())
    r = int(math.ceil(3 * math.sqrt(widest / (2 * math.pi**2)) * ppd))
    x, y = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1))
    z = (x**2 + y**2) / ppd**2
    kernels = {}
    for channel, (a1, b1, a2, b2) in CSF.items():
        g = a1 * np.sqrt(np.pi / b1) * np.exp(-(np.pi**2) * z / b1) + a2 * np.sqrt(np.pi / b2) * np.exp(
            -(np.pi**2) * z / b2
        )
        kernels[channel] = g / g.sum()
    return kernels


def _feature_kernels(ppd: float) -> tuple[np.ndarray, np.ndarray]:
    """Edge (first derivative) and point (second derivative) detectors along x; each lobe sums to +-1."""
    sd = 0.5 * EDGE_WIDTH * ppd
    r = int(math.ceil(3 * sd))
    x, y = np.meshgrid(np.arange(-r, r + 1), np.arange(-r, r + 1))
    g = np.exp(-(x**2 + y**2) / (2 * sd * sd))
    out = []
    for k in (-x * g, (x**2 / sd**2 - 1) * g):
        out.append(np.where(k < 0, k / -k[k < 0].sum(), k / k[k > 0].sum()))
    return out[0], out[1]


def _features(y: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Magnitude of a detector's x and y responses (edge pixels repeated beyond the border)."""
    return np.hypot(correlate(y, kernel, mode="nearest"), correlate(y, kernel.T, mode="nearest"))


def flip_map(pred: np.ndarray, target: np.ndarray, ppd: float = DEFAULT_PPD) -> np.ndarray:
    """LDR-FLIP error map of ``pred`` against the reference ``target`` (sRGB ``H x W x 3`` in [0, 1]).

    Returns
    -------
    np.ndarray
        ``H x W`` float64 in [0, 1]: 0 where no difference is visible.
    """
    ref, test = (_ycxcz(_linear(np.clip(im.astype(np.float64), 0, 1))) for im in (target, pred))
    kernels = _csf_kernels(ppd)
    filtered = []
    for im in (ref, test):
        opp = np.stack([correlate(im[..., c], kernels[k], mode="nearest") for c, k in enumerate(("A", "RG", "BY"))], -1)
        filtered.append(_hunt_lab(np.clip(_ycxcz_to_linear(opp), 0, 1)))
    cmax = _hyab(_hunt_lab(np.array([0.0, 1.0, 0.0])), _hunt_lab(np.array([0.0, 0.0, 1.0]))) ** QC
    colour = _hyab(filtered[0], filtered[1]) ** QC
    knee = PC * cmax
    colour = np.where(colour < knee, PT / knee * colour, PT + (colour - knee) / (cmax - knee) * (1 - PT))

    edge, point = _feature_kernels(ppd)
    y_ref, y_test = (ref[..., 0] + 16) / 116, (test[..., 0] + 16) / 116
    features = np.maximum(
        np.abs(_features(y_ref, edge) - _features(y_test, edge)),
        np.abs(_features(y_ref, point) - _features(y_test, point)),
    )
    features = (features / math.sqrt(2)) ** QF
    return colour ** (1 - features)


_LAST: list = []  # (pred, target, ppd, map): the hole region reuses the image region's map


@register_metric(
    "flip",
    kind="image",
    higher_is_better=False,
    summary="LDR-FLIP (Andersson et al. 2020) error map, 67 pixels per degree; hole: map averaged over hole pixels",
    label="FLIP",
    digits=4,
    tolerance={"abs": 0.002},
    hole_tolerance={"abs": 0.005},
    group="perceptual",
    reference="Andersson et al. 2020, FLIP: A Difference Evaluator for Alternating Images; NVIDIA flip-evaluator 1.7",
    params={"ppd": DEFAULT_PPD},
)
def flip(
    pred: np.ndarray, target: np.ndarray, mask: np.ndarray, region: str = "image", ppd: float = DEFAULT_PPD
) -> float:
    """Mean LDR-FLIP error of the whole image, or of the hole pixels."""
    if _LAST and _LAST[0] is pred and _LAST[1] is target and _LAST[2] == ppd:
        error = _LAST[3]
    else:
        error = flip_map(pred, target, ppd)
        _LAST[:] = [pred, target, ppd, error]
    if region == "image":
        return float(error.mean())
    return float(error[mask].mean()) if mask.any() else float("nan")
