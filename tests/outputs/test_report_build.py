"""`bench report` end to end on a real run, and the committed baseline against fresh runs."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.core.stats import bootstrap_ci
from bench.experiments.runner import RunConfig, run
from bench.outputs import regression as reg
from bench.outputs.report.build import ReportOptions, build_report
from bench.outputs.report.figures import grid_figure, select_rows
from bench.outputs.report.latex import find_engine
from bench.outputs.report.tables import load_run
from tests.conftest import CELEBA_ROOT, HAS_CELEBA

PIXEL = ["mse", "psnr", "ssim", "l1"]
REPO = Path(__file__).resolve().parents[2]
BASELINE = REPO / "results" / "baseline.json"


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    run(RunConfig(methods=["telea", "ns:radius=5", "mean"], out=out, n=6, metrics=PIXEL, progress=False))
    return out


def test_report_writes_tables_figures_and_pdf(real_run, tmp_path):
    rep = build_report(real_run, tmp_path / "rep", ReportOptions(error_maps=True))
    names = {f.name for f in rep.files}
    expected = {
        "report.md",
        "paired.csv",
        "table_image.tex",
        "table_hole.tex",
        "table_paired.tex",
        "report.tex",
        "grid.png",
        "grid.pdf",
        "bar_hole_psnr.png",
        "bar_hole_psnr.pdf",
        "area_hole_psnr.png",
        "area_hole_psnr.pdf",
    }
    assert expected <= names
    assert ("report.pdf" in names) == (find_engine() is not None)
    for f in rep.files:
        assert f.is_file() and f.stat().st_size > 0, f
    for pdf in [f for f in rep.files if f.suffix == ".pdf"]:
        assert pdf.read_bytes()[:5] == b"%PDF-"

    md = (tmp_path / "rep" / "report.md").read_text()
    assert "n = 6 images" in md and "## Paired comparison: telea minus each method" in md
    assert "| ns:radius=5 |" in md and "**" in md
    image_tex = (tmp_path / "rep" / "table_image.tex").read_text()
    assert r"\label{tab:inpainting-image}" in image_tex and "$n = 6$ images" in image_tex
    assert r"\label{tab:inpainting-hole}" in (tmp_path / "rep" / "table_hole.tex").read_text()

    # The bold cell of the PSNR column is the method with the highest mean PSNR in the records.
    data = load_run(real_run)
    best = data.ok.groupby("method")["psnr"].mean().idxmax()
    row = next(line for line in image_tex.splitlines() if line.startswith(best.replace("_", r"\_") + " &"))
    assert row.split(" & ")[2].startswith(r"\textbf{")

    # The paired CSV agrees with a direct computation on the records.
    import pandas as pd

    paired = pd.read_csv(tmp_path / "rep" / "paired.csv")
    r = paired[(paired["b"] == "mean") & (paired["column"] == "hole_psnr")].iloc[0]
    ok = data.ok.set_index(["method", "image_id"])["hole_psnr"]
    assert r["diff"] == pytest.approx((ok["telea"] - ok["mean"]).mean(), rel=1e-12)


@pytest.fixture(scope="module")
def grouped_run(tmp_path_factory):
    # 14 builtin crops: two of each of the 7 test photos, so intervals resample 7 photos.
    out = tmp_path_factory.mktemp("grouped") / "run"
    run(RunConfig(methods=["telea", "mean"], out=out, n=14, metrics=["mse", "psnr"], progress=False))
    return out


def _paired_diffs(data, a, b, column):
    ok = data.ok.set_index(["method", "image_id"])[column]
    d = (ok[a] - ok[b]).sort_index()
    return d.to_numpy(), [i.rpartition("-")[0] for i in d.index]


def test_report_leads_with_paired_differences_resampling_photos(grouped_run, tmp_path):
    import pandas as pd

    rep = build_report(grouped_run, tmp_path / "rep", ReportOptions(grid=False, compile=False))
    md = (rep.out / "report.md").read_text()
    lines = md.splitlines()
    assert lines[2].startswith("Dataset builtin (test)")
    assert lines[2].endswith("Intervals: 95 % bootstrap, resampling builtin source photos (7 units).")
    headings = [line for line in lines if line.startswith("## ")]
    assert headings[:3] == ["## Paired comparison: telea minus each method", "## Whole image", "## Hole only"]
    assert "treats the images of one unit as independent" in md  # the Wilcoxon p, 14 images in 7 units
    assert md.count("resampling builtin source photos (7 units)") >= 3  # header, paired, tables

    data = load_run(grouped_run)
    assert data.groups == {i: i.rpartition("-")[0] for i in data.ok["image_id"]} and data.units == 7
    paired = pd.read_csv(rep.out / "paired.csv").set_index(["b", "column"])
    # Whole-image PSNR differences equal hole-PSNR differences (known pixels are copied back),
    # so the paired table leaves that redundant column out.
    d_hole, _ = _paired_diffs(data, "telea", "mean", "hole_psnr")
    d_image, _ = _paired_diffs(data, "telea", "mean", "psnr")
    np.testing.assert_allclose(d_image, d_hole, atol=1e-9)
    assert "psnr" not in set(paired.loc["mean"].index)
    for col in ("hole_psnr", "psnr"):
        d, photos = _paired_diffs(data, "telea", "mean", col)
        if col == "hole_psnr":
            want = bootstrap_ci(d, photos, seed=0)
            got = paired.loc[("mean", col)]
            assert (got["diff"], got["low"], got["high"]) == pytest.approx(want, rel=1e-12)
            assert (got["low"], got["high"]) != pytest.approx(bootstrap_ci(d, seed=0)[1:], rel=1e-6)
        sub = data.ok[data.ok["method"] == "telea"]
        row = data.summary[(data.summary["method"] == "telea") & (data.summary["metric"] == col)].iloc[0]
        want = bootstrap_ci(sub[col], [i.rpartition("-")[0] for i in sub["image_id"]], seed=0)
        assert (row["value"], row["low"], row["high"]) == pytest.approx(want, rel=1e-12)

    for name in ("table_paired.tex", "table_image.tex", "table_hole.tex"):
        assert "resampling builtin source photos (7 units)" in (rep.out / name).read_text(), name
    doc = (rep.out / "report.tex").read_text()
    assert doc.index("tab:inpainting-paired") < doc.index("tab:inpainting-image") < doc.index("tab:inpainting-hole")


def test_old_run_without_groups_json_resamples_images(grouped_run, tmp_path):
    import shutil

    import pandas as pd

    old = tmp_path / "old"
    shutil.copytree(grouped_run, old)
    (old / "groups.json").unlink()
    data = load_run(old)
    assert data.groups is None and "no groups.json" in data.unit and data.units == 14
    rep = build_report(old, tmp_path / "rep", ReportOptions(grid=False, compile=False, latex=False))
    md = (rep.out / "report.md").read_text()
    assert (
        "resampling images (the run has no groups.json, so each image is its own unit) (14 units)" in md.splitlines()[2]
    )
    assert "independent" not in md
    paired = pd.read_csv(rep.out / "paired.csv").set_index(["b", "column"])
    d, _ = _paired_diffs(data, "telea", "mean", "hole_psnr")
    got = paired.loc[("mean", "hole_psnr")]
    assert (got["diff"], got["low"], got["high"]) == pytest.approx(bootstrap_ci(d, seed=0), rel=1e-12)
    sub = data.ok[data.ok["method"] == "mean"]
    row = data.summary[(data.summary["method"] == "mean") & (data.summary["metric"] == "psnr")].iloc[0]
    assert (row["value"], row["low"], row["high"]) == bootstrap_ci(sub["psnr"], seed=0)


def test_fake_celeba_run_resamples_identities(tmp_path):
    from bench.core.images import to_uint8
    from bench.inputs.data import get_source
    from tests.inputs.test_data import _fake_celeba

    face = to_uint8(get_source("builtin", size=120).load("coffee-001")[:96])
    ids = list(range(182638, 182646))
    root = _fake_celeba(tmp_path / "celeba", face, ids, None)
    identity = {k: (7, 7, 3, 9, 3, 7, 9, 9)[n] for n, k in enumerate(ids)}
    (root / "identity_CelebA.txt").write_text("".join(f"{k:06d}.jpg {v}\n" for k, v in identity.items()))
    out = tmp_path / "run"
    run(
        RunConfig(
            methods=["telea", "mean"],
            out=out,
            dataset="celeba",
            data_root=str(root),
            n=8,
            metrics=PIXEL,
            progress=False,
        )
    )
    groups = json.loads((out / "groups.json").read_text())
    assert groups == {
        "unit": "CelebA identities",
        "units": 3,
        "groups": {f"{k:06d}": str(v) for k, v in identity.items()},
    }
    assert "resampling CelebA identities (3 units)" in (out / "summary.md").read_text()
    rep = build_report(out, tmp_path / "rep", ReportOptions(grid=False, compile=False))
    md = (rep.out / "report.md").read_text()
    assert "resampling CelebA identities (3 units)" in md.splitlines()[2]
    assert "resampling CelebA identities (3 units)" in (rep.out / "table_paired.tex").read_text()


def test_grid_layout_and_automatic_rows(real_run):
    data = load_run(real_run)
    ids = select_rows(data.records, "telea")
    assert len(ids) == 3 and len(set(ids)) == 3
    values = data.ok[data.ok["method"] == "telea"].set_index("image_id")["hole_psnr"]
    assert values[ids[0]] == values.max() and values[ids[2]] == values.min()
    fig = grid_figure(data.rundir, data.records, data.methods, ids, error_maps=True)
    axes = fig.axes
    assert len(axes) == 3 * (1 + 3 + 1 + 3) + 1  # and the error maps' colour bar
    assert [a.get_title() for a in axes[:8]] == [
        "Input",
        "telea",
        "ns:radius=5",
        "mean",
        "Ground truth",
        "|error| telea",
        "|error| ns:radius=5",
        "|error| mean",
    ]
    # The ground-truth cell shows exactly the stored ground truth.
    shown = axes[4].get_images()[0].get_array()
    assert np.array_equal(np.asarray(shown), data.rundir.load_image(ids[0]))
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_error_maps_have_a_colour_bar_from_zero_to_the_largest_error(real_run):
    import matplotlib.pyplot as plt

    data = load_run(real_run)
    ids = select_rows(data.records, "telea")
    fig = grid_figure(data.rundir, data.records, data.methods, ids, error_maps=True)
    bars = [a for a in fig.axes if a.get_label() == "colorbar"]
    assert len(bars) == 1
    # The scale, computed here from the PNGs: mean absolute RGB error, largest over every map shown.
    top = max(
        float(np.abs(data.rundir.load_output(m, i) - data.rundir.load_image(i)).mean(axis=2).max())
        for m in data.methods
        for i in ids
    )
    assert bars[0].get_ylim() == pytest.approx((0.0, top), rel=1e-6)
    assert bars[0].get_ylabel().startswith("absolute error") and f"0 to {top:.3f}" in bars[0].get_ylabel()
    maps = [a for a in fig.axes if a.get_title().startswith("|error|")]
    assert {im.get_clim() for a in maps for im in a.get_images()} == {bars[0].get_ylim()}
    plt.close(fig)
    plain = grid_figure(data.rundir, data.records, data.methods, ids)
    assert not [a for a in plain.axes if a.get_label() == "colorbar"]
    plt.close(plain)


def test_report_is_deterministic(real_run, tmp_path):
    opts = ReportOptions(compile=find_engine() is not None)
    build_report(real_run, tmp_path / "a", opts)
    build_report(real_run, tmp_path / "b", opts)
    names = [
        "report.md",
        "table_image.tex",
        "table_hole.tex",
        "table_paired.tex",
        "paired.csv",
        "grid.png",
        "bar_hole_psnr.png",
        "area_hole_psnr.png",
        "grid.pdf",
    ]
    if find_engine() is not None and find_engine().endswith("pdflatex"):
        names.append("report.pdf")
    for name in names:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_cli_report_and_its_errors(real_run, tmp_path):
    runner = CliRunner()
    res = runner.invoke(
        cli,
        [
            "report",
            str(real_run),
            "--out",
            str(tmp_path / "r"),
            "--no-compile",
            "--no-grid",
            "--methods",
            "mean,telea",
            "--reference",
            "telea",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "## Paired comparison: telea minus each method" in res.output
    md_lines = (tmp_path / "r" / "report.md").read_text().splitlines()
    first_rows = [line for line in md_lines if line.startswith("| mean |") or line.startswith("| telea |")]
    assert first_rows[0].startswith("| mean |")  # --methods sets the row order
    bad_id = runner.invoke(
        cli, ["report", str(real_run), "--out", str(tmp_path / "x"), "--images", "nope-123", "--no-compile"]
    )
    assert bad_id.exit_code != 0 and "nope-123" in bad_id.output
    bad_method = runner.invoke(cli, ["report", str(real_run), "--methods", "telea,patch"])
    assert bad_method.exit_code != 0 and "patch" in bad_method.output
    empty = runner.invoke(cli, ["report", str(tmp_path)])
    assert empty.exit_code != 0 and "records.jsonl" in empty.output


def _baseline_run(tmp_path, methods):
    """A fresh run on the committed baseline's data (same dataset, n, seed and masks)."""
    base = json.loads(BASELINE.read_text())
    ident = base["identity"]
    dataset = ident["dataset"]["dataset"]
    if dataset == "celeba" and not HAS_CELEBA:
        pytest.skip(f"the baseline is a CelebA run and the sample is not at {CELEBA_ROOT}")
    out = tmp_path / "gate"
    run(
        RunConfig(
            methods=methods,
            out=out,
            dataset=dataset,
            data_root=str(CELEBA_ROOT) if dataset == "celeba" else None,
            split=ident["dataset"]["split"],
            size=ident["dataset"]["preprocess"]["size"],
            n=ident["n"],
            seed=ident["seed"],
            mask_family=ident["mask_family"],
            metrics=PIXEL,
            progress=False,
        )
    )
    return out


