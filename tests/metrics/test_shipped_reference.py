"""The real-image features shipped with the package are those of the README's main job."""

from __future__ import annotations

import numpy as np
import pytest

from bench.core.digest import image_sha256
from bench.engine.features import FeatureRequest, FeatureStage
from bench.inputs.protocol import load_protocol
from bench.metrics.feature_store import FeatureStore, shipped_store
from bench.metrics.inception import load_extractor


@pytest.fixture(scope="module")
def main_job():
    """The main job's protocol (builtin, n = 280, seed 0: the run defaults) and the extractor."""
    return load_protocol("builtin", n=280, seed=0), load_extractor(None)


def test_the_shipped_store_holds_every_real_image_of_the_main_job(main_job):
    proto, extractor = main_job
    store = shipped_store(extractor.identity)
    # If this fails, the data or the extractor changed: run
    # results/benchmarks/ship_reference_features.sh and commit its file.
    assert store is not None, "no shipped features for the default extractor"
    assert store.missing(proto.image_digest(i) for i in proto.ids) == []
    assert len(store) == 280


def test_shipped_features_equal_a_fresh_extraction(main_job):
    proto, extractor = main_job
    picks = [proto.ids[k] for k in (0, 1, 139, 279)]
    shipped = shipped_store(extractor.identity).get([proto.image_digest(i) for i in picks])
    fresh = extractor([proto.image(i) for i in picks])
    # Other CPUs and thread counts round differently: 1e-4 of the largest feature.
    np.testing.assert_allclose(shipped, fresh, rtol=0, atol=1e-4 * np.abs(fresh).max())


def test_a_run_copies_shipped_rows_and_extracts_only_other_pixels(main_job, tmp_path):
    proto, extractor = main_job
    store = FeatureStore(tmp_path, extractor.identity)
    request = FeatureRequest(None, extractor.sha256)
    with FeatureStage(store, request, workers=0) as stage:
        for image_id in proto.ids[:20]:
            stage.add(proto.image_digest(image_id), proto.image(image_id))
        changed = proto.image(proto.ids[0]).copy()
        changed[0, 0, 0] = 1.0 - changed[0, 0, 0]  # one pixel: other pixels, not shipped
        stage.add(image_sha256(changed), changed)
        stage.finish()
    assert stage.extracted == 1
    assert len(store) == 21
    shipped = shipped_store(extractor.identity)
    digests = [proto.image_digest(i) for i in proto.ids[:20]]
    np.testing.assert_array_equal(store.get(digests), shipped.get(digests))
