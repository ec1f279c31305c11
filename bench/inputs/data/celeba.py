"""CelebA in its official layout.

``img_align_celeba/NNNNNN.jpg``, with ``list_eval_partition.txt`` and ``identity_CelebA.txt``
where present.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np

from bench.inputs.data.base import Source
from bench.inputs.data.io import read_image
from bench.inputs.data.preprocess import Preprocess

SPLITS = {"train": 0, "val": 1, "test": 2}
# The official partition by image number, used when list_eval_partition.txt is absent.
OFFICIAL_RANGES = {0: (1, 162770), 1: (162771, 182637), 2: (182638, 202599)}
IDENTITY_FILE = "identity_CelebA.txt"

log = logging.getLogger("bench")


class CelebA(Source):
    """CelebA aligned faces (178 x 218 JPEGs).

    Parameters
    ----------
    root : Path
        Directory holding ``img_align_celeba/`` and optionally ``list_eval_partition.txt`` and
        ``identity_CelebA.txt`` (lines ``NNNNNN.jpg IDENTITY``; when present, bootstrap
        intervals resample identities rather than images).
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
        self.identity_file = self.root / IDENTITY_FILE
        self._ids = self._list_ids()

    def _list_ids(self) -> list[str]:
        present = sorted(p.stem for p in self.images.glob("*.jpg"))
        if self.split == "all":
            return present
        wanted = SPLITS[self.split]
        if self.partition_file.is_file():
            part = read_partition(self.partition_file)
            return [i for i in present if part.get(i) == wanted]
        lo, hi = OFFICIAL_RANGES[wanted]
        return [i for i in present if i.isdigit() and lo <= int(i) <= hi]

    def ids(self) -> list[str]:
        return list(self._ids)

    def load(self, image_id: str) -> np.ndarray:
        return self.preprocess(read_image(self.images / f"{image_id}.jpg"))

    @property
    def unit(self) -> str:
        if self.identity_file.is_file():
            return "CelebA identities"
        return f"images (no {IDENTITY_FILE} next to img_align_celeba/, so each image is its own unit)"

    def groups(self, ids: list[str]) -> dict[str, str]:
        """The celebrity of each image, from ``identity_CelebA.txt`` (each image its own unit without it).

        The file lists all 202,599 images; it is scanned once, keeping only the
        lines of ``ids`` and stopping as soon as all of them are found. An image the
        file does not list is its own unit (with a warning).
        """
        if not self.identity_file.is_file():
            return super().groups(ids)
        wanted = {f"{i}.jpg": i for i in ids}
        found: dict[str, str] = {}
        with open(self.identity_file, encoding="ascii", errors="replace") as fh:
            for line in fh:
                fields = line.split()
                if len(fields) == 2 and fields[0] in wanted:
                    found[wanted[fields[0]]] = fields[1]
                    if len(found) == len(wanted):
                        break
        missing = [i for i in ids if i not in found]
        if missing:
            log.warning(
                "%d of %d images are not in %s (e.g. %s): each is its own resampling unit",
                len(missing),
                len(ids),
                self.identity_file,
                missing[0],
            )
        # Identities are bare numbers; the prefix keeps an unlisted image from joining one by name.
        return {i: found.get(i, f"image:{i}") for i in ids}

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "root": str(self.root.resolve()),
            "split": self.split,
            "partition": "list_eval_partition.txt" if self.partition_file.is_file() else "official id ranges",
            "available": len(self._ids),
            "preprocess": self.preprocess.describe(),
        }


def read_partition(path: Path) -> dict[str, int]:
    """Parse ``list_eval_partition.txt``: lines ``NNNNNN.jpg PARTITION`` (0 train, 1 val, 2 test).

    Raises
    ------
    ValueError
        The file is not ASCII text, or a two-field line has no integer partition; the message
        names the file and the line.
    """
    try:
        text = path.read_bytes().decode("ascii")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path}: not the CelebA partition list (byte {err.start} is not ASCII text; "
            "expected lines 'NNNNNN.jpg PARTITION'): replace it, or remove it to use the official ranges"
        ) from None
    part = {}
    for number, line in enumerate(text.splitlines(), start=1):
        fields = line.split()
        if len(fields) != 2:
            continue  # blank lines, headers of other releases
        if not fields[1].lstrip("-").isdigit():
            raise ValueError(f"{path}, line {number}: partition {fields[1]!r} is not 0, 1 or 2")
        part[Path(fields[0]).stem] = int(fields[1])
    return part