def test_committed_baseline_passes_for_telea_and_fails_for_worsened_variants(tmp_path):
    base = reg.read_baseline(BASELINE)
    assert {"telea", "patch"} <= set(base["methods"])
    out = _baseline_run(tmp_path, ["telea", "telea:radius=1", "mean"])
    pixel_cols = [c for c in base["tolerances"] if c.split("_")[-1] in PIXEL]
    good = reg.compare(out, base, allow_missing=True, metrics=pixel_cols)
    assert not reg.failed(good), reg.format_table(good)
    for worse in ("telea:radius=1", "mean"):
        table = reg.compare(out, base, mapping={worse: "telea"}, allow_missing=True, metrics=pixel_cols)
        assert reg.failed(table), worse
        assert "psnr" in set(table[table["status"] == "worse"]["metric"])


@pytest.mark.slow
def test_gate_fails_for_patch_without_iterations(tmp_path):
    # Self-contained (a baseline of `patch` made here), so legitimate changes to patch that
    # require regenerating results/baseline.json do not break this test of the gate itself.
    out = tmp_path / "patch-run"
    run(RunConfig(methods=["patch", "patch:iters=0"], out=out, n=16, metrics=PIXEL, progress=False))
    baseline = tmp_path / "baseline.json"
    runner = CliRunner()
    assert (
        runner.invoke(
            cli, ["check", str(out), "--baseline", str(baseline), "--update", "--map", "patch:iters=0", "patch-iters0"]
        ).exit_code
        == 0
    )
    data = json.loads(baseline.read_text())
    data["methods"].pop("patch-iters0")  # the baseline holds the good configuration only
    baseline.write_text(json.dumps(data))
    ok = runner.invoke(cli, ["check", str(out), "--baseline", str(baseline)])
    assert ok.exit_code == 0, ok.output
    res = runner.invoke(cli, ["check", str(out), "--baseline", str(baseline), "--map", "patch:iters=0", "patch"])
    assert res.exit_code == 1, res.output
    assert "FAIL" in res.output and "patch:iters=0" in res.output


