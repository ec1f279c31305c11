"""``reports/patch/compare.py``: the inputs it selects and the configurations it accepts."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from click.testing import CliRunner

SCRIPT = Path(__file__).resolve().parents[1] / "reports" / "patch" / "compare.py"


@pytest.fixture(scope="module")
def compare():
    spec = importlib.util.spec_from_file_location("patch_compare_script", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_skip_sets_aside_the_first_inputs(compare):
    first = compare.select_inputs(96, 5)
    later = compare.select_inputs(96, 2, skip=3)
    assert [i for i, _, _ in later] == [i for i, _, _ in first[3:]]
    for _, image, mask in later:
        assert image.shape == (96, 96, 3) and 0.10 <= mask.mean() <= 0.25


@pytest.mark.parametrize("extra", ["px8k", "px8k=", "=patch:tol_px=8192", "px8k=telea", "today=patch"])
def test_bad_extra_configurations_are_named(compare, extra, tmp_path):
    result = CliRunner().invoke(compare.main, ["--extra", extra, "--no-quality", "--no-timing", "--no-memory",
                                               "--out", str(tmp_path)])
    assert result.exit_code == 2 and repr(extra) in result.output


def test_quality_run_uses_the_skipped_inputs_and_extra_configurations(compare, tmp_path):
    args = ["--sizes", "96", "--n", "1", "--seeds", "0", "--skip", "3", "--configs", "all",
            "--extra", "px8k=patch:tol_px=8192", "--no-timing", "--no-memory", "--out", str(tmp_path)]
    result = CliRunner().invoke(compare.main, args)
    assert result.exit_code == 0, result.output
    rows = compare._read_csv(tmp_path / "compare_quality.csv")
    fourth = compare.select_inputs(96, 4)[3][0]
    assert {r["image"] for r in rows} == {fourth}
    assert [r["config"] for r in rows] == ["today", "all", "px8k"]
    assert rows[2]["spec"] == "patch:tol_px=8192"
