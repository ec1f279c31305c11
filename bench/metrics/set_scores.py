"""Registered set metrics beyond FID and KID, from the same feature matrices.

``precision`` and ``recall`` (Kynkaanniemi et al. 2019, k = 3), ``density`` and
``coverage`` (Naeem et al. 2020, k = 5), ``pids`` and ``uids`` (Zhao et al. 2021), each
``fn(real, fake, ctx)`` on ``N x D`` features as :mod:`bench.metrics.fid` describes. The
k-NN distances and the SVM fit are computed once for all metrics of a method: they are kept
in ``ctx.shared``, the scratch the caller makes per method and feature set
(:mod:`bench.metrics.gram`, :mod:`bench.metrics.ids`).

Against external reference statistics (``ctx.reference``) the sets are not paired: the
k-NN metrics and U-IDS need no pairing and run on the reference's per-image features (they
are withheld when the reference holds statistics only: a k-NN ball or an SVM needs the
points), P-IDS is withheld (it compares each output with its own real image). Importing
this module does not import torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.metrics.fid import (
    MIN_N,
    extractor_details,
    no_reference_features,
    no_reference_pairs,
    own_features,
    reference_details,
    too_few,
)
from bench.metrics.frechet import _check_pair
from bench.metrics.ids import ids_scores
from bench.metrics.prdc import K_DC, K_PR, density_coverage, precision_recall
from bench.metrics.registry import SetMetricContext, SetMetricResult, register_metric

NO_INTERVAL = (
    "no bootstrap interval: resampling with replacement duplicates images, and a duplicate is its "
    "own nearest neighbour, which shrinks every k-NN radius"
)


def _common(rf: np.ndarray, ff: np.ndarray, ctx: SetMetricContext) -> dict[str, Any]:
    return {
        "n": int(min(len(rf), len(ff))),
        "n_real": len(rf),
        "n_fake": len(ff),
        "feature_dim": int(rf.shape[1]),
        **extractor_details(ctx.extractor),
        **reference_details(ctx.reference),
    }


def _inputs(real, fake, ctx: SetMetricContext, name: str) -> tuple[np.ndarray, np.ndarray] | SetMetricResult:
    """The two feature matrices a metric that needs no pairing runs on, or why it cannot run."""
    if ctx.reference is None:
        return own_features(real, fake, name)
    if real is None:
        return no_reference_features(name, ctx)
    return _check_pair(real, fake)


# name: (k, paper, what it measures)
_KNN = {
    "precision": (K_PR, "Kynkaanniemi et al. 2019", "fraction of outputs inside the real k-NN manifold"),
    "recall": (K_PR, "Kynkaanniemi et al. 2019", "fraction of real images inside the outputs' k-NN manifold"),
    "density": (K_DC, "Naeem et al. 2020", "real k-NN balls per output, divided by k (about 1 for real-like outputs)"),
    "coverage": (K_DC, "Naeem et al. 2020", "fraction of real k-NN balls holding at least one output"),
}


def _knn(real, fake: np.ndarray, ctx: SetMetricContext, name: str) -> SetMetricResult:
    k, paper, what = _KNN[name]
    # A k-NN radius needs k other images; said in the result rather than stopping the run.
    why = f"a k-NN radius with k = {k} needs k other images"
    short = too_few(name, len(fake), k + 1, why)
    if short:
        return short
    got = _inputs(real, fake, ctx, name)
    if isinstance(got, SetMetricResult):
        return got
    rf, ff = got
    short = too_few(name, len(rf), k + 1, why + " (of the reference)")
    if short:
        return short
    # Each pair shares one computation; the distances behind both are kept in ctx.shared for all four.
    if name in ("precision", "recall"):
        values = dict(zip(("precision", "recall"), precision_recall(rf, ff, k, shared=ctx.shared)))
    else:
        values = dict(zip(("density", "coverage"), density_coverage(rf, ff, k, shared=ctx.shared)))
    details = {
        **_common(rf, ff, ctx),
        "k": k,
        "estimator": f"{paper}: {what}",
        "interval": NO_INTERVAL,
        "note": "k-NN radii shrink as n grows: compare values at equal n only",
    }
    return SetMetricResult(values[name], float("nan"), float("nan"), details)


def _register_knn(name: str) -> None:
    k, paper, what = _KNN[name]

    def fn(real: np.ndarray | None, fake: np.ndarray, ctx: SetMetricContext) -> SetMetricResult:
        return _knn(real, fake, ctx, name)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = (
        f"{name.capitalize()} of ``fake`` against ``real`` ({paper}, k = {k}): {what}.\n\n"
        "Needs no pairing: with ``ctx.reference`` it runs on the reference's per-image features, "
        "and is withheld when the reference holds statistics only."
    )
    register_metric(name, kind="set", higher_is_better=True, summary=f"{what} ({paper}, k = {k})")(fn)


for _name in _KNN:
    _register_knn(_name)


def _ids(real, fake: np.ndarray, ctx: SetMetricContext, name: str) -> SetMetricResult:
    short = too_few(name.upper().replace("IDS", "-IDS"), len(fake), MIN_N[name], "a two-class SVM")
    if short:
        return short
    if name == "pids" and ctx.reference is not None:
        return no_reference_pairs("P-IDS", ctx)
    got = _inputs(real, fake, ctx, name)
    if isinstance(got, SetMetricResult):
        return got
    rf, ff = got
    short = too_few("U-IDS", len(rf), MIN_N[name], "a two-class SVM (of the reference)")
    if short:
        return short
    res = ids_scores(rf, ff, random_state=ctx.seed, shared=ctx.shared)
    details = {
        **_common(rf, ff, ctx),
        **res.details,
        "interval": "no bootstrap interval: each replicate would refit the SVM",
    }
    return SetMetricResult(res.pids if name == "pids" else res.uids, float("nan"), float("nan"), details)


@register_metric(
    "pids",
    kind="set",
    higher_is_better=True,
    summary="P-IDS (Zhao et al. 2021): how often a linear SVM scores an output above its own real image",
)
def pids(real: np.ndarray | None, fake: np.ndarray, ctx: SetMetricContext) -> SetMetricResult:
    """Paired Inception discriminative score (see :func:`bench.metrics.ids.ids_scores`); 0.5 is ideal.

    Withheld with ``ctx.reference``: it compares each output with its own real image.
    """
    return _ids(real, fake, ctx, "pids")


@register_metric(
    "uids",
    kind="set",
    higher_is_better=True,
    summary="U-IDS (Zhao et al. 2021): misclassification rate of a linear SVM, real vs outputs",
)
def uids(real: np.ndarray | None, fake: np.ndarray, ctx: SetMetricContext) -> SetMetricResult:
    """Unpaired Inception discriminative score (see :func:`bench.metrics.ids.ids_scores`); 0.5 is ideal.

    Needs no pairing: with ``ctx.reference`` the SVM separates the outputs from the
    reference's per-image features; withheld when the reference holds statistics only.
    """
    return _ids(real, fake, ctx, "uids")
