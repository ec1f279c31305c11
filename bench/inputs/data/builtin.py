"""The ``builtin`` dataset: deterministic crops of real photos shipped inside installed packages.

A fresh machine has no CelebA and no network, but scikit-image, matplotlib and
scikit-learn carry real photographs. Each id ``<photo>-<k>`` names one square crop
whose position and size follow from the id alone, so every machine gets the same
pixels. Photos are split into a ``test`` set (used for evaluation) and a disjoint
``train`` set (used to train CNN methods), so no evaluated content is trained on.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from bench.inputs.data.base import ImageLoadError, Source
from bench.inputs.data.io import read_image
from bench.inputs.data.preprocess import Preprocess

CROPS_PER_PHOTO = 64


def _skimage(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import skimage.data

        return getattr(skimage.data, name)()

    return load


def _file_in(module: str, *parts: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import importlib

        base = Path(importlib.import_module(module).__file__).parent
        return np.asarray(read_image(base.joinpath(*parts)))

    return load


def _matplotlib_sample(name: str) -> Callable[[], np.ndarray]:
    def load() -> np.ndarray:
        import matplotlib

        return np.asarray(read_image(Path(matplotlib.get_data_path()) / "sample_data" / name))

    return load


# name -> (split, loader). Stereo pairs and near-duplicates stay in one split.
PHOTOS: dict[str, tuple[str, Callable[[], np.ndarray]]] = {
    "astronaut": ("test", _skimage("astronaut")),
    "coffee": ("test", _skimage("coffee")),
    "chelsea": ("test", _skimage("chelsea")),
    "rocket": ("test", _skimage("rocket")),
    "grace_hopper": ("test", _matplotlib_sample("grace_hopper.jpg")),
    "china": ("test", _file_in("sklearn.datasets", "images", "china.jpg")),
    "flower": ("test", _file_in("sklearn.datasets", "images", "flower.jpg")),
    "hubble": ("train", _skimage("hubble_deep_field")),
    "ihc": ("train", _skimage("immunohistochemistry")),
    "retina": ("train", _skimage("retina")),
    "motorcycle_left": ("train", _file_in("skimage.data", "motorcycle_left.png")),
    "motorcycle_right": ("train", _file_in("skimage.data", "motorcycle_right.png")),
    "camera": ("train", _skimage("camera")),
    "brick": ("train", _skimage("brick")),
    "grass": ("train", _skimage("grass")),
    "gravel": ("train", _skimage("gravel")),
    "coins": ("train", _skimage("coins")),
    "moon": ("train", _skimage("moon")),
}


@cache
def photo(name: str) -> np.ndarray:
    """A bundled photo as a contract image (grayscale replicated to RGB)."""
    raw = np.asarray(PHOTOS[name][1]())
    if raw.dtype == np.uint8:
        raw = raw.astype(np.float32) / 255.0
    raw = raw.astype(np.float32)
    if raw.ndim == 2:
        raw = np.repeat(raw[..., None], 3, axis=2)
    return np.ascontiguousarray(raw[..., :3])


def crop_box(image_id: str, height: int, width: int) -> tuple[int, int, int]:
    """Top, left and side of the square crop named by ``image_id``.

    The side is between 35 % and 90 % of the photo's short side; both follow from
    a SHA-256 of the id, so they are the same in every process and on every machine.
    """
    digest = hashlib.sha256(image_id.encode()).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "little"))
    short = min(height, width)
    side = int(rng.integers(int(0.35 * short), int(0.9 * short) + 1))
    top = int(rng.integers(0, height - side + 1))
    left = int(rng.integers(0, width - side + 1))
    return top, left, side


class Builtin(Source):
    """Deterministic square crops of bundled photos, resized to ``size``.

    Parameters
    ----------
    split : {"test", "train", "all"}
        Which photos to crop from.
    preprocess : Preprocess
        Resize of the square crop (``size`` 160 by default).
    crops_per_photo : int
        Crops per photo; ids go round-robin over photos so any ``n`` mixes them all.
    """

    name = "builtin"

    def __init__(
        self, split: str = "test", preprocess: Preprocess | None = None, crops_per_photo: int = CROPS_PER_PHOTO
    ):
        if split not in ("test", "train", "all"):
            raise ValueError(f"unknown builtin split {split!r} (test, train, all)")
        self.split = split
        self.preprocess = preprocess or Preprocess(size=160)
        if self.preprocess.size == 0:
            raise ValueError("the builtin dataset needs a fixed output size (size > 0)")
        self.crops_per_photo = crops_per_photo
        self.photos = [n for n, (s, _) in PHOTOS.items() if split in ("all", s)]

    def ids(self) -> list[str]:
        return [f"{p}-{k:03d}" for k in range(self.crops_per_photo) for p in self.photos]

    def load(self, image_id: str) -> np.ndarray:
        name, _, _ = image_id.rpartition("-")
        if name not in self.photos:
            raise ImageLoadError(f"builtin:{image_id}", f"no photo {name!r} in split {self.split!r}")
        img = photo(name)
        top, left, side = crop_box(image_id, *img.shape[:2])
        return self.preprocess(img[top : top + side, left : left + side])

    @property
    def unit(self) -> str:
        return "builtin source photos"

    def groups(self, ids: list[str]) -> dict[str, str]:
        """Each crop's source photo (``astronaut-005`` -> ``astronaut``): crops of one photo share content."""
        return {i: i.rpartition("-")[0] for i in ids}

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "split": self.split,
            "photos": self.photos,
            "crops_per_photo": self.crops_per_photo,
            "preprocess": self.preprocess.describe(),
        }
