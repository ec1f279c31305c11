"""Criminisi, Perez, Toyama 2004 exemplar-based inpainting, registered as ``criminisi``.

The numba kernels load only when a ``criminisi`` method is built, so listing the
registry stays fast. The card (choices, units, measured speed) is ``criminisi.md``.
"""

from __future__ import annotations

import numpy as np

from bench.core.images import check_image, check_mask
from methods.registry import Method, register


class CriminisiInpaint(Method):
    """Priority-ordered exemplar copying (Criminisi et al. 2004).

    Parameters
    ----------
    params : methods.criminisi.inpaint.CriminisiParams
        Patch size and search window.
    """

    def __init__(self, params):
        self.params = params

    def inpaint(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        from methods.criminisi.inpaint import inpaint_criminisi

        check_image(image)
        check_mask(mask, image.shape[:2])
        return inpaint_criminisi(image, mask, self.params)


@register(
    "criminisi",
    family="patch",
    summary="Criminisi et al. 2004 exemplar-based inpainting, priority = confidence x data term (numba)",
)
def criminisi(patch: int = 9, window: int = 64) -> Method:
    """Criminisi et al. exemplar-based inpainting.

    Parameters
    ----------
    patch : int
        Patch side (odd, >= 3); the paper's 9.
    window : int
        Half-size of the search window around the target, pixels; 0 = the whole
        image, as in the paper. The default 64 was 3x faster than the whole image
        at 320 px and no worse (see ``methods/criminisi/criminisi.md``).
    """
    from methods.criminisi.inpaint import CriminisiParams

    return CriminisiInpaint(CriminisiParams(patch=patch, window=window))
