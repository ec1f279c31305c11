"""Set-level metrics ``fid`` and ``kid``: a method's outputs against the run's real images.

Both use the standard TF Inception pool3 features (2048-d) of
:mod:`bench.metrics.inception`, or a user TorchScript extractor given as
``ctx.options["fid_features"]`` (``--fid-features PATH``); every result names
the extractor and its sha256. Importing this module does not import torch.

Public API (for sweeps that compute reference features once and reuse them)
--------------------------------------------------------------------------
load_extractor(path=None) -> FeatureExtractor
    ``.name``, ``.sha256``, ``.resize``, ``__call__(images, batch_size=8, progress=False)``
    -> ``N x D`` float64 features (see :mod:`bench.metrics.inception`).
reference_features(real, reference_key, extractor, cache_dir, progress=False) -> ndarray
    Features of the real images, cached on disk under ``cache_dir/fid/`` with a key
    built from ``reference_key`` (dataset, split, preprocessing, n, seed, ids hash),
    the extractor's sha256 and resize mode, and a hash of the pixels themselves.
image_features(images, extractor, progress=False) -> ndarray
    Features of any image list, memoised in-process by content (``fid`` and ``kid``
    of one method share one forward pass).
features_for(real, fake, ctx) -> (real_feats, fake_feats, extractor)
    Both of the above as a registered set metric gets them (also used by
    :mod:`bench.metrics.set_scores`); ``extractor_details(extractor)`` for ``details``.
fid_result(real_feats, fake_feats, *, n_boot=200, seed=0, level=0.95, progress=False) -> SetMetricResult
kid_result(real_feats, fake_feats, *, subsets=100, subset_size=1000, n_boot=200, seed=0, level=0.95)
    Value, bootstrap interval and details (n, feature dim, estimator, small-n warning).
feature_stats, frechet_distance, fid_from_features, fid_gram, kid_from_features,
bootstrap_fid, bootstrap_kid, centred_interval
    The maths, re-exported from :mod:`bench.metrics.frechet`.

Options read from ``ctx.options``: ``fid_features`` (path), ``fid_bootstrap``
(replicates, 0 disables the interval), ``fid_batch_size``, ``kid_subsets``,
``kid_subset_size``.
"""

from __future__ import annotations

import hashlib
import json
import os
import weakref
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.files import atomic_write
from bench.core.images import check_image
from bench.metrics.frechet import (
    bootstrap_fid,
    bootstrap_kid,
    centred_interval,
    check_features,
    feature_stats,
    fid_from_features,
    fid_gram,
    frechet_distance,
    frechet_distance_info,
    kid_from_features,
    kid_subset_values,
)
from bench.metrics.registry import SetMetricContext, SetMetricResult, register_metric

__all__ = [
    "load_extractor",
    "reference_features",
    "image_features",
    "features_for",
    "extractor_details",
    "fid_result",
    "kid_result",
    "feature_stats",
    "frechet_distance",
    "fid_from_features",
    "fid_gram",
    "kid_from_features",
    "bootstrap_fid",
    "bootstrap_kid",
    "centred_interval",
    "BIAS_N",
    "CACHE_VERSION",
]

# FID's covariance has rank < D below this many images; the estimate is then
# strongly biased upwards and comparable only at equal n.
BIAS_N = 2048
# Bumped whenever the feature pipeline changes in a way the key cannot see.
CACHE_VERSION = 1
DEFAULT_BOOT = 200
# Small batches cost nothing per image on CPU (measured: 0.23-0.25 CPU s/image at 8, 16 and 32) and
# bound how long Ctrl-C waits: TorchScript runs a whole batch before Python sees the signal.
DEFAULT_BATCH = 8
DEFAULT_SUBSETS = 100
DEFAULT_SUBSET_SIZE = 1000


def load_extractor(path: str | os.PathLike | None = None):
    """The FID feature extractor (standard Inception by default); see :func:`bench.metrics.inception.load_extractor`."""
    from bench.metrics.inception import load_extractor as _load

    return _load(path)


