"""Set-level metrics ``fid``, ``fid_inf``, ``kid`` and ``kid_paired`` from feature matrices.

A set metric is ``fn(real, fake, ctx) -> SetMetricResult`` (:class:`~bench.metrics.registry.SetMetricContext`):
``real`` and ``fake`` are ``N x D`` float64 features of the run's real images and of a method's
outputs, row ``i`` of both from image ``i``; the caller extracts and stores them, so a metric
never sees an image. With ``ctx.reference`` (``--fid-reference``, external real statistics)
``real`` is the reference's per-image features or None and the sets are not paired: ``fid`` and
``kid`` compare the outputs with the reference (:mod:`bench.metrics.reference_stats`), the paired
estimates are withheld. Every result names the extractor of ``ctx.extractor``. Importing this
module does not import torch.

Public API
----------
load_extractor(path=None) -> FeatureExtractor
    The standard TF Inception pool3 extractor (2048-d) or a user TorchScript one
    (:func:`bench.metrics.inception.load_extractor`).
extractor_details(extractor) -> dict
    ``extractor``, ``extractor_sha256`` and ``resize`` of an extractor or of ``ctx.extractor``.
fid_result(real_feats, fake_feats, *, n_boot=200, seed=0, level=0.95, paired=None, progress=False,
           extractor=None, shared=None) -> SetMetricResult
kid_result(real_feats, fake_feats, *, subsets=100, subset_size=1000, n_boot=200, seed=0, level=0.95,
           paired=None, extractor=None, shared=None) -> SetMetricResult
    Value, bootstrap interval and details (n, feature dim, estimator, small-n warning);
    ``shared`` is the scratch of :mod:`bench.metrics.gram` (``ctx.shared``).
withheld(reason, **details) -> SetMetricResult
    A set metric with no value: NaN value, ``details["withheld"]`` says why. Every registered
    set metric returns one instead of raising when n is too small or the inputs cannot give it.
too_few(name, n, minimum, why) -> SetMetricResult or None
    :func:`withheld` below a metric's smallest n (:data:`MIN_N`). Both live in
    :mod:`bench.metrics.registry` beside :class:`~bench.metrics.registry.SetMetricResult`.
own_features(real, fake, name), reference_details(ref), no_reference_pairs(name, ctx),
no_reference_features(name, ctx)
    What every registered set metric checks and says (also :mod:`bench.metrics.set_scores`):
    the run's two matrices paired, the reference in ``details``, the withheld reasons.
feature_stats, frechet_distance, fid_from_features, fid_gram, kid_from_features,
bootstrap_fid, bootstrap_kid, centred_interval
    The maths, re-exported from :mod:`bench.metrics.frechet`.

Options read from ``ctx.options``: ``fid_bootstrap`` (replicates, 0 disables the interval),
``kid_subsets``, ``kid_subset_size``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from bench.metrics.frechet import (
    BIAS_N,
    bootstrap_fid,
    bootstrap_kid,
    centred_interval,
    check_features,
    feature_stats,
    fid_from_features,
    fid_gram,
    fid_infinity,
    fid_infinity_min_n,
    frechet_distance,
    frechet_distance_info,
    kid_from_features,
    kid_subset_values,
)
from bench.metrics.inception import load_extractor
from bench.metrics.reference_stats import fid_against_reference, kid_against_reference
from bench.metrics.registry import SetMetricContext, SetMetricResult, register_metric, too_few, withheld

__all__ = [
    "load_extractor",
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
    "MIN_N",
]

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


def extractor_details(extractor) -> dict[str, Any]:
    """The extractor's name, sha256 and resize mode, for a result's ``details``.

    ``extractor`` is a mapping with those keys (``ctx.extractor``), an object with ``name``,
    ``sha256`` and ``resize`` attributes (a loaded extractor) or None (nothing recorded).
    """
    if not extractor:
        return {}
    if isinstance(extractor, Mapping):
        return {key: extractor[key] for key in ("extractor", "extractor_sha256", "resize") if key in extractor}
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
    shared: dict | None = None,
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
    extractor : mapping or FeatureExtractor, optional
        Recorded in ``details`` (see :func:`extractor_details`).
    shared : dict, optional
        Scratch shared with the method's other set metrics (:mod:`bench.metrics.gram`); the
        value and its bootstrap share one set of Gram matrices either way.

    Returns
    -------
    SetMetricResult
        ``details`` holds ``n_real``, ``n_fake``, ``n``, ``feature_dim``, the
        extractor, the estimator, ``sqrtm_offset``, the bootstrap's settings and its
        bias (mean replicate minus the value), and ``warning`` when ``n < 2048``.
    """
    r = check_features(real_feats, "real features")
    f = check_features(fake_feats, "fake features")
    shared = {} if shared is None else shared
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
        value = fid_gram(r, f, shared=shared)
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
        reps = bootstrap_fid(r, f, n_boot=n_boot, seed=seed, paired=paired, progress=progress, shared=shared)
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
    shared: dict | None = None,
) -> SetMetricResult:
    """KID (unbiased MMD^2, cubic polynomial kernel, subset average) with a bootstrap interval.

    Parameters are those of :func:`fid_result` plus ``subsets`` and ``subset_size``
    (clipped to ``n``).
    """
    r = check_features(real_feats, "real features")
    f = check_features(fake_feats, "fake features")
    shared = {} if shared is None else shared
    is_paired = bool(r.shape[0] == f.shape[0] if paired is None else paired)
    values = kid_subset_values(
        r, f, subsets=subsets, subset_size=subset_size, seed=seed, paired=is_paired, shared=shared
    )
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
        reps = bootstrap_kid(r, f, n_boot=n_boot, seed=seed, paired=is_paired, shared=shared)
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


