"""The pure functions a Dask worker runs: inpaint a chunk, extract features, measure a variant.

Inputs travel as image ids plus a :class:`DataRef` (the worker loads the images
itself) or, when only the client sees the data, as 8-bit arrays. Masks are derived
from (seed, image id, shape, family) exactly as on the client. Every image and mask
is checked against the client's SHA-256, so a worker with other data stops the run
with a message instead of silently producing other numbers.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.core.digest import image_sha256
from bench.core.images import from_uint8, quantize, to_uint8
from bench.core.lru import ByteLRU
from bench.engine.evaluate import execute, measure_method, score, sweep_metrics
from bench.engine.features import FeatureRequest
from bench.inputs.data import Sample


class DataMismatchError(RuntimeError):
    """A worker cannot load the client's images, masks or feature network as the client has them."""


@dataclass(frozen=True)
class DataRef:
    """Where a worker finds the images: the arguments of :func:`bench.inputs.data.get_source`.

    Attributes
    ----------
    dataset : str
        ``builtin``, ``celeba`` or ``folder``.
    root : str or None
        Absolute data root (workers do not share the client's working directory).
    split : str
        Split for celeba and builtin.
    size : int
        Preprocessing size.
    """

    dataset: str
    root: str | None
    split: str
    size: int


def data_ref(dataset: str, data_root: str | os.PathLike | None, split: str, size: int) -> DataRef:
    """A :class:`DataRef` with the root made absolute."""
    root = None if data_root is None else os.path.abspath(os.fspath(data_root))
    return DataRef(dataset, root, split, int(size))


def _where() -> str:
    return f"worker on {socket.gethostname()} (pid {os.getpid()})"


# ---------------------------------------------------------------- per-process caches

# A worker process serves many tasks of one run: sources, images and methods are loaded once.
_LOCK = threading.Lock()
_SOURCES: dict[DataRef, Any] = {}
_IMAGES = ByteLRU(256 << 20)  # a worker's images by (data, id), bounded in bytes whatever their size
_METHODS = threading.local()  # methods hold state (networks, buffers): one instance per thread


def _source(data: DataRef):
    from bench.inputs.data import get_source

    with _LOCK:
        if data not in _SOURCES:
            try:
                _SOURCES[data] = get_source(data.dataset, data.root, split=data.split, size=data.size)
            except (OSError, ValueError) as err:
                raise DataMismatchError(
                    f"{_where()} cannot open --dataset {data.dataset} --data-root {data.root}: "
                    f"{err}; mount the data at the same path on every worker"
                ) from None
        return _SOURCES[data]


def _load(data: DataRef, image_id: str) -> np.ndarray:
    from bench.inputs.data import ImageLoadError

    key = (data, image_id)
    with _LOCK:
        cached = _IMAGES.get(key)
        if cached is not None:
            return cached
    try:
        image = quantize(_source(data).load(image_id))
    except (ImageLoadError, OSError, KeyError) as err:
        raise DataMismatchError(
            f"{_where()} cannot load image {image_id} of --dataset {data.dataset}"
            f"{' --data-root ' + data.root if data.root else ''}: {err}; mount the same data "
            "at the same path on every worker"
        ) from None
    with _LOCK:
        _IMAGES.put(key, image)
    return image


def samples(data: DataRef, ids: list[str], digests: list[str], arrays: list[np.ndarray] | None = None) -> list[Sample]:
    """The client's images on this worker, checked pixel for pixel by hash.

    Parameters
    ----------
    data : DataRef
        Where to load from (unused when ``arrays`` is given).
    ids, digests : list of str
        Image ids and the client's :func:`image_sha256` of each.
    arrays : list of np.ndarray, optional
        ``uint8`` images sent by the client when workers cannot see the data.

    Raises
    ------
    DataMismatchError
        An image cannot be loaded or differs from the client's.
    """
    out = []
    for k, (image_id, digest) in enumerate(zip(ids, digests)):
        image = from_uint8(arrays[k]) if arrays is not None else _load(data, image_id)
        got = image_sha256(image)
        if got != digest:
            raise DataMismatchError(
                f"{_where()} loaded image {image_id} with other pixels than the client (sha256 {got[:12]} vs "
                f"{digest[:12]}): the data under {data.root or data.dataset} differs between machines; "
                "give every worker the same files (or the same package versions for builtin)"
            )
        out.append(Sample(image_id, image))
    return out


def masks(samples_: list[Sample], seed: int, family: str, digests: list[str]) -> list[tuple[np.ndarray, list]]:
    """Each image's mask derived from (seed, id, shape, family), checked against the client's hash.

    Raises
    ------
    DataMismatchError
        A mask differs from the client's (another version of the mask code).
    """
    from bench.inputs.masks import make_mask, mask_digest

    out = []
    for sample, digest in zip(samples_, digests):
        try:
            mask, rects = make_mask(seed, sample.id, sample.image.shape[:2], family)
        except (OSError, ValueError) as err:  # MaskError is a ValueError: e.g. a mask folder this worker lacks
            raise DataMismatchError(
                f"{_where()} cannot draw the mask of {sample.id} under --masks {family}: "
                f"{err}; mask files must be at the same absolute path on every worker"
            ) from None
        got = mask_digest(sample.id, mask)
        if got != digest:
            raise DataMismatchError(
                f"{_where()} drew another mask for {sample.id} (sha256 {got[:12]} vs the "
                f"client's {digest[:12]}): the worker's mask code differs from the client's"
            )
        out.append((mask, rects))
    return out


