"""Hole-area bins (LaMa's 0-10 %, ..., 50-60 %, then >= 60 %) as an axis of the summaries and of ``bench report``.

Bins are [lo, hi): an area of exactly 0.10 belongs to 10-20 %. The per-bin means are checked
against a pandas groupby over ``pd.cut(..., right=False)`` computed here, independently.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.core.stats import bootstrap_ci
from bench.outputs.report.build import ReportOptions, build_report
from bench.outputs.summary import (
    LAMA_AREA_EDGES,
    area_bins_of,
    assign_area_bins,
    summarize_by_area,
)
from tests.outputs.feature_runs import add_feature_store
from tests.outputs.test_report_latex_width import synthetic_run

LABELS = ["0-10%", "10-20%", "20-30%", "30-40%", "40-50%", "50-60%", "\u226560%"]


def test_lama_bins_are_half_open_with_an_open_last_bin():
    bins = area_bins_of()
    assert [b.label() for b in bins] == LABELS
    assert bins[-1].label("latex") == r"$\geq$60\%" and bins[1].label("latex") == r"10--20\%"
    areas = [0.0, 0.0999, 0.10, 0.1999, 0.20, 0.5999, 0.60, 0.95, 1.0, np.nan]
    # Edges belong to the bin they open: 0.10 is in 10-20 %, 0.60 in the last bin; NaN is in none.
    assert list(assign_area_bins(areas)) == [0, 0, 1, 1, 2, 5, 6, 6, 6, -1]


def test_other_edges_and_their_errors():
    # close_last: the last regular bin keeps its upper edge (the figure's 5 % bins end at 25 % exactly).
    assert list(assign_area_bins([0.05, 0.25, 0.2501], (0.0, 0.05, 0.25), close_last=True)) == [1, 1, 2]
    assert [b.label() for b in area_bins_of((0.0, 0.05, 0.25), close_last=True)] == ["0-5%", "5-25%", ">25%"]
    for bad in [(0.1,), (0.2, 0.1), (0.1, 0.1, 0.2)]:
        with pytest.raises(ValueError, match="increasing"):
            area_bins_of(bad)


def _records(seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    # Areas on and around every edge, nothing in 40-50 % (an empty bin), a few beyond 60 %.
    areas = np.concatenate([rng.uniform(0.0, 0.4, 50), [0.1, 0.2, 0.3, 0.5, 0.55, 0.6, 0.61, 0.8]])
    ids = [f"p{k % 6}-{k:03d}" for k in range(len(areas))]
    rows = []
    for m, shift in (("a", 0.0), ("b", 1.5)):
        for i, area in zip(ids, areas):
            rows.append(
                {
                    "method": m,
                    "image_id": i,
                    "status": "ok",
                    "mask_area": float(area),
                    "hole_psnr": float(30 - 20 * area + shift + rng.normal(0, 1)),
                    "psnr": float(40 - 10 * area + rng.normal(0, 1)),
                    "seconds": 0.1,
                }
            )
    rows.append(
        {
            "method": "b",
            "image_id": "failed-1",
            "status": "error",
            "mask_area": 0.45,
            "hole_psnr": None,
            "psnr": None,
            "seconds": 0.1,
        }
    )
    return pd.DataFrame(rows)


def test_per_bin_means_equal_a_pandas_groupby():
    records = _records()
    got = summarize_by_area(records, ["a", "b"], seed=4)
    ok = records[records["status"] == "ok"]
    # Independent binning: pandas' half-open cut over the same edges plus an open last bin.
    edges = list(LAMA_AREA_EDGES) + [np.inf]
    binned = ok.assign(bin=pd.cut(ok["mask_area"], edges, right=False, labels=LABELS))
    want = binned.groupby(["bin", "method"], observed=True)[["hole_psnr", "psnr"]].agg(["mean", "count"])
    assert list(dict.fromkeys(got["bin"])) == ["0-10%", "10-20%", "20-30%", "30-40%", "50-60%", "\u226560%"]
    assert "40-50%" not in set(got["bin"])  # only the failed row falls there: the bin is omitted
    for (b, m), row in want.iterrows():
        for col in ("hole_psnr", "psnr"):
            r = got[(got["bin"] == b) & (got["method"] == m) & (got["metric"] == col)].iloc[0]
            assert r["value"] == pytest.approx(row[(col, "mean")], rel=1e-12)
            assert r["n"] == row[(col, "count")]
    assert got[got["bin"] == "\u226560%"]["n"].max() == 3 and np.isnan(got[got["bin"] == "\u226560%"]["hi"]).all()
    assert set(got["metric"]) == {"hole_psnr", "psnr", "seconds"}  # set metrics are never split


def test_per_bin_intervals_resample_groups_within_the_bin():
    records = _records()
    groups = {i: i.split("-")[0] for i in records["image_id"]}
    got = summarize_by_area(records, ["a"], seed=7, groups=groups)
    sel = records[(records["method"] == "a") & (records["mask_area"] >= 0.1) & (records["mask_area"] < 0.2)]
    want = bootstrap_ci(sel["hole_psnr"], [groups[i] for i in sel["image_id"]], seed=7)
    r = got[(got["bin"] == "10-20%") & (got["metric"] == "hole_psnr")].iloc[0]
    assert (r["value"], r["low"], r["high"]) == pytest.approx(want, rel=1e-12)


def test_missing_mask_area_is_a_clear_error():
    with pytest.raises(ValueError, match="mask_area"):
        summarize_by_area(_records().drop(columns=["mask_area"]))


@pytest.fixture(scope="module")
def wide_run(tmp_path_factory):
    # Holes up to 75 %: every LaMa bin and the open one are populated; with stored features (set metrics per bin).
    run = synthetic_run(tmp_path_factory.mktemp("bins") / "run", methods=["telea", "ns", "mean"], n=84, max_area=0.75)
    return add_feature_store(run)


def test_report_bins_area_splits_every_per_image_table(wide_run, tmp_path):
    rep = build_report(wide_run, tmp_path / "rep", ReportOptions(grid=False, compile=False, bins="area"))
    names = {f.name for f in rep.files}
    assert {
        "table_image_area.tex",
        "table_hole_area.tex",
        "table_paired_area.tex",
        "summary_area.csv",
        "paired_area.csv",
    } <= names
    records = pd.DataFrame([json.loads(line) for line in (wide_run / "records.jsonl").read_text().splitlines()])
    counts = pd.cut(
        records[records["method"] == "telea"]["mask_area"], list(LAMA_AREA_EDGES) + [np.inf], right=False, labels=LABELS
    ).value_counts()
    hole_tex = (rep.out / "table_hole_area.tex").read_text()
    md = (rep.out / "report.md").read_text()
    for label, n in counts.items():
        if n == 0:
            continue
        latex_label = label.replace("-", "--").replace("%", r"\%").replace("\u2265", r"$\geq$")
        assert rf"\emph{{Hole area {latex_label}, $n = {n}$}}" in hole_tex, label
        assert f"### Hole area {label} (n = {n})" in md, label
    assert "with holes of 60% or more in a last bin \u226560%" in md
    assert "## Whole image by hole area" in md and "## Hole only by hole area" in md
    # Set metrics are split from the stored features, in a table and file of their own.
    assert "Per hole-area bin values follow" in (rep.out / "table_set.tex").read_text()
    assert {"table_set_area.tex", "set_area.csv"} <= names
    summary = pd.read_csv(rep.out / "summary_area.csv")
    assert not {"fid", "kid"} & set(summary["metric"])


def test_cli_bins_option(wide_run, tmp_path):
    runner = CliRunner()
    res = runner.invoke(
        cli, ["report", str(wide_run), "--out", str(tmp_path / "r"), "--no-compile", "--no-grid", "--bins", "area"]
    )
    assert res.exit_code == 0, res.output
    assert "## Hole only by hole area" in res.output
    bad = runner.invoke(cli, ["report", str(wide_run), "--out", str(tmp_path / "x"), "--bins", "size"])
    assert bad.exit_code != 0 and "'size' is not one of 'none', 'area'" in bad.output
    with pytest.raises(ValueError, match="--bins: unknown axis 'size'"):
        build_report(wide_run, tmp_path / "y", ReportOptions(grid=False, compile=False, bins="size"))
