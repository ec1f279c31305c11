"""``bench report``: tables, paired comparisons and figures of one run, written into one folder.

Files written (``OUT`` defaults to ``RUN/report``)::

    report.md            the protocol, then the paired comparisons, then the other tables and the figure list
    table_image.tex      whole-image metrics (booktabs), best per column bold
    table_hole.tex       the same on the missing pixels only
    table_paired.tex     reference method minus each other method, with Wilcoxon p-values
    report.tex / .pdf    a minimal article holding the three tables, paired first (PDF when a LaTeX engine exists)
    paired.csv           every paired comparison, unrounded
    grid.png / .pdf      image grid (Input, methods, Ground truth[, error maps])
    bar_COLUMN.png/.pdf  per-method bar chart of one metric with its interval
    area_COLUMN.png/.pdf metric versus hole area, binned

Every interval over images resamples the run's units (``groups.json``: source
photos, CelebA identities, ...; images for runs without it), and the captions say which.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from bench.report import figures, latex, markdown, paired
from bench.report.format import LABELS, format_interval, metric_label
from bench.report.tables import (
    AREA_EDGES,
    HOLE_COLUMNS,
    IMAGE_COLUMNS,
    MetricTable,
    RunData,
    area_bins,
    describe_protocol,
    load_run,
    metric_table,
    short_command,
)
from bench.rundir import atomic_write_text
from bench.summary import digits_for

# No whole-image PSNR: with the known pixels copied back, a PSNR difference between two methods
# on the whole image equals their hole-PSNR difference exactly, so that column would say nothing new.
PAIRED_COLUMNS = ("hole_psnr", "hole_ssim", "ssim")


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


@dataclass
class Report:
    """What :func:`build_report` wrote."""

    out: Path
    files: list[Path] = field(default_factory=list)
    pdf: Path | None = None
    notes: list[str] = field(default_factory=list)


def _n_text(table: MetricTable, run_n: str) -> str:
    counts = table.n.stack().dropna()
    counts = counts[counts > 0]
    if counts.empty or counts.min() == counts.max():
        return f"$n = {int(counts.max()) if not counts.empty else run_n}$ images"
    return f"$n = {int(counts.min())}$--${int(counts.max())}$ images (methods failed on some)"


def caption(data: RunData, table: MetricTable, region: str) -> str:
    """LaTeX caption: dataset, n, mask protocol and hash, what the numbers are."""
    p = describe_protocol(data.config)
    where = ("on the missing pixels only (SSIM on the hole's bounding box)" if region == "hole"
             else "on the whole composited image")
    text = (f"Inpainting on {latex.escape_latex(p['dataset'])} at {p['size']} px, {_n_text(table, p['n'])}; "
            f"masks: {latex.escape_latex(p['masks'])} (mask SHA-256 {p['mask_sha']}). Metrics {where}: "
            r"mean $\pm$ half-width of the 95\% bootstrap interval, "
            f"{latex.escape_latex(data.resampling)}; best per column in bold; "
            r"$\uparrow$ higher is better, $\downarrow$ lower is better." + _set_note(table))
    return text


def _set_note(table: MetricTable) -> str:
    """Caption sentence for set metrics, whose intervals are not the clustered bootstrap of the rest."""
    sets = [c for c in table.columns if c in ("fid", "kid")]
    if not sets:
        return ""
    return (" " + "/".join(LABELS.get(c, c.upper()) for c in sets) + " are set-level; their intervals are the "
            "metric's own bootstrap over images.")


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
    out = Path(out) if out is not None else data.rundir.path / "report"
    out.mkdir(parents=True, exist_ok=True)
    rep = Report(out)
    reference = opts.reference or data.methods[0]
    if reference not in data.methods:
        raise ValueError(f"reference method {reference!r} is not in the report (methods: {', '.join(data.methods)})")
    steps = ["tables", "paired", "latex", "figures"]
    bar = tqdm(steps, desc="report", unit="step", leave=False)

    # ---- tables
    bar.set_postfix_str("tables")
    image_t = metric_table(data.summary, IMAGE_COLUMNS, data.methods)
    hole_t = metric_table(data.summary, HOLE_COLUMNS, data.methods)
    bar.update(1)

    # ---- paired comparisons
    bar.set_postfix_str("paired")
    others = [m for m in data.methods if m != reference]
    pcols = [c for c in opts.paired_columns if c in data.records.columns]
    results = paired.compare_all(data.records, reference, others, pcols, seed=data.seed, groups=data.groups)
    if not results.empty:
        results.to_csv(out / "paired.csv", index=False)
        rep.files.append(out / "paired.csv")
    bar.update(1)

    # ---- LaTeX
    bar.set_postfix_str("latex")
    if opts.latex:
        fragments = []
        # The paired comparison leads: it is the question a reader of the report asks first.
        if not results.empty:
            cells = paired_cells(results, "latex")
            cells.columns = [_paired_header(c, "latex") for c in cells.columns]
            cap = (f"Paired comparison on the same images: {latex.escape_latex(reference)} minus each method, "
                   r"mean difference $\pm$ half-width of its 95\% bootstrap interval, "
                   f"{latex.escape_latex(data.resampling)}, and the two-sided Wilcoxon "
                   r"signed-rank $p$-value over images (not corrected for multiple comparisons"
                   f"{latex.escape_latex(_wilcoxon_caveat(data))}). A positive $\\Delta$ favours "
                   r"the reference for $\uparrow$ metrics, a negative one for $\downarrow$ metrics.")
            tex = latex.styled_latex(cells, None, cap, f"{opts.label}-paired", first_header="Comparison")
            path = out / "table_paired.tex"
            atomic_write_text(path, tex)
            rep.files.append(path)
            fragments.append(tex)
        for region, table in (("image", image_t), ("hole", hole_t)):
            if not table.columns:
                continue
            tex = latex.metric_table_latex(table, caption(data, table, region), f"{opts.label}-{region}")
            path = out / f"table_{region}.tex"
            atomic_write_text(path, tex)
            rep.files.append(path)
            fragments.append(tex)
        doc = out / "report.tex"
        atomic_write_text(doc, latex.document(fragments))
        rep.files.append(doc)
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
        rep.notes.append("grid rows: " + ", ".join(ids) + ("" if opts.images else
                         f" (best, median, worst of {data.methods[0]} by {opts.rank_by})"))
    table_for_bar = hole_t if opts.bar_column.startswith("hole_") else image_t
    if opts.bar_column in table_for_bar.columns:
        rep.files += figures.save_figure(figures.bar_figure(table_for_bar, opts.bar_column),
                                         out / f"bar_{opts.bar_column}")
    if opts.area_column in data.records.columns:
        rep.files += figures.save_figure(
            figures.area_figure(data.records, data.methods, opts.area_column, seed=data.seed, groups=data.groups),
            out / f"area_{opts.area_column}")
    bar.update(1)
    bar.close()

    md = out / "report.md"
    atomic_write_text(md, report_markdown(data, image_t, hole_t, reference, results, opts, rep))
    rep.files.insert(0, md)
    return rep


def _wilcoxon_caveat(data: RunData) -> str:
    """Clause for the Wilcoxon p-value when images share units (it takes every image as independent)."""
    n_images = data.records.loc[data.records["method"].isin(data.methods), "image_id"].nunique()
    if data.groups is None or data.units >= n_images:
        return ""
    return "; it treats the images of one unit as independent, so its p is optimistic"


def report_markdown(data: RunData, image_t: MetricTable, hole_t: MetricTable, reference: str,
                    results: pd.DataFrame, opts: ReportOptions, rep: Report) -> str:
    """The Markdown report: protocol, paired comparisons first, then the two tables, area bins, figures."""
    p = describe_protocol(data.config)
    lines = [f"# Report: {data.rundir.path.name}", "",
             f"Dataset {p['dataset']} at {p['size']} px, n = {p['n']} images; masks: {p['masks']} "
             f"(mask SHA-256 {p['mask_sha']}). Intervals: 95 % bootstrap, {data.resampling}.", ""]
    if data.config.get("command"):
        lines += [f"Run command: `{short_command(data.config['command'])}`", ""]
    errors = data.records[data.records["status"] != "ok"]
    if len(errors):
        lines += [f"{len(errors)} failed (method, image) pairs are excluded: "
                  + ", ".join(f"{m} ({c})" for m, c in errors["method"].value_counts().items()), ""]
    # The paired differences lead: they answer "is the reference better than X?" on the same images.
    if not results.empty:
        cells = paired_cells(results, "text")
        cells.columns = [_paired_header(c, "text") for c in cells.columns]
        lines += [f"## Paired comparison: {reference} minus each method", "",
                  "Same images, same masks. Mean difference \u00b1 half-width of its 95 % bootstrap interval, "
                  f"{data.resampling}; two-sided Wilcoxon signed-rank p over images (no multiple-comparison "
                  f"correction{_wilcoxon_caveat(data)}).", "",
                  markdown.frame_to_markdown(cells.reset_index(names="comparison")),
                  "Images on which each side is better (reference / other / tie):", ""]
        wins = results.assign(
            comparison=lambda f: reference + " vs " + f["b"],
            metric=lambda f: f["column"],
            n=lambda f: f["n"].astype(int),
            record=lambda f: f["a_better"].astype(str) + " / " + f["b_better"].astype(str) + " / " + f["ties"].astype(str))
        lines += [markdown.frame_to_markdown(wins[["comparison", "metric", "n", "record"]])]
    lines += ["## Whole image", "",
              f"Mean \u00b1 half-width of the 95 % bootstrap interval, {data.resampling}; best per column in bold; "
              "\u2191 higher is better, \u2193 lower is better." + _set_note(image_t), "",
              markdown.markdown_table(image_t),
              "## Hole only", "", "SSIM on the hole's bounding box.", "", markdown.markdown_table(hole_t)]
    if opts.area_column in data.records.columns:
        bins = area_bins(data.records, opts.area_column, data.methods, AREA_EDGES, seed=data.seed,
                         groups=data.groups)
        if not bins.empty:
            d = digits_for(opts.area_column)
            wide = bins.assign(cell=lambda f: [f"{format_interval(v, lo, hi, d)} (n={n})" for v, lo, hi, n in
                                               zip(f["value"], f["low"], f["high"], f["n"])])
            wide = wide.pivot(index="method", columns="bin", values="cell").reindex(
                index=data.methods, columns=list(dict.fromkeys(bins["bin"]))).fillna("\u2013")
            region = "hole" if opts.area_column.startswith("hole_") else "image"
            lines += [f"## {metric_label(opts.area_column)} ({region}) by hole area", "",
                      "Mean \u00b1 half-width of the 95 % bootstrap interval per bin of mask area, resampling "
                      f"{data.unit} within each bin.", "",
                      markdown.frame_to_markdown(wide.reset_index())]
    lines += ["## Files", ""]
    lines += [f"- `{f.name}`" for f in rep.files if f.parent == rep.out]
    lines += [f"- note: {n}" for n in rep.notes]
    return "\n".join(lines) + "\n"
