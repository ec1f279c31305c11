"""The definition of each built-in metric as a versioned string, recorded with every run.

Two numbers under one name are comparable only when the name meant the same computation:
a run writes :func:`metric_definitions` into ``config.json`` and a gate baseline keeps it, so
``bench check`` refuses to compare a PSNR capped at 100 dB with an uncapped one, or one SSIM
window with another. A definition changes its version whenever the numbers it gives change.
"""

from __future__ import annotations

from collections.abc import Iterable

from bench.metrics.pixel import PSNR_MAX

DEFINITIONS: dict[str, str] = {
    "mse": "mse/1: mean squared error, [0, 1] scale, 8-bit images",
    "l1": "l1/1: mean absolute error, [0, 1] scale, 8-bit images",
    "psnr": f"psnr/2: 10 log10(1 / MSE), data_range 1, capped at {PSNR_MAX:g} dB",
    "ssim": "ssim/1: scikit-image, 7x7 uniform window, data_range 1; hole: SSIM map averaged over the hole",
    "ssim_gaussian": "ssim_gaussian/1: 11x11 Gaussian window, sigma 1.5, data_range 1; hole: map averaged",
    "lpips": "lpips/1: LPIPS v0.1 heads (Zhang et al. 2018), net from the spec; hole: map averaged over the hole",
    "msssim": "msssim/1: 5-scale MS-SSIM as pytorch-msssim, data_range 1; scales from the spec",
    "flip": "flip/1: LDR-FLIP (Andersson et al. 2020), 67 pixels per degree; hole: map averaged over the hole",
    "fid": "fid/1: Frechet distance of pool3 features, float64, ddof 1; n >= 2",
    "fid_inf": "fid_inf/2: intercept of FID(n) = a + b/n over 15 subset sizes n/2..n; withheld below 28 or if < 0",
    "kid": "kid/1: unbiased MMD^2, cubic kernel, subsets of 1000; n >= 2",
    "kid_paired": "kid_paired/1: kid without the matched cross pairs; n >= 2",
    "precision": "precision/1: Kynkaanniemi et al. 2019, k = 3",
    "recall": "recall/1: Kynkaanniemi et al. 2019, k = 3",
    "density": "density/1: Naeem et al. 2020, k = 5",
    "coverage": "coverage/1: Naeem et al. 2020, k = 5",
    "pids": "pids/1: LinearSVC(dual=False, C=1), unstandardised, in-sample",
    "uids": "uids/1: LinearSVC(dual=False, C=1), unstandardised, in-sample",
}


def base_metric(column: str) -> str:
    """The metric a record or summary column reports: ``hole_psnr`` -> ``psnr``."""
    return column[len("hole_") :] if column.startswith("hole_") else column


def metric_definitions(columns: Iterable[str]) -> dict[str, str]:
    """``{metric: definition}`` for the built-in metrics behind ``columns`` (others are left out).

    A metric spec with options (``lpips:net=vgg``) is its own key: its options are part of its name.

    Examples
    --------
    >>> metric_definitions(["hole_psnr", "psnr", "my_metric"])
    {'psnr': 'psnr/2: 10 log10(1 / MSE), data_range 1, capped at 100 dB'}
    """
    names = dict.fromkeys(base_metric(c) for c in columns)
    found = {}
    for name in names:
        family = name.split(":", 1)[0]
        if family in DEFINITIONS:
            found[name] = DEFINITIONS[family] + (f" [{name}]" if name != family else "")
    return found
