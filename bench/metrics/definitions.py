"""The definition of each metric as a versioned string, recorded with every run.

Two numbers under one name are comparable only when the name meant the same computation:
a run writes :func:`metric_definitions` into ``config.json`` and a gate baseline keeps it, so
``bench check`` refuses to compare a PSNR capped at 100 dB with an uncapped one, or one SSIM
window with another. Each definition is the registry entry's ``definition``
(:class:`bench.metrics.registry.MetricInfo`); it changes its version whenever the numbers it gives change.
"""

from __future__ import annotations

from collections.abc import Iterable

from bench.metrics.registry import METRICS, MetricUnavailable, all_metrics, resolve


def base_metric(column: str) -> str:
    """The metric a record or summary column reports: ``hole_psnr`` -> ``psnr``."""
    return column[len("hole_") :] if column.startswith("hole_") else column


def metric_definitions(columns: Iterable[str]) -> dict[str, str]:
    """``{metric: definition}`` for the registered metrics with a definition behind ``columns`` (others are left out).

    A metric spec with options (``lpips:net=vgg``) is its own key: its options are part of its name.

    Examples
    --------
    >>> metric_definitions(["hole_psnr", "psnr", "my_metric"])
    {'psnr': 'psnr/2: 10 log10(1 / MSE), data_range 1, capped at 100 dB'}
    """
    all_metrics()  # registers the built-in metrics
    found = {}
    for name in dict.fromkeys(base_metric(c) for c in columns):
        family = name.split(":", 1)[0]
        definition = METRICS.get(family).definition if family in METRICS else ""
        if definition:
            found[name] = definition + (f" [{name}]" if name != family else "") + _weights_note(name)
    return found


def _weights_note(name: str) -> str:
    """``; weights: ...`` for a metric computed from weight files (their names and SHA-256), else ''."""
    info = resolve(name)
    if info.weights is None:
        return ""
    try:
        return f"; weights: {info.weights()}"
    except MetricUnavailable:  # not on this machine: no run here computed it, so nothing to compare
        return "; weights: not found on this machine"
