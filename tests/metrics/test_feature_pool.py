"""Features from the pool of single-threaded processes equal the in-process extraction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bench.core.images import quantize
from bench.experiments.runner import RunConfig, run
from bench.inputs.data import get_source
from bench.metrics.feature_pool import FeaturePool
from bench.metrics.inception import load_extractor


@pytest.mark.slow
def test_pool_features_equal_in_process_features():
    samples, _ = get_source("builtin").take(6)
    images = [quantize(s.image) for s in samples]  # what a run hands the metrics: its 8-bit PNGs
    here = load_extractor()(images, batch_size=8)
    with FeaturePool(2, None, 8) as pool:
        pending = pool.submit(images)
        assert len(pending._parts) == 2  # both processes got work
        there = pending.result()
    assert there.shape == here.shape == (6, 2048)
    # One thread per process vs the parent's threads: only the summation order differs.
    np.testing.assert_allclose(there, here, rtol=1e-5, atol=1e-6 * np.abs(here).max())


@pytest.mark.slow
def test_a_run_with_the_pool_reports_what_a_run_without_it_reports(tmp_path):
    common = dict(
        methods=["mean", "telea"], n=8, metrics=["psnr", "fid", "kid"], progress=False, cache_dir=tmp_path / "cache"
    )
    run(RunConfig(out=tmp_path / "pool", feature_workers=2, **common))
    # A cache of its own, so the real images' features are extracted in this process too.
    run(RunConfig(out=tmp_path / "here", feature_workers=0, **{**common, "cache_dir": tmp_path / "cache-here"}))
    a = json.loads((tmp_path / "pool" / "set_metrics.json").read_text())
    b = json.loads((tmp_path / "here" / "set_metrics.json").read_text())
    assert set(a) == set(b) == {"mean", "telea"}
    for spec in a:
        for metric in ("fid", "kid"):
            assert a[spec][metric]["value"] == pytest.approx(b[spec][metric]["value"], rel=1e-5, abs=1e-8)
    strip = [
        {k: v for k, v in json.loads(line).items() if k != "seconds"}
        for line in (tmp_path / "pool" / "records.jsonl").read_text().splitlines()
    ]
    same = [
        {k: v for k, v in json.loads(line).items() if k != "seconds"}
        for line in (tmp_path / "here" / "records.jsonl").read_text().splitlines()
    ]
    assert strip == same
