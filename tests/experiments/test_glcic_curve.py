"""Learning curves: snapshots scored on a fixed probe, checked against independent computations."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch

from bench.core.images import composite, from_uint8, to_uint8
from bench.experiments.curve import ProbeScorer, ProbeSpec, evaluate_run, plot_curves, snapshots
from bench.inputs.protocol import load_protocol
from bench.metrics.frechet import feature_stats, frechet_distance
from methods.glcic.config import load_config
from methods.glcic.inference import GLCIC
from methods.glcic.train import Trainer

TINY = Path(__file__).resolve().parents[1] / "glcic_tiny.toml"

pytestmark = pytest.mark.usefixtures("one_thread")


class CountingExtractor:
    """Wraps the real extractor and counts the images it sees."""

    def __init__(self, inner):
        self.inner, self.seen = inner, 0
        self.sha256 = inner.sha256
        self.identity = inner.identity

    def __call__(self, images, batch_size=32, progress=False):
        self.seen += len(images)
        return self.inner(images, batch_size=batch_size, progress=progress)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("curve") / "run"
    Trainer(load_config(TINY).with_overrides(snapshot_every=3), out, progress=False).run()
    return out


def test_curve_rows_match_an_independent_computation(tiny_run, tmp_path):
    from bench.metrics.fid import load_extractor

    spec = ProbeSpec(dataset="builtin", split="test", n=6, seed=0)
    extractor = CountingExtractor(load_extractor())
    scorer = ProbeScorer(spec, extractor=extractor)
    out_csv = evaluate_run(
        tiny_run, spec, baselines=("mean",), out_csv=tmp_path / "curve.csv", scorer=scorer, progress=False
    )
    with open(out_csv, newline="") as fh:
        rows = list(csv.DictReader(fh))
    steps = [int(p.name[5:12]) for p in snapshots(tiny_run)]
    assert steps == [3, 6, 7]
    assert [r["label"] for r in rows] == ["mean", "snapshot", "snapshot", "snapshot"]
    assert [int(r["step"]) for r in rows[1:]] == steps
    assert [int(r["samples_seen"]) for r in rows[1:]] == [s * 2 for s in steps]  # batch 2
    assert [int(r["phase"]) for r in rows[1:]] == [1, 3, 3]

    # Independent: numpy hole PSNR over the composited, 8-bit outputs and scipy-sqrtm FID.
    protocol = load_protocol("builtin", split="test", n=6, seed=0)
    weights = torch.load(snapshots(tiny_run)[-1], weights_only=True)
    net = GLCIC(weights)
    finals, psnrs = [], []
    for s in protocol.samples:
        mask = protocol.mask(s.id)
        blanked = s.image.copy()
        blanked[mask] = 0
        # Scored as saved: the composited output rounded to 8 bits.
        out = from_uint8(to_uint8(composite(net.inpaint(blanked, mask), s.image, mask)))
        err = np.mean((out[mask].astype(np.float64) - s.image[mask].astype(np.float64)) ** 2)
        psnrs.append(10 * np.log10(1.0 / err))
        finals.append(out)
    assert float(rows[-1]["hole_psnr"]) == pytest.approx(np.mean(psnrs), rel=1e-5)
    real = extractor.inner([from_uint8(to_uint8(s.image)) for s in protocol.samples])
    fake = extractor.inner(finals)
    ref_fid = frechet_distance(*feature_stats(real), *feature_stats(fake))
    assert float(rows[-1]["fid"]) == pytest.approx(ref_fid, rel=1e-3, abs=1e-2)

    # Resuming scores nothing again: no new feature extraction.
    seen = extractor.seen
    evaluate_run(tiny_run, spec, baselines=("mean",), out_csv=out_csv, scorer=scorer, progress=False)
    assert extractor.seen == seen
    with open(out_csv, newline="") as fh:
        assert len(list(csv.DictReader(fh))) == 4

    # Another probe into the same CSV is refused.
    with pytest.raises(ValueError, match="another probe"):
        evaluate_run(
            tiny_run, ProbeSpec(dataset="builtin", split="test", n=5), out_csv=out_csv, scorer=scorer, progress=False
        )

    png = plot_curves({"tiny": out_csv}, tmp_path / "curve.png")
    assert png.stat().st_size > 0 and png.with_suffix(".pdf").exists()


def test_curve_cli_errors_name_the_problem(tmp_path):
    from click.testing import CliRunner

    from bench.cli import cli

    (tmp_path / "empty").mkdir()
    res = CliRunner().invoke(cli, ["curve", str(tmp_path / "empty"), "--dataset", "builtin", "--split", "test"])
    assert res.exit_code != 0 and "no snapshots/" in res.output
    res = CliRunner().invoke(cli, ["curve", str(tmp_path / "empty"), "--n", "1"])
    assert res.exit_code != 0 and "--n 1" in res.output


def test_a_damaged_curve_csv_is_repaired_and_only_the_lost_rows_are_scored_again(tiny_run, tmp_path, caplog):
    spec = ProbeSpec(dataset="builtin", split="test", n=4, seed=0)
    scorer = ProbeScorer(spec)
    reference = evaluate_run(tiny_run, spec, baselines=("mean",), out_csv=tmp_path / "a.csv", scorer=scorer)
    damaged = tmp_path / "b.csv"
    lines = reference.read_bytes().splitlines(keepends=True)  # header, mean, snapshots 3, 6, 7
    damaged.write_bytes(lines[0] + lines[1] + b"snapshot,\x00\x00\n" + lines[3] + lines[4][:25])
    damaged.with_suffix(".probe").write_text(reference.with_suffix(".probe").read_text())
    scored, score = [], scorer.score
    scorer.score = lambda method, label: scored.append(label) or score(method, label)
    evaluate_run(tiny_run, spec, baselines=("mean",), out_csv=damaged, scorer=scorer, progress=False)
    assert f"{damaged}: unreadable line 3 and a last line cut short (25 bytes, no newline); moved to" in caplog.text
    assert scored == ["snapshot-3", "snapshot-7"], "only the lost rows are scored again"
    key = lambda r: (r["label"], r["step"])  # noqa: E731
    with open(reference, newline="") as a, open(damaged, newline="") as b:
        assert sorted(csv.DictReader(a), key=key) == sorted(csv.DictReader(b), key=key)
