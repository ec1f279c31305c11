"""A run's set-metric features, extracted on a process pool while the run goes on.

FID, KID and the other set metrics need feature-network features of the real images and of every
method's composited outputs. Extracting them only after the last method left the cores half idle
while the methods ran: the per-image metrics (SSIM) and the classic methods are single-threaded,
and small GLCIC batches do not keep two threads busy. A :class:`FeaturePrefetch` queues each
image as soon as it exists (the real images when the run starts, an output as soon as it is
scored), hands full chunks to a :class:`~bench.metrics.feature_pool.FeaturePool` of low-priority
processes, and gives the set metrics the features of any list of image ids, in that order.

Features are keyed by owner (a method spec, or :data:`REAL`) and image id. The set metrics load
the same images again from the run's PNGs; an output is queued as the 8-bit composite that was
written to that PNG, so the features belong to exactly the pixels the metrics see.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:  # the pool starts processes and loads the network: imported when first needed
    from bench.metrics.feature_pool import FeaturePool

# The owner of the real (ground-truth) images' features; method specs are non-empty strings.
REAL = None


class FeaturePrefetch:
    """Features of a run's images by (owner, image id), extracted on a pool started on demand.

    Parameters
    ----------
    workers : int
        Processes of the pool (>= 1).
    fid_features : str or None
        ``--fid-features`` (None: the standard Inception).
    batch_size : int
        Images per forward pass inside a process.
    min_images : int
        Work below which starting the processes costs more than it saves (0: always start).
    """

    def __init__(self, workers: int, fid_features: str | None, batch_size: int, min_images: int):
        if workers < 1:
            raise ValueError(f"a feature prefetch needs at least one process, got {workers}")
        self.workers, self.fid_features, self.batch_size = workers, fid_features, batch_size
        self.min_images = min_images
        self._pool: FeaturePool | None = None
        self._rows: dict[tuple[str | None, str], tuple[Future, int]] = {}
        self._buffer: dict[str | None, list[tuple[str, np.ndarray]]] = {}

    @property
    def started(self) -> bool:
        """Whether the pool's processes exist."""
        return self._pool is not None

    def start_if_worth(self, images: int) -> bool:
        """Start the pool when ``images`` features are reason enough (or it already runs); returns started."""
        if self._pool is None and images > 0 and images >= self.min_images:
            from bench.metrics.feature_pool import FeaturePool

            self._pool = FeaturePool(self.workers, self.fid_features, self.batch_size)
        return self.started

    def add(self, owner: str | None, image_id: str, image: np.ndarray) -> None:
        """Queue one 8-bit-exact contract image; a full chunk goes to the pool at once."""
        from bench.metrics.feature_pool import CHUNK

        if self._pool is None:
            raise RuntimeError("the feature pool is not started (start_if_worth first)")
        buffer = self._buffer.setdefault(owner, [])
        buffer.append((image_id, image))
        if len(buffer) >= CHUNK:
            self.flush(owner)

    def flush(self, *owners: str | None) -> None:
        """Send the queued images of ``owners`` (every owner when none is given) to the pool."""
        if self._pool is None:  # never started: nothing can have been queued
            return
        for owner in owners if owners else list(self._buffer):
            buffer = self._buffer.pop(owner, [])
            if not buffer:
                continue
            future = self._pool.extract([image for _, image in buffer])
            for row, (image_id, _) in enumerate(buffer):
                self._rows[(owner, image_id)] = (future, row)

    def missing(self, owner: str | None, ids: Iterable[str]) -> list[str]:
        """The ids whose features were never queued."""
        queued = {i for i, _ in self._buffer.get(owner, [])}
        return [i for i in ids if (owner, i) not in self._rows and i not in queued]

    def queue_missing(self, owner: str | None, ids: list[str], load: Callable[[str], np.ndarray]) -> None:
        """Queue (and send) the images of ``ids`` not queued yet, loading each with ``load(id)``."""
        for image_id in self.missing(owner, ids):
            self.add(owner, image_id, load(image_id))
        self.flush(owner)

    def features(self, owner: str | None, ids: list[str]) -> np.ndarray:
        """``len(ids) x D`` float64 features in the order of ``ids`` (waits for the pool).

        Raises
        ------
        KeyError
            When an id was never queued for this owner.
        """
        self.flush(owner)
        lost = self.missing(owner, ids)
        if lost:
            who = "the real images" if owner is REAL else owner
            raise KeyError(f"features of {who} were never queued for {len(lost)} image(s), e.g. {lost[0]}")
        chunks: dict[int, np.ndarray] = {}
        rows = []
        for image_id in ids:
            future, row = self._rows[(owner, image_id)]
            if id(future) not in chunks:
                chunks[id(future)] = future.result()
            rows.append(chunks[id(future)][row])
        return np.stack(rows).astype(np.float64, copy=False)

    def close(self, abort: bool = False) -> None:
        """Stop the processes; queued work is cancelled, and with ``abort`` running work is killed too."""
        if self._pool is not None:
            self._pool.close(abort)
            self._pool = None

    def __enter__(self) -> FeaturePrefetch:
        return self

    def __exit__(self, exc_type: Any, *exc: Any) -> None:
        # Leaving on an exception (a stop signal among them) must not wait for a chunk under way.
        self.close(abort=exc_type is not None)
