"""Caption text of a report's tables: dataset, n, masks, intervals, feature extractor, area bins.

Captions are LaTeX unless a function says plain text; Markdown uses the plain-text pieces.
"""

from __future__ import annotations

from bench.outputs.report import latex, markdown
from bench.outputs.report.format import base_name, describe_features, display_label
from bench.outputs.report.set_bins import SMALL_N_NOTE
from bench.outputs.report.tables import BinTable, MetricTable, RunData, describe_protocol, table_columns
from bench.outputs.summary import LAMA_AREA_EDGES, area_bins_of, assign_area_bins


def n_text(table: MetricTable, run_n: str) -> str:
    """LaTeX ``$n = 280$ images``, a range when methods failed on some images."""
    counts = table.n.stack().dropna()
    counts = counts[counts > 0]
    if counts.empty or counts.min() == counts.max():
        return f"$n = {int(counts.max()) if not counts.empty else run_n}$ images"
    return f"$n = {int(counts.min())}$--${int(counts.max())}$ images (methods failed on some)"


def caption(data: RunData, table: MetricTable, region: str, binned: bool = False) -> str:
    """LaTeX caption: dataset, n, mask protocol and hash, what the numbers are (and the bins, when split)."""
    p = describe_protocol(data.config)
    where = (
        "on the missing pixels only (SSIM: the full-image SSIM map averaged over them)"
        if region == "hole"
        else "on the whole composited image"
    )
    text = (
        f"Inpainting on {latex.escape_latex(p['dataset'])} at {p['size']} px, {n_text(table, p['n'])}; "
        f"masks: {latex.escape_latex(p['masks'])} (mask SHA-256 {p['mask_sha']}). Metrics {where}"
        + (f", {latex.escape_latex(bins_note(data))}" if binned else "")
        + ": "
        r"mean $\pm$ half-width of the 95\% bootstrap interval, "
        f"{latex.escape_latex(data.resampling)}{' within each bin' if binned else ''}; best per column"
        f"{' of each bin' if binned else ''} in bold; "
        r"$\uparrow$ higher is better, $\downarrow$ lower is better."
        + _set_note(table)
        + _table_notes(table)
        + _weights_note(data, table)
    )
    return text


def _weights_note(data: RunData, table: MetricTable) -> str:
    """Caption sentence naming the weight files (and their SHA-256) of metrics computed from weights."""
    definitions = data.config.get("metric_definitions", {})
    notes = []
    for metric in dict.fromkeys(base_name(c) for c in table.columns):
        _, sep, weights = str(definitions.get(metric, "")).partition("; weights: ")
        if sep:
            notes.append(f"{display_label(metric)} from {weights}")
    return (" " + latex.escape_latex("; ".join(notes)) + ".") if notes else ""


def _table_notes(table: MetricTable) -> str:
    """LaTeX caption sentences of :func:`bench.outputs.report.markdown.table_notes` (cap counts, withheld metrics)."""
    return "".join(" " + latex.escape_latex(n) for n in markdown.table_notes(table))


def _set_note(table: MetricTable) -> str:
    """Caption sentence for set metrics, whose intervals are not the clustered bootstrap of the rest."""
    sets = table_columns(table.columns)["set"]
    if not sets:
        return ""
    return (
        " " + "/".join(display_label(c) for c in sets) + " are set-level; their intervals are the "
        "metric's own bootstrap over images."
    )


# Where the per-bin values of the set metrics are, under the whole-run table of a binned report.
SET_BINNED = "Per hole-area bin values follow, computed from the features the run stored."


def real_side(data: RunData) -> str:
    """What the set metrics compared the outputs with: the run's real images, or a reference file."""
    reference = (data.config.get("run") or {}).get("fid_reference")
    return f"reference statistics {reference}" if reference else "the run's real images"


def set_bins_note(whole: list[str] | None = None, split: bool = True) -> str:
    """Plain text under the whole-run set-metric table of a binned report: what is not split, where the bins are."""
    parts = [w.rstrip(".") + "." for w in whole or ()]
    return " ".join(parts + ([SET_BINNED] if split else []))


def features_text(data: RunData, table: MetricTable, with_n: bool = True) -> str:
    """Plain caption text of the set metrics: feature extractor, resize, quantisation and n per method.

    ``with_n=False`` leaves out the n of the whole run (for tables of parts of it).

    The extractor is read from the run's ``set_metrics.json`` (the details of each
    result), described by :func:`bench.outputs.report.format.describe_features`.
    """
    descriptions, counts = {}, {}
    for method in table.methods:
        for col in table.columns:
            res = data.set_metrics.get(method, {}).get(col)
            if not res:
                continue
            details = res.get("details") or {}
            descriptions.setdefault(describe_features(details), []).append(method)
            if details.get("n") is not None:
                counts.setdefault(method, set()).add(int(details["n"]))
    if len(descriptions) == 1:
        feats = next(iter(descriptions))
    else:
        feats = "; ".join(f"{d} ({', '.join(dict.fromkeys(ms))})" for d, ms in descriptions.items())
    if not with_n:
        return f"FID/KID features: {feats}"
    ns = set().union(*counts.values()) if counts else set()
    if not ns:
        n_text = "n not recorded"
    elif len(ns) == 1:
        n_text = f"n = {ns.pop()} per method"
    else:
        n_text = "n per method: " + ", ".join(f"{m} {'/'.join(map(str, sorted(k)))}" for m, k in counts.items())
    return f"FID/KID features: {feats}; {n_text}"


