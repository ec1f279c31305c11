"""The evaluation protocol: which images, and which mask each one gets.

Both the runner and the ablation sweeps start here, so an ablation is measured
on exactly the images and masks a ``bench run`` with the same options uses.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.data import Sample, Source, get_source
from bench.masks import Rect, make_mask, manifest

log = logging.getLogger("bench")


@dataclass
class Protocol:
    """Loaded images with their masks.

    Attributes
    ----------
    source : Source
        Where the images came from.
    samples : list of Sample
        The usable images, in id order.
    skipped : list of dict
        ``{"id", "reason"}`` of images that could not be used.
    masks : dict
        ``{image_id: (mask, rects)}``.
    manifest : dict
        Mask manifest (see :func:`bench.masks.manifest`), with its ``sha256``.
    identity : dict
        What makes two runs comparable: dataset description, n, seed, mask family, ids hash.
    """

    source: Source
    samples: list[Sample]
    skipped: list[dict[str, str]]
    masks: dict[str, tuple[np.ndarray, list[Rect]]]
    manifest: dict[str, Any]
    identity: dict[str, Any]

    def mask(self, image_id: str) -> np.ndarray:
        """The bool mask of one image."""
        return self.masks[image_id][0]


def ids_hash(ids: list[str]) -> str:
    """SHA-256 of an ordered list of ids."""
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def load_protocol(dataset: str = "builtin", data_root: str | None = None, split: str = "test", size: int = 160,
                  n: int | None = 280, seed: int = 0, mask_family: str = "rects") -> Protocol:
    """Load the first ``n`` usable images of a dataset and draw their masks.

    Raises
    ------
    RuntimeError
        When no image at all is usable.
    """
    source = get_source(dataset, data_root, split=split, size=size)
    samples, skipped = source.take(n, on_skip=lambda err: log.warning("skipping %s", err))
    if not samples:
        raise RuntimeError(f"no usable images in {dataset} ({len(skipped)} skipped)")
    if n is not None and len(samples) < n:
        log.warning("only %d usable images in %s (asked for %d)", len(samples), dataset, n)
    masks = {s.id: make_mask(seed, s.id, s.image.shape[:2], mask_family) for s in samples}
    mask_manifest = manifest(seed, mask_family, masks)
    identity = {"dataset": source.describe(), "n": len(samples), "seed": seed, "mask_family": mask_family,
                "ids_sha256": ids_hash([s.id for s in samples])}
    return Protocol(source, samples, skipped, masks, mask_manifest, identity)
