"""Wall time of the main job with ``--jobs 1``, ``--jobs 2`` and ``--cluster local:2``.

Not a timed test: with the project's default ``--benchmark-disable`` it runs a tiny
job once per configuration as a smoke test (the three give the same records). Measure with

    BENCH_SCALING_N=40 python -m pytest tests/benchmarks/test_cluster_scaling.py --benchmark-enable -s

which runs README's main job (all methods, all metrics, a cold feature cache per
configuration) at ``n = BENCH_SCALING_N`` (280 is the README's; about 5 min per
configuration on 2 idle cores) and prints the wall times, the machine's load, and the
serial part of the job (reference features and the FID/KID maths, which stay on the
client whatever the number of workers): ``T(W) ~ S + (T(1) - S) / W``.
``BENCH_SCALING_JSON=PATH`` also writes the numbers as JSON.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

MAIN = "iizuka,iizuka:data=builtin,iizuka:post=blend,patch,telea,ns,biharmonic,mean"
CONFIGS = {"--jobs 1": ["--jobs", "1"], "--jobs 2": ["--jobs", "2"], "--cluster local:2": ["--cluster", "local:2"]}


def _load() -> str:
    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


def _records(out: Path) -> dict:
    rows = [json.loads(line) for line in (out / "records.jsonl").read_text().splitlines()]
    return {(r["method"], r["image_id"]): {k: v for k, v in r.items() if k != "seconds"} for r in rows}


def _serial_seconds(out: Path, n_methods: int) -> dict[str, float]:
    """Seconds of what stays on the client: the real images' features, and the set-metric maths."""
    import numpy as np

    from bench.metrics import fid as fidm
    from bench.metrics.frechet import fid_infinity
    from bench.outputs.rundir import RunDir

    rd = RunDir(out)
    ids = [p.stem for p in sorted(rd.images_dir.glob("*.png"))]
    real = [rd.load_image(i) for i in ids]
    extractor = fidm.load_extractor()
    extractor(real[:2])  # allocation and planning are not part of the per-image cost
    start = time.perf_counter()
    rf = extractor(real)
    ref = time.perf_counter() - start
    ff = rf + np.random.default_rng(0).normal(0, 0.1, rf.shape)  # the maths' cost does not depend on the values
    start = time.perf_counter()
    fidm.fid_result(rf, ff, seed=0)
    fidm.kid_result(rf, ff, seed=0)
    fidm.kid_result(rf, ff, seed=0, paired=True)
    fid_infinity(rf, ff, seed=0)
    maths = (time.perf_counter() - start) * n_methods
    return {"reference_features_s": ref, "set_metric_maths_s": maths}


def _run_configs(tmp_path: Path, methods: str, n: int, metrics: str) -> dict[str, dict]:
    """Run the job once per configuration into its own run directory and feature cache; wall time of each."""
    results = {}
    for name, extra in CONFIGS.items():
        out = tmp_path / name.strip("-").replace(" ", "-").replace(":", "")
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
            metrics,
            "--out",
            str(out),
            "--no-progress",
            *extra,
        ]
        load_before = _load()
        start = time.perf_counter()
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=7200, check=False)
        wall = time.perf_counter() - start
        assert done.returncode == 0, done.stderr[-3000:]
        results[name] = {"wall_s": wall, "load_before": load_before, "load_after": _load(), "out": out}
    return results


@pytest.mark.slow
def test_main_job_wall_time(benchmark, tmp_path):
    enabled = benchmark.enabled
    n = int(os.environ.get("BENCH_SCALING_N", "40")) if enabled else 3
    methods, metrics = (MAIN, "all") if enabled else ("mean,telea", "mse,psnr")
    # One round: each configuration is timed on its own below (a job of minutes is not repeated).
    results = benchmark.pedantic(_run_configs, args=(tmp_path, methods, n, metrics), rounds=1, iterations=1)
    first = _records(results["--jobs 1"]["out"])
    for name in CONFIGS:
        assert _records(results[name]["out"]) == first, f"{name} gave other records than --jobs 1"
    if not enabled:
        return
    serial = _serial_seconds(results["--jobs 1"]["out"], len(MAIN.split(",")))
    t1 = results["--jobs 1"]["wall_s"]
    s = sum(serial.values())
    print(
        f"\nmain job, n = {n}, {len(MAIN.split(','))} methods, all metrics, cold feature cache; {os.cpu_count()} cores"
    )
    print("| configuration | wall time (s) | speed-up vs --jobs 1 | load avg before | load avg after |")
    print("|---|---|---|---|---|")
    for name, r in results.items():
        print(f"| `{name}` | {r['wall_s']:.1f} | {t1 / r['wall_s']:.2f} | {r['load_before']} | {r['load_after']} |")
    print(
        f"serial on the client: reference features {serial['reference_features_s']:.1f} s, "
        f"FID/KID maths {serial['set_metric_maths_s']:.1f} s; model T(W) = S + (T(1) - S) / W with S = {s:.1f} s: "
        + ", ".join(f"W={w}: {s + (t1 - s) / w:.1f} s" for w in (2, 4, 8, 16))
    )
    target = os.environ.get("BENCH_SCALING_JSON")
    if target:
        payload = {
            "n": n,
            "methods": MAIN,
            "cores": os.cpu_count(),
            **serial,
            "configs": {k: {kk: vv for kk, vv in v.items() if kk != "out"} for k, v in results.items()},
        }
        Path(target).write_text(json.dumps(payload, indent=2) + "\n")
