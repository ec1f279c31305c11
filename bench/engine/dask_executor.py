"""The Dask executor: work units of (method spec, chunk of images) on a cluster, one writer.

Each unit is a task of :mod:`bench.engine.tasks` submitted with ``retries=2`` and
``pure=False``; a worker that dies takes only its unit in flight with it (Dask
reschedules the unit on another worker). Results come back in completion order to
the client, which alone appends records, so rows are never written twice. Only
this module and :mod:`bench.engine.connect` import Dask.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
from distributed import CancelledError, wait
from distributed.scheduler import KilledWorker

from bench.core.images import from_uint8, to_uint8
from bench.engine.address import ClusterError
from bench.engine.connect import Session
from bench.engine.executor import Executor
from bench.engine.tasks import (
    DataMismatchError,
    DataRef,
    features_chunk,
    image_sha256,
    inpaint_chunk,
    measure_variant,
)

log = logging.getLogger("bench")

# A unit of at most this many images: a lost worker loses at most this much work.
MAX_CHUNK = 16
# At least this many units per worker where the work allows, so workers stay busy to the end.
CHUNKS_PER_WORKER = 4
# How long the client waits on a cluster without any worker before it gives up.
NO_WORKER_GRACE_S = 60.0
POLL_S = 2.0


def chunk_size(n_todo: int, n_workers: int, batch_size: int = 1, max_chunk: int = MAX_CHUNK) -> int:
    """Images per work unit.

    About ``CHUNKS_PER_WORKER`` units per worker (load balance), at most ``max_chunk``
    images (little lost with a worker), rounded up to whole batches for batched methods
    so every batch holds the same images as in a local run.

    Examples
    --------
    >>> chunk_size(280, 2), chunk_size(8, 2), chunk_size(280, 2, batch_size=16)
    (16, 1, 16)
    """
    per_unit = math.ceil(n_todo / max(1, n_workers * CHUNKS_PER_WORKER))
    size = max(1, min(per_unit, max_chunk))
    if batch_size > 1:
        size = batch_size * math.ceil(size / batch_size)
    return size


class DaskExecutor(Executor):
    """Run work units on the workers of a connected :class:`~bench.engine.connect.Session`."""

    distributed = True

    def __init__(self, session: Session):
        self.session = session
        self.client = session.client
        self._send: dict[str | None, bool] = {}

    # ------------------------------------------------------------ data placement

    def _send_arrays(self, data: DataRef) -> bool:
        """Whether images travel as arrays: when some worker does not see the data root."""
        if data.root is None:
            return False  # builtin photos ship inside installed packages every worker has
        if data.root not in self._send:
            missing = self.session.missing_paths([data.root]).get(data.root, [])
            if missing:
                log.warning(
                    "worker(s) %s do not see %s: the client sends them the images instead "
                    "(mount the data at the same path to let workers load it themselves)",
                    ", ".join(missing),
                    data.root,
                )
            self._send[data.root] = bool(missing)
        return self._send[data.root]

    # ------------------------------------------------------------ work units

    def inpaint(self, pending, proto, data, metrics, progress=True, features=None):
        from tqdm import tqdm

        seed, family = proto.identity["seed"], proto.identity["mask_family"]
        send = self._send_arrays(data)
        names = [m.name for m in metrics]
        workers = self.session.n_workers
        futures: dict[Any, tuple[str, list[str]]] = {}
        for method, todo in pending:
            size = chunk_size(len(todo), workers, method.batch_size)
            for start in range(0, len(todo), size):
                ids = todo[start : start + size]
                arrays = [to_uint8(proto.image(i)) for i in ids] if send else None
                fut = self.client.submit(
                    inpaint_chunk,
                    method.spec,
                    data,
                    ids,
                    [proto.image_digest(i) for i in ids],
                    [proto.mask_digest(i) for i in ids],
                    seed,
                    family,
                    names,
                    self.session.suite,
                    arrays=arrays,
                    features=features,
                    retries=2,
                    pure=False,
                )
                futures[fut] = (method.spec, ids)
        total = sum(len(todo) for _, todo in pending)
        bar = tqdm(
            total=total, desc=f"{len(pending)} method(s) on {workers} worker(s)", unit="img", disable=not progress
        )
        try:
            for fut in self._completed(futures):
                spec, ids = futures[fut]
                for image_id, row, final, feats in self._result(fut, f"{spec} on {_span(ids)}"):
                    final = None if final is None else from_uint8(final)
                    yield spec, proto.sample(image_id), row, final, feats
                    bar.update(1)
        finally:
            bar.close()

    def features(self, ids, proto, data, request):
        send = self._send_arrays(data)
        futures = {}
        # Whole batches per unit, so every forward pass sees the same images as a local run.
        for start in range(0, len(ids), request.batch_size):
            chunk = ids[start : start + request.batch_size]
            fut = self.client.submit(
                features_chunk,
                data,
                chunk,
                [proto.image_digest(i) for i in chunk],
                request,
                self.session.suite,
                arrays=[to_uint8(proto.image(i)) for i in chunk] if send else None,
                retries=2,
                pure=False,
            )
            futures[fut] = start
        parts = {futures[f]: self._result(f, f"features of images {futures[f]}..") for f in self._completed(futures)}
        return np.concatenate([parts[k] for k in sorted(parts)], axis=0)

    def measure(self, specs, sweep, desc="variants"):
        from tqdm import tqdm

        from bench.inputs.masks import mask_digest

        if sweep.data is None:
            raise ClusterError("a sweep on a cluster needs its data source (Sweep(data=...))")
        proto = sweep.protocol
        real = self.client.scatter(sweep.real_features(), broadcast=True)  # computed once, on the client
        ids = [s.id for s in proto.samples]
        digests = [image_sha256(s.image) for s in proto.samples]
        mask_digests = [mask_digest(s.id, proto.mask(s.id)) for s in proto.samples]
        arrays = None
        if self._send_arrays(sweep.data):
            arrays = self.client.scatter([to_uint8(s.image) for s in proto.samples], broadcast=True)
        futures = {}
        for spec in specs:
            fut = self.client.submit(
                measure_variant,
                spec,
                sweep.data,
                ids,
                digests,
                mask_digests,
                proto.identity["seed"],
                proto.identity["mask_family"],
                sweep.fid_features,
                sweep.extractor.sha256,
                real,
                sweep.n_boot,
                self.session.suite,
                arrays=arrays,
                retries=2,
                pure=False,
            )
            futures[fut] = spec
        bar = tqdm(total=len(specs), desc=desc, unit="variant", disable=not sweep.progress)
        try:
            for fut in self._completed(futures):
                m, seconds = self._result(fut, futures[fut])
                yield futures[fut], m, seconds
                bar.update(1)
        finally:
            bar.close()

    # ------------------------------------------------------------ completion and failures

    def _completed(self, futures) -> Iterator[Any]:
        """Futures as they finish; gives up on a cluster left without workers; cancels leftovers on exit."""
        remaining = set(futures)
        alone_since = None
        try:
            while remaining:
                try:
                    done, remaining = wait(remaining, timeout=POLL_S, return_when="FIRST_COMPLETED")
                except TimeoutError:
                    alone_since = self._check_workers(alone_since, len(remaining), len(futures))
                    continue
                except OSError as err:
                    raise ClusterError(
                        f"lost the Dask scheduler at {self.session.where()} ({err}); finished rows "
                        "are kept: rerun the same command to resume"
                    ) from None
                alone_since = None
                yield from done
        finally:
            if remaining:
                try:
                    self.client.cancel(list(remaining))
                except Exception:  # the scheduler may be gone already; nothing is left to cancel then
                    log.debug("cancelling %d units failed", len(remaining), exc_info=True)

    def _check_workers(self, alone_since: float | None, left: int, total: int) -> float | None:
        try:
            n = len(self.client.nthreads())
        except OSError as err:
            raise ClusterError(
                f"lost the Dask scheduler at {self.session.where()} ({err}); finished rows are "
                "kept: rerun the same command to resume"
            ) from None
        if n:
            return None
        now = time.monotonic()
        if alone_since is not None and now - alone_since > NO_WORKER_GRACE_S:
            raise ClusterError(
                f"the cluster at {self.session.where()} has had no workers for "
                f"{NO_WORKER_GRACE_S:.0f} s with {left} of {total} work units unfinished; finished "
                "rows are kept: start workers and rerun the same command to resume"
            )
        return alone_since if alone_since is not None else now

    def _result(self, fut, what: str):
        try:
            return fut.result()
        except DataMismatchError as err:
            raise ClusterError(str(err)) from None
        except KilledWorker as err:
            raise ClusterError(
                f"the work unit {what} was running on every worker that died ({err}): out of memory, "
                "or a crash in the method; finished rows are kept"
            ) from None
        except CancelledError:
            raise ClusterError(
                f"the work unit {what} was cancelled by the scheduler at {self.session.where()}; "
                "rerun the same command to resume"
            ) from None
        except (ImportError, AttributeError) as err:
            raise ClusterError(
                f"a worker could not run {what} ({type(err).__name__}: {err}): it lacks the suite "
                "or has another version of it"
            ) from None


def _span(ids: list[str]) -> str:
    return ids[0] if len(ids) == 1 else f"{ids[0]}..{ids[-1]} ({len(ids)} images)"
