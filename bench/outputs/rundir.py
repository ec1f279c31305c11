"""The layout of a run directory, in one place for writers and readers.

::

    RUN/
      config.json        versions, seed, dataset, preprocessing, mask family and hash, methods, metrics
      masks.json         mask manifest (family spec; rectangles or packed bits per image; SHA-256 of each and all)
      skipped.json       images that could not be loaded, with the reason
      records.jsonl      one JSON object per (method, image); appended and fsynced row by row
      records.csv        the same rows as a table, rewritten atomically at the end of a run
      set_metrics.json   {method: {metric: {value, low, high, details}}} for FID, KID, ...
      groups.json        {unit, units, groups: {image_id: group}}: the bootstrap's resampling unit
                         (source photo, CelebA identity, ...); absent in older runs (unit = image)
      summary.csv        long table: method, metric, value, low, high, n
      summary.md         wide Markdown table of the same
      images/ID.png      ground-truth images (8-bit PNG) as the methods' targets
      outputs/METHOD/ID.png  composited outputs of each method (METHOD = method_dirname(spec))
      .lock              held (flock) by the one ``bench run`` writing the directory; holds its pid
"""

from __future__ import annotations

import errno
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.files import JSONLog

# Keys every line of records.jsonl has; a line without them is damage, not a row.
RECORD_KEYS = ("method", "image_id", "status")

# What intervals resample in a run directory without groups.json (written before it existed).
NO_GROUPS_UNIT = "images (the run has no groups.json, so each image is its own unit)"


def method_dirname(spec: str) -> str:
    """File-system-safe folder name for a method spec (``patch:size=9`` -> ``patch__size-9``)."""
    safe = spec.replace(":", "__").replace("=", "-").replace(",", "_")
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", safe)


class RunDirError(RuntimeError):
    """A run directory cannot be written: another run holds it, or it is not writable."""


class RunDirBusyError(RunDirError):
    """Another process is writing the run directory."""


class RunDir:
    """Paths and readers of one run directory.

    Parameters
    ----------
    path : str or Path
        The run directory (``--out`` of ``bench run``).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)

    config = property(lambda self: self.path / "config.json")
    masks = property(lambda self: self.path / "masks.json")
    skipped = property(lambda self: self.path / "skipped.json")
    records_jsonl = property(lambda self: self.path / "records.jsonl")
    records_csv = property(lambda self: self.path / "records.csv")
    set_metrics = property(lambda self: self.path / "set_metrics.json")
    groups = property(lambda self: self.path / "groups.json")
    summary_csv = property(lambda self: self.path / "summary.csv")
    summary_md = property(lambda self: self.path / "summary.md")
    images_dir = property(lambda self: self.path / "images")
    lock_file = property(lambda self: self.path / ".lock")

    def image_path(self, image_id: str) -> Path:
        """Ground-truth PNG of an image."""
        return self.images_dir / f"{image_id}.png"

    def output_path(self, spec: str, image_id: str) -> Path:
        """Composited output PNG of a method on an image."""
        return self.path / "outputs" / method_dirname(spec) / f"{image_id}.png"

    def read_json(self, which: Path) -> Any:
        """Parse one of the JSON files of the run.

        Raises
        ------
        ValueError
            The file is not valid JSON text (the message names it).
        """
        try:
            return json.loads(Path(which).read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{which}: not valid JSON ({err}); restore it or use another --out") from None

    def read_groups(self) -> tuple[str, dict[str, str] | None]:
        """The resampling unit of the run's intervals and each image's group.

        Returns
        -------
        unit : str
            Description of the unit (an explanation when ``groups.json`` is absent).
        groups : dict or None
            ``{image_id: group}``; None for a run written before ``groups.json``
            existed, whose images are then resampled one by one, as they were.
        """
        if not self.groups.is_file():
            return NO_GROUPS_UNIT, None
        data = self.read_json(self.groups)
        return str(data.get("unit", "groups")), {str(k): str(v) for k, v in data.get("groups", {}).items()}

    def records_log(self) -> JSONLog:
        """``records.jsonl`` as a row log (a row names its method, image and status)."""
        return JSONLog(self.records_jsonl, RECORD_KEYS)

    def read_records(self) -> list[dict[str, Any]]:
        """All good rows of ``records.jsonl``, in the order they were written.

        A row cut short by a kill, or a line that is not a record, is left out and logged
        with its line number; ``bench run`` on the directory repairs the file and
        computes those rows again. A retried row (one that failed before) appears once per try.
        """
        return self.records_log().rows()

    def records_frame(self):
        """Records as a pandas DataFrame (one row per method and image)."""
        import pandas as pd

        return pd.DataFrame(self.read_records())

    @contextmanager
    def writing(self):
        """Create the directory and hold its writer lock for the duration of the block.

        Two runs writing one directory would both compute everything and
        interleave their rows, so the second is refused at once instead of waiting.

        Raises
        ------
        RunDirBusyError
            Another process holds the lock (the message names the directory and its pid).
        RunDirError
            The directory cannot be created or the lock file cannot be opened.
        """
        import fcntl

        fd = self._open_lock()
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise RunDirBusyError(
                    f"{self.path} is being written by another bench run{self._holder()}: wait for it to finish, "
                    "or use another --out"
                ) from None
            self._record_holder(fd)
            self._remove_stale_temporaries()
            yield self
        finally:
            os.close(fd)  # closing releases the lock; the file stays, so no one can lock a vanished inode

    def _open_lock(self) -> int:
        if self.path.exists() and not self.path.is_dir():
            raise RunDirError(f"--out {self.path} is a file, not a directory; choose another --out")
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            return os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as err:
            # A finished run in a read-only directory can still be re-opened: flock works on a read-only descriptor.
            if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and self.lock_file.is_file():
                try:
                    return os.open(self.lock_file, os.O_RDONLY)
                except OSError:
                    pass
            raise RunDirError(
                f"cannot write the run directory {self.path}: {err.strerror or err} "
                f"({err.filename or self.path}); choose a writable --out"
            ) from None

    def _remove_stale_temporaries(self) -> None:
        """Delete what a killed writer's atomic writes left half-done (the lock says no writer is live)."""
        for folder in [self.path, self.images_dir, *self.path.glob("outputs/*/")]:
            for tmp in folder.glob(".*.tmp"):
                try:
                    tmp.unlink()
                except OSError:
                    pass  # read-only directory: a stray hidden file harms nothing

    def _holder(self) -> str:
        try:
            pid = self.lock_file.read_text().strip()
        except OSError:
            return ""
        return f" (pid {pid})" if pid.isdigit() else ""

    @staticmethod
    def _record_holder(fd: int) -> None:
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        except OSError:
            pass  # read-only lock file: the pid only improves the message a second writer gets

    def load_image(self, image_id: str) -> np.ndarray:
        """Ground truth as a contract image."""
        return _read_png(self.image_path(image_id))

    def load_output(self, spec: str, image_id: str) -> np.ndarray:
        """A method's composited output as a contract image."""
        return _read_png(self.output_path(spec, image_id))

    def load_mask(self, image_id: str) -> np.ndarray:
        """The image's mask rebuilt from the manifest (rectangles or stored bits), checked against its hash."""
        from bench.inputs.masks import mask_from_entry

        manifest = self.read_json(self.masks)
        return mask_from_entry(image_id, manifest["masks"][image_id])


def _read_png(path: Path) -> np.ndarray:
    import cv2

    raw = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if raw is None:
        raise FileNotFoundError(f"{path}: missing or unreadable")
    return (raw[..., ::-1].astype(np.float32) / 255.0).copy()
