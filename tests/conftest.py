"""Shared fixtures: the CelebA sample (when present) and small real images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
CELEBA_ROOT = Path(os.environ.get("INPAINT_BENCH_CELEBA", REPO.parent / "shared" / "data" / "celeba"))
HAS_CELEBA = (CELEBA_ROOT / "img_align_celeba").is_dir()
needs_celeba = pytest.mark.skipif(not HAS_CELEBA, reason=f"CelebA sample not found at {CELEBA_ROOT}")


@pytest.fixture(scope="session")
def builtin_images() -> list[np.ndarray]:
    """Eight real 160x160 crops from the builtin test split."""
    from bench.inputs.data import get_source

    samples, _ = get_source("builtin").take(8)
    return [s.image for s in samples]


@pytest.fixture
def small_image() -> np.ndarray:
    """A deterministic real 64x64 image (a downsized builtin crop)."""
    from bench.inputs.data import get_source

    return get_source("builtin", size=64).load("astronaut-000")


@pytest.fixture(scope="module")
def one_thread():
    """Run a module's tests with one torch thread, restoring the previous count after.

    The CI machine has 2 shared cores; OpenMP oversubscription makes tiny nets
    slow. Modules opt in with ``pytestmark = pytest.mark.usefixtures("one_thread")``.
    """
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# What pytest-benchmark records about the machine: the saved JSON under results/benchmarks/ is only
# comparable with a later run when the reader knows how busy the machine was (issue 15).
def pytest_benchmark_update_machine_info(config, machine_info):
    from bench.core.machine import describe_machine

    info = describe_machine()
    load1, load5, load15 = info["load_average"] or (float("nan"),) * 3
    machine_info["load_average"] = {"1min": load1, "5min": load5, "15min": load15}
    machine_info["usable_cores"] = info["cores"]
    machine_info["cpu_model"] = info["cpu"]
    machine_info["memory_gb"] = info["memory_gb"]
    machine_info["omp_num_threads"] = os.environ.get("OMP_NUM_THREADS", "")
    try:
        import torch

        machine_info["torch_threads"] = torch.get_num_threads()
        machine_info["torch_cpu_capability"] = torch.backends.cpu.get_cpu_capability()
    except ImportError:  # pragma: no cover - torch is a core dependency
        pass
    machine_info["git"] = info["git"]
