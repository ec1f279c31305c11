"""Seeded hole masks, identical for every method and every run, from a registry of families.

A mask is a pure function of ``(seed, image id, image size, family spec)``: see
:mod:`bench.inputs.masks.registry`. Families (``bench list masks``): ``rects`` (the study's
1-3 rectangles <= 25 %, default) and ``center`` (:mod:`bench.inputs.masks.rects`); LaMa's
``thin``, ``medium``, ``thick`` (:mod:`bench.inputs.masks.lama`); DeepFill v2's ``freeform``
(:mod:`bench.inputs.masks.freeform`); ``file:dir=PATH`` (:mod:`bench.inputs.masks.files`).
"""

# Each family module registers its names on import; the list is explicit so a broken one fails loudly.
from bench.inputs.masks import files, freeform, lama  # noqa: E402,F401  (registration)
from bench.inputs.masks.manifest import manifest, manifest_entry, manifest_of, mask_digest, mask_from_entry  # noqa: E402
from bench.inputs.masks.rects import MAX_AREA, Rect, center_rect, random_rects, rects_to_mask
from bench.inputs.masks.registry import (
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

__all__ = [
    "DEFAULT_FAMILY",
    "MASK_FAMILIES",
    "MAX_AREA",
    "FamilyInfo",
    "MaskError",
    "MaskFamily",
    "Rect",
    "available",
    "center_rect",
    "family_rng",
    "get_family",
    "make_mask",
    "manifest",
    "manifest_entry",
    "manifest_of",
    "mask_digest",
    "mask_from_entry",
    "random_rects",
    "rects_to_mask",
    "register",
]
