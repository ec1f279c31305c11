"""Features of image lists, memoised in-process by content, and the extractor that makes them.

The set metrics of one method (``fid``, ``kid``, ...) ask for the same lists' features several
times; a process pool or a cluster can enter features it computed (:func:`remember_features`) so
that the metrics find them without a second pass. Importing this module does not import torch.
"""

from __future__ import annotations

import hashlib
import os
import weakref
from collections import OrderedDict

import numpy as np

from bench.core.images import check_image

# Small batches cost nothing per image on CPU and bound how long Ctrl-C waits: TorchScript
# runs a whole batch before Python sees the signal.
DEFAULT_BATCH = 8


def load_extractor(path: str | os.PathLike | None = None):
    """The FID feature extractor (standard Inception by default); see :func:`bench.metrics.inception.load_extractor`."""
    from bench.metrics.inception import load_extractor as _load

    return _load(path)


def images_sha256(images: list[np.ndarray]) -> str:
    """Hash of a list of contract images (shapes and pixels, in order).

    A list of frozen arrays (read-only, owning their memory, see :func:`freeze`) is hashed once
    and remembered while those very arrays live: a run's set metrics ask for the hash of the same
    lists a dozen times each, and sha256 of every image each time would cost seconds per run.
    """
    frozen = all(isinstance(im, np.ndarray) and im.flags.owndata and not im.flags.writeable for im in images)
    key = tuple(map(id, images))
    if frozen and key in _DIGESTS:
        refs, digest = _DIGESTS[key]
        if all(ref() is im for ref, im in zip(refs, images)):
            _DIGESTS.move_to_end(key)
            return digest
    h = hashlib.sha256()
    for i, im in enumerate(images):
        check_image(im, f"images[{i}]")
        h.update(repr(im.shape).encode())
        h.update(np.ascontiguousarray(im).data)  # the buffer itself: no copy
    digest = h.hexdigest()
    if frozen:
        _DIGESTS[key] = ([weakref.ref(im) for im in images], digest)
        while len(_DIGESTS) > _DIGESTS_SIZE:
            _DIGESTS.popitem(last=False)
    return digest


def freeze(image: np.ndarray) -> np.ndarray:
    """``image`` made read-only (copied first unless it owns its memory), so its hash can be remembered."""
    if not image.flags.owndata:
        image = image.copy()
    image.setflags(write=False)
    return image


# Hashes of lists of frozen images, by the ids of the arrays (checked against weak references,
# so a freed array's reused id is never served another list's hash).
_DIGESTS: OrderedDict[tuple[int, ...], tuple[list, str]] = OrderedDict()
_DIGESTS_SIZE = 64


# In-process memo of features by (extractor sha256, content hash): small, since
# each entry is N x D float64.
_MEMO: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_MEMO_SIZE = 8


def image_features(
    images: list[np.ndarray], extractor, progress: bool = False, batch_size: int = DEFAULT_BATCH
) -> np.ndarray:
    """Features of ``images``, memoised in-process by their content and the extractor.

    Returns
    -------
    np.ndarray
        ``N x D`` float64 (a read-only view; copy before modifying).
    """
    if len(images) == 0:
        raise ValueError("no images to extract features from")
    key = (extractor.sha256, images_sha256(images))
    if key in _MEMO:
        _MEMO.move_to_end(key)
        return _MEMO[key]
    feats = extractor(images, batch_size=batch_size, progress=progress)
    feats.setflags(write=False)
    _MEMO[key] = feats
    while len(_MEMO) > _MEMO_SIZE:
        _MEMO.popitem(last=False)
    return feats


def remember_features(images: list[np.ndarray], extractor, feats: np.ndarray) -> None:
    """Enter features computed elsewhere (a process pool, a cluster) into the memo.

    They go under the key :func:`image_features` looks up, so the metrics find them without a
    second pass.
    """
    feats = np.asarray(feats, dtype=np.float64)
    if feats.shape[0] != len(images):
        raise ValueError(f"features of {feats.shape[0]} images offered for {len(images)} images")
    feats.setflags(write=False)
    key = (extractor.sha256, images_sha256(images))
    _MEMO[key] = feats
    _MEMO.move_to_end(key)
    while len(_MEMO) > _MEMO_SIZE:
        _MEMO.popitem(last=False)
