"""The metric registry: per-image metrics and set-level metrics (FID, KID, PRDC, IDS).

Per-image metrics are functions ``fn(pred, target, mask, region) -> float`` with
``region`` either ``"image"`` (the whole image) or ``"hole"`` (only the missing
pixels; SSIM averages its full-image map over the hole pixels). Records store them as
``<name>`` and ``hole_<name>``.

Set-level metrics compare the distribution of a method's outputs with the real
images of the same run: ``fn(real, fake, context) -> SetMetricResult``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.registry import Registry

REGIONS = ("image", "hole")


@dataclass(frozen=True)
class MetricInfo:
    """What the registry knows about one metric.

    Attributes
    ----------
    name : str
        Registry name (``psnr``); also the record column for the whole image.
    kind : str
        ``"image"`` (one value per image and region) or ``"set"`` (one value per method).
    higher_is_better : bool
        Direction used by tables (arrows, bold-best) and by the regression gate.
    fn : callable
        The implementation (see the module docstring for the two signatures).
    summary : str
        One line for ``bench list metrics``.
    """

    name: str
    kind: str
    higher_is_better: bool
    fn: Callable
    summary: str = ""

    def column(self, region: str = "image") -> str:
        """Record column holding this metric for ``region``."""
        return self.name if region == "image" else f"{region}_{self.name}"


@dataclass
class SetMetricContext:
    """Everything a set-level metric may need beyond the two image sets.

    Attributes
    ----------
    reference_key : dict
        Identifies the real images (dataset, split, preprocessing, n, seed, ids hash)
        so reference statistics can be cached on disk and reused.
    cache_dir : Path
        Where reference statistics may be cached.
    seed : int
        Seed for any resampling (bootstrap, KID subsets).
    options : dict
        Free-form options from the command line (e.g. ``fid_features`` path).
    progress : bool
        Whether to show progress bars.
    """

    reference_key: dict[str, Any]
    cache_dir: Path
    seed: int = 0
    options: dict[str, Any] = field(default_factory=dict)
    progress: bool = True


@dataclass
class SetMetricResult:
    """Value of a set-level metric with its interval and any details worth recording."""

    value: float
    low: float = float("nan")
    high: float = float("nan")
    details: dict[str, Any] = field(default_factory=dict)


METRICS: Registry[MetricInfo] = Registry("metric")


def register_metric(name: str, *, kind: str, higher_is_better: bool, summary: str = "") -> Callable:
    """Register a metric implementation under ``name``.

    Parameters
    ----------
    name : str
        Registry name and record column.
    kind : {"image", "set"}
        Per-image or set-level metric.
    higher_is_better : bool
        Direction of improvement.
    summary : str
        One line for ``bench list metrics``.
    """
    if kind not in ("image", "set"):
        raise ValueError(f"metric kind must be 'image' or 'set', got {kind!r}")

    def deco(fn: Callable) -> Callable:
        METRICS.add(name, MetricInfo(name, kind, higher_is_better, fn, summary))
        return fn

    return deco


# Set-level metrics live in modules that import torch; they register when
# imported here so that `bench list metrics` and the runner see one table.
METRIC_MODULES = ("bench.metrics.pixel", "bench.metrics.fid", "bench.metrics.set_scores")


def _load() -> None:
    import importlib

    for module in METRIC_MODULES:
        importlib.import_module(module)


def get_metric(name: str) -> MetricInfo:
    """Registry entry for ``name``."""
    _load()
    return METRICS.get(name)


def all_metrics(kind: str | None = None) -> list[MetricInfo]:
    """Registered metrics, optionally only those of one kind, sorted by name."""
    _load()
    return [m for _, m in METRICS.items() if kind is None or m.kind == kind]


# What `bench run` scores unless --metrics says otherwise: the study's pixel metrics, both SSIM
# windows, FID (with FID-infinity) and KID. The k-NN and SVM set metrics (precision, recall,
# density, coverage, P-IDS, U-IDS) are opt-in (`--metrics all` or by name): P-IDS/U-IDS are 0 for
# every method below n ~ 2048 (a linear SVM separates any 2n points in 2048 dimensions), and the
# SVM fits cost seconds per method.
DEFAULT_METRICS = ("mse", "l1", "psnr", "ssim", "ssim_gaussian", "fid", "fid_inf", "kid", "kid_paired")


def default_metrics() -> list[MetricInfo]:
    """The metrics of a run that does not name its own (:data:`DEFAULT_METRICS`)."""
    _load()
    return [METRICS.get(name) for name in DEFAULT_METRICS]


def metric_names(text: str) -> list[str] | None:
    """Parse a ``--metrics`` value: ``default`` (None, see :data:`DEFAULT_METRICS`), ``all`` or a list."""
    key = text.strip().lower()
    if key in ("", "default"):
        return None
    if key == "all":
        return [m.name for m in all_metrics()]
    return [m.strip() for m in text.split(",") if m.strip()]


def column_direction(column: str) -> bool:
    """Whether higher is better for a record or summary column like ``hole_psnr``."""
    _load()
    name = column
    for region in REGIONS:
        if column.startswith(region + "_"):
            name = column[len(region) + 1 :]
    return METRICS.get(name).higher_is_better


def evaluate_image(
    pred: np.ndarray, target: np.ndarray, mask: np.ndarray, metrics: list[MetricInfo]
) -> dict[str, float]:
    """All per-image metrics on the whole image and on the hole.

    Returns
    -------
    dict
        ``{column: value}`` with columns as :meth:`MetricInfo.column` names them.
    """
    row: dict[str, float] = {}
    for m in metrics:
        for region in REGIONS:
            row[m.column(region)] = float(m.fn(pred, target, mask, region))
    return row
