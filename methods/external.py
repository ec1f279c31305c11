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

import inspect
from collections.abc import Callable
from typing import Any

from bench.core.objects import PREFIX, ObjectLoadError, ObjectSpec, is_object_spec, keyword_defaults, summary_of
from bench.core.objects import load_object as load_named_object
from bench.core.objects import parse_object_spec as parse_spec_of_object
from methods.base import CallableMethod, Method, as_method

__all__ = [
    "PREFIX",
    "MethodLoadError",
    "ObjectSpec",
    "factory_of",
    "is_object_spec",
    "keyword_defaults",
    "load_object",
    "parse_object_spec",
    "summary_of",
]


class MethodLoadError(ObjectLoadError):
    """A method named by object or by plugin cannot be imported or built; the message names it."""


def parse_object_spec(spec: str) -> ObjectSpec:
    """Split ``@module:attr[:key=value,...]`` (:func:`bench.core.objects.parse_object_spec`).

    Raises
    ------
    MethodLoadError
        No ``module:attr`` after the ``@``, or names that are not Python identifiers.
    """
    try:
        return parse_spec_of_object(spec, "method")
    except ObjectLoadError as err:
        raise MethodLoadError(str(err)) from None


def load_object(reference: str, what: str) -> Any:
    """Import ``module:attr`` and return the attribute (:func:`bench.core.objects.load_object`).

    Raises
    ------
    MethodLoadError
        The module cannot be imported (its own error is quoted) or lacks the attribute.
    """
    try:
        return load_named_object(reference, what)
    except ObjectLoadError as err:
        raise MethodLoadError(str(err)) from None


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
