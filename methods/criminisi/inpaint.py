"""The fill schedule of Criminisi et al. 2004: pick the front pixel of highest priority, copy, update.

Units: the isophotes are computed on CIELab L*/100 (in [0, 1]) with alpha = 1,
which is the paper's alpha = 255 for 8-bit intensities. Since P = C * D, alpha
rescales every priority alike and never changes the fill order. The exemplar
SSD is computed in CIELab, as in the paper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ALPHA = 1.0


@dataclass(frozen=True)
class CriminisiParams:
    """Configuration of :func:`inpaint_criminisi`.

    Parameters
    ----------
    patch : int
        Patch side (odd, >= 3); the paper's default is 9.
    window : int
        Half-size of the square search window around the target patch, in
        pixels; 0 searches the whole image (the paper). If the window holds no
        fully known patch, the whole image is searched for that step.
    """

    patch: int = 9
    window: int = 64

    def __post_init__(self):
        if self.patch < 3 or self.patch % 2 == 0:
            raise ValueError(f"criminisi: patch={self.patch} must be an odd integer >= 3")
        if self.window < 0:
            raise ValueError(f"criminisi: window={self.window} must be >= 0 (0 = whole image)")


def source_centres(known: np.ndarray, h: int) -> np.ndarray:
    """Centres whose ``(2h+1)``-square patch lies inside the image and is fully known.

    Parameters
    ----------
    known : np.ndarray
        bool ``H x W``, True = known.
    h : int
        Patch half-size.

    Returns
    -------
    np.ndarray
        bool ``H x W``.
    """
    height, width = known.shape
    ok = np.zeros((height, width), bool)
    if height < 2 * h + 1 or width < 2 * h + 1:
        return ok
    # Box sums from an integral image: a patch is fully known iff its sum is its area.
    s = np.pad(known.astype(np.int64), ((1, 0), (1, 0))).cumsum(0).cumsum(1)
    k = 2 * h + 1
    box = s[k:, k:] - s[:-k, k:] - s[k:, :-k] + s[:-k, :-k]
    ok[h : height - h, h : width - h] = box == k * k
    return ok


def _clip(lo: int, hi: int, n: int) -> tuple[int, int]:
    return max(0, lo), min(n, hi)


def inpaint_criminisi(image: np.ndarray, mask: np.ndarray, params: CriminisiParams) -> np.ndarray:
    """Exemplar-based inpainting (Criminisi, Perez, Toyama 2004).

    Parameters
    ----------
    image : np.ndarray
        float32 ``H x W x 3`` in [0, 1].
    mask : np.ndarray
        bool ``H x W``, True = missing.
    params : CriminisiParams
        Patch size and search window.

    Returns
    -------
    np.ndarray
        float32 ``H x W x 3`` in [0, 1]; known pixels unchanged, missing pixels
        copied from fully known source patches of the input.

    Raises
    ------
    ValueError
        If no pixel is known, or no fully known patch of the requested size exists.
    """
    import cv2

    from methods.criminisi import kernels as K

    out = image.copy()
    if not mask.any():
        return out
    height, width = mask.shape
    h = params.patch // 2
    known = ~mask
    src_ok = source_centres(known, h)
    if not src_ok.any():
        raise ValueError(
            f"criminisi: no fully known {params.patch}x{params.patch} patch in the "
            f"{height}x{width} image; use a smaller patch= or a smaller hole"
        )
    lab = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
    gray = lab[..., 0].astype(np.float64) / 100.0
    conf = known.astype(np.float64)
    gy = np.zeros((height, width))
    gx = np.zeros((height, width))
    prio = np.full((height, width), -1.0)
    K.gradients(gray, known, gy, gx, 0, height, 0, width)
    K.priorities(conf, known, gy, gx, prio, h, ALPHA, 0, height, 0, width)
    remaining = int(mask.sum())
    while remaining > 0:
        flat = int(np.argmax(prio))  # first maximum in raster order
        py, px = divmod(flat, width)
        if prio[py, px] < 0:  # cannot happen while a pixel is known; guards an endless loop
            raise RuntimeError("criminisi: empty fill front with pixels still missing")
        c = K.confidence_at(conf, known, py, px, h)
        sy = -1
        if params.window > 0:
            wy0, wy1 = _clip(py - params.window, py + params.window + 1, height)
            wx0, wx1 = _clip(px - params.window, px + params.window + 1, width)
            sy, sx, _ = K.best_exemplar(lab, known, src_ok, py, px, h, wy0, wy1, wx0, wx1)
        if sy < 0:
            sy, sx, _ = K.best_exemplar(lab, known, src_ok, py, px, h, 0, height, 0, width)
        remaining -= K.copy_patch(out, lab, known, conf, py, px, sy, sx, h, c)
        # Gray follows the copied L*; gradients change within h+1 of the patch,
        # priorities (which read gradients and confidences over a patch) within 2h+2.
        y0, y1 = _clip(py - h, py + h + 1, height)
        x0, x1 = _clip(px - h, px + h + 1, width)
        gray[y0:y1, x0:x1] = lab[y0:y1, x0:x1, 0].astype(np.float64) / 100.0
        y0, y1 = _clip(py - h - 1, py + h + 2, height)
        x0, x1 = _clip(px - h - 1, px + h + 2, width)
        K.gradients(gray, known, gy, gx, y0, y1, x0, x1)
        y0, y1 = _clip(py - 2 * h - 2, py + 2 * h + 3, height)
        x0, x1 = _clip(px - 2 * h - 2, px + 2 * h + 3, width)
        K.priorities(conf, known, gy, gx, prio, h, ALPHA, y0, y1, x0, x1)
    return out
