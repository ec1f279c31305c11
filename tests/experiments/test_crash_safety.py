"""Runs and sweeps survive any crash or stop: SIGKILL, SIGTERM and Ctrl-C at seeded moments, torn lines, a full disk.

Each resumed result is compared with an uninterrupted run's, timing columns aside.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from bench.core import files
from bench.experiments.runner import RunConfig, run
from bench.metrics.feature_store import open_store
from bench.outputs.rundir import RunDir
from tests.experiments.crash_loop import BENCH, crash_loop

RUN = ["run", "--methods", "telea,biharmonic,patch", "--n", "8", "--metrics", "mse,psnr,ssim,fid,kid", "--no-progress"]
N_ROWS = 3 * 8
TIMING = {"seconds", "channel_seconds"}


def _rows_without_timing(path: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in TIMING} for r in RunDir(path).read_records()]


def _csv_without_timing(path: Path) -> list[dict]:
    rows = list(csv.DictReader(io.StringIO(path.read_text())))
    return [{k: v for k, v in r.items() if k not in TIMING} for r in rows if r.get("metric") not in TIMING]


def _pngs(path: Path) -> dict[str, bytes]:
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*.png"))}


def _set_metrics(path: Path) -> dict:
    """``set_metrics.json`` without each result's reuse key (its digests are checked through the records)."""
    stored = json.loads((path / "set_metrics.json").read_text())
    for per_method in stored.values():
        for result in per_method.values():
            result["details"].pop("key")
    return stored


def _features(path: Path) -> dict[str, dict[str, bytes]]:
    """Every feature store of a run: ``{file name: {pixel digest: the row's bytes}}``."""
    out = {}
    for file in sorted((path / "features").glob("*.features")):
        store = open_store(file)
        digests = store.digests()
        out[file.name] = dict(zip(digests, (row.tobytes() for row in store.get(digests))))
    return out


def _row_key(row: dict) -> tuple[str, str]:
    return (str(row.get("method")), str(row.get("image_id")))


def assert_same_run(reference: Path, resumed: Path) -> None:
    """Records, set metrics, tables and every PNG of two run directories agree (timing aside)."""
    rows = _rows_without_timing(resumed)
    keys = [(r["method"], r["image_id"]) for r in rows]
    assert len(keys) == len(set(keys)) == N_ROWS, "a (method, image) row is duplicated or missing"
    # With --jobs rows are appended in completion order: the same rows, in any order.
    assert sorted(rows, key=_row_key) == sorted(_rows_without_timing(reference), key=_row_key)
    assert _set_metrics(resumed) == _set_metrics(reference)
    for table in ("records.csv", "summary.csv"):
        ours, theirs = (sorted(_csv_without_timing(d / table), key=str) for d in (resumed, reference))
        assert ours == theirs, table
    assert _pngs(resumed) == _pngs(reference)
    # The stored features too: every image's, once, equal to the uninterrupted run's.
    assert _features(resumed) == _features(reference)
    leftovers = [p.name for p in resumed.rglob(".*.tmp")]
    assert not leftovers, f"half-written temporaries left behind: {leftovers}"


def _run_state(out: Path) -> str:
    rows = len(RunDir(out).read_records()) if (out / "records.jsonl").is_file() else 0
    feats = sum(len(open_store(f)) for f in (out / "features").glob("*.features"))
    return f"{rows} rows, {feats} features" + (", set metrics" if (out / "set_metrics.json").is_file() else "")


def test_a_run_killed_at_20_seeded_moments_ends_as_an_uninterrupted_one(tmp_path):
    loop = crash_loop(
        lambda out: BENCH + RUN + ["--out", str(out)],
        _run_state,
        assert_same_run,
        tmp_path,
        kills=20,
        seed=27,
    )
    assert len(loop.kills) == 20
    print(f"reference {loop.reference_seconds:.1f} s; {loop.episodes} episodes")
    for kill in loop.kills:
        print(f"  episode {kill.episode}: killed after {kill.seconds:.2f} s with {kill.state}")
    # Kills are spread over the run: some land while rows are being written.
    assert any(0 < int(k.state.split()[0]) < N_ROWS for k in loop.kills)


# Two worker processes for the methods and one for FID/KID features: every kind of child a run starts.
STOPPED = [*RUN[:2], "telea,biharmonic,mean", *RUN[3:], "--jobs", "2", "--feature-workers", "1"]


