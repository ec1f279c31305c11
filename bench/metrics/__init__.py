"""Metric registry and implementations."""

from bench.metrics.registry import (
    METRICS,
    MetricInfo,
    SetMetricContext,
    SetMetricResult,
    all_metrics,
    column_direction,
    evaluate_image,
    get_metric,
    register_metric,
)

__all__ = [
    "METRICS",
    "MetricInfo",
    "SetMetricContext",
    "SetMetricResult",
    "all_metrics",
    "column_direction",
    "evaluate_image",
    "get_metric",
    "register_metric",
]
