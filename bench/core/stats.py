"""Interval estimates shared by summaries, reports and the regression gate."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def bootstrap_ci(
    values, groups=None, seed: int = 0, n_boot: int = 2000, level: float = 0.95
) -> tuple[float, float, float]:
    """Mean of ``values`` with a percentile bootstrap interval, optionally resampling whole groups.

    Parameters
    ----------
    values : array_like
        Per-image values; NaNs are dropped (infinite values are kept, so a mean
        that is infinite says so).
    groups : array_like, optional
        One resampling-unit label per value (e.g. the source photo or the CelebA
        identity of each image). When given, each resample draws whole groups with
        replacement and takes the mean over all values of the drawn groups (a group
        drawn twice counts twice), so groups weigh by their size. Images of one group
        are not independent, and resampling them one by one would understate the
        spread. Without groups every value is its own unit.
    seed : int
        Seed of the resampling, so intervals are reproducible.
    n_boot : int
        Number of bootstrap resamples.
    level : float
        Coverage of the interval.

    Returns
    -------
    mean, low, high : float
        The mean over all (non-NaN) values, and the interval. NaN for all three when
        no value is left; ``low == high == mean`` for one value or a single group.

    Raises
    ------
    ValueError
        ``groups`` does not have one label per value.

    Notes
    -----
    Groups are numbered in order of first appearance and drawn as
    ``rng.integers(0, n_groups, size=(n_boot, n_groups))``: with one value per group
    (in the order of ``values``) these are exactly the draws, and the means, of the
    ungrouped bootstrap.
    """
    x = np.asarray(values, dtype=np.float64).ravel()
    if groups is not None:
        g = np.asarray(groups).ravel()
        if g.shape != x.shape:
            raise ValueError(f"bootstrap_ci: {g.size} group labels for {x.size} values")
    keep = ~np.isnan(x)
    x = x[keep]
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(x.mean())
    if x.size == 1:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    if groups is None:
        idx = rng.integers(0, x.size, size=(n_boot, x.size))
        with np.errstate(invalid="ignore"):
            means = _chunked(lambda rows: x[rows].mean(axis=1), idx)
    else:
        codes = group_codes(g[keep])
        n_groups = int(codes.max()) + 1
        if n_groups == 1:
            return mean, mean, mean  # one unit: every resample is the whole sample
        # Per-group sums and sizes turn a resample of groups into two gathers: sum / size.
        sums = np.bincount(codes, weights=x, minlength=n_groups)
        sizes = np.bincount(codes, minlength=n_groups)
        idx = rng.integers(0, n_groups, size=(n_boot, n_groups))
        with np.errstate(invalid="ignore"):
            means = _chunked(lambda rows: sums[rows].sum(axis=1) / sizes[rows].sum(axis=1), idx)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return mean, float(low), float(high)


def _chunked(fn, idx: np.ndarray, rows: int = 128) -> np.ndarray:
    """``fn(idx)`` computed over blocks of rows: the gathered values of all replicates are never held at once."""
    return np.concatenate([fn(idx[k : k + rows]) for k in range(0, idx.shape[0], rows)])


def group_codes(labels) -> np.ndarray:
    """Integer code per label, numbering distinct labels ``0, 1, ...`` in order of first appearance.

    Parameters
    ----------
    labels : array_like
        Hashable, mutually comparable labels (strings or numbers).

    Returns
    -------
    ndarray of int64
        Same length as ``labels``.
    """
    labels = np.asarray(labels).ravel()
    if labels.size == 0:
        return np.zeros(0, dtype=np.int64)
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    # np.unique numbers labels in sorted order; renumber them by first appearance.
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    return rank[inverse.ravel()]


def group_labels(ids: Sequence[str], groups: Mapping[str, str] | None) -> list[str] | None:
    """Resampling-unit label of each image id, or None when there is no grouping.

    Parameters
    ----------
    ids : sequence of str
        Image ids, one per value.
    groups : mapping, optional
        ``{image_id: group}``; an id it does not list is its own unit.

    Returns
    -------
    list of str or None
        None when ``groups`` is None (image-level bootstrap).
    """
    if groups is None:
        return None
    # The prefix keeps an unlisted image from joining a group that happens to share its name.
    return [str(groups[i]) if i in groups else f"image:{i}" for i in ids]


def count_units(ids: Sequence[str], groups: Mapping[str, str] | None) -> int:
    """Number of distinct resampling units among ``ids`` (the number of images without groups)."""
    labels = group_labels(list(dict.fromkeys(ids)), groups)
    return len(set(labels)) if labels is not None else len(set(ids))