def images_sha256(images: list[np.ndarray]) -> str:
    """Hash of a list of contract images (shapes and pixels, in order).

    A list of frozen arrays (read-only, owning their memory, see :func:`freeze`) is hashed once
    and remembered while those very arrays live: a run's set metrics ask for the hash of the same
    lists a dozen times each, and sha256 of every image each time would cost seconds per run.
    """
    frozen = all(isinstance(im, np.ndarray) and im.flags.owndata and not im.flags.writeable for im in images)
    key = tuple(map(id, images))
    if frozen and key in _DIGESTS:
        refs, digest = _DIGESTS[key]
        if all(ref() is im for ref, im in zip(refs, images)):
            _DIGESTS.move_to_end(key)
            return digest
    h = hashlib.sha256()
    for i, im in enumerate(images):
        check_image(im, f"images[{i}]")
        h.update(repr(im.shape).encode())
        h.update(np.ascontiguousarray(im).data)  # the buffer itself: no copy
    digest = h.hexdigest()
    if frozen:
        _DIGESTS[key] = ([weakref.ref(im) for im in images], digest)
        while len(_DIGESTS) > _DIGESTS_SIZE:
            _DIGESTS.popitem(last=False)
    return digest


def freeze(image: np.ndarray) -> np.ndarray:
    """``image`` made read-only (copied first unless it owns its memory), so its hash can be remembered."""
    if not image.flags.owndata:
        image = image.copy()
    image.setflags(write=False)
    return image


# Hashes of lists of frozen images, by the ids of the arrays (checked against weak references,
# so a freed array's reused id is never served another list's hash).
_DIGESTS: OrderedDict[tuple[int, ...], tuple[list, str]] = OrderedDict()
_DIGESTS_SIZE = 64


# In-process memo of features by (extractor sha256, content hash): small, since
# each entry is N x D float64.
_MEMO: OrderedDict[tuple[str, str], np.ndarray] = OrderedDict()
_MEMO_SIZE = 8


def image_features(
    images: list[np.ndarray], extractor, progress: bool = False, batch_size: int = DEFAULT_BATCH
) -> np.ndarray:
    """Features of ``images``, memoised in-process by their content and the extractor.

    Returns
    -------
    np.ndarray
        ``N x D`` float64 (a read-only view; copy before modifying).
    """
    if len(images) == 0:
        raise ValueError("no images to extract features from")
    key = (extractor.sha256, images_sha256(images))
    if key in _MEMO:
        _MEMO.move_to_end(key)
        return _MEMO[key]
    feats = extractor(images, batch_size=batch_size, progress=progress)
    feats.setflags(write=False)
    _MEMO[key] = feats
    while len(_MEMO) > _MEMO_SIZE:
        _MEMO.popitem(last=False)
    return feats


def remember_features(images: list[np.ndarray], extractor, feats: np.ndarray) -> None:
    """Enter features computed elsewhere (a process pool, a cluster) into the memo.

    They go under the key :func:`image_features` looks up, so the metrics find them without a
    second pass.
    """
    feats = np.asarray(feats, dtype=np.float64)
    if feats.shape[0] != len(images):
        raise ValueError(f"features of {feats.shape[0]} images offered for {len(images)} images")
    feats.setflags(write=False)
    key = (extractor.sha256, images_sha256(images))
    _MEMO[key] = feats
    _MEMO.move_to_end(key)
    while len(_MEMO) > _MEMO_SIZE:
        _MEMO.popitem(last=False)


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


def _small_n_warning(n: int, dim: int, name: str) -> str | None:
    limit = max(BIAS_N, dim)
    if n >= limit:
        return None
    if name == "fid":
        return (
            f"n = {n} < {limit}: the feature covariance is rank-deficient, FID is biased upwards and "
            "comparable only between runs of equal n; prefer KID (unbiased) for small sets"
        )
    return f"n = {n} < {limit}: KID is unbiased but noisy at this n; compare its interval, not just the value"


def extractor_details(extractor) -> dict[str, Any]:
    """The extractor's name, sha256 and resize mode, for a result's ``details``."""
    if extractor is None:
        return {}
    return {"extractor": extractor.name, "extractor_sha256": extractor.sha256, "resize": extractor.resize}


