"""Where work units run: in this process (today's behaviour) or on a Dask cluster.

The runner and the sweeps hand an executor their work and keep the one write path:
an executor only computes and yields results; the caller appends every record.
Without ``--cluster`` the :class:`LocalExecutor` runs exactly what ran before and
Dask is never imported.
"""

from __future__ import annotations

import time
from collections.abc import Generator, Iterator
from typing import Any

import numpy as np

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


class LocalExecutor(Executor):
    """Today's behaviour: methods in this process, or ``jobs`` spawned processes for parallel-safe ones."""

    def __init__(self, jobs: int = 1):
        self.jobs = jobs
        self._open: list[Generator] = []

    def inpaint(self, pending, proto, data, metrics, progress=True, features=None):
        results = self._inpaint(pending, proto, data, metrics, progress)
        self._open.append(results)
        return results

    def close(self) -> None:
        # A generator left suspended by an exception in its caller would end its worker
        # processes only when collected: close it now.
        while self._open:
            self._open.pop().close()

    def _inpaint(self, pending, proto, data, metrics, progress):
        from tqdm import tqdm

        for method, ids in pending:
            spec = method.spec
            bar = tqdm(total=len(ids), desc=spec, unit="img", disable=not progress, leave=True)
            results = execute(method, spec, proto.pairs(ids), self.jobs)
            try:
                for sample, mask, out, seconds, err in results:
                    row, final = score(spec, sample, mask, proto.masks[sample.id][1], out, seconds, err, metrics)
                    yield spec, sample, row, final, None
                    bar.update(1)
            finally:
                # Closed now, not when collected: leaving early stops the worker processes at once.
                results.close()
                bar.close()

    def measure(self, specs, sweep, desc="variants"):
        from tqdm import tqdm

        import methods

        for spec in tqdm(specs, desc=desc, unit="variant", disable=not sweep.progress):
            start = time.perf_counter()
            m = sweep.measure(methods.create(spec))
            yield spec, m, time.perf_counter() - start
