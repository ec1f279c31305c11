"""The one features stage: images in, feature rows out, into the run's store.

Every feature a set metric uses is extracted here, once, and written to the run's
:class:`~bench.metrics.feature_store.FeatureStore` as soon as its chunk is done: the real
images when the run starts, each output as soon as it is scored (so extraction overlaps the
methods), and whatever a resumed or older run still lacks at the end. A cluster's workers
extract their outputs' features where they make them (:mod:`bench.engine.tasks`) and the run
writes those rows to the same store; nothing else holds features.

Locally the stage extracts in ``workers`` single-threaded processes at the lowest priority
(nice 19): on a 2-core machine two one-thread processes run the Inception network about 1.7x
faster than one process with two threads (threads synchronise at every layer), and at nice 19
they take only the cores the methods leave idle, so a method's recorded time is not delayed.
With ``workers=0`` (one core, a GPU, or little work) it extracts in this process. The chunks in
flight are bounded by their bytes (two per process at least): a fast method's outputs bank work
for the processes to do while a slow method leaves them a core, and a large image set cannot
pile up in memory.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

import numpy as np

from bench.core.children import new_pool, stop_pool
from bench.core.images import from_uint8, to_uint8
from bench.metrics.feature_store import FeatureStore, shipped_store, store_for_writing

log = logging.getLogger("bench")

# Images per task: small enough that the processes share the tail of the work evenly, large
# enough that pickling 8-bit images is negligible.
CHUNK = 16
# Images per forward pass: small batches cost nothing per image on CPU and bound how long
# Ctrl-C waits (TorchScript runs a whole batch before Python sees the signal).
BATCH = 8
# Below this many images to extract, starting processes costs more than it saves.
POOL_MIN_IMAGES = 64
NICE = 19
# 8-bit images handed to the processes and not yet extracted: about 850 images of 160 px (enough
# for the processes to keep busy through a slow method after fast ones) or 85 of 512 px.
INFLIGHT_BYTES = 64 * 2**20


@dataclass(frozen=True)
class FeatureRequest:
    """Which network extracts a run's features, and where.

    Attributes
    ----------
    fid_features : str or None
        ``--fid-features`` (None: the standard Inception).
    extractor_sha256 : str
        The network file's sha256 as the run loaded it (a worker with another file is refused).
    device : str
        ``cpu`` or ``cuda[:N]`` (already resolved).
    batch_size : int
        Images per forward pass.
    """

    fid_features: str | None
    extractor_sha256: str
    device: str = "cpu"
    batch_size: int = BATCH


def usable_cores() -> int:
    """Cores this process may run on (``OMP_NUM_THREADS`` caps it when set)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        cores = min(cores, int(env))
    return cores


def default_workers(images: int, device: str = "cpu") -> int:
    """Processes for ``images`` features: one per core on a CPU with two or more, else 0 (in this process)."""
    cores = usable_cores()
    if device != "cpu" or cores < 2 or images < POOL_MIN_IMAGES:
        return 0
    return cores


def load_extractor(request: FeatureRequest):
    """The request's extractor (loaded once per process by :func:`bench.metrics.inception.load_extractor`)."""
    from bench.metrics.inception import load_extractor as load

    return load(request.fid_features, device=request.device)


def extract_u8(images_u8: list[np.ndarray], request: FeatureRequest) -> np.ndarray:
    """Features of 8-bit images as ``N x D`` float32 rows (what a worker process or cluster task runs)."""
    extractor = load_extractor(request)
    feats = extractor([from_uint8(im) for im in images_u8], batch_size=request.batch_size, progress=False)
    return feats.astype(np.float32)


def _init_worker() -> None:
    # The extractor sizes its threads from OMP_NUM_THREADS: without it each process would run two
    # threads on two cores beside the other process, and threads wait for each other at every layer.
    os.environ["OMP_NUM_THREADS"] = "1"
    import torch

    try:
        os.nice(NICE)
    except (AttributeError, OSError):  # not on POSIX, or not permitted: run at normal priority
        pass
    torch.set_num_threads(1)


