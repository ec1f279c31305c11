"""A run's features stage and reference statistics: which extractor, where, how many processes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bench.core.device import resolve_device
from bench.engine.features import FeatureRequest, FeatureStage, default_workers, load_extractor
from bench.engine.tasks import data_ref
from bench.metrics.feature_store import FeatureStore
from bench.metrics.reference_stats import ReferenceStats, load_reference_stats
from bench.outputs.rundir import RunDir


def feature_request(cfg) -> FeatureRequest:
    """The run's extractor and device (``--fid-features``, ``--device``), with the network's sha256.

    Raises
    ------
    ValueError
        An unknown or absent device (named).
    """
    device = resolve_device(cfg.device)
    extractor = load_extractor(FeatureRequest(cfg.fid_features, "", device))
    return FeatureRequest(cfg.fid_features, extractor.sha256, device)


def load_reference(cfg, proto) -> ReferenceStats | None:
    """The statistics of ``--fid-reference``, checked against the run's extractor (None without the option).

    Raises
    ------
    ValueError
        The file does not fit the run's extractor (dimension, resize mode), named.
    """
    if not cfg.fid_reference:
        return None
    request = feature_request(cfg)
    extractor = load_extractor(request)
    # The feature dimension is what the network gives for one of the run's images.
    dim = extractor([proto.image(proto.ids[0])], batch_size=1).shape[1]
    return load_reference_stats(
        cfg.fid_reference,
        feature_dim=dim,
        resize=extractor.resize,
        extractor_name=extractor.name,
        extractor_sha256=extractor.sha256,
    )


@contextmanager
def open_stage(cfg, rundir: RunDir, proto, pending: list, set_metrics: list, executor, reference) -> Iterator:
    """The run's :class:`~bench.engine.features.FeatureStage` (None when no set metric is asked for).

    Its processes start only when there is enough to extract (:data:`~bench.engine.features.POOL_MIN_IMAGES`
    real images and outputs not stored yet, or any number when ``feature_workers`` was given).
    """
    if not set_metrics:
        yield None
        return
    request = feature_request(cfg)
    store = FeatureStore(rundir.features_dir, load_extractor(request).identity)
    reals = 0 if reference is not None else len(store.missing(proto.image_digests[i] for i in proto.ids))
    expected = reals + sum(len(ids) for _, ids in pending)
    workers = cfg.feature_workers if cfg.feature_workers is not None else default_workers(expected, request.device)
    if expected == 0:
        workers = 0
    data = data_ref(cfg.dataset, cfg.data_root, cfg.split, cfg.size)
    with FeatureStage(store, request, workers, executor, data) as stage:
        yield stage


def reference_record(reference: ReferenceStats) -> dict:
    """What ``config.json`` records of ``--fid-reference``: the file, its format and sha256."""
    return {
        "path": reference.path,
        "sha256": reference.sha256,
        "format": reference.format,
        "mode": reference.mode,
        "n": reference.n,
    }
