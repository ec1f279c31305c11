"""The evaluation protocol: which images, and which mask each one gets.

Both the runner and the ablation sweeps start here, so an ablation is measured
on exactly the images and masks a ``bench run`` with the same options uses.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np

from bench.core.digest import image_sha256
from bench.core.images import quantize
from bench.core.lru import ByteLRU
from bench.core.stats import count_units
from bench.inputs.data import ImageLoadError, Source, get_source
from bench.inputs.data.io import IMAGE_SUFFIXES, printable
from bench.inputs.masks import Rect, get_family, manifest_entry, manifest_of
from bench.inputs.masks.files import unmatched_mask_files

log = logging.getLogger("bench")


class NoUsableImagesError(RuntimeError):
    """A data source gave no usable image; the message names the source and why."""


# Decoded images and drawn masks kept between uses: a run visits each image once per method, and
# a set of 280 images at 160 px (86 MB) is decoded once; larger sets are decoded again when needed.
IMAGE_CACHE_BYTES = 256 << 20
MASK_CACHE_BYTES = 64 << 20


class ImageChangedError(RuntimeError):
    """An image of the data source changed (or vanished) while the run was using it."""


class LazySample:
    """One image of a protocol: its id, and its pixels decoded when asked (a :class:`Sample`'s interface)."""

    __slots__ = ("_protocol", "id")

    def __init__(self, protocol: Protocol, image_id: str):
        self._protocol = protocol
        self.id = image_id

    @property
    def image(self) -> np.ndarray:
        """The 8-bit-exact contract image (decoded again when it left the protocol's cache)."""
        return self._protocol.image(self.id)

    def __repr__(self) -> str:
        return f"LazySample({self.id!r})"


class MaskSet(Mapping):
    """``{image_id: (mask, rects)}`` of a protocol, each mask drawn again when it left the cache."""

    def __init__(self, protocol: Protocol):
        self._protocol = protocol

    def __getitem__(self, image_id: str) -> tuple[np.ndarray, list[Rect]]:
        return self._protocol.mask_and_rects(image_id)

    def __iter__(self) -> Iterator[str]:
        return iter(self._protocol.shapes)

    def __len__(self) -> int:
        return len(self._protocol.shapes)


class Pairs(Sequence):
    """``(sample, mask)`` pairs of a protocol's images, made when indexed (see :meth:`Protocol.pairs`)."""

    def __init__(self, protocol: Protocol, ids: list[str]):
        self._protocol = protocol
        self.ids = ids

    def __len__(self) -> int:
        return len(self.ids)

    @overload
    def __getitem__(self, k: int) -> tuple[LazySample, np.ndarray]: ...

    @overload
    def __getitem__(self, k: slice) -> list[tuple[LazySample, np.ndarray]]: ...

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self._pair(i) for i in self.ids[k]]
        return self._pair(self.ids[k])

    def _pair(self, image_id: str) -> tuple[LazySample, np.ndarray]:
        return self._protocol.sample(image_id), self._protocol.mask(image_id)


