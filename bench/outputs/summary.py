"""Per-method summaries of a run's records: mean and bootstrap interval per metric, overall or per hole-area bin."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
import pandas as pd

from bench.core.stats import bootstrap_ci, group_labels
from bench.metrics import all_metrics
from bench.metrics.pixel import PSNR_COLUMNS, PSNR_MAX, psnr_capped
from bench.metrics.registry import REGIONS, MetricInfo, describe

# ``capped``: images whose PSNR sits at the cap (0 for other metrics); ``note``: why a set
# metric has no value (withheld at this n), empty otherwise.
SUMMARY_COLUMNS = ["method", "metric", "value", "low", "high", "n", "capped", "note"]

# LaMa's evaluation bins of hole area (fractions of the image): 0-10 %, ..., 50-60 %; areas of
# 60 % and more form one last bin. Each bin is [lo, hi): an area of exactly 0.10 is in 10-20 %.
LAMA_AREA_EDGES = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6)
BIN_COLUMNS = ["bin", "lo", "hi"]


def metric_columns(records: pd.DataFrame) -> list[str]:
    """Per-image metric columns present in ``records``, image region first then hole."""
    cols = [m.column(r) for r in REGIONS for m in all_metrics("image")]
    return [c for c in cols if c in records.columns]


def summarize(
    records: pd.DataFrame,
    set_metrics: dict[str, dict[str, Any]] | None = None,
    methods: list[str] | None = None,
    seed: int = 0,
    groups: dict[str, str] | None = None,
) -> pd.DataFrame:
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
        :func:`bench.core.stats.bootstrap_ci`); None resamples images. Set metrics keep
        the intervals they were stored with (their own image-level bootstrap).

    Returns
    -------
    DataFrame
        Columns ``method, metric, value, low, high, n, capped, note`` (``n`` counts images);
        ``seconds`` (time per image) is summarised like a metric. PSNR columns are
        clipped to :data:`~bench.metrics.pixel.PSNR_MAX` (records written before the cap
        may hold an infinity) and ``capped`` counts the images at the cap. A set metric
        withheld at this n has value NaN and its reason in ``note``.
    """
    rows = []
    ok = records[records["status"] == "ok"] if len(records) else records
    order = methods or list(dict.fromkeys(records["method"])) if len(records) else (methods or [])
    columns = metric_columns(ok) + (["seconds"] if "seconds" in ok.columns else [])
    for method in order:
        sub = ok[ok["method"] == method]
        labels = group_labels(list(sub["image_id"]), groups) if groups is not None else None
        for col in columns:
            values = sub[col].to_numpy(dtype=float)
            capped = 0
            if col in PSNR_COLUMNS:
                values = psnr_capped(values)
                capped = int((values == PSNR_MAX).sum())
            mean, low, high = bootstrap_ci(values, labels, seed=seed)
            rows.append(
                {
                    "method": method,
                    "metric": col,
                    "value": mean,
                    "low": low,
                    "high": high,
                    "n": int(sub[col].notna().sum()),
                    "capped": capped,
                    "note": "",
                }
            )
        for metric, res in (set_metrics or {}).get(method, {}).items():
            details = res.get("details") or {}
            rows.append(
                {
                    "method": method,
                    "metric": metric,
                    "value": _number(res.get("value")),
                    "low": _number(res.get("low")),
                    "high": _number(res.get("high")),
                    "n": details.get("n", len(sub)),
                    "capped": 0,
                    "note": withheld_reason(res),
                }
            )
    return pd.DataFrame(rows, columns=SUMMARY_COLUMNS)


def withheld_reason(result: dict[str, Any] | None) -> str:
    """Why a stored set-metric result has no value (``details["withheld"]``), or ``""``.

    A result without a finite value and without a stated reason (a file written before
    metrics said why) gets a generic reason, so no table shows a bare gap.
    """
    if not result:
        return ""
    details = result.get("details") or {}
    if details.get("withheld"):
        return str(details["withheld"])
    if not np.isfinite(_number(result.get("value"))):
        return str(details.get("warning") or "no value stored")
    return ""


def _number(value: Any) -> float:
    try:
        return float(value) if value is not None else float("nan")
    except (TypeError, ValueError):
        return float("nan")


