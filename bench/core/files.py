"""Files that readers never see half-written, and append-only logs of rows.

One implementation of each, for every writer of the suite: run directories, caches of
features, checkpoints, sweeps and learning curves.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np


def atomic_write(path: str | Path, write: Callable[[IO[bytes]], Any], *, fsync: bool = True) -> None:
    """Write a file through ``write(handle)`` so readers see the old or the new file, never half of one.

    Parameters
    ----------
    path : path
        The file; its folder is created.
    write : callable
        Writes the content to the binary handle it is given (``np.save``, ``torch.save``, ...).
    fsync : bool
        Flush the content to disk before the rename (off for many small, recomputable files).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; results are meant to be shared
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda fh: fh.write(text.encode()))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON (NaN written as null)."""
    atomic_write_text(path, json.dumps(jsonable(obj), indent=2, sort_keys=False) + "\n")


def update_text(path: str | Path, text: str) -> bool:
    """Atomically write ``text`` to ``path`` unless the file already holds exactly it.

    Re-opening a finished run then writes nothing: it works in a read-only
    directory and leaves file times telling when results last changed.

    Returns
    -------
    bool
        Whether the file was written.
    """
    try:
        if Path(path).read_text() == text:
            return False
    except (OSError, UnicodeDecodeError):
        pass  # missing or unreadable: write it (a real problem surfaces there, naming the file)
    atomic_write_text(path, text)
    return True


def update_json(path: str | Path, obj: Any) -> bool:
    """Write ``obj`` as :func:`atomic_write_json` does, unless the file already holds it."""
    return update_text(path, json.dumps(jsonable(obj), indent=2, sort_keys=False) + "\n")


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars, paths and tuples made JSON types (NaN becomes None)."""
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        return None if np.isnan(f) else f
    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, Path):
        return str(obj)
    return obj


def write_png(path: str | Path, image: np.ndarray) -> None:
    """Save a contract image as an 8-bit PNG (atomically)."""
    from bench.core.images import to_uint8

    write_uint8_png(path, to_uint8(image)[..., ::-1])


def write_uint8_png(path: str | Path, pixels: np.ndarray, keep_same: bool = False) -> bool:
    """Save ``uint8`` pixels (``H x W`` grey, or ``H x W x 3`` in OpenCV's BGR order) as a PNG, atomically.

    Parameters
    ----------
    keep_same : bool
        Leave a file that already holds exactly these bytes alone (its time too).

    Returns
    -------
    bool
        Whether the file was written.
    """
    import cv2

    path = Path(path)
    ok, buf = cv2.imencode(".png", pixels)
    if not ok:
        raise OSError(f"could not encode {path}")
    data = buf.tobytes()
    if keep_same and path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    # Outputs are recomputed from the records on resume, so a PNG lost in a crash costs nothing: no fsync.
    atomic_write(path, lambda fh: fh.write(data), fsync=False)
    return True


class RowLog:
    """An append-only file of one record per line, each line flushed and fsynced as it is written.

    A kill loses at most the line being written: a last line without its newline is cut
    off before the next append, and never returned by :meth:`lines`.

    Parameters
    ----------
    path : path
        The file (created on the first append).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._fh: IO[str] | None = None

    def lines(self) -> list[str]:
        """The complete lines written so far, without their newlines."""
        if not self.path.is_file():
            return []
        text = self.path.read_bytes()
        return text[: text.rfind(b"\n") + 1].decode().splitlines()

    def __enter__(self) -> RowLog:
        if self.path.is_file():
            text = self.path.read_bytes()
            if text and not text.endswith(b"\n"):  # a line cut short by a kill
                with open(self.path, "r+b") as fh:
                    fh.truncate(text.rfind(b"\n") + 1)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", newline="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def append(self, line: str) -> None:
        """Write one line and make it durable before returning."""
        if self._fh is None:
            with self:
                self.append(line)
            return
        self._fh.write(line + "\n")
        self._fh.flush()
        os.fsync(self._fh.fileno())


class CSVLog(RowLog):
    """A :class:`RowLog` of CSV rows under one header line.

    Parameters
    ----------
    path : path
        The CSV file.
    fields : list of str, optional
        Column names; default: the keys of the first row appended.
    """

    def __init__(self, path: str | Path, fields: list[str] | None = None):
        super().__init__(path)
        self.fields = fields

    def rows(self) -> list[dict[str, str]]:
        """The complete rows written so far."""
        return list(csv.DictReader(self.lines()))

    def append_row(self, row: dict[str, Any]) -> None:
        """Append one row, writing the header first into a new (or empty) file."""
        fields = self.fields or list(row)
        if not self.lines():
            self.append(_csv_line(fields))
        self.append(_csv_line([row.get(f, "") for f in fields]))


def _csv_line(values: list[Any]) -> str:
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(values)
    return buf.getvalue()
