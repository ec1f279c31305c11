"""Report formatting: arrows from the registry, interval text, bold-best, area bins, grid rows (hand-computed)."""

import math

import numpy as np
import pandas as pd
import pytest

from bench.core.stats import bootstrap_ci
from bench.metrics.registry import METRICS, MetricInfo
from bench.outputs.report.figures import error_map, hole_input, select_rows
from bench.outputs.report.format import arrow, best_flags, format_interval, metric_label
from bench.outputs.report.markdown import markdown_table
from bench.outputs.report.tables import MetricTable, area_bins


@pytest.mark.parametrize(
    "column, expected",
    [
        ("mse", "\u2193"),
        ("hole_mse", "\u2193"),
        ("l1", "\u2193"),
        ("hole_l1", "\u2193"),
        ("psnr", "\u2191"),
        ("hole_psnr", "\u2191"),
        ("ssim", "\u2191"),
        ("hole_ssim", "\u2191"),
        ("seconds", "\u2193"),
    ],
)
def test_arrow_direction_per_metric(column, expected):
    assert arrow(column) == expected
    assert arrow(column, "latex") == (r"$\uparrow$" if expected == "\u2191" else r"$\downarrow$")


@pytest.mark.parametrize("name", ["fid", "kid"])
def test_set_metric_arrows_point_down(name):
    if name not in METRICS:
        pytest.skip(f"{name} is not registered yet")
    assert arrow(name) == "\u2193" and metric_label(name, "latex").endswith(r"$\downarrow$")


def test_arrow_follows_the_registry_not_a_name_list(monkeypatch):
    # A metric the report has never heard of gets its arrow from its registry entry.
    monkeypatch.setitem(METRICS._entries, "zzgood", MetricInfo("zzgood", "set", True, lambda *a: 0.0))
    monkeypatch.setitem(METRICS._entries, "zzbad", MetricInfo("zzbad", "set", False, lambda *a: 0.0))
    assert metric_label("zzgood") == "ZZGOOD\u2191"
    assert metric_label("hole_zzbad") == "ZZBAD\u2193"


def test_unknown_metric_is_a_clear_error():
    with pytest.raises(KeyError, match="nosuchmetric"):
        arrow("nosuchmetric")


@pytest.mark.parametrize(
    "value, low, high, digits, expected",
    [
        (29.6399, 26.91, 32.51, 2, "29.64 \u00b1 2.80"),  # (32.51 - 26.91) / 2 = 2.80
        (0.003743, 0.0021, 0.0057, 4, "0.0037 \u00b1 0.0018"),
        (0.9331, 0.9148, 0.9503, 4, "0.9331 \u00b1 0.0178"),  # 0.03550 / 2 = 0.01775 -> 0.0178
        (19.5, 19.5, 19.5, 2, "19.50"),  # one image: no interval
        (19.5, float("nan"), float("nan"), 2, "19.50"),
        (float("nan"), 1.0, 2.0, 2, "\u2013"),
        (float("inf"), float("inf"), float("inf"), 2, "\u221e"),
    ],
)
def test_interval_formatting(value, low, high, digits, expected):
    assert format_interval(value, low, high, digits) == expected


def test_interval_formatting_latex():
    assert format_interval(29.6399, 26.91, 32.51, 2, "latex") == r"29.64 $\pm$ 2.80"
    assert format_interval(float("nan"), 0, 1, 2, "latex") == "--"
    with pytest.raises(ValueError, match="html"):
        format_interval(1.0, 0.0, 2.0, 2, "html")


def test_bold_best_direction_and_ties_at_printed_precision():
    idx = ["a", "b", "c"]
    # higher is better; a and b both print as 20.00 and tie
    assert list(best_flags(pd.Series([20.001, 20.004, 19.0], index=idx), "psnr")) == [True, True, False]
    # lower is better; 0.00441 and 0.00439 both print as 0.0044
    assert list(best_flags(pd.Series([0.00441, 0.00439, 0.01], index=idx), "mse")) == [True, True, False]
    assert list(best_flags(pd.Series([0.02, 0.01, 0.03], index=idx), "hole_mse")) == [False, True, False]
    assert list(best_flags(pd.Series([0.5, 0.7, 0.6], index=idx), "hole_ssim")) == [False, True, False]
    # missing values never win; a single value has nothing to beat
    assert list(best_flags(pd.Series([np.nan, 0.7, 0.6], index=idx), "ssim")) == [False, True, False]
    assert list(best_flags(pd.Series([np.nan, 0.7, np.nan], index=idx), "ssim")) == [False, False, False]


