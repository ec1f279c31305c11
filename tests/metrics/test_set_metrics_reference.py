"""The registered set metrics against external reference statistics (``ctx.reference``, ``--fid-reference``).

Expected values are computed here from the reference's ``mu``/``sigma`` or features with scipy
and plain numpy, not with the suite's own maths.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg
from scipy.spatial.distance import cdist

from bench.metrics import SetMetricContext, get_metric
from bench.metrics.reference_stats import ReferenceStats

EXTRACTOR = {"extractor": "test:stats", "extractor_sha256": "1" * 64, "resize": "none"}
PAIRED = ("kid_paired", "pids")
UNPAIRED_FROM_FEATURES = ("fid_inf", "precision", "recall", "density", "coverage", "uids")


def _frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, dtype=np.float64)
    a.setflags(write=False)
    return a


def _reference(feats: np.ndarray, keep_feats: bool) -> ReferenceStats:
    return ReferenceStats(
        mu=_frozen(feats.mean(axis=0)),
        sigma=_frozen(np.cov(feats, rowvar=False)),
        feats=_frozen(feats) if keep_feats else None,
        path="/data/celeba_legacy_tensorflow_custom_na.npz",
        sha256="2" * 64,
        format="clean-fid",
        mode="legacy_tensorflow",
        n=len(feats),
    )


def _sets(n_ref: int = 60, n_fake: int = 40, d: int = 8, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    ref = rng.gamma(2.0, 0.5, (n_ref, d))
    fake = rng.gamma(2.0, 0.5, (n_fake, d)) * 1.1 + 0.1  # other images: no pairing with the reference
    return ref, fake


def _ctx(ref: ReferenceStats, **options) -> SetMetricContext:
    return SetMetricContext(seed=0, options=options, progress=False, extractor=dict(EXTRACTOR), reference=ref)


def _scipy_frechet(mu1, s1, mu2, s2) -> float:
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real))


@pytest.mark.parametrize("keep_feats", [True, False])
def test_fid_against_a_reference_is_the_frechet_distance_of_its_mu_and_sigma(keep_feats):
    ref_feats, fake = _sets()
    ref = _reference(ref_feats, keep_feats)
    res = get_metric("fid").fn(ref.feats, fake, _ctx(ref, fid_bootstrap=30))
    want = _scipy_frechet(ref.mu, ref.sigma, fake.mean(axis=0), np.cov(fake, rowvar=False))
    assert res.value == pytest.approx(want, rel=1e-9)
    assert res.low <= res.value <= res.high
    d = res.details
    assert {k: d[k] for k in EXTRACTOR} == EXTRACTOR
    assert d["reference_sha256"] == ref.sha256 and d["reference_path"] == ref.path and d["n_fake"] == 40


def test_kid_against_reference_features_is_the_unbiased_mmd_over_all_cross_pairs():
    ref_feats, fake = _sets(n_ref=40, n_fake=40)
    ref = _reference(ref_feats, True)
    res = get_metric("kid").fn(ref.feats, fake, _ctx(ref, fid_bootstrap=0))
    d = ref_feats.shape[1]
    k = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
    m = len(fake)
    kxx, kyy, kxy = k(ref_feats, ref_feats), k(fake, fake), k(ref_feats, fake)
    want = (kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    want -= 2.0 * kxy.mean()  # every cross pair: the reference's images are not the outputs' own
    assert res.value == pytest.approx(want, rel=1e-9)
    assert res.details["reference_sha256"] == ref.sha256 and res.details["extractor"] == EXTRACTOR["extractor"]


def test_kid_against_statistics_only_is_withheld_with_the_reason():
    ref_feats, fake = _sets()
    res = get_metric("kid").fn(None, fake, _ctx(_reference(ref_feats, False)))
    assert np.isnan(res.value) and "per-image features" in res.details["withheld"]


@pytest.mark.parametrize("keep_feats", [True, False])
@pytest.mark.parametrize("name", PAIRED)
def test_paired_metrics_are_withheld_against_a_reference(name, keep_feats):
    ref_feats, fake = _sets(n_ref=40, n_fake=40)  # even equally long sets are not pairs
    ref = _reference(ref_feats, keep_feats)
    res = get_metric(name).fn(ref.feats, fake, _ctx(ref))
    assert np.isnan(res.value)
    assert "own real image" in res.details["withheld"] and "--fid-reference" in res.details["withheld"]
    assert res.details["reference_sha256"] == ref.sha256


@pytest.mark.parametrize("name", UNPAIRED_FROM_FEATURES)
def test_unpaired_metrics_need_the_references_own_features(name):
    ref_feats, fake = _sets()
    ref = _reference(ref_feats, False)
    res = get_metric(name).fn(None, fake, _ctx(ref))
    assert np.isnan(res.value)
    assert "per-image features" in res.details["withheld"] and ref.path in res.details["withheld"]


def test_precision_and_recall_against_reference_features_match_a_literal_count():
    ref_feats, fake = _sets(n_ref=50, n_fake=35)
    ref = _reference(ref_feats, True)
    ctx = _ctx(ref)
    got = {name: get_metric(name).fn(ref.feats, fake, ctx) for name in ("precision", "recall")}
    drr, dff, drf = cdist(ref_feats, ref_feats), cdist(fake, fake), cdist(ref_feats, fake)
    rad_r = np.sort(drr, axis=1)[:, 3]  # the 3rd nearest other row (column 0 is the row itself)
    rad_f = np.sort(dff, axis=1)[:, 3]
    assert got["precision"].value == pytest.approx(np.mean((drf <= rad_r[:, None]).any(axis=0)), abs=1e-12)
    assert got["recall"].value == pytest.approx(np.mean((drf <= rad_f[None, :]).any(axis=1)), abs=1e-12)
    d = got["precision"].details
    assert (d["n_real"], d["n_fake"]) == (50, 35) and d["reference_sha256"] == ref.sha256


def test_fid_inf_and_uids_run_on_reference_features():
    ref_feats, fake = _sets(n_ref=60, n_fake=40)
    ref = _reference(ref_feats, True)
    ctx = _ctx(ref)
    inf = get_metric("fid_inf").fn(ref.feats, fake, ctx)
    d = inf.details
    # The fit's largest subset is the whole fake set against the whole reference: plain FID.
    assert d["subset_sizes"][-1] == 40
    want = _scipy_frechet(ref.mu, ref.sigma, fake.mean(axis=0), np.cov(fake, rowvar=False))
    assert d["subset_fids"][-1] == pytest.approx(want, rel=1e-6)
    assert d["reference_sha256"] == ref.sha256
    uids = get_metric("uids").fn(ref.feats, fake, ctx)
    # co-mod-gan's U-IDS restated: a LinearSVC on the raw features, its in-sample error rate.
    from sklearn.svm import LinearSVC

    x, y = np.vstack([ref_feats, fake]), np.r_[np.ones(60), np.zeros(40)]
    want = 1.0 - LinearSVC(dual=False, random_state=0).fit(x, y).score(x, y)
    assert 0.0 < want < 0.5  # a case with something to count
    assert uids.value == pytest.approx(want, abs=2 / 100)  # the solver's tolerance may move a boundary point
    assert (uids.details["n_real"], uids.details["n_fake"]) == (60, 40)
