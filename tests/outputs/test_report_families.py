"""``bench report RUN_A RUN_B ... --out DIR``: FID and KID per mask family of runs on the same images.

The values are checked against the Frechet distance and KID computed here from features parsed
straight from each run's store file (tests/outputs/test_report_bins_features.py).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from bench.cli import cli
from tests.outputs.test_report_bins_features import (
    SMALL_SQRTM_REL,
    features_of,
    formula_kid,
    nuclear_fid,
    records,
    small_run,
    small_sqrtm_fid,
)

pytestmark = pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("families")
    return {
        "rects": small_run(root / "rects"),
        "thick": small_run(root / "thick", masks="thick"),
        # Other images (n = 8): refused beside the others.
        "other": small_run(root / "other", masks="thick", n=8, methods=("telea",)),
    }


@pytest.fixture(scope="module")
def table(runs, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("famrep") / "rep"
    res = CliRunner().invoke(cli, ["report", str(runs["rects"]), str(runs["thick"]), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert "# FID per mask family" in res.output
    return out


def test_one_column_per_family_and_a_row_per_method(table):
    md = (table / "families.md").read_text()
    assert md.count("| method | rects | thick |") == 2  # the FID table and the KID table
    for method in ("telea", "mean"):
        assert sum(line.startswith(f"| {method} |") for line in md.splitlines()) == 2
    assert "FID is biased upwards at small n" in md and "same real images" in md
    tex = (table / "table_families.tex").read_text()
    assert r"Method & rects & thick \\" in tex and r"\label{tab:inpainting-families}" in tex


def test_values_equal_the_frechet_distance_of_the_stored_features(runs, table):
    got = pd.read_csv(table / "families.csv")
    assert set(got["family"]) == {"rects", "thick"} and set(got["method"]) == {"telea", "mean"}
    for family in ("rects", "thick"):
        run_dir = runs[family]
        ok = records(run_dir)
        for method in ("telea", "mean"):
            ids = list(ok[ok["method"] == method]["image_id"])
            real, fake = features_of(run_dir, method, ids)
            pick = got[(got["family"] == family) & (got["method"] == method)].set_index("metric")
            assert pick.loc["fid", "n"] == len(ids) == 12
            assert pick.loc["fid", "value"] == pytest.approx(nuclear_fid(real, fake), rel=1e-9)
            assert pick.loc["fid", "value"] == pytest.approx(small_sqrtm_fid(real, fake), rel=SMALL_SQRTM_REL)
            assert pick.loc["kid", "value"] == pytest.approx(formula_kid(real, fake), rel=1e-6, abs=1e-12)
            assert pick.loc["fid", "low"] < pick.loc["fid", "value"] < pick.loc["fid", "high"]
        # The same images, the same real side: the rects column is the rects run's own FID.
        own = json.loads((run_dir / "set_metrics.json").read_text())
        for method in ("telea", "mean"):
            value = got[(got["family"] == family) & (got["method"] == method) & (got["metric"] == "fid")]["value"]
            assert value.iloc[0] == pytest.approx(own[method]["fid"]["value"], rel=1e-12)
    # The real images are the same in both runs: so are their stored features' digests.
    real_a = set(records(runs["rects"])["image_sha256"])
    assert real_a == set(records(runs["thick"])["image_sha256"])


def test_runs_of_other_images_are_refused_in_one_line(runs, tmp_path):
    res = CliRunner().invoke(cli, ["report", str(runs["rects"]), str(runs["other"]), "--out", str(tmp_path / "r")])
    assert res.exit_code == 1
    (line,) = res.output.strip().splitlines()
    assert str(runs["rects"]) in line and str(runs["other"]) in line and "not of the same images" in line
    assert not (tmp_path / "r").exists()


def test_several_runs_need_out_and_one_run_is_reported_as_before(runs, tmp_path):
    res = CliRunner().invoke(cli, ["report", str(runs["rects"]), str(runs["thick"])])
    assert res.exit_code == 1 and "--out" in res.output and len(res.output.strip().splitlines()) == 1
    one = CliRunner().invoke(
        cli, ["report", str(runs["rects"]), "--out", str(tmp_path / "one"), "--no-compile", "--no-grid"]
    )
    assert one.exit_code == 0, one.output
    assert (tmp_path / "one" / "report.md").is_file() and not (tmp_path / "one" / "families.md").exists()


def test_methods_option_and_a_method_in_no_run(runs, table, tmp_path):
    res = CliRunner().invoke(
        cli,
        ["report", str(runs["rects"]), str(runs["thick"]), "--out", str(tmp_path / "m"), "--methods", "mean"],
    )
    assert res.exit_code == 0, res.output
    assert set(pd.read_csv(tmp_path / "m" / "families.csv")["method"]) == {"mean"}
    bad = CliRunner().invoke(
        cli, ["report", str(runs["rects"]), str(runs["thick"]), "--out", str(tmp_path / "b"), "--methods", "ns"]
    )
    assert bad.exit_code == 1 and "--methods: ns in none of the runs" in bad.output


def test_a_deleted_store_is_named(runs, tmp_path):
    copy = tmp_path / "thick"
    shutil.copytree(runs["thick"], copy)
    shutil.rmtree(copy / "features")
    res = CliRunner().invoke(cli, ["report", str(runs["rects"]), str(copy), "--out", str(tmp_path / "r")])
    assert res.exit_code == 1
    (line,) = res.output.strip().splitlines()
    assert str(copy) in line and "no stored features" in line
