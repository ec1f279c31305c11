"""A run holds no image set: its peak traced memory does not grow with the number of images.

Every image is decoded when its turn comes and dropped after (the protocol keeps digests and
shapes; a bounded cache keeps a few decoded images), outputs go to disk and features to the
store, so 4x the images must not cost 4x the memory. The whole-machine numbers at 512 px
(n = 100 to 2,000) are in results/benchmarks/README.md (streaming_memory.py).
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest
import torch

from bench.experiments.runner import RunConfig, run
from bench.inputs import protocol

SIZE = 96
IMAGE_BYTES = SIZE * SIZE * 3 * 4  # one float32 contract image


@pytest.fixture(scope="module")
def tiny_net(tmp_path_factory):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten()).eval()
    path = tmp_path_factory.mktemp("net") / "tiny.pt"
    torch.jit.script(net).save(str(path))
    return str(path)


def _peak(tmp_path, n: int, net: str) -> int:
    cfg = RunConfig(
        methods=["mean", "telea"],
        out=tmp_path / f"run-{n}",
        n=n,
        size=SIZE,
        metrics=["mse", "ssim", "fid"],
        fid_features=net,
        feature_workers=0,
        progress=False,
    )
    tracemalloc.start()
    try:
        run(cfg)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_peak_memory_is_flat_in_the_number_of_images(tmp_path, tiny_net, monkeypatch):
    # A cache of two images, so what the run holds is what it needs, not what the cache keeps.
    monkeypatch.setattr(protocol, "IMAGE_CACHE_BYTES", 2 * IMAGE_BYTES)
    monkeypatch.setattr(protocol, "MASK_CACHE_BYTES", 2 * SIZE * SIZE)
    _peak(tmp_path / "warm", 8, tiny_net)  # first-use allocations (imports, network) out of the way
    small, large = _peak(tmp_path, 8, tiny_net), _peak(tmp_path, 32, tiny_net)
    # Holding the 24 extra images (let alone outputs) would add 24 * IMAGE_BYTES; rows and
    # features of 24 images add a few kB.
    growth = large - small
    assert growth < 0.25 * 24 * IMAGE_BYTES, f"peak grew by {growth / 1e6:.2f} MB for 24 more images"
    assert np.isfinite(growth)
