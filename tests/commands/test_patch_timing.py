"""``bench time``: its masks and its table (the timings themselves are benchmarks, not tests)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.commands.timing import timing_mask


def test_timing_masks_cover_about_a_fifth_and_are_seeded():
    for image_id in ("a", "b", "coffee-003"):
        for shape in ((160, 160), (320, 320), (97, 131)):
            mask = timing_mask(0, image_id, shape)
            assert mask.shape == shape and mask.dtype == bool
            assert abs(mask.mean() - 0.20) <= 0.03
            assert np.array_equal(mask, timing_mask(0, image_id, shape))
    assert not np.array_equal(timing_mask(0, "a", (160, 160)), timing_mask(1, "a", (160, 160)))
    with pytest.raises(ValueError, match="area"):
        timing_mask(0, "a", (160, 160), area=0.5)


def test_bench_time_prints_a_row_per_method_and_size(tmp_path):
    out = tmp_path / "t.json"
    result = CliRunner().invoke(
        cli, ["time", "--methods", "mean,telea", "--sizes", "32,48", "--n", "2", "--threads", "1", "--json", str(out)]
    )
    assert result.exit_code == 0, result.output
    saved = json.loads(out.read_text())
    rows = saved["rows"]
    # The machine and its load travel with every timing.
    assert saved["machine"]["cores"] >= 1 and saved["machine"]["cpu"]
    assert len(saved["machine"]["load_average"]) == 3 and len(saved["load_average_after"]) == 3
    assert "machine: " in result.output and "load average (1/5/15 min)" in result.output
    assert saved["command"] == "bench time --methods 'mean,telea' --sizes 32,48 --n 2 --seed 0 --threads 1"
    assert [(r["spec"], r["size"], r["n"]) for r in rows] == [
        ("mean", 32, 2),
        ("mean", 48, 2),
        ("telea", 32, 2),
        ("telea", 48, 2),
    ]
    for r in rows:
        assert 0 < r["min_s"] <= r["median_s"] <= r["max_s"]
        assert 0 < r["rss_after_warmup_mb"] <= r["peak_rss_mb"]
        assert r["threads"] == 1
    assert result.output.count("| mean |") == 2 and "median s/image" in result.output


def test_bench_time_rejects_bad_arguments():
    runner = CliRunner()
    assert "no option" in runner.invoke(cli, ["time", "--methods", "patch:bogus=1"]).output
    assert "sizes" in runner.invoke(cli, ["time", "--sizes", "10"]).output
