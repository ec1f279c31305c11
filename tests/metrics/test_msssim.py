"""MS-SSIM against pytorch-msssim (and where torchmetrics stands), on real photographs."""

from __future__ import annotations

import importlib.util
import logging

import numpy as np
import pytest
import torch
from skimage import data, transform

import bench.metrics.msssim as msssim_module
from bench.metrics import get_metric
from bench.metrics.msssim import WEIGHTS, min_side, ms_ssim

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("pytorch_msssim") is None, reason="pytorch-msssim (the reference) is not installed"
)


def _pair(shape: tuple[int, int], photo=data.astronaut, sigma: float = 0.06, seed: int = 0):
    rng = np.random.default_rng(seed)
    target = transform.resize(photo(), shape, anti_aliasing=True).astype(np.float32)
    pred = np.clip(target + rng.normal(0, sigma, target.shape), 0, 1).astype(np.float32)
    return pred, target


def _reference(pred: np.ndarray, target: np.ndarray, weights=None) -> float:
    from pytorch_msssim import ms_ssim as ref

    def t(x):
        return torch.from_numpy(x).permute(2, 0, 1)[None].double()

    # pytorch-msssim's window (_fspecial_gauss_1d), evaluated in float64 rather than float32.
    coords = torch.arange(11, dtype=torch.float64) - 5
    g = torch.exp(-(coords**2) / (2 * 1.5**2))
    win = (g / g.sum()).view(1, 1, 1, 11).repeat(3, 1, 1, 1)
    return ref(t(pred), t(target), data_range=1.0, win=win, weights=weights).item()


@pytest.mark.parametrize(
    "shape, photo, sigma",
    [((176, 176), data.astronaut, 0.06), ((181, 193), data.chelsea, 0.2), ((240, 200), data.coffee, 0.02)],
)
def test_msssim_equals_pytorch_msssim(shape, photo, sigma):
    pred, target = _pair(shape, photo, sigma)
    want = _reference(pred, target)
    assert 0.3 < want < 0.999
    assert ms_ssim(pred, target) == pytest.approx(want, abs=1e-6)
    mask = np.zeros(shape, bool)
    metric = get_metric("msssim")
    assert metric.fn(pred, target, mask, "image") == pytest.approx(want, abs=1e-6)
    assert metric.fn(pred, target, mask, "hole") is None  # no per-pixel map, no hole value


def test_fewer_scales_renormalise_the_exponents_as_the_reference_given_them():
    pred, target = _pair((176, 176), data.rocket, 0.1)
    for scales in (3, 4):
        weights = list(np.array(WEIGHTS[:scales]) / sum(WEIGHTS[:scales]))
        assert ms_ssim(pred, target, scales) == pytest.approx(_reference(pred, target, weights), abs=1e-6)


def test_at_160_px_five_scales_are_withheld_as_both_references_refuse(caplog, monkeypatch):
    # The warning is given once per process: forget an earlier test's.
    monkeypatch.setattr(msssim_module, "_warned", set())
    from pytorch_msssim import ms_ssim as ref
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as tm

    pred, target = _pair((160, 160))
    x, y = (torch.from_numpy(a).permute(2, 0, 1)[None] for a in (pred, target))
    with pytest.raises(AssertionError, match="larger than 160"):
        ref(x, y, data_range=1.0)
    with pytest.raises(ValueError, match="larger than 160"):
        tm(x, y, data_range=1.0)
    assert min_side(5) == 161
    with caplog.at_level(logging.WARNING, logger="bench"):
        value = get_metric("msssim").fn(pred, target, np.zeros((160, 160), bool), "image")
    assert np.isnan(value)
    assert any("161 px" in r.getMessage() and "msssim:scales=N" in r.getMessage() for r in caplog.records)
    # Four scales fit: the value a reference gives with the same four renormalised exponents.
    bigger = _pair((176, 176))
    weights = list(np.array(WEIGHTS[:4]) / sum(WEIGHTS[:4]))
    assert get_metric("msssim:scales=4").fn(*bigger, None, "image") == pytest.approx(
        _reference(*bigger, weights), abs=1e-6
    )
    assert not np.isnan(get_metric("msssim:scales=4").fn(pred, target, None, "image"))


def test_torchmetrics_differs_only_by_its_padded_last_scale_and_channel_mean():
    # torchmetrics averages the channels before the product and pads the last scale's SSIM map by
    # reflection: close to, but not, Wang et al.'s valid-window value that pytorch-msssim computes.
    from torchmetrics.functional.image import multiscale_structural_similarity_index_measure as tm

    pred, target = _pair((192, 192), data.astronaut, 0.05)
    x, y = (torch.from_numpy(a).permute(2, 0, 1)[None].double() for a in (pred, target))
    assert tm(x, y, data_range=1.0).item() == pytest.approx(ms_ssim(pred, target), abs=0.01)


def test_identical_images_score_one_and_bad_scales_are_refused():
    pred, _ = _pair((176, 176))
    assert ms_ssim(pred, pred) == pytest.approx(1.0, abs=1e-12)
    with pytest.raises(ValueError, match="scales=6"):
        ms_ssim(pred, pred, 6)
