"""LaMa's evaluation masks: ``thin``, ``medium`` and ``thick`` irregular strokes (plus boxes).

Suvorov et al., "Resolution-robust Large Mask Inpainting with Fourier Convolutions",
WACV 2022 (LaMa). Their test sets are drawn by ``bin/gen_mask_dataset.py`` with the
configs ``configs/data_gen/random_thin_256.yaml``, ``random_medium_256.yaml`` and
``random_thick_256.yaml``, through ``MixedMaskGenerator`` in
``saicinpainting/training/data/masks.py``. This is our own implementation of that
procedure, with the configs' parameters:

========  =====================================  ======================================
family    irregular strokes (always offered)     boxes (``box_proba``)
========  =====================================  ======================================
thin      times 4-50, max_len 40, max_width 10   none
medium    times 4-5, max_len 100, max_width 50   0.3: 1-5 boxes, side 10-50, margin 0
thick     times 1-5, max_len 200, max_width 100  0.3: 1-3 boxes, side 30-150, margin 10
========  =====================================  ======================================

How one mask is drawn, as LaMa's code does it (max_angle 4 everywhere):

* irregular or boxes: weights 1 and ``box_proba``, normalised (``MixedMaskGenerator``);
* irregular: ``times`` strokes, ``times`` uniform in ``[min_times, max_times + 1]`` (the
  generator passes ``max_times + 1`` on without a ramp, and ``randint`` excludes its top);
  each stroke starts at a uniform pixel and has 1-5 segments; a segment's angle is
  ``0.01 + randint(max_angle)`` radians (mirrored to ``2 pi - angle`` on even strokes), its
  length ``10 + randint(max_len)``, its brush width ``5 + randint(max_width)`` (so up to
  ``max_len + 9`` and ``max_width + 4`` px at 256 px); the end point moves by
  ``length * (sin, cos)``, is truncated to integers and clipped to the image, and starts
  the next segment;
* boxes: ``randint(min_times, max_times + 1)`` rectangles with sides uniform in
  ``[bbox_min_size, bbox_max_size]`` (capped by the image minus the margins), placed
  uniformly inside the margin;
* a mask covering more than half the image is discarded (``max_tamper_area: 0.5``) and
  redrawn; an empty one too.

Differences, stated: LaMa draws at 256 px (the short side resized to 256, then a
256-px square crop); here every length, width, margin and box side is scaled by
``min(H, W) / 256`` and the mask is drawn on the whole ``H x W`` image. Segments are
rasterised as exact capsules (:mod:`bench.inputs.masks.strokes`) instead of with ``cv2.line``,
with the width that ``cv2.line`` actually paints for LaMa's brush thickness
(:func:`painted_width`: 7 px for thickness 5, 2 px more than the thickness at most).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.inputs.masks.rects import Rect, rects_to_mask
from bench.inputs.masks.registry import MaskError, family_rng, register
from bench.inputs.masks.strokes import Segment, rasterise

REFERENCE_SIDE = 256  # LaMa's configs are written for 256 px images
MAX_TAMPER_AREA = 0.5  # gen_mask_dataset's max_tamper_area in all three configs
MAX_ANGLE = 4


@dataclass(frozen=True)
class Strokes:
    """``irregular_kwargs`` of a LaMa config (pixels at 256 px)."""

    min_times: int
    max_times: int
    max_len: int
    max_width: int


@dataclass(frozen=True)
class Boxes:
    """``box_kwargs`` of a LaMa config (pixels at 256 px), with its ``box_proba``."""

    proba: float
    min_times: int
    max_times: int
    min_size: int
    max_size: int
    margin: int


@dataclass(frozen=True)
class Preset:
    """One LaMa mask config."""

    config: str
    strokes: Strokes
    boxes: Boxes | None


PRESETS = {
    "thin": Preset("configs/data_gen/random_thin_256.yaml", Strokes(4, 50, 40, 10), None),
    "medium": Preset("configs/data_gen/random_medium_256.yaml", Strokes(4, 5, 100, 50), Boxes(0.3, 1, 5, 10, 50, 0)),
    "thick": Preset("configs/data_gen/random_thick_256.yaml", Strokes(1, 5, 200, 100), Boxes(0.3, 1, 3, 30, 150, 10)),
}


def painted_width(thickness: int) -> int:
    """Pixels across a horizontal ``cv2.line`` of ``thickness``, the brush LaMa's masks were painted with.

    OpenCV rounds a thick line's radius up to ``(thickness + 1) // 2`` and fills every
    pixel within it, so a thickness of 5 paints 7 pixels across and 6 paints 7 (for
    thickness >= 2; 1 is a one-pixel line, and LaMa's brushes start at 5). Our
    capsules use this width, so strokes cover what they covered in LaMa's masks.
    """
    return 2 * ((thickness + 1) // 2) + 1


def stroke_segments(rng: np.random.Generator, shape: tuple[int, int], p: Strokes) -> list[Segment]:
    """LaMa's irregular strokes for one mask, as segments (see the module docstring).

    Parameters
    ----------
    rng : np.random.Generator
        Source of randomness.
    shape : tuple of int
        ``(H, W)``; lengths and widths scale by ``min(H, W) / 256``.
    p : Strokes
        The config's ``irregular_kwargs``.
    """
    h, w = shape
    scale = min(h, w) / REFERENCE_SIDE
    segments = []
    for i in range(int(rng.integers(p.min_times, p.max_times + 2))):
        x, y = int(rng.integers(w)), int(rng.integers(h))
        for _ in range(1 + int(rng.integers(5))):
            angle = 0.01 + int(rng.integers(MAX_ANGLE))
            if i % 2 == 0:
                angle = 2 * math.pi - angle
            length = scale * (10 + int(rng.integers(p.max_len)))
            width = max(1.0, scale * painted_width(5 + int(rng.integers(p.max_width))))
            # int() truncates toward zero, as LaMa's astype(np.int32) does, before clipping.
            x1 = min(max(int(x + length * math.sin(angle)), 0), w)
            y1 = min(max(int(y + length * math.cos(angle)), 0), h)
            segments.append(Segment(x, y, x1, y1, width))
            x, y = x1, y1
    return segments


def boxes(rng: np.random.Generator, shape: tuple[int, int], p: Boxes) -> list[Rect]:
    """LaMa's random rectangles for one mask (see the module docstring)."""
    h, w = shape
    scale = min(h, w) / REFERENCE_SIDE
    margin = round(scale * p.margin)
    # Sides at most the image minus both margins minus one, as LaMa's exclusive randint allows.
    hi = min(max(1, round(scale * p.max_size)), h - 2 * margin - 1, w - 2 * margin - 1)
    lo = min(max(1, round(scale * p.min_size)), hi)
    if hi < 1:
        raise MaskError(f"a {w}x{h} image is too small for LaMa boxes with a {margin}-px margin")
    out = []
    for _ in range(int(rng.integers(p.min_times, p.max_times + 1))):
        bw, bh = int(rng.integers(lo, hi + 1)), int(rng.integers(lo, hi + 1))
        left = int(rng.integers(margin, w - margin - bw + 1))
        top = int(rng.integers(margin, h - margin - bh + 1))
        out.append(Rect(top, left, bh, bw))
    return out


def draw_lama(
    name: str, seed: int, image_id: str, shape: tuple[int, int], max_tries: int = 1000
) -> tuple[np.ndarray, list[Rect]]:
    """One LaMa mask of preset ``name``, redrawn while empty or over half the image."""
    preset = PRESETS[name]
    if min(shape) < 16:
        raise MaskError(f"image {image_id!r} is too small for {name} masks: {shape[1]}x{shape[0]}")
    rng = family_rng(seed, image_id, shape, name)
    weights = np.array([1.0] + ([preset.boxes.proba] if preset.boxes else []))
    for _ in range(max_tries):
        if len(weights) > 1 and rng.random() >= weights[0] / weights.sum():
            rects = boxes(rng, shape, preset.boxes)
            mask = rects_to_mask(rects, shape)
        else:
            rects = []
            mask = rasterise(stroke_segments(rng, shape, preset.strokes), shape)
        if 0 < mask.mean() <= MAX_TAMPER_AREA:
            return mask, rects
    raise MaskError(f"no {name} mask of {image_id!r} within {MAX_TAMPER_AREA:.0%} after {max_tries} draws")


@register("thin", summary="LaMa thin: 4-51 strokes of 1-5 segments, brush 5-14 px at 256 px (Suvorov et al. 2022)")
def draw_thin(seed: int, image_id: str, shape: tuple[int, int]) -> tuple[np.ndarray, list[Rect]]:
    """LaMa's ``random_thin_256`` masks (see the module docstring)."""
    return draw_lama("thin", seed, image_id, shape)


@register("medium", summary="LaMa medium: 4-6 strokes, brush 5-54 px at 256 px, or 1-5 boxes (p = 0.23)")
def draw_medium(seed: int, image_id: str, shape: tuple[int, int]) -> tuple[np.ndarray, list[Rect]]:
    """LaMa's ``random_medium_256`` masks (see the module docstring)."""
    return draw_lama("medium", seed, image_id, shape)


@register("thick", summary="LaMa thick: 1-6 strokes, brush 5-104 px at 256 px, or 1-3 boxes (p = 0.23)")
def draw_thick(seed: int, image_id: str, shape: tuple[int, int]) -> tuple[np.ndarray, list[Rect]]:
    """LaMa's ``random_thick_256`` masks (see the module docstring)."""
    return draw_lama("thick", seed, image_id, shape)
