"""``bench report``: tables, paired comparisons and figures of one run, written into one folder.

Files written (``OUT`` defaults to ``RUN/report``)::

    report.md            the protocol, then the paired comparisons, then the other tables and the figure list
    table_image.tex      whole-image pixel metrics (booktabs), best per column bold
    table_set.tex        FID and KID, the caption naming the feature network, resize, quantisation and n
    table_hole.tex       the pixel metrics on the missing pixels only
    table_paired.tex     reference method minus each other method, with Wilcoxon p-values
    table_*_area.tex     with --bins area: the image, hole and paired tables per hole-area bin
    report.tex / .pdf    a minimal article holding the tables, paired first (PDF when a LaTeX engine exists)
    paired.csv           every paired comparison, unrounded (paired_area.csv, summary_area.csv per bin)
    grid.png / .pdf      image grid (Input, methods, Ground truth[, error maps])
    bar_COLUMN.png/.pdf  per-method bar chart of one metric with its interval
    area_COLUMN.png/.pdf metric versus hole area, binned

Every interval over images resamples the run's units (``groups.json``: source
photos, CelebA identities, ...; images for runs without it), and the captions say which.
Every LaTeX table is measured and split into stacked parts where it would run past
the text width (:func:`bench.outputs.report.latex.latex_table`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.core.files import atomic_write_text
from bench.outputs.report import captions, figures, latex, markdown, paired
from bench.outputs.report.format import format_interval, metric_label
from bench.outputs.report.latex import TEXT_WIDTH_PT
from bench.outputs.report.tables import (
    AREA_EDGES,
    HOLE_COLUMNS,
    PIXEL_COLUMNS,
    SET_COLUMNS,
    BinTable,
    MetricTable,
    RunData,
    area_bins,
    area_tables,
    describe_protocol,
    load_run,
    metric_table,
    short_command,
)
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
    rank_by : str
        Column ranking the automatic grid rows.
    error_maps : bool
        Add error-map columns to the grid.
    bar_column, area_column : str
        Metric of the bar chart and of the hole-area figure.
    paired_columns : tuple of str
        Metrics of the paired comparison.
    label : str
        Prefix of the LaTeX labels (``tab:inpainting`` -> ``tab:inpainting-image`` ...).
    bins : str, optional
        ``"area"``: also split every per-image-metric table (image, hole, paired) by
        hole area, LaMa's bins (:data:`bench.outputs.summary.LAMA_AREA_EDGES`). FID and KID
        are not split (see :data:`bench.outputs.report.captions.SET_NOT_BINNED`).
    latex_width_pt : float
        Text width the LaTeX tables must fit.
    """

    methods: list[str] | None = None
    reference: str | None = None
    latex: bool = True
    compile: bool = True
    grid: bool = True
    images: list[str] | None = None
    rank_by: str = "hole_psnr"
    error_maps: bool = False
    bar_column: str = "hole_psnr"
    area_column: str = "hole_psnr"
    paired_columns: tuple[str, ...] = PAIRED_COLUMNS
    label: str = "tab:inpainting"
    bins: str | None = None
    latex_width_pt: float = TEXT_WIDTH_PT


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


def _paired_header(col: str, style: str) -> str:
    region = " (hole)" if col.startswith("hole_") else ""
    delta = r"$\Delta$" if style == "latex" else "\u0394"
    return delta + metric_label(col, style) + region


@dataclass
class ReportTables:
    """The numbers of a report before they are rendered.

    Attributes
    ----------
    image, sets, hole : MetricTable
        Whole-image pixel metrics, set metrics (FID, KID), hole metrics.
    paired : DataFrame
        :func:`bench.outputs.report.paired.compare_all` of the reference against the others.
    by_area : DataFrame, optional
        :func:`bench.outputs.summary.summarize_by_area` (``--bins area`` only).
    image_bins, hole_bins : list of BinTable
        The image and hole tables per hole-area bin (empty bins omitted).
    paired_bins : list of (AreaBin, DataFrame)
        The paired comparison within each bin.
    """

    image: MetricTable
    sets: MetricTable
    hole: MetricTable
    paired: pd.DataFrame
    by_area: pd.DataFrame | None = None
    image_bins: list[BinTable] = field(default_factory=list)
    hole_bins: list[BinTable] = field(default_factory=list)
    paired_bins: list[tuple[AreaBin, pd.DataFrame]] = field(default_factory=list)

    @property
    def binned(self) -> bool:
        return self.by_area is not None


