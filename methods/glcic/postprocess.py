"""GLCIC's optional post-processing (Iizuka et al. 2017, section 3.4).

Fast marching (OpenCV Telea) fills the hole of the input, then the network's output is
Poisson-blended into it with ``cv2.seamlessClone``, one connected hole region at a time.
"""

from __future__ import annotations

import numpy as np

from bench.core.images import from_uint8, to_uint8

# Reflect-padding around the image: seamlessClone needs its region away from the border.
PAD = 4


def blend(output: np.ndarray, image: np.ndarray, mask: np.ndarray, telea_radius: float = 3.0) -> np.ndarray:
    """Telea-fill ``image``'s hole, then Poisson-blend ``output`` into it over the hole.

    Parameters
    ----------
    output : np.ndarray
        Network output, float32 H x W x 3 in [0, 1].
    image : np.ndarray
        Input image (hole pixels are ignored), float32 H x W x 3.
    mask : np.ndarray
        bool H x W, True = missing.
    telea_radius : float
        Neighbourhood radius of the fast-marching fill.

    Returns
    -------
    np.ndarray
        float32 H x W x 3; outside the hole it equals ``image`` (8-bit quantised).
    """
    import cv2

    if not mask.any():
        return from_uint8(to_uint8(image))
    m8 = mask.astype(np.uint8) * 255
    base = cv2.inpaint(to_uint8(image), m8, telea_radius, cv2.INPAINT_TELEA)
    pad = lambda a: cv2.copyMakeBorder(a, PAD, PAD, PAD, PAD, cv2.BORDER_REFLECT)  # noqa: E731
    dst, src, padded_mask = pad(base), pad(to_uint8(output)), np.pad(m8, PAD)
    count, labels = cv2.connectedComponents(padded_mask, connectivity=8)
    for label in range(1, count):
        region = np.where(labels == label, 255, 0).astype(np.uint8)
        x, y, w, h = cv2.boundingRect(region)
        # OpenCV places the region at center - (w/2, h/2) with integer halves, so this
        # centre puts it back exactly where it came from.
        center = (x + w // 2, y + h // 2)
        dst = cv2.seamlessClone(src, dst, region, center, cv2.NORMAL_CLONE)
    out = dst[PAD:-PAD, PAD:-PAD]
    # seamlessClone may touch pixels next to the region; the known pixels stay the input's.
    out = np.where(mask[..., None], out, to_uint8(image))
    return from_uint8(out)
