"""A run's numbers as wide tables: methods as rows, metrics as columns.

The means and intervals are those of :func:`bench.outputs.summary.summarize` (the shared
seeded bootstrap), recomputed from the records so a partial or resumed run is
reported exactly as it stands.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench.core.stats import bootstrap_ci, count_units, group_labels
from bench.metrics.registry import GROUPS, describe, split_column
from bench.outputs.rundir import NO_GROUPS_UNIT, RunDir
from bench.outputs.summary import (
    AreaBin,
    area_bins_of,
    assign_area_bins,
    interval_note,
    summarize,
)

# The report's metric tables: per-image metrics on the whole image and on the hole, and the set
# metrics in a table of their own (their caption describes the feature network).
TABLES = ("image", "set", "hole")


def table_columns(columns: Iterable[str], order: Sequence[str] = ()) -> dict[str, list[str]]:
    """Which report table shows each of a run's metric columns, grouped by the registry's ``group``.

    Parameters
    ----------
    columns : iterable of str
        Summary or record columns (``psnr``, ``hole_psnr``, ``fid``); ``seconds`` and duplicates are ignored.
    order : sequence of str, optional
        Metric specs in the order the run named them (``config.json``'s ``metrics``); their columns
        come first within a group, in this order, the others after them as given.

    Returns
    -------
    dict
        ``{"image": [...], "set": [...], "hole": [...]}``: set-level metrics in ``set``, per-image ones
        in ``image`` or ``hole`` by their region. Within a table columns are ordered by
        :data:`bench.metrics.registry.GROUPS` (pixel, perceptual, set, plugin), then by ``order``. A column
        no metric here describes (a plugin not installed on this machine) is shown last, by its region.
    """
    rank = {spec: k for k, spec in enumerate(order)}
    placed: dict[str, list[tuple[int, int, int, str]]] = {t: [] for t in TABLES}
    for k, column in enumerate(dict.fromkeys(columns)):
        if column == "seconds":
            continue
        region, spec = split_column(column)
        named = rank.get(spec, len(rank))
        try:
            info = describe(column)
        except KeyError:
            placed[region].append((len(GROUPS), named, k, column))
            continue
        table = "set" if info.kind == "set" else region
        group = GROUPS.index(info.group) if info.group in GROUPS else len(GROUPS)
        placed[table].append((group, named, k, column))
    return {t: [c for *_, c in sorted(v)] for t, v in placed.items()}


# Hole-area bins (fractions of the image). The study's masks cover at most 25 %,
# so LaMa's 10 %-wide bins would leave two bins; 5 % steps keep the trend visible.
AREA_EDGES = (0.0, 0.05, 0.10, 0.15, 0.20, 0.25)


@dataclass
class RunData:
    """Everything a report needs from one run directory.

    Attributes
    ----------
    rundir : RunDir
    config : dict
        ``config.json`` (empty when absent).
    records : DataFrame
        All rows of ``records.jsonl``.
    set_metrics : dict
        ``set_metrics.json`` (empty when absent).
    methods : list of str
        Method specs in run order, restricted to those with records.
    summary : DataFrame
        Long summary (method, metric, value, low, high, n).
    groups : dict or None
        ``{image_id: group}`` from ``groups.json``: the resampling unit of every
        interval over images; None for a run without it (each image its own unit).
    unit : str
        Description of the resampling unit.
    """

    rundir: RunDir
    config: dict[str, Any]
    records: pd.DataFrame
    set_metrics: dict[str, Any]
    methods: list[str]
    summary: pd.DataFrame = field(repr=False)
    groups: dict[str, str] | None = field(default=None, repr=False)
    unit: str = NO_GROUPS_UNIT

    @property
    def units(self) -> int:
        """Distinct resampling units among the reported methods' images."""
        ids = self.records.loc[self.records["method"].isin(self.methods), "image_id"]
        return count_units(list(ids), self.groups)

    @property
    def resampling(self) -> str:
        """Caption text, e.g. ``resampling CelebA identities (22 units)``."""
        return interval_note(self.unit, self.units)

    @property
    def ok(self) -> pd.DataFrame:
        """Rows whose method succeeded."""
        return self.records[self.records["status"] == "ok"]

    @property
    def seed(self) -> int:
        """Seed of the run (also the bootstrap seed)."""
        return int(self.config.get("identity", {}).get("seed", 0))


def load_run(path: str | Path, methods: list[str] | None = None) -> RunData:
    """Read a run directory written by ``bench run``.

    Parameters
    ----------
    path : str or Path
        The run directory.
    methods : list of str, optional
        Only these method specs, in this order (default: every method of the run).

    Raises
    ------
    FileNotFoundError
        No ``records.jsonl`` with at least one row in ``path``.
    ValueError
        A requested method has no records in the run.
    """
    rd = RunDir(path)
    records = rd.records_frame()
    if records.empty:
        raise FileNotFoundError(f"{rd.path}: no records.jsonl rows (is this a `bench run` directory?)")
    # A resumed run appends a retry after a failed row; the last row of a pair is its state.
    records = records.drop_duplicates(["method", "image_id"], keep="last").reset_index(drop=True)
    config = rd.read_json(rd.config) if rd.config.is_file() else {}
    set_metrics = rd.read_json(rd.set_metrics) if rd.set_metrics.is_file() else {}
    present = list(dict.fromkeys(records["method"]))
    ordered = [m for m in config.get("methods", []) if m in present] + [
        m for m in present if m not in config.get("methods", [])
    ]
    if methods:
        missing = [m for m in methods if m not in present]
        if missing:
            raise ValueError(
                f"{rd.path}: no records for method(s) {', '.join(missing)} (the run has: {', '.join(ordered)})"
            )
        ordered = list(methods)
    seed = int(config.get("identity", {}).get("seed", 0))
    unit, groups = rd.read_groups()
    summary = summarize(records, set_metrics, methods=ordered, seed=seed, groups=groups)
    return RunData(rd, config, records, set_metrics, ordered, summary, groups, unit)


@dataclass
class MetricTable:
    """Wide table of one run: ``value``, ``low``, ``high`` and ``n`` frames (methods x columns).

    ``capped`` counts the images at the PSNR cap behind each mean (0 elsewhere) and ``note``
    holds why a set metric was withheld ('' elsewhere); both default to none.
    """

    value: pd.DataFrame
    low: pd.DataFrame
    high: pd.DataFrame
    n: pd.DataFrame
    capped: pd.DataFrame | None = None
    note: pd.DataFrame | None = None

    def capped_count(self, method: str, column: str) -> int:
        """Images at the PSNR cap behind one cell."""
        if self.capped is None or column not in self.capped.columns:
            return 0
        value = self.capped.loc[method, column]
        return int(value) if pd.notna(value) else 0

    def note_of(self, method: str, column: str) -> str:
        """Why one cell has no value (a withheld set metric), or ``""``."""
        if self.note is None or column not in self.note.columns:
            return ""
        value = self.note.loc[method, column]
        return value if isinstance(value, str) else ""

    @property
    def methods(self) -> list[str]:
        return list(self.value.index)

    @property
    def columns(self) -> list[str]:
        return list(self.value.columns)


def metric_table(
    summary: pd.DataFrame, columns: list[str] | tuple[str, ...], methods: list[str] | None = None
) -> MetricTable:
    """Pivot a long summary into a :class:`MetricTable`.

    Parameters
    ----------
    summary : DataFrame
        Output of :func:`bench.outputs.summary.summarize`.
    columns : sequence of str
        Wanted metric columns, in order; those absent from the summary are dropped.
    methods : list of str, optional
        Row order (default: order of appearance).
    """
    methods = methods or list(dict.fromkeys(summary["method"]))
    present = set(summary["metric"])
    cols = [c for c in columns if c in present]
    frames = {}
    for key in ("value", "low", "high", "n", "capped"):
        if key not in summary.columns:
            continue
        wide = summary.pivot_table(index="method", columns="metric", values=key, aggfunc="first", dropna=False)
        frames[key] = wide.reindex(index=methods, columns=cols).astype(float)
    if "note" in summary.columns:
        # Text: pivoted by hand, as pivot_table aggregates numbers.
        note = pd.DataFrame("", index=methods, columns=cols, dtype=object)
        for r in summary[summary["metric"].isin(cols) & summary["method"].isin(methods)].itertuples():
            if isinstance(r.note, str) and r.note:
                note.loc[r.method, r.metric] = r.note
        frames["note"] = note
    return MetricTable(**frames)


@dataclass
class BinTable:
    """The :class:`MetricTable` of one hole-area bin."""

    bin: AreaBin
    table: MetricTable

    def n_text(self, style: str = "text") -> str:
        """Images in the bin, e.g. ``n = 37`` (a range when methods failed on some)."""
        counts = self.table.n.stack().dropna()
        counts = counts[counts > 0]
        lo, hi = (int(counts.min()), int(counts.max())) if len(counts) else (0, 0)
        text = f"n = {hi}" if lo == hi else f"n = {lo}-{hi}"
        return f"${text.replace('-', '$--$')}$" if style == "latex" else text


def area_tables(
    by_area: pd.DataFrame, columns: list[str] | tuple[str, ...], methods: list[str] | None = None
) -> list[BinTable]:
    """One table per hole-area bin, in bin order.

    Parameters
    ----------
    by_area : DataFrame
        Output of :func:`bench.outputs.summary.summarize_by_area`.
    columns : sequence of str
        Metric columns, in order (absent ones dropped).
    methods : list of str, optional
        Row order.
    """
    out = []
    for _label, part in by_area.groupby("bin", sort=False):
        first = part.iloc[0]
        b = AreaBin(float(first["lo"]), None if pd.isna(first["hi"]) else float(first["hi"]))
        out.append(BinTable(b, metric_table(part.drop(columns=["bin", "lo", "hi"]), columns, methods)))
    return out


def describe_protocol(config: dict[str, Any], n: int | None = None) -> dict[str, str]:
    """Plain-text pieces of a caption: dataset, n, mask protocol and mask hash.

    Parameters
    ----------
    config : dict
        ``config.json`` of the run.
    n : int, optional
        Number of images; defaults to the run's ``n``.
    """
    ident = config.get("identity", {})
    ds = ident.get("dataset", {})
    name = ds.get("dataset", "unknown dataset")
    split = ds.get("split")
    family = ident.get("mask_family", "?")
    protocol = {
        "rects": "1-3 random rectangles covering at most 25% of the image",
        "center": "one centred 64x64 square",
    }.get(family, family)
    size = ds.get("preprocess", {}).get("size")
    return {
        "dataset": f"{name} ({split})" if split else name,
        "n": str(n if n is not None else ident.get("n", "?")),
        "masks": f"{protocol}, seed {ident.get('seed', '?')}",
        "mask_sha": str(config.get("mask_sha256", ""))[:12],
        "size": f"{size}x{size}" if size else "native size",
    }


def area_bins(
    records: pd.DataFrame,
    column: str,
    methods: list[str],
    edges: tuple[float, ...] = AREA_EDGES,
    seed: int = 0,
    groups: dict[str, str] | None = None,
) -> pd.DataFrame:
    """Mean of one per-image metric by hole-area bin, per method (the area figure's bins).

    Parameters
    ----------
    records : DataFrame
        Rows with ``status``, ``method``, ``mask_area`` and ``column``.
    column : str
        Metric column, e.g. ``hole_psnr``.
    methods : list of str
        Methods to include, in order.
    edges : tuple of float
        Bin edges as area fractions; bins are ``[lo, hi)`` except the last,
        which includes its upper edge (the study's masks reach 25 % exactly).
        Areas beyond the last edge get their own bin (see
        :func:`bench.outputs.summary.area_bins_of` with ``close_last=True``).
    seed : int
        Bootstrap seed for the per-bin intervals.
    groups : dict, optional
        ``{image_id: group}``: the per-bin intervals resample whole groups
        (see :func:`bench.core.stats.bootstrap_ci`); None resamples images.

    Returns
    -------
    DataFrame
        Columns ``method, bin, lo, hi, n, value, low, high``; empty bins are
        omitted; the open bin's ``hi`` is the largest area of the records.
    """
    ok = records[records["status"] == "ok"]
    bins = area_bins_of(tuple(edges), close_last=True)
    top = float(ok["mask_area"].max()) if len(ok) else float(edges[-1])
    rows = []
    for method in methods:
        sub = ok[ok["method"] == method]
        codes = assign_area_bins(sub["mask_area"].to_numpy(dtype=float), tuple(edges), close_last=True)
        vals = sub[column].to_numpy(dtype=float)
        labels = np.asarray(group_labels(list(sub["image_id"]), groups)) if groups is not None else None
        for k, b in enumerate(bins):
            sel = codes == k
            if not sel.any():
                continue
            mean, low, high = bootstrap_ci(vals[sel], labels[sel] if labels is not None else None, seed=seed)
            rows.append(
                {
                    "method": method,
                    "bin": b.label(),
                    "lo": b.lo,
                    "hi": top if b.hi is None else b.hi,
                    "n": int((~np.isnan(vals[sel])).sum()),
                    "value": mean,
                    "low": low,
                    "high": high,
                }
            )
    return pd.DataFrame(rows, columns=["method", "bin", "lo", "hi", "n", "value", "low", "high"])


def short_command(command: str) -> str:
    """A run's command line with the interpreter-specific path of ``bench`` shortened to ``bench``."""
    words = command.split()
    if words and Path(words[0]).name == "bench":
        words[0] = "bench"
    return " ".join(words)