@dataclass
class Protocol:
    """The images with their masks, read from the source when needed (nothing holds the whole set).

    Attributes
    ----------
    source : Source
        Where the images come from.
    skipped : list of dict
        ``{"id", "reason"}`` of images that could not be used.
    manifest : dict
        Mask manifest (see :func:`bench.inputs.masks.manifest`), with its ``sha256``.
    identity : dict
        What makes two runs comparable: dataset description, n, seed, mask family, ids hash.
    family : MaskFamily
        Draws each image's mask from (seed, id, shape).
    seed : int
        The mask seed.
    shapes : dict
        ``{image_id: (height, width)}`` of the usable images, in id order.
    image_digests : dict
        ``{image_id: sha256}`` of each image's 8-bit pixels and shape
        (:func:`bench.core.digest.image_sha256`).
    groups : dict
        ``{image_id: group}``: the resampling unit of each image (source photo,
        CelebA identity, ...; see :meth:`bench.inputs.data.Source.groups`). Not part of
        ``identity``: it changes intervals, not the images, masks or records.
    unit : str
        One-line description of the resampling unit (see :attr:`bench.inputs.data.Source.unit`).
    """

    source: Source
    skipped: list[dict[str, str]]
    manifest: dict[str, Any]
    identity: dict[str, Any]
    family: Any
    seed: int
    shapes: dict[str, tuple[int, int]]
    image_digests: dict[str, str]
    groups: dict[str, str] = field(default_factory=dict)
    unit: str = "images (each image its own unit)"
    image_cache: ByteLRU = field(default_factory=lambda: ByteLRU(IMAGE_CACHE_BYTES), repr=False)
    mask_cache: ByteLRU = field(default_factory=lambda: ByteLRU(MASK_CACHE_BYTES), repr=False)

    @property
    def ids(self) -> list[str]:
        """The usable images' ids, in order."""
        return list(self.shapes)

    @property
    def samples(self) -> list[LazySample]:
        """The usable images, in id order, each decoded when its ``image`` is read."""
        return [LazySample(self, i) for i in self.shapes]

    @property
    def masks(self) -> MaskSet:
        """``{image_id: (mask, rects)}``, drawn when read."""
        return MaskSet(self)

    @property
    def n_units(self) -> int:
        """Number of distinct resampling units among the images."""
        return count_units(list(self.shapes), self.groups)

    def sample(self, image_id: str) -> LazySample:
        """One image by id."""
        if image_id not in self.shapes:
            raise KeyError(f"{image_id} is not an image of this protocol")
        return LazySample(self, image_id)

    def image(self, image_id: str) -> np.ndarray:
        """One image's pixels as benchmarked: 8-bit exact, checked against the digest taken first.

        Raises
        ------
        ImageChangedError
            The file can no longer be read, or holds other pixels than when the run started.
        """
        image = self.image_cache.get(image_id)
        if image is not None:
            return image
        try:
            image = quantize(self.source.load(image_id))
        except ImageLoadError as err:
            raise ImageChangedError(f"{err}: it could be read when the run started") from None
        if image_sha256(image) != self.image_digests[image_id]:
            raise ImageChangedError(
                f"{image_id} of {self.source.name}: its pixels changed while the run was using it; rerun to resume"
            )
        image.setflags(write=False)  # shared by every user of the cache
        self.image_cache.put(image_id, image)
        return image

    def mask_and_rects(self, image_id: str) -> tuple[np.ndarray, list[Rect]]:
        """One image's mask and rectangles (empty for other families), drawn as when the run started.

        The mask is shared with later callers: copy it before changing it (methods get copies).
        """
        item = self.mask_cache.get(image_id)
        if item is None:
            mask, rects = self.family(self.seed, image_id, self.shapes[image_id])
            item = (mask, rects)
            self.mask_cache.put(image_id, item)
        return item

    def mask(self, image_id: str) -> np.ndarray:
        """The bool mask of one image."""
        return self.mask_and_rects(image_id)[0]

    def image_digest(self, image_id: str) -> str:
        """SHA-256 of one image's pixels as benchmarked and saved."""
        return self.image_digests[image_id]

    def mask_digest(self, image_id: str) -> str:
        """SHA-256 of one image's mask, as in the mask manifest (``masks.json``)."""
        return self.manifest["masks"][image_id]["sha256"]

    def release(self) -> None:
        """Drop the decoded images and drawn masks kept for later use (made again if asked for)."""
        self.image_cache.clear()
        self.mask_cache.clear()

    def pairs(self, ids: list[str]) -> Pairs:
        """``(sample, mask)`` of each of ``ids``, made when read: a method's work list that holds no pixels."""
        return Pairs(self, list(ids))

    def mask_area(self, image_id: str) -> float:
        """Fraction of one image's pixels that are missing (from the manifest)."""
        return float(self.manifest["masks"][image_id]["area"])


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
    proto = Protocol(source, [], {}, {}, family, seed, {}, {})
    entries: dict[str, dict] = {}
    # One pass over the source: each usable image is decoded, hashed and masked, and only what
    # identifies it is kept (its pixels stay in the bounded cache, if at all).
    for image_id in source.ids():
        if n is not None and len(proto.shapes) >= n:
            break
        try:
            # Every image is benchmarked as it is saved (8 bits), so records can be recomputed from the PNGs.
            image = quantize(source.load(image_id))
        except ImageLoadError as err:
            proto.skipped.append({"id": image_id, "reason": str(err)})
            log.warning("skipping %s", err)
            continue
        image.setflags(write=False)
        proto.shapes[image_id] = image.shape[:2]
        proto.image_digests[image_id] = image_sha256(image)
        proto.image_cache.put(image_id, image)
        mask, rects = proto.mask_and_rects(image_id)
        entries[image_id] = manifest_entry(image_id, mask, rects)
    if not proto.shapes:
        raise NoUsableImagesError(_no_images_message(source, proto.skipped))
    if n is not None and len(proto.shapes) < n:
        log.warning("only %d usable images in %s (asked for %d)", len(proto.shapes), dataset, n)
    warn_large_images(proto.shapes)
    if family.name == "file":
        _warn_unmatched(family.options["dir"], source.ids())
    proto.manifest = manifest_of(seed, family.spec, entries)
    proto.identity = {
        "dataset": source.describe(),
        "n": len(proto.shapes),
        "seed": seed,
        "mask_family": family.spec,
        "ids_sha256": ids_hash(proto.ids),
    }
    proto.groups = source.groups(proto.ids)
    proto.unit = source.unit
    return proto


LARGE_IMAGE_PIXELS = 4_000_000


def warn_large_images(shapes: dict[str, tuple[int, int]], limit: int = LARGE_IMAGE_PIXELS) -> list[str]:
    """Warn about images above ``limit`` pixels, which only ``--size 0`` lets through.

    Method time and memory grow with the pixel count (minutes and gigabytes for ``patch`` on one
    24-megapixel photo), so a run that looks stuck should say why up front.

    Parameters
    ----------
    shapes : dict
        ``{image_id: (height, width)}``.
    limit : int
        Pixels above which an image is large.

    Returns
    -------
    list of str
        Ids of the large images (empty when none).
    """
    large = [i for i, (h, w) in shapes.items() if h * w > limit]
    if large:
        big = max(large, key=lambda i: shapes[i][0] * shapes[i][1])
        h, w = shapes[big]
        log.warning(
            "%d image(s) above %.0f megapixels (largest: %s, %dx%d = %.1f MP): methods can take minutes "
            "and several GB of memory per image at this size (patch: about 400 s and 4.5 GB at 24 MP on "
            "2 cores); pass --size 1024 (or smaller) to benchmark a resized copy",
            len(large),
            limit / 1e6,
            big,
            w,
            h,
            h * w / 1e6,
        )
    return large


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