def report_tables(data: RunData, reference: str, opts: ReportOptions) -> ReportTables:
    """Every table of the report, overall and (``opts.bins == "area"``) per hole-area bin."""
    others = [m for m in data.methods if m != reference]
    pcols = [c for c in opts.paired_columns if c in data.records.columns]
    t = ReportTables(
        metric_table(data.summary, PIXEL_COLUMNS, data.methods),
        metric_table(data.summary, SET_COLUMNS, data.methods),
        metric_table(data.summary, HOLE_COLUMNS, data.methods),
        paired.compare_all(data.records, reference, others, pcols, seed=data.seed, groups=data.groups),
    )
    if opts.bins == "area":
        t.by_area = summarize_by_area(data.records, data.methods, seed=data.seed, groups=data.groups)
        t.image_bins = area_tables(t.by_area, PIXEL_COLUMNS, data.methods)
        t.hole_bins = area_tables(t.by_area, HOLE_COLUMNS, data.methods)
        # A mask is shared by every method, so an image's bin is the same in each method's rows.
        codes = assign_area_bins(data.records["mask_area"].to_numpy(dtype=float))
        for k, b in enumerate(area_bins_of(LAMA_AREA_EDGES)):
            sub = data.records[codes == k]
            if (sub["status"] == "ok").any():
                t.paired_bins.append(
                    (b, paired.compare_all(sub, reference, others, pcols, seed=data.seed, groups=data.groups))
                )
    return t


def build_report(run: str | Path, out: str | Path | None = None, options: ReportOptions | None = None) -> Report:
    """Write every table and figure of a run into ``out`` (default ``RUN/report``).

    Parameters
    ----------
    run : path
        Run directory of ``bench run``.
    out : path, optional
        Output folder.
    options : ReportOptions, optional
        What to produce.

    Returns
    -------
    Report
        The files written, the PDF if compiled, and notes (e.g. why no PDF).
    """
    from tqdm import tqdm

    opts = options or ReportOptions()
    data = load_run(run, opts.methods)
    reference = opts.reference or data.methods[0]
    if reference not in data.methods:
        raise ValueError(f"reference method {reference!r} is not in the report (methods: {', '.join(data.methods)})")
    if opts.bins is not None and opts.bins not in BIN_AXES:
        raise ValueError(f"--bins: unknown axis {opts.bins!r} (known: {', '.join(BIN_AXES)})")
    out = Path(out) if out is not None else data.rundir.path / "report"
    out.mkdir(parents=True, exist_ok=True)
    rep = Report(out)
    steps = ["tables", "latex", "figures"]
    bar = tqdm(steps, desc="report", unit="step", leave=False)

    # ---- tables and paired comparisons
    bar.set_postfix_str("tables")
    t = report_tables(data, reference, opts)
    if not t.paired.empty:
        _write(rep, "paired.csv", t.paired.to_csv(index=False))
    if t.binned:
        _write(rep, "summary_area.csv", t.by_area.to_csv(index=False))
        frames = [r.assign(bin=b.label()) for b, r in t.paired_bins if not r.empty]
        if frames:
            _write(rep, "paired_area.csv", pd.concat(frames, ignore_index=True).to_csv(index=False))
    bar.update(1)

    # ---- LaTeX
    bar.set_postfix_str("latex")
    if opts.latex:
        tables = latex_tables(data, t, reference, opts)
        for name, tex in tables:
            _write(rep, name, tex)
        doc = _write(rep, "report.tex", latex.document([tex for _, tex in tables]))
        if opts.compile:
            if latex.find_engine() is None:
                rep.notes.append("no LaTeX engine installed: report.tex not compiled")
            else:
                rep.pdf = latex.compile_pdf(doc, out)
                rep.files.append(rep.pdf)
    bar.update(1)

    # ---- figures
    bar.set_postfix_str("figures")
    if opts.grid:
        ids = opts.images or figures.select_rows(data.records, data.methods[0], opts.rank_by)
        known = set(data.rundir.read_json(data.rundir.masks)["masks"]) if data.rundir.masks.is_file() else set()
        unknown = [i for i in ids if i not in known or not data.rundir.image_path(i).is_file()]
        if unknown:
            raise ValueError(f"--images: {', '.join(unknown)} not in this run (e.g. {', '.join(sorted(known)[:3])})")
        fig = figures.grid_figure(data.rundir, data.records, data.methods, ids, error_maps=opts.error_maps)
        rep.files += figures.save_figure(fig, out / "grid")
        rep.notes.append(
            "grid rows: "
            + ", ".join(ids)
            + ("" if opts.images else f" (best, median, worst of {data.methods[0]} by {opts.rank_by})")
        )
    table_for_bar = next((tab for tab in (t.image, t.hole, t.sets) if opts.bar_column in tab.columns), None)
    if table_for_bar is not None:
        rep.files += figures.save_figure(
            figures.bar_figure(table_for_bar, opts.bar_column), out / f"bar_{opts.bar_column}"
        )
    if opts.area_column in data.records.columns:
        rep.files += figures.save_figure(
            figures.area_figure(data.records, data.methods, opts.area_column, seed=data.seed, groups=data.groups),
            out / f"area_{opts.area_column}",
        )
    bar.update(1)
    bar.close()

    md = out / "report.md"
    atomic_write_text(md, report_markdown(data, t, reference, opts, rep))
    rep.files.insert(0, md)
    return rep


