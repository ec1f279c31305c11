"""What a new user trips over: bad input gets a message naming it, never a traceback or a
half-made run directory; resumes and concurrent runs cannot mix results; photos are read upright."""

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, ImageOps

from bench.cli import cli
from bench.core.images import to_uint8
from bench.experiments.runner import RunConfig, RunConflictError, run
from bench.inputs.data.io import EXIF_ORIENTATION, read_image
from bench.outputs.rundir import RunDir

CHEAP = ["--methods", "telea", "--n", "4", "--no-progress"]


def _read_only_dirs_hold() -> bool:
    """Whether this process is refused writes into a 0555 directory (root usually is not)."""
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp) / "ro"
        probe.mkdir(mode=0o555)
        try:
            (probe / "x").touch()
        except PermissionError:
            return True
        finally:
            probe.chmod(0o755)
        return False


needs_read_only = pytest.mark.skipif(not _read_only_dirs_hold(), reason="this user can write into read-only dirs")


def _bench(*args: str):
    return CliRunner().invoke(cli, ["run", *args])


def _refused(res, *words: str) -> str:
    """Assert ``res`` failed with a message (click's exit, not an exception) that contains ``words``."""
    assert res.exit_code != 0, res.output
    assert isinstance(res.exception, SystemExit), f"traceback instead of a message: {res.exception!r}"
    text = " ".join(res.output.split())  # click wraps long messages
    for word in words:
        assert word in text, (word, text)
    return text


# ---------------------------------------------------------------- resuming with other metrics


def test_resuming_with_other_metrics_scores_the_saved_outputs_again_without_running_a_method(tmp_path):
    out = tmp_path / "run"
    assert _bench(*CHEAP, "--metrics", "mse,psnr,ssim", "--out", str(out)).exit_code == 0
    rd = RunDir(out)
    before = {(r["method"], r["image_id"]): r for r in rd.read_records()}

    changed = _bench(*CHEAP, "--metrics", "mse,l1", "--out", str(out))
    assert changed.exit_code == 0, changed.output
    assert "0 computed now" in changed.output and "scored again from their saved outputs" in changed.output
    after = {(r["method"], r["image_id"]): r for r in rd.read_records()}
    assert after.keys() == before.keys()
    for key, row in after.items():
        # The method's output and time are the first run's; the metrics are those asked for now.
        assert row["output_sha256"] == before[key]["output_sha256"] and row["seconds"] == before[key]["seconds"]
        assert row["mse"] == before[key]["mse"] and "l1" in row and "psnr" not in row and "ssim" not in row
        # l1 of the saved PNGs, computed here from the files.
        output, target = rd.load_output(*key), rd.load_image(key[1])
        assert row["l1"] == pytest.approx(float(np.abs(output - target).mean()), rel=1e-6)

    again = _bench(*CHEAP, "--metrics", "mse,l1", "--out", str(out))
    assert again.exit_code == 0 and "0 computed now" in again.output and "scored again" not in again.output


def test_a_run_that_only_failed_so_far_may_change_its_metrics(tmp_path):
    # Error rows carry no metric values and are retried, so nothing would be left half scored.
    out = tmp_path / "run"
    run(RunConfig(methods=["mean"], out=out, n=2, metrics=["mse"], progress=False))
    rd = RunDir(out)
    rows = [{**r, "status": "error", "error": "boom"} for r in rd.read_records()]
    rd.records_jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
    result = run(RunConfig(methods=["mean"], out=out, n=2, metrics=["mse", "l1"], progress=False))
    assert result.computed == 2 and result.errors == 0
    assert {"mse", "l1"} <= set(result.rundir.read_records()[-1])


# ---------------------------------------------------------------- one writer per run directory


