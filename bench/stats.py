"""Interval estimates shared by summaries, reports and the regression gate."""

from __future__ import annotations

import numpy as np


def bootstrap_ci(values, seed: int = 0, n_boot: int = 2000, level: float = 0.95) -> tuple[float, float, float]:
    """Mean of ``values`` with a percentile bootstrap interval.

    Parameters
    ----------
    values : array_like
        Per-image values; NaNs are dropped (infinite values are kept, so a mean
        that is infinite says so).
    seed : int
        Seed of the resampling, so intervals are reproducible.
    n_boot : int
        Number of bootstrap resamples.
    level : float
        Coverage of the interval.

    Returns
    -------
    mean, low, high : float
        NaN for all three when no value is left; ``low == high == mean`` for one value.
    """
    x = np.asarray(values, dtype=np.float64)
    x = x[~np.isnan(x)]
    if x.size == 0:
        return float("nan"), float("nan"), float("nan")
    mean = float(x.mean())
    if x.size == 1:
        return mean, mean, mean
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, x.size, size=(n_boot, x.size))
    with np.errstate(invalid="ignore"):
        means = x[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return mean, float(low), float(high)
