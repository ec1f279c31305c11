"""OpenCV-contrib ``cv2.xphoto.inpaint`` as registry methods: ``shiftmap`` and ``fsr``.

One implementation (:class:`XPhotoInpaint`) configured by the algorithm; the
registry names are configurations of it, never copies.

xphoto's conventions differ from ours and are converted here:

- its mask is 8-bit with **nonzero = known** (the opposite of our bool mask,
  True = missing); checked empirically and in ``tests/methods/test_methods_extra.py``;
- Shift-map expects a luminance-first colour space ("CIELab or similar"), so it
  gets float32 CIELab (``cv2.COLOR_RGB2LAB`` of the [0, 1] image: L in [0, 100]);
- FSR takes 8-bit BGR (it converts to YCrCb itself). Float input is accepted by
  the C++ code but converted to 8 bit internally and the result is then lost
  by the Python binding (the output array stays zero), so we quantise first;
- both rewrite some known pixels (Shift-map relabels a band around the hole,
  FSR's YCrCb round trip moves them by one grey level), so the known pixels
  are composited back before returning.

Cards (papers, conventions, measured speed): ``methods/classic/shiftmap.md``, ``fsr.md``.
"""

from __future__ import annotations

import numpy as np

from bench.core.images import check_image, check_mask, composite, from_uint8, to_uint8
from methods.registry import Method, register

ALGORITHMS = ("shiftmap", "fsr_fast", "fsr_best")


class XPhotoInpaint(Method):
    """``cv2.xphoto.inpaint`` with one of its algorithms.

    Parameters
    ----------
    algo : str
        ``"shiftmap"`` (He & Sun 2012), ``"fsr_fast"`` or ``"fsr_best"``
        (frequency selective reconstruction, Genser et al. 2018).
    """

    def __init__(self, algo: str):
        if algo not in ALGORITHMS:
            raise ValueError(f"xphoto: algo={algo!r} is not one of {', '.join(ALGORITHMS)}")
        self.algo = algo

    def inpaint(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        import cv2

        check_image(image)
        check_mask(mask, image.shape[:2])
        if not mask.any():
            return image.copy()
        if mask.all():
            raise ValueError(f"{self.algo}: mask marks every pixel missing; nothing to fill from")
        known8 = np.where(mask, 0, 255).astype(np.uint8)  # xphoto: nonzero = known
        if self.algo == "shiftmap":
            src = cv2.cvtColor(image, cv2.COLOR_RGB2LAB)
            src[mask] = 0.0
            dst = np.zeros_like(src)
            cv2.xphoto.inpaint(src, known8, dst, cv2.xphoto.INPAINT_SHIFTMAP)
            # Lab colours copied from the image stay in gamut up to rounding.
            out = np.clip(cv2.cvtColor(dst, cv2.COLOR_LAB2RGB), 0.0, 1.0)
        else:
            flag = cv2.xphoto.INPAINT_FSR_FAST if self.algo == "fsr_fast" else cv2.xphoto.INPAINT_FSR_BEST
            src = np.ascontiguousarray(to_uint8(image)[..., ::-1])  # RGB -> BGR
            src[mask] = 0
            dst = np.zeros_like(src)
            cv2.xphoto.inpaint(src, known8, dst, flag)
            out = from_uint8(np.ascontiguousarray(dst[..., ::-1]))
        return composite(out.astype(np.float32), image, mask)


@register("shiftmap", family="classic", summary="OpenCV-contrib Shift-map completion (He & Sun 2012), in CIELab")
def shiftmap() -> Method:
    """Statistics of patch offsets: dominant shifts stitched by graph cuts."""
    return XPhotoInpaint("shiftmap")


@register(
    "fsr",
    family="classic",
    summary="OpenCV-contrib frequency selective reconstruction (Genser et al. 2018); quality=fast|best",
)
def fsr(quality: str = "fast") -> Method:
    """Frequency selective reconstruction.

    Parameters
    ----------
    quality : str
        ``"fast"`` (``INPAINT_FSR_FAST``) or ``"best"`` (``INPAINT_FSR_BEST``,
        about 20x slower).
    """
    if quality not in ("fast", "best"):
        raise ValueError(f"fsr: quality={quality!r} must be 'fast' or 'best'")
    return XPhotoInpaint(f"fsr_{quality}")
