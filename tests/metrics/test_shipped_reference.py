"""The real-image features shipped with the package are those of the README's main job."""

from __future__ import annotations

import numpy as np
import pytest

from bench.experiments.run_set_metrics import reference_key as _reference_key
from bench.inputs.protocol import load_protocol
from bench.metrics import fid, reference_cache


@pytest.fixture(scope="module")
def main_job_reals():
    """The main job's real set (builtin, n = 280, seed 0: the run defaults) and its cache key."""
    proto = load_protocol("builtin", n=280, seed=0)
    ids = [s.id for s in proto.samples]
    real = [s.image for s in proto.samples]
    extractor = fid.load_extractor(None)
    key = fid.reference_cache_key(_reference_key(proto.identity, ids), extractor, fid.images_sha256(real))
    return real, key, extractor, _reference_key(proto.identity, ids)


def test_shipped_file_matches_the_main_jobs_key(main_job_reals):
    real, key, _, _ = main_job_reals
    path = reference_cache.SHIPPED_REFERENCE_DIR / reference_cache.reference_file_name(key)
    # If this fails, the data, protocol or extractor changed: run
    # results/benchmarks/ship_reference_features.sh and commit its file.
    assert path.is_file(), f"no shipped features for the main job: {path.name}"
    assert reference_cache._read_reference(path, key, len(real)) is not None


def test_shipped_features_equal_a_fresh_extraction(main_job_reals):
    real, key, extractor, _ = main_job_reals
    shipped = reference_cache._read_reference(
        reference_cache.SHIPPED_REFERENCE_DIR / reference_cache.reference_file_name(key), key, len(real)
    )
    picks = [0, 1, 139, 279]
    fresh = extractor([real[i] for i in picks])
    # The bound for feature changes: 1e-4 relative (other CPUs round differently).
    np.testing.assert_allclose(shipped[picks], fresh, rtol=0, atol=1e-4 * np.abs(fresh).max())


def test_an_empty_cache_finds_the_shipped_features_and_nothing_else(main_job_reals, tmp_path):
    real, _, extractor, ref_key = main_job_reals
    assert fid.reference_cached(real, ref_key, extractor, tmp_path)
    feats = fid.reference_features(real, ref_key, extractor, tmp_path)
    assert feats.shape == (280, 2048)
    assert not (tmp_path / "fid").exists()  # read in place, not copied into the cache
    # One pixel changed: another content hash, so the shipped file does not apply.
    changed = [im.copy() for im in real]
    changed[5][0, 0, 0] = 1.0 - changed[5][0, 0, 0]
    assert not fid.reference_cached(changed, ref_key, extractor, tmp_path)
    # Another real set (a subset, as when a method fails on some images): not shipped either.
    assert not fid.reference_cached(real[:279], ref_key, extractor, tmp_path)
