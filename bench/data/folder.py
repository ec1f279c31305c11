"""Any directory of images."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from bench.data.base import Source
from bench.data.io import list_images, read_image
from bench.data.preprocess import Preprocess


class Folder(Source):
    """Every image file directly in ``root``, ids are file names without suffix.

    Parameters
    ----------
    root : Path
        The directory.
    preprocess : Preprocess
        Centre crop and resize to 160 by default; ``Preprocess(size=0)`` keeps native sizes.
    """

    name = "folder"

    def __init__(self, root: str | Path, preprocess: Preprocess | None = None):
        self.root = Path(root)
        if not self.root.is_dir():
            raise FileNotFoundError(f"--data-root {self.root} is not a directory")
        self.preprocess = preprocess or Preprocess()
        self._files = {p.stem: p for p in list_images(self.root)}
        if len(self._files) != len(list_images(self.root)):
            raise ValueError(f"{self.root}: two files share a name with different suffixes; ids would clash")

    def ids(self) -> list[str]:
        return list(self._files)

    def load(self, image_id: str) -> np.ndarray:
        return self.preprocess(read_image(self._files[image_id]))

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "root": str(self.root.resolve()),
            "available": len(self._files),
            "preprocess": self.preprocess.describe(),
        }
