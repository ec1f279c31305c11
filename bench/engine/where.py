"""Which executor runs a command's work: here (``--jobs N``) or on a Dask cluster (``--cluster``)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from bench.engine.address import parse_cluster
from bench.engine.executor import Executor, LocalExecutor

log = logging.getLogger("bench")


@contextmanager
def open_executor(cluster: str | None, jobs: int = 1) -> Iterator[Executor]:
    """The executor for ``--cluster`` (None: local), closed (cluster stopped or left) on exit.

    Raises
    ------
    bench.engine.address.ClusterError
        A bad ``--cluster`` value, an unreachable scheduler, or unusable workers.
    """
    if cluster is None:
        local = LocalExecutor(jobs)
        try:
            yield local
        finally:
            local.close()
        return
    # Dask is imported only when a cluster is asked for.
    from bench.engine.connect import connect
    from bench.engine.dask_executor import DaskExecutor

    address = parse_cluster(cluster)
    if jobs > 1:
        log.warning("--jobs %d is ignored with --cluster: the cluster's workers run the work", jobs)
    with connect(address) as session:
        yield DaskExecutor(session)
