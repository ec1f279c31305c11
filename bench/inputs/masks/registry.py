"""The mask-family registry: ``@register`` on a generator, ``get_family("thick")`` to use it.

A family is a pure function of ``(seed, image id, shape, options)``; its random
numbers come from :func:`family_rng`, a SHA-256 of those values keyed by the
family's name, never from global state. Specs follow the method convention
(``name:key=value,...``, :func:`bench.core.spec.parse_spec`), with option types
taken from the generator's keyword defaults.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.core.registry import Registry
from bench.core.spec import canonical_spec, parse_spec, typed_options

DEFAULT_FAMILY = "rects"


class MaskError(ValueError):
    """A mask spec, mask file or generated mask is unusable; the message names it."""


@dataclass(frozen=True)
class FamilyInfo:
    """What the registry knows about one family name.

    Attributes
    ----------
    name : str
        Registry name.
    draw : callable
        ``draw(seed, image_id, shape, **options) -> (mask, rects)``.
    summary : str
        One line for ``bench list masks``.
    params : dict
        Option names and their defaults (the defaults give the option types).
    check : callable or None
        ``check(**options)`` raises :class:`MaskError` for option values that can never work.
    """

    name: str
    draw: Callable[..., tuple[np.ndarray, list]]
    summary: str
    params: dict[str, Any] = field(default_factory=dict)
    check: Callable[..., None] | None = None


MASK_FAMILIES: Registry[FamilyInfo] = Registry("mask family")


def register(name: str, *, summary: str, check: Callable[..., None] | None = None) -> Callable:
    """Register a generator ``draw(seed, image_id, shape, **options)`` under ``name``.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"thick"``.
    summary : str
        One line shown by ``bench list masks``.
    check : callable, optional
        Validates the options once, when a spec is parsed, so a bad value fails
        before any image is loaded.
    """

    def deco(draw: Callable) -> Callable:
        params = {p.name: p.default for p in inspect.signature(draw).parameters.values() if p.kind == p.KEYWORD_ONLY}
        MASK_FAMILIES.add(name, FamilyInfo(name, draw, summary, params, check))
        return draw

    return deco


def family_rng(seed: int, image_id: str, shape: tuple[int, int], family: str) -> np.random.Generator:
    """The random generator of one (family, seed, image, size): a SHA-256 of all four."""
    key = f"{family}|{seed}|{image_id}|{shape[0]}x{shape[1]}".encode()
    return np.random.default_rng(int.from_bytes(hashlib.sha256(key).digest()[:8], "little"))


@dataclass(frozen=True)
class MaskFamily:
    """A family with its options bound: call it to draw one image's mask.

    Attributes
    ----------
    info : FamilyInfo
        The registry entry.
    options : dict
        Typed options that differ from the defaults.
    spec : str
        Canonical spec: options sorted, defaults left out, so equal masks get equal specs.
    """

    info: FamilyInfo
    options: dict[str, Any]
    spec: str

    @property
    def name(self) -> str:
        return self.info.name

    def __call__(self, seed: int, image_id: str, shape: tuple[int, int]) -> tuple[np.ndarray, list]:
        """Draw the mask of one image.

        Returns
        -------
        mask : np.ndarray
            bool ``H x W``, True = missing; never empty and never the whole image.
        rects : list of Rect
            The rectangles that make the mask (empty for stroke and file masks).
        """
        shape = (int(shape[0]), int(shape[1]))
        mask, rects = self.info.draw(seed, image_id, shape, **self.options)
        _check_output(mask, shape, f"{self.spec} mask of {image_id!r}")
        return mask, rects


def _check_output(mask: np.ndarray, shape: tuple[int, int], what: str) -> None:
    # A backstop: random families redraw empty or full masks themselves, file masks say which file.
    if not isinstance(mask, np.ndarray) or mask.dtype != np.bool_ or mask.shape != shape:
        got = f"{getattr(mask, 'dtype', type(mask).__name__)} {getattr(mask, 'shape', '')}"
        raise MaskError(f"{what}: expected bool {shape[0]}x{shape[1]}, got {got}")
    holes = int(mask.sum())
    if holes == 0 or holes == mask.size:
        raise MaskError(f"{what}: the hole is {'empty' if holes == 0 else 'the whole image'}")


def get_family(spec: str | MaskFamily = DEFAULT_FAMILY) -> MaskFamily:
    """Parse a spec such as ``"thick"``, ``"center:area=0.2"`` or ``"file:dir=masks/"``.

    Raises
    ------
    KeyError
        Unknown family (:class:`bench.core.registry.UnknownNameError`, with close matches).
    MaskError
        Malformed spec, unknown option, wrong type or a value the family refuses.
    """
    if isinstance(spec, MaskFamily):
        return spec
    text = str(spec).strip()
    if not text or text.startswith(":"):
        raise MaskError(f"empty mask family in spec {spec!r} (see `bench list masks`)")
    try:
        name, raw = parse_spec(text)
    except ValueError as err:
        raise MaskError(str(err)) from None
    info = MASK_FAMILIES.get(name)
    try:
        typed = typed_options(raw, info.params, "mask family", name)
    except ValueError as err:
        raise MaskError(str(err)) from None
    # A default spelled out names the same masks as no option.
    options: dict[str, Any] = {k: v for k, v in typed.items() if v != info.params[k]}
    if info.check is not None:
        info.check(**options)
    return MaskFamily(info, options, canonical_spec(name, options))


def make_mask(
    seed: int, image_id: str, shape: tuple[int, int], family: str | MaskFamily = DEFAULT_FAMILY
) -> tuple[np.ndarray, list]:
    """The mask of one image under a family spec, with the rectangles that make it.

    Parameters
    ----------
    seed : int
        Run seed (ignored by ``center`` and ``file``).
    image_id : str
        Stable image id.
    shape : tuple of int
        ``(H, W)``.
    family : str or MaskFamily
        Family spec (see ``bench list masks``); default ``rects``, the study's protocol.

    Returns
    -------
    mask : np.ndarray
        bool ``H x W``, True = missing.
    rects : list of Rect
        Empty for stroke and file families.
    """
    return get_family(family)(seed, image_id, shape)


def available() -> list[FamilyInfo]:
    """All registered families, sorted by name."""
    return [info for _, info in MASK_FAMILIES.items()]