def test_a_second_writer_is_refused_at_once_naming_the_directory(tmp_path):
    out = tmp_path / "run"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\nfrom bench.outputs.rundir import RunDir\n"
            "with RunDir(sys.argv[1]).writing():\n    print('locked', flush=True)\n    time.sleep(120)\n",
            str(out),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        _refused(
            _bench(*CHEAP, "--metrics", "mse,psnr", "--out", str(out)),
            str(out),
            "another bench run",
            f"pid {holder.pid}",
        )
        assert not RunDir(out).records_jsonl.exists() and not RunDir(out).config.exists()  # nothing computed
    finally:
        holder.kill()
        holder.wait()
    # The lock dies with its holder: no stale lock to clean up by hand.
    assert _bench(*CHEAP, "--metrics", "mse,psnr", "--out", str(out)).exit_code == 0


def test_the_lock_is_released_when_a_run_fails(tmp_path):
    out = tmp_path / "run"
    run(RunConfig(methods=["mean"], out=out, n=2, metrics=["mse"], progress=False))
    with pytest.raises(RunConflictError, match="different masks"):
        run(RunConfig(methods=["mean"], out=out, n=2, seed=1, metrics=["mse"], progress=False))
    with RunDir(out).writing():
        pass


# ---------------------------------------------------------------- messages instead of tracebacks


def test_an_empty_image_folder_is_named_and_leaves_no_run_directory(tmp_path):
    empty, out = tmp_path / "photos", tmp_path / "run"
    empty.mkdir()
    (empty / "notes.txt").write_text("not an image")
    _refused(
        _bench(*CHEAP, "--dataset", "folder", "--data-root", str(empty), "--out", str(out)), str(empty), ".jpg", ".png"
    )
    assert not out.exists()


def test_a_folder_of_broken_images_is_named_with_the_reason(tmp_path):
    folder, out = tmp_path / "photos", tmp_path / "run"
    folder.mkdir()
    (folder / "a.jpg").write_bytes(b"not a jpeg at all")
    _refused(
        _bench(*CHEAP, "--dataset", "folder", "--data-root", str(folder), "--out", str(out)),
        str(folder),
        "a.jpg",
        "corrupt",
    )
    assert not out.exists()


@pytest.mark.parametrize("option, value", [("--n", "-3"), ("--seed", "-1"), ("--jobs", "0"), ("--size", "-1")])
def test_negative_numbers_are_rejected_by_the_option(tmp_path, option, value):
    args = ["--methods", "telea", "--metrics", "mse", "--out", str(tmp_path / "run"), option, value]
    _refused(_bench(*args), option, value)
    assert not (tmp_path / "run").exists()


def test_an_unknown_method_leaves_no_run_directory(tmp_path):
    out = tmp_path / "run"
    _refused(_bench("--methods", "telea,teela", "--n", "4", "--out", str(out)), "teela", "telea")
    assert not out.exists()


def test_an_out_that_cannot_be_a_directory_is_a_message(tmp_path):
    afile = tmp_path / "afile"
    afile.write_text("")
    _refused(_bench(*CHEAP, "--metrics", "mse", "--out", str(afile / "run")), str(afile / "run"), "--out")


@needs_read_only
def test_a_read_only_out_is_a_message(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    out.chmod(0o555)
    try:
        _refused(_bench(*CHEAP, "--metrics", "mse", "--out", str(out)), str(out), "writable --out")
    finally:
        out.chmod(0o755)


def _snapshot(path):
    return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in path.rglob("*") if p.name != ".lock"}


def test_reopening_a_finished_run_writes_nothing(tmp_path):
    cfg = RunConfig(methods=["telea", "mean"], out=tmp_path / "run", n=4, metrics=["mse", "psnr"], progress=False)
    first = run(cfg)
    before = _snapshot(cfg.out)
    again = run(cfg)
    assert again.computed == 0 and again.markdown == first.markdown
    assert _snapshot(cfg.out) == before  # config.json included: it is only rewritten when it changed


@needs_read_only
def test_a_finished_run_in_a_read_only_directory_reopens(tmp_path):
    cfg = RunConfig(methods=["mean"], out=tmp_path / "run", n=2, metrics=["mse"], progress=False)
    first = run(cfg)
    dirs = [cfg.out, *(p for p in cfg.out.rglob("*") if p.is_dir())]
    for d in dirs:
        d.chmod(0o555)
    try:
        assert run(cfg).markdown == first.markdown
    finally:
        for d in dirs:
            d.chmod(0o755)


