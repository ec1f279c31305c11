"""Speed of GLCIC inference and training steps.

With the project's default ``--benchmark-disable`` each runs once as a smoke test; run
``python -m pytest tests/benchmarks/test_glcic_speed.py --benchmark-enable`` to measure.
Measured with ``OMP_NUM_THREADS=1`` on the 2-core dev machine (median): the committed
width-0.375 checkpoint 0.60 s per batch of 16 images of 160x160 (0.037 s per image); a
training step of the CPU config (width 0.375, 128 px crops, batch 16) 0.98 s in phase 1
and 1.33 s in phase 3.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import methods
from bench.core.images import blank_hole
from bench.inputs.data import get_source
from bench.inputs.masks import make_mask
from methods.glcic.config import GLCICConfig
from methods.glcic.data import TrainImages, sample_batch, to_tensors
from methods.glcic.train import Trainer


@pytest.fixture(scope="module")
def pairs():
    samples, _ = get_source("builtin").take(16)
    masks = [make_mask(0, s.id, (160, 160))[0] for s in samples]
    return [blank_hole(s.image, m) for s, m in zip(samples, masks)], masks


def test_inference_batch_of_16(benchmark, pairs):
    method = methods.create("iizuka")
    images, masks = pairs
    outs = benchmark.pedantic(method.inpaint_batch, args=(images, masks), rounds=3, iterations=1)
    assert len(outs) == 16 and all(o.shape == (160, 160, 3) for o in outs)


@pytest.mark.parametrize("phase", [1, 3])
def test_training_step_cpu_config(benchmark, tmp_path, phase):
    cfg = GLCICConfig(width=0.375, resolution=128, batch_size=16, max_images=32, mean_pixel_images=4)
    trainer = Trainer(cfg, tmp_path, progress=False)
    trainer._build()
    images = TrainImages(cfg)
    trainer.mean_pixel = images.mean_pixel(4)
    batch = sample_batch(images, cfg, 0)
    imgs, masks = to_tensors(batch)
    losses = benchmark.pedantic(trainer.train_step, args=(imgs, masks, batch.boxes, phase), rounds=2, iterations=1)
    assert np.isfinite(losses["mse"])
    assert torch.isfinite(next(trainer.C.parameters())).all()