def test_a_run_stopped_by_sigterm_and_ctrl_c_at_seeded_moments_exits_cleanly_and_resumes(tmp_path):
    loop = crash_loop(
        lambda out: BENCH + STOPPED + ["--out", str(out)],
        _run_state,
        assert_same_run,
        tmp_path,
        kills=6,
        seed=33,
        stops=(signal.SIGTERM, signal.SIGINT),
    )
    print(f"reference {loop.reference_seconds:.1f} s; {loop.episodes} episodes")
    for kill in loop.kills:
        print(
            f"  episode {kill.episode}: {kill.signal} after {kill.seconds:.2f} s with {kill.state}, exited in {kill.exit_seconds:.2f} s"
        )
    assert {k.signal for k in loop.kills} == {"SIGTERM", "SIGINT"}
    assert any(0 < int(k.state.split()[0]) < N_ROWS for k in loop.kills)


def _has_dask() -> bool:
    import importlib.util

    return importlib.util.find_spec("distributed") is not None


@pytest.mark.skipif(not _has_dask(), reason="Dask's distributed is not installed (pip install -e '.[cluster]')")
def test_a_run_on_a_local_cluster_stopped_by_sigterm_and_ctrl_c_leaves_no_process_and_resumes(tmp_path):
    cluster = [*RUN[:2], "telea,biharmonic,mean", *RUN[3:], "--cluster", "local:2"]
    loop = crash_loop(
        lambda out: BENCH + cluster + ["--out", str(out)],
        _run_state,
        assert_same_run,
        tmp_path,
        kills=2,
        seed=34,
        earliest=0.5,  # the cluster's start is most of the first half
        stops=(signal.SIGTERM, signal.SIGINT),
    )
    for kill in loop.kills:
        print(
            f"  episode {kill.episode}: {kill.signal} after {kill.seconds:.2f} s with {kill.state}, exited in {kill.exit_seconds:.2f} s"
        )
    assert [k.signal for k in loop.kills] == ["SIGTERM", "SIGINT"]


CHANNELS = ["ablate", "channels", "--layers", "1,16", "--channels", "0,1,2", "--n", "4", "--n-boot", "20"]
CHANNEL_FILES = ["channels_conv1.csv", "channels_conv16.csv", "flagged.csv"]


def _sweep_rows(path: Path) -> list[dict]:
    rows = [{k: v for k, v in r.items() if k not in TIMING} for r in csv.DictReader(io.StringIO(path.read_text()))]
    return sorted(rows, key=lambda r: (r["layer"], int(r["channel"])))


def assert_same_sweep(reference: Path, resumed: Path) -> None:
    """Every channel's row, the baseline and the flagged table of two sweeps agree (timing aside)."""
    for name in CHANNEL_FILES:
        rows = _sweep_rows(resumed / name)
        keys = [(r["layer"], r["channel"]) for r in rows]
        assert len(keys) == len(set(keys)), f"{name}: a channel is duplicated"
        assert rows == _sweep_rows(reference / name), name
    base, ref = (json.loads((d / "baseline.json").read_text()) for d in (resumed, reference))
    assert {k: v for k, v in base.items() if k not in TIMING} == {k: v for k, v in ref.items() if k not in TIMING}
    assert (resumed / "table4.md").read_text() == (reference / "table4.md").read_text()


def _sweep_state(out: Path) -> str:
    done = sum(
        max(0, len((out / name).read_text().splitlines()) - 1) for name in CHANNEL_FILES[:2] if (out / name).is_file()
    )
    return f"{done} channels"


def test_a_channel_sweep_killed_at_20_seeded_moments_ends_as_an_uninterrupted_one(tmp_path):
    loop = crash_loop(
        lambda out: BENCH + CHANNELS + ["--out", str(out), "--no-progress"],
        _sweep_state,
        assert_same_sweep,
        tmp_path,
        kills=20,
        seed=2727,
    )
    print(f"reference {loop.reference_seconds:.1f} s; {loop.episodes} episodes")
    for kill in loop.kills:
        print(f"  episode {kill.episode}: killed after {kill.seconds:.2f} s with {kill.state}")
    assert any(0 < int(k.state.split()[0]) < 6 for k in loop.kills)


# ---------------------------------------------------------------- hand-made damage

CHEAP = dict(methods=["telea", "mean"], n=6, metrics=["mse", "psnr"], progress=False)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(BENCH + list(args), capture_output=True, text=True, timeout=300)


