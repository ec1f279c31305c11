"""Interventions on a trained completion net.

Zero channels, make a layer the identity, count forward passes, observe activations.

Layers are addressed by the names ``conv1`` ... ``conv17`` of
:data:`methods.glcic.networks.LAYER_NAMES`; ``conv14.44`` is output channel 44 of
layer 14 (after its BN + ReLU). These are the hooks the channel-ablation study uses.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from methods.glcic.networks import LAYER_NAMES, CompletionNet

_DROP_ITEM = re.compile(r"^(conv\d+)\.(\d+)$")


def parse_drop(spec: str) -> dict[str, list[int]]:
    """Parse ``"conv1.0+conv2.102+conv14.44"`` into ``{"conv1": [0], "conv2": [102], ...}``.

    Parameters
    ----------
    spec : str
        ``+``-separated ``LAYER.CHANNEL`` items; empty means nothing dropped.

    Returns
    -------
    dict of str to list of int
        Sorted, de-duplicated channels per layer.

    Raises
    ------
    ValueError
        On a malformed item or an unknown layer name (channel ranges are checked
        against a model by :func:`zero_channels`).
    """
    drops: dict[str, set[int]] = {}
    for item in filter(None, (p.strip() for p in spec.split("+"))):
        match = _DROP_ITEM.match(item)
        if not match:
            raise ValueError(f"drop: bad item {item!r} in {spec!r}; expected LAYER.CHANNEL like conv14.44")
        layer, channel = match.group(1), int(match.group(2))
        if layer not in LAYER_NAMES:
            raise ValueError(f"drop: unknown layer {layer!r} in {spec!r} (layers: conv1 ... conv17)")
        drops.setdefault(layer, set()).add(channel)
    return {layer: sorted(chs) for layer, chs in drops.items()}


def _block(model: CompletionNet, layer: str) -> nn.Module:
    if layer not in LAYER_NAMES:
        raise ValueError(f"unknown layer {layer!r} (layers: conv1 ... conv17)")
    return getattr(model, layer)


def layer_channels(model: CompletionNet, layer: str) -> int:
    """Number of output channels of ``layer``."""
    return _block(model, layer).conv.out_channels


def zero_channels(model: CompletionNet, drops: dict[str, list[int]]) -> list[torch.utils.hooks.RemovableHandle]:
    """Zero the given output channels of the given layers at every forward pass.

    Parameters
    ----------
    model : CompletionNet
        The network (modified through forward hooks, weights untouched).
    drops : dict
        Layer name -> channel indices, e.g. from :func:`parse_drop`.

    Returns
    -------
    list of RemovableHandle
        Call ``.remove()`` on each to undo.

    Raises
    ------
    ValueError
        If a channel index is outside the layer's channels (the message names both).
    """
    for layer, chans in drops.items():
        n = layer_channels(model, layer)
        bad = [c for c in chans if not 0 <= c < n]
        if bad:
            raise ValueError(
                f"drop: {layer} has {n} channels (0..{n - 1}) in this checkpoint "
                f"(width {model.width}); cannot drop {bad}"
            )
    handles = []
    for layer, chans in drops.items():
        index = torch.tensor(chans, dtype=torch.long)

        def hook(module, inputs, output, index=index):
            output = output.clone()
            output[:, index.to(output.device)] = 0
            return output

        handles.append(_block(model, layer).register_forward_hook(hook))
    return handles


def make_identity(model: CompletionNet, layer: str) -> None:
    """Replace ``layer`` by the identity map (in place).

    The convolution gets Dirac filters and no bias and its batch norm becomes the
    identity, so the block's output equals its input (which is non-negative, being a
    ReLU output, so the ReLU passes it unchanged).

    Raises
    ------
    ValueError
        If the layer cannot be the identity: a transposed or strided convolution, a
        channel count change, or the output layer; the message names the layer.
    """
    block = _block(model, layer)
    conv = block.conv
    reasons = []
    if block.kind == "deconv":
        reasons.append("it is a transposed convolution (x2 upsampling)")
    if conv.stride != (1, 1):
        reasons.append(f"it has stride {conv.stride[0]}")
    if conv.in_channels != conv.out_channels:
        reasons.append(f"it maps {conv.in_channels} to {conv.out_channels} channels")
    if block.norm is None:
        reasons.append("it is the output layer (sigmoid)")
    if reasons:
        raise ValueError(f"identity={layer}: cannot replace {layer} by the identity because " + " and ".join(reasons))
    with torch.no_grad():
        nn.init.dirac_(conv.weight)
        conv.bias.zero_()
        norm = block.norm
        norm.weight.fill_(1.0)
        norm.bias.zero_()
        norm.running_mean.zero_()
        # (x - 0) / sqrt(var + eps) == x exactly needs var + eps == 1.
        norm.running_var.fill_(1.0 - norm.eps)


@dataclass
class ForwardCounter:
    """Counts forward passes of a model and the images they processed."""

    calls: int = 0
    images: int = 0
    shapes: list[tuple[int, ...]] = field(default_factory=list)


@contextmanager
def count_forwards(model: nn.Module) -> Iterator[ForwardCounter]:
    """Count ``model``'s forward passes inside the ``with`` block.

    Examples
    --------
    >>> with count_forwards(method.model) as counter:
    ...     method.inpaint_batch(images, masks)
    >>> counter.calls, counter.images
    """
    counter = ForwardCounter()

    def hook(module, inputs):
        counter.calls += 1
        counter.images += int(inputs[0].shape[0])
        counter.shapes.append(tuple(inputs[0].shape))

    handle = model.register_forward_pre_hook(hook)
    try:
        yield counter
    finally:
        handle.remove()


@contextmanager
def observe(model: CompletionNet, layer: str, fn: Callable[[torch.Tensor], None]) -> Iterator[None]:
    """Call ``fn(output)`` with ``layer``'s output (N x C x H x W) at each forward pass."""
    handle = _block(model, layer).register_forward_hook(lambda m, i, o: fn(o.detach()))
    try:
        yield
    finally:
        handle.remove()
