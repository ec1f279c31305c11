"""Ablation sweeps: exact channel zeroing, cached reference features, resume, Table 3 aggregation."""

from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import stats

from bench.core.images import blank_hole
from bench.experiments.ablate.channels import (
    channel_figure,
    channel_tables,
    parse_channels,
    sweep_channels,
    sweep_identity,
    variant,
)
from bench.experiments.ablate.discriminator import across_seeds, discriminator_table
from bench.experiments.ablate.sweep import ResultsCSV, Sweep
from bench.experiments.runner import RunConfig
from bench.inputs.protocol import load_protocol
from methods.registry import create

TINY = Path(__file__).resolve().parents[1] / "glcic_tiny.toml"


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory) -> Path:
    from methods.glcic.config import load_config
    from methods.glcic.train import Trainer

    torch.set_num_threads(1)
    cfg = load_config(TINY).with_overrides(steps_phase1=3, steps_phase2=0, steps_phase3=0)
    return Trainer(cfg, tmp_path_factory.mktemp("ablate-ckpt"), progress=False).run()


@pytest.fixture(scope="module")
def protocol():
    return load_protocol("builtin", size=64, n=4, seed=0)


class CountingExtractor:
    """Wraps the feature extractor and counts the images it is asked for."""

    def __init__(self, inner):
        self.inner, self.calls, self.images = inner, 0, 0
        self.identity = inner.identity

    def __call__(self, images, **kw):
        self.calls += 1
        self.images += len(images)
        return self.inner(images, **kw)


def test_variant_specs_and_channel_lists():
    assert variant("iizuka", drop="conv1.44") == "iizuka:drop=conv1.44"
    assert variant("iizuka:ckpt=a.pt", drop="conv2.3") == "iizuka:ckpt=a.pt,drop=conv2.3"
    with pytest.raises(ValueError, match="already sets drop"):
        variant("iizuka:drop=conv1.0", drop="conv1.1")
    assert parse_channels("all", 3) == [0, 1, 2]
    assert parse_channels("2,0,2", 8) == [0, 2]
    with pytest.raises(ValueError, match="outside"):
        parse_channels("9", 8)


def test_zeroing_changes_exactly_that_channel(ckpt, protocol):
    from methods.glcic.hooks import observe

    s = protocol.samples[0]
    image, mask = blank_hole(s.image, protocol.mask(s.id)), protocol.mask(s.id)
    seen = {}

    def grab(method, tag):
        with (
            observe(method.model, "conv2", lambda o: seen.__setitem__((tag, "conv2"), o.clone())),
            observe(method.model, "conv1", lambda o: seen.__setitem__((tag, "conv1"), o.clone())),
        ):
            method.inpaint(image, mask)

    grab(create(f"iizuka:ckpt={ckpt}"), "base")
    grab(create(f"iizuka:ckpt={ckpt},drop=conv2.3"), "drop")
    base, drop = seen[("base", "conv2")], seen[("drop", "conv2")]
    assert base[:, 3].abs().sum() > 0 and torch.count_nonzero(drop[:, 3]) == 0
    others = [c for c in range(base.shape[1]) if c != 3]
    assert torch.equal(base[:, others], drop[:, others])  # every other channel untouched
    assert torch.equal(seen[("base", "conv1")], seen[("drop", "conv1")])  # upstream untouched


def test_sweep_computes_reference_features_once_and_resumes(ckpt, protocol, tmp_path):
    base = f"iizuka:ckpt={ckpt}"
    sweep = Sweep(protocol, tmp_path, n_boot=20, progress=False)
    sweep.extractor = counter = CountingExtractor(sweep.extractor)
    result = sweep_channels(sweep, base, [1], "0,1,2")
    # one pass for the real images, one for the baseline, one per channel
    assert counter.calls == 1 + 1 + 3 and counter.images == 4 * 5
    rows = result["layers"]["conv1"]
    assert [int(r["channel"]) for r in rows] == [0, 1, 2]
    assert all(np.isfinite(float(r["fid"])) for r in rows)
    assert result["baseline"]["fid_low"] <= result["baseline"]["fid"] <= result["baseline"]["fid_high"]

    # Simulate a kill mid-write of channel 2's row: only that channel is measured again,
    # and neither the real features nor the baseline are recomputed.
    table = tmp_path / "channels_conv1.csv"
    text = table.read_text()
    table.write_text(text[: text.rstrip("\n").rfind("\n") + 1] + "conv1,2,iizuka")
    again = Sweep(protocol, tmp_path, n_boot=20, progress=False)
    again.extractor = counter2 = CountingExtractor(again.extractor)
    result2 = sweep_channels(again, base, [1], "0,1,2")
    assert counter2.calls == 1 and counter2.images == 4
    assert [int(r["channel"]) for r in result2["layers"]["conv1"]] == [0, 1, 2]
    assert float(result2["layers"]["conv1"][2]["fid"]) == pytest.approx(float(rows[2]["fid"]), rel=1e-9)

    for r in rows:
        assert float(r["fid_delta_low"]) <= float(r["fid_delta"]) <= float(r["fid_delta_high"])
    # A later call with another subset measures only its new channels and reports all of them.
    result3 = sweep_channels(again, base, [1], "2,3")
    assert counter2.calls == 2 and counter2.images == 8
    assert [int(r["channel"]) for r in result3["layers"]["conv1"]] == [0, 1, 2, 3]
    files = channel_figure(result3, tmp_path / "table4")
    assert all(f.is_file() and f.stat().st_size > 1000 for f in files)
    # A call for another layer still reports (and draws) every layer of the directory.
    result4 = sweep_channels(again, base, [2], "0")
    assert list(result4["layers"]) == ["conv1", "conv2"]
    assert [int(r["channel"]) for r in result4["layers"]["conv1"]] == [0, 1, 2, 3]


