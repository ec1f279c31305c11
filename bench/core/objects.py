"""Python objects named in specs: ``@module:attr[:key=value,...]`` and entry-point references ``module:attr``.

Shared by the method and metric registries, so both read user code alike. The leading ``@``
tells such a spec from a registry spec (``name:key=value``): registry names never start with
``@``. ``module:attr`` is the entry-point object reference of Python packaging (``attr`` may be
dotted). The module is imported as Python imports it, with the working directory on the path
(as ``uvicorn main:app`` does), so a ``mycode.py`` beside the command works.
"""

from __future__ import annotations

import importlib
import inspect
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

PREFIX = "@"
_REFERENCE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


class ObjectLoadError(ValueError):
    """Code named by a spec or a plugin cannot be imported or found; the message names it."""


@dataclass(frozen=True)
class ObjectSpec:
    """A parsed ``@module:attr[:options]`` spec.

    Attributes
    ----------
    module, attr : str
        What to import, and the (possibly dotted) attribute of the module.
    options : str
        The raw ``key=value,...`` text after the second colon ('' when none).
    """

    module: str
    attr: str
    options: str

    @property
    def reference(self) -> str:
        """``module:attr``, the entry-point form."""
        return f"{self.module}:{self.attr}"


def is_object_spec(spec: str) -> bool:
    """Whether ``spec`` names a Python object (starts with ``@``) rather than a registry name."""
    return spec.strip().startswith(PREFIX)


def parse_object_spec(spec: str, owner: str = "method") -> ObjectSpec:
    """Split ``@module:attr[:key=value,...]``.

    Raises
    ------
    ObjectLoadError
        No ``module:attr`` after the ``@``, or names that are not Python identifiers.
    """
    text = spec.strip()[len(PREFIX) :]
    module, sep, rest = text.partition(":")
    attr, _, options = rest.partition(":")
    if not sep or not _REFERENCE.match(module) or not _REFERENCE.match(attr):
        raise ObjectLoadError(
            f"{owner} spec {spec!r}: expected @package.module:Name or @package.module:Name:key=value,... "
            "(a dotted module path, a colon, an attribute name)"
        )
    return ObjectSpec(module, attr, options)


def _import_path() -> None:
    # Console scripts do not put the working directory on sys.path; user code beside the command should import.
    cwd = os.getcwd()
    if cwd not in sys.path and "" not in sys.path:
        sys.path.append(cwd)


def load_object(reference: str, what: str) -> Any:
    """Import ``module:attr`` and return the attribute.

    Parameters
    ----------
    reference : str
        ``package.module:Name`` (``Name`` may be dotted).
    what : str
        How the caller names the thing, for messages (the spec, or the plugin and its distribution).

    Raises
    ------
    ObjectLoadError
        The module cannot be imported (its own error is quoted) or lacks the attribute.
    """
    module_name, _, attr = reference.partition(":")
    _import_path()
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as err:  # ImportError, or whatever the module raises while importing
        raise ObjectLoadError(f"{what}: cannot import module {module_name!r} ({type(err).__name__}: {err})") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise ObjectLoadError(f"{what}: module {module_name!r} has no attribute {attr!r}") from None
    return obj


def keyword_defaults(obj: Callable, skip: int = 0) -> tuple[dict[str, Any], bool]:
    """The keyword parameters with defaults of ``obj`` and whether it takes ``**kwargs``.

    Parameters
    ----------
    obj : callable
        Function or class (a class's ``__init__`` signature is read).
    skip : int
        Leading parameters that are not options (2 for ``f(image, mask, ...)``).
    """
    try:
        params = list(inspect.signature(obj).parameters.values())[skip:]
    except (TypeError, ValueError):
        return {}, True
    defaults = {
        p.name: p.default
        for p in params
        if p.default is not p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.name != "image_id"
    }
    return defaults, any(p.kind == p.VAR_KEYWORD for p in params)


def summary_of(obj: Any) -> str:
    """First line of the object's docstring ('' when none)."""
    doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
    return doc[0] if doc else ""