def fid_result(
    real_feats,
    fake_feats,
    *,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    level: float = 0.95,
    paired: bool | None = None,
    progress: bool = False,
    extractor=None,
) -> SetMetricResult:
    """FID (pytorch-fid's sqrtm route) with a bootstrap interval and details.

    Parameters
    ----------
    real_feats, fake_feats : array_like
        ``N x D`` feature matrices.
    n_boot : int
        Bootstrap replicates; 0 leaves ``low``/``high`` NaN.
    seed : int
        Seed of the bootstrap.
    level : float
        Interval coverage.
    paired : bool or None
        Resample the same ids in both sets (default: when sizes match).
    progress : bool
        Progress bar over replicates.
    extractor : FeatureExtractor, optional
        Recorded in ``details``.

    Returns
    -------
    SetMetricResult
        ``details`` holds ``n_real``, ``n_fake``, ``n``, ``feature_dim``, the
        extractor, the estimator, ``sqrtm_offset``, the bootstrap's settings and its
        bias (mean replicate minus the value), and ``warning`` when ``n < 2048``.
    """
    r = check_features(real_feats, "real features")
    f = check_features(fake_feats, "fake features")
    details: dict[str, Any] = {
        "n": int(min(r.shape[0], f.shape[0])),
        "n_real": int(r.shape[0]),
        "n_fake": int(f.shape[0]),
        "feature_dim": int(r.shape[1]),
        **extractor_details(extractor),
    }
    if max(r.shape[0], f.shape[0]) <= r.shape[1]:
        # Exact and far cheaper than a D x D matrix square root while n <= D (tests check it
        # against pytorch-fid's sqrtm route).
        value = fid_gram(r, f)
        details["estimator"] = "Frechet distance, float64, n x n Gram-matrix trace (exact; = scipy sqrtm route)"
    else:
        value, info = frechet_distance_info(*feature_stats(r), *feature_stats(f))
        details.update(
            estimator="Frechet distance, float64, scipy.linalg.sqrtm (pytorch-fid)",
            sqrtm_offset=info["offset"],
            sqrtm_max_imag=info["max_imag"],
        )
    low = high = float("nan")
    if n_boot > 0:
        reps = bootstrap_fid(r, f, n_boot=n_boot, seed=seed, paired=paired, progress=progress)
        low, high = centred_interval(value, reps, level)
        details["bootstrap"] = {
            "replicates": int(reps.size),
            "level": level,
            "seed": seed,
            "paired": bool(r.shape[0] == f.shape[0] if paired is None else paired),
            "interval": "percentile, centred on the value",
            "bias": float(reps.mean() - value),
        }
    warning = _small_n_warning(details["n"], details["feature_dim"], "fid")
    if warning:
        details["warning"] = warning
    return SetMetricResult(value, low, high, details)


def kid_result(
    real_feats,
    fake_feats,
    *,
    subsets: int = DEFAULT_SUBSETS,
    subset_size: int = DEFAULT_SUBSET_SIZE,
    n_boot: int = DEFAULT_BOOT,
    seed: int = 0,
    level: float = 0.95,
    paired: bool | None = None,
    extractor=None,
) -> SetMetricResult:
    """KID (unbiased MMD^2, cubic polynomial kernel, subset average) with a bootstrap interval.

    Parameters are those of :func:`fid_result` plus ``subsets`` and ``subset_size``
    (clipped to ``n``).
    """
    r = check_features(real_feats, "real features")
    f = check_features(fake_feats, "fake features")
    is_paired = bool(r.shape[0] == f.shape[0] if paired is None else paired)
    values = kid_subset_values(r, f, subsets=subsets, subset_size=subset_size, seed=seed, paired=is_paired)
    value = float(values.mean())
    details: dict[str, Any] = {
        "n": int(min(r.shape[0], f.shape[0])),
        "n_real": int(r.shape[0]),
        "n_fake": int(f.shape[0]),
        "feature_dim": int(r.shape[1]),
        **extractor_details(extractor),
        "estimator": (
            "unbiased MMD^2, k(x,y) = (x.y/D + 1)^3, "
            + ("paired ids, matched cross pairs excluded" if is_paired else "independent subsets")
        ),
        # Subsets only where n allows: a "subset" as large as both sets is the whole set, once.
        "subsets": 1 if min(subset_size, r.shape[0], f.shape[0]) == r.shape[0] == f.shape[0] else int(subsets),
        "subset_size": int(min(subset_size, r.shape[0], f.shape[0])),
        "subset_std": float(values.std(ddof=1)) if values.size > 1 else 0.0,
    }
    low = high = float("nan")
    if n_boot > 0:
        reps = bootstrap_kid(r, f, n_boot=n_boot, seed=seed, paired=is_paired)
        low, high = centred_interval(value, reps, level)
        details["bootstrap"] = {
            "replicates": int(reps.size),
            "level": level,
            "seed": seed,
            "paired": is_paired,
            "interval": "percentile, centred on the value",
            "bias": float(reps.mean() - value),
        }
    warning = _small_n_warning(details["n"], details["feature_dim"], "kid")
    if warning:
        details["warning"] = warning
    return SetMetricResult(value, low, high, details)


