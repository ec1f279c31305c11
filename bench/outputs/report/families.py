"""FID and KID across runs that differ in their mask family: ``bench report RUN_A RUN_B ... --out DIR``.

Runs on the same images (``config.json`` identity: dataset, n and the sha256 of the ids) with the
same feature extractor share their real side exactly, so their FIDs differ only by the masks and
the methods: one column per run, named by its mask family. Every value is computed from the
features the runs stored (:class:`bench.outputs.run_features.RunFeatures`) through the registered
metric functions with each run's seed; nothing is extracted and no method runs again.

Files written into ``DIR``::

    families.md          the FID and KID tables (methods x mask families), n and notes
    families.csv         every value, unrounded: run, family, method, metric, value, low, high, n, note
    table_families.tex   the same as one booktabs float, a block per metric (with --latex)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from bench.core.files import atomic_write_text
from bench.core.outdir import claim_dir
from bench.metrics import SetMetricContext, get_metric
from bench.outputs.report import latex, markdown
from bench.outputs.report.contents import Report
from bench.outputs.report.format import best_flags, format_interval, metric_label
from bench.outputs.report.set_bins import metric_options, set_result_row
from bench.outputs.report.tables import describe_protocol
from bench.outputs.run_features import RunFeatures
from bench.outputs.rundir import RunDir
from bench.outputs.summary import digits_for

# The set metrics of the table, in its order.
FAMILY_METRICS = ("fid", "kid")
# What must agree between runs for their real sides to be the same images.
SAME_IMAGES = ("dataset", "n", "ids_sha256")

FAIR_NOTE = (
    "Every column holds the same real images (same dataset, n and image ids) and the same feature "
    "extractor, so the columns differ only by the masks the methods filled."
)
FAMILY_SMALL_N = (
    "FID is biased upwards at small n (the feature covariance of fewer images than feature dimensions is "
    "rank-deficient) and comparable only between sets of equal n; KID is unbiased at any n, but noisy "
    "when n is small: read its interval."
)


@dataclass
class FamilyRun:
    """One run of the comparison: where it is, its configuration, its mask family and column label."""

    rundir: RunDir
    config: dict[str, Any]
    features: RunFeatures
    label: str = ""

    @property
    def family(self) -> str:
        return str(self.config.get("identity", {}).get("mask_family", "?"))

    @property
    def seed(self) -> int:
        return int(self.config.get("identity", {}).get("seed", 0))


@dataclass
class FamilyTable:
    """The comparison: the runs (columns), the methods (rows) and every value in a long frame."""

    runs: list[FamilyRun]
    methods: list[str]
    results: pd.DataFrame = field(repr=False)

    def cell(self, run: FamilyRun, method: str, metric: str) -> pd.Series | None:
        hit = self.results[
            (self.results["run"] == str(run.rundir.path))
            & (self.results["method"] == method)
            & (self.results["metric"] == metric)
        ]
        return None if hit.empty else hit.iloc[0]


def _config(rundir: RunDir) -> dict[str, Any]:
    if not rundir.config.is_file():
        raise ValueError(f"{rundir.path}: no config.json (is this a `bench run` directory?)")
    config = rundir.read_json(rundir.config)
    if not isinstance(config, dict) or not isinstance(config.get("identity"), dict):
        raise ValueError(f"{rundir.path}: config.json has no identity of its images")
    return config


def load_family_runs(paths: list[str | Path]) -> list[FamilyRun]:
    """Read the runs and check they can share one table.

    Raises
    ------
    ValueError
        A run is being written or has no configuration; the runs are not of the same images
        or not of the same feature extractor (one line naming the runs); their features are not
        stored (:class:`bench.outputs.run_features.RunFeaturesError`).
    """
    if len(paths) < 2:
        raise ValueError("a report across mask families needs at least two runs")
    rundirs = [RunDir(p) for p in paths]
    for rd in rundirs:
        writer = rd.being_written()
        if writer is not None:
            raise ValueError(f"{rd.path} is being written by bench run (pid {writer}): report it when it has finished")
    configs = [_config(rd) for rd in rundirs]
    for rd, c in zip(rundirs, configs):
        reference = (c.get("run") or {}).get("fid_reference")
        if reference:
            raise ValueError(
                f"{rd.path}: its FID is against reference statistics ({reference}), not its own real images; "
                "FID per mask family compares runs against their shared real images"
            )
    names = ", ".join(str(rd.path) for rd in rundirs)
    first = configs[0]["identity"]
    differ = [k for k in SAME_IMAGES if any(c["identity"].get(k) != first.get(k) for c in configs[1:])]
    if differ:
        raise ValueError(
            f"runs {names} are not of the same images ({', '.join(differ)} differ): FID per mask family compares "
            "runs on the same images"
        )
    runs = [FamilyRun(rd, c, RunFeatures(rd)) for rd, c in zip(rundirs, configs)]
    if any(r.features.identity != runs[0].features.identity for r in runs[1:]):
        extractors = ", ".join(f"{r.rundir.path}: {r.features.identity['extractor']}" for r in runs)
        raise ValueError(f"runs {names} have features of different extractors ({extractors}): FIDs would not compare")
    families = [r.family for r in runs]
    for r in runs:
        # Two runs of one family (another mask seed) are told apart by their folder's name.
        r.label = r.family if families.count(r.family) == 1 else f"{r.family} ({r.rundir.path.name})"
    return runs


def family_table(runs: list[FamilyRun], methods: list[str] | None = None) -> FamilyTable:
    """FID and KID of every method in every run, from the stored features.

    Parameters
    ----------
    runs : list of FamilyRun
        From :func:`load_family_runs`.
    methods : list of str, optional
        Rows, in order (default: every method with a successful output in some run, in run order).

    Raises
    ------
    ValueError
        A requested method is in none of the runs.
    """
    present: list[str] = []
    for r in runs:
        for spec in [*r.config.get("methods", []), *r.rundir.output_folders()]:
            if spec not in present and r.features.ok_ids(spec):
                present.append(spec)
    if methods:
        unknown = [m for m in methods if m not in present]
        if unknown:
            raise ValueError(f"--methods: {', '.join(unknown)} in none of the runs (they have: {', '.join(present)})")
    rows_order = list(methods) if methods else present
    for r in runs:  # every missing feature named before any is used
        r.features.require([m for m in rows_order if r.features.ok_ids(m)])
    infos = {name: get_metric(name) for name in FAMILY_METRICS}
    rows = []
    for r in runs:
        options = metric_options(r.config)
        for method in rows_order:
            ids = r.features.ok_ids(method)
            if not ids:
                continue
            real, fake = r.features.real(ids), r.features.outputs(method, ids)
            ctx = SetMetricContext(seed=r.seed, options=options, progress=False, extractor=dict(r.features.identity))
            for name, info in infos.items():
                row = set_result_row(method, name, info.fn(real, fake, ctx), len(ids))
                rows.append({"run": str(r.rundir.path), "family": r.label, **row})
    columns = ["run", "family", "method", "metric", "value", "low", "high", "n", "note"]
    frame = pd.DataFrame(rows, columns=columns + ["capped"])[columns]
    return FamilyTable(runs, rows_order, frame)


def _cells(table: FamilyTable, metric: str, style: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Cell text (``value ± half-width``, ``(n = k)`` where a method has fewer images) and best flags."""
    labels = [r.label for r in table.runs]
    text = pd.DataFrame("", index=table.methods, columns=labels, dtype=object)
    best = pd.DataFrame(False, index=table.methods, columns=labels)
    digits = digits_for(metric)
    for r in table.runs:
        values = pd.Series(float("nan"), index=table.methods)
        full = len(r.features.image_ids())
        for method in table.methods:
            hit = table.cell(r, method, metric)
            if hit is None:
                text.loc[method, r.label] = "\u2013" if style == "text" else "--"
                continue
            values[method] = hit["value"]
            cell = "withheld" if hit["note"] else format_interval(hit["value"], hit["low"], hit["high"], digits, style)
            if int(hit["n"]) != full:
                cell += f" (n = {int(hit['n'])})" if style == "text" else f" ($n = {int(hit['n'])}$)"
            text.loc[method, r.label] = cell
        best[r.label] = best_flags(values, metric, digits)
    return text, best


