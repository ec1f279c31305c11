"""Paired comparison of two methods on the same images.

Both methods saw identical images and masks, so the per-image differences carry
the comparison: their mean, a bootstrap interval of that mean (the shared
:func:`bench.core.stats.bootstrap_ci`, resampling whole groups of related images when
the run has them) and a Wilcoxon signed-rank test (scipy).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from bench.core.stats import bootstrap_ci, group_labels
from bench.metrics.pixel import PSNR_COLUMNS, psnr_capped
from bench.outputs.report.format import higher_is_better


@dataclass(frozen=True)
class PairedResult:
    """Outcome of comparing method ``a`` with method ``b`` on one metric column.

    Attributes
    ----------
    a, b, column : str
        The methods and the metric column.
    n : int
        Images where both methods have a finite value.
    mean_a, mean_b : float
        Means over those images.
    diff, low, high : float
        Mean of ``a - b`` and its 95 % bootstrap interval.
    p_value : float
        Two-sided Wilcoxon signed-rank p-value, zero differences (ties, e.g. two outputs at
        the PSNR cap) dropped as Wilcoxon did (``zero_method="wilcox"``); 1.0 when every
        difference is 0, NaN with no pairs.
    a_better, b_better, ties : int
        Images on which each method is better (by the metric's direction), or tied.
    dropped : int
        Images present for both methods but skipped for a missing value (NaN: no hole).
        PSNR columns count an exact reconstruction at the cap, as tables do.
    """

    a: str
    b: str
    column: str
    n: int
    mean_a: float
    mean_b: float
    diff: float
    low: float
    high: float
    p_value: float
    a_better: int
    b_better: int
    ties: int
    dropped: int


def paired_values(records: pd.DataFrame, a: str, b: str, column: str) -> tuple[np.ndarray, np.ndarray, int]:
    """Per-image values of ``a`` and ``b`` aligned by image id.

    Only images where both methods succeeded and both values are finite are kept; PSNR
    columns are first clipped to :data:`~bench.metrics.pixel.PSNR_MAX` (records written
    before the cap hold an infinity for an exact reconstruction), so an exact output is a
    pair at the cap, and two exact outputs a tie.

    Returns
    -------
    va, vb : ndarray
        Aligned values (same image at the same position), sorted by image id.
    dropped : int
        Images in common whose value was not finite.

    Raises
    ------
    ValueError
        A method or the column is missing from ``records``.
    """
    _, va, vb, dropped = _aligned(records, a, b, column)
    return va, vb, dropped


def _aligned(records: pd.DataFrame, a: str, b: str, column: str) -> tuple[list[str], np.ndarray, np.ndarray, int]:
    """:func:`paired_values` with the image id of each kept pair."""
    if column not in records.columns:
        raise ValueError(f"paired comparison: no column {column!r} in the records")
    ok = records[records["status"] == "ok"]
    for m in (a, b):
        if not (ok["method"] == m).any():
            raise ValueError(f"paired comparison: no successful records for method {m!r}")
    sa = ok[ok["method"] == a].set_index("image_id")[column].astype(float)
    sb = ok[ok["method"] == b].set_index("image_id")[column].astype(float)
    common = sorted(set(sa.index) & set(sb.index))
    va, vb = sa.loc[common].to_numpy(), sb.loc[common].to_numpy()
    if column in PSNR_COLUMNS:
        va, vb = psnr_capped(va), psnr_capped(vb)
    keep = np.isfinite(va) & np.isfinite(vb)
    return [i for i, k in zip(common, keep) if k], va[keep], vb[keep], int((~keep).sum())


def compare(
    records: pd.DataFrame, a: str, b: str, column: str, seed: int = 0, groups: dict[str, str] | None = None
) -> PairedResult:
    """Compare ``a`` with ``b`` on ``column`` over the images both completed.

    Parameters
    ----------
    records : DataFrame
        Rows of a run.
    a, b : str
        Method specs.
    column : str
        Per-image metric column, e.g. ``hole_psnr``.
    seed : int
        Bootstrap seed.
    groups : dict, optional
        ``{image_id: group}``: the interval of the mean difference resamples whole
        groups (see :func:`bench.core.stats.bootstrap_ci`); None resamples images.

    Returns
    -------
    PairedResult

    Notes
    -----
    The Wilcoxon test treats images as independent whatever ``groups`` says;
    with grouped images its p-value is optimistic, and the interval is the
    number to trust.
    """
    from scipy.stats import wilcoxon

    ids, va, vb, dropped = _aligned(records, a, b, column)
    d = va - vb
    n = int(d.size)
    if n == 0:
        nan = float("nan")
        return PairedResult(a, b, column, 0, nan, nan, nan, nan, nan, nan, 0, 0, 0, dropped)
    diff, low, high = bootstrap_ci(d, group_labels(ids, groups), seed=seed)
    if np.all(d == 0):
        p = 1.0  # identical on every image: no evidence of a difference (scipy refuses this case)
    else:
        p = float(wilcoxon(va, vb, zero_method="wilcox", alternative="two-sided").pvalue)
    sign = 1.0 if higher_is_better(column) else -1.0
    a_better = int(np.sum(sign * d > 0))
    b_better = int(np.sum(sign * d < 0))
    return PairedResult(
        a,
        b,
        column,
        n,
        float(va.mean()),
        float(vb.mean()),
        diff,
        low,
        high,
        p,
        a_better,
        b_better,
        n - a_better - b_better,
        dropped,
    )


def compare_all(
    records: pd.DataFrame,
    reference: str,
    others: list[str],
    columns: list[str],
    seed: int = 0,
    groups: dict[str, str] | None = None,
) -> pd.DataFrame:
    """``reference`` against each of ``others`` on each column, as one frame of :class:`PairedResult` rows.

    ``seed`` and ``groups`` are passed to :func:`compare`.
    """
    rows = [
        asdict(compare(records, reference, other, col, seed=seed, groups=groups))
        for other in others
        if other != reference
        for col in columns
        if col in records.columns
    ]
    return pd.DataFrame(rows, columns=list(PairedResult.__dataclass_fields__))
