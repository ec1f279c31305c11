"""What a machine has: the suite's version and commit, key packages, which data paths it sees.

The probe is built by :func:`make_probe` as a closure, so Dask ships it to workers
by value: it runs, and reports, on a worker that lacks the suite or has another
version of it (where a function of this module could not even be unpickled).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

# Packages whose versions can change numbers: a difference is warned about.
NUMERIC_PACKAGES = ("numpy", "scipy", "scikit-image", "opencv-contrib-python-headless", "numba", "torch")


def make_probe() -> Callable[[list[str]], dict[str, Any]]:
    """A self-contained function ``probe(paths) -> dict`` to run on the client and on every worker.

    The dict holds ``host``, ``pid``, ``python``, ``identity`` (``{"version", "commit"}``
    of the importable ``bench`` package, or None with ``error`` set), ``packages``
    (versions of :data:`NUMERIC_PACKAGES`) and ``paths`` (``{path: is a directory}``).
    """
    packages = NUMERIC_PACKAGES

    def probe(paths: list[str]) -> dict[str, Any]:
        import importlib
        import importlib.metadata as md
        import os
        import platform
        import socket

        info: dict[str, Any] = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "python": platform.python_version(),
            "identity": None,
            "error": None,
        }
        try:
            bench = importlib.import_module("bench")
            try:
                # None outside a git checkout (an installed wheel): the version alone identifies it.
                # The checkout of the bench that was imported: another one on the path has its own commit.
                location = bench.__file__
                commit = None
                if location is not None:
                    checkout = os.path.dirname(os.path.dirname(os.path.abspath(location)))
                    commit = importlib.import_module("bench.core.gitinfo").git_commit(checkout, dirty=False)
            except ImportError:  # another version of the suite, which the version then tells apart
                commit = None
            info["identity"] = {"version": str(getattr(bench, "__version__", "unknown")), "commit": commit}
            try:
                # Tasks compare against this very answer, so a commit landing mid-run cannot split the check.
                importlib.import_module("bench.engine.probe")._IDENTITY = dict(info["identity"])  # type: ignore[attr-defined]
            except Exception:
                pass  # another version without this module: the client refuses it on this answer
        except Exception as err:  # any import failure is the worker's setup: report it, do not crash
            info["error"] = f"{type(err).__name__}: {err}"
        versions: dict[str, str | None] = {}
        for name in packages:
            try:
                versions[name] = md.version(name)
            except md.PackageNotFoundError:
                versions[name] = None
        info["packages"] = versions
        info["paths"] = {p: os.path.isdir(p) for p in paths}
        return info

    return probe


_IDENTITY: dict[str, str | None] | None = None


def suite_identity() -> dict[str, str | None]:
    """``{"version", "commit"}`` of this process's suite (computed once per process)."""
    global _IDENTITY
    if _IDENTITY is None:
        _IDENTITY = make_probe()([])["identity"] or {"version": "unknown", "commit": None}
    return dict(_IDENTITY)
