"""GLCIC networks: the completion network and the context discriminators.

Iizuka, Simo-Serra, Ishikawa 2017, "Globally and Locally Consistent Image Completion", Tables 1-3.

Every hidden channel count is the paper's multiplied by ``width`` (rounded, at least 1),
so ``width=1`` is the paper's network (about 6.06 M parameters in the completion net)
and small widths give CPU-trainable variants with the same topology.
"""

from __future__ import annotations

import torch
from torch import nn

# (name, kind, out_channels, kernel, stride, dilation). "deconv" is a transposed
# convolution with stride 1/2 in the paper's notation (i.e. x2 upsampling).
COMPLETION_LAYERS: tuple[tuple[str, str, int, int, int, int], ...] = (
    ("conv1", "conv", 64, 5, 1, 1),
    ("conv2", "conv", 128, 3, 2, 1),
    ("conv3", "conv", 128, 3, 1, 1),
    ("conv4", "conv", 256, 3, 2, 1),
    ("conv5", "conv", 256, 3, 1, 1),
    ("conv6", "conv", 256, 3, 1, 1),
    ("conv7", "conv", 256, 3, 1, 2),
    ("conv8", "conv", 256, 3, 1, 4),
    ("conv9", "conv", 256, 3, 1, 8),
    ("conv10", "conv", 256, 3, 1, 16),
    ("conv11", "conv", 256, 3, 1, 1),
    ("conv12", "conv", 256, 3, 1, 1),
    ("conv13", "deconv", 128, 4, 2, 1),
    ("conv14", "conv", 128, 3, 1, 1),
    ("conv15", "deconv", 64, 4, 2, 1),
    ("conv16", "conv", 32, 3, 1, 1),
    ("conv17", "conv", 3, 3, 1, 1),
)
LAYER_NAMES = tuple(name for name, *_ in COMPLETION_LAYERS)
# The two stride-2 layers: inputs must be a multiple of this to come back at the same size.
SIZE_MULTIPLE = 4

# Discriminator conv stacks: 5x5 kernels, stride 2 (paper Tables 2 and 3).
LOCAL_CHANNELS = (64, 128, 256, 512, 512)
GLOBAL_CHANNELS = (64, 128, 256, 512, 512, 512)
FC_FEATURES = 1024
DISC_MODES = ("full", "global", "local")


def scaled(channels: int, width: float) -> int:
    """Channel count of a layer at a width multiplier (at least 1)."""
    if width <= 0:
        raise ValueError(f"width must be > 0, got {width}")
    return max(1, int(round(channels * width)))


