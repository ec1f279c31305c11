"""Every table, the summary and the gate read what a metric is (label, digits, tolerance, group) from the registry."""

import json
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bench.experiments.runner import RunConfig, run
from bench.metrics import all_metrics
from bench.metrics.definitions import metric_definitions
from bench.metrics.pixel import PSNR_MAX
from bench.metrics.registry import BUILT_IN, METRICS, MetricInfo
from bench.outputs import regression as reg
from bench.outputs.report.build import ReportOptions, build_report
from bench.outputs.report.contents import report_tables
from bench.outputs.report.format import display_label, metric_label
from bench.outputs.report.tables import load_run, table_columns
from bench.outputs.summary import digits_for

ODD = "zzodd"
REPO = Path(__file__).resolve().parents[2]


def _odd(pred, target, mask, region):
    # A per-image score with a known value: the mean absolute error times 1/7 (7 decimals are never round).
    if region == "hole":
        return float(np.abs(pred - target)[mask].mean()) / 7.0
    return float(np.abs(pred - target).mean()) / 7.0


ODD_INFO = MetricInfo(
    ODD,
    "image",
    False,
    _odd,
    "throwaway metric of this test",
    label="Odd-Z",
    digits=5,
    tolerance={"abs": 0.123},
    hole_tolerance={"rel": 0.456},
    group="perceptual",
)


@pytest.fixture
def odd_metric(monkeypatch):
    monkeypatch.setitem(METRICS._entries, ODD, ODD_INFO)
    return ODD_INFO


@pytest.fixture
def odd_run(tmp_path, odd_metric):
    out = tmp_path / "run"
    run(RunConfig(methods=["telea", "mean"], out=out, n=4, size=64, metrics=["psnr", ODD], progress=False))
    return out


def test_every_registered_metric_is_shown_and_gated_as_the_registry_says():
    for m in all_metrics():
        for region in m.regions if m.kind == "image" else ("image",):
            column = m.column(region)
            assert digits_for(column) == m.digits, column
            assert display_label(column) == (m.label or m.name.upper()), column
            assert metric_label(column).endswith("\u2191" if m.higher_is_better else "\u2193"), column
            assert reg.default_tolerance(column) == m.tolerance_for(region), column


def test_fid_inf_has_the_digits_of_fid():
    assert digits_for("fid_inf") == digits_for("fid") == 2


def test_table_columns_follow_kind_region_and_group():
    tables = table_columns(
        ["l1", "hole_l1", "kid_paired", "seconds", "lpips", "psnr", "fid", "hole_psnr", "ssim_gaussian", "hole_lpips"],
        order=["psnr", "l1", "ssim_gaussian", "lpips", "fid", "kid_paired"],
    )
    # Pixel metrics before perceptual ones, each in the run's order; set metrics in a table of their own.
    assert tables == {
        "image": ["psnr", "l1", "ssim_gaussian", "lpips"],
        "set": ["fid", "kid_paired"],
        "hole": ["hole_psnr", "hole_l1", "hole_lpips"],
    }


