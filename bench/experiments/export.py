"""``bench export``: a protocol's test set as files, for a tool that runs outside the suite.

The tool sees what every method sees: the known pixels (holes black) and the masks,
never the ground truth. What it writes back is scored with ``predictions:dir=DIR,export=OUT``
(:mod:`methods.predictions`). File names and mask values: :mod:`bench.core.export_format`.
An export is idempotent and resumable: the same command into the same folder rewrites only
files that differ, and a folder holding another protocol's export is refused.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.export_format import FORMAT, HOLE_VALUE, LAYOUTS, MANIFEST, MASKS, input_name, mask_name
from bench.core.files import update_json, write_uint8_png
from bench.core.images import blank_hole, to_uint8
from bench.core.outdir import OutDirError, claim_dir
from bench.inputs.protocol import load_protocol


class ExportError(RuntimeError):
    """The export folder cannot take this export; the message names it and why."""


@dataclass
class ExportResult:
    """What :func:`export_protocol` wrote.

    Attributes
    ----------
    out : Path
        The export folder.
    manifest : dict
        The contents of ``manifest.json``.
    written : int
        Files (inputs and masks) written now; the rest already held the same bytes.
    skipped_images : list of dict
        Images the data source could not load, with the reason.
    """

    out: Path
    manifest: dict[str, Any]
    written: int
    skipped_images: list[dict[str, str]]


def _suite() -> dict[str, str | None]:
    from bench.engine.probe import suite_identity

    return suite_identity()


def export_protocol(
    out: str | Path,
    *,
    dataset: str = "builtin",
    data_root: str | None = None,
    split: str = "test",
    size: int = 160,
    n: int | None = 280,
    seed: int = 0,
    mask_family: str = "rects",
    layout: str = "lama",
    progress: bool = True,
    command: str | None = None,
) -> ExportResult:
    """Write the masked inputs, the masks and the manifests of a protocol.

    Parameters
    ----------
    out : path
        Export folder (created; must be empty or hold an export of the same protocol; its
        writer lock is held while it is written, see :func:`bench.core.outdir.claim_dir`).
    dataset, data_root, split, size, n, seed, mask_family
        The protocol, as for ``bench run`` (:func:`bench.inputs.protocol.load_protocol`).
    layout : {"lama", "mat"}
        File layout and mask convention (:mod:`bench.core.export_format`).
    progress : bool
        Show a progress bar.
    command : str, optional
        Recorded in the manifest (default: this process's command line).

    Returns
    -------
    ExportResult

    Raises
    ------
    ExportError
        Unknown layout, or ``out`` holds other files or another protocol's export.
    """
    from tqdm import tqdm

    if layout not in LAYOUTS:
        raise ExportError(f"--layout {layout!r}: expected one of {', '.join(LAYOUTS)}")
    proto = load_protocol(dataset, data_root, split, size, n, seed, mask_family)
    out = Path(out)
    ids = [s.id for s in proto.samples]
    manifest = {
        "format": FORMAT,
        "layout": layout,
        "mask_sha256": proto.manifest["sha256"],
        "dataset": proto.identity["dataset"],
        "n": proto.identity["n"],
        "seed": seed,
        "mask_family": proto.identity["mask_family"],
        "ids_sha256": proto.identity["ids_sha256"],
        "identity": proto.identity,
        "hole_value": HOLE_VALUE[layout],
        "inputs": "known pixels of each image as 8-bit RGB PNG; hole pixels are 0 (black); no ground truth",
        "predictions": "one RGB PNG per image, named ID.png (or LaMa's ID_mask000.png), of the input's size",
        "files": {i: {"input": input_name(layout, i), "mask": mask_name(layout, i)} for i in ids},
        "suite": _suite(),
        "command": command if command is not None else " ".join(sys.argv),
    }
    _claim(out, manifest)
    try:
        claim = claim_dir(out, "export", legacy=_is_earlier_export)
    except OutDirError as err:
        raise ExportError(str(err)) from None
    with claim:
        update_json(out / MANIFEST, manifest)
        update_json(out / MASKS, proto.manifest)
        hole = HOLE_VALUE[layout]
        written = 0
        for sample in tqdm(proto.samples, desc="export", unit="img", disable=not progress):
            mask = proto.mask(sample.id)
            masked = to_uint8(blank_hole(sample.image, mask))[..., ::-1]
            written += write_uint8_png(out / input_name(layout, sample.id), masked, keep_same=True)
            pixels = np.where(mask, hole, 255 - hole).astype(np.uint8)
            written += write_uint8_png(out / mask_name(layout, sample.id), pixels, keep_same=True)
    return ExportResult(out, manifest, written, proto.skipped)


def _is_earlier_export(path: Path) -> bool:
    """An export written before export folders were marked: a manifest of this format."""
    try:
        return json.loads((path / MANIFEST).read_text()).get("format") == FORMAT
    except (OSError, ValueError, UnicodeDecodeError, AttributeError):
        return False


def _claim(out: Path, manifest: dict[str, Any]) -> None:
    """Refuse a folder holding an export of another protocol or layout (other folders: :func:`claim_dir`)."""
    path = out / MANIFEST
    if path.is_file():
        try:
            old = json.loads(path.read_text())
        except ValueError:
            old = {}
        if old.get("format") != FORMAT:
            raise ExportError(f"{path} is not a manifest of `bench export`; export into a new folder")
        for key, what in (("mask_sha256", "masks"), ("layout", "layout"), ("ids_sha256", "images")):
            if old.get(key) != manifest[key]:
                raise ExportError(
                    f"{out} holds an export with other {what} ({key} {str(old.get(key))[:12]} vs "
                    f"{str(manifest[key])[:12]}); export into a new folder"
                )
        return