def test_set_metrics_join_the_table_and_the_gate(real_run, tmp_path, monkeypatch):
    import shutil

    from bench.metrics.registry import METRICS, MetricInfo

    for name in ("fid", "kid"):  # until the FID/KID module registers them, stand in with their direction
        if name not in METRICS:
            monkeypatch.setitem(METRICS._entries, name, MetricInfo(name, "set", False, lambda *a: 0.0))
    run_dir = tmp_path / "run"
    shutil.copytree(real_run, run_dir)
    sets = {
        "telea": {
            "fid": {"value": 40.0, "low": 35.0, "high": 47.0, "details": {"n": 6}},
            "kid": {"value": 0.02, "low": 0.01, "high": 0.03, "details": {"n": 6}},
        },
        "ns:radius=5": {
            "fid": {"value": 38.5, "low": 30.0, "high": 45.0, "details": {"n": 6}},
            "kid": {"value": 0.03, "low": 0.02, "high": 0.04, "details": {"n": 6}},
        },
        "mean": {"fid": {"value": 90.0, "low": None, "high": None, "details": {"n": 6}}},
    }
    (run_dir / "set_metrics.json").write_text(json.dumps(sets))
    build_report(run_dir, tmp_path / "rep", ReportOptions(grid=False, compile=find_engine() is not None))
    # FID and KID have a table of their own (six wide columns overrun a page); the pixel table has none.
    assert "FID" not in (tmp_path / "rep" / "table_image.tex").read_text()
    tex = (tmp_path / "rep" / "table_set.tex").read_text()
    assert r"Method & FID$\downarrow$ & KID$\downarrow$ \\" in tex and r"\label{tab:inpainting-set}" in tex
    assert "metric's own 95\\% bootstrap interval over images" in tex
    assert "## Set metrics" in (tmp_path / "rep" / "report.md").read_text()
    rows = {line.split(" & ")[0]: line.split(" & ") for line in tex.splitlines() if " & " in line}
    assert rows[r"ns:radius=5"][1] == r"\textbf{38.50 $\pm$ 7.50}"  # lowest FID, (45 - 30) / 2
    assert rows["telea"][2].startswith(r"\textbf{0.0200 $\pm$ 0.0100}")  # lowest KID
    assert rows["mean"][1] == "90.00" and rows["mean"][2].startswith("--")  # no interval; no KID

    baseline = tmp_path / "b.json"
    reg.write_baseline(baseline, reg.make_baseline(run_dir))
    data = reg.read_baseline(baseline)
    assert data["methods"]["telea"]["metrics"]["fid"] == 40.0 and data["tolerances"]["fid"] == {"abs": 0.5, "rel": 0.02}
    sets["telea"]["fid"]["value"] = 41.0  # allowed: max(0.5, 0.02 * 40) = 0.8
    (run_dir / "set_metrics.json").write_text(json.dumps(sets))
    table = reg.compare(run_dir, data).set_index(["method", "metric"])
    assert table.loc[("telea", "fid"), "status"] == "worse"
    assert table.loc[("telea", "fid"), "allowed"] == pytest.approx(0.8)