def test_paired_difference_uses_identical_resamples(ckpt, protocol, tmp_path):
    from bench.experiments.ablate.sweep import paired_difference
    from bench.metrics.frechet import centred_interval

    sweep = Sweep(protocol, tmp_path, n_boot=30, progress=False)
    base = sweep.measure(create(f"iizuka:ckpt={ckpt}"))
    same = sweep.measure(create(f"iizuka:ckpt={ckpt}"))
    assert paired_difference(same, base.fid, base.replicates) == (0.0, 0.0, 0.0)
    other = sweep.measure(create(f"iizuka:ckpt={ckpt},drop=conv1.0"))
    delta, low, high = paired_difference(other, base.fid, base.replicates)
    expected = centred_interval(other.fid - base.fid, other.replicates - base.replicates)
    assert delta == pytest.approx(other.fid - base.fid) and (low, high) == pytest.approx(expected)
    assert high - low < (other.fid_high - other.fid_low)  # pairing removes the shared image noise


def test_identity_sweep_reports_inapplicable_layers(ckpt, protocol, tmp_path):
    sweep = Sweep(protocol, tmp_path, n_boot=10, progress=False)
    result = sweep_identity(sweep, f"iizuka:ckpt={ckpt}", [2, 5])
    assert [r["layer"] for r in result["rows"]] == ["conv5"]
    assert "conv2" in result["not_applicable"]  # strided: shapes do not allow the identity


def test_across_seeds_is_a_student_t_interval():
    import pandas as pd

    per_seed = [
        pd.DataFrame({"psnr": [20.0, 25.0]}, index=["a", "b"]),
        pd.DataFrame({"psnr": [22.0, 25.5]}, index=["a", "b"]),
        pd.DataFrame({"psnr": [21.0, 24.5]}, index=["a", "b"]),
    ]
    summary = across_seeds(per_seed).set_index(["method", "metric"])
    vals = np.array([20.0, 22.0, 21.0])
    half = stats.t.ppf(0.975, 2) * vals.std(ddof=1) / np.sqrt(3)
    row = summary.loc[("a", "psnr")]
    assert row["value"] == pytest.approx(21.0) and row["n"] == 3
    assert row["low"] == pytest.approx(21.0 - half) and row["high"] == pytest.approx(21.0 + half)


def test_discriminator_table_over_two_seeds(ckpt, tmp_path):
    specs = [f"iizuka:ckpt={ckpt}", f"iizuka-local:ckpt={ckpt}"]
    cfg = RunConfig(methods=specs, out=tmp_path, n=3, size=64, metrics=["mse", "psnr", "ssim"], progress=False)
    result = discriminator_table(cfg, [0, 1])
    summary = result["summary"]
    assert set(summary["method"]) == set(specs)
    assert (summary["n"] == 2).all()
    assert len(result["runs"]) == 2 and (tmp_path / "seed-1" / "records.jsonl").is_file()


def test_a_sweep_directory_is_not_reused_for_another_protocol(protocol, tmp_path):
    Sweep(protocol, tmp_path, n_boot=10, progress=False)
    Sweep(protocol, tmp_path, n_boot=10, progress=False)  # same protocol: resumes
    with pytest.raises(ValueError, match="different ids_sha256, n"):
        Sweep(load_protocol("builtin", size=64, n=5, seed=0), tmp_path, n_boot=10, progress=False)
    with pytest.raises(ValueError, match="n_boot"):
        Sweep(protocol, tmp_path, n_boot=11, progress=False)


def test_results_csv_drops_a_torn_row(tmp_path):
    table = ResultsCSV(tmp_path / "t.csv", key="channel")
    table.append_row({"channel": 0, "fid": 1.5})
    with open(table.path, "a") as fh:
        fh.write("1,2.")
    assert table.done() == {"0"}
    table.append_row({"channel": 1, "fid": 2.5})
    assert [r["fid"] for r in table.rows()] == ["1.5", "2.5"]


