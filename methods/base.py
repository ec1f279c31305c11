"""The method contract: the :class:`Method` base class and the adapter that makes any callable one.

A method fills the missing pixels of float32 ``H x W x 3`` images in [0, 1] under bool ``H x W``
masks (True = missing). :class:`Method` is the full contract (batching, process safety, the
image id on request); a plain callable ``f(image, mask) -> image``, or any object with an
``inpaint(image, mask)`` method, is enough and is wrapped by :func:`as_method`. Every caller goes
through :func:`inpaint_images`, so the image id reaches exactly the methods that ask for it.
A method also says what its outputs depend on (:meth:`Method.fingerprint`,
:meth:`Method.input_fingerprint`), so a resumed run reuses a result only when that is unchanged.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from bench.core.digest import installed_versions, source_sha256

# Distributions whose version can change a built-in method's output (OpenCV's inpainting, skimage's
# biharmonic, numba kernels, torch networks) besides the suite itself; OpenCV under any of its names.
LIBRARIES = (
    "inpaint-bench",
    "numpy",
    "scipy",
    "scikit-image",
    "opencv-python",
    "opencv-python-headless",
    "opencv-contrib-python",
    "opencv-contrib-python-headless",
    "numba",
    "torch",
)


class Method:
    """Base class of every inpainting method.

    Subclasses implement :meth:`inpaint`; CNNs also override :meth:`inpaint_batch`
    and set ``batch_size``. The registry sets ``spec`` to the canonical spec string.

    Attributes
    ----------
    spec : str
        Canonical registry spec of this configuration (set by :func:`methods.create`).
    batch_size : int
        Preferred number of images per :meth:`inpaint_batch` call.
    parallel_safe : bool
        Whether the runner may call this method from several worker processes (each builds
        its own instance from ``spec``).
    needs_image_id : bool
        When True, :meth:`inpaint` is called with ``image_id=`` and :meth:`inpaint_batch`
        with ``image_ids=``: the protocol's id of each image (for example to read a
        precomputed output). False (the default) keeps the two-argument calls.
    """

    spec: str = ""
    batch_size: int = 1
    parallel_safe: bool = True
    needs_image_id: bool = False
    # The module that named the factory (set by the registry): its code is part of the fingerprint.
    factory_module: str = ""
    # What :meth:`input_fingerprint` digests, in messages ("prediction file").
    input_name: str = "input file"

    def inpaint(self, image: np.ndarray, mask: np.ndarray, **kwargs: Any) -> np.ndarray:
        """Fill the missing pixels of ``image``.

        Parameters
        ----------
        image : np.ndarray
            float32 ``H x W x 3`` in [0, 1]; the pixels under ``mask`` are blanked.
        mask : np.ndarray
            bool ``H x W``, True = missing.
        **kwargs
            ``image_id`` (str) when :attr:`needs_image_id` is set.

        Returns
        -------
        np.ndarray
            float32 ``H x W x 3`` in [0, 1].
        """
        raise NotImplementedError

    def inpaint_batch(
        self, images: list[np.ndarray], masks: list[np.ndarray], image_ids: list[str] | None = None
    ) -> list[np.ndarray]:
        """Inpaint several images; the default calls :meth:`inpaint` on each.

        ``image_ids`` is given exactly when :attr:`needs_image_id` is set.
        """
        if image_ids is None:
            return [self.inpaint(im, m) for im, m in zip(images, masks)]
        return [self.inpaint(im, m, image_id=i) for im, m, i in zip(images, masks, image_ids)]

    def check_protocol(self, image_ids: Sequence[str], mask_sha256: str) -> None:
        """Refuse a protocol this method cannot serve, before any image is computed.

        Called once by ``bench run`` with the run's image ids (in order) and the SHA-256 of
        its mask manifest (``masks.json``). The default accepts every protocol.

        Raises
        ------
        ValueError
            The method cannot be scored on this protocol; the message says why.
        """

    def fingerprint(self) -> dict[str, str]:
        """What this configured method's outputs depend on besides the image and its mask.

        A resumed run reuses a row only when the digest of these parts is unchanged, and names
        the parts that changed. The default, right for a deterministic method whose behaviour is
        its spec and its code: the canonical spec, a digest of the source of the modules that
        define it (:meth:`code_modules`; a built-in family's whole package) and the versions of
        the suite and of the numerical libraries. Override it (calling ``super()``) to add what
        else decides the output, e.g. the digest of a weights file.

        Returns
        -------
        dict
            ``{part name: value}``, all strings.
        """
        parts = {"spec": self.spec}
        for module in self.code_modules():
            family = _family_package(module)
            name = family or module
            parts[f"code {name}"] = source_sha256(name, whole_package=family is not None)
        parts["versions"] = installed_versions(LIBRARIES)
        return parts

    def input_fingerprint(self, image_id: str) -> str | None:
        """Digest of what this method reads for one image besides the image and mask, or None.

        A folder of predictions returns the digest of the file it reads for ``image_id``, so a
        rewritten file makes its row be computed again. The default (a method that reads nothing
        per image) returns None.
        """
        return None

    def code_modules(self) -> list[str]:
        """Modules whose source decides the outputs: the one that named the factory and the class's."""
        return list(dict.fromkeys(m for m in (self.factory_module, type(self).__module__) if m))


def _family_package(module: str) -> str | None:
    """``methods.patch`` for ``methods.patch.kernels``: a built-in family is hashed as a whole."""
    parts = module.split(".")
    if len(parts) >= 2 and parts[0] == __name__.split(".")[0] and parts[1] not in ("base", "registry", "external"):
        return ".".join(parts[:2])
    return None


def inpaint_images(
    method: Method, images: list[np.ndarray], masks: list[np.ndarray], image_ids: list[str]
) -> list[np.ndarray]:
    """Call ``method`` on images (one call per image, or one batch), passing ids only when asked.

    Parameters
    ----------
    method : Method
        A built method.
    images, masks : list of np.ndarray
        Contract images (holes blanked) and their masks.
    image_ids : list of str
        The protocol's id of each image.

    Returns
    -------
    list of np.ndarray
        The method's raw outputs, in input order (not yet checked against the contract).
    """
    if method.batch_size > 1 or len(images) != 1:
        if method.needs_image_id:
            return list(method.inpaint_batch(images, masks, image_ids=image_ids))
        return list(method.inpaint_batch(images, masks))
    if method.needs_image_id:
        return [method.inpaint(images[0], masks[0], image_id=image_ids[0])]
    return [method.inpaint(images[0], masks[0])]


def _takes_image_id(fn: Callable) -> bool:
    """Whether ``fn`` accepts an ``image_id`` keyword (named, or through ``**kwargs``)."""
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):  # builtins without a signature: call them plainly
        return False
    return any(p.name == "image_id" and p.kind != p.POSITIONAL_ONLY for p in params)