def _write(rep: Report, name: str, text: str) -> Path:
    path = rep.out / name
    atomic_write_text(path, text)
    rep.files.append(path)
    return path


def _paired_latex(results: pd.DataFrame) -> pd.DataFrame:
    cells = paired_cells(results, "latex")
    cells.columns = [_paired_header(c, "latex") for c in cells.columns]
    return cells


def latex_tables(data: RunData, t: ReportTables, reference: str, opts: ReportOptions) -> list[tuple[str, str]]:
    """``(file name, LaTeX)`` of every table, in the order of the report: paired first, then image, set, hole."""
    width, label = opts.latex_width_pt, opts.label
    out = []
    # The paired comparison leads: it is the question a reader of the report asks first.
    if not t.paired.empty:
        cells = _paired_latex(t.paired)
        out.append(
            (
                "table_paired.tex",
                latex.latex_table(
                    [latex.Block(cells)],
                    list(cells.columns),
                    captions.paired_caption(data, reference),
                    f"{label}-paired",
                    first_header="Comparison",
                    width_pt=width,
                ),
            )
        )
    for region, table in (("image", t.image), ("hole", t.hole)):
        if table.columns:
            out.append(
                (
                    f"table_{region}.tex",
                    latex.metric_table_latex(
                        table, captions.caption(data, table, region), f"{label}-{region}", width_pt=width
                    ),
                )
            )
        if region == "image" and t.sets.columns:
            out.append(
                (
                    "table_set.tex",
                    latex.metric_table_latex(
                        t.sets, captions.set_caption(data, t.sets, binned=t.binned), f"{label}-set", width_pt=width
                    ),
                )
            )
    if t.binned:
        blocks = [latex.Block(_paired_latex(r), None, _bin_title(b, r)) for b, r in t.paired_bins if not r.empty]
        if blocks:
            out.append(
                (
                    "table_paired_area.tex",
                    latex.latex_table(
                        blocks,
                        list(blocks[0].cells.columns),
                        captions.paired_caption(data, reference, binned=True),
                        f"{label}-paired-area",
                        first_header="Comparison",
                        width_pt=width,
                    ),
                )
            )
        for region, bins in (("image", t.image_bins), ("hole", t.hole_bins)):
            if bins and bins[0].table.columns:
                out.append(
                    (
                        f"table_{region}_area.tex",
                        latex.binned_table_latex(
                            bins,
                            captions.caption(data, t.image if region == "image" else t.hole, region, binned=True),
                            f"{label}-{region}-area",
                            width_pt=width,
                        ),
                    )
                )
    return out


