"""Methods of installed packages: the ``inpaint_bench.methods`` entry-point group.

A distribution declares one entry point per method in its ``pyproject.toml``::

    [project.entry-points."inpaint_bench.methods"]
    mymethod = "mypkg.inpaint:MyMethod"

The name is the method's registry name (used in specs, ``mymethod:key=value``); the object is
anything :func:`methods.external.factory_of` accepts. A plugin that cannot be loaded does not
break the registry: it is listed as broken, and naming it gives its error.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from bench.core.spec import NAME, NAME_RULE
from methods.external import MethodLoadError, load_object

GROUP = "inpaint_bench.methods"


@dataclass(frozen=True)
class Plugin:
    """One entry point of the group, loaded or not.

    Attributes
    ----------
    name : str
        Entry-point name (the method name).
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
        """Where the method comes from, for ``bench list methods``."""
        return f"plugin {self.distribution}"


def _distribution(ep: EntryPoint) -> str:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return "unknown distribution"
    return f"{dist.metadata['Name']} {dist.version}"


def discover() -> list[Plugin]:
    """Load every entry point of :data:`GROUP`, each failure kept as a :class:`Plugin` with ``error``.

    Returns
    -------
    list of Plugin
        In entry-point name order; a name declared twice keeps its first declaration, the
        second is returned with an error naming both distributions.
    """
    found: list[Plugin] = []
    seen: dict[str, str] = {}
    for ep in sorted(entry_points(group=GROUP), key=lambda e: (e.name, e.value)):
        dist = _distribution(ep)
        what = f"method {ep.name!r} (plugin {ep.value} of {dist})"
        if not NAME.match(ep.name):
            found.append(Plugin(ep.name, ep.value, dist, error=f"{what}: a method name must {NAME_RULE}"))
            continue
        if ep.name in seen:
            found.append(
                Plugin(ep.name, ep.value, dist, error=f"{what}: the name is already declared by {seen[ep.name]}")
            )
            continue
        seen[ep.name] = dist
        try:
            found.append(Plugin(ep.name, ep.value, dist, obj=load_object(ep.value, what)))
        except MethodLoadError as err:
            found.append(Plugin(ep.name, ep.value, dist, error=str(err)))
    return found
