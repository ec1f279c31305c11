"""SHA-256 digests of what a result is computed from: pixels, files, source code, plain values.

One definition of each, so a run's rows, its workers' checks and its set metrics' reuse keys
agree on what "the same input" means.
"""

from __future__ import annotations

import hashlib
import importlib.metadata as md
import inspect
import json
import sys
from collections.abc import Iterable
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.images import to_uint8

CHUNK = 1 << 20


def image_sha256(image: np.ndarray) -> str:
    """SHA-256 of a contract image as saved: its 8-bit pixels and its shape.

    Two images have the same digest exactly when their PNGs in a run directory decode to the same
    pixels, so the digest of a loaded image equals that of the file the run wrote for it.
    """
    pixels = to_uint8(image)
    return hashlib.sha256(repr(pixels.shape).encode() + pixels.tobytes()).hexdigest()


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, read in chunks (checkpoints may be large).

    Raises
    ------
    OSError
        The file cannot be read.
    """
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(CHUNK), b""):
            h.update(block)
    return h.hexdigest()


def json_sha256(value: Any) -> str:
    """SHA-256 of a JSON-able value in canonical form (sorted keys, no spaces)."""
    text = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def files_sha256(paths: Iterable[Path], root: Path | None = None) -> str:
    """SHA-256 over several files: each one's name (relative to ``root``) and bytes, in sorted order."""
    h = hashlib.sha256()
    for path in sorted(paths):
        name = path.relative_to(root) if root is not None else path
        h.update(str(name).encode("utf-8", "surrogateescape") + b"\0")
        h.update(file_sha256(path).encode() + b"\0")
    return h.hexdigest()


def source_sha256(module_name: str, whole_package: bool = False) -> str:
    """SHA-256 of a module's source: its file, or every ``.py`` file of its package folder.

    Parameters
    ----------
    module_name : str
        An imported (or importable) module.
    whole_package : bool
        Hash every ``.py`` file under the folder of the module's package (a method family whose
        code is split over modules), not only the module's own file.

    Returns
    -------
    str
        The digest; for a module without a source file (defined interactively) the digest of the
        source text :mod:`inspect` finds, or of the module's name when there is none.
    """
    module = sys.modules.get(module_name)
    if module is None:
        import importlib

        module = importlib.import_module(module_name)
    file = getattr(module, "__file__", None)
    if file and Path(file).is_file():
        path = Path(file)
        if whole_package:
            folder = path.parent
            return files_sha256((p for p in folder.rglob("*.py") if p.is_file()), folder)
        return file_sha256(path)
    try:
        text = inspect.getsource(module)
    except (OSError, TypeError):
        text = f"module {module_name} without source"
    return hashlib.sha256(text.encode()).hexdigest()


@cache
def installed_versions(names: tuple[str, ...]) -> str:
    """``numpy 2.1.0, torch 2.5.0``: the installed distributions among ``names`` (looked up once per process)."""
    found = []
    for name in names:
        try:
            found.append(f"{name} {md.version(name)}")
        except md.PackageNotFoundError:
            continue
    return ", ".join(found)