def _method(spec: str):
    import methods

    cache = getattr(_METHODS, "cache", None)
    if cache is None:
        cache = _METHODS.cache = OrderedDict()
    if spec not in cache:
        cache[spec] = methods.create(spec)
        while len(cache) > 2:  # sweeps send a new variant per task; keep memory flat
            cache.popitem(last=False)
    cache.move_to_end(spec)
    return cache[spec]


def check_suite(expected: dict[str, str | None]) -> None:
    """Refuse to work for a client of another suite version (workers may join after the start check)."""
    from bench.engine.probe import suite_identity

    mine = suite_identity()
    if mine != expected:
        raise DataMismatchError(
            f"{_where()} runs inpaint-bench {describe_identity(mine)}, the client "
            f"{describe_identity(expected)}: install the same version on every worker"
        )


def describe_identity(identity: dict[str, str | None]) -> str:
    """``0.1.0 (commit 1a2b3c4d5e6f)`` or ``0.1.0`` when no commit is known."""
    commit = identity.get("commit")
    return f"{identity.get('version')}" + (f" (commit {commit[:12]})" if commit else "")


# ---------------------------------------------------------------- work units


def inpaint_chunk(
    spec: str,
    data: DataRef,
    ids: list[str],
    image_digests: list[str],
    mask_digests: list[str],
    seed: int,
    family: str,
    metric_names: list[str],
    suite: dict[str, str | None],
    arrays: list[np.ndarray] | None = None,
    features=None,
) -> list[tuple[str, dict[str, Any], np.ndarray | None, np.ndarray | None]]:
    """Run one method on a chunk of images and score them, exactly as the local runner does.

    With ``features`` (a :class:`~bench.engine.features.FeatureRequest`) the outputs' features
    are extracted here, where the outputs are, and only they travel with the rows.

    Returns
    -------
    list of tuple
        ``(image_id, record row, composited 8-bit output or None, D float32 features or None)``
        per image, in input order.
    """
    from bench.metrics import get_metric

    check_suite(suite)
    chunk = samples(data, ids, image_digests, arrays)
    drawn = masks(chunk, seed, family, mask_digests)
    rects = {s.id: r for s, (_, r) in zip(chunk, drawn)}
    metrics = [get_metric(name) for name in metric_names]
    method = _method(spec)
    out = []
    for sample, mask, result, seconds, err in execute(method, spec, [(s, m) for s, (m, _) in zip(chunk, drawn)]):
        row, final = score(spec, sample, mask, rects[sample.id], result, seconds, err, metrics)
        out.append((sample.id, row, None if final is None else to_uint8(final), final))
    made = [k for k, item in enumerate(out) if item[3] is not None]
    feats: dict[int, np.ndarray] = {}
    if features is not None and made:
        rows = _extractor(features)([out[k][3] for k in made], batch_size=features.batch_size, progress=False)
        feats = {k: rows[j].astype(np.float32) for j, k in enumerate(made)}
    return [(image_id, row, u8, feats.get(k)) for k, (image_id, row, u8, _) in enumerate(out)]


def _extractor(request):
    from bench.metrics.inception import load_extractor

    try:
        extractor = load_extractor(request.fid_features, device=request.device)
    except Exception as err:  # a missing file or package is the worker's setup, named in the message
        raise DataMismatchError(f"{_where()} cannot load the FID feature network: {err}") from None
    if extractor.sha256 != request.extractor_sha256:
        raise DataMismatchError(
            f"{_where()} has another feature network ({extractor.path}, sha256 "
            f"{extractor.sha256[:12]} vs the client's {request.extractor_sha256[:12]})"
        )
    return extractor


def features_chunk(
    data: DataRef,
    ids: list[str],
    digests: list[str],
    request,
    suite: dict[str, str | None],
    arrays: list[np.ndarray] | None = None,
) -> np.ndarray:
    """Features of the client's images ``ids`` (``N x D`` float32), loaded and checked on this worker."""
    check_suite(suite)
    images = [s.image for s in samples(data, ids, digests, arrays)]
    return _extractor(request)(images, batch_size=request.batch_size, progress=False).astype(np.float32)


def measure_variant(
    spec: str,
    data: DataRef,
    ids: list[str],
    image_digests: list[str],
    mask_digests: list[str],
    seed: int,
    family: str,
    fid_features: str | None,
    extractor_sha256: str,
    real_features: np.ndarray,
    n_boot: int,
    suite: dict[str, str | None],
    arrays: list[np.ndarray] | None = None,
):
    """One ablation variant on the whole protocol: :func:`bench.engine.evaluate.measure_method` on a worker.

    Returns
    -------
    tuple
        ``(Measurement, seconds)``: the measurement and the wall time of the variant.
    """
    check_suite(suite)
    start = time.perf_counter()
    chunk = samples(data, ids, image_digests, arrays)
    drawn = masks(chunk, seed, family, mask_digests)
    extractor = _extractor(FeatureRequest(fid_features, extractor_sha256))
    import methods

    m = measure_method(
        methods.create(spec),
        chunk,
        {s.id: mk for s, (mk, _) in zip(chunk, drawn)},
        extractor,
        real_features,
        n_boot=n_boot,
        seed=seed,
        metrics=sweep_metrics(),
    )
    return m, time.perf_counter() - start
