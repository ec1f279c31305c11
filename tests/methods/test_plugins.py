"""An installed plugin distribution: its methods are listed with their origin and run everywhere.

The plugin is a real distribution (its own ``pyproject.toml`` with entry points in the
``inpaint_bench.methods`` group), installed with pip into a temporary folder that the
``bench`` processes get on their ``PYTHONPATH``; nothing is installed into this environment.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bench.outputs.rundir import RunDir

PYPROJECT = """
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "ibench-demo-plugin"
version = "0.3.1"

[project.entry-points."inpaint_bench.methods"]
demo-grey = "ibench_demo:grey"
demo-pid = "ibench_demo:PidLogger"
demo-broken = "ibench_demo_broken:anything"
telea = "ibench_demo:grey"

[tool.setuptools]
py-modules = ["ibench_demo", "ibench_demo_broken"]
"""

MODULE = '''
"""A demo plugin: two methods, one of them logging the process that builds and runs it."""

import json
import os

import numpy as np


def grey(image, mask, level=0.5):
    """Fill the hole with one grey level."""
    out = image.copy()
    out[mask] = level
    return out


class PidLogger:
    """Mean-colour fill that logs which process built and ran it."""

    family = "demo"

    def __init__(self):
        self._log("build")

    def _log(self, what):
        with open(os.environ["DEMO_PID_LOG"], "a") as fh:
            fh.write(json.dumps([what, os.getpid()]) + "\\n")

    def inpaint(self, image, mask):
        self._log("inpaint")
        out = image.copy()
        out[mask] = image[~mask].mean(axis=0)
        return out
'''


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """The demo distribution built and installed (pip --target) into a folder of its own."""
    root = tmp_path_factory.mktemp("plugin")
    src = root / "src"
    src.mkdir()
    (src / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (src / "ibench_demo.py").write_text(MODULE)
    (src / "ibench_demo_broken.py").write_text("raise ImportError('needs a GPU driver')\n")
    site = root / "site"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "--target",
            str(site),
            str(src),
        ],
        capture_output=True,
        text=True,
    )
    if proc.returncode != 0:
        pytest.fail(f"pip could not install the demo plugin: {proc.stderr[-2000:]}")
    return site


def bench(args: list[str], site: Path, cwd: Path, **env) -> subprocess.CompletedProcess:
    full = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])), **env}
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], cwd=cwd, env=full, capture_output=True, text=True)


def test_a_plugins_methods_are_listed_with_their_distribution(plugin_site, tmp_path):
    proc = bench(["list", "methods"], plugin_site, tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    entry = next(k for k, line in enumerate(lines) if line.startswith("demo-grey "))
    assert "Fill the hole with one grey level." in lines[entry]
    assert lines[entry + 1].split() == ["keys:", "level=0.5"]
    assert lines[entry + 2].split() == ["from:", "plugin", "ibench-demo-plugin", "0.3.1"]
    pid = next(line for line in lines if line.startswith("demo-pid "))
    assert " demo " in pid  # the object's own family label
    broken = next(line for line in lines if line.startswith("demo-broken "))
    assert (
        "BROKEN" in broken and "cannot import module 'ibench_demo_broken' (ImportError: needs a GPU driver)" in broken
    )
    # A plugin cannot take a built-in name: the built-in stays, the plugin is reported.
    clash = [line for line in lines if line.startswith("telea ")]
    assert len(clash) == 2 and "BROKEN" in clash[1] and "taken by the built-in method" in clash[1]
    assert lines[lines.index(clash[0]) + 2].split() == ["from:", "built-in"]


@pytest.mark.slow
def test_a_plugin_runs_in_jobs_2_workers_and_in_time_report_and_check(plugin_site, tmp_path):
    log = tmp_path / "pids.jsonl"
    run = [
        "run",
        "--methods",
        "demo-grey:level=0.25,demo-pid",
        "--n",
        "6",
        "--jobs",
        "2",
        "--metrics",
        "mse,psnr,ssim",
        "--out",
        "run",
        "--no-progress",
    ]
    proc = bench(run, plugin_site, tmp_path, DEMO_PID_LOG=str(log))
    assert proc.returncode == 0, proc.stderr
    rows = RunDir(tmp_path / "run").read_records()
    assert len(rows) == 12 and all(r["status"] == "ok" for r in rows)
    events = [json.loads(line) for line in log.read_text().splitlines()]
    client = events[0][1]  # the run builds every method first, in its own process
    workers = {pid for what, pid in events if what == "inpaint"}
    assert events[0][0] == "build" and client not in workers and 1 <= len(workers) <= 2
    assert sum(what == "inpaint" for what, _ in events) == 6
    # demo-pid fills as the built-in `mean` does, so its rows must equal mean's, computed in this run directory.
    by = {(r["method"], r["image_id"]): r for r in rows}
    mean = bench(
        ["run", "--methods", "mean", "--n", "6", "--metrics", "mse,psnr,ssim", "--out", "run", "--no-progress"],
        plugin_site,
        tmp_path,
        DEMO_PID_LOG=str(log),
    )
    assert mean.returncode == 0, mean.stderr
    rows = {(r["method"], r["image_id"]): r for r in RunDir(tmp_path / "run").read_records()}
    for (method, image_id), row in by.items():
        if method == "demo-pid":
            assert row["hole_mse"] == pytest.approx(rows[("mean", image_id)]["hole_mse"], rel=1e-12)

    report = bench(["report", "run", "--no-latex", "--no-grid"], plugin_site, tmp_path)
    assert report.returncode == 0, report.stderr
    assert "demo-grey:level=0.25" in (tmp_path / "run" / "report" / "report.md").read_text()
    for args in (["check", "run", "--baseline", "base.json", "--update"], ["check", "run", "--baseline", "base.json"]):
        check = bench(args, plugin_site, tmp_path)
        assert check.returncode == 0, check.stdout + check.stderr
    timing = bench(["time", "--methods", "demo-grey", "--sizes", "32", "--n", "2"], plugin_site, tmp_path)
    assert timing.returncode == 0, timing.stderr
    assert "| demo-grey | 32 | 2 |" in timing.stdout


def test_naming_a_broken_plugin_gives_its_error(plugin_site, tmp_path):
    proc = bench(
        ["run", "--methods", "demo-broken", "--n", "2", "--out", "run", "--no-progress"], plugin_site, tmp_path
    )
    assert proc.returncode == 1
    assert "cannot import module 'ibench_demo_broken' (ImportError: needs a GPU driver)" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "run").exists()
