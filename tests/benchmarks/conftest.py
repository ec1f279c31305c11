"""Benchmark-wide settings: what pytest-benchmark records about the machine.

The saved JSON under ``results/benchmarks/`` is only comparable with a later run when
the reader knows how busy the machine was, so the load average, the usable cores and the
torch thread count are stored beside pytest-benchmark's own CPU description.
"""

from __future__ import annotations

import os
import subprocess


def pytest_benchmark_update_machine_info(config, machine_info):
    load1, load5, load15 = os.getloadavg()
    machine_info["load_average"] = {"1min": load1, "5min": load5, "15min": load15}
    machine_info["usable_cores"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    machine_info["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS", "")
    try:
        import torch

        machine_info["torch_threads"] = torch.get_num_threads()
        machine_info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    try:
        rev = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True,
                             timeout=10, cwd=os.path.dirname(__file__))
        machine_info["git"] = rev.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        machine_info["git"] = ""
