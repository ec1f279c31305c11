"""Paired comparison: alignment by image, mean difference, interval, Wilcoxon p against exact hand values."""

import math

import numpy as np
import pandas as pd
import pytest

from bench.outputs.report.paired import compare, compare_all, paired_values


def _records(a_vals, b_vals, column="hole_psnr", shuffle=True):
    ids = [f"img{i}" for i in range(len(a_vals))]
    rows = [{"method": "A", "image_id": i, "status": "ok", column: v} for i, v in zip(ids, a_vals)]
    rows += [{"method": "B", "image_id": i, "status": "ok", column: v} for i, v in zip(ids, b_vals)]
    frame = pd.DataFrame(rows)
    return frame.sample(frac=1.0, random_state=3).reset_index(drop=True) if shuffle else frame


def test_exact_wilcoxon_and_mean_difference_by_hand():
    # Five positive differences: the signed-rank statistic takes its most extreme value, which has
    # probability 1/2^5 under the null; two-sided p = 2/32 = 0.0625 exactly.
    r = compare(_records([1, 2, 3, 4, 5], [0, 0, 0, 0, 0]), "A", "B", "hole_psnr")
    assert r.n == 5 and r.diff == 3.0 and r.mean_a == 3.0 and r.mean_b == 0.0
    assert math.isclose(r.p_value, 0.0625, rel_tol=1e-12)
    assert (r.a_better, r.b_better, r.ties) == (5, 0, 0)
    assert r.low <= r.diff <= r.high and r.low >= 1.0 and r.high <= 5.0


def test_wilcoxon_hand_value_with_mixed_signs():
    # d = [1, -2, 3, 4, 5]: W+ = 1+3+4+5 = 13, W- = 2. Of the 32 sign patterns, those with
    # min(W+, W-) <= 2 are W in {0,1,2} on either tail: {}, {1}, {2} -> 3 per tail -> p = 6/32.
    r = compare(_records([1, -2, 3, 4, 5], [0, 0, 0, 0, 0]), "A", "B", "hole_psnr")
    assert math.isclose(r.p_value, 6 / 32, rel_tol=1e-12)
    assert (r.a_better, r.b_better) == (4, 1)


def test_direction_decides_who_is_better():
    r = compare(_records([1, 2, 3], [0, 0, 0], column="hole_mse"), "A", "B", "hole_mse")
    assert (r.a_better, r.b_better) == (0, 3) and r.diff == 2.0


def test_constant_and_zero_differences():
    r = compare(_records([2.0, 3.0, 4.0], [1.5, 2.5, 3.5]), "A", "B", "hole_psnr")
    assert r.diff == r.low == r.high == 0.5  # every resample of a constant has the same mean
    same = compare(_records([1.0, 2.0], [1.0, 2.0]), "A", "B", "hole_psnr")
    assert same.p_value == 1.0 and same.ties == 2 and same.diff == 0.0


def test_alignment_uses_common_successful_images_only():
    frame = _records([10.0, 20.0, 30.0], [1.0, 2.0, 3.0])
    extra = pd.DataFrame(
        [
            {"method": "B", "image_id": "only-b", "status": "ok", "hole_psnr": 100.0},
            {"method": "A", "image_id": "failed", "status": "error", "hole_psnr": np.nan},
            {"method": "B", "image_id": "failed", "status": "ok", "hole_psnr": 5.0},
            {"method": "A", "image_id": "nohole", "status": "ok", "hole_psnr": np.nan},
            {"method": "B", "image_id": "nohole", "status": "ok", "hole_psnr": 7.0},
        ]
    )
    va, vb, dropped = paired_values(pd.concat([frame, extra]), "A", "B", "hole_psnr")
    assert list(va) == [10.0, 20.0, 30.0] and list(vb) == [1.0, 2.0, 3.0] and dropped == 1
    r = compare(pd.concat([frame, extra]), "A", "B", "hole_psnr")
    assert r.n == 3 and r.diff == 18.0 and r.dropped == 1


def test_bad_inputs_name_what_is_wrong():
    frame = _records([1.0], [2.0])
    with pytest.raises(ValueError, match="'C'"):
        compare(frame, "A", "C", "hole_psnr")
    with pytest.raises(ValueError, match="'psnr'"):
        compare(frame, "A", "B", "psnr")


def test_compare_all_is_deterministic_and_skips_the_reference():
    rng = np.random.default_rng(1)
    frame = _records(rng.normal(20, 2, 30), rng.normal(19, 2, 30))
    first = compare_all(frame, "A", ["A", "B"], ["hole_psnr"], seed=4)
    again = compare_all(frame, "A", ["A", "B"], ["hole_psnr"], seed=4)
    assert list(first["b"]) == ["B"]
    pd.testing.assert_frame_equal(first, again)


def test_grouped_interval_resamples_the_units_of_the_differences():
    from bench.core.stats import bootstrap_ci

    rng = np.random.default_rng(5)
    frame = _records(rng.normal(20, 2, 24), rng.normal(19, 2, 24))
    groups = {f"img{i}": f"person{i % 4}" for i in range(24)}
    r = compare(frame, "A", "B", "hole_psnr", seed=2, groups=groups)
    va, vb, _ = paired_values(frame, "A", "B", "hole_psnr")
    ids = sorted(f"img{i}" for i in range(24))  # paired values come sorted by image id
    assert (r.diff, r.low, r.high) == pytest.approx(bootstrap_ci(va - vb, [groups[i] for i in ids], seed=2), rel=1e-12)
    plain = compare(frame, "A", "B", "hole_psnr", seed=2)
    assert (plain.diff, plain.low, plain.high) == bootstrap_ci(va - vb, seed=2)
    assert r.p_value == plain.p_value and r.n == plain.n == 24  # the test and counts stay per image
    both = compare_all(frame, "A", ["B"], ["hole_psnr"], seed=2, groups=groups)
    assert (both["low"].iloc[0], both["high"].iloc[0]) == (r.low, r.high)