def test_a_torn_tail_and_a_garbage_line_are_set_aside_and_their_rows_redone(tmp_path):
    reference = tmp_path / "reference"
    run(RunConfig(out=reference, **CHEAP))
    out = tmp_path / "run"
    args = ["run", "--methods", "telea,mean", "--n", "6", "--metrics", "mse,psnr", "--no-progress", "--out", str(out)]
    assert _cli(*args).returncode == 0
    records = out / "records.jsonl"
    lines = records.read_bytes().splitlines(keepends=True)
    # Line 4 overwritten by garbage, the last row cut off mid-write: two rows lost on disk.
    damaged = b"".join(lines[:3]) + b"\x00\x00 not a record\n" + b"".join(lines[4:-1]) + lines[-1][:17]
    records.write_bytes(damaged)
    resumed = _cli(*args)
    assert resumed.returncode == 0, resumed.stderr
    said = resumed.stdout + resumed.stderr
    assert "Traceback" not in said
    assert f"{records}: unreadable line 4 and a last line cut short (17 bytes, no newline)" in said
    assert f"moved to {records}.damaged-1" in said
    assert "12 rows (2 computed now, 10 resumed), 0 errors" in resumed.stdout
    assert (out / "records.jsonl.damaged-1").read_bytes() == b"\x00\x00 not a record\n" + lines[-1][:17]
    rows = _rows_without_timing(out)
    assert len({(r["method"], r["image_id"]) for r in rows}) == len(rows) == 12
    assert sorted(rows, key=str) == sorted(_rows_without_timing(reference), key=str)
    # Readers of the repaired directory see every row and no warning.
    again = _cli(*args)
    assert "12 rows (0 computed now, 12 resumed)" in again.stdout and "unreadable" not in again.stderr


def test_a_damaged_feature_store_is_set_aside_and_its_features_extracted_again(tmp_path):
    out = tmp_path / "run"
    args = [
        "run",
        "--methods",
        "telea,mean",
        "--n",
        "6",
        "--metrics",
        "mse,fid,kid",
        "--no-progress",
        "--out",
        str(out),
    ]
    assert _cli(*args).returncode == 0
    (store,) = (out / "features").glob("*.features")
    reference = _features(out)
    fid = {m: r["fid"]["value"] for m, r in json.loads((out / "set_metrics.json").read_text()).items()}
    store.write_bytes(b"\x00" * 64 + store.read_bytes()[64:])  # the header overwritten
    resumed = _cli(*args)
    said = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0 and "Traceback" not in said and "unexpected error" not in said, said
    assert (
        f"{store} was not a readable feature store; moved to {store}.features.damaged-1".replace(
            ".features.features", ".features"
        )
        in said
    )
    assert (out / "features" / f"{store.name}.damaged-1").is_file()
    assert _features(out) == reference  # every row extracted again, the same bytes
    again = json.loads((out / "set_metrics.json").read_text())
    assert {m: r["fid"]["value"] for m, r in again.items()} == fid


def test_a_reader_names_damaged_lines_without_changing_the_file(tmp_path, caplog):
    out = tmp_path / "run"
    run(RunConfig(out=out, **CHEAP))
    records = out / "records.jsonl"
    text = records.read_bytes()
    records.write_bytes(text + b'{"method": "mean"}\n')  # valid JSON, but not a record
    assert len(RunDir(out).read_records()) == 12
    assert f"{records}: unreadable line 13" in caplog.text
    assert records.read_bytes() == text + b'{"method": "mean"}\n'


