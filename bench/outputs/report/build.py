"""``bench report``: tables, paired comparisons and figures of one run, written into one folder.

The report's contents are computed in :mod:`bench.outputs.report.contents`; the Markdown
document is :mod:`bench.outputs.report.document`; this module writes LaTeX, figures and files.

Files written (``OUT`` defaults to ``RUN/report``)::

    report.md            the protocol, then the paired comparisons, then the other tables and the figure list
    table_image.tex      every per-image metric of the run on the whole image (booktabs), columns grouped
                         by the registry's table group, best per column bold
    table_set.tex        the set metrics (FID, KID, ...), the caption naming the feature network, resize,
                         quantisation and n
    table_hole.tex       every per-image metric on the missing pixels only
    table_paired.tex     reference method minus each other method, with Wilcoxon p-values
    table_*_area.tex     with --bins area: the image, hole, paired and set-metric tables per hole-area bin
                         (set metrics computed per bin from the run's stored features)
    report.tex / .pdf    a minimal article holding the tables, paired first (PDF when a LaTeX engine exists)
    paired.csv           every paired comparison, unrounded (paired_area.csv, summary_area.csv and
                         set_area.csv per bin)
    grid.png / .pdf      image grid (Input, methods, Ground truth[, error maps])
    bar_COLUMN.png/.pdf  per-method bar chart of one metric with its interval
    area_COLUMN.png/.pdf metric versus hole area, binned

Every interval over images resamples the run's units (``groups.json``: source
photos, CelebA identities, ...; images for runs without it), and the captions say which.
Every LaTeX table is measured and split into stacked parts where it would run past
the text width (:func:`bench.outputs.report.latex.latex_table`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from bench.core.files import atomic_write_text
from bench.core.outdir import claim_dir
from bench.outputs.report import captions, figures, latex
from bench.outputs.report.contents import (
    BIN_AXES,
    Report,
    ReportOptions,
    ReportTables,
    needs_features,
    paired_cells,
    paired_header,
    ranking_column,
    report_tables,
)
from bench.outputs.report.document import report_markdown
from bench.outputs.report.set_bins import bins_frame
from bench.outputs.report.tables import (
    RunData,
    load_run,
)
from bench.outputs.run_features import RunFeatures
from bench.outputs.rundir import RunDir
from bench.outputs.summary import (
    AreaBin,
)


def build_report(run: str | Path, out: str | Path | None = None, options: ReportOptions | None = None) -> Report:
    """Write every table and figure of a run into ``out`` (default ``RUN/report``).

    Parameters
    ----------
    run : path
        Run directory of ``bench run``.
    out : path, optional
        Output folder: new, empty or a report's (:func:`bench.core.outdir.claim_dir`).
    options : ReportOptions, optional
        What to produce.

    Returns
    -------
    Report
        The files written, the PDF if compiled, and notes (e.g. why no PDF).
    """
    opts = options or ReportOptions()
    writer = RunDir(run).being_written()
    if writer is not None:
        # Its records, outputs and set metrics are not all written yet: a report of them would look whole.
        raise ValueError(f"{run} is being written by bench run (pid {writer}): report it when that run has finished")
    data = load_run(run, opts.methods)
    reference = opts.reference or data.methods[0]
    if reference not in data.methods:
        raise ValueError(f"reference method {reference!r} is not in the report (methods: {', '.join(data.methods)})")
    if opts.bins is not None and opts.bins not in BIN_AXES:
        raise ValueError(f"--bins: unknown axis {opts.bins!r} (known: {', '.join(BIN_AXES)})")
    # Opened before the folder is claimed: a run without its stored features is refused with nothing written.
    features = RunFeatures(data.rundir) if needs_features(data, opts) else None
    if features is not None:
        features.require(data.methods)
    out = Path(out) if out is not None else data.rundir.path / "report"
    with claim_dir(out, "report", legacy=lambda path: (path / "report.md").is_file()):
        return _write_report(data, out, reference, opts, features)


def _write_report(
    data: RunData, out: Path, reference: str, opts: ReportOptions, features: RunFeatures | None = None
) -> Report:
    """The body of :func:`build_report`, with the report folder's writer lock held."""
    from tqdm import tqdm

    rep = Report(out)
    steps = ["tables", "latex", "figures"]
    bar = tqdm(steps, desc="report", unit="step", leave=False)

    # ---- tables and paired comparisons
    bar.set_postfix_str("tables")
    t = report_tables(data, reference, opts, features)
    if not t.paired.empty:
        _write(rep, "paired.csv", t.paired.to_csv(index=False))
    if t.binned:
        _write(rep, "summary_area.csv", t.by_area.to_csv(index=False))
        frames = [r.assign(bin=b.label()) for b, r in t.paired_bins if not r.empty]
        if frames:
            _write(rep, "paired_area.csv", pd.concat(frames, ignore_index=True).to_csv(index=False))
        if t.set_bins:
            _write(rep, "set_area.csv", bins_frame(t.set_bins).to_csv(index=False))
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
        rank_by = ranking_column(data.records, opts.rank_by)
        ids = opts.images or figures.select_rows(data.records, data.methods[0], rank_by)
        known = set(data.rundir.read_json(data.rundir.masks)["masks"]) if data.rundir.masks.is_file() else set()
        unknown = [i for i in ids if i not in known or not data.rundir.image_path(i).is_file()]
        if unknown:
            raise ValueError(f"--images: {', '.join(unknown)} not in this run (e.g. {', '.join(sorted(known)[:3])})")
        fig = figures.grid_figure(data.rundir, data.records, data.methods, ids, error_maps=opts.error_maps)
        rep.files += figures.save_figure(fig, out / "grid")
        rep.notes.append(
            "grid rows: "
            + ", ".join(ids)
            + ("" if opts.images else f" (best, median, worst of {data.methods[0]} by {rank_by})")
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
    cells.columns = [paired_header(c, "latex") for c in cells.columns]
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
                        t.sets,
                        captions.set_caption(data, t.sets, binned=t.binned, whole=t.set_whole, split=bool(t.set_bins)),
                        f"{label}-set",
                        width_pt=width,
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
        if t.set_bins:
            out.append(
                (
                    "table_set_area.tex",
                    latex.binned_table_latex(
                        t.set_bins,
                        captions.set_bins_caption(data, t.set_bins, t.sets),
                        f"{label}-set-area",
                        width_pt=width,
                    ),
                )
            )
    return out


def _bin_title(b: AreaBin, results: pd.DataFrame) -> str:
    n = sorted(set(results["n"].astype(int)))
    n_txt = f"$n = {n[0]}$" if len(n) == 1 else f"$n = {n[0]}$--${n[-1]}$"
    return rf"\emph{{Hole area {b.label('latex')}, {n_txt}}}"
