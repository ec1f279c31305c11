"""Set-metric features extracted while a run computes: order, threshold, failures.

A user TorchScript extractor (per-channel mean and standard deviation) keeps the pool's processes
cheap and gives features that can be computed by hand with numpy.
"""

from __future__ import annotations

import json
from concurrent.futures.process import BrokenProcessPool

import numpy as np
import pytest

import bench.experiments.runner as runner
from bench.core.images import quantize
from bench.engine.feature_prefetch import REAL, FeaturePrefetch
from bench.experiments.runner import RunConfig, run
from bench.inputs.data import get_source
from bench.metrics.feature_pool import CHUNK, NICE

pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.script.*deprecated:DeprecationWarning")


@pytest.fixture(scope="module")
def stats_extractor(tmp_path_factory):
    import torch

    class ChannelStats(torch.nn.Module):
        def forward(self, x):
            return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)

    path = tmp_path_factory.mktemp("extractor") / "stats.pt"
    torch.jit.script(ChannelStats()).save(str(path))
    return str(path)


def _by_hand(image: np.ndarray) -> np.ndarray:
    pixels = image.reshape(-1, 3).astype(np.float64)
    return np.r_[pixels.mean(0), pixels.std(0, ddof=1)]


def test_features_come_back_in_the_order_asked_across_chunks(stats_extractor):
    samples, _ = get_source("builtin").take(6)
    rng = np.random.default_rng(0)
    # More images than one chunk, so one chunk is sent as soon as it fills and the rest on demand.
    images = {
        f"im{k:02d}": quantize(np.clip(samples[k % 6].image + rng.normal(0, 0.1, (1, 1, 3)), 0, 1).astype(np.float32))
        for k in range(CHUNK + 5)
    }
    with FeaturePrefetch(2, stats_extractor, 4, min_images=0) as prefetch:
        assert prefetch.start_if_worth(1)
        for image_id, image in images.items():
            prefetch.add("telea", image_id, image)
        prefetch.queue_missing(REAL, ["im03", "im01"], images.__getitem__)
        assert prefetch.missing("telea", ["im00", "zz"]) == ["zz"]
        asked = sorted(images, reverse=True)
        feats = prefetch.features("telea", asked)
        reals = prefetch.features(REAL, ["im01", "im03"])
        with pytest.raises(KeyError, match="telea were never queued for 1 image.*zz"):
            prefetch.features("telea", ["im00", "zz"])
        with pytest.raises(KeyError, match="the real images"):
            prefetch.features(REAL, ["im02"])
    np.testing.assert_allclose(feats, [_by_hand(images[i]) for i in asked], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(reals, [_by_hand(images[i]) for i in ("im01", "im03")], rtol=1e-5, atol=1e-6)


def test_the_pool_starts_only_for_enough_work_and_runs_at_low_priority(stats_extractor):
    with FeaturePrefetch(2, stats_extractor, 4, min_images=64) as prefetch:
        assert not prefetch.start_if_worth(63) and not prefetch.started
        with pytest.raises(RuntimeError, match="not started"):
            prefetch.add("mean", "a", np.zeros((8, 8, 3), np.float32))
        assert prefetch.start_if_worth(64)
        import os

        # os.nice(0) in a worker reports its niceness: the lowest priority, whatever the parent's was.
        assert prefetch._pool._pool.submit(os.nice, 0).result() == min(os.nice(0) + NICE, 19)
    with pytest.raises(ValueError, match="at least one process"):
        FeaturePrefetch(0, stats_extractor, 4, 0)


def _common(tmp_path, stats_extractor, **kw):
    return dict(
        methods=["mean", "telea"],
        n=10,
        progress=False,
        fid_features=stats_extractor,
        metrics=["psnr", "fid", "kid"],
        **kw,
    )


def _set_values(path):
    data = json.loads((path / "set_metrics.json").read_text())
    return {(spec, m): data[spec][m]["value"] for spec in data for m in data[spec]}


def test_outputs_are_queued_while_the_run_computes(tmp_path, stats_extractor, monkeypatch):
    queued, at_set_metrics = [], []
    add = FeaturePrefetch.add
    set_metrics = runner.compute_set_metrics

    def spy_add(self, owner, image_id, image):
        queued.append((owner, image_id))
        return add(self, owner, image_id, image)

    def spy_set_metrics(*args, **kwargs):
        at_set_metrics.append(len(queued))
        return set_metrics(*args, **kwargs)

    monkeypatch.setattr(FeaturePrefetch, "add", spy_add)
    monkeypatch.setattr(runner, "compute_set_metrics", spy_set_metrics)
    run(
        RunConfig(
            out=tmp_path / "pool", feature_workers=2, cache_dir=tmp_path / "c1", **_common(tmp_path, stats_extractor)
        )
    )
    # Every real image and every output went to the pool before the set metrics began.
    assert at_set_metrics == [30]
    assert {owner for owner, _ in queued} == {"mean", "telea", REAL}
    assert [owner for owner, _ in queued[:10]] == [REAL] * 10  # the real images first

    run(
        RunConfig(
            out=tmp_path / "here", feature_workers=0, cache_dir=tmp_path / "c2", **_common(tmp_path, stats_extractor)
        )
    )
    a, b = _set_values(tmp_path / "pool"), _set_values(tmp_path / "here")
    assert set(a) == set(b) == {(s, m) for s in ("mean", "telea") for m in ("fid", "kid")}
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-6, abs=1e-9)


