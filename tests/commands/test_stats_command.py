"""``bench stats RUN --out DIR``: a run's FID statistics as pytorch-fid and clean-fid files.

Each file's ``mu``/``sigma`` is checked against ``np.mean``/``np.cov`` of the features parsed here
straight from the run's store file; pytorch-fid's own reader loads the ``.npz`` files, and
clean-fid's own ``kernel_distance`` on the exported per-image features gives the run's KID.
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import shutil
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import cli
from tests.outputs.test_report_bins_features import features_of, records, small_run


@pytest.fixture(scope="module")
def run12(tmp_path_factory) -> Path:
    return small_run(tmp_path_factory.mktemp("stats") / "run")


@pytest.fixture(scope="module")
def exported(run12, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("statsout") / "stats"
    res = CliRunner().invoke(cli, ["stats", str(run12), "--out", str(out)])
    assert res.exit_code == 0, res.output
    return out


def _sets(run_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{file name: (real features, features of the set)}`` read straight from the store."""
    ok = records(run_dir)
    out = {}
    for method in ("telea", "mean"):
        ids = list(ok[ok["method"] == method]["image_id"])
        out[method] = features_of(run_dir, method, ids)
    out["real"] = (out["telea"][0], out["telea"][0])  # both methods succeeded on all 12 images
    return out


def test_files_hold_the_mean_and_covariance_of_the_stored_features(run12, exported):
    assert sorted(p.name for p in (exported / "pytorch-fid").iterdir()) == ["mean.npz", "real.npz", "telea.npz"]
    for name, (real, fake) in _sets(run12).items():
        feats = real if name == "real" else fake
        assert feats.shape == (12, 2048)
        with np.load(exported / "pytorch-fid" / f"{name}.npz") as f:
            np.testing.assert_allclose(f["mu"], np.mean(feats, axis=0), rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(f["sigma"], np.cov(feats, rowvar=False), rtol=1e-10, atol=1e-12)
        stem = exported / "clean-fid" / f"{name}_legacy_pytorch_custom_na"
        with np.load(f"{stem}.npz") as f, np.load(f"{stem}_kid.npz") as k:
            np.testing.assert_allclose(f["mu"], np.mean(feats, axis=0), rtol=1e-12, atol=1e-12)
            np.testing.assert_allclose(f["sigma"], np.cov(feats, rowvar=False), rtol=1e-10, atol=1e-12)
            np.testing.assert_array_equal(np.asarray(k["feats"], dtype=np.float64), feats)
    readme = (exported / "README.txt").read_text()
    assert readme.count("\n") == 1 and "pytorch-fid/NAME.npz" in readme and "clean-fid/" in readme


def _torchvision_stand_in() -> dict[str, types.ModuleType]:
    """Names pytorch-fid and clean-fid import from torchvision at module level (absent here, unused below)."""
    import torch

    tv = types.ModuleType("torchvision")
    tv.__version__ = "0.0"
    transforms = types.ModuleType("torchvision.transforms")
    models = types.ModuleType("torchvision.models")
    inception = types.ModuleType("torchvision.models.inception")
    for name in ("InceptionA", "InceptionC", "InceptionE"):
        setattr(inception, name, type(name, (torch.nn.Module,), {}))
    tv.transforms, tv.models, models.inception = transforms, models, inception
    return {
        "torchvision": tv,
        "torchvision.transforms": transforms,
        "torchvision.models": models,
        "torchvision.models.inception": inception,
    }


@pytest.fixture
def their_modules():
    """pytorch-fid's ``fid_score`` and clean-fid's ``fid``, imported beside a stand-in torchvision, then forgotten."""
    for dist in ("pytorch_fid", "cleanfid"):
        if importlib.util.find_spec(dist) is None:
            pytest.skip(f"{dist} is not installed (pip install pytorch-fid clean-fid)")
    before = set(sys.modules)
    with pytest.MonkeyPatch.context() as mp:
        for name, module in _torchvision_stand_in().items():
            mp.setitem(sys.modules, name, module)
        yield importlib.import_module("pytorch_fid.fid_score"), importlib.import_module("cleanfid.fid")
    for name in set(sys.modules) - before:
        if name.split(".")[0] in ("pytorch_fid", "cleanfid", "torchvision"):
            del sys.modules[name]


def test_their_own_code_reads_the_files(run12, exported, their_modules):
    fid_score, clean_fid = their_modules
    sets = _sets(run12)
    # pytorch-fid takes a path ending in .npz as statistics (its model is not used for one).
    mu, sigma = fid_score.compute_statistics_of_path(str(exported / "pytorch-fid" / "telea.npz"), None, 50, 2048, "cpu")
    np.testing.assert_allclose(mu, sets["telea"][1].mean(axis=0), rtol=1e-12, atol=1e-12)
    assert sigma.shape == (2048, 2048)
    # clean-fid's KID of the exported per-image features is the run's KID (one subset holds all 12).
    stem = exported / "clean-fid"
    with (
        np.load(stem / "real_legacy_pytorch_custom_na_kid.npz") as r,
        np.load(stem / "telea_legacy_pytorch_custom_na_kid.npz") as t,
    ):
        theirs = clean_fid.kernel_distance(np.asarray(r["feats"], np.float64), np.asarray(t["feats"], np.float64))
    own = json.loads((run12 / "set_metrics.json").read_text())["telea"]["kid"]["value"]
    assert theirs == pytest.approx(own, rel=1e-6)


def test_one_format_only_and_a_second_export_into_the_same_folder(run12, tmp_path):
    out = tmp_path / "s"
    for _ in range(2):  # the folder is the command's own the second time
        res = CliRunner().invoke(cli, ["stats", str(run12), "--out", str(out), "--format", "pytorch-fid"])
        assert res.exit_code == 0, res.output
    assert (out / "pytorch-fid" / "real.npz").is_file() and not (out / "clean-fid").exists()
    # Another command's directory is refused.
    res = CliRunner().invoke(cli, ["stats", str(run12), "--out", str(run12)])
    assert res.exit_code == 1 and "bench stats" in res.output


def test_a_run_without_its_store_is_refused_in_one_line(run12, tmp_path):
    gone = tmp_path / "run"
    shutil.copytree(run12, gone)
    shutil.rmtree(gone / "features")
    res = CliRunner().invoke(cli, ["stats", str(gone), "--out", str(tmp_path / "s")])
    assert res.exit_code == 1
    (line,) = res.output.strip().splitlines()
    assert str(gone) in line and "no stored features" in line and "`bench run`" in line
    assert not (tmp_path / "s").exists()