class FeatureStage:
    """Extract features of images as they come and append them to a store.

    Parameters
    ----------
    store : FeatureStore
        Where rows go (the run's ``features/``).
    request : FeatureRequest
        The extractor.
    workers : int
        Processes (0: extract in this process).
    executor : Executor, optional
        A distributed executor: its workers extract the features (:meth:`extract_remote`).
    data : DataRef, optional
        Where the executor's workers load the images.
    """

    def __init__(
        self, store: FeatureStore, request: FeatureRequest, workers: int = 0, executor: Any = None, data: Any = None
    ):
        self.store = store
        self.request = request
        self.remote = executor is not None and executor.distributed
        self.workers = 0 if self.remote else workers
        self._executor, self._data = executor, data
        self._pool = new_pool(self.workers, _init_worker) if self.workers > 0 else None
        self._shipped = shipped_store(store.identity)
        self._copies: list[str] = []
        self._buffer: list[tuple[str, np.ndarray]] = []
        self._queued: set[str] = set()
        self._flight: list[tuple[Future, list[str], int]] = []
        self.extracted = 0

    # ------------------------------------------------------------ feeding

    def wants(self, digest: str) -> bool:
        """Whether an image with these pixels still needs extracting (not stored, shipped or queued).

        Shipped features are copied into the store here, so the run's store is complete on its own.
        """
        if digest in self._queued or digest in self.store:
            return False
        if self._shipped is not None and digest in self._shipped:
            self._queued.add(digest)
            self._copies.append(digest)
            if len(self._copies) >= 256:
                self._copy_shipped()
            return False
        return True

    def _copy_shipped(self) -> None:
        if self._copies and self._shipped is not None:
            self._write(self._copies, self._shipped.get(self._copies))
            self.extracted -= len(self._copies)  # copied, not extracted
            self._copies = []

    def add(self, digest: str, image: np.ndarray) -> None:
        """Queue one 8-bit-exact contract image unless its features are stored or queued."""
        if not self.wants(digest):
            return
        self._queued.add(digest)
        self._buffer.append((digest, image))
        if len(self._buffer) >= CHUNK:
            self.flush()

    def flush(self) -> None:
        """Send the queued images on (in this process: extract them now)."""
        self._copy_shipped()
        if not self._buffer:
            return
        digests = [d for d, _ in self._buffer]
        images = [im for _, im in self._buffer]
        self._buffer = []
        if self._pool is None:
            extractor = load_extractor(self.request)
            self._write(digests, extractor(images, batch_size=self.request.batch_size, progress=False))
            return
        u8 = [to_uint8(im) for im in images]
        for k, (im, q) in enumerate(zip(images, u8)):
            if not np.array_equal(from_uint8(q), im):
                raise ValueError(f"image {digests[k][:12]} is not 8-bit exact: its features would be another image's")
        self._flight.append((self._pool.submit(extract_u8, u8, self.request), digests, sum(q.nbytes for q in u8)))
        # Past the byte budget the next image waits instead of piling up.
        while len(self._flight) > 2 * self.workers and sum(f[2] for f in self._flight) > INFLIGHT_BYTES:
            self._collect(self._flight.pop(0))
        self._collect_done()

    def extract(self, items: Iterable[tuple[str, Callable[[], np.ndarray]]], desc: str, progress: bool) -> int:
        """Extract the features of every ``(digest, load)`` not stored yet, loading each image when its turn comes.

        Returns
        -------
        int
            How many images were extracted.
        """
        from tqdm import tqdm

        todo = [(d, load) for d, load in dict(items).items() if self.wants(d)]
        if not todo:
            return 0
        before = self.extracted
        with tqdm(total=len(todo), desc=f"features of {desc}", unit="img", disable=not progress, leave=False) as bar:
            for digest, load in todo:
                self.add(digest, load())
                bar.update(1)
            self.finish()
        return self.extracted - before

    def extract_remote(self, proto: Any, ids: list[str]) -> int:
        """Have the cluster's workers extract the features of the protocol's images ``ids`` and store them."""
        if not ids:
            return 0
        feats = self._executor.features(ids, proto, self._data, self.request)
        self._write([proto.image_digest(i) for i in ids], feats)
        return len(ids)

    def finish(self) -> None:
        """Extract what is queued and wait until every row is in the store."""
        self.flush()
        while self._flight:
            self._collect(self._flight.pop(0))

    # ------------------------------------------------------------ results

    def _collect_done(self) -> None:
        for item in [f for f in self._flight if f[0].done()]:
            self._flight.remove(item)
            self._collect(item)

    def _collect(self, item: tuple[Future, list[str], int]) -> None:
        future, digests, _ = item
        self._write(digests, future.result())

    def _write(self, digests: list[str], feats: np.ndarray) -> None:
        self.store.put(digests, np.asarray(feats, dtype=np.float32))
        self._queued.difference_update(digests)
        self.extracted += len(digests)

    def close(self, abort: bool = False) -> None:
        """Stop the processes; with ``abort`` running work is killed instead of awaited."""
        if self._pool is not None:
            if abort:
                stop_pool(self._pool, abort=True)
            else:
                self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self) -> FeatureStage:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        # Leaving on an exception (a stop signal among them) must not wait for a chunk under way.
        self.close(abort=exc_type is not None)


def open_stage(
    folder, request: FeatureRequest, reals: Iterable[str], outputs: int, workers: int | None, executor=None, data=None
) -> FeatureStage:
    """A run's stage over the store in ``folder``, with as many processes as its work is worth.

    Parameters
    ----------
    folder : path
        The run's ``features/``.
    request : FeatureRequest
        The extractor.
    reals : iterable of str
        Digests of the real images whose features the run needs.
    outputs : int
        Outputs the run will make.
    workers : int or None
        Processes; None: :func:`default_workers` for the real images not stored yet and the outputs.
    executor, data
        A distributed executor and where its workers find the images (see :class:`FeatureStage`).
    """
    store, aside = store_for_writing(folder, load_extractor(request).identity)
    if aside is not None:
        log.warning(
            "%s was not a readable feature store; moved to %s, its features are extracted again", store.path, aside
        )
    expected = len(store.missing(reals)) + outputs
    if workers is None:
        workers = default_workers(expected, request.device)
    return FeatureStage(store, request, workers if expected else 0, executor, data)