def test_a_resumed_run_gets_its_earlier_outputs_features_from_the_pool(tmp_path, stats_extractor):
    common = _common(tmp_path, stats_extractor)
    first = {**common, "metrics": ["psnr"]}  # no set metrics: nothing extracted
    for name, workers in (("pool", 2), ("here", 0)):
        run(RunConfig(out=tmp_path / name, feature_workers=workers, cache_dir=tmp_path / f"c-{name}", **first))
        assert not (tmp_path / name / "set_metrics.json").exists()
    # Resuming with set metrics computes no row; the outputs come back from the PNGs.
    for name, workers in (("pool", 2), ("here", 0)):
        result = run(
            RunConfig(
                out=tmp_path / name,
                feature_workers=workers,
                cache_dir=tmp_path / f"c-{name}",
                **{**common, "metrics": ["psnr", "fid", "kid"]},
            )
        )
        assert result.computed == 0
    a, b = _set_values(tmp_path / "pool"), _set_values(tmp_path / "here")
    assert len(a) == 4 and a.keys() == b.keys()
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=1e-6, abs=1e-9)


def test_a_failed_pool_falls_back_to_extracting_here(tmp_path, stats_extractor, monkeypatch, caplog):
    def broken(self, owner, ids):
        raise BrokenProcessPool("a worker was killed")

    monkeypatch.setattr(FeaturePrefetch, "features", broken)
    run(
        RunConfig(
            out=tmp_path / "broken", feature_workers=2, cache_dir=tmp_path / "c1", **_common(tmp_path, stats_extractor)
        )
    )
    assert "feature pool failed for mean (BrokenProcessPool: a worker was killed)" in caplog.text
    monkeypatch.undo()
    run(
        RunConfig(
            out=tmp_path / "here", feature_workers=0, cache_dir=tmp_path / "c2", **_common(tmp_path, stats_extractor)
        )
    )
    assert _set_values(tmp_path / "broken") == pytest.approx(_set_values(tmp_path / "here"), rel=1e-6)


def test_methods_get_one_thread_fewer_while_the_pool_works():
    import numba
    import torch

    from bench.engine.evaluate import method_threads

    torch_before, numba_before = torch.get_num_threads(), numba.get_num_threads()
    try:
        torch.set_num_threads(2)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        want = max(1, numba.get_num_threads() - 1)
        with method_threads(-1):
            assert torch.get_num_threads() == 1 and numba.get_num_threads() == want
            with method_threads(-5):  # never below one thread
                assert torch.get_num_threads() == 1 and numba.get_num_threads() == 1
        assert torch.get_num_threads() == 2
        with method_threads(0):  # no pool: nothing changes
            assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(torch_before)
        numba.set_num_threads(numba_before)
