"""The LPIPS network: torchvision's AlexNet, VGG-16 or SqueezeNet 1.1 features, cut as LPIPS cuts them, and its heads.

Each backbone is built with torchvision's layer layout (``features.<index>`` modules in
torchvision's order), so torchvision's ImageNet checkpoints (``alexnet-owt-7be5be79.pth``,
``vgg16-397923af.pth``, ``squeezenet1_1-b8a52dc0.pth``) load into it key for key, without
torchvision. :meth:`Backbone.forward` returns the activations after each slice of the ``lpips``
package's ``pretrained_networks`` (AlexNet's five ReLUs, VGG's ``relu1_2`` ... ``relu5_3``,
SqueezeNet's seven stages); :class:`LPIPSNet` adds the package's scaling, normalisation and
linear heads. Imported only when LPIPS is computed (it imports torch).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CHANNELS", "SLICES", "Backbone", "BackboneError", "LPIPSNet", "build_features"]

# Index ranges of ``features`` after which LPIPS reads an activation (lpips' pretrained_networks).
SLICES = {
    "alex": (2, 5, 8, 10, 12),
    "vgg": (4, 9, 16, 23, 30),
    "squeeze": (2, 5, 8, 10, 11, 12, 13),
}
CHANNELS = {
    "alex": (64, 192, 384, 256, 256),
    "vgg": (64, 128, 256, 512, 512),
    "squeeze": (64, 128, 256, 384, 384, 512, 512),
}
_VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")


class BackboneError(ValueError):
    """A backbone file that cannot be read or does not hold the network's weights; the message names it."""


class Fire(nn.Module):
    """SqueezeNet's fire module, with torchvision's attribute names."""

    def __init__(self, inplanes: int, squeeze: int, expand1x1: int, expand3x3: int):
        super().__init__()
        self.squeeze = nn.Conv2d(inplanes, squeeze, kernel_size=1)
        self.squeeze_activation = nn.ReLU()
        self.expand1x1 = nn.Conv2d(squeeze, expand1x1, kernel_size=1)
        self.expand1x1_activation = nn.ReLU()
        self.expand3x3 = nn.Conv2d(squeeze, expand3x3, kernel_size=3, padding=1)
        self.expand3x3_activation = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat(
            [self.expand1x1_activation(self.expand1x1(x)), self.expand3x3_activation(self.expand3x3(x))], 1
        )


def build_features(net: str) -> nn.Sequential:
    """The ``features`` stack of ``net`` as torchvision builds it (``alex``, ``vgg`` or ``squeeze``), untrained."""
    if net == "alex":
        return nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=11, stride=4, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(64, 192, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
            nn.Conv2d(192, 384, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(384, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Conv2d(256, 256, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2),
        )
    if net == "vgg":
        layers: list[nn.Module] = []
        channels = 3
        for width in _VGG16:
            if width == "M":
                layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            else:
                layers += [nn.Conv2d(channels, int(width), kernel_size=3, padding=1), nn.ReLU()]
                channels = int(width)
        return nn.Sequential(*layers)
    if net == "squeeze":
        return nn.Sequential(
            nn.Conv2d(3, 64, kernel_size=3, stride=2),
            nn.ReLU(),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(64, 16, 64, 64),
            Fire(128, 16, 64, 64),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(128, 32, 128, 128),
            Fire(256, 32, 128, 128),
            nn.MaxPool2d(kernel_size=3, stride=2, ceil_mode=True),
            Fire(256, 48, 192, 192),
            Fire(384, 48, 192, 192),
            Fire(384, 64, 256, 256),
            Fire(512, 64, 256, 256),
        )
    raise ValueError(f"unknown LPIPS backbone {net!r} (known: {', '.join(SLICES)})")


class Backbone(nn.Module):
    """A feature stack returning LPIPS's activations, weights from a torchvision checkpoint.

    Parameters
    ----------
    net : {"alex", "vgg", "squeeze"}
        Which network.
    path : Path
        torchvision's checkpoint of it (a state dict; only its ``features.*`` entries are used).

    Raises
    ------
    BackboneError
        The file cannot be read or its ``features.*`` entries do not fit the network.
    """

    def __init__(self, net: str, path: Path):
        super().__init__()
        self.net = net
        self.features = build_features(net)
        self.cuts = SLICES[net]
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as err:  # a truncated file, a pickle of other objects, not a file at all
            raise BackboneError(f"LPIPS backbone {path}: cannot be read ({type(err).__name__}: {err})") from None
        if not isinstance(state, dict):
            raise BackboneError(f"LPIPS backbone {path}: holds {type(state).__name__}, not a state dict")
        features = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
        try:
            self.features.load_state_dict(features, strict=True)
        except RuntimeError as err:
            first = str(err).strip().splitlines()
            raise BackboneError(
                f"LPIPS backbone {path}: not torchvision's {net} layout ({' '.join(first[:2])[:300]})"
            ) from None
        self.eval()
        for p in self.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Activations after each LPIPS slice, shallow to deep."""
        out, start = [], 0
        layers = list(self.features.children())
        for stop in self.cuts:
            for layer in layers[start:stop]:
                x = layer(x)
            out.append(x)
            start = stop
        return out


# lpips' ScalingLayer: ImageNet's mean and std expressed on the [-1, 1] scale.
SHIFT = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
SCALE = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)
EPS = 1e-10  # lpips.normalize_tensor


class LPIPSNet:
    """LPIPS v0.1 of one backbone: :meth:`__call__` gives the value and the spatial map.

    Parameters
    ----------
    net : {"alex", "vgg", "squeeze"}
        Backbone.
    backbone : Path
        torchvision's checkpoint of it.
    heads : Path
        The ``lpips`` package's ``weights/v0.1/<net>.pth`` (``lin<k>.model.1.weight`` entries).
    """

    def __init__(self, net: str, backbone: Path, heads: Path):
        self.backbone = Backbone(net, backbone)
        state = torch.load(heads, map_location="cpu", weights_only=True)
        self.heads = [state[f"lin{k}.model.1.weight"].float() for k in range(len(CHANNELS[net]))]

    def __call__(self, pred: np.ndarray, target: np.ndarray) -> tuple[float, np.ndarray]:
        """``LPIPS(net)(pred, target)`` and ``LPIPS(net, spatial=True)``'s ``H x W`` map; images in [0, 1]."""
        with torch.no_grad():
            x = torch.from_numpy(np.stack([pred, target]).astype(np.float32)).permute(0, 3, 1, 2)
            x = (2 * x - 1 - SHIFT) / SCALE
            size = x.shape[2:]
            value = torch.zeros(())
            spatial = torch.zeros(size)
            for feat, weight in zip(self.backbone(x), self.heads):
                feat = feat / (torch.sqrt(torch.sum(feat**2, dim=1, keepdim=True)) + EPS)
                layer = F.conv2d((feat[0:1] - feat[1:2]) ** 2, weight)
                value = value + layer.mean(dim=(2, 3))[0, 0]
                spatial = spatial + F.interpolate(layer, size=size, mode="bilinear", align_corners=False)[0, 0]
        return float(value), spatial.numpy()
