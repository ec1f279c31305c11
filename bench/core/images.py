"""The array contract every module boundary obeys.

Images are ``float32`` arrays of shape ``H x W x 3`` with values in ``[0, 1]``;
masks are ``bool`` arrays of shape ``H x W`` where ``True`` marks a missing pixel.
These helpers check (and where it is lossless, coerce) arrays to that contract so
that a bad array is reported where it enters, with a name, rather than deep inside
a method.
"""

from __future__ import annotations

import numpy as np


class ContractError(ValueError):
    """An array does not follow the image or mask contract."""


def check_image(image: np.ndarray, name: str = "image") -> np.ndarray:
    """Validate an image against the contract.

    Parameters
    ----------
    image : np.ndarray
        Candidate image.
    name : str
        Name used in the error message.

    Returns
    -------
    np.ndarray
        The same array (never copied).

    Raises
    ------
    ContractError
        If the dtype is not float32, the shape is not ``H x W x 3``, or values are
        outside ``[0, 1]`` or not finite.
    """
    if not isinstance(image, np.ndarray):
        raise ContractError(f"{name}: expected a numpy array, got {type(image).__name__}")
    if image.ndim != 3 or image.shape[2] != 3:
        raise ContractError(f"{name}: expected shape HxWx3, got {image.shape}")
    if image.dtype != np.float32:
        raise ContractError(f"{name}: expected float32, got {image.dtype}")
    if not np.isfinite(image).all():
        raise ContractError(f"{name}: contains NaN or infinite values")
    lo, hi = float(image.min()), float(image.max())
    if lo < 0.0 or hi > 1.0:
        raise ContractError(f"{name}: values must lie in [0, 1], got [{lo:.4g}, {hi:.4g}]")
    return image


def check_mask(mask: np.ndarray, shape: tuple[int, int] | None = None, name: str = "mask") -> np.ndarray:
    """Validate a mask against the contract (bool ``H x W``, True = missing).

    Parameters
    ----------
    mask : np.ndarray
        Candidate mask.
    shape : tuple of int, optional
        Expected ``(H, W)``, typically the image's.
    name : str
        Name used in the error message.

    Returns
    -------
    np.ndarray
        The same array.
    """
    if not isinstance(mask, np.ndarray):
        raise ContractError(f"{name}: expected a numpy array, got {type(mask).__name__}")
    if mask.dtype != np.bool_:
        raise ContractError(f"{name}: expected bool, got {mask.dtype}")
    if mask.ndim != 2:
        raise ContractError(f"{name}: expected shape HxW, got {mask.shape}")
    if shape is not None and tuple(mask.shape) != tuple(shape):
        raise ContractError(f"{name}: shape {mask.shape} does not match image {tuple(shape)}")
    return mask


def to_uint8(image: np.ndarray) -> np.ndarray:
    """Quantise a contract image to ``uint8`` with rounding (for saving and OpenCV)."""
    return np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)


def from_uint8(image: np.ndarray) -> np.ndarray:
    """Convert a ``uint8`` ``H x W x 3`` array to a contract image."""
    return image.astype(np.float32) / np.float32(255.0)


def quantize(image: np.ndarray) -> np.ndarray:
    """The contract image as it is saved: rounded to 8 bits and back (what FID sees)."""
    return from_uint8(to_uint8(image))


def blank_hole(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Return a copy of ``image`` whose missing pixels are set to 0.

    The runner hands methods this copy so that no method can read the ground
    truth under the hole.
    """
    out = image.copy()
    out[mask] = 0.0
    return out


def composite(output: np.ndarray, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Keep the known pixels of ``image`` and take ``output`` inside the hole."""
    return np.where(mask[..., None], output, image).astype(np.float32)
