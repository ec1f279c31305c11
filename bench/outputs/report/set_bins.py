"""Set metrics (FID, KID, ...) of a finished run per hole-area bin, from the features the run stored.

Each method's images are split by their mask's area into LaMa's bins
(:data:`bench.outputs.summary.LAMA_AREA_EDGES`) and every built-in set metric the run computed
is computed again on each bin's real images and outputs, through the registered function
(``get_metric(name).fn(real, fake, ctx)``) with the run's seed, so a bin's value is what the run
would report for a run of those images alone. The features come from the run's store
(:class:`bench.outputs.run_features.RunFeatures`); nothing is extracted, and a run whose store
lacks them is refused with a message saying how to store them.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

from bench.metrics import SetMetricContext, get_metric
from bench.metrics.registry import BUILT_IN, split_column
from bench.outputs.report.tables import BinTable, RunData, metric_table
from bench.outputs.run_features import RunFeatures
from bench.outputs.summary import (
    LAMA_AREA_EDGES,
    SUMMARY_COLUMNS,
    area_bins_of,
    assign_area_bins,
    withheld_reason,
)

# Under every per-bin table of set metrics: the bins hold different numbers of images.
SMALL_N_NOTE = (
    "FID is biased upwards at small n (the feature covariance of fewer images than feature dimensions is "
    "rank-deficient) and comparable only between sets of equal n: the bins hold different numbers of "
    "images, so compare methods within a bin, not bins with each other. KID is unbiased at any n, but "
    "noisy when n is small: read its interval."
)


def reference_reason(data: RunData) -> str:
    """Why the run's set metrics cannot be split (its real side is a reference file), or ``""``."""
    reference = (data.config.get("run") or {}).get("fid_reference")
    if not reference:
        return ""
    return (
        f"the run's set metrics compare its outputs with reference statistics ({reference}), which have no "
        "hole areas, so they are not split by hole area"
    )


def binnable_columns(columns: list[str]) -> tuple[list[str], list[str]]:
    """``(split, left whole)``: built-in set metrics are computed per bin; a plugin's may need images."""
    split, whole = [], []
    for column in columns:
        try:
            info = get_metric(split_column(column)[1])
        except (KeyError, ValueError):
            whole.append(column)
            continue
        (split if info.kind == "set" and info.origin == BUILT_IN else whole).append(column)
    return split, whole


def metric_options(config: dict[str, Any]) -> dict[str, Any]:
    """The options the run gave its set metrics (as ``bench run`` passes them)."""
    return {"fid_features": (config.get("run") or {}).get("fid_features")}


def set_result_row(method: str, column: str, res, n: int) -> dict[str, Any]:
    """One summary row (:data:`bench.outputs.summary.SUMMARY_COLUMNS`) of a set-metric result."""
    entry = {"value": res.value, "low": res.low, "high": res.high, "details": res.details}
    return {
        "method": method,
        "metric": column,
        "value": res.value,
        "low": res.low,
        "high": res.high,
        "n": n,
        "capped": 0,
        "note": withheld_reason(entry),
    }


def set_metric_bins(data: RunData, columns: list[str], features: RunFeatures | None = None) -> list[BinTable]:
    """The set metrics ``columns`` of every method per hole-area bin (empty bins omitted).

    Parameters
    ----------
    data : RunData
        The run (records with ``mask_area``, its seed and methods).
    columns : list of str
        Set-metric columns to compute (built-in ones: see :func:`binnable_columns`).
    features : RunFeatures, optional
        The run's stored features (default: read from the run).

    Returns
    -------
    list of BinTable
        ``n`` in each cell is the number of images of that method in that bin.

    Raises
    ------
    RunFeaturesError
        The run's store is missing or lacks features of a binned image.
    """
    if not columns:
        return []
    feats = features or RunFeatures(data.rundir)
    infos = {c: get_metric(split_column(c)[1]) for c in columns}
    ok = data.ok
    # A mask is shared by every method, so an image's bin is the same in each method's rows.
    areas = ok.drop_duplicates("image_id").set_index("image_id")["mask_area"]
    code = dict(zip(areas.index, assign_area_bins(areas.to_numpy(dtype=float))))
    options = metric_options(data.config)
    out = []
    for k, b in enumerate(area_bins_of(LAMA_AREA_EDGES)):
        rows = []
        for method in data.methods:
            ids = [i for i in ok.loc[ok["method"] == method, "image_id"] if code.get(i) == k]
            if not ids:
                continue
            real, fake = feats.real(ids), feats.outputs(method, ids)
            # One context per method and bin: its scratch is keyed to these features.
            ctx = SetMetricContext(seed=data.seed, options=options, progress=False, extractor=dict(feats.identity))
            for column, info in infos.items():
                rows.append(set_result_row(method, column, info.fn(real, fake, ctx), len(ids)))
        if rows:
            summary = pd.DataFrame(rows, columns=SUMMARY_COLUMNS)
            out.append(BinTable(b, metric_table(summary, columns, data.methods)))
    return out


def bins_frame(bins: list[BinTable]) -> pd.DataFrame:
    """The per-bin set metrics as a long table: ``bin, lo, hi, method, metric, value, low, high, n, note``."""
    rows = []
    for bt in bins:
        t = bt.table
        for method in t.methods:
            for column in t.columns:
                if pd.isna(t.n.loc[method, column]):
                    continue
                rows.append(
                    {
                        "bin": bt.bin.label(),
                        "lo": bt.bin.lo,
                        "hi": bt.bin.hi,
                        "method": method,
                        "metric": column,
                        "value": t.value.loc[method, column],
                        "low": t.low.loc[method, column],
                        "high": t.high.loc[method, column],
                        "n": int(t.n.loc[method, column]),
                        "note": t.note_of(method, column),
                    }
                )
    return pd.DataFrame(rows, columns=["bin", "lo", "hi", "method", "metric", "value", "low", "high", "n", "note"])
