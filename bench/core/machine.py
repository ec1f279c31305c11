"""What a timing was measured on: the CPU, the cores this process may use, the load, versions.

Every speed number the project prints or stores (``bench time``, the pytest-benchmark
JSON under ``results/benchmarks/``) carries this description, so a reader can tell a
slow machine from a busy one. Importing this module imports nothing heavy.

Public API
----------
describe_machine() -> dict
    CPU model, usable cores, load averages, Python/numpy/torch/numba versions, git commit.
machine_line(info) -> str
    The same as one human-readable line.
"""

from __future__ import annotations

import os
import platform
from importlib import metadata
from pathlib import Path
from typing import Any

from bench.core.gitinfo import git_commit

__all__ = ["cpu_model", "describe_machine", "load_average", "machine_line"]


def cpu_model() -> str:
    """The CPU's model name from ``/proc/cpuinfo`` (Linux), else :func:`platform.processor`."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def load_average() -> tuple[float, float, float] | None:
    """1-, 5- and 15-minute load averages, or ``None`` where the OS has none."""
    try:
        return tuple(round(v, 2) for v in os.getloadavg())  # type: ignore[return-value]
    except (AttributeError, OSError):
        return None


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def describe_machine() -> dict[str, Any]:
    """The machine and its state at the time of the call.

    Returns
    -------
    dict
        ``cpu``, ``cores`` (usable by this process), ``logical_cpus``, ``memory_gb``,
        ``load_average`` (1, 5, 15 min), ``platform``, ``python``, ``numpy``, ``torch``,
        ``numba``, ``git``.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    try:
        memory_gb = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (AttributeError, ValueError, OSError):
        memory_gb = None
    return {
        "cpu": cpu_model(),
        "cores": cores,
        "logical_cpus": os.cpu_count(),
        "memory_gb": memory_gb,
        "load_average": load_average(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": _version("numpy"),
        "torch": _version("torch"),
        "numba": _version("numba"),
        "git": git_commit(short=True) or "unknown",
    }


def machine_line(info: dict[str, Any]) -> str:
    """One line for a table's caption: CPU, cores, memory, load, commit."""
    load = info.get("load_average")
    load_text = "/".join(f"{v:.2f}" for v in load) if load else "unknown"
    return (
        f"{info['cpu']}, {info['cores']} usable cores, {info.get('memory_gb')} GiB; "
        f"load average (1/5/15 min) {load_text}; torch {info['torch']}, numba {info['numba']}; "
        f"git {info['git']}"
    )
