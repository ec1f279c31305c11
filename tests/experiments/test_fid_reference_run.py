"""A run scored against reference statistics from a file: ``bench stats`` out, ``--fid-reference`` in.

The real side of FID then comes from the file's mean and covariance; with the file of the same
run's real images it must give the FID the run computed from the images themselves (the two
routes, scipy's sqrtm and the n x n Gram trace, agree to ~1e-9 relative at these sizes).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from scipy import linalg

from bench.cli import cli
from bench.metrics.feature_store import open_store

RUN = ["run", "--methods", "telea,mean", "--n", "12", "--size", "64", "--metrics", "mse,fid,kid", "--no-progress"]


@pytest.fixture(scope="module")
def tiny_net(tmp_path_factory):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 6, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()
    path = tmp_path_factory.mktemp("net") / "tiny.pt"
    torch.jit.script(net).save(str(path))
    return str(path)


def _invoke(*args: str):
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result


def test_statistics_exported_by_a_run_score_another_run_as_its_own_images_do(tmp_path, tiny_net):
    first, stats, second = tmp_path / "first", tmp_path / "stats", tmp_path / "second"
    assert _invoke(*RUN, "--fid-features", tiny_net, "--out", str(first)).exit_code == 0
    assert _invoke("stats", str(first), "--out", str(stats), "--format", "pytorch-fid").exit_code == 0
    reference = stats / "pytorch-fid" / "real.npz"
    result = _invoke(*RUN, "--fid-features", tiny_net, "--out", str(second), "--fid-reference", str(reference))
    assert result.exit_code == 0, result.output
    own = json.loads((first / "set_metrics.json").read_text())
    against = json.loads((second / "set_metrics.json").read_text())
    for spec in ("telea", "mean"):
        assert against[spec]["fid"]["value"] == pytest.approx(own[spec]["fid"]["value"], rel=1e-7)
        # KID needs per-image reference features, which a pytorch-fid file does not hold: withheld, with why.
        assert against[spec]["kid"]["value"] is None and against[spec]["kid"]["details"]["withheld"]
    config = json.loads((second / "config.json").read_text())
    assert config["fid_reference"]["format"] == "pytorch-fid"
    assert config["fid_reference"]["sha256"] and config["fid_reference"]["path"].endswith("real.npz")
    # Independently: scipy's Frechet distance between the file's statistics and the stored output features.
    with np.load(reference) as data:
        mu, sigma = data["mu"], data["sigma"]
    store = open_store(next((second / "features").glob("*.features")))
    rows = [json.loads(line) for line in (second / "records.jsonl").read_text().splitlines()]
    fake = store.get([r["output_sha256"] for r in rows if r["method"] == "mean"])
    m2, s2 = fake.mean(0), np.cov(fake, rowvar=False)
    covmean = linalg.sqrtm(sigma @ s2).real
    expected = float(((mu - m2) ** 2).sum() + np.trace(sigma + s2 - 2 * covmean))
    assert against["mean"]["fid"]["value"] == pytest.approx(expected, rel=1e-6)


def test_a_file_of_other_features_is_refused_before_the_run_directory_exists(tmp_path, tiny_net):
    bad = tmp_path / "stats.npz"
    np.savez(bad, mu=np.zeros(2048), sigma=np.eye(2048))
    out = tmp_path / "run"
    result = _invoke(*RUN, "--fid-features", tiny_net, "--out", str(out), "--fid-reference", str(bad))
    assert result.exit_code == 1
    assert str(bad) in result.output and "\n" not in result.output.strip()
    assert not out.exists()
