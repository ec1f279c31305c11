"""The feature extractor on a device: the CPU path unchanged to the bit, CUDA within float32 rounding.

The CUDA tests measure what a user with a GPU relies on: the reference features shipped with the
package (extracted on a CPU) are used by runs on any device, since the device is not part of the
features' cache key. They skip, with that reason, where torch has no CUDA device.
"""

from __future__ import annotations

import hashlib
import json
import warnings

import numpy as np
import pytest
import torch
from scipy import linalg

from bench.inputs.data import get_source
from bench.inputs.protocol import load_protocol
from bench.metrics import inception as inc
from bench.metrics.feature_store import shipped_store
from bench.metrics.inception_net import FIDInception

CUDA = torch.cuda.is_available()
needs_cuda = pytest.mark.skipif(
    not CUDA,
    reason="no CUDA device: measures the largest feature difference and the FID difference between "
    "CUDA features (TF32 off) and the CPU reference features shipped with the package",
)

# Bounds, as fractions of the largest feature value (the features of the shipped set reach ~6.8):
# between two CPUs the project allows 1e-4 (tests/metrics/test_shipped_reference.py), and a GPU
# with TF32 off is one more float32 machine; TF32 left on rounds to ~1e-3 and fails this.
FEATURE_RTOL = 1e-4
# FID is printed to 0.1 in every table: a tenth of that leaves a GPU run's table the CPU's, up to a
# value that sits on a rounding boundary. Features perturbed at FEATURE_RTOL move the FID of the
# shipped set's halves by ~1e-4, so the bound is loose for honest rounding, not for a wrong network.
FID_ATOL = 0.01


