"""Outputs of another tool: ``bench export``, a separate program, ``predictions:dir=DIR`` and its errors.

The external program (``tests/external/telea_folder.py``) runs in its own process with a bare
environment: it imports OpenCV only, reads the exported PNGs and writes LaMa-style predictions.
Its scored rows must equal those of the same algorithm run in-process through ``@module:attr``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import CELEBA_ROOT, needs_celeba

from bench.cli import cli
from bench.core.files import write_png
from bench.experiments.export import ExportError, export_protocol
from bench.experiments.runner import RunConfig, run
from bench.inputs.protocol import load_protocol
from bench.outputs.rundir import RunDir
from methods.predictions.folder import PredictionError

EXTERNAL = Path(__file__).resolve().parents[1] / "external"
PIXEL = ["mse", "psnr", "ssim", "l1"]
# What differs between two methods by nature: their time, name and fingerprints (the rows' provenance).
TIMING = ("seconds", "method", "method_sha256", "input_sha256")


def external_tool(indir: Path, outdir: Path) -> None:
    """Run the stand-alone tool as a user would: its own process, no suite on its path."""
    env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp")}
    proc = subprocess.run(
        [sys.executable, "-I", str(EXTERNAL / "telea_folder.py"), str(indir), str(outdir)],
        cwd=outdir.parent,
        env=env,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def exported(tmp_path):
    """A builtin protocol of 6 images exported in LaMa's layout, and the tool's predictions of it."""
    export = tmp_path / "export"
    export_protocol(export, n=6, progress=False, command="test")
    pred = tmp_path / "pred"
    external_tool(export, pred)
    return export, pred


def _rows(rundir: Path, spec: str) -> dict[str, dict]:
    return {
        r["image_id"]: {k: v for k, v in r.items() if k not in TIMING}
        for r in RunDir(rundir).read_records()
        if r["method"] == spec
    }


def _assert_same_row(a: dict, b: dict, image_id: str) -> None:
    """Numbers equal to 1e-12, everything else (status, ids, error text) exactly equal."""
    assert a.keys() == b.keys(), image_id
    for key, value in a.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            assert b[key] == pytest.approx(value, rel=1e-12, abs=1e-12), (image_id, key)
        else:
            assert b[key] == value, (image_id, key)


def test_export_writes_lamas_layout_with_the_runs_mask_hash(tmp_path):
    export = tmp_path / "export"
    res = export_protocol(export, n=4, seed=3, progress=False, command="test")
    proto = load_protocol(n=4, seed=3)
    manifest = json.loads((export / "manifest.json").read_text())
    masks = json.loads((export / "masks.json").read_text())
    assert manifest["mask_sha256"] == masks["sha256"] == proto.manifest["sha256"] == res.manifest["mask_sha256"]
    assert manifest["layout"] == "lama" and manifest["hole_value"] == 255 and manifest["n"] == 4
    assert manifest["dataset"]["preprocess"]["size"] == 160 and manifest["seed"] == 3
    for sample in proto.samples:
        mask = proto.mask(sample.id)
        # Read back with OpenCV, as a tool would.
        image = cv2.imread(str(export / f"{sample.id}.png"), cv2.IMREAD_COLOR)[..., ::-1]
        stored = cv2.imread(str(export / f"{sample.id}_mask000.png"), cv2.IMREAD_UNCHANGED)
        assert stored.ndim == 2 and set(np.unique(stored)) <= {0, 255}
        np.testing.assert_array_equal(stored == 255, mask)
        assert (image[mask] == 0).all()  # no ground truth under the hole
        truth = np.rint(sample.image * 255).astype(np.uint8)
        np.testing.assert_array_equal(image[~mask], truth[~mask])
    # The same protocol as a bench run: its masks.json has the same hash.
    run(RunConfig(methods=["mean"], out=tmp_path / "run", n=4, seed=3, metrics=["mse"], progress=False))
    assert json.loads((tmp_path / "run" / "masks.json").read_text())["sha256"] == manifest["mask_sha256"]


def test_export_resumes_and_refuses_other_folders(tmp_path):
    export = tmp_path / "export"
    assert export_protocol(export, n=3, progress=False).written == 6
    assert export_protocol(export, n=3, progress=False).written == 0  # same bytes: nothing rewritten
    (export / "astronaut-000.png").unlink()
    assert export_protocol(export, n=3, progress=False).written == 1
    with pytest.raises(ExportError, match="holds an export with other masks"):
        export_protocol(export, n=3, seed=1, progress=False)
    with pytest.raises(ExportError, match="holds an export with other layout"):
        export_protocol(export, n=3, layout="mat", progress=False)
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(ExportError, match="exists and is not an empty folder"):
        export_protocol(other, n=3, progress=False)
    res = CliRunner().invoke(cli, ["export", "--n", "3", "--seed", "1", "--out", str(export), "--no-progress"])
    assert res.exit_code == 1 and "holds an export with other masks" in res.output and "Traceback" not in res.output


def test_mat_layout_masks_read_back_by_the_file_family(tmp_path):
    export = tmp_path / "export"
    export_protocol(export, n=4, layout="mat", progress=False)
    proto = load_protocol(n=4)
    for sample in proto.samples:
        stored = cv2.imread(str(export / "masks" / f"{sample.id}.png"), cv2.IMREAD_UNCHANGED)
        np.testing.assert_array_equal(stored == 0, proto.mask(sample.id))  # MAT: 0 = hole
        assert (export / "images" / f"{sample.id}.png").is_file()
    again = load_protocol(n=4, mask_family=f"file:dir={export / 'masks'},hole=0")
    for sample in proto.samples:
        np.testing.assert_array_equal(again.mask(sample.id), proto.mask(sample.id))


def test_an_external_program_scores_as_the_same_algorithm_in_process(tmp_path, exported, monkeypatch):
    export, pred = exported
    monkeypatch.syspath_prepend(str(EXTERNAL))
    folder, inproc = f"predictions:dir={pred},export={export}", "@telea_inprocess:telea"
    res = run(
        RunConfig(
            methods=[folder, inproc],
            out=tmp_path / "run",
            n=6,
            metrics=PIXEL + ["fid", "kid"],
            progress=False,
        )
    )
    assert res.errors == 0 and res.rows == 12
    assert res.mask_hash == json.loads((export / "manifest.json").read_text())["mask_sha256"]
    a, b = _rows(tmp_path / "run", folder), _rows(tmp_path / "run", inproc)
    assert a.keys() == b.keys() and len(a) == 6
    for image_id in a:  # both read the same 8-bit pixels, so PNG quantisation is the only difference: none
        _assert_same_row(a[image_id], b[image_id], image_id)
        assert a[image_id]["raw_known_max_abs"] == 0.0
    sets = json.loads((tmp_path / "run" / "set_metrics.json").read_text())
    assert sets[folder]["fid"]["value"] == pytest.approx(sets[inproc]["fid"]["value"], rel=1e-9)
    # The rest of the suite works unchanged: report (with area bins) and the gate.
    runner = CliRunner()
    rep = runner.invoke(cli, ["report", str(tmp_path / "run"), "--bins", "area"])
    assert rep.exit_code == 0, rep.output
    text = (tmp_path / "run" / "report" / "report.md").read_text()
    assert f"vs {inproc}" in text and "Known pixels changed" not in text
    base = tmp_path / "baseline.json"
    assert runner.invoke(cli, ["check", str(tmp_path / "run"), "--baseline", str(base), "--update"]).exit_code == 0
    assert runner.invoke(cli, ["check", str(tmp_path / "run"), "--baseline", str(base)]).exit_code == 0


@needs_celeba
def test_the_same_proof_on_celeba(tmp_path, monkeypatch):
    export, pred = tmp_path / "export", tmp_path / "pred"
    protocol = {"dataset": "celeba", "data_root": str(CELEBA_ROOT), "n": 5}
    export_protocol(export, progress=False, **protocol)
    external_tool(export, pred)
    monkeypatch.syspath_prepend(str(EXTERNAL))
    folder, inproc = f"predictions:dir={pred},export={export}", "@telea_inprocess:telea"
    res = run(RunConfig(methods=[folder, inproc], out=tmp_path / "run", metrics=PIXEL, progress=False, **protocol))
    assert res.errors == 0
    assert _rows(tmp_path / "run", folder) == _rows(tmp_path / "run", inproc)


def test_missing_mis_sized_and_grey_predictions_are_error_rows_naming_the_file(tmp_path, exported):
    export, pred = exported
    names = sorted(p.name for p in pred.iterdir())
    (pred / names[0]).unlink()
    small = cv2.imread(str(pred / names[1]))
    cv2.imwrite(str(pred / names[1]), cv2.resize(small, (100, 100), interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(pred / names[2]), cv2.imread(str(pred / names[2]), cv2.IMREAD_GRAYSCALE))
    spec = f"predictions:dir={pred},export={export}"
    res = run(RunConfig(methods=[spec], out=tmp_path / "run", n=6, metrics=PIXEL, progress=False))
    rows = {r["image_id"]: r for r in RunDir(tmp_path / "run").read_records()}
    ids = [n[: -len("_mask000.png")] for n in names]
    assert (res.rows, res.errors) == (6, 3)
    assert f"no prediction for image {ids[0]} in {pred}" in rows[ids[0]]["error"]
    assert f"{names[1]}: prediction is 100x100 but image {ids[1]} is 160x160; add resize=1" in rows[ids[1]]["error"]
    assert "1 channel(s); predictions must be RGB" in rows[ids[2]]["error"]
    assert all(rows[i]["status"] == "ok" for i in ids[3:])

    # resize=1: the small one is enlarged (cubic) and scored; the missing and grey ones stay errors.
    spec2 = f"predictions:dir={pred},export={export},resize=1"
    run(RunConfig(methods=[spec2], out=tmp_path / "run2", n=6, metrics=PIXEL, progress=False))
    rows2 = {r["image_id"]: r for r in RunDir(tmp_path / "run2").read_records()}
    assert rows2[ids[1]]["status"] == "ok" and rows2[ids[0]]["status"] == "error"
    stored = cv2.imread(str(pred / names[1]))[..., ::-1].astype(np.float32) / 255
    expected = np.clip(cv2.resize(stored, (160, 160), interpolation=cv2.INTER_CUBIC), 0, 1)
    truth = RunDir(tmp_path / "run2").load_image(ids[1])
    mask = RunDir(tmp_path / "run2").load_mask(ids[1])
    hole = np.rint(expected * 255)[mask] / 255 - truth[mask].astype(np.float64)
    assert rows2[ids[1]]["hole_mse"] == pytest.approx(float(np.mean(hole**2)), rel=1e-5)


def test_folders_that_cannot_be_scored_stop_the_run_before_any_work(tmp_path, exported):
    export, pred = exported
    names = sorted(p.name for p in pred.iterdir())

    def refused(spec: str, match: str, **kw):
        out = tmp_path / f"run{len(list(tmp_path.iterdir()))}"
        with pytest.raises(PredictionError, match=match):
            run(RunConfig(methods=[spec], out=out, n=kw.pop("n", 6), metrics=PIXEL, progress=False, **kw))
        assert not out.exists()

    # Made for other masks.
    refused(f"predictions:dir={pred},export={export}", "was exported under masks sha256", seed=1)
    refused(f"predictions:dir={pred},export={export}", "was exported under masks sha256", n=5)
    # The export folder itself, and an export= without a manifest.
    with pytest.raises(PredictionError, match="is a `bench export` folder"):
        run(RunConfig(methods=[f"predictions:dir={export}"], out=tmp_path / "x", n=6, progress=False))
    with pytest.raises(PredictionError, match="no manifest.json of `bench export`"):
        run(RunConfig(methods=[f"predictions:dir={pred},export={pred}"], out=tmp_path / "x", n=6, progress=False))
    with pytest.raises(PredictionError, match="no such folder"):
        run(RunConfig(methods=[f"predictions:dir={tmp_path / 'nope'}"], out=tmp_path / "x", n=6, progress=False))
    # An extra file: refused, or a warning with allow_extra=1.
    write_png(pred / "stranger.png", np.zeros((160, 160, 3), np.float32))
    refused(f"predictions:dir={pred},export={export}", r"1 PNG\(s\) match no image of this run, e.g. stranger.png")
    ok = run(
        RunConfig(
            methods=[f"predictions:dir={pred},export={export},allow_extra=1"],
            out=tmp_path / "ok",
            n=6,
            metrics=PIXEL,
            progress=False,
        )
    )
    assert ok.errors == 0
    (pred / "stranger.png").unlink()
    # Two files for one image, and a lossy one.
    first = names[0][: -len("_mask000.png")]
    (pred / f"{first}.png").write_bytes((pred / names[0]).read_bytes())
    refused(f"predictions:dir={pred},export={export}", "have two predictions")
    (pred / f"{first}.png").unlink()
    cv2.imwrite(str(pred / f"{names[1][: -len('_mask000.png')]}.jpg"), cv2.imread(str(pred / names[1])))
    refused(f"predictions:dir={pred},export={export}", "are not PNG")


def test_a_tool_that_altered_the_known_pixels_is_named_in_the_report(tmp_path, exported):
    export, pred = exported
    for path in pred.iterdir():  # a tool that brightens its whole output by 10 grey levels
        img = cv2.imread(str(path)).astype(np.int16)
        cv2.imwrite(str(path), np.clip(img + 10, 0, 255).astype(np.uint8))
    spec = f"predictions:dir={pred},export={export}"
    run(RunConfig(methods=[spec, "telea"], out=tmp_path / "run", n=6, metrics=PIXEL, progress=False))
    rows = [r for r in RunDir(tmp_path / "run").read_records() if r["method"] == spec]
    assert all(r["status"] == "ok" for r in rows)
    # Known pixels below 246 moved by exactly 10/255; the composite keeps the input's.
    assert all(r["raw_known_max_abs"] == pytest.approx(10 / 255, abs=1e-6) for r in rows)
    assert all(0 < r["raw_known_mean_abs"] <= 10 / 255 + 1e-6 for r in rows)
    rundir = RunDir(tmp_path / "run")
    for r in rows:
        mask = rundir.load_mask(r["image_id"])
        np.testing.assert_array_equal(
            rundir.load_output(spec, r["image_id"])[~mask], rundir.load_image(r["image_id"])[~mask]
        )
    assert CliRunner().invoke(cli, ["report", str(tmp_path / "run"), "--no-latex"]).exit_code == 0
    text = (tmp_path / "run" / "report" / "report.md").read_text()
    section = text.split("## Known pixels changed by the method", 1)[1].split("##", 1)[0]
    assert f"`{spec}`: 6 of 6 images, largest change 0.0392" in section
    assert "`telea`" not in section


def test_a_missing_folder_is_a_one_line_cli_error(tmp_path):
    res = CliRunner().invoke(
        cli,
        [
            "run",
            "--methods",
            f"predictions:dir={tmp_path / 'nope'}",
            "--n",
            "2",
            "--out",
            str(tmp_path / "run"),
            "--no-progress",
        ],
    )
    assert res.exit_code == 1 and f"predictions:dir={tmp_path / 'nope'}: no such folder" in res.output
    assert "Traceback" not in res.output and not (tmp_path / "run").exists()
