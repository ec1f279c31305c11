"""``python -m bench.experiments.patch_options``: its inputs, configurations and scores."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from skimage.metrics import peak_signal_noise_ratio

import methods
from bench.core.images import blank_hole, composite, quantize
from bench.experiments import patch_options


@pytest.fixture(scope="module")
def compare():
    return patch_options


def test_skip_sets_aside_the_first_inputs(compare):
    first = compare.select_inputs(96, 5)
    later = compare.select_inputs(96, 2, skip=3)
    assert [i for i, _, _ in later] == [i for i, _, _ in first[3:]]
    for _, image, mask in later:
        assert image.shape == (96, 96, 3) and 0.10 <= mask.mean() <= 0.25


@pytest.mark.parametrize("extra", ["px8k", "px8k=", "=patch:tol_px=8192", "px8k=telea", "today=patch"])
def test_bad_extra_configurations_are_named(compare, extra, tmp_path):
    result = CliRunner().invoke(
        compare.main, ["--extra", extra, "--no-quality", "--no-timing", "--no-memory", "--out", str(tmp_path)]
    )
    assert result.exit_code == 2 and repr(extra) in result.output


def test_quality_run_uses_the_skipped_inputs_and_extra_configurations(compare, tmp_path):
    args = [
        "--sizes",
        "96",
        "--n",
        "1",
        "--seeds",
        "0",
        "--skip",
        "3",
        "--configs",
        "all",
        "--extra",
        "px8k=patch:tol_px=8192",
        "--no-timing",
        "--no-memory",
        "--out",
        str(tmp_path),
    ]
    result = CliRunner().invoke(compare.main, args)
    assert result.exit_code == 0, result.output
    rows = compare._read_csv(tmp_path / "compare_quality.csv")
    fourth = compare.select_inputs(96, 4)[3][0]
    assert {r["image"] for r in rows} == {fourth}
    assert [r["config"] for r in rows] == ["today", "all", "px8k"]
    assert rows[2]["spec"] == "patch:tol_px=8192"


def test_hole_psnr_is_the_runs_own_score_of_the_8_bit_composite(compare, tmp_path):
    args = ["--sizes", "96", "--n", "2", "--seeds", "0", "--configs", "today", "--no-timing", "--no-memory"]
    result = CliRunner().invoke(compare.main, args + ["--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = compare._read_csv(tmp_path / "compare_quality.csv")
    for row, (image_id, image, mask) in zip(rows, compare.select_inputs(96, 2)):
        assert row["image"] == image_id
        out = methods.create(row["spec"] + ",seed=0").inpaint(blank_hole(image, mask), mask)
        final = quantize(composite(out, image, mask))
        expected = peak_signal_noise_ratio(
            image[mask].astype(np.float64), final[mask].astype(np.float64), data_range=1.0
        )
        assert row["hole_psnr"] == pytest.approx(expected, abs=1e-9)
    assert (tmp_path / "compare_summary.md").read_text().startswith("# `patch`: today's configuration")
