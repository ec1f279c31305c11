"""The on-disk cache of real images' features, and the features shipped with the package.

A real set's features are stored under ``CACHE/fid/ref-<digest>.npz`` with the key they depend on
(dataset, split, preprocessing, n, seed, ids hash, extractor, pixel hash), and used again only
when the whole key matches.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.files import atomic_write
from bench.metrics.feature_memo import DEFAULT_BATCH, image_features, images_sha256

# Bumped whenever the feature pipeline changes in a way the key cannot see.
CACHE_VERSION = 1

# Reference features shipped with the package (the README's main job on the
# builtin photos), in the cache's own file format: a fresh machine finds them
# when its cache is empty. Used only when the full key matches (dataset, ids,
# extractor, pixel hash); regenerate with results/benchmarks/ship_reference_features.sh.
SHIPPED_REFERENCE_DIR = Path(__file__).resolve().parent / "reference_features"


def _read_reference(path: Path, key: dict[str, Any], n: int) -> np.ndarray | None:
    """Stored features of ``path`` when its key equals ``key`` and it holds ``n`` rows, else None."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as data:
            stored = json.loads(str(data["key"]))
            feats = data["features"].astype(np.float64)
    except (OSError, ValueError, KeyError):
        return None  # unreadable or foreign file: recomputed and overwritten by reference_features
    if stored == json.loads(json.dumps(key, sort_keys=True, default=str)) and feats.shape[0] == n:
        return feats
    return None


def reference_file_name(key: dict[str, Any]) -> str:
    """File name of a real set's features under the cache's ``fid/`` folder (or the shipped one)."""
    return f"ref-{_key_digest(key)[:32]}.npz"


def _cached_reference(
    real: list[np.ndarray], reference_key: dict[str, Any], extractor, cache_dir: str | os.PathLike
) -> tuple[Path, dict[str, Any], np.ndarray | None]:
    """The cache file and key of a real set, and its stored features when they match (else None).

    The user's cache comes first, then the features shipped with the package.
    """
    key = reference_cache_key(reference_key, extractor, images_sha256(real))
    path = Path(cache_dir) / "fid" / reference_file_name(key)
    for candidate in (path, SHIPPED_REFERENCE_DIR / path.name):
        feats = _read_reference(candidate, key, len(real))
        if feats is not None:
            return path, key, feats
    return path, key, None


def reference_cached(
    real: list[np.ndarray], reference_key: dict[str, Any], extractor, cache_dir: str | os.PathLike
) -> bool:
    """Whether :func:`reference_features` will find these real images' features on disk."""
    return _cached_reference(real, reference_key, extractor, cache_dir)[2] is not None


def reference_cache_key(reference_key: dict[str, Any], extractor, content_sha256: str) -> dict[str, Any]:
    """Everything the real set's features depend on, as a JSON-able dict."""
    return {
        "version": CACHE_VERSION,
        "reference": reference_key,
        **extractor.identity,
        "content_sha256": content_sha256,
    }


def _key_digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()


def reference_features(
    real: list[np.ndarray],
    reference_key: dict[str, Any],
    extractor,
    cache_dir: str | os.PathLike,
    progress: bool = False,
    batch_size: int = DEFAULT_BATCH,
) -> np.ndarray:
    """Features of the real images, from the on-disk cache when nothing they depend on changed.

    Parameters
    ----------
    real : list of np.ndarray
        The real contract images.
    reference_key : dict
        Identity of the real set (dataset, split, preprocessing, n, seed, ids hash).
    extractor : FeatureExtractor
        Its sha256 and resize mode are part of the key.
    cache_dir : path
        Cache root; files go to ``cache_dir/fid/ref-<digest>.npz``.
    progress : bool
        Progress bar while extracting.
    batch_size : int
        Images per forward pass.

    Returns
    -------
    np.ndarray
        ``N x D`` float64 features (read-only; copy before modifying).
    """
    path, key, feats = _cached_reference(real, reference_key, extractor, cache_dir)
    if feats is not None:
        feats.setflags(write=False)  # like image_features: shared, so frozen
        return feats
    feats = np.array(image_features(real, extractor, progress=progress, batch_size=batch_size))
    _save_npz(
        path,
        features=feats.astype(np.float32) if _float32_exact(feats) else feats,
        key=np.array(json.dumps(key, sort_keys=True, default=str)),
    )
    feats.setflags(write=False)
    return feats


def _float32_exact(x: np.ndarray) -> bool:
    # Networks compute in float32; storing float32 halves the file and loses nothing.
    return bool(np.array_equal(x.astype(np.float32).astype(np.float64), x))


def _save_npz(path: Path, **arrays) -> None:
    atomic_write(path, lambda fh: np.savez(fh, **arrays))
