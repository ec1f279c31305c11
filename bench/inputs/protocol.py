"""The evaluation protocol: which images, and which mask each one gets.

Both the runner and the ablation sweeps start here, so an ablation is measured
on exactly the images and masks a ``bench run`` with the same options uses.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.core.digest import image_sha256
from bench.core.images import quantize
from bench.core.stats import count_units
from bench.inputs.data import Sample, Source, get_source
from bench.inputs.data.io import IMAGE_SUFFIXES, printable
from bench.inputs.masks import Rect, get_family, manifest
from bench.inputs.masks.files import unmatched_mask_files

log = logging.getLogger("bench")


class NoUsableImagesError(RuntimeError):
    """A data source gave no usable image; the message names the source and why."""


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
        Mask manifest (see :func:`bench.inputs.masks.manifest`), with its ``sha256``.
    identity : dict
        What makes two runs comparable: dataset description, n, seed, mask family, ids hash.
    groups : dict
        ``{image_id: group}``: the resampling unit of each image (source photo,
        CelebA identity, ...; see :meth:`bench.inputs.data.Source.groups`). Not part of
        ``identity``: it changes intervals, not the images, masks or records.
    unit : str
        One-line description of the resampling unit (see :attr:`bench.inputs.data.Source.unit`).
    image_digests : dict
        ``{image_id: sha256}`` of each image's 8-bit pixels and shape
        (:func:`bench.core.digest.image_sha256`), filled on first use.
    """

    source: Source
    samples: list[Sample]
    skipped: list[dict[str, str]]
    masks: dict[str, tuple[np.ndarray, list[Rect]]]
    manifest: dict[str, Any]
    identity: dict[str, Any]
    groups: dict[str, str] = field(default_factory=dict)
    unit: str = "images (each image its own unit)"
    image_digests: dict[str, str] = field(default_factory=dict)

    @property
    def n_units(self) -> int:
        """Number of distinct resampling units among the images."""
        return count_units([s.id for s in self.samples], self.groups)

    def mask(self, image_id: str) -> np.ndarray:
        """The bool mask of one image."""
        return self.masks[image_id][0]

    def image_digest(self, image_id: str) -> str:
        """SHA-256 of one image's pixels as benchmarked and saved (hashed once per protocol)."""
        if image_id not in self.image_digests:
            sample = next(s for s in self.samples if s.id == image_id)
            self.image_digests[image_id] = image_sha256(sample.image)
        return self.image_digests[image_id]

    def mask_digest(self, image_id: str) -> str:
        """SHA-256 of one image's mask, as in the mask manifest (``masks.json``)."""
        return self.manifest["masks"][image_id]["sha256"]


def ids_hash(ids: list[str]) -> str:
    """SHA-256 of an ordered list of ids."""
    return hashlib.sha256("\n".join(ids).encode()).hexdigest()


def _warn_unmatched(folder: str, ids: list[str]) -> None:
    stray = unmatched_mask_files(folder, ids)
    if stray:
        names = ", ".join(printable(p.name) for p in stray[:5]) + (", ..." if len(stray) > 5 else "")
        log.warning(
            "%s: %d mask file%s match%s no image of the data source and %s ignored: %s",
            folder,
            len(stray),
            "s" if len(stray) > 1 else "",
            "" if len(stray) > 1 else "es",
            "are" if len(stray) > 1 else "is",
            names,
        )


def load_protocol(
    dataset: str = "builtin",
    data_root: str | None = None,
    split: str = "test",
    size: int = 160,
    n: int | None = 280,
    seed: int = 0,
    mask_family: str = "rects",
) -> Protocol:
    """Load the first ``n`` usable images of a dataset and draw their masks.

    ``mask_family`` is a mask family spec (``bench list masks``); the manifest and
    ``identity`` record its canonical form, so a resume with another family is refused.

    Raises
    ------
    NoUsableImagesError
        When no image at all is usable (the message names the folder and what it accepts).
    bench.inputs.masks.MaskError, KeyError
        A bad family spec (before any image is loaded), or a family that cannot mask an image.
    """
    family = get_family(mask_family)
    source = get_source(dataset, data_root, split=split, size=size)
    samples, skipped = source.take(n, on_skip=lambda err: log.warning("skipping %s", err))
    # Every image is benchmarked as it is saved (8 bits), so records can be recomputed from the PNGs.
    samples = [Sample(s.id, quantize(s.image)) for s in samples]
    if not samples:
        raise NoUsableImagesError(_no_images_message(source, skipped))
    if n is not None and len(samples) < n:
        log.warning("only %d usable images in %s (asked for %d)", len(samples), dataset, n)
    warn_large_images(samples)
    masks = {s.id: family(seed, s.id, s.image.shape[:2]) for s in samples}
    if family.name == "file":
        _warn_unmatched(family.options["dir"], source.ids())
    mask_manifest = manifest(seed, family.spec, masks)
    identity = {
        "dataset": source.describe(),
        "n": len(samples),
        "seed": seed,
        "mask_family": family.spec,
        "ids_sha256": ids_hash([s.id for s in samples]),
    }
    groups = source.groups([s.id for s in samples])
    digests = {s.id: image_sha256(s.image) for s in samples}
    return Protocol(source, samples, skipped, masks, mask_manifest, identity, groups, source.unit, digests)


LARGE_IMAGE_PIXELS = 4_000_000


def warn_large_images(samples: list[Sample], limit: int = LARGE_IMAGE_PIXELS) -> list[str]:
    """Warn about images above ``limit`` pixels, which only ``--size 0`` lets through.

    Method time and memory grow with the pixel count (minutes and gigabytes for ``patch`` on one
    24-megapixel photo), so a run that looks stuck should say why up front.

    Returns
    -------
    list of str
        Ids of the large images (empty when none).
    """
    large = [s for s in samples if s.image.shape[0] * s.image.shape[1] > limit]
    if large:
        big = max(large, key=lambda s: s.image.shape[0] * s.image.shape[1])
        h, w = big.image.shape[:2]
        log.warning(
            "%d image(s) above %.0f megapixels (largest: %s, %dx%d = %.1f MP): methods can take minutes "
            "and several GB of memory per image at this size (patch: about 400 s and 4.5 GB at 24 MP on "
            "2 cores); pass --size 1024 (or smaller) to benchmark a resized copy",
            len(large),
            limit / 1e6,
            big.id,
            w,
            h,
            h * w / 1e6,
        )
    return [s.id for s in large]


def _no_images_message(source: Source, skipped: list[dict[str, str]]) -> str:
    root = source.describe().get("root")
    where = f"{source.name} --data-root {root}" if root else source.name
    if skipped:
        return (
            f"no usable images in {where}: all {len(skipped)} image files were skipped (first: {skipped[0]['reason']})"
        )
    if source.name == "folder":
        return f"no image files in {where}; it needs files ending in {', '.join(IMAGE_SUFFIXES)}"
    return f"no images in {where}"
