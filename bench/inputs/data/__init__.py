"""Data sources behind one interface: ``celeba``, ``folder`` and ``builtin``."""

from __future__ import annotations

from pathlib import Path

from bench.inputs.data.base import ImageLoadError, Sample, Source
from bench.inputs.data.builtin import Builtin
from bench.inputs.data.celeba import CelebA
from bench.inputs.data.folder import Folder
from bench.inputs.data.io import max_pixels
from bench.inputs.data.preprocess import Preprocess

DATASETS = {
    "builtin": "deterministic crops of photos bundled with scikit-image, matplotlib, scikit-learn (no download)",
    "celeba": "CelebA aligned faces in the official layout (--data-root DIR containing img_align_celeba/)",
    "folder": "every image file in --data-root (optional groups.csv: image_id,group resampling units)",
}


def get_source(name: str, root: str | Path | None = None, split: str = "test", size: int = 160) -> Source:
    """Open a data source by name.

    Parameters
    ----------
    name : {"builtin", "celeba", "folder"}
        Source kind.
    root : path, optional
        Data root (required for celeba and folder).
    split : str
        Split for celeba and builtin (test by default).
    size : int
        Output side after centre crop and resize; 0 keeps native size (folder only). Refused
        (``ValueError``) when ``size * size`` exceeds :func:`bench.inputs.data.io.max_pixels`.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r} (known: {', '.join(DATASETS)})")
    if name != "builtin" and root is None:
        raise ValueError(f"dataset {name!r} needs --data-root")
    if size * size > max_pixels():
        # Every image is resized to this before anything else: refuse it before allocating it.
        raise ValueError(
            f"--size {size}: {size * size:,} pixels per image, over the limit of {max_pixels():,} "
            "(raise it with --max-pixels)"
        )
    pre = Preprocess(size=size)
    if name == "builtin":
        return Builtin(split=split, preprocess=pre)
    if name == "celeba":
        return CelebA(root, split=split, preprocess=pre)
    return Folder(root, preprocess=pre)


__all__ = ["DATASETS", "Builtin", "CelebA", "Folder", "ImageLoadError", "Preprocess", "Sample", "Source", "get_source"]
