"""CelebA in its official layout: ``img_align_celeba/NNNNNN.jpg`` (+ ``list_eval_partition.txt``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.data.base import Source
from bench.data.io import read_image
from bench.data.preprocess import Preprocess

SPLITS = {"train": 0, "val": 1, "test": 2}
# The official partition by image number, used when list_eval_partition.txt is absent.
OFFICIAL_RANGES = {0: (1, 162770), 1: (162771, 182637), 2: (182638, 202599)}


class CelebA(Source):
    """CelebA aligned faces (178 x 218 JPEGs).

    Parameters
    ----------
    root : Path
        Directory holding ``img_align_celeba/`` and optionally ``list_eval_partition.txt``.
    split : {"train", "val", "test", "all"}
        Official partition to use; the test split by default, as in the study.
    preprocess : Preprocess
        Centre crop 178x178 and resize to 160x160 by default, as in the study.
    """

    name = "celeba"

    def __init__(self, root: str | Path, split: str = "test", preprocess: Preprocess | None = None):
        self.root = Path(root)
        self.images = self.root / "img_align_celeba"
        if not self.images.is_dir():
            raise FileNotFoundError(
                f"{self.images} not found: --data-root must be the folder that contains "
                "img_align_celeba/ (the official CelebA layout)"
            )
        if split not in (*SPLITS, "all"):
            raise ValueError(f"unknown CelebA split {split!r} (train, val, test, all)")
        self.split = split
        self.preprocess = preprocess or Preprocess(size=160, crop="center")
        self.partition_file = self.root / "list_eval_partition.txt"
        self._ids = self._list_ids()

    def _list_ids(self) -> list[str]:
        present = sorted(p.stem for p in self.images.glob("*.jpg"))
        if self.split == "all":
            return present
        wanted = SPLITS[self.split]
        if self.partition_file.is_file():
            part = {}
            for line in self.partition_file.read_text().split("\n"):
                fields = line.split()
                if len(fields) == 2:
                    part[Path(fields[0]).stem] = int(fields[1])
            return [i for i in present if part.get(i) == wanted]
        lo, hi = OFFICIAL_RANGES[wanted]
        return [i for i in present if i.isdigit() and lo <= int(i) <= hi]

    def ids(self) -> list[str]:
        return list(self._ids)

    def load(self, image_id: str) -> np.ndarray:
        return self.preprocess(read_image(self.images / f"{image_id}.jpg"))

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "root": str(self.root.resolve()),
            "split": self.split,
            "partition": "list_eval_partition.txt" if self.partition_file.is_file() else "official id ranges",
            "available": len(self._ids),
            "preprocess": self.preprocess.describe(),
        }