@dataclass(frozen=True)
class AreaBin:
    """One bin of hole area (fractions of the image).

    Attributes
    ----------
    lo, hi : float
        Bounds; ``hi`` is None for the open last bin (every area from ``lo`` up).
    closed_low, closed_high : bool
        Whether ``lo`` / ``hi`` themselves belong to the bin.
    """

    lo: float
    hi: float | None
    closed_low: bool = True
    closed_high: bool = False

    def contains(self, area: np.ndarray) -> np.ndarray:
        """Boolean mask of the areas in this bin (NaN is in no bin)."""
        area = np.asarray(area, dtype=float)
        above = area >= self.lo if self.closed_low else area > self.lo
        if self.hi is None:
            return above
        return above & (area <= self.hi if self.closed_high else area < self.hi)

    def label(self, style: str = "text") -> str:
        """``10-20%``, or ``>=60%`` for the open bin (``$\\geq$60\\%`` in LaTeX)."""
        pct = "\\%" if style == "latex" else "%"
        if self.hi is None:
            sign = {
                ("text", True): "\u2265",
                ("text", False): ">",
                ("latex", True): r"$\geq$",
                ("latex", False): "$>$",
            }[(style, self.closed_low)]
            return f"{sign}{_percent(self.lo)}{pct}"
        dash = "--" if style == "latex" else "-"
        return f"{_percent(self.lo)}{dash}{_percent(self.hi)}{pct}"


def _percent(fraction: float) -> str:
    # Rounded first: 0.15 * 100 is 15.000000000000002.
    return f"{round(fraction * 100, 6):g}"


def area_bins_of(edges: tuple[float, ...] = LAMA_AREA_EDGES, close_last: bool = False) -> list[AreaBin]:
    """The bins that ``edges`` define, plus an open bin for areas beyond the last edge.

    Parameters
    ----------
    edges : tuple of float
        Increasing bin edges (area fractions), at least two.
    close_last : bool
        False (LaMa's convention): every bin is ``[lo, hi)`` and the open bin is
        ``[last edge, ...)``. True: the last regular bin also holds its upper edge
        and the open bin starts above it.

    Raises
    ------
    ValueError
        Edges that are not increasing or fewer than two.
    """
    edges = tuple(float(e) for e in edges)
    if len(edges) < 2 or any(b <= a for a, b in pairwise(edges)):
        raise ValueError(f"area bin edges must be increasing with at least two values, got {edges}")
    bins = [AreaBin(lo, hi) for lo, hi in pairwise(edges)]
    if close_last:
        bins[-1] = AreaBin(edges[-2], edges[-1], closed_high=True)
    bins.append(AreaBin(edges[-1], None, closed_low=not close_last))
    return bins


def assign_area_bins(areas, edges: tuple[float, ...] = LAMA_AREA_EDGES, close_last: bool = False) -> np.ndarray:
    """Index into :func:`area_bins_of` of each area; -1 for an area in no bin (NaN, below the first edge).

    Parameters
    ----------
    areas : array_like
        Hole areas as fractions of the image (``mask_area`` of the records).
    edges, close_last
        As in :func:`area_bins_of`.
    """
    areas = np.asarray(areas, dtype=float)
    codes = np.full(areas.shape, -1, dtype=np.int64)
    for k, b in enumerate(area_bins_of(edges, close_last)):
        codes[b.contains(areas) & (codes < 0)] = k
    return codes


def summarize_by_area(
    records: pd.DataFrame,
    methods: list[str] | None = None,
    seed: int = 0,
    groups: dict[str, str] | None = None,
    edges: tuple[float, ...] = LAMA_AREA_EDGES,
) -> pd.DataFrame:
    """:func:`summarize` of the per-image metrics within each hole-area bin.

    Parameters
    ----------
    records : DataFrame
        Rows of ``records.jsonl`` with ``mask_area``; only ``status == "ok"`` counts.
    methods : list of str, optional
        Method order.
    seed : int
        Bootstrap seed (the same in every bin).
    groups : dict, optional
        ``{image_id: group}``: intervals resample whole groups within each bin.
    edges : tuple of float
        Bin edges, LaMa's by default; bins are ``[lo, hi)`` and areas at or beyond
        the last edge form one last bin (see :func:`area_bins_of`).

    Returns
    -------
    DataFrame
        Columns ``bin, lo, hi`` (``hi`` NaN for the open bin) then those of
        :func:`summarize`; bins without a successful image are omitted. Set
        metrics (FID, KID) are not in it: they are functions of the images' features,
        computed per bin from the run's stored features by
        :func:`bench.outputs.report.set_bins.set_metric_bins`.

    Raises
    ------
    ValueError
        The records have no ``mask_area`` column.
    """
    if len(records) and "mask_area" not in records.columns:
        raise ValueError("records have no 'mask_area' column: cannot split them by hole area")
    ok = records[records["status"] == "ok"] if len(records) else records
    order = methods or (list(dict.fromkeys(records["method"])) if len(records) else [])
    codes = assign_area_bins(ok["mask_area"].to_numpy(dtype=float), edges) if len(ok) else np.zeros(0, int)
    frames = []
    for k, b in enumerate(area_bins_of(edges)):
        sub = ok[codes == k]
        if sub.empty:
            continue
        part = summarize(sub, None, methods=order, seed=seed, groups=groups)
        part.insert(0, "hi", np.nan if b.hi is None else b.hi)
        part.insert(0, "lo", b.lo)
        part.insert(0, "bin", b.label())
        frames.append(part)
    if not frames:
        return pd.DataFrame(columns=BIN_COLUMNS + SUMMARY_COLUMNS)
    return pd.concat(frames, ignore_index=True)