def test_ablate_commands_end_to_end(ckpt, tmp_path):
    from click.testing import CliRunner

    from bench.cli import cli

    out = tmp_path / "disc"
    res = CliRunner().invoke(
        cli,
        [
            "ablate",
            "discriminator",
            "--methods",
            f"iizuka:ckpt={ckpt},iizuka-local:ckpt={ckpt}",
            "--seeds",
            "0,1",
            "--n",
            "2",
            "--size",
            "64",
            "--metrics",
            "mse,psnr,ssim",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (out / "table3.tex").is_file() and (out / "table3_hole.md").is_file()
    assert "PSNR" in (out / "table3.md").read_text()
    out = tmp_path / "ch"
    res = CliRunner().invoke(
        cli,
        [
            "ablate",
            "channels",
            "--base",
            f"iizuka:ckpt={ckpt}",
            "--layers",
            "2",
            "--channels",
            "0,1",
            "--n",
            "3",
            "--size",
            "64",
            "--n-boot",
            "10",
            "--out",
            str(out),
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "conv2: 2 channels" in res.output and (out / "table4.png").is_file()
    assert "| conv2 | 2 |" in (out / "table4.md").read_text()
    assert r"\label{tab:ablation-channels}" in (out / "table4.tex").read_text()
    res = CliRunner().invoke(
        cli,
        [
            "ablate",
            "channels",
            "--base",
            f"iizuka:ckpt={ckpt}",
            "--layers",
            "2",
            "--channels",
            "999",
            "--n",
            "3",
            "--size",
            "64",
            "--n-boot",
            "10",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code != 0 and "outside" in res.output
    res = CliRunner().invoke(
        cli,
        [
            "ablate",
            "channels",
            "--base",
            f"iizuka:ckpt={ckpt}",
            "--layers",
            "2",
            "--n",
            "4",
            "--size",
            "64",
            "--out",
            str(out),
        ],
    )
    assert res.exit_code != 0 and "use a new --out" in res.output


def _row(layer, channel, fid, delta, low, high, hole_psnr):
    return {
        "layer": layer,
        "channel": str(channel),
        "fid": str(fid),
        "fid_delta": str(delta),
        "fid_delta_low": str(low),
        "fid_delta_high": str(high),
        "hole_psnr": str(hole_psnr),
        "hole_ssim": "0.5",
    }


def test_channel_tables_count_both_criteria_by_hand(tmp_path):
    # Baseline FID 10 with interval [8, 12]; by hand: conv1.0 lies outside (13 > 12) and its paired
    # interval excludes 0, conv1.1 is inside but paired-significant upwards, conv1.2 downwards,
    # conv1.3 neither; conv2.0 lies outside below (7.5 < 8) with a paired interval containing 0.
    result = {
        "baseline": {"fid": 10.0, "fid_low": 8.0, "fid_high": 12.0, "hole_psnr": 20.0},
        "layers": {
            "conv1": [
                _row("conv1", 0, 13.0, 3.0, 1.0, 5.0, 18.0),
                _row("conv1", 1, 11.0, 1.0, 0.5, 1.5, 19.5),
                _row("conv1", 2, 9.5, -0.5, -1.0, -0.2, 20.1),
                _row("conv1", 3, 10.1, 0.1, -0.1, 0.3, 20.0),
            ],
            "conv2": [_row("conv2", 0, 7.5, -2.5, -6.0, 0.5, 19.0)],
        },
    }
    summary, outside = channel_tables(result)
    assert summary.loc["conv1"].tolist() == ["4", "9.50-13.00", "1", "3 (2 / 1)", "18.00"]
    assert summary.loc["conv2"].tolist() == ["1", "7.50-7.50", "1", "0 (0 / 0)", "19.00"]
    assert outside.index.tolist() == ["conv1.0", "conv2.0"]  # by FID, highest first
    assert outside.loc["conv1.0", "FID difference [95 % paired]"] == "+3.00 [+1.00, +5.00]"


def test_table4_latex_fits_the_page(tmp_path):
    import shutil

    from bench.commands.ablate import _write_table4

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex is not installed")
    from bench.outputs.report.latex import document
    from tests.outputs.test_report_latex_width import overfull_boxes

    rows = {
        f"conv{L}": [
            _row(f"conv{L}", c, 24.0 + (c % 7) * (3.0 if L == 1 else 0.5), 0.4, 0.1, 0.7, 19.5) for c in range(64)
        ]
        for L in (1, 2, 3, 4, 10, 14, 15, 16)
    }
    result = {"baseline": {"fid": 24.03, "fid_low": 20.62, "fid_high": 28.39, "hole_psnr": 19.82}, "layers": rows}
    _write_table4(result, tmp_path, "iizuka:post=blend", "celeba", "test", 100, 0, "rects", {})
    doc = tmp_path / "doc.tex"
    doc.write_text(document([(tmp_path / "table4.tex").read_text()], title="Table 4"))
    widths = overfull_boxes(doc, tmp_path)
    assert all(w <= 1.0 for w in widths), f"overfull hboxes (pt): {widths}"
