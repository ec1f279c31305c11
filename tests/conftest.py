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
    from bench.data import get_source

    samples, _ = get_source("builtin").take(8)
    return [s.image for s in samples]


@pytest.fixture
def small_image() -> np.ndarray:
    """A deterministic real 64x64 image (a downsized builtin crop)."""
    from bench.data import get_source

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
