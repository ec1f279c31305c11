"""Figures of a run (matplotlib, Agg): image grids, a bar chart with intervals, hole-PSNR vs area.

Every figure is saved as PNG and PDF with creation dates stripped, so rebuilding a
report from the same run gives the same files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bench.outputs.report.format import higher_is_better, metric_label
from bench.outputs.report.tables import AREA_EDGES, MetricTable, area_bins
from bench.outputs.rundir import RunDir

# Colour painted into the hole of the "Input" column: what the method was asked to fill.
HOLE_COLOUR = (1.0, 1.0, 1.0)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")  # no display on CI machines; Agg also makes PNGs reproducible
    import matplotlib.pyplot as plt

    return plt


def select_rows(records: pd.DataFrame, method: str, column: str = "hole_psnr") -> list[str]:
    """Image ids of the best, median and worst result of ``method`` by ``column``.

    Parameters
    ----------
    records : DataFrame
        Rows of a run.
    method : str
        The method whose results are ranked (the first method of a report).
    column : str
        Metric column; its registry direction decides what "best" means.

    Returns
    -------
    list of str
        ``[best, median, worst]`` without repeats (fewer when there are fewer
        images). Ties are broken by image id so the choice is deterministic. The
        median is the lower median of the ranking.
    """
    ok = records[(records["status"] == "ok") & (records["method"] == method)]
    if ok.empty:
        raise ValueError(f"no successful records for method {method!r} to choose grid rows from")
    if column not in ok.columns:
        raise ValueError(f"cannot rank rows by {column!r}: not a column of the records")
    ranked = ok[["image_id", column]].dropna()
    if ranked.empty:
        raise ValueError(f"{method}: every value of {column!r} is missing")
    ranked = ranked.sort_values([column, "image_id"], ascending=[not higher_is_better(column), True], kind="mergesort")
    ids = list(ranked["image_id"])
    return list(dict.fromkeys([ids[0], ids[(len(ids) - 1) // 2], ids[-1]]))


def hole_input(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The image with its hole painted :data:`HOLE_COLOUR` (the Input column)."""
    out = image.copy()
    out[mask] = np.asarray(HOLE_COLOUR, dtype=np.float32)
    return out


