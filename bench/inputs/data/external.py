"""Data sources of user code: what an entry point or an ``@module:attr`` spec may name, checked as it is used.

The object is a :class:`~bench.inputs.data.base.Source` subclass or any factory, called as
``obj(root=..., split=..., size=..., **options)`` (only the arguments it declares, or all of them
when it takes ``**kwargs``); its keyword defaults other than those three are the spec's keys.
What it returns must have

- ``ids() -> list[str]``: unique image ids in a fixed order (so ``--n 280`` always means the
  same 280 images);
- ``load(image_id) -> np.ndarray``: one decoded image, ``float32 H x W x 3`` in [0, 1], raising
  :class:`~bench.inputs.data.base.ImageLoadError` for an unusable file; it is then centre-cropped
  and resized to ``--size`` like every source's images (already ``size x size``: kept as is);

and may have ``describe() -> dict`` (JSON-able, added to the recorded description), ``unit`` and
``groups(ids)`` (:class:`~bench.inputs.data.base.Source`). The rest of the suite sees a
:class:`UserSource`: an image that breaks the contract, or a ``load`` that raises anything
else, is an :class:`ImageLoadError` naming the id (the image is skipped with that reason).
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.digest import source_sha256
from bench.core.images import ContractError, check_image
from bench.core.objects import ObjectLoadError, keyword_defaults
from bench.inputs.data.base import ImageLoadError, Source
from bench.inputs.data.preprocess import Preprocess

# Given by the command line, never by spec options.
CALL_ARGS = ("root", "split", "size")


class SourceLoadError(ObjectLoadError):
    """A data source of user code cannot be imported, built or listed; the message names it."""


class UserSource(Source):
    """A user object seen as a :class:`Source`, its results checked.

    Parameters
    ----------
    obj : object
        What the user's factory returned (see the module docstring).
    name : str
        Canonical spec (``mysource``, ``@mymod:make:k=1``): the dataset's name in messages and records.
    reference : str
        ``module:attr`` of the factory.
    options : dict
        Typed spec options the factory was called with.
    root, split, size
        The command line's ``--data-root``, ``--split`` and ``--size``.
    """

    def __init__(
        self,
        obj: Any,
        name: str,
        reference: str,
        options: dict[str, Any],
        root: str | Path | None,
        split: str,
        size: int,
    ):
        self.obj = obj
        self.name = name
        self.reference = reference
        self.preprocess = Preprocess(size=size)
        for method in ("ids", "load"):
            if not callable(getattr(obj, method, None)):
                raise SourceLoadError(
                    f"dataset {name}: the factory returned {type(obj).__name__}, which has no {method}() method; "
                    "return an object with ids() -> list of str and load(image_id) -> image"
                )
        self._ids: list[str] | None = None
        self._description = self._describe(options, root, split, size)

    def _describe(self, options: dict[str, Any], root: str | Path | None, split: str, size: int) -> dict[str, Any]:
        module = self.reference.partition(":")[0]
        # The code that decides the pixels identifies the source, so features cached under it never go stale.
        modules = dict.fromkeys(m for m in (module, type(self.obj).__module__) if m and m != "builtins")
        base: dict[str, Any] = {
            "dataset": self.name,
            "module": module,
            "options": {k: options[k] for k in sorted(options)},
            "root": None if root is None else str(Path(root).resolve()),
            "split": split,
            "size": size,
            "preprocess": self.preprocess.describe(),
        }
        own = getattr(self.obj, "describe", None)
        if callable(own):
            try:
                extra = own()
            except Exception as err:
                raise SourceLoadError(f"dataset {self.name}: describe() raised {type(err).__name__}: {err}") from None
            if not isinstance(extra, dict):
                raise SourceLoadError(f"dataset {self.name}: describe() returned {type(extra).__name__}, not a dict")
            base.update(extra)
        base.update(
            dataset=self.name,
            reference=self.reference,
            code_sha256={m: source_sha256(m) for m in modules},
        )
        try:
            json.dumps(base, allow_nan=False)
        except (TypeError, ValueError) as err:
            raise SourceLoadError(f"dataset {self.name}: describe() must return JSON-able values ({err})") from None
        return base

    def ids(self) -> list[str]:
        if self._ids is None:
            try:
                found = self.obj.ids()
            except Exception as err:
                raise SourceLoadError(f"dataset {self.name}: ids() raised {type(err).__name__}: {err}") from None
            if isinstance(found, str) or not all(isinstance(i, str) for i in found):
                raise SourceLoadError(f"dataset {self.name}: ids() must return a list of str")
            found = list(found)
            if len(set(found)) != len(found):
                twice = next(i for i in found if found.count(i) > 1)
                raise SourceLoadError(f"dataset {self.name}: ids() lists {twice!r} more than once; ids must be unique")
            self._ids = found
        return list(self._ids)

    def load(self, image_id: str) -> np.ndarray:
        where = f"image {image_id!r} of dataset {self.name}"
        try:
            image = self.obj.load(image_id)
        except ImageLoadError:
            raise
        except Exception as err:  # the user's code: one image's failure skips that image, with the reason
            raise ImageLoadError(where, f"load() raised {type(err).__name__}: {err}") from None
        try:
            check_image(image, "load() result")
        except ContractError as err:
            raise ImageLoadError(where, str(err)) from None
        size = self.preprocess.size
        if size and image.shape[:2] != (size, size):
            image = self.preprocess(image)
        return image

    def describe(self) -> dict[str, Any]:
        return dict(self._description)

    @property
    def unit(self) -> str:
        own = getattr(self.obj, "unit", None)
        return own if isinstance(own, str) and own else super().unit

    def groups(self, ids: list[str]) -> dict[str, str]:
        own = getattr(self.obj, "groups", None)
        if not callable(own):
            return super().groups(ids)
        try:
            found = own(ids)
        except Exception as err:
            raise SourceLoadError(f"dataset {self.name}: groups() raised {type(err).__name__}: {err}") from None
        if not isinstance(found, dict):
            raise SourceLoadError(f"dataset {self.name}: groups() returned {type(found).__name__}, not a dict")
        # An id the source does not group is its own unit, as in the built-in sources.
        return {i: str(found.get(i, i)) for i in ids}


def factory_of(obj: Any, what: str) -> tuple[Callable[..., Any], dict[str, Any], bool, bool, bool]:
    """A registry factory ``factory(root, split, size, **options)`` for a user object.

    Parameters
    ----------
    obj : object
        A Source subclass or a factory (see the module docstring).
    what : str
        How messages name it (the spec, or the plugin and its distribution).

    Returns
    -------
    factory : callable
        Calls ``obj`` with the arguments it declares; what it raises is a :class:`SourceLoadError`.
    params : dict
        Option names and defaults (``root``, ``split`` and ``size`` left out).
    open_keys : bool
        Whether other options are accepted too (``obj`` takes ``**kwargs``).
    needs_root : bool
        ``obj`` has a ``root`` parameter without a default.
    reads_root : bool
        ``obj`` takes ``root`` (or ``**kwargs``).

    Raises
    ------
    SourceLoadError
        ``obj`` is not callable.
    """
    if not callable(obj):
        raise SourceLoadError(f"{what}: {type(obj).__name__} object is not callable; name a Source class or a factory")
    defaults, open_keys = keyword_defaults(obj)
    try:
        signature = list(inspect.signature(obj).parameters.values())
    except (TypeError, ValueError):
        signature = []
    declared = {p.name: p for p in signature if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    takes = {a for a in CALL_ARGS if a in declared or open_keys}
    needs_root = "root" in declared and declared["root"].default is inspect.Parameter.empty
    params = {k: v for k, v in defaults.items() if k not in CALL_ARGS}

    def build(root: str | Path | None, split: str, size: int, **options: Any) -> Any:
        given = {"root": root, "split": split, "size": size}
        try:
            return obj(**{a: given[a] for a in CALL_ARGS if a in takes}, **options)
        except Exception as err:
            raise SourceLoadError(f"{what}: building the source raised {type(err).__name__}: {err}") from None

    return build, params, open_keys, needs_root, "root" in takes
