"""Per-method summaries of a run's records: mean and bootstrap interval per metric."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from bench.metrics import all_metrics
from bench.metrics.registry import REGIONS
from bench.stats import bootstrap_ci, group_labels

SUMMARY_COLUMNS = ["method", "metric", "value", "low", "high", "n"]


def metric_columns(records: pd.DataFrame) -> list[str]:
    """Per-image metric columns present in ``records``, image region first then hole."""
    cols = [m.column(r) for r in REGIONS for m in all_metrics("image")]
    return [c for c in cols if c in records.columns]


def summarize(records: pd.DataFrame, set_metrics: dict[str, dict[str, Any]] | None = None,
              methods: list[str] | None = None, seed: int = 0,
              groups: dict[str, str] | None = None) -> pd.DataFrame:
    """Long summary table: one row per (method, metric) with mean and 95 % interval.

    Parameters
    ----------
    records : DataFrame
        Rows of ``records.jsonl``; only rows with ``status == "ok"`` count.
    set_metrics : dict, optional
        ``{method: {metric: {"value", "low", "high", "details"}}}``.
    methods : list of str, optional
        Method order; defaults to order of first appearance.
    seed : int
        Bootstrap seed.
    groups : dict, optional
        ``{image_id: group}``: per-image metrics resample whole groups (see
        :func:`bench.stats.bootstrap_ci`); None resamples images. Set metrics keep
        the intervals they were stored with (their own image-level bootstrap).

    Returns
    -------
    DataFrame
        Columns ``method, metric, value, low, high, n`` (``n`` counts images);
        ``seconds`` (time per image) is summarised like a metric.
    """
    rows = []
    ok = records[records["status"] == "ok"] if len(records) else records
    order = methods or list(dict.fromkeys(records["method"])) if len(records) else (methods or [])
    columns = metric_columns(ok) + (["seconds"] if "seconds" in ok.columns else [])
    for method in order:
        sub = ok[ok["method"] == method]
        labels = group_labels(list(sub["image_id"]), groups) if groups is not None else None
        for col in columns:
            mean, low, high = bootstrap_ci(sub[col].to_numpy(dtype=float), labels, seed=seed)
            rows.append({"method": method, "metric": col, "value": mean, "low": low, "high": high,
                         "n": int(sub[col].notna().sum())})
        for metric, res in (set_metrics or {}).get(method, {}).items():
            rows.append({"method": method, "metric": metric, "value": res.get("value"),
                         "low": res.get("low"), "high": res.get("high"),
                         "n": (res.get("details") or {}).get("n", len(sub))})
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def interval_note(unit: str, units: int) -> str:
    """How the per-image intervals were made, for captions: ``resampling CelebA identities (22 units)``.

    Parameters
    ----------
    unit : str
        Description of the resampling unit (see :attr:`bench.data.Source.unit`).
    units : int
        Number of distinct units among the images.
    """
    return f"resampling {unit} ({units} unit{'s' if units != 1 else ''})"


def _fmt(value: float, low: float, high: float, digits: int, intervals: bool = True) -> str:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return "-"
    text = f"{value:.{digits}f}"
    if intervals and low is not None and high is not None and np.isfinite(low) and np.isfinite(high) and low != high:
        text += f" [{low:.{digits}f}, {high:.{digits}f}]"
    return text


DIGITS = {"mse": 4, "l1": 4, "psnr": 2, "ssim": 4, "fid": 2, "kid": 4, "seconds": 3}


def digits_for(column: str) -> int:
    """Decimal places used when printing a metric column."""
    return DIGITS.get(column.split("_")[-1], 4)


def to_markdown(summary: pd.DataFrame, metrics: list[str] | None = None, intervals: bool = True) -> str:
    """Wide Markdown table: methods as rows, ``mean [low, high]`` per metric (``mean`` alone without intervals)."""
    if summary.empty:
        return "(no results)\n"
    metrics = metrics or list(dict.fromkeys(summary["metric"]))
    methods = list(dict.fromkeys(summary["method"]))
    lines = ["| method | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    for method in methods:
        sub = summary[summary["method"] == method].set_index("metric")
        cells = []
        for metric in metrics:
            if metric in sub.index:
                r = sub.loc[metric]
                cells.append(_fmt(r["value"], r["low"], r["high"], digits_for(metric), intervals))
            else:
                cells.append("-")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