def error_map(output: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Per-pixel mean absolute error over channels, ``H x W`` in [0, 1]."""
    return np.abs(output.astype(np.float32) - target.astype(np.float32)).mean(axis=2)


def grid_figure(
    rundir: RunDir,
    records: pd.DataFrame,
    methods: list[str],
    image_ids: list[str],
    error_maps: bool = False,
    caption_column: str | None = "hole_psnr",
    cell_inches: float = 1.6,
):
    """A grid: one row per image; columns Input, each method, Ground truth (and error maps).

    Parameters
    ----------
    rundir : RunDir
        Where the ground truth, masks and outputs are read from.
    records : DataFrame
        Rows of the run (for per-cell captions and failed outputs).
    methods : list of str
        Method specs; the column titles.
    image_ids : list of str
        Rows.
    error_maps : bool
        Add one column per method with its absolute error, on one colour scale
        from 0 to the largest error in the grid, shown by a labelled colour bar.
    caption_column : str, optional
        Metric printed under each method's cell (None for none).
    cell_inches : float
        Size of one cell.

    Returns
    -------
    matplotlib.figure.Figure
    """
    plt = _pyplot()
    if not image_ids:
        raise ValueError("a grid needs at least one image id")
    titles = ["Input"] + list(methods) + ["Ground truth"]
    if error_maps:
        titles += [f"|error| {m}" for m in methods]
    ok = records[records["status"] == "ok"].set_index(["method", "image_id"])
    rows = [_grid_row(rundir, ok, methods, image_id, error_maps, caption_column) for image_id in image_ids]
    # One scale for every error map of the grid, so the columns compare; 0 to the largest error shown.
    maps = [p for _, _, panels, _ in rows for p in panels if p is not None and p.ndim == 2]
    vmax = max([float(m.max()) for m in maps] + [1.0 / 255.0])
    nrows, ncols = len(image_ids), len(titles)
    width = cell_inches * ncols + (0.9 if error_maps else 0.0)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width, (cell_inches + 0.25) * nrows), squeeze=False)
    shown = None
    for r, (target, mask, panels, captions) in enumerate(rows):
        for c, (ax, panel) in enumerate(zip(axes[r], panels)):
            ax.set_xticks([])
            ax.set_yticks([])
            if panel is None:
                # A grey square of the image's size keeps the grid aligned where a method failed.
                ax.imshow(np.full(target.shape, 0.85, dtype=np.float32), interpolation="nearest")
            elif panel.ndim == 2:
                shown = ax.imshow(panel, cmap="inferno", vmin=0.0, vmax=vmax, interpolation="nearest")
            else:
                ax.imshow(panel, interpolation="nearest")
                if c == 0:
                    # Outline the hole: a white fill alone vanishes on bright backgrounds (sky, walls).
                    ax.contour(mask, levels=[0.5], colors="red", linewidths=0.6)
            if r == 0:
                ax.set_title(titles[c], fontsize=8)
            if c == 0:
                ax.set_ylabel(image_ids[r], fontsize=7)
            if captions[c]:
                ax.set_xlabel(captions[c], fontsize=7)
    fig.tight_layout(pad=0.3)
    if shown is not None:
        # The bar sits in the margin kept free above, so tight_layout does not squeeze the images.
        right = 1.0 - 0.9 / width
        fig.subplots_adjust(right=right)
        cax = fig.add_axes([right + 0.12 / width, 0.12, 0.12 / width, 0.76], label="colorbar")
        bar = fig.colorbar(shown, cax=cax)
        bar.set_label(f"absolute error, mean over RGB (0 to {vmax:.3f})", fontsize=7)
        bar.ax.tick_params(labelsize=6)
    return fig


def _grid_row(
    rundir: RunDir, ok: pd.DataFrame, methods: list[str], image_id: str, error_maps: bool, caption_column: str | None
):
    """Ground truth, mask, panels (None where a method failed) and captions of one grid row."""
    target = rundir.load_image(image_id)
    mask = rundir.load_mask(image_id)
    panels = [hole_input(target, mask)]
    captions = [""]
    outputs = {}
    for m in methods:
        if (m, image_id) in ok.index:
            outputs[m] = rundir.load_output(m, image_id)
            value = ok.loc[(m, image_id)].get(caption_column) if caption_column else None
            captions.append(_caption(caption_column, value))
        else:
            outputs[m] = None
            captions.append("failed")
        panels.append(outputs[m])
    panels.append(target)
    captions.append("")
    if error_maps:
        for m in methods:
            panels.append(None if outputs[m] is None else error_map(outputs[m], target))
            captions.append("")
    return target, mask, panels, captions


def _caption(column: str | None, value) -> str:
    if column is None or value is None or pd.isna(value):
        return ""
    from bench.outputs.summary import digits_for

    region = "hole " if column.startswith("hole_") else ""
    return f"{region}{metric_label(column)} {float(value):.{min(digits_for(column), 3)}f}"


def bar_figure(table: MetricTable, column: str, title: str | None = None):
    """One bar per method for ``column`` with its interval as an error bar.

    Parameters
    ----------
    table : MetricTable
        Means and intervals (see :func:`bench.outputs.report.tables.metric_table`).
    column : str
        A column of the table.
    title : str, optional
        Figure title.
    """
    plt = _pyplot()
    if column not in table.columns:
        raise ValueError(f"bar chart: {column!r} is not in the table (has: {', '.join(table.columns)})")
    value = table.value[column].to_numpy(dtype=float)
    low = table.low[column].to_numpy(dtype=float)
    high = table.high[column].to_numpy(dtype=float)
    err = np.vstack([np.nan_to_num(value - low), np.nan_to_num(high - value)])
    fig, ax = plt.subplots(figsize=(max(3.0, 0.9 * len(value) + 1.5), 3.0))
    x = np.arange(len(value))
    ax.bar(x, value, yerr=err, capsize=4, color="C0", edgecolor="black", linewidth=0.5)
    ax.set_xticks(x, table.methods, rotation=30, ha="right", fontsize=8)
    region = "hole" if column.startswith("hole_") else "image"
    ax.set_ylabel(f"{metric_label(column)} ({region})")
    ax.set_title(title or f"{metric_label(column)} ({region}), mean and 95% bootstrap interval", fontsize=9)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def area_figure(
    records: pd.DataFrame,
    methods: list[str],
    column: str = "hole_psnr",
    edges: tuple[float, ...] = AREA_EDGES,
    seed: int = 0,
    groups: dict[str, str] | None = None,
):
    """``column`` versus hole area: every image as a dot, and per-bin means with intervals.

    Parameters
    ----------
    records : DataFrame
        Rows of a run.
    methods : list of str
        Methods to draw.
    column : str
        Per-image metric column.
    edges : tuple of float
        Area bins (fractions), as in :func:`bench.outputs.report.tables.area_bins`.
    seed : int
        Bootstrap seed for the bin intervals.
    groups : dict, optional
        ``{image_id: group}`` resampled by the bin intervals (None: images).
    """
    plt = _pyplot()
    ok = records[records["status"] == "ok"]
    bins = area_bins(records, column, methods, edges, seed=seed, groups=groups)
    fig, ax = plt.subplots(figsize=(5.0, 3.4))
    width = (edges[1] - edges[0]) * 100
    for k, m in enumerate(methods):
        sub = ok[ok["method"] == m]
        colour = f"C{k % 10}"
        ax.scatter(100 * sub["mask_area"], sub[column], s=8, alpha=0.35, color=colour)
        b = bins[bins["method"] == m]
        # Offset the methods inside a bin so their error bars do not overlap.
        centre = 100 * (b["lo"] + b["hi"]) / 2 + (k - (len(methods) - 1) / 2) * width * 0.12
        yerr = np.vstack([np.nan_to_num(b["value"] - b["low"]), np.nan_to_num(b["high"] - b["value"])])
        ax.errorbar(centre, b["value"], yerr=yerr, marker="o", ms=4, capsize=3, color=colour, label=m)
    for e in edges:
        ax.axvline(100 * e, color="0.8", linewidth=0.5, zorder=0)
    ax.set_xlabel("hole area (% of image)")
    ax.set_ylabel(f"{metric_label(column)} ({'hole' if column.startswith('hole_') else 'image'})")
    ax.set_title("per image (dots) and per area bin (mean, 95% interval)", fontsize=9)
    ax.legend(fontsize=7, frameon=False)
    fig.tight_layout()
    return fig


def save_figure(fig, stem: Path, dpi: int = 150) -> list[Path]:
    """Save ``fig`` as ``stem.png`` and ``stem.pdf`` (no timestamps) and close it.

    Returns
    -------
    list of Path
        The two files.
    """
    plt = _pyplot()
    stem = Path(stem)
    stem.parent.mkdir(parents=True, exist_ok=True)
    png, pdf = stem.with_suffix(".png"), stem.with_suffix(".pdf")
    fig.savefig(png, dpi=dpi, metadata={"Software": None})
    fig.savefig(pdf, metadata={"CreationDate": None, "ModDate": None, "Creator": None, "Producer": None})
    plt.close(fig)
    return [png, pdf]
