"""Scoring the outputs of a tool that runs elsewhere: ``predictions:dir=DIR``.

``bench export`` writes a protocol's masked inputs and masks for the tool
(:mod:`bench.experiments.export`); this family reads back what the tool wrote, one PNG per image id,
so the outputs are scored like any method's (:mod:`methods.predictions.folder`).
"""

from __future__ import annotations

from methods.base import Method
from methods.registry import register


@register(
    "predictions",
    family="external",
    summary="a folder of another tool's outputs (ID.png or LaMa's ID_mask000.png), made from `bench export`",
)
def predictions(dir: str = "", export: str = "", resize: bool = False, allow_extra: bool = False) -> Method:
    """Read each image's output from ``dir``.

    Parameters
    ----------
    dir : str
        Folder of predictions, one PNG per image id.
    export : str
        The ``bench export`` folder they were made from: its manifest must have this run's mask hash.
    resize : bool
        Resize predictions of another size to the input's (area when shrinking, cubic when enlarging).
    allow_extra : bool
        Only warn (instead of refusing the run) about PNGs in ``dir`` that match no image id.
    """
    from methods.predictions.folder import PredictionFolder

    return PredictionFolder(dir, export=export, resize=resize, allow_extra=allow_extra)
