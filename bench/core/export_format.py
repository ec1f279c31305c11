"""The file layout of an exported test set and of the predictions read back from it.

One place for the writer (:mod:`bench.experiments.export`) and the reader
(:mod:`methods.predictions.folder`), so both agree on names and mask values.

Layouts (``bench export --layout``):

``lama``
    ``OUT/ID.png`` (the masked input, holes black) and ``OUT/ID_mask000.png`` (255 = hole),
    as LaMa's ``bin/predict.py`` reads a folder; it writes ``ID_mask000.png`` predictions.
``mat``
    ``OUT/images/ID.png`` and ``OUT/masks/ID.png`` with 0 = hole and 255 = known, as MAT's
    ``generate_image.py --dpath --mpath`` reads them (paired by sorted name); it writes ``ID.png``.

Either way ``OUT/manifest.json`` describes the protocol (:data:`FORMAT`) and ``OUT/masks.json``
is the run's mask manifest, whose ``sha256`` a run must share to score the predictions.
"""

from __future__ import annotations

import re

FORMAT = "inpaint-bench export 1"
MANIFEST = "manifest.json"
MASKS = "masks.json"
LAYOUTS = ("lama", "mat")
LAMA_MASK_SUFFIX = "_mask000"
# LaMa names every mask NAME_maskNNN.png and its prediction after the mask.
_LAMA_NAME = re.compile(r"^(?P<id>.+)_mask\d{3}$")
# The hole value of the exported mask PNGs, per layout (the other pixels get 255 - this).
HOLE_VALUE = {"lama": 255, "mat": 0}


def input_name(layout: str, image_id: str) -> str:
    """Path of an exported masked input, relative to the export folder."""
    return f"{image_id}.png" if layout == "lama" else f"images/{image_id}.png"


def mask_name(layout: str, image_id: str) -> str:
    """Path of an exported mask, relative to the export folder."""
    return f"{image_id}{LAMA_MASK_SUFFIX}.png" if layout == "lama" else f"masks/{image_id}.png"


def prediction_id(stem: str) -> str:
    """The image id a prediction file stem names: ``ID`` for ``ID`` and for LaMa's ``ID_mask000``."""
    match = _LAMA_NAME.match(stem)
    return match.group("id") if match else stem