def _bin_title(b: AreaBin, results: pd.DataFrame) -> str:
    n = sorted(set(results["n"].astype(int)))
    n_txt = f"$n = {n[0]}$" if len(n) == 1 else f"$n = {n[0]}$--${n[-1]}$"
    return rf"\emph{{Hole area {b.label('latex')}, {n_txt}}}"


def report_markdown(data: RunData, t: ReportTables, reference: str, opts: ReportOptions, rep: Report) -> str:
    """The Markdown report: protocol, paired comparisons first, then the tables, their bins, area figure, files."""
    p = describe_protocol(data.config)
    lines = [
        f"# Report: {data.rundir.path.name}",
        "",
        (
            f"Dataset {p['dataset']} at {p['size']} px, n = {p['n']} images; masks: {p['masks']} "
            f"(mask SHA-256 {p['mask_sha']}). Intervals: 95 % bootstrap, {data.resampling}."
        ),
        "",
    ]
    if data.config.get("command"):
        lines += [f"Run command: `{short_command(data.config['command'])}`", ""]
    errors = data.records[data.records["status"] != "ok"]
    if len(errors):
        lines += [
            f"{len(errors)} failed (method, image) pairs are excluded: "
            + ", ".join(f"{m} ({c})" for m, c in errors["method"].value_counts().items()),
            "",
        ]
    lines += known_pixel_lines(data.records, data.methods)
    # The paired differences lead: they answer "is the reference better than X?" on the same images.
    if not t.paired.empty:
        lines += [
            f"## Paired comparison: {reference} minus each method",
            "",
            (
                "Same images, same masks. Mean difference \u00b1 half-width of its 95 % bootstrap interval, "
                f"{data.resampling}; two-sided Wilcoxon signed-rank p over images (no multiple-comparison "
                f"correction{captions.wilcoxon_caveat(data)})."
            ),
            "",
            _paired_markdown(t.paired),
            "Images on which each side is better (reference / other / tie):",
            "",
        ]
        wins = t.paired.assign(
            comparison=lambda f: reference + " vs " + f["b"],
            metric=lambda f: f["column"],
            n=lambda f: f["n"].astype(int),
            record=lambda f: (
                f["a_better"].astype(str) + " / " + f["b_better"].astype(str) + " / " + f["ties"].astype(str)
            ),
        )
        lines += [markdown.frame_to_markdown(wins[["comparison", "metric", "n", "record"]])]
    lines += [
        "## Whole image",
        "",
        f"Mean \u00b1 half-width of the 95 % bootstrap interval, {data.resampling}; best per column in bold; "
        "\u2191 higher is better, \u2193 lower is better." + captions._set_note(t.image),
        "",
        markdown.markdown_table(t.image),
        "## Hole only",
        "",
        "SSIM: the full-image SSIM map averaged over the hole pixels.",
        "",
        markdown.markdown_table(t.hole),
    ]
    if t.sets.columns:
        lines += [
            "## Set metrics",
            "",
            f"{captions.features_text(data, t.sets)}. Against the run's real images; value \u00b1 half-width "
            "of the metric's own 95 % bootstrap interval over images; \u2193 lower is better."
            + (" " + captions.SET_NOT_BINNED if t.binned else ""),
            "",
            markdown.markdown_table(t.sets),
        ]
    if t.binned:
        lines += _binned_markdown(data, t, reference)
    if opts.area_column in data.records.columns:
        bins = area_bins(data.records, opts.area_column, data.methods, AREA_EDGES, seed=data.seed, groups=data.groups)
        if not bins.empty:
            d = digits_for(opts.area_column)
            wide = bins.assign(
                cell=lambda f: [
                    f"{format_interval(v, lo, hi, d)} (n={n})"
                    for v, lo, hi, n in zip(f["value"], f["low"], f["high"], f["n"])
                ]
            )
            wide = (
                wide.pivot(index="method", columns="bin", values="cell")
                .reindex(index=data.methods, columns=list(dict.fromkeys(bins["bin"])))
                .fillna("\u2013")
            )
            region = "hole" if opts.area_column.startswith("hole_") else "image"
            lines += [
                f"## {metric_label(opts.area_column)} ({region}) by hole area (figure bins)",
                "",
                (
                    "Mean \u00b1 half-width of the 95 % bootstrap interval per bin of mask area, "
                    f"resampling {data.unit} within each bin."
                ),
                "",
                markdown.frame_to_markdown(wide.reset_index()),
            ]
    lines += ["## Files", ""]
    lines += [f"- `{f.name}`" for f in rep.files if f.parent == rep.out]
    lines += [f"- note: {n}" for n in rep.notes]
    return "\n".join(lines) + "\n"


