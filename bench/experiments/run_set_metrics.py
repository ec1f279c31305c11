"""The set metrics of a run (FID, KID, ...): features extracted beside the methods, then the maths.

A local run with set metrics extracts Inception features in a pool of processes while the
methods compute (:class:`~bench.engine.feature_prefetch.FeaturePrefetch`); a cluster run
extracts them on the workers; otherwise the metrics extract them here. A result is reused from
``set_metrics.json`` only when its key is unchanged: the provenance of every row it averages
(image pixels, mask, method, input, scoring; :mod:`bench.engine.provenance`), the output files,
and the feature extractor's file. ``set_metrics.json`` then holds exactly the results the
summaries show. ``cfg`` is the run's :class:`~bench.experiments.runner.RunConfig`.
"""

from __future__ import annotations

import logging
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.digest import file_sha256, json_sha256
from bench.core.files import atomic_write_json, update_json
from bench.engine.feature_prefetch import REAL
from bench.engine.provenance import FIELDS
from bench.inputs.data import Sample
from bench.inputs.protocol import ids_hash
from bench.metrics import SetMetricContext
from bench.outputs.rundir import RunDir

log = logging.getLogger("bench")


def default_cache_dir() -> Path:
    """Where reference statistics are cached between runs."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "inpaint-bench"


# Below this many images to extract, starting the pool's processes costs more than it saves.
POOL_MIN_IMAGES = 64


@contextmanager
def feature_prefetch_for(cfg, executor, set_metrics: list):
    """A :class:`~bench.engine.feature_prefetch.FeaturePrefetch` for a local run with set metrics, else None.

    Its pool starts only when there are enough features to extract (``POOL_MIN_IMAGES``, or any
    number when ``feature_workers`` was given); on a cluster, with one core or with
    ``feature_workers=0`` the metrics extract features in this process, as before.
    """
    from bench.engine.feature_prefetch import FeaturePrefetch
    from bench.metrics.feature_memo import DEFAULT_BATCH
    from bench.metrics.feature_pool import default_workers

    workers = default_workers() if cfg.feature_workers is None else cfg.feature_workers
    if not set_metrics or workers < 1 or (executor is not None and executor.distributed):
        yield None
        return
    minimum = POOL_MIN_IMAGES if cfg.feature_workers is None else 0
    with FeaturePrefetch(workers, cfg.fid_features, DEFAULT_BATCH, minimum) as prefetch:
        yield prefetch


def reference_key(identity: dict, ids: list[str]) -> dict:
    # The real set is cached per subset of images: a method that failed on some is compared on the rest.
    return {**identity, "ids_sha256": ids_hash(ids)}


def prefetch_reals(cfg, rundir: RunDir, samples: list[Sample], identity: dict, prefetch, outputs: int) -> None:
    """Start the pool when the run will produce enough outputs, and queue the real images first.

    Real images whose features are cached are not queued; the others go first so their features
    are ready before any method's.
    """
    from bench.metrics.feature_memo import load_extractor
    from bench.metrics.reference_cache import reference_cached

    ids = [s.id for s in samples]
    real = [rundir.load_image(i) for i in ids]  # as the set metrics will load them: 8-bit PNG values
    extractor = load_extractor(cfg.fid_features)
    cached = reference_cached(real, reference_key(identity, ids), extractor, cfg.cache_dir or default_cache_dir())
    if prefetch.start_if_worth(outputs + (0 if cached else len(real))) and not cached:
        prefetch.queue_missing(REAL, ids, dict(zip(ids, real)).__getitem__)


def _offer_features(prefetch, plan: list, real: dict, rundir: RunDir, identity: dict, ctx, extractor) -> list:
    """Queue every feature the set metrics still need that the run did not queue while computing.

    Those are a resumed run's earlier outputs and subsets of the real images. Returns the
    ``(owner, ids)`` pairs whose features :func:`_remember_prefetched` hands to the metrics (none
    if the pool is not worth it).
    """
    from bench.metrics.reference_cache import reference_cached

    work = []
    for spec, ids, _, todo in plan:
        if not todo or len(ids) < 2:
            continue
        if not reference_cached([real[i] for i in ids], reference_key(identity, ids), extractor, ctx.cache_dir):
            work.append((REAL, ids))
        work.append((spec, ids))
    missing = sum(len(prefetch.missing(owner, ids)) for owner, ids in work)
    if not prefetch.start_if_worth(missing):
        return []
    for owner, ids in work:
        if owner is REAL:
            prefetch.queue_missing(REAL, ids, real.__getitem__)
        else:
            prefetch.queue_missing(owner, ids, lambda i, spec=owner: rundir.load_output(spec, i))
    return work


def compute_set_metrics(
    cfg,
    rundir: RunDir,
    specs: list[str],
    samples: list[Sample],
    rows: list[dict],
    metrics,
    identity: dict,
    executor=None,
    prefetch=None,
) -> dict[str, dict[str, Any]]:
    """Compute set-level metrics per method, reusing results whose inputs are unchanged.

    Features come from ``prefetch`` (a local pool) when it was started; with a distributed
    executor the outputs' features are extracted on the cluster in chunks; otherwise the
    metrics extract them here. The metric maths always run here. ``set_metrics.json`` is left
    holding exactly the returned results (an empty object when no set metric was asked for).
    """
    from bench.metrics.feature_memo import freeze

    stored = {}
    if rundir.set_metrics.is_file():
        try:
            stored = rundir.read_json(rundir.set_metrics)
        except ValueError as err:  # stored results only save time: recomputed from the outputs
            log.warning("%s: computing the set metrics again", str(err).split("; restore")[0])
    if not isinstance(stored, dict):
        stored = {}
    if not metrics:
        if rundir.set_metrics.is_file():
            update_json(rundir.set_metrics, {})
        return {}
    ctx = SetMetricContext(
        reference_key=dict(identity),
        cache_dir=cfg.cache_dir or default_cache_dir(),
        seed=cfg.seed,
        options={"fid_features": cfg.fid_features},
        progress=cfg.progress,
    )
    # Real and fake both go through the same 8-bit PNG round trip, so quantisation cannot bias the distance.
    # Frozen (read-only) so the metrics hash each list once, not once per metric.
    real = {s.id: freeze(rundir.load_image(s.id)) for s in samples}
    if len(real) < 2048:
        log.warning(
            "n = %d < 2048 (the Inception feature dimension): FID is biased upwards at this n and only "
            "comparable between runs of equal n; KID is unbiased",
            len(real),
        )
    ok_rows = {(r["method"], r["image_id"]): r for r in rows if r["status"] == "ok"}
    extractor_file = _extractor_digest(cfg.fid_features)
    # What each method still needs: its ids, the key of its inputs, the metrics not stored.
    plan = []
    for spec in specs:
        ids = [s.id for s in samples if (spec, s.id) in ok_rows]
        key = {
            # What every averaged row was computed from (ground truth included), then the files as they are now.
            "rows": json_sha256([[i, *(ok_rows[(spec, i)].get(f) for f in FIELDS)] for i in ids]),
            "outputs": ids_hash(ids + [str(rundir.output_path(spec, i).stat().st_mtime_ns) for i in ids]),
            "fid_features": cfg.fid_features,
            "fid_features_sha256": extractor_file,
        }
        todo = [m for m in metrics if _stored_key(stored, spec, m.name) != key]
        plan.append((spec, ids, key, todo))
    extractor = None
    offered: set = set()
    if prefetch is not None:
        from bench.metrics.feature_memo import load_extractor

        extractor = load_extractor(cfg.fid_features)
        offered = {
            (owner, tuple(ids))
            for owner, ids in _offer_features(prefetch, plan, real, rundir, identity, ctx, extractor)
        }
    results: dict[str, dict[str, Any]] = {}
    for spec, ids, key, todo in plan:
        results[spec] = {m.name: stored[spec][m.name] for m in metrics if m not in todo}
        stored[spec] = dict(results[spec])  # a result of other inputs is never left beside a current one
        if todo and not ids:  # with 1 image or more each metric computes or withholds itself, with its reason
            log.warning("%s: no successful output for %s", spec, ", ".join(m.name for m in todo))
            continue
        if not todo:
            continue
        fake = [freeze(rundir.load_output(spec, i)) for i in ids]
        # Compare like with like: the real set is restricted to the images the method completed.
        real_subset = [real[i] for i in ids]
        ctx.reference_key = reference_key(identity, ids)
        if offered:
            for owner, images in ((REAL, real_subset), (spec, fake)):
                if (owner, tuple(ids)) in offered:
                    _remember_prefetched(prefetch, owner, ids, images, extractor)
        elif executor is not None and executor.distributed:
            from bench.engine.features import distribute_features

            distribute_features(executor, fake, cfg.fid_features)
        for metric in todo:
            res = metric.fn(real_subset, fake, ctx)
            entry = {"value": res.value, "low": res.low, "high": res.high, "details": {**res.details, "key": key}}
            results[spec][metric.name] = entry
            stored.setdefault(spec, {})[metric.name] = entry
            atomic_write_json(rundir.set_metrics, stored)
    # Methods and metrics the summaries do not show leave the file too.
    update_json(rundir.set_metrics, results)
    return results


def _stored_key(stored: dict, spec: str, metric: str) -> Any:
    """The reuse key of a stored result, or None when there is none (or the file's structure is not ours)."""
    entry = stored.get(spec, {}) if isinstance(stored, dict) else {}
    entry = entry.get(metric) if isinstance(entry, dict) else None
    details = entry.get("details") if isinstance(entry, dict) else None
    return details.get("key") if isinstance(details, dict) else None


def _extractor_digest(fid_features: str | None) -> str | None:
    """SHA-256 of a feature extractor file (a replaced file at the same path gives other features)."""
    if not fid_features or not Path(fid_features).is_file():
        return None
    try:
        return file_sha256(fid_features)
    except OSError:
        return None  # the extractor's loader names the unreadable file


def _remember_prefetched(prefetch, owner, ids: list[str], images: list[np.ndarray], extractor) -> None:
    """Hand the pool's features of ``images`` to the metrics' memo.

    If the pool failed, the metrics extract them in this process instead (slower, same numbers),
    so the run still finishes.
    """
    from bench.metrics.feature_memo import remember_features

    try:
        feats = prefetch.features(owner, ids)
    except Exception as err:  # a crashed or killed worker process: BrokenProcessPool, pickling errors
        who = "the real images" if owner is REAL else owner
        log.warning("feature pool failed for %s (%s: %s); extracting in this process", who, type(err).__name__, err)
        return
    remember_features(images, extractor, feats)
