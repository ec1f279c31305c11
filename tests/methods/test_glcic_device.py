"""GLCIC's ``device`` option: the CPU unchanged (outputs and fingerprint), CUDA refused or recorded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.core.images import blank_hole
from methods.registry import create

pytestmark = pytest.mark.usefixtures("one_thread")

CUDA = torch.cuda.is_available()


@pytest.fixture(scope="module")
def pairs() -> tuple[list[np.ndarray], list[np.ndarray]]:
    from bench.inputs.data import get_source
    from bench.inputs.masks import make_mask

    samples, _ = get_source("builtin", size=64).take(4)
    masks = [make_mask(0, s.id, (64, 64))[0] for s in samples]
    return [blank_hole(s.image, m) for s, m in zip(samples, masks)], masks


def test_cpu_and_auto_without_cuda_are_the_default_to_the_bit(pairs):
    images, masks = pairs
    default = create("iizuka")
    expected = default.inpaint_batch(images, masks)
    names = ["iizuka:device=cpu"] + ([] if CUDA else ["iizuka:device=auto"])
    for spec in names:
        method = create(spec)
        assert method.device == "cpu" and next(method.model.parameters()).device.type == "cpu"
        for out, ref in zip(method.inpaint_batch(images, masks), expected):
            assert np.array_equal(out, ref)
        # The CPU adds no part: a finished CPU run's rows are reused, only the spec differs.
        parts, before = method.fingerprint(), default.fingerprint()
        assert "device" not in parts and "device" not in before
        assert {k: v for k, v in parts.items() if k != "spec"} == {k: v for k, v in before.items() if k != "spec"}


def test_a_run_wide_cpu_device_changes_nothing(pairs):
    images, masks = pairs
    default = create("iizuka")
    expected, parts = default.inpaint_batch(images, masks), default.fingerprint()
    method = create("iizuka")
    method.use_device("cpu")
    assert method.spec == "iizuka" and method.fingerprint() == parts
    for out, ref in zip(method.inpaint_batch(images, masks), expected):
        assert np.array_equal(out, ref)


@pytest.mark.skipif(CUDA, reason="checks the refusal on a machine without CUDA")
def test_cuda_is_refused_in_one_line_naming_the_option():
    with pytest.raises(ValueError) as err:
        create("iizuka:device=cuda")
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith(f"iizuka: device=cuda: torch {torch.__version__} has no CUDA device here")
    method = create("iizuka")
    with pytest.raises(ValueError, match="^iizuka: device=cuda:0: torch .* has no CUDA device here"):
        method.use_device("cuda:0")
    assert method.device == "cpu"  # refused before anything moved


def test_an_unknown_device_is_refused():
    with pytest.raises(ValueError, match=r"iizuka: device=gpu: unknown device 'gpu'; use one of cpu, cuda"):
        create("iizuka:device=gpu")


@pytest.mark.skipif(not CUDA, reason="no CUDA device: compares GLCIC's CUDA outputs (TF32 off) with its CPU outputs")
def test_cuda_outputs_match_the_cpu_and_the_gpu_is_in_the_fingerprint(pairs):
    images, masks = pairs
    on_cpu, on_cuda = create("iizuka"), create("iizuka:device=cuda")
    assert on_cuda.device.startswith("cuda:") and next(on_cuda.model.parameters()).is_cuda
    # Outputs are saved as 8-bit PNGs: 1e-4 is a fortieth of a level, so a saved pixel changes
    # only where a value sits on a rounding boundary; TF32 (~1e-3 relative) would exceed it.
    for a, b in zip(on_cpu.inpaint_batch(images, masks), on_cuda.inpaint_batch(images, masks)):
        assert b.dtype == np.float32 and b.shape == a.shape
        np.testing.assert_allclose(b, a, rtol=0, atol=1e-4)
    assert torch.cuda.get_device_name(torch.device(on_cuda.device)) in on_cuda.fingerprint()["device"]
    # A run-wide device given to a method built without one: the same outputs, the spec unchanged.
    moved = create("iizuka")
    moved.use_device("cuda")
    assert moved.spec == "iizuka" and moved.fingerprint()["device"] == on_cuda.fingerprint()["device"]
    for a, b in zip(moved.inpaint_batch(images, masks), on_cuda.inpaint_batch(images, masks)):
        assert np.array_equal(a, b)
