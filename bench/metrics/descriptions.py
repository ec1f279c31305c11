"""How the metrics registered without a description are shown and gated: label, digits, tolerance, table.

The registry merges these into the entries of :mod:`bench.metrics.pixel`, :mod:`bench.metrics.fid`
and :mod:`bench.metrics.set_scores` when they register; a metric registered with its own
description (``register_metric(..., label=..., digits=...)``) needs no line here.
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
    },
    "l1": {
        "label": "L1",
        "digits": 4,
        "tolerance": {"abs": 2e-4},
        "hole_tolerance": {"abs": 1e-3},
        "reference": "mean absolute error",
    },
    "psnr": {
        "label": "PSNR",
        "digits": 2,
        "tolerance": {"abs": 0.1},
        "hole_tolerance": {"abs": 0.2},
        "reference": "10 log10(1 / MSE), data_range=1, as scikit-image; exact outputs capped at 100 dB",
    },
    "ssim": {
        "label": "SSIM",
        "digits": 4,
        "tolerance": {"abs": 0.002},
        "hole_tolerance": {"abs": 0.005},
        "reference": "scikit-image structural_similarity (Wang et al. 2004), 7x7 uniform window",
    },
    "ssim_gaussian": {
        "label": "SSIM-G",
        "digits": 4,
        "tolerance": {"abs": 0.002},
        "hole_tolerance": {"abs": 0.005},
        "reference": "Wang et al. 2004, 11x11 Gaussian window, sigma 1.5",
    },
    "fid": {
        "label": "FID",
        "digits": 2,
        "tolerance": {"abs": 0.5, "rel": 0.02},
        "reference": "Heusel et al. 2017; TF Inception pool3 as pytorch-fid",
    },
    "fid_inf": {
        "label": "FID-inf",
        "digits": 2,
        "tolerance": {"abs": 0.5, "rel": 0.02},
        "reference": "Chong and Forsyth 2020",
    },
    "kid": {
        "label": "KID",
        "digits": 4,
        "tolerance": {"abs": 0.002},
        "reference": "Binkowski et al. 2018; unbiased estimator as torchmetrics",
    },
    "kid_paired": {
        "label": "KID-paired",
        "digits": 4,
        "tolerance": {"abs": 0.002},
        "reference": "KID without each output's own real image in the cross term (this suite)",
    },
    "precision": {"label": "Prec.", "digits": 3, "tolerance": {"abs": 0.02}, "reference": "Kynkaanniemi et al. 2019"},
    "recall": {"label": "Rec.", "digits": 3, "tolerance": {"abs": 0.02}, "reference": "Kynkaanniemi et al. 2019"},
    "density": {"label": "Dens.", "digits": 3, "tolerance": {"abs": 0.02}, "reference": "Naeem et al. 2020"},
    "coverage": {"label": "Cov.", "digits": 3, "tolerance": {"abs": 0.02}, "reference": "Naeem et al. 2020"},
    "pids": {"label": "P-IDS", "digits": 3, "tolerance": {"abs": 0.02}, "reference": _IDS},
    "uids": {"label": "U-IDS", "digits": 3, "tolerance": {"abs": 0.02}, "reference": _IDS},
}
