"""The shared bootstrap: image-level numbers unchanged, clustered resampling against independent references."""

import numpy as np
import pandas as pd
import pytest

from bench.core.stats import bootstrap_ci, count_units, group_codes, group_labels
from bench.outputs.summary import interval_note, summarize


def _image_level_reference(values, seed=0, n_boot=2000, level=0.95):
    """The image-level bootstrap as it was before groups existed (copied from the previous bench/core/stats.py)."""
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


def _clustered_loop(values, groups, seed=0, n_boot=2000, level=0.95):
    """Clustered bootstrap rebuilt resample by resample: draw groups, concatenate their values, average.

    Groups are numbered by first appearance among the non-NaN values, and the draws are
    ``rng.integers(0, G, size=(n_boot, G))``, as bootstrap_ci documents.
    """
    x = np.asarray(values, dtype=np.float64)
    g = list(np.asarray(groups))
    keep = [k for k in range(len(x)) if not np.isnan(x[k])]
    order: list = []
    members: dict = {}
    for k in keep:
        if g[k] not in members:
            order.append(g[k])
            members[g[k]] = []
        members[g[k]].append(x[k])
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(order), size=(n_boot, len(order)))
    means = []
    for row in draws:
        resample = [v for j in row for v in members[order[j]]]
        means.append(sum(resample) / len(resample))
    alpha = (1.0 - level) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(np.mean([x[k] for k in keep])), float(low), float(high)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # the quantile of infinite means, as before
@pytest.mark.parametrize("seed", [0, 1, 7])
def test_without_groups_the_numbers_are_exactly_the_old_ones(seed):
    rng = np.random.default_rng(seed + 100)
    for values in (
        rng.normal(20, 3, 50),
        rng.gamma(2.0, 0.01, 280),
        [1.0, np.nan, 3.0, 4.0],
        [2.0],
        [np.nan],
        [1.0, np.inf, 2.0],
        [],
    ):
        assert bootstrap_ci(values, seed=seed) == pytest.approx(
            _image_level_reference(values, seed=seed), rel=0, abs=0, nan_ok=True
        )
        assert bootstrap_ci(values, None, seed=seed, n_boot=300, level=0.9) == pytest.approx(
            _image_level_reference(values, seed=seed, n_boot=300, level=0.9), rel=0, abs=0, nan_ok=True
        )


@pytest.mark.parametrize("seed", [0, 3])
def test_clustered_matches_an_explicit_loop_over_the_same_draws(seed):
    rng = np.random.default_rng(seed)
    sizes = [5, 1, 9, 3, 3, 12, 2]
    groups = np.repeat([f"photo{k}" for k in range(len(sizes))], sizes)
    values = rng.normal(0, 1, groups.size) + np.repeat(rng.normal(0, 3, len(sizes)), sizes)
    values[[2, 20]] = np.nan  # NaNs are dropped, their group stays
    perm = rng.permutation(groups.size)  # groups interleaved, as ids of a run are
    got = bootstrap_ci(values[perm], groups[perm], seed=seed, n_boot=500)
    want = _clustered_loop(values[perm], groups[perm], seed=seed, n_boot=500)
    assert got == pytest.approx(want, rel=1e-12)
    assert got[0] == pytest.approx(np.nanmean(values), rel=1e-12)  # the point estimate is the plain mean


def test_identical_images_within_groups_reduce_to_the_bootstrap_of_group_means():
    # Every image of a group has its group's value, so a resample of whole groups has mean
    # sum(n_g v_g) / sum(n_g) over the drawn groups. With equal sizes that is the plain mean of the
    # drawn group values: the image-level bootstrap of the 6 group means, on the very same draws.
    means = np.array([3.0, -1.0, 4.5, 2.0, 0.25, 7.0])
    equal = np.repeat(means, 4)
    labels = np.repeat(list("abcdef"), 4)
    assert bootstrap_ci(equal, labels, seed=5) == pytest.approx(bootstrap_ci(means, seed=5), rel=1e-12)

    # Unequal sizes: the group means weigh by their sizes.
    sizes = np.array([1, 10, 2, 5, 1, 3])
    values = np.repeat(means, sizes)
    labels = np.repeat(list("abcdef"), sizes)
    rng = np.random.default_rng(9)
    idx = rng.integers(0, means.size, size=(2000, means.size))
    weighted = (sizes[idx] * means[idx]).sum(axis=1) / sizes[idx].sum(axis=1)
    low, high = np.quantile(weighted, [0.025, 0.975])
    mean, got_low, got_high = bootstrap_ci(values, labels, seed=9)
    assert mean == pytest.approx((sizes * means).sum() / sizes.sum(), rel=1e-12)
    assert (got_low, got_high) == pytest.approx((low, high), rel=1e-12)
    # ... which is not the unweighted bootstrap of the group means.
    assert bootstrap_ci(means, seed=9)[1:] != pytest.approx((got_low, got_high), rel=1e-3)


