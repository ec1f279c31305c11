"""The Markdown report (``report.md``): protocol, paired comparisons first, tables, bins, files."""

from __future__ import annotations

import pandas as pd

from bench.outputs.report import captions, markdown
from bench.outputs.report.contents import Report, ReportOptions, ReportTables, paired_cells, paired_header
from bench.outputs.report.format import format_interval, metric_label
from bench.outputs.report.set_bins import SMALL_N_NOTE
from bench.outputs.report.tables import AREA_EDGES, RunData, area_bins, describe_protocol, short_command
from bench.outputs.summary import digits_for


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
            f"{captions.features_text(data, t.sets)}. Against {captions.real_side(data)}; value \u00b1 half-width "
            "of the metric's own 95 % bootstrap interval over images; \u2193 lower is better."
            + (" " + captions.set_bins_note(t.set_whole, bool(t.set_bins)) if t.binned else ""),
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
    cells.columns = [paired_header(c, "text") for c in cells.columns]
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
    if t.set_bins:
        lines += [
            "## Set metrics by hole area",
            "",
            (
                f"Each method's outputs in a bin against the run's real images of the same bin, computed from "
                f"the features the run stored with the run's seed; {captions.features_text(data, t.sets, with_n=False)}. "
                f"Images {captions.bins_note(data)}; empty bins are omitted. Value \u00b1 half-width of the "
                "metric's own 95 % bootstrap interval over the bin's images; best per column of each bin in bold; "
                "\u2193 lower is better."
            ),
            "",
        ]
        for bt in t.set_bins:
            lines += [f"### Hole area {bt.bin.label()} ({bt.n_text()})", "", markdown.markdown_table(bt.table)]
        lines += [f"Small n: {SMALL_N_NOTE}", ""]
    return lines
