"""The runner end to end: tables, identical masks, resume after a kill, failures kept, telea by hand."""

import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from bench.cli import cli
from bench.core.images import quantize, to_uint8
from bench.core.stats import bootstrap_ci
from bench.experiments.runner import RunConfig, RunConflictError, run
from bench.inputs.data import get_source
from bench.inputs.masks import make_mask
from bench.outputs.rundir import RunDir
from methods.registry import METHODS, Method, register
from tests.conftest import CELEBA_ROOT, needs_celeba

PIXEL = ["mse", "psnr", "ssim", "l1"]


class _Flaky(Method):
    """Fails on one image, returns a wrong shape on another: the run must keep going."""

    def inpaint(self, image, mask):
        if image[0, 0, 0] == self.fail_on:
            raise RuntimeError("boom")
        if image[0, 0, 1] == self.bad_shape_on:
            return image[:-1]
        return image


if "test-flaky" not in METHODS:

    @register("test-flaky", family="test", summary="fails on chosen images (tests only)")
    def _flaky(fail_on: float = -1.0, bad_shape_on: float = -1.0) -> Method:
        m = _Flaky()
        m.fail_on, m.bad_shape_on = fail_on, bad_shape_on
        return m


def _cfg(tmp_path, **kw):
    base = dict(methods=["telea", "mean"], out=tmp_path / "run", n=6, metrics=PIXEL, progress=False)
    base.update(kw)
    return RunConfig(**base)


def test_cli_run_prints_a_table_and_writes_the_run(tmp_path):
    out = tmp_path / "cli"
    args = [
        "run",
        "--methods",
        "telea,ns:radius=5,mean",
        "--n",
        "5",
        "--metrics",
        "mse,psnr,ssim",
        "--out",
        str(out),
        "--no-progress",
    ]
    res = CliRunner().invoke(cli, args)
    assert res.exit_code == 0, res.output
    assert "| telea |" in res.output and "| ns:radius=5 |" in res.output and "hole_psnr" in res.output
    rd = RunDir(out)
    rows = rd.read_records()
    assert len(rows) == 15 and all(r["status"] == "ok" for r in rows)
    for f in (rd.config, rd.masks, rd.records_csv, rd.summary_csv, rd.summary_md, rd.skipped):
        assert f.is_file(), f
    config = rd.read_json(rd.config)
    assert config["mask_sha256"] == rd.read_json(rd.masks)["sha256"]
    assert config["identity"]["dataset"]["preprocess"]["size"] == 160
    assert "numpy" in config["versions"]
    assert rd.output_path("ns:radius=5", rows[0]["image_id"]).is_file()
    again = CliRunner().invoke(cli, args)
    assert "15 rows (0 computed now, 15 resumed)" in again.output


def test_groups_json_and_clustered_summary(tmp_path):
    result = run(_cfg(tmp_path, methods=["mean"], n=14, metrics=["mse", "psnr"]))
    rd = result.rundir
    groups = rd.read_json(rd.groups)
    ids = [r["image_id"] for r in rd.read_records()]
    # 14 crops round robin over the 7 test photos: two crops of each photo, one unit per photo.
    assert groups["unit"] == "builtin source photos" and groups["units"] == 7
    assert groups["groups"] == {i: i.rpartition("-")[0] for i in ids}
    assert "mean [95 % bootstrap interval, resampling builtin source photos (7 units)]" in rd.summary_md.read_text()
    import pandas as pd

    summary = pd.read_csv(rd.summary_csv).set_index(["method", "metric"])
    records = rd.records_frame()
    for col in ("psnr", "hole_mse"):
        want = bootstrap_ci(records[col], [i.rpartition("-")[0] for i in records["image_id"]], seed=0)
        got = summary.loc[("mean", col)]
        assert (got["value"], got["low"], got["high"]) == pytest.approx(want, rel=1e-12)
        assert got["n"] == 14


def test_telea_numbers_match_opencv_by_hand(tmp_path):
    result = run(_cfg(tmp_path, methods=["telea"], n=4))
    samples, _ = get_source("builtin").take(4)
    rows = {r["image_id"]: r for r in result.rundir.read_records()}
    for s in samples:
        # Everything is scored as saved: the image and the output rounded to 8 bits.
        image = (to_uint8(s.image) / np.float32(255)).astype(np.float64)
        mask, _ = make_mask(0, s.id, s.image.shape[:2])
        blanked = image.astype(np.float32)
        blanked[mask] = 0
        raw = cv2.inpaint(to_uint8(blanked), mask.astype(np.uint8), 3.0, cv2.INPAINT_TELEA) / np.float32(255)
        final = np.where(mask[..., None], raw, image)
        target = image
        row = rows[s.id]
        assert row["mse"] == pytest.approx(np.mean((final - target) ** 2), rel=1e-9)
        assert row["hole_mse"] == pytest.approx(np.mean((final[mask] - target[mask]) ** 2), rel=1e-9)
        assert row["psnr"] == pytest.approx(peak_signal_noise_ratio(target, final, data_range=1.0), rel=1e-9)
        assert row["ssim"] == pytest.approx(
            structural_similarity(target, final, data_range=1.0, channel_axis=-1), rel=1e-9
        )
        assert row["mask_area"] == pytest.approx(mask.mean())


