"""How the built-in metrics are shown and gated (label, digits, tolerance, table) and what they compute.

The registry merges these into the entries of :mod:`bench.metrics.pixel`, :mod:`bench.metrics.fid`
and :mod:`bench.metrics.set_scores` when they register; a metric registered with its own
description (``register_metric(..., label=..., digits=...)``) needs no line here but its ``definition``.

``definition`` is the versioned string a run records and a gate baseline keeps (see
:mod:`bench.metrics.definitions`): it changes its version, never its text, whenever the numbers change.
"""

from __future__ import annotations

from typing import Any

_IDS = "Zhao et al. 2021, co-mod-gan's evaluation code"

BUILT_IN_DESCRIPTIONS: dict[str, dict[str, Any]] = {
    "mse": {
        "label": "MSE",
        "digits": 4,
        "tolerance": {"abs": 1e-4},
        "hole_tolerance": {"abs": 5e-4},
        "reference": "scikit-image mean_squared_error",
        "definition": "mse/1: mean squared error, [0, 1] scale, 8-bit images",
    },
    "l1": {
        "label": "L1",
        "digits": 4,
        "tolerance": {"abs": 2e-4},
        "hole_tolerance": {"abs": 1e-3},
        "reference": "mean absolute error",
        "definition": "l1/1: mean absolute error, [0, 1] scale, 8-bit images",
    },
    "psnr": {
        "label": "PSNR",
        "digits": 2,
        "tolerance": {"abs": 0.1},
        "hole_tolerance": {"abs": 0.2},
        "reference": "10 log10(1 / MSE), data_range=1, as scikit-image; exact outputs capped at 100 dB",
        "definition": "psnr/2: 10 log10(1 / MSE), data_range 1, capped at 100 dB",
    },
    "ssim": {
        "label": "SSIM",
        "digits": 4,
        "tolerance": {"abs": 0.002},
        "hole_tolerance": {"abs": 0.005},
        "reference": "scikit-image structural_similarity (Wang et al. 2004), 7x7 uniform window",
        "definition": "ssim/1: scikit-image, 7x7 uniform window, data_range 1; hole: SSIM map averaged over the hole",
    },
    "ssim_gaussian": {
        "label": "SSIM-G",
        "digits": 4,
        "tolerance": {"abs": 0.002},
        "hole_tolerance": {"abs": 0.005},
        "reference": "Wang et al. 2004, 11x11 Gaussian window, sigma 1.5",
        "definition": "ssim_gaussian/1: 11x11 Gaussian window, sigma 1.5, data_range 1; hole: map averaged",
    },
    "fid": {
        "label": "FID",
        "digits": 2,
        "tolerance": {"abs": 0.5, "rel": 0.02},
        "reference": "Heusel et al. 2017; TF Inception pool3 as pytorch-fid",
        "definition": "fid/1: Frechet distance of pool3 features, float64, ddof 1; n >= 2",
    },
    "fid_inf": {
        "label": "FID-inf",
        "digits": 2,
        "tolerance": {"abs": 0.5, "rel": 0.02},
        "reference": "Chong and Forsyth 2020",
        "definition": "fid_inf/2: intercept of FID(n) = a + b/n over 15 subset sizes n/2..n; withheld below 28 or if < 0",
    },
    "kid": {
        "label": "KID",
        "digits": 4,
        "tolerance": {"abs": 0.002},
        "reference": "Binkowski et al. 2018; unbiased estimator as torchmetrics",
        "definition": "kid/1: unbiased MMD^2, cubic kernel, subsets of 1000; n >= 2",
    },
    "kid_paired": {
        "label": "KID-paired",
        "digits": 4,
        "tolerance": {"abs": 0.002},
        "reference": "KID without each output's own real image in the cross term (this suite)",
        "definition": "kid_paired/1: kid without the matched cross pairs; n >= 2",
    },
    "precision": {
        "label": "Prec.",
        "digits": 3,
        "tolerance": {"abs": 0.02},
        "reference": "Kynkaanniemi et al. 2019",
        "definition": "precision/1: Kynkaanniemi et al. 2019, k = 3",
    },
    "recall": {
        "label": "Rec.",
        "digits": 3,
        "tolerance": {"abs": 0.02},
        "reference": "Kynkaanniemi et al. 2019",
        "definition": "recall/1: Kynkaanniemi et al. 2019, k = 3",
    },
    "density": {
        "label": "Dens.",
        "digits": 3,
        "tolerance": {"abs": 0.02},
        "reference": "Naeem et al. 2020",
        "definition": "density/1: Naeem et al. 2020, k = 5",
    },
    "coverage": {
        "label": "Cov.",
        "digits": 3,
        "tolerance": {"abs": 0.02},
        "reference": "Naeem et al. 2020",
        "definition": "coverage/1: Naeem et al. 2020, k = 5",
    },
    "pids": {
        "label": "P-IDS",
        "digits": 3,
        "tolerance": {"abs": 0.02},
        "reference": _IDS,
        "definition": "pids/1: LinearSVC(dual=False, C=1), unstandardised, in-sample",
    },
    "uids": {
        "label": "U-IDS",
        "digits": 3,
        "tolerance": {"abs": 0.02},
        "reference": _IDS,
        "definition": "uids/1: LinearSVC(dual=False, C=1), unstandardised, in-sample",
    },
    "lpips": {
        "definition": "lpips/1: LPIPS v0.1 heads (Zhang et al. 2018), net from the spec; hole: map averaged over the hole"
    },
    "msssim": {"definition": "msssim/1: 5-scale MS-SSIM as pytorch-msssim, data_range 1; scales from the spec"},
    "flip": {
        "definition": "flip/1: LDR-FLIP (Andersson et al. 2020), 67 pixels per degree; hole: map averaged over the hole"
    },
}
