"""A folder of another tool's outputs as a method: one PNG per image id, checked against the protocol.

Before any image, :meth:`PredictionFolder.check_protocol` refuses a folder made for other
masks (the export manifest's mask hash), PNGs that match no image id, and two files for one id;
it warns about missing ones. Each image then reads ``DIR/ID.png`` or ``DIR/ID_mask000.png``; a
missing, unreadable or mis-sized file raises, which the runner records as that image's error row.
The runner composites the known pixels back and records how far the tool changed them, as for
every method. Each row records the SHA-256 of the file it was read from
(:meth:`PredictionFolder.input_fingerprint`), so a rewritten file is scored again on resume.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.digest import file_sha256, json_sha256
from bench.core.export_format import FORMAT, LAMA_MASK_SUFFIX, MANIFEST, prediction_id
from bench.inputs.data.io import IMAGE_SUFFIXES, read_integer_pixels
from methods.base import Method

log = logging.getLogger("bench")


class PredictionError(ValueError):
    """A prediction file or folder cannot be scored; the message names it."""


def read_prediction(path: Path) -> np.ndarray:
    """A prediction PNG as a contract image (8- or 16-bit RGB; an alpha channel must be opaque).

    Raises
    ------
    PredictionError
        Unreadable file, grey or other channel counts, a transparent pixel, or another bit depth.
    """
    raw, top = read_integer_pixels(path, "prediction PNG", PredictionError)
    if raw.ndim != 3 or raw.shape[2] not in (3, 4):
        channels = 1 if raw.ndim == 2 else raw.shape[2]
        raise PredictionError(f"{path}: {channels} channel(s); predictions must be RGB (3 channels)")
    if raw.shape[2] == 4:
        if (raw[..., 3] != raw.dtype.type(top)).any():
            raise PredictionError(f"{path}: has transparent pixels; save predictions without alpha")
        raw = raw[..., :3]
    return np.ascontiguousarray(raw[..., ::-1], dtype=np.float32) / np.float32(top)


def resize_to(image: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Resize a contract image to ``(H, W)``: area averaging when shrinking, cubic when enlarging."""
    import cv2

    h, w = shape
    shrink = h * w < image.shape[0] * image.shape[1]
    out = cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_CUBIC)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