def interval_note(unit: str, units: int) -> str:
    """How the per-image intervals were made, for captions: ``resampling CelebA identities (22 units)``.

    Parameters
    ----------
    unit : str
        Description of the resampling unit (see :attr:`bench.inputs.data.Source.unit`).
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


# Time per image is tabulated like a metric but is none; a column no metric here describes
# (a plugin not installed on this machine) is printed with the registry's default digits.
SECONDS_DIGITS = 3
UNKNOWN_DIGITS: int = MetricInfo.digits


def digits_for(column: str) -> int:
    """Decimal places used when printing a record or summary column: the metric's ``digits`` in the registry."""
    if column == "seconds":
        return SECONDS_DIGITS
    try:
        return describe(column).digits
    except KeyError:
        return UNKNOWN_DIGITS


def capped_note(summary: pd.DataFrame) -> str:
    """One line naming the PSNR columns with images at the cap, e.g. ``PSNR capped at 100 dB: ...``; ``""`` if none."""
    if summary.empty or "capped" not in summary.columns:
        return ""
    at = summary[pd.to_numeric(summary["capped"], errors="coerce").fillna(0) > 0]
    if at.empty:
        return ""
    parts = [f"{r.method} {r.metric} {int(r.capped)}" for r in at.itertuples()]
    return (
        f"PSNR is capped at {PSNR_MAX:g} dB (an exact reconstruction has none); images at the cap: "
        + ", ".join(parts)
        + "."
    )


def withheld_notes(summary: pd.DataFrame) -> list[str]:
    """``metric of method withheld: reason`` for every set metric without a value."""
    if summary.empty or "note" not in summary.columns:
        return []
    notes = summary[summary["note"].map(lambda v: isinstance(v, str) and v != "")]
    return [f"{r.metric} of {r.method} withheld: {r.note}" for r in notes.itertuples()]


def to_markdown(summary: pd.DataFrame, metrics: list[str] | None = None, intervals: bool = True) -> str:
    """Wide Markdown table: methods as rows, ``mean [low, high]`` per metric (``mean`` alone without intervals).

    A PSNR mean over images at the cap says how many (``(2 at cap)``) and a withheld set metric
    reads ``withheld``; lines under the table give the cap and the reasons.
    """
    if summary.empty:
        return "(no results)\n"
    metrics = metrics or list(dict.fromkeys(summary["metric"]))
    methods = list(dict.fromkeys(summary["method"]))
    lines = ["| method | " + " | ".join(metrics) + " |", "|---|" + "---|" * len(metrics)]
    shown = summary[summary["metric"].isin(metrics)]
    for method in methods:
        sub = summary[summary["method"] == method].set_index("metric")
        cells = []
        for metric in metrics:
            if metric in sub.index:
                r = sub.loc[metric]
                text = _fmt(r["value"], r["low"], r["high"], digits_for(metric), intervals)
                capped = _number(r.get("capped"))
                if isinstance(r.get("note"), str) and r["note"]:
                    text = "withheld"
                elif capped > 0:
                    text += f" ({int(capped)} at cap)"
                cells.append(text)
            else:
                cells.append("-")
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    notes = [n for n in [capped_note(shown), *withheld_notes(shown)] if n]
    return "\n".join(lines) + "\n" + "".join(f"\n{n}\n" for n in notes)