def _fid(real: np.ndarray, fake: np.ndarray) -> float:
    """FID the pytorch-fid way with scipy's sqrtm, independent of bench.metrics.frechet."""
    m1, m2 = real.mean(axis=0), fake.mean(axis=0)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    covmean = linalg.sqrtm(s1 @ s2)
    return float(((m1 - m2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(np.real(covmean)))


def _content_sha256(images: list[np.ndarray]) -> str:
    """The shipped key's pixel hash: each image's shape, then its bytes, in order."""
    h = hashlib.sha256()
    for im in images:
        h.update(repr(im.shape).encode())
        h.update(np.ascontiguousarray(im).data)
    return h.hexdigest()


def _builtin(n: int, size: int) -> list[np.ndarray]:
    samples, _ = get_source("builtin", None, split="test", size=size).take(n)
    assert len(samples) == n
    return [s.image for s in samples]


def _before(images: list[np.ndarray]) -> np.ndarray:
    """Features computed as the extractor did before it had a device, step by step."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.load.*deprecated", category=DeprecationWarning)
        script = torch.jit.load(str(inc.inception_path()), map_location="cpu").eval()
    net = FIDInception.from_torchscript(script)
    previous = torch.get_num_threads()
    torch.set_num_threads(inc.inference_threads())  # as the extractor runs
    try:
        with torch.inference_mode():
            out = net(inc.inception_input(torch.from_numpy(np.stack(images))))
    finally:
        torch.set_num_threads(previous)
    return out.to(torch.float64).numpy()


def test_the_cpu_gives_the_features_of_before_bit_for_bit():
    images = _builtin(4, 64)
    default = inc.load_extractor()
    on_cpu = inc.load_extractor(device="cpu")
    assert on_cpu is default and on_cpu.device == "cpu"  # one network per file and device
    assert next(on_cpu.module.parameters()).device.type == "cpu"
    before = _before(images)
    for ext in (default, on_cpu):
        feats = ext(images, batch_size=4)
        assert feats.dtype == np.float64 and feats.shape == (4, inc.INCEPTION_DIM)
        assert np.array_equal(feats, before)
    if not CUDA:
        assert inc.load_extractor(device="auto") is default


def test_the_device_is_not_part_of_the_identity():
    # Stored features (the shipped reference among them) serve every device.
    ext = inc.load_extractor(device="cpu")
    assert set(ext.identity) == {"extractor", "extractor_sha256", "resize"}


@pytest.mark.skipif(CUDA, reason="checks the refusal on a machine without CUDA")
def test_cuda_is_refused_in_one_line_where_torch_has_none():
    with pytest.raises(ValueError) as err:
        inc.load_extractor(device="cuda")
    text = str(err.value)
    assert "\n" not in text and text.startswith(f"--device cuda: torch {torch.__version__} has no CUDA device")


def test_an_unknown_device_is_refused():
    with pytest.raises(ValueError, match="unknown device 'gpu'.*cpu, cuda, cuda:N, auto"):
        inc.load_extractor(device="gpu")


@pytest.fixture(scope="module")
def shipped_set():
    """The shipped CPU features of the main job's real images, and those images (found by their pixels)."""
    proto = load_protocol("builtin", n=280, seed=0, size=160)
    store = shipped_store(inc.load_extractor().identity)
    assert store is not None, "no shipped features for the default extractor"
    feats = store.get([proto.image_digest(i) for i in proto.ids])
    return feats, [proto.image(i) for i in proto.ids]


@needs_cuda
def test_cuda_features_match_the_shipped_cpu_reference(shipped_set):
    cpu_feats, images = shipped_set
    ext = inc.load_extractor(device="cuda")
    assert ext.device.startswith("cuda:") and next(ext.module.parameters()).is_cuda
    assert torch.backends.cudnn.allow_tf32 is False and torch.backends.cuda.matmul.allow_tf32 is False
    cuda_feats = ext(images, batch_size=40)
    assert cuda_feats.dtype == np.float64 and cuda_feats.shape == cpu_feats.shape
    worst = float(np.abs(cuda_feats - cpu_feats).max())
    assert worst <= FEATURE_RTOL * float(np.abs(cpu_feats).max()), f"largest feature difference {worst:.3g}"
    # Same images, same device: the same bits (cuDNN deterministic, no autotuning).
    assert np.array_equal(ext(images[:40], batch_size=40), cuda_feats[:40])

    # A fixed fake set (the images with seeded noise) scored against either reference.
    rng = np.random.default_rng(0)
    fakes = [np.clip(im + rng.normal(0.0, 0.1, im.shape), 0.0, 1.0).astype(np.float32) for im in images]
    fake_feats = ext(fakes, batch_size=40)
    fid_cpu_ref, fid_cuda_ref = _fid(cpu_feats, fake_feats), _fid(cuda_feats, fake_feats)
    assert fid_cpu_ref > 1.0  # a real difference to measure, not two equal sets
    assert abs(fid_cpu_ref - fid_cuda_ref) <= FID_ATOL, (fid_cpu_ref, fid_cuda_ref)


@pytest.mark.skipif(not CUDA, reason="no CUDA device: checks that a user's TorchScript extractor runs on CUDA")
def test_a_user_extractor_loads_onto_the_device(tmp_path):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1)).eval()
    path = tmp_path / "tiny.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    images = _builtin(4, 64)
    on_cuda = inc.load_extractor(path, device="cuda")
    on_cpu = inc.load_extractor(path, device="cpu")
    assert on_cuda is not on_cpu and next(on_cuda.module.parameters()).is_cuda
    a, b = on_cpu(images), on_cuda(images)
    np.testing.assert_allclose(b, a, rtol=0, atol=FEATURE_RTOL * np.abs(a).max())


def test_the_parity_script_runs_on_the_cpu(tmp_path, capsys):
    """``results/benchmarks/device_parity.py`` at the smallest size, on the CPU (where the lent GPU runs it too)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[2] / "results" / "benchmarks" / "device_parity.py"
    spec = importlib.util.spec_from_file_location("device_parity", path)
    assert spec is not None and spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = tmp_path / "parity.json"
    result = script.main(["--device", "cpu", "--n", "2", "--json", str(out)])
    assert json.loads(out.read_text()) == json.loads(capsys.readouterr().out)
    feats, glcic = result["features"], result["glcic"]
    assert result["device"]["device"] == "cpu" and feats["n"] == glcic["n"] == 2
    assert feats["features_per_second"] > 0 and glcic["images_per_second"] > 0
    assert feats["max_abs_diff_over_max_feature"] <= FEATURE_RTOL  # this CPU against the shipping CPU
    assert feats["fid_difference"] <= FID_ATOL
    assert glcic["max_abs_diff_vs_cpu"] == 0.0 and glcic["fingerprint_device"] is None  # the CPU against itself
    with pytest.raises(SystemExit):
        script.main(["--device", "cpu", "--n", "281"])
