"""User masks from a folder: ``file:dir=PATH``, one mask image per image id.

The mask of image ``ID`` is ``PATH/ID.<suffix>`` for any image suffix the data
sources read. A pixel is missing where its value is above half the format's range
(> 127 for 8-bit files; the largest colour channel counts, alpha is ignored); with
``hole=0`` (MAT's convention, 0 = hole) where it is at most half of it. A mask
of another size than its image is refused, naming the file and both sizes, unless
``resize=1``: then it is resized with nearest neighbour (a warning says so).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from bench.inputs.masks.registry import MaskError, register

log = logging.getLogger("bench")


def _check_files(dir: str = "", resize: bool = False, hole: int = 255) -> None:
    if hole not in (0, 255):
        raise MaskError(f"file:hole={hole}: the value of a missing pixel is 255 (white, the default) or 0 (black, MAT)")
    if not dir:
        raise MaskError("mask family 'file' needs a folder: --masks file:dir=PATH")
    if not Path(dir).is_dir():
        raise MaskError(f"file:dir={dir}: no such folder of mask images")


def find_mask_file(folder: Path, image_id: str) -> Path:
    """The one mask file of ``image_id`` in ``folder``.

    Raises
    ------
    MaskError
        No file, or several files with that stem (the message names the id and the folder).
    """
    from bench.inputs.data.io import IMAGE_SUFFIXES

    found = [p for p in folder.glob(f"{_glob_escape(image_id)}.*") if p.suffix.lower() in IMAGE_SUFFIXES]
    if not found:
        raise MaskError(
            f"no mask for image {image_id!r} in {folder} (expected {image_id}.png or another image "
            f"suffix: {', '.join(IMAGE_SUFFIXES)})"
        )
    if len(found) > 1:
        raise MaskError(f"several masks for image {image_id!r} in {folder}: {', '.join(sorted(p.name for p in found))}")
    return found[0]


def unmatched_mask_files(folder: str | Path, ids: list[str]) -> list[Path]:
    """Mask images in ``folder`` whose name is no image id of the data source (a typo, or another dataset's)."""
    from bench.inputs.data.io import IMAGE_SUFFIXES

    known = set(ids)
    return sorted(p for p in Path(folder).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and p.stem not in known)


def _glob_escape(text: str) -> str:
    # Image ids are file stems and may hold glob characters ("[1]"); match them literally.
    return "".join(f"[{c}]" if c in "*?[]" else c for c in text)


def read_mask_file(path: Path) -> np.ndarray:
    """A mask image as bool ``H x W`` (True = missing); any unreadable file is a :class:`MaskError`."""
    from bench.inputs.data.io import read_integer_pixels

    raw, top = read_integer_pixels(path, "mask image", MaskError)
    if raw.ndim == 3:
        raw = raw[..., :3].max(axis=2)  # drop alpha; a coloured stroke counts as painted
    return raw > top // 2


@register(
    "file",
    summary="your masks: PATH/<image id>.png (> 127 = missing; hole=0: <= 127, as MAT's); "
    "resize=1 resizes with nearest neighbour",
    check=_check_files,
)
def draw_file(
    seed: int, image_id: str, shape: tuple[int, int], *, dir: str = "", resize: bool = False, hole: int = 255
) -> tuple[np.ndarray, list]:
    """Read the mask of ``image_id`` from ``dir`` (see the module docstring); the seed is not used."""
    _check_files(dir, resize, hole)
    path = find_mask_file(Path(dir), image_id)
    mask = read_mask_file(path)
    if hole == 0:
        mask = ~mask
    h, w = shape
    if mask.shape != (h, w):
        if not resize:
            raise MaskError(
                f"{path}: mask is {mask.shape[1]}x{mask.shape[0]} but image {image_id!r} is {w}x{h}; "
                "give masks of the image size, or add resize=1 to resize them with nearest neighbour"
            )
        import cv2

        log.warning("resizing %s from %dx%d to %dx%d (nearest neighbour)", path, mask.shape[1], mask.shape[0], w, h)
        mask = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST).astype(bool)
    if not mask.any() or mask.all():
        raise MaskError(
            f"{path}: the mask of {image_id!r} is {'empty' if not mask.any() else 'the whole image'} "
            f"(pixels {'> 127' if hole else '<= 127'} are missing)"
        )
    return mask, []
