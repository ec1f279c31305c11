"""`bench report` end to end on a real run, and the committed baseline against fresh runs."""

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench import regression as reg
from bench.cli import cli
from bench.report.build import ReportOptions, build_report
from bench.report.figures import grid_figure, select_rows
from bench.report.latex import find_engine
from bench.report.tables import load_run
from bench.runner import RunConfig, run
from tests.conftest import CELEBA_ROOT, HAS_CELEBA

PIXEL = ["mse", "psnr", "ssim", "l1"]
REPO = Path(__file__).resolve().parents[1]
BASELINE = REPO / "results" / "baseline.json"


@pytest.fixture(scope="module")
def real_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("report") / "run"
    run(RunConfig(methods=["telea", "ns:radius=5", "mean"], out=out, n=6, metrics=PIXEL, progress=False))
    return out


def test_report_writes_tables_figures_and_pdf(real_run, tmp_path):
    rep = build_report(real_run, tmp_path / "rep", ReportOptions(error_maps=True))
    names = {f.name for f in rep.files}
    expected = {"report.md", "paired.csv", "table_image.tex", "table_hole.tex", "table_paired.tex", "report.tex",
                "grid.png", "grid.pdf", "bar_hole_psnr.png", "bar_hole_psnr.pdf", "area_hole_psnr.png",
                "area_hole_psnr.pdf"}
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


def test_grid_layout_and_automatic_rows(real_run):
    data = load_run(real_run)
    ids = select_rows(data.records, "telea")
    assert len(ids) == 3 and len(set(ids)) == 3
    values = data.ok[data.ok["method"] == "telea"].set_index("image_id")["hole_psnr"]
    assert values[ids[0]] == values.max() and values[ids[2]] == values.min()
    fig = grid_figure(data.rundir, data.records, data.methods, ids, error_maps=True)
    axes = fig.axes
    assert len(axes) == 3 * (1 + 3 + 1 + 3)
    assert [a.get_title() for a in axes[:8]] == ["Input", "telea", "ns:radius=5", "mean", "Ground truth",
                                                 "|error| telea", "|error| ns:radius=5", "|error| mean"]
    # The ground-truth cell shows exactly the stored ground truth.
    shown = axes[4].get_images()[0].get_array()
    assert np.array_equal(np.asarray(shown), data.rundir.load_image(ids[0]))
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_report_is_deterministic(real_run, tmp_path):
    opts = ReportOptions(compile=False)
    build_report(real_run, tmp_path / "a", opts)
    build_report(real_run, tmp_path / "b", opts)
    for name in ("report.md", "table_image.tex", "table_hole.tex", "table_paired.tex", "paired.csv", "grid.png",
                 "bar_hole_psnr.png", "area_hole_psnr.png"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


def test_cli_report_and_its_errors(real_run, tmp_path):
    runner = CliRunner()
    res = runner.invoke(cli, ["report", str(real_run), "--out", str(tmp_path / "r"), "--no-compile", "--no-grid",
                              "--methods", "mean,telea", "--reference", "telea"])
    assert res.exit_code == 0, res.output
    assert "## Paired comparison: telea minus each method" in res.output
    md_lines = (tmp_path / "r" / "report.md").read_text().splitlines()
    first_rows = [line for line in md_lines if line.startswith("| mean |") or line.startswith("| telea |")]
    assert first_rows[0].startswith("| mean |")  # --methods sets the row order
    bad_id = runner.invoke(cli, ["report", str(real_run), "--out", str(tmp_path / "x"), "--images", "nope-123",
                                 "--no-compile"])
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
    run(RunConfig(methods=methods, out=out, dataset=dataset, data_root=str(CELEBA_ROOT) if dataset == "celeba" else None,
                  split=ident["dataset"]["split"], size=ident["dataset"]["preprocess"]["size"], n=ident["n"],
                  seed=ident["seed"], mask_family=ident["mask_family"], metrics=PIXEL, progress=False))
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
def test_committed_baseline_fails_for_patch_without_iterations(tmp_path):
    out = _baseline_run(tmp_path, ["patch:iters=0"])
    res = CliRunner().invoke(cli, ["check", str(out), "--baseline", str(BASELINE), "--map", "patch:iters=0", "patch",
                                   "--allow-missing", "--metrics", "psnr,hole_psnr,ssim,mse"])
    assert res.exit_code == 1, res.output
    assert "FAIL" in res.output and "patch:iters=0" in res.output
