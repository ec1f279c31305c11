"""Metrics of user code: an installed plugin distribution and ``@module:attr`` specs, in run, report and check.

The plugin is a real distribution (its own ``pyproject.toml`` with entry points in the
``inpaint_bench.metrics`` group), installed with pip into a temporary folder that the ``bench``
processes get on their ``PYTHONPATH``; nothing is installed into this environment. Expected
values are computed here from the run's saved PNGs with plain NumPy.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from bench.inputs.masks.manifest import mask_from_entry
from bench.metrics.registry import MetricValueError
from bench.outputs.rundir import RunDir

PYPROJECT = """
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "ibench-demo-metrics"
version = "0.2.0"

[project.entry-points."inpaint_bench.metrics"]
edge_error = "ibench_metrics:edge_error"
mean_gap = "ibench_metrics:mean_gap"
colour_gap = "ibench_metrics:colour_gap"
flaky = "ibench_metrics:flaky"
bad_shape = "ibench_metrics:bad_shape"
gives_nan = "ibench_metrics:gives_nan"
broken_metric = "ibench_metrics_broken:anything"
psnr = "ibench_metrics:mean_gap"

[tool.setuptools]
py-modules = ["ibench_metrics", "ibench_metrics_broken"]
"""

MODULE = '''
"""Demo metrics: a map, a number, a set metric and three that misbehave."""

import numpy as np


def edge_error(output, target, mask):
    """Absolute difference of horizontal gradients, per pixel."""
    gx = lambda im: np.abs(np.diff(im.mean(axis=2), axis=1, append=im.mean(axis=2)[:, -1:]))
    return np.abs(gx(output) - gx(target))


edge_error.label = "EdgeErr"
edge_error.digits = 3


def mean_gap(output, target, mask, power=1.0):
    """Difference of the mean grey levels, raised to a power."""
    return abs(float(output.mean()) - float(target.mean())) ** power


def colour_gap(real, fake):
    """Distance between the mean colours of the two sets."""
    real, fake = np.asarray(real, dtype=np.float64), np.asarray(fake, dtype=np.float64)
    return float(np.abs(real.mean(axis=(0, 1, 2)) - fake.mean(axis=(0, 1, 2))).sum())


colour_gap.kind = "set"


def flaky(output, target, mask):
    """Fails on masks of odd area."""
    if mask.sum() % 2:
        raise ValueError("odd mask area")
    return float(np.abs(output - target).max())


def bad_shape(output, target, mask):
    """A map of the wrong shape."""
    return np.zeros((3, 3))


def gives_nan(output, target, mask):
    """Not a number."""
    return float("nan")
'''

LOCAL = '''
import numpy as np


def gap(output, target, mask, scale=1.0):
    """Scaled mean absolute error over the hole."""
    return scale * float(np.abs(output - target)[mask].mean())


gap.higher_is_better = False
'''


@pytest.fixture(scope="module")
def plugin_site(tmp_path_factory) -> Path:
    """The demo distribution built and installed (pip --target) into a folder of its own."""
    root = tmp_path_factory.mktemp("metric_plugin")
    src = root / "src"
    src.mkdir()
    (src / "pyproject.toml").write_text(textwrap.dedent(PYPROJECT))
    (src / "ibench_metrics.py").write_text(MODULE)
    (src / "ibench_metrics_broken.py").write_text("raise ImportError('needs a GPU driver')\n")
    site = root / "site"
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--target", str(site)]
    proc = subprocess.run([*cmd, str(src)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.fail(f"pip could not install the demo plugin: {proc.stderr[-2000:]}")
    return site


def bench(args: list[str], site: Path, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))}
    return subprocess.run([sys.executable, "-m", "bench.cli", *args], cwd=cwd, env=env, capture_output=True, text=True)


def test_plugin_metrics_are_listed_with_their_distribution(plugin_site, tmp_path):
    proc = bench(["list", "metrics"], plugin_site, tmp_path)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    k = next(i for i, line in enumerate(lines) if line.startswith("edge_error "))
    assert "lower is better" in lines[k] and "Absolute difference of horizontal gradients" in lines[k]
    assert lines[k + 1].split() == ["keys:", "-;", "from:", "plugin", "ibench-demo-metrics", "0.2.0"]
    k = next(i for i, line in enumerate(lines) if line.startswith("mean_gap "))
    assert lines[k + 1].split()[:2] == ["keys:", "power=1.0;"]
    broken = next(line for line in lines if line.startswith("broken_metric "))
    assert (
        "BROKEN" in broken
        and "cannot import module 'ibench_metrics_broken' (ImportError: needs a GPU driver)" in broken
    )
    clash = [line for line in lines if line.startswith("psnr ")]
    assert len(clash) == 2 and "BROKEN" in clash[1] and "already taken" in clash[1]
    psnr = lines.index(clash[0])
    assert lines[psnr + 1].endswith("from: built-in")


def _missing(value) -> bool:
    """A value the row does not have (NaN is written to records.jsonl as null)."""
    return value is None or bool(np.isnan(value))


def _run_args(metrics: str) -> list[str]:
    return ["run", "--methods", "mean,telea", "--n", "6", "--size", "64", "--metrics", metrics, "--out", "run"]


def test_plugin_and_object_metrics_in_run_report_and_check(plugin_site, tmp_path):
    (tmp_path / "local_metrics.py").write_text(LOCAL)
    metrics = "psnr,edge_error,mean_gap:power=2,colour_gap,flaky,bad_shape,gives_nan,@local_metrics:gap:scale=2"
    proc = bench([*_run_args(metrics), "--no-progress"], plugin_site, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rundir = RunDir(tmp_path / "run")
    rows = rundir.read_records()
    assert len(rows) == 12 and all(r["status"] == "ok" for r in rows)
    parities = set()
    manifest = json.loads(rundir.masks.read_text())["masks"]
    for r in rows:
        out = rundir.load_output(r["method"], r["image_id"])
        real = rundir.load_image(r["image_id"])
        mask = mask_from_entry(r["image_id"], manifest[r["image_id"]])
        grey_out, grey_real = out.mean(axis=2), real.mean(axis=2)
        edge = np.abs(
            np.abs(np.diff(grey_out, axis=1, append=grey_out[:, -1:]))
            - np.abs(np.diff(grey_real, axis=1, append=grey_real[:, -1:]))
        )
        assert r["edge_error"] == pytest.approx(edge.mean(dtype=np.float64), rel=1e-6)
        assert r["mean_gap:power=2.0"] == pytest.approx((out.mean() - real.mean()) ** 2, rel=1e-6)
        assert "hole_mean_gap:power=2.0" not in r  # a number has no hole value
        assert r["hole_edge_error"] == pytest.approx(edge[mask].mean(dtype=np.float64), rel=1e-6)
        assert r["@local_metrics:gap:scale=2"] == pytest.approx(2 * np.abs(out - real)[mask].mean(), rel=1e-6)
        assert _missing(r["bad_shape"]) and _missing(r["gives_nan"])
        errors = r["metric_errors"]
        assert "returned an array of shape (3, 3)" in errors and "gives_nan" in errors and "returned NaN" in errors
        odd = "flaky" in errors and "raised ValueError: odd mask area" in errors
        assert _missing(r["flaky"]) == odd
        parities.add(odd)
        assert r["psnr"] > 10  # the other metrics of a row are kept
    assert parities == {True, False}  # some rows failed for flaky, others not
    # One warning per misbehaving metric, however many rows it failed on.
    assert sum("flaky" in line for line in proc.stderr.splitlines()) == 1, proc.stderr
    assert sum("bad_shape" in line for line in proc.stderr.splitlines()) == 1, proc.stderr
    sets = json.loads(rundir.set_metrics.read_text())
    for method in ("mean", "telea"):
        ids = sorted(r["image_id"] for r in rows if r["method"] == method)
        real = np.stack([rundir.load_image(i) for i in ids]).astype(np.float64)
        fake = np.stack([rundir.load_output(method, i) for i in ids]).astype(np.float64)
        want = np.abs(real.mean(axis=(0, 1, 2)) - fake.mean(axis=(0, 1, 2))).sum()
        assert sets[method]["colour_gap"]["value"] == pytest.approx(want, rel=1e-9)
    summary = (tmp_path / "run" / "summary.csv").read_text()
    assert "hole_edge_error" in summary and "colour_gap" in summary and "@local_metrics:gap:scale=2" in summary

    report = bench(["report", "run", "--no-latex", "--no-grid"], plugin_site, tmp_path)
    assert report.returncode == 0, report.stderr
    for args in (["check", "run", "--baseline", "base.json", "--update"], ["check", "run", "--baseline", "base.json"]):
        check = bench(args, plugin_site, tmp_path)
        assert check.returncode == 0, check.stdout + check.stderr
    baseline = json.loads((tmp_path / "base.json").read_text())
    assert "hole_edge_error" in baseline["tolerances"] and "colour_gap" in baseline["tolerances"]


def test_bad_metric_specs_are_refused_in_one_line_before_any_work(plugin_site, tmp_path):
    cases = {
        "broken_metric": "cannot import module 'ibench_metrics_broken' (ImportError: needs a GPU driver)",
        "@no_such_module:f": "metric spec '@no_such_module:f': cannot import module 'no_such_module'",
        "@json:nothing_here": "module 'json' has no attribute 'nothing_here'",
        "mean_gap:colour=1": "metric 'mean_gap' has no option 'colour'",
        "edge_eror": "did you mean edge_error",
    }
    for spec, message in cases.items():
        proc = bench([*_run_args(f"psnr,{spec}"), "--no-progress"], plugin_site, tmp_path)
        assert proc.returncode == 1, proc.stdout
        lines = proc.stderr.strip().splitlines()
        assert len(lines) == 1 and message in lines[0], proc.stderr
        assert not (tmp_path / "run").exists()


def test_a_metric_error_is_a_value_error_naming_the_metric():
    from bench.metrics.plugins import metric_of

    def boom(output, target, mask):
        raise RuntimeError("out of memory")

    info = metric_of(boom, "boom", "metric 'boom'", "test")
    image = np.zeros((8, 8, 3), np.float32)
    with pytest.raises(MetricValueError, match="metric 'boom' raised RuntimeError: out of memory"):
        info.fn(image, image, np.ones((8, 8), bool), "image")


class _LazyImages(Sequence):
    """Images made on demand, as a run reads them from its directory; counts every read."""

    def __init__(self, n: int, seed: int, reads: list[int]):
        self.n, self.seed, self.reads = n, seed, reads

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i):
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(self.n))]
        if not -self.n <= i < self.n:
            raise IndexError(i)
        i %= self.n
        self.reads.append(i)
        return np.random.default_rng([self.seed, i]).random((8, 8, 3), dtype=np.float32)


def _set_plugin(inputs: str):
    from bench.metrics.plugins import metric_of

    def colour_gap(real, fake, scale=1.0):
        """Scaled distance between the mean colours of the two sets, one item (image or feature row) at a time."""
        mean_r = sum(np.asarray(x, np.float64).reshape(-1, 3).mean(axis=0) for x in real) / len(real)
        mean_f = sum(np.asarray(x, np.float64).reshape(-1, 3).mean(axis=0) for x in fake) / len(fake)
        return scale * float(np.abs(mean_r - mean_f).sum())

    colour_gap.kind = "set"
    colour_gap.inputs = inputs
    return metric_of(colour_gap, "colour_gap", "metric 'colour_gap'", "test", "scale=2")


def test_an_images_plugin_reads_each_image_of_ctx_images_once():
    from bench.metrics.registry import SetMetricContext

    info = _set_plugin("images")
    reads_r: list[int] = []
    reads_f: list[int] = []
    real, fake = _LazyImages(5, 1, reads_r), _LazyImages(5, 2, reads_f)
    feats = np.zeros((5, 4))  # what the run passes beside the images; an images plugin ignores it
    res = info.fn(feats, feats, SetMetricContext(images=(real, fake), progress=False))
    want = [np.random.default_rng([s, i]).random((8, 8, 3), dtype=np.float32) for s in (1, 2) for i in range(5)]
    mean_r = np.mean([im.astype(np.float64).mean(axis=(0, 1)) for im in want[:5]], axis=0)
    mean_f = np.mean([im.astype(np.float64).mean(axis=(0, 1)) for im in want[5:]], axis=0)
    assert res.value == pytest.approx(2 * np.abs(mean_r - mean_f).sum(), rel=1e-12)
    assert res.details == {"n": 5, "inputs": "images"}
    assert sorted(reads_r) == sorted(reads_f) == [0, 1, 2, 3, 4]  # one read of each image


def test_an_images_plugin_without_images_is_nan_with_the_reason():
    from bench.metrics.registry import SetMetricContext

    res = _set_plugin("images").fn(np.zeros((5, 4)), np.zeros((5, 4)), SetMetricContext(progress=False))
    assert np.isnan(res.value)
    assert "metric 'colour_gap' takes images" in res.details["error"] and "features only" in res.details["error"]


def test_a_features_plugin_gets_the_two_feature_matrices():
    from bench.metrics.registry import SetMetricContext

    rng = np.random.default_rng(4)
    real, fake = rng.random((6, 3)), rng.random((6, 3)) + 0.5  # rows of 3 "colours"
    info = _set_plugin("features")
    res = info.fn(real, fake, SetMetricContext(progress=False))
    assert res.value == pytest.approx(2 * np.abs(real.mean(axis=0) - fake.mean(axis=0)).sum(), rel=1e-12)
    assert res.details == {"n": 6, "inputs": "features"}
    # A reference without per-image features passes real=None: NaN and the reason, not an exception.
    none = info.fn(None, fake, SetMetricContext(progress=False))
    assert np.isnan(none.value) and "takes features of the real images" in none.details["error"]
