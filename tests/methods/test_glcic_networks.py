"""GLCIC networks, config and training batches against hand-computed references."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from methods.glcic.config import GLCICConfig, dumps_config, load_config, save_config
from methods.glcic.data import TrainImages, completion_input, crop_patches, sample_batch, to_tensors
from methods.glcic.networks import COMPLETION_LAYERS, LAYER_NAMES, CompletionNet, ContextDiscriminator, count_parameters

TINY = Path(__file__).resolve().parents[1] / "glcic_tiny.toml"

# The paper's Table 1, written out independently of networks.py:
# (kind, in, out, kernel, stride, dilation) for the 17 layers.
PAPER_TABLE_1 = [
    ("conv", 4, 64, 5, 1, 1),
    ("conv", 64, 128, 3, 2, 1),
    ("conv", 128, 128, 3, 1, 1),
    ("conv", 128, 256, 3, 2, 1),
    ("conv", 256, 256, 3, 1, 1),
    ("conv", 256, 256, 3, 1, 1),
    ("conv", 256, 256, 3, 1, 2),
    ("conv", 256, 256, 3, 1, 4),
    ("conv", 256, 256, 3, 1, 8),
    ("conv", 256, 256, 3, 1, 16),
    ("conv", 256, 256, 3, 1, 1),
    ("conv", 256, 256, 3, 1, 1),
    ("deconv", 256, 128, 4, 2, 1),
    ("conv", 128, 128, 3, 1, 1),
    ("deconv", 128, 64, 4, 2, 1),
    ("conv", 64, 32, 3, 1, 1),
    ("conv", 32, 3, 3, 1, 1),
]


def test_layers_match_the_paper_table():
    net = CompletionNet(1.0)
    assert [name for name, _ in net.layers()] == [f"conv{i}" for i in range(1, 18)] == list(LAYER_NAMES)
    for (name, block), (kind, cin, cout, k, s, d) in zip(net.layers(), PAPER_TABLE_1):
        conv = block.conv
        assert block.kind == kind, name
        assert (conv.in_channels, conv.out_channels, conv.kernel_size[0], conv.stride[0], conv.dilation[0]) == (
            cin,
            cout,
            k,
            s,
            d,
        ), name
    assert isinstance(net.conv17.act, torch.nn.Sigmoid) and net.conv17.norm is None


def test_parameter_count_of_full_net_is_about_six_million():
    # Hand count from the table: weights + bias per layer, plus BN scale and shift (not on conv17).
    expected = sum(
        cin * cout * k * k + cout + (2 * cout if i < 16 else 0)
        for i, (_, cin, cout, k, _, _) in enumerate(PAPER_TABLE_1)
    )
    assert expected == 6_072_131
    assert count_parameters(CompletionNet(1.0)) == expected


def test_shapes_and_range_at_any_multiple_of_four():
    net = CompletionNet(0.125).eval()
    for h, w in [(64, 64), (160, 160), (68, 96)]:
        with torch.no_grad():
            out = net(torch.rand(2, 4, h, w))
        assert out.shape == (2, 3, h, w)
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    with pytest.raises(ValueError, match="multiples of 4"):
        net(torch.rand(1, 4, 62, 64))
    with pytest.raises(ValueError, match="N x 4 x H x W"):
        net(torch.rand(1, 3, 64, 64))


def _analytic_interval(o: int) -> tuple[int, int]:
    """Input rows that output row ``o`` depends on, by propagating through the layers
    with integer arithmetic (conv: o*s - p + d*j; transposed conv k=4, s=2, p=1)."""
    lo = hi = o
    for _, kind, _, k, s, d in reversed(COMPLETION_LAYERS):
        if kind == "deconv":
            lo, hi = -((-(lo + 1 - (k - 1))) // s), (hi + 1) // s
        else:
            p = d * (k - 1) // 2
            lo, hi = lo * s - p, hi * s - p + d * (k - 1)
    return lo, hi


def test_receptive_field_covers_a_96px_hole():
    torch.manual_seed(0)
    net = CompletionNet(0.0625).eval()
    # Positive constant filters, zero bias, eval BN (identity-like): every ReLU is active,
    # so the gradient support is exactly the receptive field.
    with torch.no_grad():
        for _, block in net.layers():
            block.conv.weight.fill_(1.0 / block.conv.weight[0].numel())
            block.conv.bias.zero_()
    side = 384
    x = torch.full((1, 4, side, side), 0.5, requires_grad=True)
    for centre in (side // 2, side // 2 + 1):
        x.grad = None
        net(x)[0, 0, centre, centre].backward()
        support = x.grad[0].abs().sum(0)
        rows = torch.nonzero(support.sum(1)).flatten()
        cols = torch.nonzero(support.sum(0)).flatten()
        lo, hi = _analytic_interval(centre)
        assert 0 < lo and hi < side - 1  # not clipped by the border
        assert (int(rows.min()), int(rows.max())) == (lo, hi)
        assert (int(cols.min()), int(cols.max())) == (lo, hi)
        # A pixel at the centre of a 96 px hole sees well past the hole on both sides.
        assert centre - lo > 48 + 64 and hi - centre > 48 + 64


@pytest.mark.parametrize("mode,branches", [("full", 2), ("global", 1), ("local", 1)])
def test_discriminator_modes(mode, branches):
    d = ContextDiscriminator(mode, image_size=160, local_size=96, width=0.125).eval()
    assert (d.global_branch is not None) == (mode in ("full", "global"))
    assert (d.local_branch is not None) == (mode in ("full", "local"))
    assert d.head.in_features == branches * 128  # FC-1024 per branch at width 1/8
    out = d(torch.rand(3, 3, 160, 160), torch.rand(3, 3, 96, 96))
    assert out.shape == (3,)
    with pytest.raises(ValueError, match="96x96"):
        ContextDiscriminator("local", 160, 96, 0.125)(torch.rand(1, 3, 160, 160), torch.rand(1, 3, 64, 64))
    with pytest.raises(ValueError, match="unknown discriminator mode"):
        ContextDiscriminator("both")


def test_paper_discriminator_final_feature_maps():
    # Paper: the global branch reduces 256 px to 4x4 with 6 stride-2 convs, local 128 px to 4x4 with 5.
    d = ContextDiscriminator("full", image_size=256, local_size=128, width=1.0)
    assert d.global_branch.fc.in_features == 512 * 4 * 4
    assert d.local_branch.fc.in_features == 512 * 4 * 4


def test_config_toml_round_trip_and_errors(tmp_path):
    cfg = load_config(TINY)
    path = tmp_path / "c.toml"
    save_config(cfg, path)
    assert load_config(path) == cfg
    assert GLCICConfig() == GLCICConfig.from_dict({})  # the paper's defaults
    assert GLCICConfig().width == 1.0 and GLCICConfig().alpha == 4e-4 and GLCICConfig().optimizer == "adadelta"
    (tmp_path / "bad.toml").write_text("widht = 0.5\n")
    with pytest.raises(ValueError, match="widht"):
        load_config(tmp_path / "bad.toml")
    (tmp_path / "bad2.toml").write_text('width = "wide"\n')
    with pytest.raises(ValueError, match="width"):
        load_config(tmp_path / "bad2.toml")
    with pytest.raises(ValueError, match="local_size"):
        GLCICConfig(resolution=64, hole_max=32, local_size=96, hole_min=16, load_size=64)
    with pytest.raises(ValueError, match="variant"):
        GLCICConfig(variant="both")
    assert "[glcic]" in dumps_config(cfg)


def test_phase_switches_at_configured_steps():
    cfg = GLCICConfig(steps_phase1=3, steps_phase2=2, steps_phase3=4)
    assert [cfg.phase(s) for s in range(9)] == [1, 1, 1, 2, 2, 3, 3, 3, 3]
    assert cfg.total_steps == 9


def test_batches_are_deterministic_and_follow_the_protocol():
    cfg = load_config(TINY).with_overrides(batch_size=6)
    images = TrainImages(cfg)
    a, b, c = sample_batch(images, cfg, 5), sample_batch(images, cfg, 5), sample_batch(images, cfg, 6)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.masks, b.masks)
    assert not np.array_equal(a.masks, c.masks)
    assert not np.array_equal(a.masks, sample_batch(images, cfg, 5, rank=1).masks)
    assert a.images.dtype == np.float32 and a.masks.dtype == bool
    assert a.images.shape == (6, 64, 64, 3) and a.images.min() >= 0 and a.images.max() <= 1
    for mask, (top, left) in zip(a.masks, a.boxes):
        rows, cols = np.nonzero(mask.any(1))[0], np.nonzero(mask.any(0))[0]
        h, w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
        assert mask.sum() == h * w  # one rectangle
        assert 16 <= h <= 32 and 16 <= w <= 32
        assert top <= rows[0] and rows[-1] < top + 32 and left <= cols[0] and cols[-1] < left + 32
        assert 0 <= top <= 32 and 0 <= left <= 32


def test_completion_input_fills_hole_with_mean_pixel():
    rng = np.random.default_rng(0)
    img = rng.random((2, 8, 8, 3), dtype=np.float32)
    mask = np.zeros((2, 8, 8), bool)
    mask[:, 2:5, 3:7] = True
    from methods.glcic.data import Batch

    x, m = to_tensors(Batch(img, mask, np.zeros((2, 2), int)))
    mean = torch.tensor([0.1, 0.2, 0.3])
    inp = completion_input(x, m, mean).numpy()
    assert inp.shape == (2, 4, 8, 8)
    for c in range(3):
        assert np.allclose(inp[:, c][mask], mean[c].item())
        assert np.array_equal(inp[:, c][~mask], img[..., c][~mask])
    assert np.array_equal(inp[:, 3], mask.astype(np.float32))
    patches = crop_patches(x, np.array([[1, 2], [0, 0]]), 4)
    assert torch.equal(patches[0], x[0, :, 1:5, 2:6]) and patches.shape == (2, 3, 4, 4)


def test_mean_pixel_matches_numpy_over_all_images():
    cfg = load_config(TINY)
    images = TrainImages(cfg)
    everything = np.stack([images.image(i) for i in range(len(images))])
    ref = everything.reshape(len(images), -1, 3).mean(axis=1).mean(axis=0)
    assert np.allclose(images.mean_pixel(len(images)), ref, atol=1e-6)
    assert len(images) == 24 and images.ids[0] == "hubble-000"  # builtin train split only
