"""The method registry: ``@register`` on a factory, ``create(spec)`` to build a method.

A variant is a configuration of one implementation, never a copied class: the
spec ``patch:size=9,features=0`` calls the ``patch`` factory with ``size=9`` and
``features=0``. Values are converted to the type of the parameter's default, so
factories declare their keys simply by their keyword defaults.

Three kinds of names reach :func:`create`:

- built-in families (:data:`FAMILIES`), registered when imported;
- plugins: entry points of the ``inpaint_bench.methods`` group of installed
  distributions (:mod:`methods.plugins`), registered on first use;
- ``@module:attr[:key=value,...]``: any importable function, class or factory
  (:mod:`methods.external`), built on the spot and never registered.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from bench.core.registry import Registry
from bench.core.spec import NAME, NAME_RULE, canonical_spec, parse_options, parse_spec, typed_options
from methods.base import Method, as_method, inpaint_images
from methods.external import (
    PREFIX,
    MethodLoadError,
    factory_of,
    is_object_spec,
    load_object,
    parse_object_spec,
    summary_of,
)
from methods.plugins import discover

__all__ = [
    "BUILT_IN",
    "FAMILIES",
    "METHODS",
    "Method",
    "MethodInfo",
    "MethodLoadError",
    "as_method",
    "available",
    "broken_plugins",
    "canonical_spec",
    "create",
    "info",
    "inpaint_images",
    "parse_spec",
    "register",
    "typed_options",
]

BUILT_IN = "built-in"


@dataclass(frozen=True)
class MethodInfo:
    """What the registry knows about one method name.

    Attributes
    ----------
    name : str
        Registry name.
    factory : callable
        ``factory(**options) -> Method``.
    family : str
        Family label shown by ``bench list methods``.
    summary : str
        One line shown by ``bench list methods``.
    params : dict
        Option names and their defaults (the defaults give the types).
    origin : str
        ``built-in``, or ``plugin DISTRIBUTION VERSION``.
    open_keys : bool
        Whether options outside ``params`` are accepted too (the factory takes ``**kwargs``).
    module : str
        The module that defines the method (its source is part of the method's fingerprint).
    """

    name: str
    factory: Callable[..., Method]
    family: str
    summary: str
    params: dict[str, Any] = field(default_factory=dict)
    origin: str = BUILT_IN
    open_keys: bool = False
    module: str = ""


METHODS: Registry[MethodInfo] = Registry("method")

# Plugin names that could not be loaded, with the reason (naming them raises it).
_BROKEN: dict[str, str] = {}
_PLUGIN_NAMES: list[str] = []
_plugins_loaded = False


def register(name: str, *, family: str, summary: str = "") -> Callable:
    """Register a factory under ``name``.

    Parameters
    ----------
    name : str
        Registry name, e.g. ``"telea"``: a letter or digit, then letters, digits and ``_ . + -``.
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
    if not NAME.match(name):
        raise ValueError(f"method name {name!r}: a method name must {NAME_RULE}")

    def deco(factory: Callable[..., Method]) -> Callable[..., Method]:
        params = {
            p.name: p.default
            for p in inspect.signature(factory).parameters.values()
            if p.default is not inspect.Parameter.empty
        }
        info = MethodInfo(name, factory, family, summary or summary_of(factory), params, module=factory.__module__)
        METHODS.add(name, info)
        return factory

    return deco


def create(spec: str) -> Method:
    """Build a method from a spec.

    Parameters
    ----------
    spec : str
        ``name`` or ``name:key=value,...`` for a built-in or plugin method (keys are the
        factory's keyword parameters), or ``@module:attr[:key=value,...]`` for any importable
        function, class or factory (:mod:`methods.external`).

    Returns
    -------
    Method
        The configured method, with ``spec`` set to the canonical spec (the options
        given, sorted; defaults are not spelled out).

    Raises
    ------
    KeyError
        Unknown method name (the message lists close matches).
    MethodLoadError
        User code that cannot be imported or whose factory raised (a ValueError).
    ValueError
        Unknown key or a value of the wrong type (the message lists valid keys).
    """
    if is_object_spec(spec):
        return _create_object(spec)
    _load_families()
    name, raw = parse_spec(spec)
    if name not in METHODS and name in _BROKEN:
        raise MethodLoadError(_BROKEN[name])
    entry = METHODS.get(name)
    kwargs = typed_options(raw, entry.params, "method", name, open_keys=entry.open_keys)
    method = entry.factory(**kwargs)
    method.spec = canonical_spec(name, raw)
    method.factory_module = entry.module
    return method


def _create_object(spec: str) -> Method:
    """Build a method from ``@module:attr[:options]``."""
    parsed = parse_object_spec(spec)
    what = f"method spec {spec.strip()!r}"
    factory, params, open_keys = factory_of(load_object(parsed.reference, what), what)
    raw = parse_options(parsed.options, spec)
    kwargs = typed_options(raw, params, "method", PREFIX + parsed.reference, open_keys=open_keys)
    method = factory(**kwargs)
    method.spec = canonical_spec(PREFIX + parsed.reference, raw)
    method.factory_module = parsed.module
    return method


def info(name: str) -> MethodInfo:
    """Registry entry of a method name (families and plugins are loaded first)."""
    _load_families()
    if name not in METHODS and name in _BROKEN:
        raise MethodLoadError(_BROKEN[name])
    return METHODS.get(name)


def available() -> list[MethodInfo]:
    """All registered methods (built-in and plugins), sorted by name."""
    _load_families()
    return [entry for _, entry in METHODS.items()]


def broken_plugins() -> dict[str, str]:
    """``{name: reason}`` of the plugins that could not be loaded."""
    _load_families()
    return dict(_BROKEN)


# Each family registers its names when imported. The list is explicit so a
# broken family fails loudly instead of silently vanishing from the registry.
FAMILIES = ("methods.classic", "methods.patch", "methods.criminisi", "methods.glcic", "methods.predictions")


def _load_families() -> None:
    for module in FAMILIES:
        importlib.import_module(module)
    if not _plugins_loaded:
        load_plugins()


def load_plugins() -> None:
    """(Re)register the methods of the installed plugins; a plugin that fails is kept in :func:`broken_plugins`.

    Called on first use; call it again after installing a distribution in a running process.
    """
    global _plugins_loaded
    for name in _PLUGIN_NAMES:
        METHODS.remove(name)
    _PLUGIN_NAMES.clear()
    _BROKEN.clear()
    _plugins_loaded = True
    for plugin in discover():
        if plugin.error is not None:
            _BROKEN.setdefault(plugin.name, plugin.error)
            continue
        what = f"method {plugin.name!r} (plugin {plugin.reference} of {plugin.distribution})"
        if plugin.name in METHODS:
            _BROKEN[plugin.name] = f"{what}: the name is taken by the built-in method; rename the entry point"
            continue
        try:
            factory, params, open_keys = factory_of(plugin.obj, what)
        except MethodLoadError as err:
            _BROKEN[plugin.name] = str(err)
            continue
        family = getattr(plugin.obj, "family", None)
        METHODS.add(
            plugin.name,
            MethodInfo(
                plugin.name,
                factory,
                family if isinstance(family, str) else "plugin",
                getattr(plugin.obj, "summary", None) or summary_of(plugin.obj),
                params,
                plugin.origin,
                open_keys,
                plugin.reference.partition(":")[0],
            ),
        )
        _PLUGIN_NAMES.append(plugin.name)
