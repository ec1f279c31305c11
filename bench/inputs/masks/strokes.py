"""Rasterising brush strokes: a segment of width ``w`` covers every pixel centre within ``w / 2`` of it.

Stroke families describe their masks as :class:`Segment` lists and share this one
rasteriser, so stroke widths mean the same thing in every family and the pixels do
not depend on a drawing library's version. Pixel ``(row, col)`` has its centre at
``x = col, y = row``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Segment:
    """A straight brush stroke from ``(x0, y0)`` to ``(x1, y1)`` of diameter ``width`` (pixels)."""

    x0: float
    y0: float
    x1: float
    y1: float
    width: float

    @property
    def length(self) -> float:
        return math.hypot(self.x1 - self.x0, self.y1 - self.y0)


def draw_segment(mask: np.ndarray, seg: Segment) -> None:
    """Set, in place, every pixel whose centre lies within ``seg.width / 2`` of the segment.

    The covered set is a capsule: a rectangle with half-discs on both ends, so
    consecutive segments of a polyline join with round joints. A zero-length
    segment is a disc.
    """
    h, w = mask.shape
    r = seg.width / 2
    top, bottom = max(0, math.floor(min(seg.y0, seg.y1) - r)), min(h - 1, math.ceil(max(seg.y0, seg.y1) + r))
    left, right = max(0, math.floor(min(seg.x0, seg.x1) - r)), min(w - 1, math.ceil(max(seg.x0, seg.x1) + r))
    if top > bottom or left > right:
        return  # entirely outside the image
    ys = np.arange(top, bottom + 1, dtype=np.float64)[:, None]
    xs = np.arange(left, right + 1, dtype=np.float64)[None, :]
    dx, dy = seg.x1 - seg.x0, seg.y1 - seg.y0
    norm2 = dx * dx + dy * dy
    if norm2 > 0:
        # Projection of each pixel centre onto the segment, clamped to its ends.
        t = np.clip(((xs - seg.x0) * dx + (ys - seg.y0) * dy) / norm2, 0.0, 1.0)
    else:
        t = np.zeros((1, 1))
    dist2 = (xs - seg.x0 - t * dx) ** 2 + (ys - seg.y0 - t * dy) ** 2
    mask[top : bottom + 1, left : right + 1] |= dist2 <= r * r


def rasterise(segments: list[Segment], shape: tuple[int, int]) -> np.ndarray:
    """A bool ``H x W`` mask covered by ``segments`` (True = missing)."""
    mask = np.zeros(shape, dtype=bool)
    for seg in segments:
        draw_segment(mask, seg)
    return mask
