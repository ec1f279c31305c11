"""How one metric value is shown: its label, its arrow, its interval and whether it is best.

Every rendering (Markdown, LaTeX, figures) goes through these functions so the
tables agree with each other on digits, arrows and which cell is bold, and so
every FID/KID caption describes the feature extractor in the same words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from bench.metrics import column_direction
from bench.metrics.registry import describe
from bench.outputs.summary import digits_for

# Time per image is tabulated like a metric but is not one.
SECONDS_LABEL = "s/img"

ARROWS = {
    "text": ("\u2191", "\u2193"),
    "latex": (r"$\uparrow$", r"$\downarrow$"),
}
PLUS_MINUS = {"text": "\u00b1", "latex": r"$\pm$"}
MISSING = {"text": "\u2013", "latex": "--"}


def base_name(column: str) -> str:
    """Metric name of a record column (``hole_psnr`` -> ``psnr``)."""
    return column.removeprefix("hole_")


def higher_is_better(column: str) -> bool:
    """Direction of a record or summary column, from the metric registry.

    ``seconds`` (time per image) is not a registered metric but is tabulated
    like one; less time is better.
    """
    if column == "seconds":
        return False
    return column_direction(column)


def arrow(column: str, style: str = "text") -> str:
    """Arrow saying which way is better: up for PSNR/SSIM, down for MSE/FID/KID."""
    up, down = ARROWS[_style(style)]
    return up if higher_is_better(column) else down


def display_label(column: str) -> str:
    """Display name of a column's metric, from the registry (``hole_psnr`` -> ``PSNR``).

    A column no metric here describes (a plugin not installed on this machine) is shown upper-cased.
    """
    if column == "seconds":
        return SECONDS_LABEL
    try:
        return describe(column).display_label
    except KeyError:
        return base_name(column).upper()


def metric_label(column: str, style: str = "text") -> str:
    """Column header such as ``PSNR\u2191`` (``hole_`` prefixes are dropped: the caption says hole)."""
    return display_label(column) + arrow(column, style)


def format_interval(value: float, low: float, high: float, digits: int, style: str = "text") -> str:
    """``value \u00b1 half-width`` of the interval, both rounded to ``digits`` decimals.

    Parameters
    ----------
    value : float
        Point estimate (a mean).
    low, high : float
        Interval bounds; when either is missing or they coincide only the value is shown.
    digits : int
        Decimal places.
    style : {"text", "latex"}
        Unicode ``\u00b1`` or LaTeX ``$\\pm$``.

    Returns
    -------
    str
        e.g. ``"29.64 \u00b1 2.80"``; a dash for a missing value.

    Notes
    -----
    Percentile-bootstrap intervals need not be symmetric; the half-width is the
    conventional compact summary, and tables state that it is one.
    """
    style = _style(style)
    if not _finite_or_inf(value):
        return MISSING[style]
    text = _number(value, digits, style)
    if low is None or high is None or not (np.isfinite(low) and np.isfinite(high)) or low == high:
        return text
    half = (float(high) - float(low)) / 2.0
    return f"{text} {PLUS_MINUS[style]} {half:.{digits}f}"


def best_flags(values: pd.Series, column: str, digits: int | None = None) -> pd.Series:
    """Which entries of a column are best, comparing values as they are printed.

    Parameters
    ----------
    values : Series
        One value per method (NaN = missing).
    column : str
        Record column; gives the direction and, by default, the digits.
    digits : int, optional
        Decimal places used for printing; values equal after rounding tie, so
        every cell that *reads* best is bold.

    Returns
    -------
    Series of bool
        All False when fewer than two methods have a value (nothing to compare).
    """
    digits = digits_for(column) if digits is None else digits
    numeric = pd.to_numeric(values, errors="coerce").astype(float)
    present = numeric.notna()
    if present.sum() < 2:
        return pd.Series(False, index=values.index)
    rounded = numeric.round(digits)
    best = rounded[present].max() if higher_is_better(column) else rounded[present].min()
    return present & (rounded == best)


def _number(value: float, digits: int, style: str) -> str:
    if math.isinf(value):
        sign = "-" if value < 0 else ""
        return sign + ("\u221e" if style == "text" else r"$\infty$")
    return f"{value:.{digits}f}"


def _finite_or_inf(value) -> bool:
    return value is not None and not (isinstance(value, float) and math.isnan(value)) and not pd.isna(value)


def _style(style: str) -> str:
    if style not in ARROWS:
        raise ValueError(f"unknown format style {style!r} (known: {', '.join(ARROWS)})")
    return style


# Every metric, FID and KID included, is computed on the images as the run saved them.
QUANTISATION = "8-bit PNGs"


def describe_features(details: Mapping[str, Any] | None = None) -> str:
    """The feature extractor behind a FID/KID value, as caption text.

    Parameters
    ----------
    details : mapping, optional
        ``details`` of a set-metric result in ``set_metrics.json`` (``extractor``,
        ``extractor_sha256``, ``resize``). Without them the standard network is
        described and the text says it is assumed.

    Returns
    -------
    str
        e.g. ``Inception-v3 pool3, 2048-d (TF 2015-12-05 FID weights, as pytorch-fid),
        bilinear resize to 299 (torch interpolate, align_corners=False,
        antialias=False), 8-bit PNGs``. The network's constants come from
        :mod:`bench.metrics.inception`, the run's own record decides which network it was.
    """
    from bench.metrics.inception import (
        INCEPTION_DIM,
        INCEPTION_RESIZE,
        INCEPTION_SHA256,
        INCEPTION_SIZE,
    )

    details = dict(details or {})
    sha = details.get("extractor_sha256")
    resize = str(details.get("resize") or INCEPTION_RESIZE)
    dim = details.get("feature_dim", INCEPTION_DIM)
    if sha is None or sha == INCEPTION_SHA256:
        network = f"Inception-v3 pool3, {dim}-d (TF 2015-12-05 FID weights, as pytorch-fid)"
        if sha is None:
            network += " [assumed: the run does not record its extractor]"
    else:
        network = f"user extractor {details.get('extractor', '?')} (sha256 {str(sha)[:12]}), {dim}-d"
    prefix = f"bilinear-{INCEPTION_SIZE}"
    if resize.startswith(prefix):
        resize = f"bilinear resize to {INCEPTION_SIZE}" + resize[len(prefix) :]
    else:
        resize = f"resize: {resize}"
    return f"{network}, {resize}, {QUANTISATION}"