def _n_text(table: FamilyTable) -> str:
    counts = sorted({len(r.features.image_ids()) for r in table.runs})
    return f"n = {counts[0]}" if len(counts) == 1 else "n = " + "/".join(map(str, counts))


def _notes(table: FamilyTable) -> list[str]:
    hits = table.results[table.results["note"].map(lambda v: isinstance(v, str) and v != "")]
    return [f"{h.metric} of {h.method} ({h.family}) withheld: {h.note}" for h in hits.itertuples()]


def family_markdown(table: FamilyTable) -> str:
    """The Markdown document: what is compared, a table per metric (methods x families), the notes."""
    p = describe_protocol(table.runs[0].config)
    lines = [
        "# FID per mask family",
        "",
        (
            f"Dataset {p['dataset']} at {p['size']} px, {_n_text(table)} images in every run; runs: "
            + ", ".join(f"{r.label} = `{r.rundir.path}`" for r in table.runs)
            + f". {FAIR_NOTE} Computed from the features the runs stored, with each run's seed. Value \u00b1 "
            "half-width of the metric's own 95 % bootstrap interval over images (n in a cell: a method "
            "failed on some images); best per column in bold; \u2193 lower is better."
        ),
        "",
    ]
    for metric in FAMILY_METRICS:
        text, best = _cells(table, metric, "text")
        bolded = text.where(~best, "**" + text + "**")
        lines += [f"## {metric_label(metric)}", "", markdown.frame_to_markdown(bolded.reset_index(names="method"))]
    lines += [f"Small n: {FAMILY_SMALL_N}", ""]
    lines += [f"- {n}" for n in _notes(table)]
    return "\n".join(lines) + "\n"


