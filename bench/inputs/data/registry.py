"""The data-source registry: ``@register_source`` on a factory, ``get_source(name, ...)`` to open one.

Three kinds of names reach :func:`get_source`, as for methods:

- built-in sources (``builtin``, ``celeba``, ``folder``), registered by :mod:`bench.inputs.data`;
- plugins: entry points of the ``inpaint_bench.datasets`` group of installed distributions
  (:mod:`bench.inputs.data.plugin`), registered on first use;
- ``@module:attr[:key=value,...]``: any importable Source class or factory
  (:mod:`bench.inputs.data.external`), built on the spot and never registered.

A registered name takes options as ``name:key=value,...`` when its factory declares them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.core.objects import PREFIX, is_object_spec, load_object, parse_object_spec, summary_of
from bench.core.registry import Registry
from bench.core.spec import NAME, NAME_RULE, canonical_spec, parse_options, typed_options
from bench.inputs.data.base import Source
from bench.inputs.data.external import CALL_ARGS, SourceLoadError, UserSource, factory_of
from bench.inputs.data.io import max_pixels
from bench.inputs.data.plugin import discover

__all__ = [
    "BUILT_IN",
    "SOURCES",
    "SourceInfo",
    "SourceLoadError",
    "available",
    "broken_plugins",
    "get_source",
    "load_plugins",
    "register_source",
    "resolve",
]

BUILT_IN = "built-in"


@dataclass(frozen=True)
class SourceInfo:
    """What the registry knows about one data source.

    Attributes
    ----------
    name : str
        Registry name (for an ``@module:attr`` spec: ``@module:attr``).
    factory : callable
        ``factory(root, split, size, **options)``: a :class:`Source`, or for user code
        (``reference`` set) the object :class:`~bench.inputs.data.external.UserSource` wraps.
    summary : str
        One line shown by ``bench list datasets``.
    needs_root : bool
        Whether ``--data-root`` is required.
    origin : str
        ``built-in``, ``plugin DISTRIBUTION VERSION``, or the ``@module:attr`` of a spec.
    reads_root : bool
        Whether ``--data-root`` is read at all (a root given to a source that ignores it is refused).
    params : dict
        Option names and their defaults (the defaults give the types).
    open_keys : bool
        Whether options outside ``params`` are accepted too.
    reference : str
        ``module:attr`` of user code ('' for a built-in source).
    """

    name: str
    factory: Callable[..., Any]
    summary: str
    needs_root: bool
    origin: str = BUILT_IN
    reads_root: bool = True
    params: dict[str, Any] = field(default_factory=dict)
    open_keys: bool = False
    reference: str = ""


SOURCES: Registry[SourceInfo] = Registry("dataset")

# Plugin names that could not be loaded, with the reason (naming them raises it).
_BROKEN: dict[str, str] = {}
_PLUGIN_NAMES: list[str] = []
_plugins_loaded = False


def register_source(name: str, *, summary: str, needs_root: bool, reads_root: bool | None = None) -> Callable:
    """Register a factory ``factory(root, split, size) -> Source`` under ``name``.

    Parameters
    ----------
    name : str
        Registry name (``--dataset NAME``): a letter or digit, then letters, digits and ``_ . + -``.
    summary : str
        One line shown by ``bench list datasets``.
    needs_root : bool
        Whether the source needs ``--data-root``.
    reads_root : bool, optional
        Whether it reads ``--data-root`` at all; ``needs_root`` by default.
    """
    if not NAME.match(name):
        raise ValueError(f"dataset name {name!r}: a dataset name must {NAME_RULE}")

    def deco(factory: Callable[..., Source]) -> Callable[..., Source]:
        reads = needs_root if reads_root is None else reads_root
        SOURCES.add(name, SourceInfo(name, factory, summary, needs_root, reads_root=reads))
        return factory

    return deco


def _object_info(spec: str) -> tuple[SourceInfo, dict[str, str]]:
    parsed = parse_object_spec(spec, "dataset")
    what = f"dataset spec {spec!r}"
    obj = load_object(parsed.reference, what)
    factory, params, open_keys, needs_root, reads_root = factory_of(obj, what)
    name = PREFIX + parsed.reference
    info = SourceInfo(name, factory, summary_of(obj), needs_root, name, reads_root, params, open_keys, parsed.reference)
    return info, parse_options(parsed.options, spec)


def resolve(spec: str) -> tuple[SourceInfo, dict[str, Any], str]:
    """The registry entry, typed options and canonical spec of a dataset name or spec.

    Parameters
    ----------
    spec : str
        ``builtin``, ``name:key=value,...`` or ``@module:attr[:key=value,...]``.

    Raises
    ------
    ValueError
        Unknown name (the known ones listed), a broken plugin (its error), code that cannot be
        imported (:class:`~bench.core.objects.ObjectLoadError`), or a bad option.
    """
    text = spec.strip()
    if is_object_spec(text):
        info, raw = _object_info(text)
    else:
        base, _, rest = text.partition(":")
        if base not in SOURCES:
            _load_plugins_once()
        if base not in SOURCES:
            if base in _BROKEN:
                raise SourceLoadError(_BROKEN[base])
            raise ValueError(f"unknown dataset {spec!r} (known: {', '.join(SOURCES)})")
        info = SOURCES.get(base)
        raw = parse_options(rest, text)
    given = sorted(set(raw) & set(CALL_ARGS))
    if given:
        raise ValueError(f"dataset {text!r}: {given[0]} is set by --{given[0].replace('root', 'data-root')}")
    options = typed_options(raw, info.params, "dataset", info.name, info.open_keys)
    return info, options, canonical_spec(info.name, raw)


def get_source(name: str, root: str | Path | None = None, split: str = "test", size: int = 160) -> Source:
    """Open a data source by name.

    Parameters
    ----------
    name : str
        A registered source (``builtin``, ``celeba``, ``folder``, a plugin; see ``bench list
        datasets``), with ``:key=value,...`` options where it declares them, or
        ``@module:attr[:key=value,...]`` naming user code (:mod:`bench.inputs.data.external`).
    root : path, optional
        Data root (required for celeba and folder).
    split : str
        Split for celeba and builtin (test by default).
    size : int
        Output side after centre crop and resize; 0 keeps native size (folder only). Refused
        (``ValueError``) when ``size * size`` exceeds :func:`bench.inputs.data.io.max_pixels`.

    Raises
    ------
    ValueError
        Unknown name, a missing root, too many pixels, or user code that cannot be imported or
        built (:class:`SourceLoadError`, naming it).
    """
    info, options, spec = resolve(name)
    if info.needs_root and root is None:
        raise ValueError(f"dataset {name!r} needs --data-root")
    if size * size > max_pixels():
        # Every image is resized to this before anything else: refuse it before allocating it.
        raise ValueError(
            f"--size {size}: {size * size:,} pixels per image, over the limit of {max_pixels():,} "
            "(raise it with --max-pixels)"
        )
    made = info.factory(root, split, size, **options)
    if info.reference:
        return UserSource(made, spec, info.reference, options, root, split, size)
    return made


def available() -> list[SourceInfo]:
    """All registered sources (built-in and plugins), sorted by name."""
    _load_plugins_once()
    return [info for _, info in SOURCES.items()]


def broken_plugins() -> dict[str, str]:
    """``{name: reason}`` of the plugins that could not be loaded."""
    _load_plugins_once()
    return dict(_BROKEN)


def _load_plugins_once() -> None:
    if not _plugins_loaded:
        load_plugins()


def load_plugins() -> None:
    """(Re)register the sources of the installed plugins; a plugin that fails is kept in :func:`broken_plugins`.

    Called on first use; call it again after installing a distribution in a running process.
    """
    global _plugins_loaded
    for name in _PLUGIN_NAMES:
        SOURCES.remove(name)
    _PLUGIN_NAMES.clear()
    _BROKEN.clear()
    _plugins_loaded = True
    for plugin in discover():
        if plugin.error is not None:
            _BROKEN.setdefault(plugin.name, plugin.error)
            continue
        if plugin.name in SOURCES:
            _BROKEN[plugin.name] = f"{plugin.what}: the name is taken by the built-in dataset; rename the entry point"
            continue
        try:
            factory, params, open_keys, needs_root, reads_root = factory_of(plugin.obj, plugin.what)
        except SourceLoadError as err:
            _BROKEN[plugin.name] = str(err)
            continue
        summary = getattr(plugin.obj, "summary", None)
        SOURCES.add(
            plugin.name,
            SourceInfo(
                plugin.name,
                factory,
                summary if isinstance(summary, str) and summary else summary_of(plugin.obj),
                needs_root,
                plugin.origin,
                reads_root,
                params,
                open_keys,
                plugin.reference,
            ),
        )
        _PLUGIN_NAMES.append(plugin.name)
