"""Runs and sweeps on Dask: real scheduler and worker processes, a worker killed mid-run, same records.

The cluster tests start ``dask scheduler`` and ``dask worker`` processes on loopback
ports (or an embedded ``LocalCluster``) and stop every one of them in a finalizer.
Records of a cluster run must equal a local run's except the timing column.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from bench.cli import cli
from bench.engine.address import ClusterError, parse_cluster
from bench.experiments.runner import RunConfig, run
from bench.outputs.rundir import RunDir

TIMING = ("seconds",)
PIXEL = ["mse", "psnr", "ssim"]
needs_dask = pytest.mark.skipif(
    not __import__("importlib").util.find_spec("distributed"),
    reason="dask[distributed] not installed (extra 'cluster')",
)


# ---------------------------------------------------------------- helpers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _records(rundir: Path) -> list[dict]:
    return RunDir(rundir).read_records()


def _without_timing(rows: list[dict]) -> dict[tuple[str, str], dict]:
    keyed = {(r["method"], r["image_id"]): {k: v for k, v in r.items() if k not in TIMING} for r in rows}
    assert len(keyed) == len(rows), "duplicate (method, image) rows"
    return keyed


def _assert_same_run(cluster_dir: Path, local_dir: Path) -> None:
    """Records equal except timing; output PNGs byte-identical; records.csv equal except timing."""
    import pandas as pd

    assert _without_timing(_records(cluster_dir)) == _without_timing(_records(local_dir))
    a = pd.read_csv(cluster_dir / "records.csv").drop(columns=list(TIMING))
    b = pd.read_csv(local_dir / "records.csv").drop(columns=list(TIMING))
    pd.testing.assert_frame_equal(a, b)
    outputs = sorted(p.relative_to(local_dir) for p in (local_dir / "outputs").rglob("*.png"))
    assert outputs and outputs == sorted(p.relative_to(cluster_dir) for p in (cluster_dir / "outputs").rglob("*.png"))
    for rel in outputs:
        assert (cluster_dir / rel).read_bytes() == (local_dir / rel).read_bytes(), rel


def _wait_rows(path: Path, rows: int, proc: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if path.is_file() and path.read_text().count("\n") >= rows:
            return
        if proc.poll() is not None:
            raise AssertionError(f"the run ended (rc {proc.returncode}) before {rows} rows were written")
        time.sleep(0.05)
    raise AssertionError(f"no {rows} rows in {path} after {timeout} s")


class Processes:
    """Processes a test starts, each in its own session so that stop() ends it with its children."""

    def __init__(self, logs: Path):
        self.procs: list[subprocess.Popen] = []
        self.logs = logs
        logs.mkdir(parents=True, exist_ok=True)

    def start(self, name: str, cmd: list[str], env: dict | None = None) -> subprocess.Popen:
        with open(self.logs / f"{name}.log", "wb") as log:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, env={**os.environ, **(env or {})}
            )
        self.procs.append(proc)
        return proc

    def log(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")

    def stop(self) -> None:
        # Newest first: workers and clients leave before their scheduler, instead of waiting to reconnect.
        for proc in reversed(self.procs):
            if proc.poll() is None:
                try:
                    os.killpg(proc.pid, signal.SIGTERM)
                except ProcessLookupError:
                    pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


@pytest.fixture
def processes(tmp_path):
    procs = Processes(tmp_path / "logs")
    yield procs
    procs.stop()


def _dask(*args: str) -> list[str]:
    # The `dask` command of this interpreter's environment, whatever PATH says.
    script = Path(sys.executable).with_name("dask")
    return [str(script), *args] if script.is_file() else [sys.executable, "-m", "dask", *args]


def start_cluster(processes: Processes, workers: int = 2, worker_env: list[dict] | None = None):
    """A scheduler on a free loopback port and ``workers`` worker processes (no nanny: a killed one stays dead)."""
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes.start("scheduler", _dask("scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"))
    procs = []
    for k in range(workers):
        env = {"OMP_NUM_THREADS": "1", **((worker_env or [{}] * workers)[k])}
        procs.append(
            processes.start(
                f"worker{k}",
                _dask("worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard", "--name", f"w{k}"),
                env,
            )
        )
    with Client(address, timeout=60) as client:
        client.wait_for_workers(workers, timeout=120)
    return address, procs


def _bench_run(out: Path, cluster: str | None, methods: str = "telea,biharmonic", n: int = 8) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "bench.cli",
        "run",
        "--methods",
        methods,
        "--n",
        str(n),
        "--metrics",
        ",".join(PIXEL),
        "--out",
        str(out),
        "--no-progress",
    ]
    return cmd + (["--cluster", cluster] if cluster else [])


# ---------------------------------------------------------------- no cluster, no Dask


def test_parse_cluster_forms_and_errors():
    assert parse_cluster("local:2").local_workers == 2
    assert parse_cluster("tcp://127.0.0.1:8786").scheduler == "tcp://127.0.0.1:8786"
    for bad in ("local:0", "local", "127.0.0.1:8786", "tcp://host", "tcp://host:99999", ""):
        with pytest.raises(ClusterError, match="--cluster"):
            parse_cluster(bad)


def test_bad_cluster_value_is_a_usage_error(tmp_path):
    res = CliRunner().invoke(
        cli, ["run", "--methods", "mean", "--n", "2", "--out", str(tmp_path / "r"), "--cluster", "localhost:8786"]
    )
    assert res.exit_code == 2 and "expected local:N" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r").exists()


def test_a_run_without_cluster_does_not_import_dask(tmp_path):
    code = (
        "import sys; from click.testing import CliRunner; from bench.cli import cli; "
        f"res = CliRunner().invoke(cli, ['run', '--methods', 'mean,telea', '--n', '3', '--metrics', 'mse', "
        f"'--out', {str(tmp_path / 'r')!r}, '--no-progress']); "
        "assert res.exit_code == 0, res.output; "
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')); "
        "print('LOADED', loaded)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert "LOADED []" in done.stdout


def test_worker_refuses_other_pixels(tmp_path):
    from bench.core.images import quantize
    from bench.engine.tasks import DataMismatchError, data_ref, image_sha256, samples
    from bench.inputs.data import get_source

    image = quantize(get_source("builtin").load("astronaut-000"))
    good = samples(data_ref("builtin", None, "test", 160), ["astronaut-000"], [image_sha256(image)])
    assert np.array_equal(good[0].image, image)
    with pytest.raises(DataMismatchError, match="astronaut-000 with other pixels"):
        samples(data_ref("builtin", None, "test", 160), ["astronaut-000"], ["0" * 64])
    with pytest.raises(DataMismatchError, match="cannot open --dataset folder"):
        samples(data_ref("folder", tmp_path / "nowhere", "test", 160), ["x"], ["0" * 64])


def test_chunks_are_small_whole_batches():
    from bench.engine.dask_executor import MAX_CHUNK, chunk_size

    for n in (1, 7, 8, 40, 280, 10_000):
        for workers in (1, 2, 16):
            size = chunk_size(n, workers)
            assert 1 <= size <= MAX_CHUNK
            assert size == 1 or -(-n // size) >= workers  # every worker gets a unit when there are enough images
            assert chunk_size(n, workers, batch_size=16) % 16 == 0


# ---------------------------------------------------------------- real scheduler and workers


@needs_dask
@pytest.mark.slow
def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    import dask
    import distributed  # noqa: F401  (registers its config first: leaving dask.config.set restores the config as found)

    address = f"tcp://127.0.0.1:{_free_port()}"  # nothing listens there
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        res = CliRunner().invoke(
            cli,
            [
                "run",
                "--methods",
                "mean",
                "--n",
                "2",
                "--out",
                str(tmp_path / "r"),
                "--no-progress",
                "--cluster",
                address,
            ],
        )
    assert res.exit_code == 1, res.output
    assert f"cannot reach the Dask scheduler at {address}" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r").exists()  # nothing left behind


@needs_dask
@pytest.mark.slow
def test_workers_without_the_suite_or_with_another_version_are_refused(tmp_path, processes):
    old, missing = tmp_path / "old", tmp_path / "missing"
    (old / "bench").mkdir(parents=True)
    (old / "bench" / "__init__.py").write_text('__version__ = "0.0.9"\n')
    (missing / "bench").mkdir(parents=True)
    (missing / "bench" / "__init__.py").write_text('raise ImportError("no bench here (test)")\n')
    address, _ = start_cluster(
        processes, workers=2, worker_env=[{"PYTHONPATH": str(old)}, {"PYTHONPATH": str(missing)}]
    )
    res = CliRunner().invoke(
        cli,
        ["run", "--methods", "mean", "--n", "2", "--out", str(tmp_path / "r"), "--no-progress", "--cluster", address],
    )
    assert res.exit_code == 1, res.output
    import bench

    assert "refusing the cluster" in res.output and "Traceback" not in res.output
    assert f"runs inpaint-bench 0.0.9, this client {bench.__version__}" in res.output, res.output
    assert "cannot import the suite (ImportError: no bench here (test))" in res.output
    assert not (tmp_path / "r").exists()


@needs_dask
@pytest.mark.slow
def test_a_worker_killed_mid_run_loses_nothing_and_records_equal_a_local_run(tmp_path, processes):
    address, workers = start_cluster(processes, workers=2)
    out = tmp_path / "cluster"
    client = processes.start("bench-run", _bench_run(out, address))
    _wait_rows(out / "records.jsonl", 2, client)
    assert workers[0].poll() is None
    workers[0].send_signal(signal.SIGKILL)  # no nanny: it stays dead, its unit in flight is rescheduled
    assert client.wait(timeout=300) == 0, processes.log("bench-run")
    assert workers[0].wait(timeout=10) == -signal.SIGKILL

    local = tmp_path / "local"
    run(RunConfig(methods=["telea", "biharmonic"], out=local, n=8, metrics=PIXEL, progress=False))
    rows = _records(out)
    assert len(rows) == 16 and (out / "records.jsonl").read_text().count("\n") == 16  # complete, written once each
    _assert_same_run(out, local)
    config = json.loads((out / "config.json").read_text())
    assert (
        config["run"]["cluster"] == address and "cluster" not in json.loads((local / "config.json").read_text())["run"]
    )

    # The client killed mid-run: rerunning the same command keeps the finished rows and computes the rest.
    resumed = tmp_path / "resumed"
    client = processes.start("bench-run-2", _bench_run(resumed, address))
    _wait_rows(resumed / "records.jsonl", 2, client)
    os.killpg(client.pid, signal.SIGKILL)
    client.wait()
    kept = len(_records(resumed))
    assert 2 <= kept < 16, "the run finished before it could be killed"
    again = run(
        RunConfig(methods=["telea", "biharmonic"], out=resumed, n=8, metrics=PIXEL, progress=False, cluster=address)
    )
    assert (again.rows, again.computed) == (16, 16 - kept)
    _assert_same_run(resumed, local)


# ---------------------------------------------------------------- an embedded LocalCluster


@pytest.fixture(scope="module")
def local_cluster():
    pytest.importorskip("distributed")
    from bench.engine.where import open_executor

    with open_executor("local:2") as executor:
        yield executor


@needs_dask
@pytest.mark.slow
def test_local_cluster_set_metrics_and_discriminator_seeds(tmp_path, local_cluster):
    from bench.experiments.ablate.discriminator import discriminator_table

    base = {
        "methods": ["mean", "telea"],
        "n": 6,
        "metrics": PIXEL + ["fid", "kid"],
        "progress": False,
    }
    here = run(RunConfig(out=tmp_path / "local", **base))
    there = run(RunConfig(out=tmp_path / "cluster", cluster="local:2", **base), local_cluster)
    _assert_same_run(tmp_path / "cluster", tmp_path / "local")
    a = json.loads((tmp_path / "cluster" / "set_metrics.json").read_text())
    b = json.loads((tmp_path / "local" / "set_metrics.json").read_text())
    for spec in ("mean", "telea"):
        for metric in ("fid", "kid"):
            # Same batches of the same pixels; only the thread count of the forward pass differs.
            assert a[spec][metric]["value"] == pytest.approx(b[spec][metric]["value"], rel=1e-6, abs=1e-9)
    assert there.rows == here.rows == 12

    table = discriminator_table(
        RunConfig(
            out=tmp_path / "disc", methods=["mean", "telea"], n=4, metrics=PIXEL, progress=False, cluster="local:2"
        ),
        [0, 1],
        local_cluster,
    )
    assert set(table["summary"]["method"]) == {"mean", "telea"} and (table["summary"]["n"] == 2).all()


@needs_dask
@pytest.mark.slow
def test_images_travel_as_arrays_when_workers_cannot_see_the_data(tmp_path, local_cluster, monkeypatch):
    from bench.core.files import write_png
    from bench.inputs.data import get_source

    folder = tmp_path / "photos"
    for s in get_source("builtin").take(5)[0]:
        write_png(folder / f"{s.id}.png", s.image)
    # The workers here share this file system; pretend they do not, so the client sends the pixels.
    monkeypatch.setattr(
        local_cluster.session, "missing_paths", lambda paths: {p: ["every worker (test)"] for p in paths if p}
    )
    local_cluster._send.clear()
    base = {
        "methods": ["telea"],
        "n": 5,
        "metrics": PIXEL,
        "progress": False,
        "dataset": "folder",
        "data_root": str(folder),
    }
    run(RunConfig(out=tmp_path / "local", **base))
    run(RunConfig(out=tmp_path / "cluster", cluster="local:2", **base), local_cluster)
    assert local_cluster._send == {str(folder): True}
    _assert_same_run(tmp_path / "cluster", tmp_path / "local")
    local_cluster._send.clear()


@needs_dask
@pytest.mark.slow
def test_channel_sweep_on_the_cluster_equals_the_local_sweep(tmp_path, local_cluster):
    from bench.engine.tasks import data_ref
    from bench.experiments.ablate.channels import sweep_channels
    from bench.experiments.ablate.sweep import Sweep
    from bench.inputs.protocol import load_protocol

    proto = load_protocol("builtin", size=64, n=4, seed=0)
    data = data_ref("builtin", None, "test", 64)
    here = sweep_channels(Sweep(proto, tmp_path / "local", n_boot=10, progress=False), "iizuka", [1], "0,1")
    there = sweep_channels(
        Sweep(proto, tmp_path / "cluster", n_boot=10, progress=False, data=data, executor=local_cluster),
        "iizuka",
        [1],
        "0,1",
    )
    numeric = ("fid", "fid_low", "fid_high", "mse", "psnr", "ssim", "hole_psnr", "fid_delta")
    assert [r["channel"] for r in there["layers"]["conv1"]] == ["0", "1"]
    for a, b in zip(there["layers"]["conv1"], here["layers"]["conv1"]):
        assert a["spec"] == b["spec"] and a["errors"] == b["errors"] == "0"
        for c in numeric:
            assert float(a[c]) == pytest.approx(float(b[c]), rel=1e-5), c


@needs_dask
@pytest.mark.slow
def test_object_specs_and_prediction_folders_on_the_cluster_equal_the_local_run(tmp_path, local_cluster):
    from bench.core.files import write_png
    from bench.experiments.export import export_protocol

    export, pred = tmp_path / "export", tmp_path / "pred"
    export_protocol(export, n=5, progress=False)
    local = RunDir(tmp_path / "seed").path
    run(RunConfig(methods=["telea", "mean"], out=local, n=5, metrics=PIXEL, progress=False))
    for row in (r for r in _records(local) if r["method"] == "telea"):  # an external tool's outputs, LaMa-named
        write_png(pred / f"{row['image_id']}_mask000.png", RunDir(local).load_output("telea", row["image_id"]))
    base = {
        "methods": ["@methods.classic:MeanFill", f"predictions:dir={pred},export={export}"],
        "n": 5,
        "metrics": PIXEL,
        "progress": False,
    }
    run(RunConfig(out=tmp_path / "local", **base))
    run(RunConfig(out=tmp_path / "cluster", cluster="local:2", **base), local_cluster)
    _assert_same_run(tmp_path / "cluster", tmp_path / "local")
    rows = {(r["method"], r["image_id"]): r for r in _records(tmp_path / "cluster")}
    assert len(rows) == 10 and all(r["status"] == "ok" for r in rows.values())
    # Each equals the method it stands for, scored in the seed run.
    stand_in = {"telea": f"predictions:dir={pred},export={export}", "mean": "@methods.classic:MeanFill"}
    for ref in _records(local):
        got = rows[(stand_in[ref["method"]], ref["image_id"])]
        assert (got["hole_psnr"], got["ssim"]) == (ref["hole_psnr"], ref["ssim"])
