"""bench.outputs.report.overview: the overview of the comparison runs picks the right numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from bench.outputs.report import overview as summarize


def _fake_run(path: Path, values: dict[str, tuple[float, float, float]], n: int) -> None:
    path.mkdir(parents=True)
    rows = []
    for method, (psnr, ssim, _) in values.items():
        rows += [
            (method, "hole_psnr", psnr, psnr - 1, psnr + 1, n),
            (method, "hole_ssim", ssim, ssim, ssim, n),
            (method, "mse", 0.01, 0.0, 0.02, n),
        ]
    pd.DataFrame(rows, columns=["method", "metric", "value", "low", "high", "n"]).to_csv(
        path / "summary.csv", index=False
    )
    (path / "set_metrics.json").write_text(json.dumps({m: {"fid": {"value": v[2]}} for m, v in values.items()}))


def test_overview_takes_means_and_fid_per_run_and_marks_the_best(tmp_path):
    _fake_run(tmp_path / "builtin-rects", {"iizuka": (20.0, 0.5, 30.0), "patch": (18.0, 0.6, 25.0)}, 12)
    _fake_run(tmp_path / "celeba-thick", {"iizuka": (15.0, 0.4, 40.0), "patch": (16.0, 0.3, 45.0)}, 7)
    table, sizes = summarize.collect(tmp_path)
    assert sizes == {"builtin-rects": 12, "celeba-thick": 7}
    assert list(table.index) == ["iizuka", "patch"]  # run order, not alphabetical
    assert table.loc["patch", ("celeba-thick", "fid")] == 45.0
    assert table.loc["iizuka", ("builtin-rects", "hole_psnr")] == 20.0
    md = summarize.markdown(table, sizes)
    row = next(line for line in md.splitlines() if line.startswith("| `patch`"))
    # builtin-rects: patch best on hole SSIM (0.6) and FID (25, lower is better); celeba-thick: hole PSNR.
    assert row.split(" | ")[1:] == ["18.00", "**0.600**", "**25.0**", "**16.00**", "0.300", "45.0 |"]
    tex = summarize.latex(table, sizes)
    assert r"\multicolumn{3}{c}{celeba-thick ($n=7$)}" in tex and r"\textbf{0.400}" in tex


def test_the_module_writes_the_three_files_and_names_a_folder_without_runs(tmp_path):
    _fake_run(tmp_path / "runs" / "celeba-rects", {"iizuka": (20.0, 0.5, 30.0)}, 3)
    res = CliRunner().invoke(summarize.main, [str(tmp_path / "runs"), str(tmp_path / "out")])
    assert res.exit_code == 0, res.output
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["overview.csv", "overview.md", "overview.tex"]
    assert pd.read_csv(tmp_path / "out" / "overview.csv", header=[0, 1], index_col=0).iloc[0, 0] == 20.0
    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(summarize.main, [str(tmp_path / "empty"), str(tmp_path / "out2")])
    assert res.exit_code == 1 and f"with a summary.csv under {tmp_path / 'empty'}" in res.output
    with pytest.raises(FileNotFoundError):
        summarize.collect(tmp_path / "empty")
