"""The method registry: ``@register`` on a factory, ``create("name:key=value")``.

A variant is a configuration of one implementation, never a copied class: the
spec ``patch:size=9,features=0`` calls the ``patch`` factory with ``size=9`` and
``features=0``. Values are converted to the type of the parameter's default, so
factories declare their keys simply by their keyword defaults.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from bench.registry import Registry


class Method:
    """Base class of every inpainting method.

    Subclasses implement :meth:`inpaint`; CNNs also override :meth:`inpaint_batch`
    and set ``batch_size``. The runner sets ``spec`` to the canonical spec string.

    Attributes
    ----------
    spec : str
        Canonical registry spec of this configuration (set by :func:`create`).
    batch_size : int
        Preferred number of images per :meth:`inpaint_batch` call.
    parallel_safe : bool
        Whether the runner may call this method from several worker processes.
    """

    spec: str = ""
    batch_size: int = 1
    parallel_safe: bool = True

    def inpaint(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Fill the missing pixels of ``image``.

        Parameters
        ----------
        image : np.ndarray
            float32 ``H x W x 3`` in [0, 1]; the pixels under ``mask`` are blanked.
        mask : np.ndarray
            bool ``H x W``, True = missing.

        Returns
        -------
        np.ndarray
            float32 ``H x W x 3`` in [0, 1].
        """
        raise NotImplementedError

    def inpaint_batch(self, images: list[np.ndarray], masks: list[np.ndarray]) -> list[np.ndarray]:
        """Inpaint several images; the default calls :meth:`inpaint` on each."""
        return [self.inpaint(im, m) for im, m in zip(images, masks)]


@dataclass(frozen=True)
class MethodInfo:
    """What the registry knows about one method name."""

    name: str
    factory: Callable[..., Method]
    family: str
    summary: str
    params: dict[str, Any] = field(default_factory=dict)


METHODS: Registry[MethodInfo] = Registry("method")


def register(name: str, *, family: str, summary: str = "") -> Callable:
    """Register a factory under ``name``.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"telea"``.
    family : str
        Family the method belongs to (``classic``, ``patch``, ``glcic``).
    summary : str
        One line shown by ``bench list methods``; defaults to the docstring's first line.

    Notes
    -----
    The factory's keyword parameters with defaults are the spec's keys. Keep
    heavy imports (torch, numba kernels) inside the factory so listing methods
    stays fast.
    """

    def deco(factory: Callable[..., Method]) -> Callable[..., Method]:
        params = {
            p.name: p.default
            for p in inspect.signature(factory).parameters.values()
            if p.default is not inspect.Parameter.empty
        }
        doc = (factory.__doc__ or "").strip().splitlines()
        METHODS.add(name, MethodInfo(name, factory, family, summary or (doc[0] if doc else ""), params))
        return factory

    return deco


def _convert(value: str, default: Any, key: str, name: str) -> Any:
    """Convert a spec value to the type of the parameter's default."""
    try:
        if isinstance(default, bool):
            low = value.lower()
            if low in ("1", "true", "yes", "on"):
                return True
            if low in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
    except ValueError:
        raise ValueError(
            f"{name}: {key}={value!r} is not a valid {type(default).__name__}"
        ) from None
    return value


def typed_options(raw: dict[str, str], params: dict[str, Any], owner: str, name: str) -> dict[str, Any]:
    """Check spec options against a registry entry's parameters and convert them to their types.

    Shared by the method and mask-family registries, so both parse ``name:k=v`` alike.

    Parameters
    ----------
    raw : dict
        Option names to raw string values (:func:`parse_spec`).
    params : dict
        The entry's parameters with their defaults (the defaults give the types).
    owner : str
        What the entry is, for messages (``"method"``, ``"mask family"``).
    name : str
        The entry's name.

    Raises
    ------
    ValueError
        An unknown option (valid ones listed) or a value of the wrong type.
    """
    typed = {}
    for key, value in raw.items():
        if key not in params:
            valid = ", ".join(sorted(params)) or "none"
            raise ValueError(f"{owner} {name!r} has no option {key!r} (valid: {valid})")
        label = name if owner == "method" else f"{owner} {name!r}"
        typed[key] = _convert(value, params[key], key, label)
    return typed


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``"name:k=v,k2=v2"`` into the name and a dict of raw string values."""
    name, _, rest = spec.strip().partition(":")
    if not name:
        raise ValueError(f"empty method name in spec {spec!r}")
    options: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in rest.split(","))):
        key, eq, value = part.partition("=")
        if not eq or not key:
            raise ValueError(f"bad option {part!r} in spec {spec!r}: expected key=value")
        if key in options:
            raise ValueError(f"option {key!r} given twice in spec {spec!r}")
        options[key.strip()] = value.strip()
    return name, options


def canonical_spec(name: str, options: dict[str, Any]) -> str:
    """Spec string with keys sorted, so equal configurations get equal names."""
    if not options:
        return name
    return name + ":" + ",".join(f"{k}={options[k]}" for k in sorted(options))


def create(spec: str) -> Method:
    """Build a method from a spec such as ``"patch:size=9,features=0"``.

    Parameters
    ----------
    spec : str
        ``name`` or ``name:key=value,...``. Keys are the factory's keyword parameters.

    Returns
    -------
    Method
        The configured method, with ``spec`` set to the canonical spec (the options
        given, sorted; defaults are not spelled out).

    Raises
    ------
    KeyError
        Unknown method name (the message lists close matches).
    ValueError
        Unknown key or a value of the wrong type (the message lists valid keys).
    """
    _load_families()
    name, raw = parse_spec(spec)
    info = METHODS.get(name)
    kwargs = typed_options(raw, info.params, "method", name)
    method = info.factory(**kwargs)
    method.spec = canonical_spec(name, raw)
    return method


def info(name: str) -> MethodInfo:
    """Registry entry of a method name (families are loaded first)."""
    _load_families()
    return METHODS.get(name)


def available() -> list[MethodInfo]:
    """All registered methods, sorted by name."""
    _load_families()
    return [entry for _, entry in METHODS.items()]


# Each family registers its names when imported. The list is explicit so a
# broken family fails loudly instead of silently vanishing from the registry.
FAMILIES = ("methods.classic", "methods.patch", "methods.criminisi", "methods.glcic")


def _load_families() -> None:
    import importlib

    for module in FAMILIES:
        importlib.import_module(module)
