"""The evaluation engine: the one inpaint-composite-score loop, and where it runs.

- :mod:`bench.engine.evaluate`: the loop itself (blank the hole, call the method, check the
  output, composite the known pixels back, quantise, score), for one image or a whole variant.
- :mod:`bench.engine.executor`: where work units run; the local executor, or
- :mod:`bench.engine.dask_executor` on a Dask cluster (:mod:`bench.engine.address` parses
  ``--cluster``, :mod:`bench.engine.connect` starts or reaches it, :mod:`bench.engine.tasks` holds
  the pure functions a worker runs, :mod:`bench.engine.probe` checks the workers' suite).
- :mod:`bench.engine.features`: the one features stage: every image's features extracted once (in
  low-priority processes, in this process, or on the cluster's workers) into the run's feature store.

Executors only call the loop; nothing here imports Dask until a cluster is asked for.
"""
