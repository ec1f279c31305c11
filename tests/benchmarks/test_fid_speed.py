"""Throughput of the FID Inception extractor and cost of the FID/KID maths.

With the project's default ``--benchmark-disable`` each benchmark runs once as a
smoke test; measure with
``python -m pytest tests/benchmarks/test_fid_speed.py --benchmark-enable -s``.
Reference point (results/benchmarks/, 2026-11-26, quiet 2-core AMD EPYC): 132 ms per
160x160 image with 2 threads at batch 8; 199 ms on one thread (274 ms for the shipped
TorchScript graph, measured beside it).
Inference uses every core unless ``OMP_NUM_THREADS`` says otherwise; on a
machine where another process keeps a core busy, compare with
``OMP_NUM_THREADS=1``.
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.inputs.data import get_source
from bench.metrics import frechet as fr
from bench.metrics.inception import load_extractor


@pytest.fixture(scope="module")
def extractor():
    ext = load_extractor()
    ext([get_source("builtin").load("coffee-000")])  # first call allocates and plans; not timed
    return ext


@pytest.mark.parametrize("batch_size", [pytest.param(8, marks=pytest.mark.benchset), 32])
def test_inception_throughput_160(benchmark, extractor, batch_size):
    samples, _ = get_source("builtin").take(32 if benchmark.enabled else 4)
    images = [s.image for s in samples]
    feats = benchmark.pedantic(
        extractor, args=(images,), kwargs={"batch_size": batch_size}, rounds=2 if benchmark.enabled else 1, iterations=1
    )
    assert feats.shape == (len(images), 2048)
    if benchmark.enabled:
        rate = len(images) / benchmark.stats.stats.median
        benchmark.extra_info["images_per_s"] = rate
        print(f"\nInception at 160x160 input, batch {batch_size}: {rate:.1f} images/s ({1000 / rate:.0f} ms/image)")


@pytest.mark.parametrize("network", ["torchscript", pytest.param("eager", marks=pytest.mark.benchset)])
def test_inception_eager_vs_torchscript_one_thread(benchmark, extractor, network, monkeypatch):
    # Side by side in one process: the shipped TorchScript graph against the eager rebuild
    # (bench/metrics/inception_net.py) that the extractor runs; one thread, as in the feature pool.
    import dataclasses
    import warnings

    import torch

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    ext = extractor
    if network == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            script = torch.jit.load(str(ext.path), map_location="cpu").eval()
        ext = dataclasses.replace(extractor, module=script)
    samples, _ = get_source("builtin").take(16 if benchmark.enabled else 2)
    images = [s.image for s in samples]
    ext(images[:2])  # warm-up: oneDNN plans its kernels on the first call
    feats = benchmark.pedantic(
        ext, args=(images,), kwargs={"batch_size": 8}, rounds=2 if benchmark.enabled else 1, iterations=1
    )
    assert feats.shape == (len(images), 2048)
    if benchmark.enabled:
        ms = 1000 * benchmark.stats.stats.median / len(images)
        benchmark.extra_info["ms_per_image"] = ms
        print(f"\nInception ({network}), one thread, batch 8: {ms:.0f} ms/image")


@pytest.mark.parametrize("route", ["sqrtm", pytest.param("gram", marks=pytest.mark.benchset)])
def test_fid_maths_280(benchmark, route):
    # The study's n = 280 at D = 2048: the headline sqrtm route and the Gram route.
    rng = np.random.default_rng(0)
    n = 280 if benchmark.enabled else 40
    d = 2048 if benchmark.enabled else 256
    real = rng.standard_normal((n, d))
    fake = real + 0.3 * rng.standard_normal((n, d))
    fn = fr.fid_from_features if route == "sqrtm" else fr.fid_gram
    value = benchmark.pedantic(fn, args=(real, fake), rounds=1, iterations=1)
    assert np.isfinite(value)


def test_bootstrap_280(benchmark):
    rng = np.random.default_rng(0)
    n, d, reps = (280, 2048, 200) if benchmark.enabled else (40, 64, 5)
    real = rng.standard_normal((n, d))
    fake = real + 0.3 * rng.standard_normal((n, d))
    out = benchmark.pedantic(
        lambda: (fr.bootstrap_fid(real, fake, n_boot=reps), fr.bootstrap_kid(real, fake, n_boot=reps)),
        rounds=1,
        iterations=1,
    )
    assert out[0].size == reps