def _table(values: dict, half: float = 0.1) -> MetricTable:
    value = pd.DataFrame(values)
    return MetricTable(value, value - half, value + half, value * 0 + 5)


def test_markdown_table_bolds_the_best_cell_per_column():
    t = _table({"mse": [0.01, 0.02], "psnr": [20.0, 25.0]}, half=0.001)
    t.value.index = t.low.index = t.high.index = t.n.index = ["telea", "mean|x"]
    lines = markdown_table(t).splitlines()
    assert lines[0] == "| method | MSE\u2193 | PSNR\u2191 |"
    assert lines[2] == "| telea | **0.0100 \u00b1 0.0010** | 20.00 \u00b1 0.00 |"
    assert lines[3] == "| mean\\|x | 0.0200 \u00b1 0.0010 | **25.00 \u00b1 0.00** |"


def test_area_bins_hand_computed():
    records = pd.DataFrame(
        {
            "method": ["m"] * 6,
            "status": ["ok"] * 5 + ["error"],
            "image_id": list("abcdef"),
            "mask_area": [0.02, 0.04, 0.07, 0.25, 0.30, 0.01],
            "hole_psnr": [10.0, 20.0, 30.0, 40.0, 50.0, 99.0],
        }
    )
    bins = area_bins(records, "hole_psnr", ["m"])
    assert list(bins["bin"]) == ["0-5%", "5-10%", "20-25%", ">25%"]  # 0.25 closes the last bin
    assert list(bins["hi"]) == [0.05, 0.10, 0.25, 0.30]  # the open bin reaches the largest area
    assert list(bins["value"]) == [15.0, 30.0, 40.0, 50.0]
    assert list(bins["n"]) == [2, 1, 1, 1]
    with pytest.raises(ValueError, match="increasing"):
        area_bins(records, "hole_psnr", ["m"], edges=(0.2, 0.1))


def test_area_bins_resample_groups_within_each_bin():
    rng = np.random.default_rng(0)
    ids = [f"p{k % 3}-{k:03d}" for k in range(40)]
    records = pd.DataFrame(
        {
            "method": "m",
            "status": "ok",
            "image_id": ids,
            "mask_area": rng.uniform(0.0, 0.1, 40),
            "hole_psnr": rng.normal(20, 3, 40),
        }
    )
    groups = {i: i.split("-")[0] for i in ids}
    plain = area_bins(records, "hole_psnr", ["m"], seed=2)
    grouped = area_bins(records, "hole_psnr", ["m"], seed=2, groups=groups)
    pd.testing.assert_frame_equal(plain.drop(columns=["low", "high"]), grouped.drop(columns=["low", "high"]))
    sel = records[records["mask_area"] < 0.05]
    want = bootstrap_ci(sel["hole_psnr"], [groups[i] for i in sel["image_id"]], seed=2)
    assert tuple(grouped.iloc[0][["value", "low", "high"]]) == pytest.approx(want, rel=1e-12)
    assert tuple(plain.iloc[0][["value", "low", "high"]]) == bootstrap_ci(sel["hole_psnr"], seed=2)


def test_grid_rows_best_median_worst_by_direction():
    ids = list("abcde")
    records = pd.DataFrame(
        {
            "method": ["A"] * 5 + ["B"] * 5,
            "status": ["ok"] * 10,
            "image_id": ids * 2,
            "hole_psnr": [5.0, 1.0, 3.0, 4.0, 2.0] + [0.0] * 5,
            "hole_mse": [0.5, 0.1, 0.3, 0.4, 0.2] + [0.0] * 5,
        }
    )
    assert select_rows(records, "A", "hole_psnr") == ["a", "c", "b"]  # 5 best, 3 median, 1 worst
    assert select_rows(records, "A", "hole_mse") == ["b", "c", "a"]  # lower is better
    tied = records.assign(hole_psnr=1.0)
    assert select_rows(tied, "A", "hole_psnr") == ["a", "c", "e"]  # ties broken by id
    with pytest.raises(ValueError, match="'C'"):
        select_rows(records, "C")


def test_hole_input_and_error_map(small_image):
    mask = np.zeros(small_image.shape[:2], bool)
    mask[10:20, 5:30] = True
    shown = hole_input(small_image, mask)
    assert np.all(shown[mask] == 1.0) and np.array_equal(shown[~mask], small_image[~mask])
    other = small_image.copy()
    other[0, 0] = [1.0, 1.0, 1.0]
    err = error_map(other, small_image)
    assert err.shape == mask.shape
    assert math.isclose(err[0, 0], float(np.mean(1.0 - small_image[0, 0])), rel_tol=1e-6)
    assert np.count_nonzero(err) == 1
