"""Classic, training-free baselines: OpenCV Telea and Navier-Stokes, biharmonic, mean fill.

OpenCV-contrib's Shift-map and FSR live in :mod:`methods.classic.xphoto` (imported at the end).
"""

from __future__ import annotations

import numpy as np

from bench.core.images import from_uint8, to_uint8
from methods.registry import Method, register


class OpenCVInpaint(Method):
    """``cv2.inpaint`` on the 8-bit image (OpenCV only takes 8-bit colour input).

    Parameters
    ----------
    flag : int
        ``cv2.INPAINT_TELEA`` or ``cv2.INPAINT_NS``.
    radius : float
        Neighbourhood radius in pixels.
    """

    def __init__(self, flag: int, radius: float):
        self.flag = flag
        self.radius = radius

    def inpaint(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import cv2

        out = cv2.inpaint(to_uint8(image), mask.astype(np.uint8), self.radius, self.flag)
        return from_uint8(out)


@register("telea", family="classic", summary="OpenCV fast marching (Telea 2004)")
def telea(radius: float = 3.0) -> Method:
    import cv2

    return OpenCVInpaint(cv2.INPAINT_TELEA, radius)


@register("ns", family="classic", summary="OpenCV Navier-Stokes (Bertalmio et al. 2001)")
def navier_stokes(radius: float = 3.0) -> Method:
    import cv2

    return OpenCVInpaint(cv2.INPAINT_NS, radius)


class Biharmonic(Method):
    """scikit-image's biharmonic inpainting, each channel solved separately."""

    def inpaint(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        from skimage.restoration import inpaint_biharmonic

        out = inpaint_biharmonic(image.astype(np.float64), mask, channel_axis=-1)
        return np.clip(out, 0.0, 1.0).astype(np.float32)


@register("biharmonic", family="classic", summary="scikit-image biharmonic inpainting")
def biharmonic() -> Method:
    return Biharmonic()


class MeanFill(Method):
    """Fill the hole with the per-channel mean of the known pixels."""

    def inpaint(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        known = ~mask
        out = image.copy()
        if known.any():
            out[mask] = image[known].mean(axis=0)
        else:  # nothing known: mid-grey is the least-committal guess
            out[mask] = 0.5
        return out


@register("mean", family="classic", summary="fill with the mean colour of the known pixels")
def mean() -> Method:
    return MeanFill()


# Registers ``shiftmap`` and ``fsr``; imported last so the base names above come first.
from methods.classic import xphoto as _xphoto  # noqa: E402,F401
