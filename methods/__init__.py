"""The contestants: one registry, one subpackage per family (classic, patch, criminisi, glcic, predictions).

``create(spec)`` builds any method: a built-in or plugin name with options, or ``@module:attr``.
"""

from methods.base import Method, as_method, inpaint_images
from methods.external import MethodLoadError
from methods.registry import available, broken_plugins, create, info, register

__all__ = [
    "Method",
    "MethodLoadError",
    "as_method",
    "available",
    "broken_plugins",
    "create",
    "info",
    "inpaint_images",
    "register",
]
