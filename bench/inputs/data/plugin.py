"""Data sources of installed packages: the ``inpaint_bench.datasets`` entry-point group.

A distribution declares one entry point per source in its ``pyproject.toml``::

    [project.entry-points."inpaint_bench.datasets"]
    places = "mypkg.data:Places"

The name is the dataset's name (``--dataset places``, ``places:key=value``); the object is anything
:func:`bench.inputs.data.external.factory_of` accepts. A plugin that cannot be loaded does not
break the registry: it is listed as broken, and naming it gives its error.
"""

from __future__ import annotations

import importlib.metadata
from dataclasses import dataclass, replace
from typing import Any

from bench.core.objects import ObjectLoadError, load_object
from bench.core.spec import NAME, NAME_RULE

GROUP = "inpaint_bench.datasets"


@dataclass(frozen=True)
class SourcePlugin:
    """One entry point of :data:`GROUP`, loaded or not.

    Attributes
    ----------
    name : str
        Entry-point name (the dataset name).
    reference : str
        ``module:attr`` it points at.
    distribution : str
        ``name version`` of the distribution that declares it.
    obj : object or None
        The loaded object; None when loading failed.
    error : str or None
        Why it could not be loaded.
    """

    name: str
    reference: str
    distribution: str
    obj: Any = None
    error: str | None = None

    @property
    def origin(self) -> str:
        """Where the source comes from, for ``bench list datasets``."""
        return f"plugin {self.distribution}"

    @property
    def what(self) -> str:
        """How messages name it."""
        return f"dataset {self.name!r} (plugin {self.reference} of {self.distribution})"


def _distribution(ep: importlib.metadata.EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    return "unknown distribution" if dist is None else f"{dist.metadata['Name']} {dist.version}"


def discover() -> list[SourcePlugin]:
    """Load every entry point of :data:`GROUP`, each failure kept as a :class:`SourcePlugin` with ``error``.

    Returns
    -------
    list of SourcePlugin
        In entry-point name order; a name declared twice keeps its first declaration, the
        second is returned with an error naming both distributions.
    """
    found: list[SourcePlugin] = []
    seen: dict[str, str] = {}
    for ep in sorted(importlib.metadata.entry_points(group=GROUP), key=lambda e: (e.name, e.value)):
        plugin = SourcePlugin(ep.name, ep.value, _distribution(ep))
        if not NAME.match(ep.name):
            found.append(replace(plugin, error=f"{plugin.what}: a dataset name must {NAME_RULE}"))
            continue
        if ep.name in seen:
            error = f"{plugin.what}: the name is already declared by {seen[ep.name]}"
            found.append(replace(plugin, error=error))
            continue
        seen[ep.name] = plugin.distribution
        try:
            found.append(replace(plugin, obj=load_object(ep.value, plugin.what)))
        except ObjectLoadError as err:
            found.append(replace(plugin, error=str(err)))
    return found