def own_features(real, fake, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The run's real and fake features as a registered set metric takes them: paired, equally long.

    Raises
    ------
    ValueError
        ``real`` missing or the two matrices of different lengths or dimensions (the caller's
        mistake, not the data's: the run gives row ``i`` of both from image ``i``).
    """
    if real is None:
        raise ValueError(f"{name}: no real features given (and no reference statistics in the context)")
    r, f = check_features(real, "real features", 1), check_features(fake, "fake features", 1)
    if r.shape != f.shape:
        raise ValueError(f"{name}: real and fake features differ in shape: {r.shape} vs {f.shape} (rows must pair)")
    return r, f


def reference_details(reference) -> dict[str, Any]:
    """The reference statistics a result was computed against (``reference_path``, ``_sha256``, ...), for ``details``."""
    return {} if reference is None else reference.details()


def no_reference_pairs(name: str, ctx: SetMetricContext) -> SetMetricResult:
    """:func:`withheld` for a paired estimate asked for against external reference statistics."""
    return withheld(
        f"{name} pairs each output with its own real image, so it needs the run's own real features; "
        "--fid-reference gives another set's statistics",
        **extractor_details(ctx.extractor),
        **reference_details(ctx.reference),
    )


def no_reference_features(name: str, ctx: SetMetricContext) -> SetMetricResult:
    """:func:`withheld` for a metric that needs per-image reference features the reference file lacks."""
    return withheld(
        f"{name} needs per-image features of the real side; the reference {ctx.reference.path} holds "
        "statistics (mean and covariance) only",
        **extractor_details(ctx.extractor),
        **reference_details(ctx.reference),
    )


def _n_boot(ctx: SetMetricContext) -> int:
    value = (ctx.options or {}).get("fid_bootstrap")
    return DEFAULT_BOOT if value is None else int(value)


def _kid_settings(ctx: SetMetricContext) -> dict[str, int]:
    opts = ctx.options or {}
    return {
        "subsets": int(opts.get("kid_subsets") or DEFAULT_SUBSETS),
        "subset_size": int(opts.get("kid_subset_size") or DEFAULT_SUBSET_SIZE),
    }


@register_metric(
    "fid",
    kind="set",
    higher_is_better=False,
    summary="Frechet Inception distance to the run's real images (TF Inception pool3, 2048-d)",
)
def fid(real: np.ndarray | None, fake: np.ndarray, ctx: SetMetricContext) -> SetMetricResult:
    """FID of ``fake`` (features of a method's outputs) against ``real`` (same ids, same order).

    With ``ctx.reference``: FID against the reference's mean and covariance
    (:func:`bench.metrics.reference_stats.fid_against_reference`), unpaired.
    """
    short = too_few("FID", len(fake), MIN_N["fid"], "a feature covariance")
    if short:
        return short
    if ctx.reference is not None:
        return _against_reference("fid", fake, ctx)
    r, f = own_features(real, fake, "fid")
    return fid_result(
        r, f, n_boot=_n_boot(ctx), seed=ctx.seed, progress=ctx.progress, extractor=ctx.extractor, shared=ctx.shared
    )


def _against_reference(name: str, fake: np.ndarray, ctx: SetMetricContext) -> SetMetricResult:
    """``fid`` or ``kid`` of ``fake`` against ``ctx.reference``, with the extractor in its details."""
    if name == "fid":
        res = fid_against_reference(ctx.reference, fake, n_boot=_n_boot(ctx), seed=ctx.seed)
    else:
        res = kid_against_reference(ctx.reference, fake, **_kid_settings(ctx), n_boot=_n_boot(ctx), seed=ctx.seed)
    return SetMetricResult(res.value, res.low, res.high, {**extractor_details(ctx.extractor), **res.details})


def _kid(real: np.ndarray | None, fake: np.ndarray, ctx: SetMetricContext, paired: bool) -> SetMetricResult:
    short = too_few("KID", len(fake), MIN_N["kid_paired" if paired else "kid"], "pairs of distinct images")
    if short:
        return short
    if ctx.reference is not None:
        return no_reference_pairs("kid_paired", ctx) if paired else _against_reference("kid", fake, ctx)
    r, f = own_features(real, fake, "kid_paired" if paired else "kid")
    return kid_result(
        r,
        f,
        **_kid_settings(ctx),
        n_boot=_n_boot(ctx),
        seed=ctx.seed,
        extractor=ctx.extractor,
        paired=paired,
        shared=ctx.shared,
    )


@register_metric(
    "fid_inf",
    kind="set",
    higher_is_better=False,
    summary="FID-infinity (Chong and Forsyth 2020): FID extrapolated to infinitely many images",
)
def fid_inf(real: np.ndarray | None, fake: np.ndarray, ctx: SetMetricContext) -> SetMetricResult:
    """FID-infinity of ``fake`` against ``real`` (see :func:`bench.metrics.frechet.fid_infinity`).

    Same features as ``fid``; the interval is left empty because the extrapolation's own
    spread is shown by its points in ``details``. Withheld (see :func:`withheld`) below
    ``MIN_N["fid_inf"]`` images, where the fit has fewer than its 15 subset sizes, and when
    the fitted intercept is negative: FID is never negative, so the ``a + b / n`` model does
    not hold at this n (the paper fits 5,000 to 50,000 images).

    With ``ctx.reference``: the fit subsamples only the outputs and keeps the whole real
    side, as the paper does, so it needs no pairing; it runs on the reference's per-image
    features and is withheld when the reference holds statistics only.
    """
    short = too_few("FID-inf", len(fake), MIN_N["fid_inf"], "15 distinct subset sizes from n/2 to n")
    if short:
        return short
    extra: dict[str, Any] = {}
    if ctx.reference is not None:
        if real is None:
            return no_reference_features("fid_inf", ctx)
        rf, ff = check_features(real, "reference features"), check_features(fake, "fake features")
        extra = reference_details(ctx.reference)
    else:
        rf, ff = own_features(real, fake, "fid_inf")
    value, ns, fids = fid_infinity(rf, ff, seed=ctx.seed, shared=ctx.shared)
    details = {
        "n": int(len(ff)),
        "feature_dim": int(rf.shape[1]),
        **extractor_details(ctx.extractor),
        "estimator": "intercept of FID(n) = a + b/n over 15 fake subsets of n/2..n (Gram route)",
        "subset_sizes": [int(n) for n in ns],
        "subset_fids": [float(v) for v in fids],
        **extra,
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
def kid(real: np.ndarray | None, fake: np.ndarray, ctx: SetMetricContext) -> SetMetricResult:
    """KID of ``fake`` against ``real``: unbiased MMD^2 with the cubic kernel over all cross pairs.

    This is the estimator of Binkowski et al. 2018 as torchmetrics and torch-fidelity
    compute it, so values are comparable with published KIDs. Subsets of
    ``kid_subset_size`` (1000) are drawn only when the sets are larger than that. With
    ``ctx.reference``: against the reference's per-image features
    (:func:`bench.metrics.reference_stats.kid_against_reference`).
    """
    return _kid(real, fake, ctx, paired=False)


@register_metric(
    "kid_paired",
    kind="set",
    higher_is_better=False,
    summary="KID leaving out each output's own real image from the cross term (paired sets)",
)
def kid_paired(real: np.ndarray | None, fake: np.ndarray, ctx: SetMetricContext) -> SetMetricResult:
    """Paired KID: the cross term skips ``k(real_i, fake_i)`` for outputs made from real image ``i``.

    In inpainting every output shares its known pixels with its own real image, so
    the matched pairs are closer than independent draws would be; leaving them out
    keeps the estimator unbiased for the question "are outputs distributed like real
    images?". Use it to compare methods within this suite; use ``kid`` to compare
    with numbers published elsewhere (it is larger here, about 2-3x, and not comparable).
    Withheld with ``ctx.reference``: another set's features have no pairs.
    """
    return _kid(real, fake, ctx, paired=True)
