"""The mask manifest (``masks.json``): every image's mask, per-mask and total SHA-256.

Rectangle masks are stored as their rectangles ``[top, left, height, width]``; any
other mask (strokes, user files) as ``bits``: the mask's ``numpy.packbits`` bytes
(row-major, most significant bit first), zlib-compressed, base64-encoded. Either
way :func:`mask_from_entry` rebuilds the exact mask and checks it against its hash.
"""

from __future__ import annotations

import base64
import hashlib
import zlib

import numpy as np

from bench.inputs.masks.rects import Rect, rects_to_mask
from bench.inputs.masks.registry import MaskError

BITS_FORMAT = "numpy.packbits(mask) row-major, zlib, base64"


def mask_digest(image_id: str, mask: np.ndarray) -> str:
    """SHA-256 of one image's mask (its id, shape and packed bits)."""
    h = hashlib.sha256()
    h.update(image_id.encode() + b"\0")
    h.update(f"{mask.shape[0]}x{mask.shape[1]}".encode() + b"\0")
    h.update(np.packbits(mask, axis=None).tobytes())
    return h.hexdigest()


def encode_bits(mask: np.ndarray) -> str:
    """A bool mask as text (see :data:`BITS_FORMAT`); its shape is stored beside it."""
    return base64.b64encode(zlib.compress(np.packbits(mask, axis=None).tobytes(), 9)).decode("ascii")


def decode_bits(text: str, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`encode_bits`."""
    packed = np.frombuffer(zlib.decompress(base64.b64decode(text)), dtype=np.uint8)
    return np.unpackbits(packed, count=shape[0] * shape[1]).reshape(shape).astype(bool)


def manifest_entry(image_id: str, mask: np.ndarray, rects: list[Rect]) -> dict:
    """One image's entry of a manifest: its shape, rectangles or bits, area and SHA-256."""
    entry: dict = {"shape": list(mask.shape)}
    if rects:
        entry["rects"] = [r.as_list() for r in rects]
    else:
        entry["bits"] = encode_bits(mask)
    entry.update(area=float(mask.mean()), sha256=mask_digest(image_id, mask))
    return entry


def manifest_of(seed: int, family: str, entries: dict[str, dict]) -> dict:
    """A manifest from each image's :func:`manifest_entry`, so masks need not be held together."""
    total = hashlib.sha256()
    masks = {}
    for image_id in sorted(entries):
        masks[image_id] = entries[image_id]
        total.update(masks[image_id]["sha256"].encode())
    out = {"family": family, "seed": seed, "count": len(masks), "sha256": total.hexdigest()}
    if any("bits" in e for e in masks.values()):
        out["bits_format"] = BITS_FORMAT
    out["masks"] = masks
    return out


def manifest(seed: int, family: str, items: dict[str, tuple[np.ndarray, list[Rect]]]) -> dict:
    """A mask manifest: every image's mask (rectangles or bits) and a hash over all masks.

    Two runs used identical masks exactly when their manifests' ``sha256`` agree.

    Parameters
    ----------
    seed : int
        Run seed.
    family : str
        Canonical family spec (:attr:`bench.inputs.masks.MaskFamily.spec`); a resume with
        another family is refused because its spec and hash differ.
    items : dict
        ``{image_id: (mask, rects)}``; ``rects`` empty for masks that are not rectangles.
    """
    return manifest_of(seed, family, {i: manifest_entry(i, m, r) for i, (m, r) in items.items()})


def mask_from_entry(image_id: str, entry: dict) -> np.ndarray:
    """Rebuild one image's mask from its manifest entry and check it against the stored hash.

    Raises
    ------
    MaskError
        The entry has neither rectangles nor bits, or the rebuilt mask's hash differs.
    """
    shape = (int(entry["shape"][0]), int(entry["shape"][1]))
    if "rects" in entry:
        mask = rects_to_mask([Rect(*r) for r in entry["rects"]], shape)
    elif "bits" in entry:
        mask = decode_bits(entry["bits"], shape)
    else:
        raise MaskError(f"masks.json entry of {image_id!r} has neither 'rects' nor 'bits'")
    if "sha256" in entry and mask_digest(image_id, mask) != entry["sha256"]:
        raise MaskError(
            f"masks.json entry of {image_id!r} does not rebuild its mask (sha256 differs): "
            "the file was edited or damaged"
        )
    return mask
