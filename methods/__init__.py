"""The contestants: one registry, one subpackage per family (classic, patch, glcic)."""

from methods.registry import Method, available, create, info, register

__all__ = ["Method", "available", "create", "info", "register"]
