"""Registered set metrics beyond FID and KID, from the same Inception pool3 features.

``precision`` and ``recall`` (Kynkaanniemi et al. 2019, k = 3), ``density`` and
``coverage`` (Naeem et al. 2020, k = 5), ``pids`` and ``uids`` (Zhao et al. 2021).
The features come from :func:`bench.metrics.fid.features_for`, so a method's
Inception pass and the real set's cached features are shared with ``fid``; the
k-NN distances and the SVM fit are computed once for all metrics of a method
(memoised by the features' content in :mod:`bench.metrics.gram` and
:mod:`bench.metrics.ids`). Importing this module does not import torch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from bench.metrics.fid import MIN_N, extractor_details, features_for, too_few
from bench.metrics.prdc import K_DC, K_PR, density_coverage, precision_recall
from bench.metrics.registry import SetMetricContext, SetMetricResult, register_metric

NO_INTERVAL = (
    "no bootstrap interval: resampling with replacement duplicates images, and a duplicate is its "
    "own nearest neighbour, which shrinks every k-NN radius"
)


def _common(rf: np.ndarray, ff: np.ndarray, extractor) -> dict[str, Any]:
    return {
        "n": int(min(len(rf), len(ff))),
        "n_real": len(rf),
        "n_fake": len(ff),
        "feature_dim": int(rf.shape[1]),
        **extractor_details(extractor),
    }


# name: (k, paper, what it measures)
_KNN = {
    "precision": (K_PR, "Kynkaanniemi et al. 2019", "fraction of outputs inside the real k-NN manifold"),
    "recall": (K_PR, "Kynkaanniemi et al. 2019", "fraction of real images inside the outputs' k-NN manifold"),
    "density": (K_DC, "Naeem et al. 2020", "real k-NN balls per output, divided by k (about 1 for real-like outputs)"),
    "coverage": (K_DC, "Naeem et al. 2020", "fraction of real k-NN balls holding at least one output"),
}


def _knn(real: list[np.ndarray], fake: list[np.ndarray], ctx: SetMetricContext, name: str) -> SetMetricResult:
    k, paper, what = _KNN[name]
    # A k-NN radius needs k other images; said in the result rather than stopping the run.
    short = too_few(name, len(fake), k + 1, f"a k-NN radius with k = {k} needs k other images")
    if short:
        return short
    rf, ff, extractor = features_for(real, fake, ctx)
    # Each pair shares one computation; the distances behind both are cached across the four metrics.
    if name in ("precision", "recall"):
        values = dict(zip(("precision", "recall"), precision_recall(rf, ff, k)))
    else:
        values = dict(zip(("density", "coverage"), density_coverage(rf, ff, k)))
    details = {
        **_common(rf, ff, extractor),
        "k": k,
        "estimator": f"{paper}: {what}",
        "interval": NO_INTERVAL,
        "note": "k-NN radii shrink as n grows: compare values at equal n only",
    }
    return SetMetricResult(values[name], float("nan"), float("nan"), details)


def _register_knn(name: str) -> None:
    k, paper, what = _KNN[name]

    def fn(real: list[np.ndarray], fake: list[np.ndarray], ctx: SetMetricContext) -> SetMetricResult:
        return _knn(real, fake, ctx, name)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"{name.capitalize()} of ``fake`` against ``real`` ({paper}, k = {k}): {what}."
    register_metric(name, kind="set", higher_is_better=True, summary=f"{what} ({paper}, k = {k})")(fn)


for _name in _KNN:
    _register_knn(_name)


def _ids(real: list[np.ndarray], fake: list[np.ndarray], ctx: SetMetricContext, name: str) -> SetMetricResult:
    from bench.metrics.ids import ids_scores

    short = too_few(name.upper().replace("IDS", "-IDS"), len(fake), MIN_N[name], "a two-class SVM")
    if short:
        return short
    rf, ff, extractor = features_for(real, fake, ctx)
    res = ids_scores(rf, ff, random_state=ctx.seed)
    details = {
        **_common(rf, ff, extractor),
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
def pids(real: list[np.ndarray], fake: list[np.ndarray], ctx: SetMetricContext) -> SetMetricResult:
    """Paired Inception discriminative score (see :func:`bench.metrics.ids.ids_scores`); 0.5 is ideal."""
    return _ids(real, fake, ctx, "pids")


@register_metric(
    "uids",
    kind="set",
    higher_is_better=True,
    summary="U-IDS (Zhao et al. 2021): misclassification rate of a linear SVM, real vs outputs",
)
def uids(real: list[np.ndarray], fake: list[np.ndarray], ctx: SetMetricContext) -> SetMetricResult:
    """Unpaired Inception discriminative score (see :func:`bench.metrics.ids.ids_scores`); 0.5 is ideal."""
    return _ids(real, fake, ctx, "uids")
