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
      outputs.json       {spec: folder under outputs/} (config.json repeats it as output_folders): each method's own folder, recorded before
                         the first output goes into it (absent in older runs: see below)
      outputs/METHOD/ID.png  composited outputs of each method (METHOD from outputs.json; method_dirname)
      features/KEY.features  feature rows of the real images and every output, keyed by pixels, one file
                         per extractor and resize mode (bench.metrics.feature_store); the set metrics read them
      .inpaint-bench     marks the directory as a run's ({"tool": "inpaint-bench", "kind": "run"})
      .lock              held (flock) by the one ``bench run`` writing the directory; holds its pid

A directory without the marker is taken as a run when it has the ``config.json`` and
``masks.json`` of one (written before the marker existed); its ``outputs/`` folders were named
by the readable spec alone, and a folder two of its methods shared is used by neither.
See :mod:`bench.core.outdir` for the claim every writer makes first.
"""

from __future__ import annotations

import hashlib
import json
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.files import JSONLog, update_json
from bench.core.outdir import OutDirBusyError, OutDirError, claim_dir, writer_pid

# Keys every line of records.jsonl has; a line without them is damage, not a row.
RECORD_KEYS = ("method", "image_id", "status")

# What intervals resample in a run directory without groups.json (written before it existed).
NO_GROUPS_UNIT = "images (the run has no groups.json, so each image is its own unit)"


# Specs whose readable folder name can be read back to them: a name without "_" (and not starting
# with a dot), keys of letters and digits, values without "-", "_", ",", "=" or ":". The folder
# name then splits uniquely at "__", "_" and the first "-" of each option.
_READABLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9.+-]*(:[A-Za-z0-9]+=[A-Za-z0-9.+]*(,[A-Za-z0-9]+=[A-Za-z0-9.+]*)*)?")
# Longest readable part kept in front of the hash of a spec that does not read back.
_PREFIX_CHARS = 48


def _readable_dirname(spec: str) -> str:
    safe = spec.replace(":", "__").replace("=", "-").replace(",", "_")
    return re.sub(r"[^A-Za-z0-9_.+-]", "_", safe)


def _hashed_dirname(spec: str) -> str:
    digest = hashlib.sha256(spec.encode("utf-8", "surrogatepass")).hexdigest()[:16]
    return f"{_readable_dirname(spec)[:_PREFIX_CHARS].lstrip('.')}~{digest}"


def method_dirname(spec: str) -> str:
    """A folder name for a method spec, different for every spec.

    A spec that its readable name reads back to keeps it (``patch:size=9`` -> ``patch__size-9``,
    as before); any other (a path, non-ASCII, ``_`` or ``-`` where they would be ambiguous) gets
    its readable start followed by ``~`` and 16 hex digits of the SHA-256 of the whole spec
    (``predictions:dir=/x/a_b`` -> ``predictions__dir-_x_a_b~...``). No readable name holds a ``~``.
    """
    if _READABLE.fullmatch(spec):
        return _readable_dirname(spec)
    return _hashed_dirname(spec)


def _previous_layout_folders(path: Path, methods: list[str]) -> tuple[dict[str, str], set[str]]:
    """Folders a run written before ``outputs.json`` used, where each is one method's, and the shared ones.

    Those runs named folders by the readable name alone, so two methods could share one; such a
    shared folder belongs to neither (their specs get folders of their own, and missing outputs).
    """
    names: dict[str, list[str]] = {}
    for spec in methods:
        names.setdefault(_readable_dirname(spec), []).append(spec)
    own = {specs[0]: name for name, specs in names.items() if len(specs) == 1 and (path / "outputs" / name).is_dir()}
    return own, {name for name, specs in names.items() if len(specs) > 1}


# A run directory cannot be written: not a run's, another run holds it, or it is not writable.
RunDirError = OutDirError
# Another process is writing the run directory.
RunDirBusyError = OutDirBusyError


def is_legacy_run(path: Path) -> bool:
    """Whether an unmarked directory is a run written before runs were marked (its config and masks)."""
    try:
        config = json.loads((path / "config.json").read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return False
    return isinstance(config, dict) and "identity" in config and (path / "masks.json").is_file()


class RunDir:
    """Paths and readers of one run directory.

    Parameters
    ----------
    path : str or Path
        The run directory (``--out`` of ``bench run``).
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._outputs: dict[str, str] | None = None
        self._shared: set[str] = set()  # folders of the previous layout that two methods shared
        self._writing = False

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
    outputs_json = property(lambda self: self.path / "outputs.json")
    features_dir = property(lambda self: self.path / "features")

    def image_path(self, image_id: str) -> Path:
        """Ground-truth PNG of an image."""
        return self.images_dir / f"{image_id}.png"

    def output_path(self, spec: str, image_id: str) -> Path:
        """Composited output PNG of a method on an image."""
        return self.output_dir(spec) / f"{image_id}.png"

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
        """Claim the directory as a run's and hold its writer lock for the duration of the block.

        The directory must be new, empty or a run directory (:func:`bench.core.outdir.claim_dir`):
        a folder of other files, or another command's directory, is refused before anything is
        written. Two runs writing one directory would both compute everything and interleave
        their rows, so the second is refused at once instead of waiting.

        Raises
        ------
        RunDirBusyError
            Another process holds the lock (the message names the directory and its pid).
        RunDirError
            The directory is not a run's, holds a link leading outside it, or cannot be created.
        """
        with claim_dir(self.path, "run", legacy=is_legacy_run):
            self._writing, self._outputs = True, None
            try:
                yield self
            finally:
                self._writing = False

    def being_written(self) -> str | None:
        """The pid of the process writing the run now (``"?"`` if unknown), or None when none is."""
        return writer_pid(self.path)

    def output_folders(self) -> dict[str, str]:
        """``{spec: folder under outputs/}`` of every method with a folder, as readers find them.

        ``outputs.json`` when the run has one; for a run written before it existed, each
        method of ``config.json`` whose readable folder name no other method shared and exists.
        """
        if self._outputs is None:
            self._outputs = self._recorded_folders()
        return dict(self._outputs)

    def output_dir(self, spec: str) -> Path:
        """Folder of a method's composited outputs, its own (see :func:`method_dirname`).

        While the run is being written (:meth:`writing`), a spec seen for the first time gets
        a folder no other method has, recorded in ``outputs.json`` before anything goes into it.
        """
        folders = self.output_folders()
        if spec not in folders:
            name = method_dirname(spec)
            if name in set(folders.values()) | self._shared:
                name = _hashed_dirname(spec)  # a folder of the previous layout already holds this name
            folders[spec] = name
            if self._writing:
                update_json(self.outputs_json, folders)
                self._outputs = folders
        return self.path / "outputs" / folders[spec]

    def _recorded_folders(self) -> dict[str, str]:
        if self.outputs_json.is_file():
            data = self.read_json(self.outputs_json)
            if not isinstance(data, dict):
                raise ValueError(
                    f"{self.outputs_json}: not a mapping of specs to folders; restore it or use another --out"
                )
            return {str(k): str(v) for k, v in data.items()}
        try:
            config = self.read_json(self.config) if self.config.is_file() else {}
        except (OSError, ValueError):
            config = {}
        methods = [str(m) for m in config.get("methods", [])] if isinstance(config, dict) else []
        folders, self._shared = _previous_layout_folders(self.path, methods)
        return folders

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