def test_run_help_prints_a_single_percent_sign():
    res = CliRunner().invoke(cli, ["run", "--help"])
    assert res.exit_code == 0
    text = " ".join(res.output.split())
    assert "rectangles <= 25 %" in text and "%%" not in text


# ---------------------------------------------------------------- photos are read upright


def test_a_jpeg_taken_upright_is_read_upright(tmp_path, small_image):
    # A camera held upright stores the pixels sideways and tags them: orientation 6 = rotate 90 degrees clockwise.
    stored = to_uint8(small_image[:, :40])  # 64 x 40, so a missed rotation also shows in the shape
    Image.fromarray(stored).save(tmp_path / "plain.jpg", quality=95)
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = 6
    Image.fromarray(stored).save(tmp_path / "tagged.jpg", quality=95, exif=exif)
    upright = read_image(tmp_path / "tagged.jpg")
    assert upright.shape == (40, 64, 3)
    np.testing.assert_array_equal(upright, np.rot90(read_image(tmp_path / "plain.jpg"), -1))


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_matches_pillow(tmp_path, small_image, orientation):
    exif = Image.Exif()
    exif[EXIF_ORIENTATION] = orientation
    path = tmp_path / f"o{orientation}.png"  # lossless, so the pixels must agree exactly
    Image.fromarray(to_uint8(small_image[:, :40])).save(path, exif=exif)
    with Image.open(path) as im:
        want = np.asarray(ImageOps.exif_transpose(im).convert("RGB"), dtype=np.float32) / np.float32(255.0)
    np.testing.assert_array_equal(read_image(path), want)


# ---------------------------------------------------------------- very large images at --size 0


def test_a_huge_image_at_native_size_is_warned_about_by_name(tmp_path, caplog):
    from bench.inputs.protocol import load_protocol

    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, (2000, 2100, 3), dtype=np.uint8)).save(folder / "huge.png")
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(folder / "tiny.png")
    with caplog.at_level("WARNING", logger="bench"):
        load_protocol("folder", str(folder), size=0, n=None)
    text = " ".join(r.getMessage() for r in caplog.records)
    assert "huge" in text and "2100x2000" in text and "--size" in text
    assert "tiny" not in text and "1 image(s)" in text
    caplog.clear()
    with caplog.at_level("WARNING", logger="bench"):
        load_protocol("folder", str(folder), size=160, n=None)
    assert "megapixels" not in " ".join(r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------- Ctrl-C during the FID stage


@pytest.mark.slow
def test_ctrl_c_during_fid_stops_the_run_and_it_resumes_without_recomputing(tmp_path):
    # TorchScript runs a whole Inception batch before Python sees SIGINT; small batches keep the wait
    # to one batch (the 60 s bound only guards against a hang, it is not a speed target).
    import signal
    import time

    out = tmp_path / "run"
    args = [
        sys.executable,
        "-m",
        "bench.cli",
        "run",
        "--methods",
        "mean",
        "--n",
        "32",
        "--metrics",
        "psnr,fid",
        "--out",
        str(out),
        "--no-progress",
        "--feature-workers",
        "0",
    ]
    # A shell that starts a job in the background hands it SIGINT ignored, and Python then keeps it
    # ignored: restore the default so the child gets Ctrl-C as from a terminal.
    proc = subprocess.Popen(
        args, stderr=subprocess.PIPE, text=True, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL)
    )
    records = out / "records.jsonl"
    deadline = time.time() + 300
    while not (records.is_file() and len(records.read_text().splitlines()) == 32):
        assert proc.poll() is None and time.time() < deadline, "the run ended before its FID stage"
        time.sleep(0.05)
    # Every record is written: the run is now in its set-metric stage (64 Inception passes, seconds).
    proc.send_signal(signal.SIGINT)
    try:
        _, err = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        pytest.fail("Ctrl-C during the FID stage did not stop the run within 60 s")
    assert proc.returncode != 0 and "Traceback" not in err and "Aborted" in err, err
    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert "0 computed now, 32 resumed" in done.stdout, done.stdout
