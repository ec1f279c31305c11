"""Seeded hole masks, identical for every method and every run.

A mask is a pure function of ``(seed, image id, image size, family)``: the random
generator is seeded from a SHA-256 of those values, never from global state, so
masks do not depend on run order, process or machine.

Families
--------
``rects``
    The study's protocol: 1-3 axis-aligned rectangles whose union covers at most
    25 % of the image. Each side is drawn uniformly in [8 %, 50 %] of the image
    side; a draw whose union exceeds the bound is rejected and redrawn.
``center``
    One centred square hole of 64 x 64 (the training-style evaluation of GLCIC);
    images smaller than 128 px get a hole of 40 % of the short side.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

FAMILIES = ("rects", "center")
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


def _rng(seed: int, image_id: str, shape: tuple[int, int], family: str) -> np.random.Generator:
    key = f"{family}|{seed}|{image_id}|{shape[0]}x{shape[1]}".encode()
    return np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))


def rects_to_mask(rects: list[Rect], shape: tuple[int, int]) -> np.ndarray:
    """Rasterise rectangles into a bool mask (True = missing)."""
    mask = np.zeros(shape, dtype=bool)
    for r in rects:
        mask[r.top : r.top + r.height, r.left : r.left + r.width] = True
    return mask


def random_rects(seed: int, image_id: str, shape: tuple[int, int], max_area: float = MAX_AREA,
                 max_tries: int = 10_000) -> list[Rect]:
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
        raise ValueError(f"image {image_id!r} is too small for rectangle masks: {w}x{h}")
    rng = _rng(seed, image_id, shape, "rects")
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
    raise RuntimeError(f"could not draw {count} rectangles within {max_area:.0%} for {image_id!r}")


def center_rect(shape: tuple[int, int]) -> Rect:
    """The centred square hole of the ``center`` family."""
    h, w = shape
    side = 64 if min(h, w) >= 128 else max(1, int(0.4 * min(h, w)))
    return Rect((h - side) // 2, (w - side) // 2, side, side)


def make_mask(seed: int, image_id: str, shape: tuple[int, int], family: str = "rects") -> tuple[np.ndarray, list[Rect]]:
    """The mask of one image under a family, with the rectangles that make it.

    Parameters
    ----------
    seed : int
        Run seed (ignored by ``center``).
    image_id : str
        Stable image id.
    shape : tuple of int
        ``(H, W)``.
    family : {"rects", "center"}
        Mask family.

    Returns
    -------
    mask : np.ndarray
        bool ``H x W``, True = missing.
    rects : list of Rect
    """
    shape = (int(shape[0]), int(shape[1]))
    if family == "rects":
        rects = random_rects(seed, image_id, shape)
    elif family == "center":
        rects = [center_rect(shape)]
    else:
        raise ValueError(f"unknown mask family {family!r} (known: {', '.join(FAMILIES)})")
    return rects_to_mask(rects, shape), rects


def mask_digest(image_id: str, mask: np.ndarray) -> str:
    """SHA-256 of one image's mask (its id, shape and packed bits)."""
    h = hashlib.sha256()
    h.update(image_id.encode() + b"\0")
    h.update(f"{mask.shape[0]}x{mask.shape[1]}".encode() + b"\0")
    h.update(np.packbits(mask, axis=None).tobytes())
    return h.hexdigest()


def manifest(seed: int, family: str, items: dict[str, tuple[np.ndarray, list[Rect]]]) -> dict:
    """A mask manifest: every image's rectangles and a hash over all masks.

    Two runs used identical masks exactly when their manifests' ``sha256`` agree.
    """
    total = hashlib.sha256()
    masks = {}
    for image_id in sorted(items):
        mask, rects = items[image_id]
        digest = mask_digest(image_id, mask)
        total.update(digest.encode())
        masks[image_id] = {"shape": list(mask.shape), "rects": [r.as_list() for r in rects],
                           "area": float(mask.mean()), "sha256": digest}
    return {"family": family, "seed": seed, "count": len(masks), "sha256": total.hexdigest(), "masks": masks}