class CallableMethod(Method):
    """A :class:`Method` around a plain callable or an object with an ``inpaint`` method.

    The target's own ``batch_size``, ``parallel_safe``, ``needs_image_id``, ``inpaint_batch``,
    ``check_protocol``, ``fingerprint`` (a dict of extra parts) and ``input_fingerprint`` are used
    when it has them; a function that accepts ``image_id`` is given it. The fingerprint digests the
    source of the target's module (a function's, or the class of an object).

    Parameters
    ----------
    target : callable or object
        ``target(image, mask[, image_id=...])``, or an object with
        ``inpaint(image, mask[, image_id=...])``.
    options : dict, optional
        Keyword options passed on every call (the spec's ``key=value`` for a function).
    """

    def __init__(self, target: Any, options: dict[str, Any] | None = None):
        self.target = target
        self.options = dict(options or {})
        call = getattr(target, "inpaint", None)
        if not callable(call):
            call = target
        if not callable(call):
            raise TypeError(f"{type(target).__name__} is neither callable nor has an inpaint(image, mask) method")
        self._call = call
        self.batch_size = int(getattr(target, "batch_size", 1) or 1)
        self.parallel_safe = bool(getattr(target, "parallel_safe", True))
        self.needs_image_id = bool(getattr(target, "needs_image_id", False)) or _takes_image_id(call)
        batch = getattr(target, "inpaint_batch", None)
        self._batch = batch if callable(batch) else None
        check = getattr(target, "check_protocol", None)
        self._check = check if callable(check) else None

    def inpaint(self, image: np.ndarray, mask: np.ndarray, **kwargs: Any) -> np.ndarray:
        return self._call(image, mask, **self.options, **kwargs)

    def inpaint_batch(self, images, masks, image_ids=None):
        if self._batch is None:
            return super().inpaint_batch(images, masks, image_ids)
        if image_ids is None:
            return self._batch(images, masks)
        return self._batch(images, masks, image_ids=image_ids)

    def check_protocol(self, image_ids, mask_sha256):
        if self._check is not None:
            self._check(image_ids, mask_sha256)

    def code_modules(self) -> list[str]:
        target = self.target if inspect.isroutine(self.target) or inspect.isclass(self.target) else type(self.target)
        return list(dict.fromkeys(m for m in (self.factory_module, getattr(target, "__module__", None)) if m))

    def fingerprint(self) -> dict[str, str]:
        parts = super().fingerprint()
        extra = None if inspect.isclass(self.target) else getattr(self.target, "fingerprint", None)
        if callable(extra):
            parts.update({f"target {k}": str(v) for k, v in dict(extra()).items()})
        return parts

    def input_fingerprint(self, image_id: str) -> str | None:
        own = None if inspect.isclass(self.target) else getattr(self.target, "input_fingerprint", None)
        return own(image_id) if callable(own) else None


def as_method(obj: Any) -> Method:
    """``obj`` itself when it is a :class:`Method`, else a :class:`CallableMethod` around it.

    Raises
    ------
    TypeError
        ``obj`` is neither a Method, nor callable, nor has an ``inpaint`` method.
    """
    if isinstance(obj, Method):
        return obj
    return CallableMethod(obj)