def test_same_masks_on_a_second_run_and_other_methods(tmp_path):
    a = run(_cfg(tmp_path, methods=["mean"], out=tmp_path / "a"))
    b = run(_cfg(tmp_path, methods=["telea"], out=tmp_path / "b"))
    assert a.mask_hash == b.mask_hash
    c = run(_cfg(tmp_path, methods=["mean"], out=tmp_path / "c", seed=1))
    assert c.mask_hash != a.mask_hash


def test_resume_refuses_a_different_run(tmp_path):
    run(_cfg(tmp_path, methods=["mean"]))
    with pytest.raises(RunConflictError, match="different masks"):
        run(_cfg(tmp_path, methods=["mean"], seed=3))


def test_failures_are_recorded_not_fatal_and_retried(tmp_path):
    samples, _ = get_source("builtin").take(6)
    # The flaky method sees the 8-bit images the runner benchmarks.
    fail_on, bad = float(quantize(samples[1].image)[0, 0, 0]), float(quantize(samples[3].image)[0, 0, 1])
    spec = f"test-flaky:bad_shape_on={bad!r},fail_on={fail_on!r}"
    result = run(_cfg(tmp_path, methods=[spec]))
    rows = {r["image_id"]: r for r in result.rundir.read_records()}
    assert result.errors == 2 and len(rows) == 6
    assert rows[samples[1].id]["status"] == "error" and "boom" in rows[samples[1].id]["error"]
    assert "shape" in rows[samples[3].id]["error"]
    assert sum(r["status"] == "ok" for r in rows.values()) == 4
    again = run(_cfg(tmp_path, methods=[spec]))
    assert again.computed == 2  # only the failed images are tried again


def test_parallel_jobs_give_identical_numbers(tmp_path):
    one = run(_cfg(tmp_path, methods=["biharmonic"], out=tmp_path / "one", n=4))
    two = run(_cfg(tmp_path, methods=["biharmonic"], out=tmp_path / "two", n=4, jobs=2))
    key = lambda rd: {r["image_id"]: {c: r[c] for c in r if c not in ("seconds",)} for r in rd.read_records()}
    assert key(one.rundir) == key(two.rundir)


def test_a_killed_run_resumes_without_recomputing(tmp_path):
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "bench.cli",
        "run",
        "--methods",
        "biharmonic",
        "--n",
        "60",
        "--metrics",
        "mse,psnr",
        "--out",
        str(out),
        "--no-progress",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    records = out / "records.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline:
        if records.is_file() and records.read_text().count("\n") >= 5:
            break
        time.sleep(0.05)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    before = RunDir(out).read_records()
    assert 5 <= len(before) < 60, "the run finished before it could be killed"
    with open(records, "a") as fh:  # a row cut off mid-write by the kill
        fh.write('{"method": "biharmonic", "image_id": "chel')
    result = run(RunConfig(methods=["biharmonic"], out=out, n=60, metrics=["mse", "psnr"], progress=False))
    assert result.rows == 60
    assert result.computed == 60 - len(before)
    after = {r["image_id"]: r for r in result.rundir.read_records()}
    for r in before:  # finished rows were kept as they were, timing included
        assert after[r["image_id"]] == r


def test_missing_data_root_is_a_clear_cli_error(tmp_path):
    res = CliRunner().invoke(
        cli,
        [
            "run",
            "--methods",
            "telea",
            "--dataset",
            "celeba",
            "--data-root",
            str(tmp_path),
            "--out",
            str(tmp_path / "x"),
        ],
    )
    assert res.exit_code != 0 and "img_align_celeba" in res.output


def test_list_commands():
    res = CliRunner().invoke(cli, ["list", "methods"])
    assert res.exit_code == 0 and "telea" in res.output and "keys: radius=3.0" in res.output
    res = CliRunner().invoke(cli, ["list", "metrics"])
    assert "higher is better" in res.output
    res = CliRunner().invoke(cli, ["list", "datasets"])
    assert "builtin" in res.output


@needs_celeba
def test_celeba_sample_end_to_end(tmp_path):
    cfg = RunConfig(
        methods=["telea", "mean"],
        out=tmp_path / "celeba",
        dataset="celeba",
        data_root=str(CELEBA_ROOT),
        n=10,
        metrics=PIXEL,
        progress=False,
    )
    first = run(cfg)
    assert first.rows == 20 and first.errors == 0
    assert run(cfg).mask_hash == first.mask_hash
    groups = first.rundir.read_json(first.rundir.groups)
    assert groups["unit"] == "CelebA identities" and len(groups["groups"]) == 10
    assert f"resampling CelebA identities ({groups['units']} units)" in first.rundir.summary_md.read_text()