def _fill_disk_after(monkeypatch, appends: int) -> None:
    """Make the ``appends``-th row append write half its line and fail as a full disk does."""
    real = files.RowLog.append
    calls = {"n": 0}

    def append(self, line):
        calls["n"] += 1
        if calls["n"] == appends:
            self._fh.write(line[: len(line) // 2])
            self._fh.flush()
            raise OSError(errno.ENOSPC, "No space left on device", str(self.path))
        real(self, line)

    monkeypatch.setattr(files.RowLog, "append", append)


def test_a_disk_that_fills_mid_row_is_resumed_once_space_is_back(tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    run(RunConfig(out=reference, **CHEAP))
    out = tmp_path / "run"
    _fill_disk_after(monkeypatch, 5)
    with pytest.raises(OSError, match="No space left"):
        run(RunConfig(out=out, **CHEAP))
    assert len(RunDir(out).read_records()) == 4
    monkeypatch.undo()
    result = run(RunConfig(out=out, **CHEAP))
    assert result.repaired and result.repaired.torn_bytes > 0
    assert (result.rows, result.computed, result.errors) == (12, 8, 0)
    assert _rows_without_timing(out) == _rows_without_timing(reference)
    assert _pngs(out) == _pngs(reference)


def test_a_full_disk_writing_outputs_fails_cleanly_and_resumes(tmp_path, monkeypatch):
    reference = tmp_path / "reference"
    run(RunConfig(out=reference, **CHEAP))
    out = tmp_path / "run"
    real, calls = files.atomic_write, {"n": 0}

    def atomic_write(path, write, **kwargs):
        calls["n"] += 1
        if calls["n"] > 9:  # the six ground truths and a few outputs fit; then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, write, **kwargs)

    monkeypatch.setattr(files, "atomic_write", atomic_write)
    args = ["run", "--methods", "telea,mean", "--n", "6", "--metrics", "mse,psnr", "--no-progress", "--out", str(out)]
    failed = _invoke(*args)
    assert failed.exit_code == 1 and "No space left on device" in failed.output, failed.output
    assert "Traceback" not in failed.output and str(out) in failed.output
    monkeypatch.undo()
    resumed = _invoke(*args)
    assert resumed.exit_code == 0, resumed.output
    assert _rows_without_timing(out) == _rows_without_timing(reference)
    assert _pngs(out) == _pngs(reference)


def _tmpfs_available() -> bool:
    if shutil.which("unshare") is None or sys.platform != "linux":
        return False
    with tempfile.TemporaryDirectory() as mnt:
        probe = f"mount -t tmpfs -o size=1m tmpfs {mnt} && umount {mnt}"
        try:
            command = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", probe]
            return subprocess.run(command, capture_output=True, timeout=20).returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            return False


@pytest.mark.skipif(not _tmpfs_available(), reason="no user namespaces to mount a small tmpfs in")
def test_a_real_full_disk_mid_run_then_a_resume_once_space_is_back(tmp_path):
    reference = tmp_path / "reference"
    metrics = ["--metrics", "mse,psnr,ssim,fid,kid", "--no-progress"]
    base = ["run", "--methods", "telea,mean,biharmonic", "--n", "8", *metrics]
    done = _cli(*base, "--out", str(reference))
    assert done.returncode == 0, done.stderr
    command = " ".join(BENCH + base)
    # A tmpfs with room for about half the run, grown once the first attempt has failed on it.
    script = f"""
        set -u
        mnt={tmp_path}/mnt
        mkdir -p "$mnt"
        mount -t tmpfs -o size=900k tmpfs "$mnt"
        {command} --out "$mnt/run" > {tmp_path}/full.log 2>&1
        echo "first attempt: $?"
        mount -o remount,size=64m "$mnt"
        {command} --out "$mnt/run" > {tmp_path}/resumed.log 2>&1
        echo "resumed: $?"
        cp -a "$mnt/run" {tmp_path}/run
    """
    proc = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", script],
        capture_output=True,
        text=True,
        timeout=600,
    )
    full = (tmp_path / "full.log").read_text()
    assert "first attempt: 1" in proc.stdout, proc.stdout + proc.stderr + full
    assert "No space left on device" in full and "Traceback" not in full, full
    assert re.search(r"Error: \S+/(run|cache)/\S+: No space left on device", full), "names the file it could not write"
    assert "resumed: 0" in proc.stdout, (tmp_path / "resumed.log").read_text()
    assert_same_run(reference, tmp_path / "run")


# ---------------------------------------------------------------- the same damage in a channel sweep


@pytest.fixture(scope="module")
def sweep_reference(tmp_path_factory):
    out = tmp_path_factory.mktemp("sweep") / "reference"
    done = _invoke(*CHANNELS, "--out", str(out), "--no-progress")
    assert done.exit_code == 0, done.output
    return out


def _invoke(*args: str):
    from click.testing import CliRunner

    from bench.cli import cli

    return CliRunner().invoke(cli, list(args))


def test_a_sweep_with_a_torn_tail_and_a_garbage_line_redoes_just_those_channels(sweep_reference, tmp_path, caplog):
    out = tmp_path / "sweep"
    shutil.copytree(sweep_reference, out)
    table = out / "channels_conv1.csv"
    header, first, second, third = table.read_bytes().splitlines(keepends=True)
    table.write_bytes(header + b"conv1,\xff,garbage\n" + second + third[:40])  # channel 0 overwritten, 2 torn
    resumed = _invoke(*CHANNELS, "--out", str(out), "--no-progress")
    assert resumed.exit_code == 0 and "Traceback" not in resumed.output, resumed.output
    assert f"{table}: unreadable line 2 and a last line cut short (40 bytes, no newline); moved to " in caplog.text
    assert (out / "channels_conv1.csv.damaged-1").read_bytes() == b"conv1,\xff,garbage\n" + third[:40]
    assert_same_sweep(sweep_reference, out)


def test_a_sweep_whose_disk_fills_mid_row_resumes_once_space_is_back(sweep_reference, tmp_path, monkeypatch, caplog):
    out = tmp_path / "sweep"
    _fill_disk_after(monkeypatch, 4)  # header and two rows of conv1 fit; the third row is cut in half
    failed = _invoke(*CHANNELS, "--out", str(out), "--no-progress")
    assert failed.exit_code == 1 and "Traceback" not in failed.output, failed.output
    assert f"{out / 'channels_conv1.csv'}: No space left on device" in failed.output
    monkeypatch.undo()
    resumed = _invoke(*CHANNELS, "--out", str(out), "--no-progress")
    assert resumed.exit_code == 0, resumed.output
    assert "channels_conv1.csv: a last line cut short" in caplog.text
    assert_same_sweep(sweep_reference, out)