class PredictionFolder(Method):
    """Read the output for each image id from a folder of PNGs.

    Parameters
    ----------
    dir : str
        Folder of predictions: ``ID.png``, or LaMa's ``ID_mask000.png``.
    export : str
        Optional ``bench export`` folder the predictions were made from; its ``manifest.json``
        must carry the run's mask hash.
    resize : bool
        Resize predictions of another size to the input's instead of failing the image.
    allow_extra : bool
        Warn about PNGs that match no image id instead of refusing the run.

    Raises
    ------
    PredictionError
        ``dir`` is not a folder, is an export folder itself, or ``export`` has no manifest.
    """

    needs_image_id = True
    input_name = "prediction file"

    def __init__(self, dir: str = "", export: str = "", resize: bool = False, allow_extra: bool = False):
        if not dir:
            raise PredictionError("predictions: name the folder of outputs, e.g. predictions:dir=PATH")
        self.dir = Path(dir)
        if not self.dir.is_dir():
            raise PredictionError(f"predictions:dir={dir}: no such folder")
        if _read_manifest(self.dir / MANIFEST) is not None:
            raise PredictionError(
                f"predictions:dir={dir} is a `bench export` folder (the tool's inputs); point "
                "dir= at the folder the tool wrote its outputs to, and export= at this one"
            )
        self.export = Path(export) if export else None
        self.manifest: dict[str, Any] | None = None
        if self.export is not None:
            self.manifest = _read_manifest(self.export / MANIFEST)
            if self.manifest is None:
                raise PredictionError(f"predictions:export={export}: no {MANIFEST} of `bench export` in it")
        self.resize = resize
        self.allow_extra = allow_extra
        self._files: dict[str, list[Path]] | None = None

    @property
    def files(self) -> dict[str, list[Path]]:
        """``{image id: [PNG files naming it]}`` of the folder, read once per process."""
        if self._files is None:
            files: dict[str, list[Path]] = {}
            for path in sorted(self.dir.iterdir()):
                if path.is_file() and path.suffix.lower() == ".png":
                    files.setdefault(prediction_id(path.stem), []).append(path)
            self._files = files
        return self._files

    def check_protocol(self, image_ids: Sequence[str], mask_sha256: str) -> None:
        """Refuse predictions made for other masks, files that name no image, and two files for one image."""
        where = f"predictions:dir={self.dir}"
        if self.manifest is not None and self.manifest.get("mask_sha256") != mask_sha256:
            m = self.manifest
            raise PredictionError(
                f"{where}: {self.export} was exported under masks sha256 {str(m.get('mask_sha256'))[:12]} "
                f"({m.get('dataset', {}).get('dataset', '?')}, n = {m.get('n', '?')}, seed {m.get('seed', '?')}, "
                f"masks {m.get('mask_family', '?')}), this run's masks are {mask_sha256[:12]}: run with the "
                "export's --dataset/--n/--seed/--masks, or export this protocol again"
            )
        if self.manifest is None:
            log.warning(
                "%s: no export= given, so the mask hash of the protocol the outputs were made from is not "
                "checked; pass export=EXPORT_DIR (the `bench export` folder)",
                where,
            )
        ids = set(image_ids)
        twice = {i: paths for i, paths in self.files.items() if len(paths) > 1}
        if twice:
            first = sorted(twice)[0]
            raise PredictionError(
                f"{where}: {len(twice)} image(s) have two predictions, e.g. "
                f"{', '.join(p.name for p in twice[first])}; keep one file per image"
            )
        extra = sorted(p.name for i, paths in self.files.items() if i not in ids for p in paths)
        other = sorted(
            p.name
            for p in self.dir.iterdir()
            if p.is_file()
            and p.suffix.lower() in IMAGE_SUFFIXES
            and p.suffix.lower() != ".png"
            and prediction_id(p.stem) in ids
        )
        if other:
            raise PredictionError(
                f"{where}: {len(other)} prediction(s) are not PNG, e.g. {other[0]}; save "
                "lossless PNGs (a lossy format changes the known pixels too)"
            )
        if extra:
            text = (
                f"{where}: {len(extra)} PNG(s) match no image of this run, e.g. {', '.join(extra[:3])} "
                f"(the run's ids look like {sorted(ids)[0]}.png or {sorted(ids)[0]}{LAMA_MASK_SUFFIX}.png)"
            )
            if not self.allow_extra:
                raise PredictionError(text + "; remove them, or add allow_extra=1")
            log.warning("%s; ignored (allow_extra=1)", text)
        missing = [i for i in image_ids if i not in self.files]
        if missing:
            log.warning(
                "%s: no prediction for %d of %d images (first: %s); each is an error row",
                where,
                len(missing),
                len(image_ids),
                missing[0],
            )

    def input_fingerprint(self, image_id: str) -> str | None:
        """SHA-256 of the prediction file of ``image_id`` (its name and bytes); None when there is none.

        An unreadable file has a digest of its own, so it is tried (and recorded as an error) again.
        """
        paths = self.files.get(image_id)
        if not paths:
            return None
        name = paths[0].name
        try:
            return json_sha256([name, file_sha256(paths[0])])
        except OSError as err:
            return json_sha256([name, "unreadable", str(err.strerror or err)])

    def inpaint(self, image: np.ndarray, mask: np.ndarray, **kwargs: Any) -> np.ndarray:
        image_id = kwargs["image_id"]
        paths = self.files.get(image_id)
        if not paths:
            raise PredictionError(
                f"no prediction for image {image_id} in {self.dir} (expected {image_id}.png or "
                f"{image_id}{LAMA_MASK_SUFFIX}.png)"
            )
        out = read_prediction(paths[0])
        if out.shape[:2] != image.shape[:2]:
            if not self.resize:
                raise PredictionError(
                    f"{paths[0]}: prediction is {out.shape[1]}x{out.shape[0]} but image "
                    f"{image_id} is {image.shape[1]}x{image.shape[0]}; add resize=1 to resize it"
                )
            out = resize_to(out, image.shape[:2])
        return out


def _read_manifest(path: Path) -> dict[str, Any] | None:
    """An export manifest, or None when ``path`` is not one."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("format") == FORMAT else None
