"""A run's features stage and reference statistics: which extractor, where, how many processes."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bench.core.device import resolve_device
from bench.engine.features import FeatureRequest, load_extractor
from bench.engine.features import open_stage as open_feature_stage
from bench.engine.tasks import data_ref
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
    reals = [] if reference is not None else [proto.image_digest(i) for i in proto.ids]
    outputs = sum(len(ids) for _, ids in pending)
    data = data_ref(cfg.dataset, cfg.data_root, cfg.split, cfg.size)
    stage = open_feature_stage(
        rundir.features_dir, feature_request(cfg), reals, outputs, cfg.feature_workers, executor, data
    )
    with stage:
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
