"""What a report holds before it is rendered: its options, its tables and the paired cells.

:mod:`bench.outputs.report.build` writes them as LaTeX, figures and files;
:mod:`bench.outputs.report.document` writes them as the Markdown report.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.metrics.registry import describe
from bench.outputs.report import paired
from bench.outputs.report.format import format_interval, metric_label
from bench.outputs.report.latex import TEXT_WIDTH_PT
from bench.outputs.report.set_bins import binnable_columns, reference_reason, set_metric_bins
from bench.outputs.report.tables import (
    BinTable,
    MetricTable,
    RunData,
    area_tables,
    metric_table,
    table_columns,
)
from bench.outputs.run_features import RunFeatures
from bench.outputs.summary import (
    LAMA_AREA_EDGES,
    AreaBin,
    area_bins_of,
    assign_area_bins,
    digits_for,
    summarize_by_area,
)

# No whole-image PSNR: with the known pixels copied back, a PSNR difference between two methods
# on the whole image equals their hole-PSNR difference exactly, so that column would say nothing new.
PAIRED_COLUMNS = ("hole_psnr", "hole_ssim", "ssim")
# Axes a report's tables can be split by (``--bins``).
BIN_AXES = ("area",)


@dataclass
class ReportOptions:
    """What ``bench report`` produces.

    Attributes
    ----------
    methods : list of str, optional
        Methods and their order (default: all, in run order). The first is the
        reference of paired comparisons and ranks the automatic grid rows.
    reference : str, optional
        Reference of the paired comparisons (default: the first method).
    latex, compile, grid : bool
        Write LaTeX tables; compile them to PDF when an engine exists; draw the grid.
    images : list of str, optional
        Grid rows; default best, median and worst of the first method by ``rank_by``.
    rank_by : str or None
        Column ranking the automatic grid rows; None: ``hole_psnr``, or the run's first hole metric
        when it has no PSNR (see :func:`ranking_column`).
    error_maps : bool
        Add error-map columns to the grid.
    bar_column, area_column : str
        Metric of the bar chart and of the hole-area figure.
    paired_columns : tuple of str
        Metrics of the paired comparison.
    label : str
        Prefix of the LaTeX labels (``tab:inpainting`` -> ``tab:inpainting-image`` ...).
    bins : str, optional
        ``"area"``: also split every table (image, hole, paired, set metrics) by hole area,
        LaMa's bins (:data:`bench.outputs.summary.LAMA_AREA_EDGES`); the set metrics are
        computed per bin from the run's stored features (:mod:`bench.outputs.report.set_bins`).
    latex_width_pt : float
        Text width the LaTeX tables must fit.
    """

    methods: list[str] | None = None
    reference: str | None = None
    latex: bool = True
    compile: bool = True
    grid: bool = True
    images: list[str] | None = None
    rank_by: str | None = None
    error_maps: bool = False
    bar_column: str = "hole_psnr"
    area_column: str = "hole_psnr"
    paired_columns: tuple[str, ...] = PAIRED_COLUMNS
    label: str = "tab:inpainting"
    bins: str | None = None
    latex_width_pt: float = TEXT_WIDTH_PT


def ranking_column(records: pd.DataFrame, asked: str | None) -> str:
    """The column ranking a grid's rows: the one asked for, else hole PSNR, else the run's first metric column.

    Raises
    ------
    ValueError
        ``asked`` is not a column of the records, or the run has no metric column to rank by.
    """
    if asked is not None:
        if asked not in records.columns:
            raise ValueError(f"cannot rank rows by {asked!r}: not a column of the records")
        return asked
    holes = [c for c in records.columns if c.startswith("hole_") and pd.api.types.is_numeric_dtype(records[c])]
    if "hole_psnr" in holes:
        return "hole_psnr"
    return holes[0] if holes else _first_metric(records)


def _first_metric(records: pd.DataFrame) -> str:
    for column in records.columns:
        try:
            describe(column)
        except KeyError:
            continue
        return column
    raise ValueError("the run has no metric column to rank the grid's rows by: use --images")


@dataclass
class Report:
    """What :func:`build_report` wrote."""

    out: Path
    files: list[Path] = field(default_factory=list)
    pdf: Path | None = None
    notes: list[str] = field(default_factory=list)


def paired_cells(results: pd.DataFrame, style: str) -> pd.DataFrame:
    """Paired results as text: rows ``vs B``, columns metrics, cells ``+d \u00b1 hw (p)``."""
    cols = list(dict.fromkeys(results["column"]))
    others = list(dict.fromkeys(results["b"]))
    frame = pd.DataFrame("", index=[f"vs {b}" for b in others], columns=cols, dtype=object)
    for _, r in results.iterrows():
        d = digits_for(r["column"])
        diff = format_interval(r["diff"], r["low"], r["high"], d, style)
        if not (isinstance(r["diff"], float) and math.isnan(r["diff"])) and r["diff"] >= 0:
            diff = "+" + diff
        p = r["p_value"]
        ptxt = "p n/a" if pd.isna(p) else ("p < 0.001" if p < 0.001 else f"p = {p:.3f}")
        if style == "latex":
            ptxt = "$" + ptxt.replace("<", "<") + "$"
        frame.loc[f"vs {r['b']}", r["column"]] = f"{diff} ({ptxt})"
    return frame


def paired_header(col: str, style: str) -> str:
    """Column header of a paired difference: \u0394 and the metric label, ``(hole)`` for hole metrics."""
    region = " (hole)" if col.startswith("hole_") else ""
    delta = r"$\Delta$" if style == "latex" else "\u0394"
    return delta + metric_label(col, style) + region


@dataclass
class ReportTables:
    """The numbers of a report before they are rendered.

    Attributes
    ----------
    image, sets, hole : MetricTable
        Every per-image metric of the run on the whole image, its set metrics (FID, KID, ...), every
        per-image metric on the hole (see :func:`bench.outputs.report.tables.table_columns`).
    paired : DataFrame
        :func:`bench.outputs.report.paired.compare_all` of the reference against the others.
    by_area : DataFrame, optional
        :func:`bench.outputs.summary.summarize_by_area` (``--bins area`` only).
    image_bins, hole_bins : list of BinTable
        The image and hole tables per hole-area bin (empty bins omitted).
    paired_bins : list of (AreaBin, DataFrame)
        The paired comparison within each bin.
    set_bins : list of BinTable
        The set metrics per bin, from the run's stored features.
    set_whole : list of str
        Why some set metrics are not split (a reference file as the real side, a plugin's metric).
    """

    image: MetricTable
    sets: MetricTable
    hole: MetricTable
    paired: pd.DataFrame
    by_area: pd.DataFrame | None = None
    image_bins: list[BinTable] = field(default_factory=list)
    hole_bins: list[BinTable] = field(default_factory=list)
    paired_bins: list[tuple[AreaBin, pd.DataFrame]] = field(default_factory=list)
    set_bins: list[BinTable] = field(default_factory=list)
    set_whole: list[str] = field(default_factory=list)

    @property
    def binned(self) -> bool:
        return self.by_area is not None


def needs_features(data: RunData, opts: ReportOptions) -> bool:
    """Whether the report reads the run's stored features: its set metrics split by hole area."""
    if opts.bins != "area" or reference_reason(data):
        return False
    sets = table_columns(data.summary["metric"], data.config.get("metrics", ()))["set"]
    return bool(binnable_columns(sets)[0])


def report_tables(
    data: RunData, reference: str, opts: ReportOptions, features: RunFeatures | None = None
) -> ReportTables:
    """Every table of the report, overall and (``opts.bins == "area"``) per hole-area bin.

    ``features``: the run's stored features, read by the per-bin set metrics (default: opened
    here when needed, see :func:`needs_features`).
    """
    others = [m for m in data.methods if m != reference]
    pcols = [c for c in opts.paired_columns if c in data.records.columns]
    columns = table_columns(data.summary["metric"], data.config.get("metrics", ()))
    t = ReportTables(
        metric_table(data.summary, columns["image"], data.methods),
        metric_table(data.summary, columns["set"], data.methods),
        metric_table(data.summary, columns["hole"], data.methods),
        paired.compare_all(data.records, reference, others, pcols, seed=data.seed, groups=data.groups),
    )
    if opts.bins == "area":
        t.by_area = summarize_by_area(data.records, data.methods, seed=data.seed, groups=data.groups)
        t.image_bins = area_tables(t.by_area, columns["image"], data.methods)
        t.hole_bins = area_tables(t.by_area, columns["hole"], data.methods)
        # A mask is shared by every method, so an image's bin is the same in each method's rows.
        codes = assign_area_bins(data.records["mask_area"].to_numpy(dtype=float))
        for k, b in enumerate(area_bins_of(LAMA_AREA_EDGES)):
            sub = data.records[codes == k]
            if (sub["status"] == "ok").any():
                t.paired_bins.append(
                    (b, paired.compare_all(sub, reference, others, pcols, seed=data.seed, groups=data.groups))
                )
        if t.sets.columns:
            split, whole = binnable_columns(t.sets.columns)
            reason = reference_reason(data)
            if reason:
                split, whole = [], []
                t.set_whole.append(reason[0].upper() + reason[1:])
            if whole:
                t.set_whole.append(
                    f"{', '.join(whole)}: not split by hole area (a plugin's set metric may need the images, "
                    "which a report does not load)"
                )
            t.set_bins = set_metric_bins(data, split, features)
    return t
