"""Explicit, recorded preprocessing: centre crop to a square and resize."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Preprocess:
    """Centre-crop to a square, then resize to ``size`` x ``size``.

    Attributes
    ----------
    size : int
        Output side in pixels; 0 keeps the native size (no crop, no resize).
    crop : str
        ``"center"`` (largest centred square) or ``"none"`` (resize the whole image,
        changing its aspect ratio).
    interpolation : str
        ``"area"`` (OpenCV INTER_AREA, right for downscaling) or ``"bilinear"``.
    """

    size: int = 160
    crop: str = "center"
    interpolation: str = "area"

    def __post_init__(self):
        if self.crop not in ("center", "none"):
            raise ValueError(f"crop must be 'center' or 'none', got {self.crop!r}")
        if self.interpolation not in ("area", "bilinear"):
            raise ValueError(f"interpolation must be 'area' or 'bilinear', got {self.interpolation!r}")
        if self.size < 0:
            raise ValueError(f"size must be >= 0, got {self.size}")

    def __call__(self, image: np.ndarray) -> np.ndarray:
        if self.size == 0:
            return image
        if self.crop == "center":
            h, w = image.shape[:2]
            side = min(h, w)
            top, left = (h - side) // 2, (w - side) // 2
            image = image[top : top + side, left : left + side]
        flag = cv2.INTER_AREA if self.interpolation == "area" else cv2.INTER_LINEAR
        out = cv2.resize(image, (self.size, self.size), interpolation=flag)
        return np.clip(out, 0.0, 1.0).astype(np.float32)

    def describe(self) -> dict:
        """JSON-able form recorded in run configs and cache keys."""
        return asdict(self)
