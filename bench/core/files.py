"""Files that readers never see half-written, and append-only logs of rows.

One implementation of each, for every writer of the suite: run directories, caches of
features, checkpoints, sweeps and learning curves.
"""

from __future__ import annotations

import csv
import functools
import json
import logging
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

log = logging.getLogger("bench")

# Ends the name of every temporary this suite writes, so a cleanup removes its own and nothing else.
TEMP_SUFFIX = ".inpaint-bench.tmp"


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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=TEMP_SUFFIX)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600 files; results are meant to be shared
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        raise _naming(err, path) from None


def is_temporary(name: str) -> bool:
    """Whether a file name is one of :func:`atomic_write`'s temporaries (``.NAME.XXXXXXXX.inpaint-bench.tmp``)."""
    return name.startswith(".") and name.endswith(TEMP_SUFFIX)


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_write`)."""
    atomic_write(path, lambda fh: fh.write(text.encode()))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented standard JSON (NaN written as null; an infinity refused)."""
    atomic_write_text(path, json.dumps(jsonable(obj), indent=2, sort_keys=False, allow_nan=False) + "\n")


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
    return update_text(path, json.dumps(jsonable(obj), indent=2, sort_keys=False, allow_nan=False) + "\n")


def jsonable(obj: Any) -> Any:
    """``obj`` with numpy scalars, paths and tuples made JSON types (NaN becomes None).

    Raises
    ------
    ValueError
        An infinite float: standard JSON has none, and a number the suite writes is finite.
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if isinstance(obj, (np.floating, float)):
        f = float(obj)
        if np.isinf(f):
            raise ValueError(f"{f} cannot be written to JSON: standard JSON has no infinity")
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


@dataclass
class LogDamage:
    """What a scan of an append-only log found wrong with it.

    Attributes
    ----------
    path : Path
        The log.
    bad_lines : list of int
        Line numbers (from 1) of complete lines that could not be read as rows.
    torn_bytes : int
        Length of a last line cut short (no newline: what a kill during a write leaves); 0 if none.
    aside : Path or None
        Where :meth:`RowLog.repair` kept the damaged bytes (None before a repair).
    """

    path: Path
    bad_lines: list[int] = field(default_factory=list)
    torn_bytes: int = 0
    aside: Path | None = None

    def __bool__(self) -> bool:
        return bool(self.bad_lines or self.torn_bytes)

    def describe(self) -> str:
        """One sentence naming the file, every bad line and the torn tail."""
        parts = []
        if self.bad_lines:
            many = len(self.bad_lines) > 1
            parts.append(f"unreadable line{'s' if many else ''} {', '.join(map(str, self.bad_lines))}")
        if self.torn_bytes:
            parts.append(f"a last line cut short ({self.torn_bytes} bytes, no newline)")
        text = f"{self.path}: {' and '.join(parts)}"
        if self.aside is not None:
            return f"{text}; moved to {self.aside}, their rows are computed again"
        return f"{text}; left out (a resumed run repairs the file and computes those rows again)"


class RowLog:
    """An append-only file of one record per line, each line flushed (and by default fsynced) as written.

    A kill loses at most the line being written. Before the first append, :meth:`repair` moves a
    torn last line and any unreadable line into a file of their own beside the log, so a new row
    is never glued onto a broken one; readers skip such lines and say which.

    Parameters
    ----------
    path : path
        The file (created on the first append).
    fsync : bool
        Make each line durable before :meth:`append` returns (off for logs whose rows are
        redone on resume anyway, such as a training run's losses after its last checkpoint).
    """

    def __init__(self, path: str | Path, *, fsync: bool = True):
        self.path = Path(path)
        self.fsync = fsync
        self.damage: LogDamage | None = None
        self._fh: IO[str] | None = None

    def is_row(self, line: str, kept: list[str]) -> bool:
        """Whether ``line`` is a readable row, given the good lines before it (subclasses check more)."""
        return bool(line)

    def scan(self) -> tuple[list[str], LogDamage, list[bytes]]:
        """Read the log without changing it.

        Returns
        -------
        lines : list of str
            The good lines, without their newlines.
        damage : LogDamage
            The bad lines' numbers and the torn tail's length.
        bad : list of bytes
            The raw bytes of every bad line (newline included) and of the torn tail, in file order.
        """
        damage = LogDamage(self.path)
        if not self.path.is_file():
            return [], damage, []
        data = self.path.read_bytes()
        cut = data.rfind(b"\n") + 1
        kept: list[str] = []
        bad: list[bytes] = []
        for number, raw in enumerate(data[:cut].splitlines(keepends=True), start=1):
            try:
                line = raw[:-1].decode()
            except UnicodeDecodeError:
                line = None
            if line is not None and self.is_row(line, kept):
                kept.append(line)
            else:
                damage.bad_lines.append(number)
                bad.append(raw)
        if cut < len(data):
            damage.torn_bytes = len(data) - cut
            bad.append(data[cut:])
        return kept, damage, bad

    def lines(self) -> list[str]:
        """The good lines written so far, without their newlines; damage is logged once, by line number."""
        kept, damage, _ = self.scan()
        if damage and self.damage is None:
            self.damage = damage
            log.warning("%s", damage.describe())
        return kept

    def repair(self) -> LogDamage:
        """Move every bad line and a torn tail to ``PATH.damaged-N`` and rewrite the log without them.

        The damaged bytes are written (and fsynced) first and the log replaced atomically after,
        so a kill in between leaves the bytes twice, never nowhere. An undamaged log is not touched.

        Returns
        -------
        LogDamage
            What was found, with ``aside`` naming the file that holds it (empty when nothing was).
        """
        kept, damage, bad = self.scan()
        if damage:
            damage.aside = free_name(self.path, "damaged")
            atomic_write(damage.aside, lambda fh: fh.write(b"".join(bad)))
            atomic_write_text(self.path, "".join(line + "\n" for line in kept))
            log.warning("%s", damage.describe())
        self.damage = damage
        return damage

    def __enter__(self) -> RowLog:
        self.repair()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fh = open(self.path, "a", newline="")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def append(self, line: str) -> None:
        """Write one line and (with ``fsync``) make it durable before returning."""
        if self._fh is None:
            with self:
                self.append(line)
            return
        try:
            self._fh.write(line + "\n")
            self._fh.flush()
            if self.fsync:
                os.fsync(self._fh.fileno())
        except OSError as err:
            raise _naming(err, self.path) from None


class JSONLog(RowLog):
    """A :class:`RowLog` of JSON objects, one per line.

    Parameters
    ----------
    path : path
        The file.
    required : tuple of str
        Keys every row has; a line without them is damage, not a row.
    fsync : bool
        As for :class:`RowLog`.
    """

    def __init__(self, path: str | Path, required: tuple[str, ...] = (), *, fsync: bool = True):
        super().__init__(path, fsync=fsync)
        self.required = required

    def is_row(self, line: str, kept: list[str]) -> bool:
        try:
            row = json.loads(line)
        except ValueError:
            return False
        return isinstance(row, dict) and all(k in row for k in self.required)

    def rows(self) -> list[dict[str, Any]]:
        """The good rows written so far, in file order."""
        return [json.loads(line) for line in self.lines()]

    def append_row(self, row: dict[str, Any]) -> None:
        """Append one row as a line of standard JSON (NaN written as null, see :func:`jsonable`)."""
        self.append(json.dumps(jsonable(row), allow_nan=False))


class CSVLog(RowLog):
    """A :class:`RowLog` of CSV rows under one header line.

    A row whose number of fields differs from the header's is damage (a line cut short and
    completed by nothing, or bytes that are not the log's).

    Parameters
    ----------
    path : path
        The CSV file.
    fields : list of str, optional
        Column names; default: the keys of the first row appended. When given, a first line
        that is not exactly this header is damage.
    fsync : bool
        As for :class:`RowLog`.
    """

    def __init__(self, path: str | Path, fields: list[str] | None = None, *, fsync: bool = True):
        super().__init__(path, fsync=fsync)
        self.fields = fields
        self._has_header: bool | None = None

    def is_row(self, line: str, kept: list[str]) -> bool:
        try:
            (values,) = list(csv.reader([line]))
        except (csv.Error, ValueError):
            return False
        if not kept:
            return bool(values) and (self.fields is None or values == list(self.fields))
        return len(values) == _csv_width(kept[0])

    def rows(self) -> list[dict[str, str]]:
        """The good rows written so far."""
        return list(csv.DictReader(self.lines()))

    def rewrite(self, rows: list[dict[str, Any]]) -> None:
        """Replace the file atomically by the header and ``rows`` (for a log that keeps only some of its rows)."""
        if self.fields is None:
            raise ValueError(f"{self.path}: rewriting a CSV log needs its fields")
        lines = [_csv_line(list(self.fields))] + [_csv_line([r.get(f, "") for f in self.fields]) for r in rows]
        atomic_write_text(self.path, "".join(line + "\n" for line in lines))
        self._has_header = True

    def append_row(self, row: dict[str, Any]) -> None:
        """Append one row, writing the header first into a new (or empty) file."""
        fields = self.fields or list(row)
        if not self._has_header:
            self._has_header = bool(self.scan()[0])
        if not self._has_header:
            self.append(_csv_line(fields))
            self._has_header = True
        self.append(_csv_line([row.get(f, "") for f in fields]))


def _naming(err: BaseException, path: Path) -> BaseException:
    """``err`` with ``path`` as its file name when it has none (a failed write names only a descriptor)."""
    if isinstance(err, OSError) and err.filename is None and err.errno is not None:
        return OSError(err.errno, err.strerror, str(path))
    return err


@functools.lru_cache(maxsize=16)
def _csv_width(header: str) -> int:
    return len(next(csv.reader([header])))


def free_name(path: Path, tag: str) -> Path:
    """``PATH.TAG-N`` for the first N that names no file yet (where damaged bytes are set aside)."""
    n = 1
    while path.with_name(f"{path.name}.{tag}-{n}").exists():
        n += 1
    return path.with_name(f"{path.name}.{tag}-{n}")


def _csv_line(values: list[Any]) -> str:
    import io

    buf = io.StringIO()
    csv.writer(buf, lineterminator="").writerow(values)
    return buf.getvalue()
