"""Training batches for GLCIC and the network's input encoding.

A batch is a pure function of ``(config, step, rank)``: random crops of training
images, a random horizontal flip, one rectangular hole with sides in
``[hole_min, hole_max]`` and the hole-centred local patch. Nothing depends on global
random state or on how many batches were drawn before, so a run resumed from a
checkpoint sees exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from bench.core.images import from_uint8, to_uint8
from bench.inputs.data import ImageLoadError, get_source
from methods.glcic.config import GLCICConfig

# Above this many ids the images are read from disk per batch instead of cached.
CACHE_LIMIT = 20_000


@dataclass
class Batch:
    """One training batch (numpy, contract conventions).

    Attributes
    ----------
    images : np.ndarray
        float32 N x H x W x 3 in [0, 1], the ground truth.
    masks : np.ndarray
        bool N x H x W, True inside the hole.
    boxes : np.ndarray
        int N x 2, top and left of each ``local_size`` square local patch.
    """

    images: np.ndarray
    masks: np.ndarray
    boxes: np.ndarray


class TrainImages:
    """The training images of a config, loaded through ``bench.inputs.data``.

    Parameters
    ----------
    config : GLCICConfig
        Uses ``dataset``, ``data_root``, ``split``, ``load_size`` and ``max_images``.
    """

    def __init__(self, config: GLCICConfig):
        root = config.data_root or None
        self.source = get_source(config.dataset, root, split=config.split, size=config.load_size)
        ids = self.source.ids()
        if config.max_images:
            ids = ids[: config.max_images]
        if not ids:
            raise ValueError(
                f"no training images in dataset {config.dataset!r} (root={config.data_root!r}, split={config.split!r})"
            )
        self.ids = ids
        self.size = config.load_size
        self._cache: dict[int, np.ndarray] = {}
        self._bad: set[int] = set()

    def __len__(self) -> int:
        return len(self.ids)

    def image(self, index: int) -> np.ndarray:
        """Image ``index`` as a contract image; an unreadable id is replaced by the next one."""
        start = index
        while True:
            if index in self._cache:
                return from_uint8(self._cache[index])
            if index not in self._bad:
                try:
                    img = self.source.load(self.ids[index])
                except ImageLoadError as err:
                    warnings.warn(f"skipping training image: {err}", stacklevel=2)
                    self._bad.add(index)
                else:
                    if img.shape[:2] != (self.size, self.size):
                        raise ValueError(
                            f"training image {self.ids[index]!r} has shape "
                            f"{img.shape[:2]}, expected {self.size}x{self.size}"
                        )
                    if len(self.ids) <= CACHE_LIMIT:
                        # uint8 keeps the cache at a quarter of float32's memory.
                        self._cache[index] = to_uint8(img)
                        return from_uint8(self._cache[index])
                    return img
            index = (index + 1) % len(self.ids)
            if index == start:
                raise ValueError("none of the training images could be loaded")

    def preload(self, workers: int = 8) -> None:
        """Decode every image into the cache now, ``workers`` at a time.

        Training reads images lazily, one at a time, on the batch thread; on a GPU that
        first pass is the bottleneck, and image decoding releases the GIL, so threads pay.
        Does nothing when the ids are too many to cache.
        """
        if len(self.ids) > CACHE_LIMIT:
            return
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max(1, workers)) as pool:
            # image() falls back to the next id for a bad one; each call only writes its own key.
            list(pool.map(self.image, range(len(self.ids))))

    def mean_pixel(self, count: int) -> np.ndarray:
        """Mean RGB over up to ``count`` images evenly spaced over the ids (float32, shape 3)."""
        n = min(count, len(self.ids))
        picks = np.unique(np.linspace(0, len(self.ids) - 1, n).round().astype(int))
        total = np.zeros(3, dtype=np.float64)
        for i in picks:
            total += self.image(int(i)).reshape(-1, 3).mean(axis=0)
        return (total / len(picks)).astype(np.float32)


def hole_and_box(rng: np.random.Generator, config: GLCICConfig) -> tuple[tuple[int, int, int, int], tuple[int, int]]:
    """Draw one hole ``(top, left, height, width)`` and its local patch ``(top, left)``.

    The patch is centred on the hole and shifted inside the image where needed; since
    ``hole_max <= local_size`` it always contains the whole hole.
    """
    res, side = config.resolution, config.local_size
    h = int(rng.integers(config.hole_min, config.hole_max + 1))
    w = int(rng.integers(config.hole_min, config.hole_max + 1))
    top = int(rng.integers(0, res - h + 1))
    left = int(rng.integers(0, res - w + 1))
    btop = min(max(top + h // 2 - side // 2, 0), res - side)
    bleft = min(max(left + w // 2 - side // 2, 0), res - side)
    return (top, left, h, w), (btop, bleft)


def sample_batch(images: TrainImages, config: GLCICConfig, step: int, rank: int = 0) -> Batch:
    """The training batch of ``step`` for process ``rank`` (see the module notes)."""
    rng = np.random.default_rng([config.seed, step, rank])
    res, n = config.resolution, config.batch_size
    out = np.empty((n, res, res, 3), dtype=np.float32)
    masks = np.zeros((n, res, res), dtype=bool)
    boxes = np.empty((n, 2), dtype=np.int64)
    for k in range(n):
        img = images.image(int(rng.integers(0, len(images))))
        y = int(rng.integers(0, img.shape[0] - res + 1))
        x = int(rng.integers(0, img.shape[1] - res + 1))
        crop = img[y : y + res, x : x + res]
        if rng.random() < 0.5:
            crop = crop[:, ::-1]
        out[k] = crop
        (top, left, h, w), box = hole_and_box(rng, config)
        masks[k, top : top + h, left : left + w] = True
        boxes[k] = box
    return Batch(out, masks, boxes)


def completion_input(images: torch.Tensor, masks: torch.Tensor, mean_pixel: torch.Tensor) -> torch.Tensor:
    """The completion net's input: RGB with the hole set to the mean pixel, plus the mask.

    Parameters
    ----------
    images : torch.Tensor
        N x 3 x H x W in [0, 1] (values under the hole are ignored).
    masks : torch.Tensor
        N x 1 x H x W, 1.0 inside the hole.
    mean_pixel : torch.Tensor
        (3,) dataset mean colour.

    Returns
    -------
    torch.Tensor
        N x 4 x H x W.
    """
    filled = images * (1 - masks) + mean_pixel.view(1, 3, 1, 1) * masks
    return torch.cat([filled, masks], dim=1)


def to_tensors(batch: Batch, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Batch images (N x 3 x H x W) and masks (N x 1 x H x W, float) as tensors."""
    images = torch.from_numpy(np.ascontiguousarray(batch.images.transpose(0, 3, 1, 2))).to(device)
    masks = torch.from_numpy(batch.masks[:, None].astype(np.float32)).to(device)
    return images, masks


def crop_patches(images: torch.Tensor, boxes: np.ndarray, side: int) -> torch.Tensor:
    """The ``side`` x ``side`` local patches at ``boxes`` (N x 2 top/left) of N x C x H x W."""
    return torch.stack([images[i, :, t : t + side, l : l + side] for i, (t, l) in enumerate(boxes)])
