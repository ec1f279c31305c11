"""DeepFill v2's free-form masks: 1-3 random brush strokes of 4-11 vertices each.

Yu et al., "Free-Form Image Inpainting with Gated Convolution", ICCV 2019. The
paper's Algorithm 1 (supplementary) draws polylines with random vertex counts,
angles, lengths and brush widths (``maxVertex``, ``maxLength``, ``maxBrushWidth``,
``maxAngle``) without fixing their values; the released code
(``JiahuiYu/generative_inpainting``, ``inpaint_ops.py``, ``brush_stroke_mask``) fixes
them for 256 x 256 images, and those are the parameters here (our own implementation):

* 1-3 strokes; each has ``num_vertex`` uniform in 4-11 (``randint(4, 12)``);
* the stroke's angle window is ``[2 pi / 5 - U(0, 2 pi / 15), 2 pi / 5 + U(0, 2 pi / 15)]``;
  the k-th step turns by an angle drawn uniformly in that window, mirrored to
  ``2 pi - angle`` on even k, so strokes zig-zag;
* the start vertex is a uniform pixel; each step has length ``N(r, r // 2)`` clipped to
  ``[0, 2 r]`` with ``r = sqrt(H^2 + W^2) / 8``, and the new vertex is clipped to the
  image and truncated to integers;
* the brush width is ``int(U(12, 40))`` px at 256 px, one per stroke; the polyline is drawn
  with round joints (the reference draws a disc at every vertex).

Differences, stated: widths are scaled by ``min(H, W) / 256`` (the step length already
scales with the diagonal); the reference's random flips are omitted because its code
discards their result (``mask.transpose`` without assignment), so they never happened;
an empty mask (impossible in practice) or one covering the whole image is redrawn.
"""

from __future__ import annotations

import math

import numpy as np

from bench.inputs.masks.registry import MaskError, family_rng, register
from bench.inputs.masks.strokes import Segment, rasterise

REFERENCE_SIDE = 256
MIN_STROKES, MAX_STROKES = 1, 3
MIN_VERTEX, MAX_VERTEX = 4, 11  # randint(4, 12)
MEAN_ANGLE = 2 * math.pi / 5
ANGLE_RANGE = 2 * math.pi / 15
MIN_WIDTH, MAX_WIDTH = 12, 40  # int(uniform(12, 40)): 12..39 px at 256 px


def freeform_segments(rng: np.random.Generator, shape: tuple[int, int]) -> list[Segment]:
    """The strokes of one free-form mask, as segments (see the module docstring)."""
    h, w = shape
    scale = min(h, w) / REFERENCE_SIDE
    radius = math.sqrt(h * h + w * w) / 8
    segments = []
    for _ in range(int(rng.integers(MIN_STROKES, MAX_STROKES + 1))):
        n_vertex = int(rng.integers(MIN_VERTEX, MAX_VERTEX + 1))
        lo = MEAN_ANGLE - rng.uniform(0, ANGLE_RANGE)
        hi = MEAN_ANGLE + rng.uniform(0, ANGLE_RANGE)
        angles = [rng.uniform(lo, hi) for _ in range(n_vertex)]
        angles = [2 * math.pi - a if k % 2 == 0 else a for k, a in enumerate(angles)]
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        points = [(x, y)]
        for angle in angles:
            step = float(np.clip(rng.normal(radius, radius // 2), 0, 2 * radius))
            x = int(np.clip(x + step * math.cos(angle), 0, w))
            y = int(np.clip(y + step * math.sin(angle), 0, h))
            points.append((x, y))
        width = max(1.0, scale * int(rng.uniform(MIN_WIDTH, MAX_WIDTH)))
        segments += [Segment(*a, *b, width) for a, b in zip(points, points[1:])]
    return segments


@register(
    "freeform",
    summary="DeepFill v2 free-form: 1-3 zig-zag strokes of 4-11 vertices, width 12-39 px at 256 px (Yu et al. 2019)",
)
def draw_freeform(seed: int, image_id: str, shape: tuple[int, int], max_tries: int = 1000) -> tuple[np.ndarray, list]:
    """DeepFill v2's ``brush_stroke_mask`` (see the module docstring)."""
    if min(shape) < 16:
        raise MaskError(f"image {image_id!r} is too small for freeform masks: {shape[1]}x{shape[0]}")
    rng = family_rng(seed, image_id, shape, "freeform")
    for _ in range(max_tries):
        mask = rasterise(freeform_segments(rng, shape), shape)
        if 0 < mask.mean() < 1:
            return mask, []
    raise MaskError(f"no usable freeform mask of {image_id!r} after {max_tries} draws")
