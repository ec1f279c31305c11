"""Data sources behind one interface and one registry: ``builtin``, ``celeba``, ``folder``, plugins and user code.

The built-in sources are registered here; :mod:`bench.inputs.data.registry` opens any of them by
name (:func:`get_source`), lists them (:func:`available`) and adds the ``inpaint_bench.datasets``
plugins and ``@module:attr`` sources of user code.
"""

from __future__ import annotations

from pathlib import Path

from bench.inputs.data.base import ImageLoadError, Sample, Source
from bench.inputs.data.builtin import Builtin
from bench.inputs.data.celeba import CelebA
from bench.inputs.data.folder import Folder
from bench.inputs.data.preprocess import Preprocess
from bench.inputs.data.registry import SourceInfo, SourceLoadError, available, get_source, register_source


@register_source(
    "builtin",
    summary="deterministic crops of photos bundled with scikit-image, matplotlib, scikit-learn (no download)",
    needs_root=False,
)
def _builtin(root: str | Path | None, split: str, size: int) -> Source:
    return Builtin(split=split, preprocess=Preprocess(size=size))


@register_source(
    "celeba",
    summary="CelebA aligned faces in the official layout (--data-root DIR containing img_align_celeba/)",
    needs_root=True,
)
def _celeba(root: str | Path, split: str, size: int) -> Source:
    return CelebA(root, split=split, preprocess=Preprocess(size=size))


@register_source(
    "folder",
    summary="every image file in --data-root (optional groups.csv: image_id,group resampling units)",
    needs_root=True,
)
def _folder(root: str | Path, split: str, size: int) -> Source:
    return Folder(root, preprocess=Preprocess(size=size))


__all__ = [
    "Builtin",
    "CelebA",
    "Folder",
    "ImageLoadError",
    "Preprocess",
    "Sample",
    "Source",
    "SourceInfo",
    "SourceLoadError",
    "available",
    "get_source",
    "register_source",
]
