"""Metric registry and implementations."""

from bench.metrics.registry import (
    METRICS,
    MetricInfo,
    SetMetricContext,
    SetMetricResult,
    all_metrics,
    column_direction,
    default_metrics,
    evaluate_image,
    get_metric,
    metric_names,
    register_metric,
)

__all__ = [
    "METRICS",
    "MetricInfo",
    "SetMetricContext",
    "SetMetricResult",
    "all_metrics",
    "column_direction",
    "default_metrics",
    "evaluate_image",
    "get_metric",
    "metric_names",
    "register_metric",
]
