"""LDR-FLIP's error map against NVIDIA's flip-evaluator (its C++ implementation), on real photographs."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
from skimage import data, transform

from bench.metrics import get_metric
from bench.metrics.flip import DEFAULT_PPD, flip_map

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("flip_evaluator") is None, reason="flip-evaluator (the reference) is not installed"
)


def _reference(pred: np.ndarray, target: np.ndarray, ppd: float) -> tuple[np.ndarray, float]:
    import flip_evaluator

    error, mean, _ = flip_evaluator.evaluate(target, pred, "LDR", applyMagma=False, parameters={"ppd": ppd})
    return np.asarray(error).squeeze(), float(mean)


def _cases():
    rng = np.random.default_rng(3)
    out = []
    for photo, shape in ((data.astronaut(), (96, 80)), (data.coffee(), (160, 160)), (data.chelsea(), (64, 100))):
        target = transform.resize(photo, shape, anti_aliasing=True).astype(np.float32)
        noisy = np.clip(target + rng.normal(0, 0.05, target.shape), 0, 1).astype(np.float32)
        mask = np.zeros(shape, bool)
        mask[10:40, 20:60] = True
        filled = target.copy()
        filled[mask] = target[mask].mean(axis=0)  # a flat fill, as the mean method leaves
        out += [(noisy, target, mask), (filled, target, mask)]
    return out


@pytest.mark.parametrize("ppd", [DEFAULT_PPD, 30.0])
def test_flip_map_equals_flip_evaluator(ppd):
    for pred, target, mask in _cases():
        want, want_mean = _reference(pred, target, ppd)
        got = flip_map(pred, target, ppd)
        assert want.shape == got.shape and want.max() > 0.05
        # flip-evaluator computes in float32 (its ppd too): where the images are equal up to its
        # rounding, the colour error's 0.7 power lifts that rounding to about 1e-5 per pixel.
        np.testing.assert_allclose(got, want, atol=1e-4)
        assert got.mean() == pytest.approx(want_mean, abs=2e-6)
        metric = get_metric("flip" if ppd == DEFAULT_PPD else f"flip:ppd={ppd}")
        assert metric.fn(pred, target, mask, "image") == pytest.approx(want.mean(), abs=2e-6)
        assert metric.fn(pred, target, mask, "hole") == pytest.approx(want[mask].mean(), abs=2e-5)


def test_identical_images_have_no_visible_difference():
    _, target, mask = _cases()[0]
    assert np.all(flip_map(target, target) == 0.0)
    assert get_metric("flip").fn(target, target, mask, "hole") == 0.0