def test_one_image_per_group_is_the_plain_bootstrap():
    rng = np.random.default_rng(2)
    values = rng.normal(25, 4, 60)
    values[7] = np.nan
    # Labels in order of the values (not sorted), so the group numbering follows the values.
    labels = [f"id{k:02d}"[::-1] for k in range(60)]
    assert bootstrap_ci(values, labels, seed=11) == bootstrap_ci(values, seed=11)
    assert bootstrap_ci(values, labels, seed=11) == _image_level_reference(values, seed=11)


def test_edge_cases():
    assert bootstrap_ci([1.0, 2.0, 4.0], ["a", "a", "a"]) == (7 / 3, 7 / 3, 7 / 3)  # one unit: no interval
    assert bootstrap_ci([np.nan, 5.0, np.nan], ["a", "b", "c"]) == (5.0, 5.0, 5.0)
    assert all(np.isnan(bootstrap_ci([np.nan], ["a"])))
    # A group with only NaN values disappears: same as leaving it out.
    with_nan = bootstrap_ci([1.0, 2.0, np.nan, 5.0, 8.0], ["a", "a", "b", "c", "d"], seed=1)
    assert with_nan == bootstrap_ci([1.0, 2.0, 5.0, 8.0], ["a", "a", "c", "d"], seed=1)
    with pytest.raises(ValueError, match="3 group labels for 2 values"):
        bootstrap_ci([1.0, 2.0], ["a", "b", "c"])


def test_correlated_groups_widen_the_interval():
    # 7 photos x 40 crops with a strong photo effect: images are far from independent.
    rng = np.random.default_rng(0)
    groups = np.tile([f"p{k}" for k in range(7)], 40)
    values = rng.normal(0, 0.5, groups.size) + np.tile(rng.normal(0, 3, 7), 40)
    _, lo_i, hi_i = bootstrap_ci(values)
    _, lo_g, hi_g = bootstrap_ci(values, groups)
    assert hi_g - lo_g > 3 * (hi_i - lo_i)


def test_group_codes_labels_and_units():
    assert list(group_codes(["z", "a", "z", "m", "a"])) == [0, 1, 0, 2, 1]  # first appearance, not sorted
    assert list(group_codes([])) == []
    assert group_labels(["x-1", "y-1", "q"], {"x-1": "x", "y-1": "y"}) == ["x", "y", "image:q"]
    assert group_labels(["a"], None) is None
    assert count_units(["a-1", "a-2", "b-1", "a-1"], {"a-1": "a", "a-2": "a", "b-1": "b"}) == 2
    assert count_units(["a-1", "a-2", "b-1"], None) == 3
    assert interval_note("CelebA identities", 22) == "resampling CelebA identities (22 units)"
    assert interval_note("builtin source photos", 1) == "resampling builtin source photos (1 unit)"


def _records():
    rng = np.random.default_rng(4)
    ids = [f"{p}-{k:03d}" for k in range(6) for p in ("astronaut", "coffee", "rocket")]
    rows = [
        {
            "method": m,
            "image_id": i,
            "status": "ok",
            "psnr": float(rng.normal(25, 3)),
            "seconds": float(rng.uniform(0.01, 0.02)),
        }
        for m in ("A", "B")
        for i in ids
    ]
    rows[3]["status"] = "error"
    return pd.DataFrame(rows), {i: i.rpartition("-")[0] for i in ids}


def test_summarize_resamples_groups_and_keeps_image_level_numbers_without_them():
    records, groups = _records()
    plain = summarize(records, seed=3)
    grouped = summarize(records, seed=3, groups=groups)
    singletons = summarize(records, seed=3, groups={i: i for i in groups})
    pd.testing.assert_frame_equal(plain, singletons)  # one image per unit: the same draws, the same numbers
    for method in ("A", "B"):
        sub = records[(records["method"] == method) & (records["status"] == "ok")]
        want_plain = _image_level_reference(sub["psnr"].to_numpy(), seed=3)
        want_group = _clustered_loop(sub["psnr"].to_numpy(), [groups[i] for i in sub["image_id"]], seed=3)
        row_p = plain[(plain["method"] == method) & (plain["metric"] == "psnr")].iloc[0]
        row_g = grouped[(grouped["method"] == method) & (grouped["metric"] == "psnr")].iloc[0]
        assert (row_p["value"], row_p["low"], row_p["high"]) == want_plain
        assert (row_g["value"], row_g["low"], row_g["high"]) == pytest.approx(want_group, rel=1e-12)
        assert row_g["n"] == row_p["n"] == len(sub)  # n counts images either way