class Block(nn.Module):
    """One layer of the completion net.

    A (transposed) convolution, then BN + ReLU, or a sigmoid for the output layer.

    The block is the unit that ``conv14.44`` addresses: channel 44 of the block's output.
    """

    def __init__(self, kind: str, cin: int, cout: int, kernel: int, stride: int, dilation: int, last: bool):
        super().__init__()
        self.kind = kind
        if kind == "deconv":
            # k=4, s=2, p=1 doubles the size exactly.
            self.conv = nn.ConvTranspose2d(cin, cout, kernel, stride=stride, padding=1)
        else:
            # "same" padding for odd kernels at any dilation.
            self.conv = nn.Conv2d(
                cin, cout, kernel, stride=stride, padding=dilation * (kernel - 1) // 2, dilation=dilation
            )
        self.norm = None if last else nn.BatchNorm2d(cout)
        self.act = nn.Sigmoid() if last else nn.ReLU(inplace=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        return self.act(x)


class CompletionNet(nn.Module):
    """The 17-layer completion network, layers named ``conv1`` ... ``conv17``.

    Parameters
    ----------
    width : float
        Channel multiplier; 1.0 is the paper.

    Notes
    -----
    Input: N x 4 x H x W (RGB with the hole filled by the dataset mean pixel, then
    the mask channel, 1 = missing); H and W must be multiples of 4. Output:
    N x 3 x H x W in [0, 1].
    """

    def __init__(self, width: float = 1.0):
        super().__init__()
        self.width = width
        cin = 4
        for i, (name, kind, cout, k, s, d) in enumerate(COMPLETION_LAYERS):
            last = i == len(COMPLETION_LAYERS) - 1
            out = cout if last else scaled(cout, width)
            self.add_module(name, Block(kind, cin, out, k, s, d, last))
            cin = out

    def layers(self) -> list[tuple[str, Block]]:
        """The 17 blocks in order, with their names."""
        return [(name, getattr(self, name)) for name in LAYER_NAMES]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != 4:
            raise ValueError(f"CompletionNet expects N x 4 x H x W input, got {tuple(x.shape)}")
        if x.shape[2] % SIZE_MULTIPLE or x.shape[3] % SIZE_MULTIPLE:
            raise ValueError(
                f"CompletionNet input sides must be multiples of {SIZE_MULTIPLE}, got {x.shape[2]}x{x.shape[3]}"
            )
        for _, block in self.layers():
            x = block(x)
        return x


def _conv_out(size: int, layers: int) -> int:
    """Spatial side after ``layers`` 5x5, stride-2, padding-2 convolutions."""
    for _ in range(layers):
        size = (size - 1) // 2 + 1
    return size


class DiscBranch(nn.Module):
    """A stack of 5x5 stride-2 conv + BN + ReLU layers, then FC -> ``FC_FEATURES``."""

    def __init__(self, channels: tuple[int, ...], input_size: int, width: float):
        super().__init__()
        layers: list[nn.Module] = []
        cin = 3
        for c in channels:
            cout = scaled(c, width)
            layers += [nn.Conv2d(cin, cout, 5, stride=2, padding=2), nn.BatchNorm2d(cout), nn.ReLU()]
            cin = cout
        self.features = nn.Sequential(*layers)
        self.input_size = input_size
        side = _conv_out(input_size, len(channels))
        self.fc = nn.Linear(cin * side * side, scaled(FC_FEATURES, width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            raise ValueError(
                f"discriminator branch expects {self.input_size}x{self.input_size} "
                f"input, got {x.shape[-2]}x{x.shape[-1]}"
            )
        return torch.relu(self.fc(self.features(x).flatten(1)))


class ContextDiscriminator(nn.Module):
    """Global and/or local discriminator; branch features are concatenated, FC -> 1 logit.

    Parameters
    ----------
    mode : {"full", "global", "local"}
        Which branches exist; the single-branch modes are the study's ablations.
    image_size : int
        Side of the (square) training images seen by the global branch.
    local_size : int
        Side of the hole-centred patch seen by the local branch.
    width : float
        Channel multiplier (also applied to the FC-1024 layers).
    """

    def __init__(self, mode: str = "full", image_size: int = 160, local_size: int = 96, width: float = 1.0):
        super().__init__()
        if mode not in DISC_MODES:
            raise ValueError(f"unknown discriminator mode {mode!r} (known: {', '.join(DISC_MODES)})")
        self.mode = mode
        self.global_branch = DiscBranch(GLOBAL_CHANNELS, image_size, width) if mode in ("full", "global") else None
        self.local_branch = DiscBranch(LOCAL_CHANNELS, local_size, width) if mode in ("full", "local") else None
        n_branches = 2 if mode == "full" else 1
        self.head = nn.Linear(n_branches * scaled(FC_FEATURES, width), 1)

    def forward(self, image: torch.Tensor, patch: torch.Tensor) -> torch.Tensor:
        """Logits (N,) for whole images and their hole-centred patches."""
        feats = []
        if self.global_branch is not None:
            feats.append(self.global_branch(image))
        if self.local_branch is not None:
            feats.append(self.local_branch(patch))
        return self.head(torch.cat(feats, dim=1)).squeeze(1)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
