"""Inception features on every core: a pool of single-threaded processes.

One process with two torch threads runs the Inception network about 1.7x slower than two
processes with one thread each on this project's 2-core machines (threads synchronise at every
layer; measured 48-60 s vs 29-34 s for 32 images of 160 px under the same load). A run therefore
hands its outputs (and the real images, when their features are not cached) to
:class:`FeaturePool` as they are produced (see :mod:`bench.engine.feature_prefetch`). The processes run
at the lowest priority (nice 19), so they take only the cores the methods and the per-image
metrics leave idle, and the whole machine once the last method has finished.

Features computed here are the network's own float32 outputs; they differ from a two-thread
extraction in the process by at most a few 1e-6 relative (reduction order), far inside the
1e-4 that FID comparisons allow, and are entered into :mod:`bench.metrics.feature_memo`'s memo under the
same key the metrics look up, so the metrics run unchanged.
"""

from __future__ import annotations

import math
import os
from concurrent.futures import Future
from typing import Any

import numpy as np

from bench.core.children import new_pool, stop_pool

# Images per task: small enough that the pool's processes share the tail of the work evenly,
# large enough that the per-task pickling (8-bit images) is negligible.
CHUNK = 16
# The pool works beside the run's own computation: at the lowest priority it never delays a method
# (whose timing is recorded) and still uses every idle core.
NICE = 19


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


def default_workers() -> int:
    """Processes for feature extraction: one per usable core, none (in-process) on one core."""
    cores = usable_cores()
    return cores if cores >= 2 else 0


def _init_worker() -> None:
    import torch

    try:
        os.nice(NICE)
    except (AttributeError, OSError):  # not on POSIX, or not permitted: run at normal priority
        pass
    torch.set_num_threads(1)


def _extract(images_u8: list[np.ndarray], fid_features: str | None, batch_size: int) -> np.ndarray:
    from bench.core.images import from_uint8
    from bench.metrics.inception import load_extractor

    extractor = load_extractor(fid_features)  # loaded once per process (load_extractor keeps it)
    return extractor([from_uint8(im) for im in images_u8], batch_size=batch_size, progress=False)


class PendingFeatures:
    """Features of one image list, being extracted in chunks by the pool."""

    def __init__(self, parts: list[Future], n: int):
        self._parts = parts
        self.n = n

    def result(self) -> np.ndarray:
        """``N x D`` float64 features in image order (waits for the pool)."""
        feats = np.concatenate([f.result() for f in self._parts], axis=0)
        if feats.shape[0] != self.n:
            raise RuntimeError(f"the feature pool returned {feats.shape[0]} rows for {self.n} images")
        return feats

    def cancel(self) -> None:
        for f in self._parts:
            f.cancel()


class FeaturePool:
    """A pool of ``workers`` single-threaded processes extracting FID features.

    Parameters
    ----------
    workers : int
        Number of processes (>= 1).
    fid_features : str or None
        ``--fid-features`` (None: the standard Inception).
    batch_size : int
        Images per forward pass inside a process.
    """

    def __init__(self, workers: int, fid_features: str | None, batch_size: int):
        if workers < 1:
            raise ValueError(f"a feature pool needs at least one process, got {workers}")
        self.workers = workers
        self.fid_features = fid_features
        self.batch_size = batch_size
        self._pool = new_pool(workers, _init_worker)

    def submit(self, images: list[np.ndarray]) -> PendingFeatures:
        """Start extracting the features of ``images`` (contract images, already 8-bit exact)."""
        size = max(1, min(CHUNK, math.ceil(len(images) / self.workers)))
        parts = [self.extract(images[i : i + size]) for i in range(0, len(images), size)]
        return PendingFeatures(parts, len(images))

    def extract(self, images: list[np.ndarray]) -> Future:
        """Start one task: the features of ``images`` (a chunk), as an ``N x D`` float64 future.

        Raises
        ------
        ValueError
            When an image is not 8-bit exact (its features would be another image's).
        """
        from bench.core.images import from_uint8, to_uint8

        # 8-bit images are a quarter of the pickled bytes, and exact: the run's images are PNG values.
        u8 = [to_uint8(im) for im in images]
        for i, (im, q) in enumerate(zip(images, u8)):
            if not np.array_equal(from_uint8(q), im):
                raise ValueError(
                    f"images[{i}] is not an 8-bit image: the pool would extract features of "
                    "another image (quantise with bench.core.images.quantize first)"
                )
        return self._pool.submit(_extract, u8, self.fid_features, self.batch_size)

    def close(self, abort: bool = False) -> None:
        """Stop the processes: pending work is cancelled, and with ``abort`` running work is killed too."""
        if abort:
            stop_pool(self._pool, abort=True)
        else:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def __enter__(self) -> FeaturePool:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        self.close(abort=exc_type is not None)
