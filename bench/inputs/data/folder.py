"""Any directory of images, optionally with a ``groups.csv`` naming the resampling unit of each."""

from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Any

import numpy as np

from bench.inputs.data.base import ImageLoadError, Source
from bench.inputs.data.io import IMAGE_SUFFIXES, list_images, printable, read_image
from bench.inputs.data.preprocess import Preprocess

GROUPS_FILE = "groups.csv"

log = logging.getLogger("bench")


class Folder(Source):
    """Every image file directly in ``root``, ids are file names without suffix.

    Images are independent resampling units unless ``root`` holds a ``groups.csv``:
    a CSV file with the header ``image_id,group`` and one row per image, where
    ``image_id`` is the file name with or without its suffix and ``group`` any label
    (e.g. the scene or the person shown). Bootstrap intervals then resample whole
    groups; an image the file does not list is its own unit.

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
        listed = list_images(self.root)
        self._files = {p.stem: p for p in listed}
        if len(self._files) != len(listed):
            clashes = [p for p in listed if sum(q.stem == p.stem for q in listed) > 1]
            names = ", ".join(printable(p.name) for p in clashes[:6])
            raise ValueError(
                f"{self.root}: files share a name with different suffixes ({names}); ids would clash: "
                "rename or remove all but one of each"
            )

    def ids(self) -> list[str]:
        return list(self._files)

    def load(self, image_id: str) -> np.ndarray:
        path = self._files[image_id]
        if printable(path.name) != path.name:
            # Ids travel into JSON, CSV and LaTeX tables as text; undecodable bytes cannot.
            raise ImageLoadError(printable(path), "the file name is not valid UTF-8: rename the file to use it")
        return self.preprocess(read_image(path))

    @property
    def groups_file(self) -> Path:
        """Where the optional grouping file is looked for."""
        return self.root / GROUPS_FILE

    @property
    def unit(self) -> str:
        if self.groups_file.is_file():
            return f"groups of {GROUPS_FILE}"
        return f"images (no {GROUPS_FILE} in the folder, so each image is its own unit)"

    def groups(self, ids: list[str]) -> dict[str, str]:
        """The group of each image from ``groups.csv``; each image its own unit without the file.

        Raises
        ------
        ValueError
            ``groups.csv`` lacks the ``image_id,group`` header, or lists an image twice
            with different groups (the message names the file and the row).
        """
        if not self.groups_file.is_file():
            return super().groups(ids)
        table = read_groups_csv(self.groups_file)
        missing = [i for i in ids if i not in table]
        if missing:
            log.warning(
                "%d of %d images are not in %s (e.g. %s): each is its own resampling unit",
                len(missing),
                len(ids),
                self.groups_file,
                missing[0],
            )
        # The prefix keeps an unlisted image from joining a group that happens to share its name.
        return {i: table.get(i, f"image:{i}") for i in ids}

    def describe(self) -> dict[str, Any]:
        return {
            "dataset": self.name,
            "root": str(self.root.resolve()),
            "available": len(self._files),
            "preprocess": self.preprocess.describe(),
        }


def read_groups_csv(path: Path) -> dict[str, str]:
    """Parse a grouping file: CSV with header ``image_id,group``.

    Parameters
    ----------
    path : Path
        The file. ``image_id`` may carry an image suffix (``a.jpg``), which is dropped
        so it matches the folder's ids.

    Returns
    -------
    dict
        ``{image_id: group}``.

    Raises
    ------
    ValueError
        Not UTF-8 text, missing header columns, an empty id or group, or one id given two groups.
    """
    try:
        return _parse_groups(path)
    except UnicodeDecodeError as err:
        raise ValueError(f"{path}: not UTF-8 text (byte {err.start}); save it as a UTF-8 CSV") from None


def _parse_groups(path: Path) -> dict[str, str]:
    table: dict[str, str] = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        fields = [f.strip() for f in reader.fieldnames or []]
        if "image_id" not in fields or "group" not in fields:
            raise ValueError(f"{path}: needs a header row 'image_id,group' (found {','.join(fields) or 'nothing'})")
        reader.fieldnames = fields
        for line, row in enumerate(reader, start=2):
            image_id, group = (row.get("image_id") or "").strip(), (row.get("group") or "").strip()
            if not image_id and not group:
                continue  # blank line
            if not image_id or not group:
                raise ValueError(f"{path}, line {line}: empty image_id or group")
            stem = Path(image_id).stem if Path(image_id).suffix.lower() in IMAGE_SUFFIXES else image_id
            if table.get(stem, group) != group:
                raise ValueError(f"{path}, line {line}: {stem!r} is in group {table[stem]!r} and {group!r}")
            table[stem] = group
    return table