def test_failed_outputs_are_reported_not_hidden(real_run, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(real_run, run_dir)
    victim = load_run(run_dir).records["image_id"].iloc[0]
    row = {
        "method": "mean",
        "image_id": victim,
        "status": "error",
        "error": "RuntimeError: boom",
        "seconds": 0.1,
        "mask_area": 0.1,
        "n_rects": 1,
        "output": "composited",
    }
    with open(run_dir / "records.jsonl", "a") as fh:  # a later row of the same pair is its current state
        fh.write(json.dumps(row) + "\n")
    data = load_run(run_dir)
    fig = grid_figure(data.rundir, data.records, data.methods, [victim])
    assert fig.axes[3].get_xlabel() == "failed" and fig.axes[1].get_xlabel().startswith("hole PSNR")
    rep = build_report(run_dir, tmp_path / "rep", ReportOptions(compile=False, grid=False))
    md = (rep.out / "report.md").read_text()
    assert "1 failed (method, image) pairs are excluded: mean (1)" in md
    assert "$n = 5$--$6$ images" in (rep.out / "table_image.tex").read_text()
    base = reg.make_baseline(real_run)
    assert reg.failed(reg.compare(run_dir, base))  # one image fewer than the baseline's n


def test_grid_rows_rank_by_hole_psnr_else_the_runs_first_hole_metric_else_what_was_asked():
    import pandas as pd

    from bench.outputs.report.contents import ranking_column

    with_psnr = pd.DataFrame({"method": ["a"], "image_id": ["x"], "hole_mse": [0.1], "hole_psnr": [20.0]})
    without = pd.DataFrame({"method": ["a"], "image_id": ["x"], "mse": [0.1], "hole_ssim": [0.5]})
    whole_only = pd.DataFrame({"method": ["a"], "image_id": ["x"], "status": ["ok"], "mse": [0.1]})
    assert ranking_column(with_psnr, None) == "hole_psnr"
    assert ranking_column(without, None) == "hole_ssim"
    assert ranking_column(whole_only, None) == "mse"
    assert ranking_column(with_psnr, "hole_mse") == "hole_mse"
    with pytest.raises(ValueError, match="'hole_psnr': not a column"):
        ranking_column(without, "hole_psnr")
    with pytest.raises(ValueError, match="--images"):
        ranking_column(pd.DataFrame({"method": ["a"], "image_id": ["x"]}), None)