def features_for(real: list[np.ndarray], fake: list[np.ndarray], ctx: SetMetricContext):
    """Features of the run's real images (disk cache) and of a method's outputs (in-process memo).

    Every set metric of a method calls this, so the Inception pass runs once per image set.

    Returns
    -------
    real_feats, fake_feats : np.ndarray
        ``N x D`` float64.
    extractor : FeatureExtractor
    """
    if len(real) != len(fake):
        raise ValueError(f"real and fake image lists differ in length: {len(real)} vs {len(fake)}")
    opts = ctx.options or {}
    extractor = load_extractor(opts.get("fid_features"))
    batch = int(opts.get("fid_batch_size") or DEFAULT_BATCH)
    rf = reference_features(real, ctx.reference_key, extractor, ctx.cache_dir, progress=ctx.progress, batch_size=batch)
    ff = image_features(fake, extractor, progress=ctx.progress, batch_size=batch)
    return rf, ff, extractor


def _n_boot(ctx: SetMetricContext) -> int:
    value = (ctx.options or {}).get("fid_bootstrap")
    return DEFAULT_BOOT if value is None else int(value)


@register_metric(
    "fid",
    kind="set",
    higher_is_better=False,
    summary="Frechet Inception distance to the run's real images (TF Inception pool3, 2048-d)",
)
def fid(real: list[np.ndarray], fake: list[np.ndarray], ctx: SetMetricContext) -> SetMetricResult:
    """FID of ``fake`` (a method's composited outputs) against ``real`` (same ids, same order)."""
    rf, ff, extractor = features_for(real, fake, ctx)
    return fid_result(rf, ff, n_boot=_n_boot(ctx), seed=ctx.seed, progress=ctx.progress, extractor=extractor)


def _kid(real: list[np.ndarray], fake: list[np.ndarray], ctx: SetMetricContext, paired: bool) -> SetMetricResult:
    rf, ff, extractor = features_for(real, fake, ctx)
    opts = ctx.options or {}
    return kid_result(
        rf,
        ff,
        subsets=int(opts.get("kid_subsets") or DEFAULT_SUBSETS),
        subset_size=int(opts.get("kid_subset_size") or DEFAULT_SUBSET_SIZE),
        n_boot=_n_boot(ctx),
        seed=ctx.seed,
        extractor=extractor,
        paired=paired,
    )


@register_metric(
    "fid_inf",
    kind="set",
    higher_is_better=False,
    summary="FID-infinity (Chong and Forsyth 2020): FID extrapolated to infinitely many images",
)
def fid_inf(real: list[np.ndarray], fake: list[np.ndarray], ctx: SetMetricContext) -> SetMetricResult:
    """FID-infinity of ``fake`` against ``real`` (see :func:`bench.metrics.frechet.fid_infinity`).

    Same features as ``fid`` (extracted once per run); the interval is left empty because
    the extrapolation's own spread is shown by its points in ``details``.
    """
    from bench.metrics.frechet import fid_infinity

    rf, ff, extractor = features_for(real, fake, ctx)
    value, ns, fids = fid_infinity(rf, ff, seed=ctx.seed)
    details = {
        "n": int(len(ff)),
        "feature_dim": int(rf.shape[1]),
        **extractor_details(extractor),
        "estimator": "intercept of FID(n) = a + b/n over 15 fake subsets of n/2..n (Gram route)",
        "subset_sizes": [int(n) for n in ns],
        "subset_fids": [float(v) for v in fids],
    }
    return SetMetricResult(value, float("nan"), float("nan"), details)


@register_metric(
    "kid",
    kind="set",
    higher_is_better=False,
    summary="kernel Inception distance, the standard unbiased estimator (torchmetrics, torch-fidelity)",
)
def kid(real: list[np.ndarray], fake: list[np.ndarray], ctx: SetMetricContext) -> SetMetricResult:
    """KID of ``fake`` against ``real``: unbiased MMD^2 with the cubic kernel over all cross pairs.

    This is the estimator of Binkowski et al. 2018 as torchmetrics and torch-fidelity
    compute it, so values are comparable with published KIDs. Subsets of
    ``kid_subset_size`` (1000) are drawn only when the sets are larger than that.
    """
    return _kid(real, fake, ctx, paired=False)


@register_metric(
    "kid_paired",
    kind="set",
    higher_is_better=False,
    summary="KID leaving out each output's own real image from the cross term (paired sets)",
)
def kid_paired(real: list[np.ndarray], fake: list[np.ndarray], ctx: SetMetricContext) -> SetMetricResult:
    """Paired KID: the cross term skips ``k(real_i, fake_i)`` for outputs made from real image ``i``.

    In inpainting every output shares its known pixels with its own real image, so
    the matched pairs are closer than independent draws would be; leaving them out
    keeps the estimator unbiased for the question "are outputs distributed like real
    images?". Use it to compare methods within this suite; use ``kid`` to compare
    with numbers published elsewhere (it is larger here, about 2-3x, and not comparable).
    """
    return _kid(real, fake, ctx, paired=True)
