"""FID feature extraction of a method's outputs on the cluster, handed to the set metrics.

The set metrics (``fid``, ``kid``, ...) ask :func:`bench.metrics.feature_memo.image_features`
for the outputs' features; that function memoises by (network sha256, pixel hash).
Features computed on the workers are entered under that same key, so the metrics run
their unchanged code and find them; the real images' features (cached on disk) and
the metric maths stay on the client.
"""

from __future__ import annotations

import numpy as np


def distribute_features(
    executor, images: list[np.ndarray], fid_features: str | None, batch_size: int | None = None
) -> bool:
    """Extract the features of ``images`` with ``executor`` and offer them to the set metrics.

    Parameters
    ----------
    executor : Executor
        A distributed executor (a local one returns None and nothing is done).
    images : list of np.ndarray
        Contract images exactly as the metrics will receive them.
    fid_features : str or None
        ``--fid-features`` (None: the standard Inception).
    batch_size : int, optional
        Images per forward pass (default: the metrics' own).

    Returns
    -------
    bool
        Whether the metrics will use the cluster's features (False: they extract here, as before).
    """
    from bench.metrics.feature_memo import DEFAULT_BATCH, load_extractor, remember_features

    if not images:
        return False
    feats = executor.features(images, fid_features, int(batch_size or DEFAULT_BATCH))
    if feats is None:
        return False
    feats = np.asarray(feats, dtype=np.float64)
    if feats.shape[0] != len(images):
        raise RuntimeError(f"the cluster returned features of {feats.shape[0]} images for {len(images)}")
    remember_features(images, load_extractor(fid_features), feats)
    return True
