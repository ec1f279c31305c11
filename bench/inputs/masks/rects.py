"""Rectangle families: ``rects`` (the study's protocol, the default) and ``center``.

``rects``
    1-3 axis-aligned rectangles whose union covers at most 25 % of the image. Each
    side is drawn uniformly in [8 %, 50 %] of the image side; a draw whose union
    exceeds the bound is rejected and redrawn. Its masks (and so every earlier
    run's mask hash) are pinned by tests and must never change.
``center``
    One centred square: 64 x 64 by default (GLCIC's training-style evaluation; 40 %
    of the short side on images under 128 px), or ``area=FRACTION`` of the image.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.inputs.masks.registry import MaskError, family_rng, register

MAX_AREA = 0.25
MIN_SIDE_FRACTION = 0.08
MAX_SIDE_FRACTION = 0.5


@dataclass(frozen=True)
class Rect:
    """An axis-aligned rectangle in pixel coordinates (half-open)."""

    top: int
    left: int
    height: int
    width: int

    def as_list(self) -> list[int]:
        return [self.top, self.left, self.height, self.width]


def rects_to_mask(rects: list[Rect], shape: tuple[int, int]) -> np.ndarray:
    """Rasterise rectangles into a bool mask (True = missing)."""
    mask = np.zeros(shape, dtype=bool)
    for r in rects:
        mask[r.top : r.top + r.height, r.left : r.left + r.width] = True
    return mask


def random_rects(
    seed: int, image_id: str, shape: tuple[int, int], max_area: float = MAX_AREA, max_tries: int = 10_000
) -> list[Rect]:
    """Draw 1-3 rectangles whose union covers at most ``max_area`` of the image.

    Parameters
    ----------
    seed : int
        Run seed.
    image_id : str
        Stable id of the image.
    shape : tuple of int
        ``(H, W)`` of the image.
    max_area : float
        Bound on the union's area as a fraction of ``H * W``.

    Returns
    -------
    list of Rect
    """
    h, w = shape
    if min(h, w) < 8:
        raise MaskError(f"image {image_id!r} is too small for rectangle masks: {w}x{h}")
    rng = family_rng(seed, image_id, shape, "rects")
    count = int(rng.integers(1, 4))
    lo_h, hi_h = max(1, int(MIN_SIDE_FRACTION * h)), max(1, int(MAX_SIDE_FRACTION * h))
    lo_w, hi_w = max(1, int(MIN_SIDE_FRACTION * w)), max(1, int(MAX_SIDE_FRACTION * w))
    for _ in range(max_tries):
        rects = []
        for _ in range(count):
            rh = int(rng.integers(lo_h, hi_h + 1))
            rw = int(rng.integers(lo_w, hi_w + 1))
            rects.append(Rect(int(rng.integers(0, h - rh + 1)), int(rng.integers(0, w - rw + 1)), rh, rw))
        if rects_to_mask(rects, shape).mean() <= max_area:
            return rects
    raise MaskError(f"could not draw {count} rectangles within {max_area:.0%} for {image_id!r}")


def _check_rects(max_area: float = MAX_AREA) -> None:
    # Below 1 % the 8 %-side minimum makes almost every draw fail; above 90 % holes swallow the image.
    if not 0.01 <= max_area <= 0.9:
        raise MaskError(f"rects: max_area={max_area} must be in [0.01, 0.9]")


@register(
    "rects", summary="1-3 random rectangles, union <= max_area of the image (the study's protocol)", check=_check_rects
)
def draw_rects(
    seed: int, image_id: str, shape: tuple[int, int], *, max_area: float = MAX_AREA
) -> tuple[np.ndarray, list[Rect]]:
    """The study's rectangles (see the module docstring)."""
    rects = random_rects(seed, image_id, shape, max_area)
    return rects_to_mask(rects, shape), rects


def center_rect(shape: tuple[int, int], area: float = 0.0) -> Rect:
    """The centred square hole of the ``center`` family.

    Parameters
    ----------
    shape : tuple of int
        ``(H, W)``.
    area : float
        Hole area as a fraction of ``H * W``; 0 gives the 64 x 64 square (40 % of the
        short side on images under 128 px).
    """
    h, w = shape
    if area <= 0:
        side = 64 if min(h, w) >= 128 else max(1, int(0.4 * min(h, w)))
    else:
        side = max(1, round(math.sqrt(area * h * w)))
        if side >= min(h, w):
            raise MaskError(
                f"center:area={area} needs a {side}x{side} square, which does not fit "
                f"inside a {w}x{h} image with known pixels left"
            )
    return Rect((h - side) // 2, (w - side) // 2, side, side)


def _check_center(area: float = 0.0) -> None:
    if not 0 <= area < 1:
        raise MaskError(f"center: area={area} must be in (0, 1) (0 = the 64x64 square)")


@register(
    "center",
    summary="one centred square: 64x64 (GLCIC's evaluation), or area=FRACTION of the image",
    check=_check_center,
)
def draw_center(
    seed: int, image_id: str, shape: tuple[int, int], *, area: float = 0.0
) -> tuple[np.ndarray, list[Rect]]:
    """A centred square (see the module docstring); the seed is not used."""
    rect = center_rect(shape, area)
    return rects_to_mask([rect], shape), [rect]