def test_a_new_metric_reaches_summary_report_latex_gate_and_paired_tables(odd_run, tmp_path):
    data = load_run(odd_run)
    value = data.summary.query("method == 'telea' and metric == @ODD")["value"].iloc[0]
    hole = data.summary.query("method == 'telea' and metric == 'hole_' + @ODD")["value"].iloc[0]
    # Independent of the registry: the mean of the stored per-image L1 over 7, printed with 5 decimals.
    ok = data.records[(data.records["method"] == "telea") & (data.records["status"] == "ok")]
    assert value == pytest.approx(float(ok[ODD].mean()))
    five = f"{value:.5f}"

    summary_md = (odd_run / "summary.md").read_text()
    assert re.search(rf"\| {ODD} \|", summary_md.splitlines()[0] + summary_md) and five in summary_md

    rep = tmp_path / "rep"
    build_report(odd_run, rep, ReportOptions(grid=False, compile=False, paired_columns=("hole_" + ODD, "hole_psnr")))
    md = (rep / "report.md").read_text()
    assert "Odd-Z\u2193" in md and five in md and f"{hole:.5f}" in md
    image_tex = (rep / "table_image.tex").read_text()
    hole_tex = (rep / "table_hole.tex").read_text()
    assert r"Odd-Z$\downarrow$" in image_tex and five in image_tex
    assert r"Odd-Z$\downarrow$" in hole_tex and f"{hole:.5f}" in hole_tex
    # Perceptual group after the pixel group in both tables.
    assert image_tex.index("PSNR") < image_tex.index("Odd-Z") and hole_tex.index("PSNR") < hole_tex.index("Odd-Z")

    paired_tex = (rep / "table_paired.tex").read_text()
    assert r"$\Delta$Odd-Z$\downarrow$ (hole)" in paired_tex
    diff = float(
        data.records.query("method == 'telea' and status == 'ok'")
        .set_index("image_id")["hole_" + ODD]
        .sub(data.records.query("method == 'mean' and status == 'ok'").set_index("image_id")["hole_" + ODD])
        .mean()
    )
    assert f"{abs(diff):.5f}" in paired_tex
    assert re.search(r"[+-]\d+\.\d{5} \$\\pm\$ \d+\.\d{5}", paired_tex)

    baseline = reg.make_baseline(odd_run)
    assert baseline["tolerances"][ODD] == {"abs": 0.123}
    assert baseline["tolerances"]["hole_" + ODD] == {"rel": 0.456}
    assert baseline["tolerances"]["psnr"] == {"abs": 0.1} and baseline["tolerances"]["hole_psnr"] == {"abs": 0.2}


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_default_run_reports_every_metric_it_computed(tmp_path):
    out = tmp_path / "run"
    run(RunConfig(methods=["telea", "mean"], out=out, n=4, size=64, progress=False))
    data = load_run(out)
    computed = set(data.summary["metric"]) - {"seconds"}
    assert {"ssim_gaussian", "hole_ssim_gaussian", "fid_inf", "kid_paired"} <= computed
    tables = report_tables(data, "telea", ReportOptions())
    shown = tables.image.columns + tables.sets.columns + tables.hole.columns
    assert sorted(shown) == sorted(computed)
    assert tables.sets.columns == ["fid", "fid_inf", "kid", "kid_paired"]
    rep = tmp_path / "rep"
    build_report(out, rep, ReportOptions(grid=False, compile=False))
    md = (rep / "report.md").read_text()
    tex = "".join((rep / f"table_{t}.tex").read_text() for t in ("image", "set", "hole"))
    for column in computed:
        assert metric_label(column) in md, column
        assert metric_label(column, "latex") in tex, column
    # FID-inf is withheld at n = 4 and says so; it is printed like FID where it has a value.
    assert "FID-inf\u2193" in md and "FID-inf needs n >= 28" in md


def test_definitions_come_from_the_registry_and_match_the_committed_baselines(monkeypatch, tmp_path):
    # Variants resolved earlier in this process (lpips:net=vgg) carry their family's definition.
    built_in = [m for m in all_metrics() if m.origin == BUILT_IN]
    wrong = [m.name for m in built_in if not m.definition.startswith(f"{m.name.partition(':')[0]}/")]
    assert not wrong, wrong
    assert f"capped at {PSNR_MAX:g} dB" in METRICS.get("psnr").definition
    for name in ("baseline.json", "baseline-celeba.json"):
        stored = json.loads((REPO / "results" / name).read_text())["identity"]["metric_definitions"]
        assert metric_definitions(list(stored)) == stored, name
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # no backbone here: the definition says so
    monkeypatch.delenv("INPAINT_BENCH_LPIPS_BACKBONE", raising=False)
    assert metric_definitions(["hole_lpips:net=vgg", ODD]) == {
        "lpips:net=vgg": METRICS.get("lpips").definition + " [lpips:net=vgg]; weights: not found on this machine"
    }


def test_a_metric_without_a_definition_records_none(odd_metric, monkeypatch):
    assert metric_definitions([ODD, "psnr"]) == {"psnr": METRICS.get("psnr").definition}
    monkeypatch.setitem(METRICS._entries, ODD, replace(ODD_INFO, definition="zzodd/1: L1 over 7"))
    assert metric_definitions(["hole_" + ODD]) == {ODD: "zzodd/1: L1 over 7"}
