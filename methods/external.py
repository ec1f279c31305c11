"""Methods named by Python object: the ``@module:attr[:key=value,...]`` spec, and what it may name.

Grammar (documented in README "Benchmark your own method")::

    @package.module:Name                 a class, a factory or an inpainting function
    @package.module:Name:key=value,...   the same with options

The leading ``@`` is what tells it from a registry spec (``name:key=value``): registry names
never start with ``@``. ``module:attr`` is the entry-point object reference of Python packaging
(``attr`` may be dotted: ``Class.factory``). The module is imported as Python imports it, with
the working directory on the path (as ``uvicorn main:app`` does), so a ``mymodel.py`` beside
the command works; in ``--jobs`` workers too, and on ``--cluster`` workers where it is installed.

What the object may be (:func:`factory_of`):

- a function whose first two parameters are positional and have no default: the inpainting
  function ``f(image, mask, **options)`` itself; its keyword defaults are the spec's keys;
- any other callable (a :class:`~methods.base.Method` subclass, a plain class, a factory
  function): called with the options, it must return a Method, an object with
  ``inpaint(image, mask)``, or a callable ``(image, mask)``; its keyword defaults are the keys.

The SHA-256 of the named module's source file (and of the module defining the object a factory
returns) is part of the method's fingerprint (:meth:`methods.base.Method.fingerprint`): editing
it makes a resumed ``bench run`` compute the method's rows again. Code elsewhere that decides the
output (weights, a helper module) is added by giving the object a ``fingerprint()`` method
returning ``{name: value}``.
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

from methods.base import CallableMethod, Method, as_method

PREFIX = "@"
_REFERENCE = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


class MethodLoadError(ValueError):
    """A method named by object or by plugin cannot be imported or built; the message names it."""


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


def parse_object_spec(spec: str) -> ObjectSpec:
    """Split ``@module:attr[:key=value,...]``.

    Raises
    ------
    MethodLoadError
        No ``module:attr`` after the ``@``, or names that are not Python identifiers.
    """
    text = spec.strip()[len(PREFIX) :]
    module, sep, rest = text.partition(":")
    attr, _, options = rest.partition(":")
    if not sep or not _REFERENCE.match(module) or not _REFERENCE.match(attr):
        raise MethodLoadError(
            f"method spec {spec!r}: expected @package.module:Name or @package.module:Name:key=value,... "
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
    MethodLoadError
        The module cannot be imported (its own error is quoted) or lacks the attribute.
    """
    module_name, _, attr = reference.partition(":")
    _import_path()
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as err:  # ImportError, or whatever the module raises while importing
        raise MethodLoadError(f"{what}: cannot import module {module_name!r} ({type(err).__name__}: {err})") from None
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise MethodLoadError(f"{what}: module {module_name!r} has no attribute {attr!r}") from None
    return obj


def _is_inpaint_function(obj: Any) -> bool:
    """A function (not a class) whose first two parameters are required positional ones."""
    if inspect.isclass(obj) or not callable(obj):
        return False
    try:
        params = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        return False
    positional = [
        p for p in params[:2] if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.default is p.empty
    ]
    return len(positional) == 2


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


def factory_of(obj: Any, what: str) -> tuple[Callable[..., Method], dict[str, Any], bool]:
    """A registry-style factory for a user object, with its option defaults.

    Parameters
    ----------
    obj : object
        What a spec or an entry point named (see the module docstring).
    what : str
        Name for messages.

    Returns
    -------
    factory : callable
        ``factory(**options) -> Method``; errors it meets are :class:`MethodLoadError` naming ``what``.
    params : dict
        Option names and defaults (the defaults give the option types).
    open_keys : bool
        Whether any other option is accepted too (the object takes ``**kwargs``; values stay strings).

    Raises
    ------
    MethodLoadError
        ``obj`` is not callable.
    """
    if not callable(obj):
        if callable(getattr(obj, "inpaint", None)):  # a ready instance with inpaint(image, mask)
            return (lambda: as_method(obj)), {}, False
        raise MethodLoadError(
            f"{what}: {type(obj).__name__} object is not callable; name a function, a class or a factory"
        )
    if _is_inpaint_function(obj):
        params, open_keys = keyword_defaults(obj, skip=2)

        def build_function(**options: Any) -> Method:
            return CallableMethod(obj, options)

        return build_function, params, open_keys

    params, open_keys = keyword_defaults(obj)

    def build(**options: Any) -> Method:
        try:
            made = obj(**options)
        except Exception as err:
            raise MethodLoadError(f"{what}: building the method raised {type(err).__name__}: {err}") from None
        try:
            return as_method(made)
        except TypeError as err:
            raise MethodLoadError(
                f"{what}: the factory returned {type(made).__name__}, not a method ({err}); "
                "return a Method, an object with inpaint(image, mask), or a function "
                "(image, mask) -> image"
            ) from None

    return build, params, open_keys


def summary_of(obj: Any) -> str:
    """First line of the object's docstring ('' when none)."""
    doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
    return doc[0] if doc else ""