def set_caption(
    data: RunData, table: MetricTable, binned: bool = False, whole: list[str] | None = None, split: bool = True
) -> str:
    """LaTeX caption of the FID/KID table: what was compared, the feature extractor, n, how intervals were made.

    ``binned``: the report is split by hole area; ``whole`` says which set metrics are not and why,
    ``split`` whether any are (see :func:`set_bins_note`).
    """
    p = describe_protocol(data.config)
    names = "/".join(display_label(c) for c in table.columns)
    text = (
        f"{names} of each method's outputs against {latex.escape_latex(real_side(data))}, "
        f"{latex.escape_latex(p['dataset'])} "
        f"at {p['size']} px. {latex.escape_latex(features_text(data, table))}. Masks: "
        f"{latex.escape_latex(p['masks'])} (mask SHA-256 {p['mask_sha']}). Value $\\pm$ half-width of the "
        r"metric's own 95\% bootstrap interval over images; best per column in bold; $\downarrow$ lower is "
        "better."
    )
    return text + _table_notes(table) + (" " + latex.escape_latex(set_bins_note(whole, split)) if binned else "")


def set_bins_caption(data: RunData, bins: list[BinTable], sets: MetricTable) -> str:
    """LaTeX caption of the per-bin set metrics: what each bin compares, the features, the small-n bias note.

    ``sets`` is the whole-run set-metric table, whose results name the feature extractor.
    """
    p = describe_protocol(data.config)
    names = "/".join(display_label(c) for c in bins[0].table.columns)
    notes = [f"{bt.bin.label()}: {n}" for bt in bins for n in markdown.table_notes(bt.table)]
    return (
        f"{names} per hole-area bin: each method's outputs in a bin against the run's real images of the "
        f"same bin, {latex.escape_latex(p['dataset'])} at {p['size']} px, {latex.escape_latex(bins_note(data))}. "
        f"Computed from the features the run stored, with the run's seed "
        f"({latex.escape_latex(features_text(data, sets, with_n=False))}). Value $\\pm$ half-width of "
        r"the metric's own 95\% bootstrap interval over the bin's images; best per column of each bin in bold; "
        r"$\downarrow$ lower is better. "
        + latex.escape_latex(SMALL_N_NOTE)
        + "".join(" " + latex.escape_latex(n) for n in notes)
    )


def bins_note(data: RunData) -> str:
    """Plain text of how images were binned by hole area, naming an open last bin when the run has one."""
    areas = data.ok.loc[data.ok["method"].isin(data.methods)].drop_duplicates("image_id")["mask_area"]
    bins = area_bins_of(LAMA_AREA_EDGES)
    codes = assign_area_bins(areas.to_numpy(dtype=float))
    text = (
        f"split by hole area in LaMa's bins {', '.join(b.label() for b in bins[:-1])} (each [lo, hi): an area "
        "of exactly 10% is in 10-20%)"
    )
    over = int((codes == len(bins) - 1).sum())
    if over:
        text += (
            f", and {over} image{'s' if over != 1 else ''} with holes of 60% or more in a last bin {bins[-1].label()}"
        )
    return text


def wilcoxon_caveat(data: RunData) -> str:
    """Clause for the Wilcoxon p-value when images share units (it takes every image as independent)."""
    n_images = data.records.loc[data.records["method"].isin(data.methods), "image_id"].nunique()
    if data.groups is None or data.units >= n_images:
        return ""
    return "; it treats the images of one unit as independent, so its p is optimistic"


def paired_caption(data: RunData, reference: str, binned: bool = False) -> str:
    """LaTeX caption of the paired table: reference minus each method, interval, Wilcoxon p and its caveat."""
    return (
        f"Paired comparison on the same images: {latex.escape_latex(reference)} minus each method"
        + (f", {latex.escape_latex(bins_note(data))}" if binned else "")
        + ": "
        r"mean difference $\pm$ half-width of its 95\% bootstrap interval, "
        f"{latex.escape_latex(data.resampling)}{' within each bin' if binned else ''}, and the two-sided "
        r"Wilcoxon signed-rank $p$-value over images (not corrected for multiple comparisons"
        f"{latex.escape_latex(wilcoxon_caveat(data))}). A positive $\\Delta$ favours "
        r"the reference for $\uparrow$ metrics, a negative one for $\downarrow$ metrics."
    )
