"""Paired comparisons stay right with ties and PSNRs at the cap (checked by hand-written references)."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm, rankdata, wilcoxon

from bench.core.stats import bootstrap_ci
from bench.metrics.pixel import PSNR_MAX
from bench.outputs.report.paired import compare


def _frame(a, b, column="hole_psnr"):
    rows = [
        {"method": m, "image_id": f"i{i:02d}", "status": "ok", column: v}
        for m, values in (("A", a), ("B", b))
        for i, v in enumerate(values)
    ]
    return pd.DataFrame(rows)


def _wilcoxon_normal(d):
    """Two-sided signed-rank p by the normal approximation with the tie correction, zeros dropped (textbook)."""
    d = np.asarray(d, float)
    d = d[d != 0]
    n = d.size
    ranks = rankdata(np.abs(d))  # average ranks for tied |d|
    t_plus = ranks[d > 0].sum()
    _, counts = np.unique(np.abs(d), return_counts=True)
    var = n * (n + 1) * (2 * n + 1) / 24 - (counts**3 - counts).sum() / 48
    z = (t_plus - n * (n + 1) / 4) / math.sqrt(var)
    return 2 * norm.sf(abs(z))


def _wilcoxon_exact(d):
    """Two-sided exact signed-rank p by enumerating every sign pattern of the (average) ranks, no zeros."""
    d = np.asarray(d, float)
    ranks = rankdata(np.abs(d))
    t_obs = ranks[d > 0].sum()
    total = ranks.sum()
    stats = [sum(r for r, s in zip(ranks, signs) if s) for signs in itertools.product((0, 1), repeat=d.size)]
    stats = np.array(stats)
    low = np.mean(stats <= min(t_obs, total - t_obs))
    return min(1.0, 2 * low)


def test_exact_outputs_at_the_cap_tie_and_are_dropped_like_wilcoxon_does():
    # Images 0 and 1: both methods exact (a tie at the cap, one written as inf by an older version);
    # image 2: only A exact; the rest ordinary, with tied absolute differences (1.0 three times).
    a = [np.inf, PSNR_MAX, PSNR_MAX, 30.0, 25.0, 22.0, 21.0, 28.0, 26.5, 24.0]
    b = [PSNR_MAX, PSNR_MAX, 40.0, 29.0, 26.0, 21.0, 18.0, 27.5, 24.0, 20.0]
    r = compare(_frame(a, b), "A", "B", "hole_psnr")
    d = np.minimum(np.array(a), PSNR_MAX) - np.array(b)
    assert r.n == 10 and r.dropped == 0 and r.ties == 2
    assert r.a_better == 7 and r.b_better == 1  # by hand: images 2,3,5,6,7,8,9 vs image 4
    assert r.diff == pytest.approx(d.mean()) and math.isfinite(r.mean_a) and r.mean_a <= PSNR_MAX
    # 8 non-zero differences: the exact permutation p over sign flips of the (average) ranks
    assert r.p_value == pytest.approx(_wilcoxon_exact(d[d != 0]), rel=1e-12)
    assert r.p_value == pytest.approx(wilcoxon(d[d != 0]).pvalue, rel=1e-12)
    assert (r.diff, r.low, r.high) == bootstrap_ci(d, None, seed=0)


def test_without_ties_the_p_value_is_the_exact_enumeration():
    d = np.array([3.1, -0.4, 2.2, 1.7, -1.1, 0.9, 2.8, 0.3])
    b = np.full(d.size, 20.0)
    r = compare(_frame(list(b + d), list(b)), "A", "B", "hole_psnr")
    assert r.p_value == pytest.approx(_wilcoxon_exact(d), rel=1e-12)


def test_many_pairs_with_ties_and_capped_values_follow_the_normal_approximation():
    rng = np.random.default_rng(3)
    b = np.round(rng.normal(25, 2, 70), 1)  # rounded: many tied |differences|
    a = np.round(b + rng.normal(0.4, 1.0, 70), 1)
    a[:6] = b[:6] = PSNR_MAX  # six exact outputs of both methods: ties at the cap
    a[6:9] = np.inf  # three exact outputs of A only, written as inf by an older version
    r = compare(_frame(list(a), list(b)), "A", "B", "hole_psnr")
    d = np.minimum(a, PSNR_MAX) - b
    assert r.n == 70 and r.dropped == 0 and r.ties == int((d == 0).sum()) >= 6
    assert np.unique(np.abs(d[d != 0]), return_counts=True)[1].max() > 1  # the tie correction matters
    assert r.p_value == pytest.approx(_wilcoxon_normal(d), rel=1e-9)


def test_all_ties_give_p_one_and_a_zero_width_interval():
    r = compare(_frame([PSNR_MAX, np.inf, 31.0], [np.inf, PSNR_MAX, 31.0]), "A", "B", "hole_psnr")
    assert r.n == 3 and r.ties == 3 and r.p_value == 1.0 and r.diff == r.low == r.high == 0.0


def test_a_missing_hole_value_is_dropped_not_an_exact_output():
    r = compare(_frame([np.nan, PSNR_MAX, 30.0, 29.0], [25.0, 24.0, 23.0, 22.0]), "A", "B", "hole_psnr")
    assert r.n == 3 and r.dropped == 1