# A change of the known pixels beyond 8-bit rounding of the raw output.
KNOWN_CHANGE_TOLERANCE = 0.5 / 255


def known_pixel_lines(records: pd.DataFrame, methods: list[str]) -> list[str]:
    """Markdown lines naming the methods whose raw outputs changed known pixels (empty when none did).

    Every output is scored with the known pixels copied back from the input, so such a change
    never enters a metric; it tells a tool that recoloured, resized or re-encoded its input.

    Parameters
    ----------
    records : DataFrame
        The run's rows; ``raw_known_max_abs`` and ``raw_known_mean_abs`` are read where present.
    methods : list of str
        Methods in report order.
    """
    if "raw_known_max_abs" not in records.columns:
        return []
    ok = records[records["status"] == "ok"]
    found = []
    for method in methods:
        sub = ok[ok["method"] == method]
        changed = sub[sub["raw_known_max_abs"] > KNOWN_CHANGE_TOLERANCE]
        if len(changed):
            mean = (
                f", mean change over the known pixels up to {changed['raw_known_mean_abs'].max():.4f}"
                if "raw_known_mean_abs" in sub.columns and changed["raw_known_mean_abs"].notna().any()
                else ""
            )
            found.append(
                f"- `{method}`: {len(changed)} of {len(sub)} images, largest change "
                f"{changed['raw_known_max_abs'].max():.4f}{mean}"
            )
    if not found:
        return []
    return (
        [
            "## Known pixels changed by the method",
            "",
            "These methods' raw outputs differ from the input outside the hole by more than half a grey level "
            "(values in [0, 1]). Every output is scored with the input's known pixels copied back, so this does "
            "not enter any metric; for a tool run outside the suite it means the tool altered its input "
            "(resized, recoloured, re-encoded).",
        ]
        + [""]
        + found
        + [""]
    )


def _paired_markdown(results: pd.DataFrame) -> str:
    cells = paired_cells(results, "text")
    cells.columns = [_paired_header(c, "text") for c in cells.columns]
    return markdown.frame_to_markdown(cells.reset_index(names="comparison"))


def _binned_markdown(data: RunData, t: ReportTables, reference: str) -> list[str]:
    """The ``--bins area`` sections: paired, whole-image and hole tables per hole-area bin, n per bin."""
    how = f"Images {captions.bins_note(data)}; empty bins are omitted. Intervals resample {data.unit} within each bin"
    lines = []
    if t.paired_bins:
        lines += [
            f"## Paired comparison by hole area: {reference} minus each method",
            "",
            how + "; Wilcoxon p within each bin, as above.",
            "",
        ]
        for b, r in t.paired_bins:
            if not r.empty:
                lines += [f"### Hole area {b.label()} (n = {int(r['n'].max())})", "", _paired_markdown(r)]
    for title, bins in (("Whole image", t.image_bins), ("Hole only", t.hole_bins)):
        lines += [f"## {title} by hole area", "", how + "; best per column of each bin in bold.", ""]
        for bt in bins:
            lines += [f"### Hole area {bt.bin.label()} ({bt.n_text()})", "", markdown.markdown_table(bt.table)]
    return lines
