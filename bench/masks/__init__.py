"""Seeded hole masks, identical for every method and every run, from a registry of families.

A mask is a pure function of ``(seed, image id, image size, family spec)``: see
:mod:`bench.masks.registry`. Families (``bench list masks``): ``rects`` (the study's
1-3 rectangles <= 25 %, default) and ``center`` (:mod:`bench.masks.rects`); LaMa's
``thin``, ``medium``, ``thick`` (:mod:`bench.masks.lama`); DeepFill v2's ``freeform``
(:mod:`bench.masks.freeform`); ``file:dir=PATH`` (:mod:`bench.masks.files`).
"""

from bench.masks.registry import (
    DEFAULT_FAMILY,
    MASK_FAMILIES,
    FamilyInfo,
    MaskError,
    MaskFamily,
    available,
    family_rng,
    get_family,
    make_mask,
    register,
)
from bench.masks.rects import MAX_AREA, Rect, center_rect, random_rects, rects_to_mask

# Each family module registers its names on import; the list is explicit so a broken one fails loudly.
from bench.masks import freeform, files, lama  # noqa: E402,F401  (registration)
from bench.masks.manifest import mask_digest, mask_from_entry, manifest  # noqa: E402

__all__ = [
    "DEFAULT_FAMILY", "MASK_FAMILIES", "MAX_AREA", "FamilyInfo", "MaskError", "MaskFamily", "Rect", "available",
    "center_rect", "family_rng", "get_family", "make_mask", "manifest", "mask_digest", "mask_from_entry",
    "random_rects", "rects_to_mask", "register",
]
