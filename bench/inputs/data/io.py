"""Reading image files into contract images, with clear errors for bad files."""

from __future__ import annotations

import errno
import os
import re
import warnings
from pathlib import Path

import numpy as np

from bench.inputs.data.base import ImageLoadError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp")

# Images larger than this are skipped before their pixels are decoded (a decompression bomb decodes
# a few kilobytes into gigabytes). ``--max-pixels`` sets the environment variable, which worker
# processes inherit.
DEFAULT_MAX_PIXELS = 100_000_000
MAX_PIXELS_ENV = "INPAINT_BENCH_MAX_PIXELS"


def max_pixels() -> int:
    """The largest image (width x height) read: ``$INPAINT_BENCH_MAX_PIXELS``, else :data:`DEFAULT_MAX_PIXELS`."""
    value = os.environ.get(MAX_PIXELS_ENV, "")
    return int(value) if value.isdigit() and int(value) > 0 else DEFAULT_MAX_PIXELS


def printable(path: str | Path) -> str:
    """A path as text that can always be printed and written to JSON (undecodable bytes as ``\\xNN``)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


EXIF_ORIENTATION = 0x0112
# EXIF orientation -> the transform that shows the stored pixels upright, as PIL's
# ImageOps.exif_transpose applies it (cameras store a portrait photo sideways plus this tag).
_UPRIGHT = {
    2: lambda a: a[:, ::-1],
    3: lambda a: a[::-1, ::-1],
    4: lambda a: a[::-1],
    5: lambda a: a.swapaxes(0, 1),
    6: lambda a: np.rot90(a, -1),
    7: lambda a: np.rot90(a, 2).swapaxes(0, 1),
    8: lambda a: np.rot90(a, 1),
}


def read_image(path: str | Path, min_size: int = 16) -> np.ndarray:
    """Read an image file as float32 ``H x W x 3`` in [0, 1].

    Grayscale is replicated to three channels, an alpha channel is composited
    over white (what a viewer shows), 16-bit files are scaled by 1/65535, and an
    EXIF orientation tag is applied, so a photo is benchmarked upright as a viewer shows it.

    Parameters
    ----------
    path : str or Path
        Image file.
    min_size : int
        Smallest accepted height or width.

    Raises
    ------
    ImageLoadError
        Missing, empty, corrupt or truncated files, unsupported bit depths, images
        smaller than ``min_size`` and larger than :func:`max_pixels` (checked before
        decoding); the message names the file.
    """
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    where = printable(path)
    if not path.is_file():
        raise ImageLoadError(where, _why_not_a_file(path))
    if path.stat().st_size == 0:
        raise ImageLoadError(where, "empty file")
    limit = max_pixels()
    too_large = _oversize(path, limit)
    if too_large:
        raise ImageLoadError(where, too_large)
    # PIL checks integrity (truncated JPEG/PNG data raises on load); OpenCV then
    # decodes at the file's real bit depth, which PIL does not do for 16-bit RGB.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = limit  # PIL's own default limit would refuse what the user allowed
            with Image.open(path) as probe:
                probe.load()
                orientation = _orientation(probe)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        kind = "truncated" if "truncated" in str(err).lower() else "corrupt or not an image"
        raise ImageLoadError(where, f"{kind} ({err})") from None

    import cv2

    raw = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise ImageLoadError(where, "OpenCV could not decode the file")
    # IMREAD_UNCHANGED keeps the stored pixel order; the orientation tag is applied here.
    raw = _UPRIGHT.get(orientation, lambda a: a)(raw)
    return _to_contract(raw, where, min_size)


def _oversize(path: Path, limit: int) -> str:
    """Why the image in ``path`` has more than ``limit`` pixels, from its header alone; ``""`` if it has not.

    A decompression bomb's header is a few bytes; its pixels would be gigabytes, so this is
    asked before any decoder (PIL's or OpenCV's) allocates them.
    """
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            Image.MAX_IMAGE_PIXELS = limit
            with Image.open(path) as probe:
                width, height = probe.size
    except Image.DecompressionBombError as err:  # PIL refuses sizes over twice the limit in open()
        found = re.search(r"\((\d+) pixels\)", str(err))
        return _too_large(f"{int(found.group(1)):,}" if found else "more", limit)
    except Exception:  # no header PIL can read: the decoder that follows names the problem
        return ""
    if width * height > limit:
        return _too_large(f"{width} x {height} = {width * height:,}", limit)
    return ""


def _too_large(pixels: str, limit: int) -> str:
    return (
        f"{pixels} pixels, over the limit of {limit:,} (a decompression bomb, or a larger photo than "
        "expected: raise the limit with --max-pixels)"
    )


def _why_not_a_file(path: Path) -> str:
    if path.is_symlink():
        try:
            path.resolve(strict=True)
        except RuntimeError:
            return "a symbolic link loop"
        except OSError as err:
            if err.errno == errno.ELOOP:
                return "a symbolic link loop"
            return f"a symbolic link to {printable(os.readlink(path))}, which does not exist"
        return "a symbolic link to something that is not a file"
    return "no such file" if not path.exists() else "not a regular file"


def _orientation(image) -> int:
    """The EXIF orientation of an open PIL image (1 = as stored)."""
    try:
        return int(image.getexif().get(EXIF_ORIENTATION, 1))
    except Exception:  # a broken EXIF block must not lose an image whose pixels decode fine
        return 1


def _to_contract(raw: np.ndarray, where: str, min_size: int) -> np.ndarray:
    if raw.dtype == np.uint8:
        scaled = raw.astype(np.float32) / 255.0
    elif raw.dtype == np.uint16:
        scaled = raw.astype(np.float32) / 65535.0
    elif raw.dtype in (np.float32, np.float64):
        scaled = np.clip(raw.astype(np.float32), 0.0, 1.0)
    else:
        raise ImageLoadError(where, f"unsupported pixel type {raw.dtype}")
    if scaled.ndim == 2:
        rgb = np.repeat(scaled[..., None], 3, axis=2)
    elif scaled.ndim == 3 and scaled.shape[2] in (3, 4):
        bgr = scaled[..., :3]
        rgb = bgr[..., ::-1]
        if scaled.shape[2] == 4:
            alpha = scaled[..., 3:4]
            rgb = rgb * alpha + (1.0 - alpha)
    elif scaled.ndim == 3 and scaled.shape[2] == 2:  # grey + alpha
        rgb = np.repeat(scaled[..., :1] * scaled[..., 1:2] + (1.0 - scaled[..., 1:2]), 3, axis=2)
    else:
        raise ImageLoadError(where, f"unsupported shape {raw.shape}")
    h, w = rgb.shape[:2]
    if min(h, w) < min_size:
        raise ImageLoadError(where, f"too small ({w}x{h}; need at least {min_size} px per side)")
    return np.ascontiguousarray(rgb, dtype=np.float32)


def read_integer_pixels(path: str | Path, what: str, error: type[Exception] = ValueError) -> tuple[np.ndarray, int]:
    """The stored pixels of an 8- or 16-bit image file, as OpenCV decodes them, and their top value.

    For files whose exact values matter (masks, a tool's predictions): no orientation, alpha or
    grey conversion, which the callers decide on themselves. Images over :func:`max_pixels` are
    refused before decoding, as by :func:`read_image`.

    Parameters
    ----------
    path : path
        Image file.
    what : str
        What the file is, for messages ("mask image").
    error : type
        Exception raised (the caller's own error type), with a message naming ``path``.

    Returns
    -------
    pixels : np.ndarray
        ``H x W`` or ``H x W x C`` (BGR[A] order), ``uint8`` or ``uint16``.
    top : int
        255 or 65535.
    """
    import cv2

    path = Path(path)
    where = printable(path)
    if not path.is_file():
        raise error(f"{where}: {_why_not_a_file(path)}")
    if path.stat().st_size == 0:
        raise error(f"{where}: an empty file, not a {what}")
    too_large = _oversize(path, max_pixels())
    if too_large:
        raise error(f"{where}: {too_large}")
    raw = cv2.imdecode(np.fromfile(path, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    if raw is None:
        raise error(f"{where}: not a readable {what}")
    if raw.dtype == np.uint8:
        return raw, 255
    if raw.dtype == np.uint16:
        return raw, 65535
    raise error(f"{where}: {what}s must be 8- or 16-bit, got {raw.dtype}")


def list_images(root: Path) -> list[Path]:
    """Image files directly under ``root`` (sorted by name), without descending into folders.

    A symbolic link with an image suffix is listed even when it leads nowhere (broken, or a
    loop), so :func:`read_image` skips it with that reason instead of it vanishing unexplained.
    """
    return sorted(p for p in root.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES and (p.is_file() or p.is_symlink()))
