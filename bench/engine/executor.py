"""Where work units run: in this process (today's behaviour) or on a Dask cluster.

The runner and the sweeps hand an executor their work and keep the one write path:
an executor only computes and yields results; the caller appends every record.
Without ``--cluster`` the :class:`LocalExecutor` runs exactly what ran before and
Dask is never imported.
"""

from __future__ import annotations

import os
import time
from collections.abc import Generator, Iterator
from concurrent.futures import FIRST_COMPLETED, wait
from itertools import islice
from typing import Any

import numpy as np

from bench.core.children import worker_pool
from bench.core.images import from_uint8, to_uint8
from bench.engine.evaluate import execute, score


class Executor:
    """The interface: inpaint and score, extract features, measure ablation variants.

    Attributes
    ----------
    distributed : bool
        Whether work leaves this process (set metrics then fetch features from it).
    """

    distributed = False

    def inpaint(
        self, pending: list[tuple[Any, list]], proto, data, metrics, progress: bool = True, features=None
    ) -> Iterator[tuple[str, Any, dict[str, Any], np.ndarray | None, np.ndarray | None]]:
        """Run each method on its images and score them.

        Parameters
        ----------
        pending : list of (method, list of str)
            Built methods and the ids of the images each still needs (decoded when their turn comes).
        proto : Protocol
            The run's images and masks (rectangles for the records; hashes for workers).
        data : DataRef
            Where workers load the images from.
        metrics : list of Metric
            Per-image metrics.
        progress : bool
            Show progress bars.
        features : FeatureRequest, optional
            The run's feature extractor, for executors whose workers extract each output's
            features where it is made (a local executor leaves them to the run's feature stage).

        Yields
        ------
        tuple
            ``(spec, sample, record row, composited output or None, its features or None)`` in
            completion order; features are a ``D`` float32 row when the executor extracted them.
        """
        raise NotImplementedError

    def features(self, ids: list[str], proto, data, request) -> np.ndarray | None:
        """Features of the protocol's images ``ids`` made by its workers, or None to extract them here."""
        return None

    def close(self) -> None:
        """Stop whatever work is still under way (worker processes end); the executor is not used after."""

    def measure(self, specs: list[str], sweep, desc: str = "variants") -> Iterator[tuple[str, Any, float]]:
        """Measure ablation variants on a sweep's protocol.

        Yields
        ------
        tuple
            ``(spec, Measurement, seconds of the variant)`` in completion order.
        """
        raise NotImplementedError


# Images per work unit of a --jobs process: small, so the processes share the tail of the work.
JOB_CHUNK = 4


def _one_thread_worker() -> None:
    # Set before the worker imports torch or numba: --jobs processes share the cores one each.
    os.environ["OMP_NUM_THREADS"] = "1"
    os.environ["NUMBA_NUM_THREADS"] = "1"


class LocalExecutor(Executor):
    """Methods in this process, or parallel-safe ones in ``jobs`` spawned processes.

    A ``--jobs`` process runs a chunk of images through the whole loop (inpaint, composite,
    score) and, when the run asks, extracts the outputs' features there, where they were made:
    the same work unit as a cluster worker's (:func:`bench.engine.tasks.inpaint_chunk`), so the
    run receives rows, 8-bit outputs and feature rows.
    """

    def __init__(self, jobs: int = 1):
        self.jobs = jobs
        self._open: list[Generator] = []

    def inpaint(self, pending, proto, data, metrics, progress=True, features=None):
        results = self._inpaint(pending, proto, data, metrics, progress, features)
        self._open.append(results)
        return results

    def close(self) -> None:
        # A generator left suspended by an exception in its caller would end its worker
        # processes only when collected: close it now.
        while self._open:
            self._open.pop().close()

    def _inpaint(self, pending, proto, data, metrics, progress, features):
        from tqdm import tqdm

        for method, ids in pending:
            spec = method.spec
            bar = tqdm(total=len(ids), desc=spec, unit="img", disable=not progress, leave=True)
            if self.jobs > 1 and method.parallel_safe and method.batch_size == 1 and len(ids) > 1:
                try:
                    for item in self._in_workers(method, ids, proto, data, metrics, features):
                        yield item
                        bar.update(1)
                finally:
                    bar.close()
                continue
            results = execute(method, spec, proto.pairs(ids))
            try:
                for sample, mask, out, seconds, err in results:
                    row, final = score(spec, sample, mask, proto.masks[sample.id][1], out, seconds, err, metrics)
                    yield spec, sample, row, final, None
                    bar.update(1)
            finally:
                # Closed now, not when collected: leaving early stops the worker processes at once.
                results.close()
                bar.close()

    def _in_workers(self, method, ids: list[str], proto, data, metrics, features):
        """A method's images in chunks on ``jobs`` processes, a few chunks in flight per process."""
        from bench.engine.probe import suite_identity
        from bench.engine.tasks import inpaint_chunk

        seed, family, names = proto.identity["seed"], proto.identity["mask_family"], [m.name for m in metrics]
        suite = suite_identity()
        chunks = iter([ids[k : k + JOB_CHUNK] for k in range(0, len(ids), JOB_CHUNK)])
        with worker_pool(self.jobs, _one_thread_worker) as pool:
            futures: dict = {}
            while True:
                # The images travel as 8-bit arrays: the processes need not see the data source.
                for chunk in islice(chunks, 2 * self.jobs - len(futures)):
                    arrays = [to_uint8(proto.image(i)) for i in chunk]
                    digests = ([proto.image_digest(i) for i in chunk], [proto.mask_digest(i) for i in chunk])
                    args = (method.spec, data, chunk, *digests, seed, family, names, suite, arrays, features)
                    futures[pool.submit(inpaint_chunk, *args)] = chunk
                if not futures:
                    break
                done, _ = wait(futures, return_when=FIRST_COMPLETED)
                for future in done:
                    futures.pop(future)
                    for image_id, row, final, feats in future.result():
                        yield (
                            method.spec,
                            proto.sample(image_id),
                            row,
                            None if final is None else from_uint8(final),
                            feats,
                        )

    def measure(self, specs, sweep, desc="variants"):
        from tqdm import tqdm

        import methods

        for spec in tqdm(specs, desc=desc, unit="variant", disable=not sweep.progress):
            start = time.perf_counter()
            m = sweep.measure(methods.create(spec))
            yield spec, m, time.perf_counter() - start
