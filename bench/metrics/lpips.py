"""LPIPS (Zhang et al. 2018) and its spatial map over the hole, as the ``lpips`` package computes them.

``lpips`` is the package's ``LPIPS(net=..., version="0.1")`` value of an output against its real
image: inputs scaled from [0, 1] to [-1, 1], shifted and scaled by its ScalingLayer, each backbone
activation unit-normalised over channels, squared differences weighted by the v0.1 linear heads
(kept in ``lpips_weights/`` with their licence) and averaged over space, summed over layers.
``hole_lpips`` averages over the hole the package's ``spatial=True`` map (each layer's weighted
difference upsampled bilinearly to the image size, summed over layers), as hole SSIM averages
the SSIM map.

The ImageNet backbone is the user's own file: ``lpips:backbone=FILE``, else
``$INPAINT_BENCH_LPIPS_BACKBONE`` (a file, or a folder holding torchvision's file name), else
torchvision's file in the torch hub cache (``$TORCH_HOME/hub/checkpoints``, by default
``~/.cache/torch/hub/checkpoints``). Without it the metric cannot run, and a run naming it is
refused before any work (:class:`~bench.metrics.registry.MetricUnavailable`).
"""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import numpy as np

from bench.core.digest import file_sha256
from bench.metrics.registry import MetricUnavailable, register_metric

ENV = "INPAINT_BENCH_LPIPS_BACKBONE"
HEADS = Path(__file__).parent / "lpips_weights"
# torchvision's checkpoint file name of each backbone (what the torch hub cache holds).
BACKBONE_FILES = {
    "alex": "alexnet-owt-7be5be79.pth",
    "vgg": "vgg16-397923af.pth",
    "squeeze": "squeezenet1_1-b8a52dc0.pth",
}
NETS = tuple(BACKBONE_FILES)


def hub_checkpoints() -> Path:
    """The torch hub checkpoint folder, found as ``torch.hub.get_dir`` finds it."""
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME") or "~/.cache", "torch")
    return Path(home).expanduser() / "hub" / "checkpoints"


def backbone_path(net: str, backbone: str = "") -> Path:
    """The backbone file LPIPS with ``net`` uses (see the module docstring for the search order).

    Raises
    ------
    MetricUnavailable
        No such file: the message names the file looked for and where to put it.
    """
    if net not in NETS:
        raise ValueError(f"metric 'lpips': net={net!r} is not one of {', '.join(NETS)}")
    wanted = BACKBONE_FILES[net]
    if backbone:
        path = Path(backbone).expanduser()
        if not path.is_file():
            raise MetricUnavailable(f"lpips:backbone={backbone}: no such file (torchvision's {wanted} is expected)")
        return path
    env = os.environ.get(ENV, "")
    if env:
        path = Path(env).expanduser()
        path = path / wanted if path.is_dir() else path
        if not path.is_file():
            raise MetricUnavailable(f"{ENV}={env}: {path} does not exist (torchvision's {wanted} is expected)")
        return path
    path = hub_checkpoints() / wanted
    if not path.is_file():
        raise MetricUnavailable(
            f"LPIPS needs the ImageNet backbone {path} (not found): copy torchvision's {wanted} there, "
            f"or name it with lpips:backbone=FILE or {ENV}=FILE"
        )
    return path


def _model(net: str, path: Path):
    """The LPIPS network of ``net`` on the backbone at ``path``, loaded once per version of the file."""
    try:
        stat = path.stat()
    except OSError:
        return _model_of(net, path, -1, -1)  # the loader names the file and what is wrong with it
    return _model_of(net, path, stat.st_size, stat.st_mtime_ns)


@cache
def _model_of(net: str, path: Path, size: int, mtime_ns: int):
    from bench.metrics.lpips_net import BackboneError, LPIPSNet  # torch, only once LPIPS is computed

    try:
        return LPIPSNet(net, path, HEADS / f"{net}.pth")
    except BackboneError as err:
        raise MetricUnavailable(str(err)) from None


def lpips_maps(pred: np.ndarray, target: np.ndarray, net: str = "alex", backbone: str = "") -> tuple[float, np.ndarray]:
    """LPIPS of two contract images and its spatial map.

    Parameters
    ----------
    pred, target : np.ndarray
        ``H x W x 3`` float32 in [0, 1].
    net : {"alex", "vgg", "squeeze"}
        Backbone.
    backbone : str
        Its file ('' searches as :func:`backbone_path` does).

    Returns
    -------
    value : float
        ``LPIPS(net=net)(pred, target)`` (inputs scaled to [-1, 1]).
    spatial : np.ndarray
        ``H x W`` float32: ``LPIPS(net=net, spatial=True)``'s map.
    """
    return _model(net, backbone_path(net, backbone))(pred, target)


_LAST: list = []  # (pred, target, net, backbone, value, map): the hole region reuses the image region's pass


def _cached(pred: np.ndarray, target: np.ndarray, net: str, backbone: str) -> tuple[float, np.ndarray]:
    if _LAST and _LAST[0] is pred and _LAST[1] is target and _LAST[2:4] == [net, backbone]:
        return _LAST[4], _LAST[5]
    value, spatial = lpips_maps(pred, target, net, backbone)
    _LAST[:] = [pred, target, net, backbone, value, spatial]
    return value, spatial


def check(net: str = "alex", backbone: str = "") -> None:
    """Refuse (:class:`MetricUnavailable`) when the backbone file is missing or unreadable."""
    _model(net, backbone_path(net, backbone))


def weights(net: str = "alex", backbone: str = "") -> str:
    """The backbone and head files LPIPS of ``net`` is computed from, with their SHA-256."""
    path = backbone_path(net, backbone)
    heads = HEADS / f"{net}.pth"
    return f"backbone {path.name} sha256 {_sha256(path)}, heads v0.1 {heads.name} sha256 {_sha256(heads)}"


def _sha256(path: Path) -> str:
    stat = path.stat()
    return _sha256_of(path.resolve(), stat.st_size, stat.st_mtime_ns)


@cache
def _sha256_of(path: Path, size: int, mtime_ns: int) -> str:
    """Hashed once per file version (a backbone is hundreds of MB for VGG)."""
    return file_sha256(path)


@register_metric(
    "lpips",
    kind="image",
    higher_is_better=False,
    summary="LPIPS v0.1 (Zhang et al. 2018), net=alex|vgg|squeeze from your torchvision backbone file; "
    "hole: spatial map averaged over hole pixels",
    label="LPIPS",
    digits=4,
    tolerance={"abs": 0.002},
    hole_tolerance={"abs": 0.005},
    group="perceptual",
    reference="Zhang et al. 2018; the lpips package 0.1.4, LPIPS(net, version='0.1'), heads v0.1",
    params={"net": "alex", "backbone": ""},
    check=check,
    weights=weights,
)
def lpips(
    pred: np.ndarray, target: np.ndarray, mask: np.ndarray, region: str = "image", net: str = "alex", backbone: str = ""
) -> float:
    """LPIPS of the whole image (the package's value), or its spatial map averaged over the hole."""
    value, spatial = _cached(pred, target, net, backbone)
    if region == "image":
        return value
    if not mask.any():
        return float("nan")
    return float(spatial[mask].mean(dtype=np.float64))
