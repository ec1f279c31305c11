"""The FID Inception network rebuilt in eager PyTorch from the verified TorchScript file.

The shipped ``default_1.pt`` (see :mod:`bench.metrics.inception`) is a TorchScript
graph that forces NCHW (``contiguous()`` after every branch) and runs batch norm
and ReLU as separate passes. This module builds the same network as ordinary
``torch.nn`` modules from that file's parameters:

- every ``Conv2dLayer`` (convolution without bias, batch norm with ``beta`` only
  and ``eps = 1e-3``, ReLU) becomes one convolution with the batch norm folded in
  (``w * s`` and ``beta - mean * s`` with ``s = 1 / sqrt(var + eps)``, computed in
  float64 and stored as float32), followed by an in-place ReLU;
- activations stay channels-last, so oneDNN runs every convolution and the 3x3
  average pools are vectorised over channels.

The block structure (InceptionA x3, B, C x4, D, E with an average-pool branch,
E with a max-pool branch, then the global average over the 8 x 8 map) is read
from the TorchScript code of the 2015-12-05 TF graph's export; the parameters are
taken from the file by their names, so a missing or misshapen tensor fails
loudly. Features agree with the TorchScript network to about 2e-6 of their
largest value (``tests/metrics/test_fid_inception.py`` checks 1e-5 on real photos); on
this project's 2-core machine the forward pass is about 1.4x faster with one
thread (``tests/benchmarks/test_fid_speed.py``).

Public API
----------
FIDInception.from_torchscript(module) -> FIDInception
    The eager network, in eval mode, from the loaded ``default_1.pt``.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["FIDInception"]

BN_EPS = 1e-3  # the TF graph's batch-norm epsilon, as in the TorchScript code


class _ConvBNReLU(nn.Module):
    """One ``Conv2dLayer`` of the TorchScript file with its batch norm folded into the convolution."""

    def __init__(self, layer: Any):
        super().__init__()
        w = layer.weight.detach().to(torch.float64)
        scale = 1.0 / torch.sqrt(layer.var.detach().to(torch.float64) + BN_EPS)
        padding = layer.padding if isinstance(layer.padding, int) else tuple(layer.padding)
        self.conv = nn.Conv2d(
            w.shape[1], w.shape[0], tuple(w.shape[2:]), stride=int(layer.stride), padding=padding, bias=True
        )
        with torch.no_grad():
            self.conv.weight.copy_((w * scale[:, None, None, None]).to(torch.float32))
            self.conv.bias.copy_(
                (layer.beta.detach().to(torch.float64) - layer.mean.detach().to(torch.float64) * scale).to(
                    torch.float32
                )
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.conv(x), inplace=True)


def _chain(parent: Any, names: list[str]) -> nn.Sequential:
    return nn.Sequential(*[_ConvBNReLU(getattr(parent, name)) for name in names])


def _avg3(x: torch.Tensor) -> torch.Tensor:
    # TF's SAME average pool divides by the pixels inside the image (count_include_pad=False).
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


def _max3(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride=1, padding=1)


def _max3_stride2(x: torch.Tensor) -> torch.Tensor:
    return F.max_pool2d(x, 3, stride=2)


class _BlockA(nn.Module):
    """InceptionA (``mixed``, ``mixed_1``, ``mixed_2``): 1x1, 5x5, double 3x3, pool branches."""

    def __init__(self, m: Any):
        super().__init__()
        self.b1x1 = _ConvBNReLU(m.conv)
        self.b5x5 = _chain(m.tower, ["conv", "conv_1"])
        self.b3x3 = _chain(m.tower_1, ["conv", "conv_1", "conv_2"])
        self.bpool = _ConvBNReLU(m.tower_2.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1x1(x), self.b5x5(x), self.b3x3(x), self.bpool(_avg3(x))], 1)


class _BlockB(nn.Module):
    """InceptionB (``mixed_3``): the 35 -> 17 grid reduction."""

    def __init__(self, m: Any):
        super().__init__()
        self.b3x3 = _ConvBNReLU(m.conv)
        self.b3x3dbl = _chain(m.tower, ["conv", "conv_1", "conv_2"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b3x3(x), self.b3x3dbl(x), _max3_stride2(x)], 1)


class _BlockC(nn.Module):
    """InceptionC (``mixed_4`` .. ``mixed_7``): factorised 7x7 branches."""

    def __init__(self, m: Any):
        super().__init__()
        self.b1x1 = _ConvBNReLU(m.conv)
        self.b7x7 = _chain(m.tower, ["conv", "conv_1", "conv_2"])
        self.b7x7dbl = _chain(m.tower_1, ["conv", "conv_1", "conv_2", "conv_3", "conv_4"])
        self.bpool = _ConvBNReLU(m.tower_2.conv)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b1x1(x), self.b7x7(x), self.b7x7dbl(x), self.bpool(_avg3(x))], 1)


class _BlockD(nn.Module):
    """InceptionD (``mixed_8``): the 17 -> 8 grid reduction."""

    def __init__(self, m: Any):
        super().__init__()
        self.b3x3 = _chain(m.tower, ["conv", "conv_1"])
        self.b7x7x3 = _chain(m.tower_1, ["conv", "conv_1", "conv_2", "conv_3"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([self.b3x3(x), self.b7x7x3(x), _max3_stride2(x)], 1)


class _BlockE(nn.Module):
    """InceptionE (``mixed_9`` with an average pool, ``mixed_10`` with a max pool, as in the TF FID graph)."""

    def __init__(self, m: Any, pool):
        super().__init__()
        self.b1x1 = _ConvBNReLU(m.conv)
        self.b3x3 = _ConvBNReLU(m.tower_conv)
        self.b3x3_a, self.b3x3_b = _ConvBNReLU(m.tower_mixed_conv), _ConvBNReLU(m.tower_mixed_conv_1)
        self.b3x3dbl = _chain(m, ["tower_1_conv", "tower_1_conv_1"])
        self.b3x3dbl_a, self.b3x3dbl_b = _ConvBNReLU(m.tower_1_mixed_conv), _ConvBNReLU(m.tower_1_mixed_conv_1)
        self.bpool = _ConvBNReLU(m.tower_2_conv)
        self.pool = pool

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a, b = self.b3x3(x), self.b3x3dbl(x)
        return torch.cat(
            [
                self.b1x1(x),
                self.b3x3_a(a),
                self.b3x3_b(a),
                self.b3x3dbl_a(b),
                self.b3x3dbl_b(b),
                self.bpool(self.pool(x)),
            ],
            1,
        )


class FIDInception(nn.Module):
    """The FID Inception (pool3, 2048-d) as eager, channels-last modules.

    Takes what the TorchScript file takes (``N x 3 x 299 x 299`` float32 scaled as
    ``(x - 128) / 128``) and returns ``N x 2048`` features.
    """

    def __init__(self, layers: Any):
        super().__init__()
        self.stem = nn.Sequential(
            _ConvBNReLU(layers.conv),
            _ConvBNReLU(layers.conv_1),
            _ConvBNReLU(layers.conv_2),
            nn.MaxPool2d(3, stride=2),
            _ConvBNReLU(layers.conv_3),
            _ConvBNReLU(layers.conv_4),
            nn.MaxPool2d(3, stride=2),
        )
        self.blocks = nn.Sequential(
            _BlockA(layers.mixed),
            _BlockA(layers.mixed_1),
            _BlockA(layers.mixed_2),
            _BlockB(layers.mixed_3),
            _BlockC(layers.mixed_4),
            _BlockC(layers.mixed_5),
            _BlockC(layers.mixed_6),
            _BlockC(layers.mixed_7),
            _BlockD(layers.mixed_8),
            _BlockE(layers.mixed_9, _avg3),
            _BlockE(layers.mixed_10, _max3),
        )

    @classmethod
    def from_torchscript(cls, module: Any) -> FIDInception:
        """Build the eager network from the loaded ``default_1.pt`` (``module.net.layers``)."""
        return cls(module.net.layers).eval()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"expected N x 3 x H x W input, got shape {tuple(x.shape)}")
        x = x.contiguous(memory_format=torch.channels_last)
        # The TF graph's final 8 x 8 average pool is the mean over the whole map.
        return self.blocks(self.stem(x)).mean(dim=(2, 3))
