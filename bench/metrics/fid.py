"""Set-level metrics ``fid`` and ``kid``: a method's outputs against the run's real images.

The features come from :mod:`bench.metrics.feature_memo` (in-process memo) and
:mod:`bench.metrics.reference_cache` (real sets on disk); this module holds the registered
metrics and re-exports those modules' public functions.

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
withheld(reason, **details) -> SetMetricResult
    A set metric with no value at the run's n: NaN value, ``details["withheld"]`` says why.
    Every registered set metric returns one instead of raising when n is too small.
feature_stats, frechet_distance, fid_from_features, fid_gram, kid_from_features,
bootstrap_fid, bootstrap_kid, centred_interval
    The maths, re-exported from :mod:`bench.metrics.frechet`.

Options read from ``ctx.options``: ``fid_features`` (path), ``fid_bootstrap``
(replicates, 0 disables the interval), ``fid_batch_size``, ``kid_subsets``,
``kid_subset_size``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.metrics.feature_memo import (
    DEFAULT_BATCH,
    freeze,
    image_features,
    images_sha256,
    load_extractor,
    remember_features,
)
from bench.metrics.frechet import (
    bootstrap_fid,
    bootstrap_kid,
    centred_interval,
    check_features,
    feature_stats,
    fid_from_features,
    fid_gram,
    fid_infinity_min_n,
    frechet_distance,
    frechet_distance_info,
    kid_from_features,
    kid_subset_values,
)
from bench.metrics.reference_cache import (
    CACHE_VERSION,
    reference_cache_key,
    reference_cached,
    reference_features,
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
    "withheld",
    "too_few",
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
    "DEFAULT_BATCH",
    "freeze",
    "images_sha256",
    "remember_features",
    "reference_cache_key",
    "reference_cached",
]

# FID's covariance has rank < D below this many images; the estimate is then
# strongly biased upwards and comparable only at equal n.
BIAS_N = 2048
DEFAULT_BOOT = 200
DEFAULT_SUBSETS = 100
DEFAULT_SUBSET_SIZE = 1000


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


# Fewest images (per set) for which each estimate exists: a covariance, an unbiased MMD^2 over
# pairs of distinct images and a two-class SVM need two; FID-infinity needs its 15 distinct
# subset sizes between n/2 and n (:func:`bench.metrics.frechet.fid_infinity_min_n`).
MIN_N = {"fid": 2, "kid": 2, "kid_paired": 2, "pids": 2, "uids": 2, "fid_inf": fid_infinity_min_n()}


def withheld(reason: str, **details: Any) -> SetMetricResult:
    """A set metric without a value at this n: NaN value and interval, the reason in ``details["withheld"]``.

    Runs record it (``value: null`` in ``set_metrics.json``), summaries and reports print the
    reason, and the gate skips it; it never stops a run.
    """
    return SetMetricResult(float("nan"), float("nan"), float("nan"), {**details, "withheld": reason})


def too_few(name: str, n: int, minimum: int, why: str) -> SetMetricResult | None:
    """:func:`withheld` when ``n < minimum`` (``name needs n >= minimum: why``), else None."""
    if n >= minimum:
        return None
    return withheld(f"{name} needs n >= {minimum} images ({why}); this set has {n}", n=int(n), min_n=int(minimum))


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
    short = too_few("FID", len(fake), MIN_N["fid"], "a feature covariance")
    if short:
        return short
    rf, ff, extractor = features_for(real, fake, ctx)
    return fid_result(rf, ff, n_boot=_n_boot(ctx), seed=ctx.seed, progress=ctx.progress, extractor=extractor)


def _kid(real: list[np.ndarray], fake: list[np.ndarray], ctx: SetMetricContext, paired: bool) -> SetMetricResult:
    short = too_few("KID", len(fake), MIN_N["kid_paired" if paired else "kid"], "pairs of distinct images")
    if short:
        return short
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
    the extrapolation's own spread is shown by its points in ``details``. Withheld (see
    :func:`withheld`) below ``MIN_N["fid_inf"]`` images, where the fit has fewer than its 15
    subset sizes, and when the fitted intercept is negative: FID is never negative, so the
    ``a + b / n`` model does not hold at this n (the paper fits 5,000 to 50,000 images).
    """
    from bench.metrics.frechet import fid_infinity

    short = too_few("FID-inf", len(fake), MIN_N["fid_inf"], "15 distinct subset sizes from n/2 to n")
    if short:
        return short
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
    if value < 0:
        return withheld(
            f"FID-inf's fit gave a negative intercept ({value:.3g}): FID(n) is not yet linear in 1/n at "
            f"n = {len(ff)}, so the extrapolation means nothing here",
            **details,
            intercept=float(value),
        )
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
