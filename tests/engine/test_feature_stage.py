"""The features stage: each image's features extracted once, in processes or here, into the store."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.core.digest import image_sha256
from bench.core.images import to_uint8
from bench.engine import features as stage_mod
from bench.engine.features import FeatureRequest, FeatureStage
from bench.metrics.feature_store import FeatureStore
from bench.metrics.inception import inference_threads, load_extractor


@pytest.fixture(scope="module")
def tiny_net(tmp_path_factory):
    """A small TorchScript extractor (8-d), fast enough to run in worker processes in a unit test."""
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()
    path = tmp_path_factory.mktemp("net") / "tiny.pt"
    torch.jit.script(net).save(str(path))
    return str(path)


def _images(n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.round(rng.random((24, 24, 3)) * 255).astype(np.float32) / 255 for _ in range(n)]


def _stage(tmp_path, net: str, workers: int) -> FeatureStage:
    extractor = load_extractor(net)
    return FeatureStage(FeatureStore(tmp_path, extractor.identity), FeatureRequest(net, extractor.sha256), workers)


@pytest.mark.parametrize("workers", [0, 1])
def test_every_image_lands_in_the_store_once_equal_to_a_direct_extraction(tmp_path, tiny_net, workers):
    images = _images(40)
    digests = [image_sha256(im) for im in images]
    with _stage(tmp_path / str(workers), tiny_net, workers) as stage:
        for d, im in zip(digests + digests[:5], images + images[:5]):  # the repeats are not extracted again
            stage.add(d, im)
        stage.finish()
        assert stage.extracted == 40
        stored = stage.store.get(digests)
    direct = load_extractor(tiny_net)(images)
    # One thread in a worker process or two here: the same network, rounding apart.
    np.testing.assert_allclose(stored, direct, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("budget_chunks", [0, 5])
def test_chunks_in_flight_stay_within_the_byte_budget_or_two_per_process(
    tmp_path, tiny_net, monkeypatch, budget_chunks
):
    images = _images(120, seed=1)
    chunk_bytes = stage_mod.CHUNK * to_uint8(images[0]).nbytes
    monkeypatch.setattr(stage_mod, "INFLIGHT_BYTES", budget_chunks * chunk_bytes)
    # Finished chunks are collected only when the budget says so, so the count does not depend on timing.
    monkeypatch.setattr(FeatureStage, "_collect_done", lambda self: None)
    with _stage(tmp_path, tiny_net, 1) as stage:
        most = 0
        for im in images:
            stage.add(image_sha256(im), im)
            most = max(most, len(stage._flight))
            assert sum(f[2] for f in stage._flight) <= max(2 * chunk_bytes, stage_mod.INFLIGHT_BYTES)
        stage.finish()
    assert most == max(2, budget_chunks)  # the bound is reached, never passed
    assert len(stage.store) == 120


def test_extract_loads_only_what_the_store_lacks(tmp_path, tiny_net):
    images = _images(6, seed=2)
    digests = [image_sha256(im) for im in images]
    loaded = []

    def loader(k):
        def load():
            loaded.append(k)
            return images[k]

        return load

    with _stage(tmp_path, tiny_net, 0) as stage:
        stage.extract([(digests[k], loader(k)) for k in range(3)], "first", progress=False)
        assert stage.extract([(digests[k], loader(k)) for k in range(6)], "all", progress=False) == 3
    assert loaded == [0, 1, 2, 3, 4, 5]


def test_a_pool_is_used_only_for_enough_work_on_the_cpu(monkeypatch):
    monkeypatch.setattr(stage_mod, "usable_cores", lambda: 2)
    assert stage_mod.default_workers(stage_mod.POOL_MIN_IMAGES) == 2
    assert stage_mod.default_workers(stage_mod.POOL_MIN_IMAGES - 1) == 0
    assert stage_mod.default_workers(1000, device="cuda:0") == 0
    monkeypatch.setattr(stage_mod, "usable_cores", lambda: 1)
    assert stage_mod.default_workers(1000) == 0


def test_the_stage_processes_extract_on_one_thread_each(tmp_path, tiny_net):
    # The extractor takes its thread count from OMP_NUM_THREADS, else every core: two processes
    # of two threads each on two cores run several times slower than two of one.
    with _stage(tmp_path, tiny_net, 2) as stage:
        assert {stage._pool.submit(inference_threads).result() for _ in range(4)} == {1}
