"""Scale a run out on Dask: ``bench run --cluster local:N`` or ``--cluster tcp://HOST:PORT``.

- :mod:`bench.cluster.address`: parse ``--cluster`` (no Dask import).
- :mod:`bench.cluster.executor`: where work units run; the local executor is today's behaviour.
- :mod:`bench.cluster.connect`: start or reach a Dask cluster and check its workers.
- :mod:`bench.cluster.dask_executor`: the Dask executor (chunks of images, retries, one writer).
- :mod:`bench.cluster.tasks`: the pure functions a worker runs.

Nothing here imports Dask until a cluster is asked for, so a local run never loads it.
"""