def family_latex(table: FamilyTable, label: str = "tab:inpainting-families") -> str:
    """One booktabs float: a block per metric (methods x mask families), the caption saying what is compared."""
    blocks = []
    for metric in FAMILY_METRICS:
        text, best = _cells(table, metric, "latex")
        blocks.append(latex.Block(text, best, rf"\emph{{{metric_label(metric, 'latex')}}}"))
    p = describe_protocol(table.runs[0].config)
    caption = (
        f"FID and KID per mask family on {latex.escape_latex(p['dataset'])} at {p['size']} px, "
        f"${_n_text(table)}$ images in every run. {latex.escape_latex(FAIR_NOTE)} Computed from the features "
        r"the runs stored, with each run's seed. Value $\pm$ half-width of the metric's own 95\% bootstrap "
        r"interval over images; best per column in bold; $\downarrow$ lower is better. "
        + latex.escape_latex(FAMILY_SMALL_N)
        + "".join(" " + latex.escape_latex(n) + "." for n in _notes(table))
    )
    headers = [latex.escape_latex(r.label) for r in table.runs]
    return latex.latex_table(blocks, headers, caption, latex.check_label(label))


def write_family_report(
    paths: list[str | Path],
    out: str | Path,
    methods: list[str] | None = None,
    write_latex: bool = True,
    label: str = "tab:inpainting",
) -> Report:
    """Check the runs, compute the table and write it into ``out`` (claimed as a report's folder).

    Raises
    ------
    ValueError
        As :func:`load_family_runs` and :func:`family_table`, before anything is written.
    """
    runs = load_family_runs(paths)
    table = family_table(runs, methods)
    out = Path(out)
    rep = Report(out)
    with claim_dir(out, "report", legacy=lambda path: (path / "report.md").is_file()):
        for name, text in (
            ("families.md", family_markdown(table)),
            ("families.csv", table.results.to_csv(index=False)),
            *([("table_families.tex", family_latex(table, f"{label}-families"))] if write_latex else []),
        ):
            atomic_write_text(out / name, text)
            rep.files.append(out / name)
    return rep
