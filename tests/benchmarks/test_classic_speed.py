"""Seconds per image of the fast classic baselines (part of the fixed benchmark set).

With the project's default ``--benchmark-disable`` each runs once as a smoke test; measure and
compare with ``bash results/benchmarks/run.sh compare`` (see results/benchmarks/README.md).
"""

from __future__ import annotations

import pytest

import methods
from bench.commands.timing import timing_mask
from bench.core.images import blank_hole
from bench.inputs.data import get_source


@pytest.mark.benchset
@pytest.mark.parametrize("spec", ["telea", "biharmonic"])
def test_classic_speed_160(benchmark, spec):
    image = get_source("builtin", size=160).load("china-000")
    mask = timing_mask(0, "china-000", image.shape[:2])
    method = methods.create(spec)
    benchmark.extra_info["hole_pixels"] = int(mask.sum())
    out = benchmark.pedantic(
        method.inpaint, args=(blank_hole(image, mask), mask), rounds=5 if benchmark.enabled else 1, iterations=1
    )
    assert out.shape == image.shape
