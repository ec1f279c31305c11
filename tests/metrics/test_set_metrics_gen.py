"""Precision/recall, density/coverage and P-IDS/U-IDS against hand cases and literal reference code.

The references below are written from the papers' formulas in the most direct way
(``scipy.spatial.distance.cdist`` and Python loops; a plain ``LinearSVC`` on the raw
features as co-mod-gan calls it), independently of :mod:`bench.metrics.prdc`,
:mod:`bench.metrics.ids` and the Gram matrices they share through ``ctx.shared``.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.distance import cdist

from bench.metrics import SetMetricContext, get_metric, gram
from bench.metrics import ids as idsmod
from bench.metrics import prdc as prdcmod
from bench.metrics.frechet import FeatureError
from bench.metrics.ids import ids_scores, pids_from_decisions, uids_from_decisions
from bench.metrics.prdc import density_coverage, knn_radii, prdc, precision_recall


def _col(values) -> np.ndarray:
    return np.asarray(values, dtype=np.float64)[:, None]


# --- literal references ----------------------------------------------------------


def _kth_other(d: np.ndarray, i: int, k: int) -> float:
    return sorted(d[i, j] for j in range(d.shape[0]) if j != i)[k - 1]


def _ref_prdc(real: np.ndarray, fake: np.ndarray, k_pr: int = 3, k_dc: int = 5) -> dict[str, float]:
    """The four definitions, loop by loop (Kynkaanniemi et al. 2019 eq. 1-2; Naeem et al. 2020 eq. 3-4)."""
    drr, dff, drf = cdist(real, real), cdist(fake, fake), cdist(real, fake)
    nr, nf = len(real), len(fake)
    rad_r = [_kth_other(drr, i, k_pr) for i in range(nr)]
    rad_f = [_kth_other(dff, j, k_pr) for j in range(nf)]
    precision = np.mean([any(drf[i, j] <= rad_r[i] for i in range(nr)) for j in range(nf)])
    recall = np.mean([any(drf[i, j] <= rad_f[j] for j in range(nf)) for i in range(nr)])
    rad_r = [_kth_other(drr, i, k_dc) for i in range(nr)]
    density = sum(drf[i, j] < rad_r[i] for i in range(nr) for j in range(nf)) / (k_dc * nf)
    coverage = np.mean([min(drf[i, j] for j in range(nf)) < rad_r[i] for i in range(nr)])
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


# --- precision, recall, density, coverage ---------------------------------------------


def test_identical_sets_score_one():
    x = np.random.default_rng(0).standard_normal((60, 8)) * 2.0 + 1.0
    got = prdc(x, x.copy())
    # Every output sits on a real point; each real ball (open, radius its 5th neighbour)
    # holds itself and its 4 nearer neighbours: density exactly 5/5.
    assert got == pytest.approx({"precision": 1.0, "recall": 1.0, "density": 1.0, "coverage": 1.0}, abs=1e-12)


def test_far_apart_clusters_score_zero():
    rng = np.random.default_rng(1)
    real = rng.standard_normal((40, 6))
    fake = rng.standard_normal((30, 6)) + 100.0
    assert prdc(real, fake) == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_one_dimensional_hand_case():
    # real {0, 1, 3}, fake {0.5, 10}, k = 1.
    # Real radii (nearest other real): 1, 1, 2 -> balls [-1, 1], [0, 2], [1, 5].
    # Fake radii: 9.5 each.
    real, fake = _col([0.0, 1.0, 3.0]), _col([0.5, 10.0])
    # precision: 0.5 is in the first ball, 10 in none -> 1/2; recall: every real is within 9.5 of 0.5 -> 1.
    assert precision_recall(real, fake, k=1) == (0.5, 1.0)
    # density: 0.5 lies in 2 open balls ([-1,1] and [0,2]; |3 - 0.5| = 2.5 > 2), 10 in none -> 2 / (1 * 2);
    # coverage: nearest fakes are 0.5, 0.5, 0.5 at 0.5, 0.5, 2.5 against radii 1, 1, 2 -> 2/3.
    density, coverage = density_coverage(real, fake, k=1)
    assert density == pytest.approx(1.0) and coverage == pytest.approx(2 / 3)
    # k = 2: real radii 3, 2, 3; 0.5 in all three balls, 10 in none -> 3 / (2 * 2); all real covered.
    assert density_coverage(real, fake, k=2) == pytest.approx((0.75, 1.0))


def test_ball_boundary_is_closed_for_precision_and_open_for_density():
    # real {0, 2} (radius 2 each at k = 1); fake -2 lies exactly on the first ball's boundary.
    real, fake = _col([0.0, 2.0]), _col([-2.0, 7.0])
    assert precision_recall(real, fake, k=1)[0] == 0.5  # Kynkaanniemi: ||phi - phi'|| <= radius
    assert density_coverage(real, fake, k=1) == (0.0, 0.0)  # Naeem's code: strict <


def test_two_dimensional_hand_case():
    # A unit square of real points and three outputs; k = 1 radii of the square's corners are 1.
    real = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    fake = np.array([[0.5, 0.5], [0.0, 0.2], [3.0, 3.0]])
    # (0.5, 0.5) is 0.707 from every corner, (0, 0.2) is 0.2 from (0,0): inside; (3, 3) is not.
    assert precision_recall(real, fake, k=1)[0] == pytest.approx(2 / 3)
    # Fake radii (k = 1): sqrt(0.34) = 0.583 for (0.5,0.5) and (0,0.2), sqrt(12.5) = 3.536 for (3,3).
    # (0,0) is 0.2 from (0,0.2) and (1,1) is 2.83 from (3,3): covered; (1,0) and (0,1) are 0.707
    # from (0.5,0.5), 1.02 / 0.8 from (0,0.2) and 3.606 from (3,3): not covered. Recall 2/4.
    assert precision_recall(real, fake, k=1)[1] == 0.5
    # density: (0.5,0.5) in 4 balls, (0,0.2) in those of (0,0) and (0,1) (0.8 < 1), (3,3) in none -> 6/3.
    density, coverage = density_coverage(real, fake, k=1)
    assert density == pytest.approx(2.0)
    # coverage: each corner's nearest output is (0.5,0.5) or (0,0.2), within 1 -> 1.
    assert coverage == 1.0


@pytest.mark.parametrize("nr,nf,d,seed", [(60, 50, 16, 0), (45, 45, 4, 1), (30, 70, 64, 2)])
def test_prdc_matches_literal_reference(nr, nf, d, seed):
    rng = np.random.default_rng(seed)
    real = rng.standard_normal((nr, d)) + 3.0  # off the origin, like non-negative features
    fake = rng.standard_normal((nf, d)) * 1.2 + 3.3
    ref = _ref_prdc(real, fake)
    got = prdc(real, fake)
    for key in ref:
        assert got[key] == pytest.approx(ref[key], abs=1e-6), key


def test_block_route_matches_gram_route(monkeypatch):
    rng = np.random.default_rng(3)
    real, fake = rng.standard_normal((50, 12)), rng.standard_normal((41, 12)) * 0.8 + 0.4
    via_gram = prdc(real, fake)
    monkeypatch.setattr(prdcmod, "GRAM_MAX_N", 10)  # force the blocks of rows from the features
    monkeypatch.setattr(prdcmod, "BLOCK", 7)
    assert prdc(real, fake) == via_gram
    assert via_gram == pytest.approx(_ref_prdc(real, fake), abs=1e-6)


def test_precision_and_recall_swap_with_the_sets():
    rng = np.random.default_rng(4)
    a, b = rng.standard_normal((40, 5)), rng.standard_normal((35, 5)) * 1.5
    pa, ra = precision_recall(a, b)
    pb, rb = precision_recall(b, a)
    assert (pa, ra) == (rb, pb)


def test_knn_radii_match_sorting():
    x = np.random.default_rng(5).standard_normal((25, 3))
    d = cdist(x, x)
    for k in (1, 3, 5):
        np.testing.assert_allclose(knn_radii(x, k), [_kth_other(d, i, k) for i in range(25)], rtol=1e-10)


def test_prdc_rejects_bad_input():
    with pytest.raises(ValueError, match="k must lie in 1..2"):
        precision_recall(np.zeros((3, 2)), np.ones((5, 2)), k=3)
    with pytest.raises(FeatureError, match="fake features"):
        prdc(np.zeros((10, 3)), np.zeros((10, 3, 1)))
    with pytest.raises(FeatureError, match="differ in dimension"):
        prdc(np.zeros((10, 3)), np.zeros((10, 4)))


# --- P-IDS and U-IDS ----------------------------------------------------------------------


def _ref_ids(real: np.ndarray, fake: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray]:
    """co-mod-gan's metrics/inception_discriminative_score.py, restated: raw features, in-sample."""
    from sklearn.svm import LinearSVC

    x = np.concatenate([real, fake])
    y = np.array([1] * len(real) + [0] * len(fake))
    svm = LinearSVC(dual=False, random_state=0).fit(x, y)
    real_out, fake_out = svm.decision_function(real), svm.decision_function(fake)
    return 1 - svm.score(x, y), float(np.mean(fake_out > real_out)), real_out, fake_out


def test_pairing_and_counting_rules_by_brute_force():
    rng = np.random.default_rng(6)
    real_dec = rng.normal(0.2, 1.0, 37)
    fake_dec = rng.normal(-0.1, 1.0, 37)
    fake_dec[:3] = real_dec[:3]  # ties count as detected
    wins = 0
    for i in range(37):
        if fake_dec[i] > real_dec[i]:
            wins += 1
    assert pids_from_decisions(real_dec, fake_dec) == wins / 37
    wrong = sum(1 for v in real_dec if not v > 0) + sum(1 for v in fake_dec if v > 0)
    assert uids_from_decisions(real_dec, fake_dec) == wrong / 74
    # Pairing matters: the same values, shuffled, give another P-IDS but the same U-IDS.
    perm = rng.permutation(37)
    assert uids_from_decisions(real_dec, fake_dec[perm]) == wrong / 74
    assert pids_from_decisions([0.0, 1.0], [0.5, 0.5]) == 0.5
    with pytest.raises(ValueError, match="equal-length"):
        pids_from_decisions(np.zeros(3), np.zeros(4))


def test_separable_sets_score_zero():
    rng = np.random.default_rng(7)
    real = rng.standard_normal((80, 5))
    fake = rng.standard_normal((80, 5)) + 20.0
    res = ids_scores(real, fake)
    assert (res.uids, res.pids) == (0.0, 0.0)
    assert res.details["fake_as_real"] == 0.0 and res.details["converged"]


def test_identical_sets_give_uids_one_half():
    # Every point appears once with each label: the optimum is w = 0, every decision
    # value is 0, so every real row is called fake and every output is not called real.
    x = np.random.default_rng(8).standard_normal((50, 6)) + 1.0
    res = ids_scores(x, x.copy())
    assert res.uids == 0.5
    assert res.pids == 0.0  # no output scores strictly above its own (identical) real image
    np.testing.assert_allclose(res.fake_decision, res.real_decision)


def test_same_distribution_gives_scores_near_one_half():
    rng = np.random.default_rng(9)
    real, fake = rng.standard_normal((600, 4)), rng.standard_normal((600, 4))
    res = ids_scores(real, fake)
    assert 0.4 < res.uids <= 0.5
    assert 0.4 < res.pids < 0.6


@pytest.mark.parametrize("n,d,shift", [(150, 20, 0.25), (30, 80, 0.05)])
def test_ids_matches_the_reference_fit_on_raw_features(n, d, shift):
    rng = np.random.default_rng(10 + n)
    real = rng.gamma(2.0, 0.5, (n, d))  # non-negative, off the origin, like pool3 features
    fake = real * (1 - shift) + shift * rng.gamma(2.0, 0.5, (n, d))
    ref_u, ref_p, ref_real, ref_fake = _ref_ids(real, fake)
    res = ids_scores(real, fake)
    # The same optimisation problem: decision values agree to the solver's tolerance (liblinear stops at a
    # relative gradient norm of 1e-4, and where it stops on the two designs differs between scikit-learn
    # releases: 1.6e-5 of the scale with 1.9.1) ...
    scale = np.abs(np.r_[ref_real, ref_fake]).max()
    np.testing.assert_allclose(res.real_decision, ref_real, atol=5e-5 * scale)
    np.testing.assert_allclose(res.fake_decision, ref_fake, atol=5e-5 * scale)
    # ... so the scores agree except where a value sits within that tolerance of a decision boundary.
    tol = 1e-4 * scale
    near_sign = np.sum(np.abs(np.r_[ref_real, ref_fake]) < tol)
    near_pair = np.sum(np.abs(ref_fake - ref_real) < tol)
    assert abs(res.uids - ref_u) <= near_sign / (2 * n) + 1e-12
    assert abs(res.pids - ref_p) <= near_pair / n + 1e-12
    if n > d:
        assert 0.0 < res.uids < 0.5  # a non-trivial case


def test_small_n_warning_and_determinism():
    rng = np.random.default_rng(11)
    real, fake = rng.standard_normal((20, 64)), rng.standard_normal((20, 64)) + 0.1
    res = ids_scores(real, fake)
    assert "linearly separable" in res.details["warning"] and res.uids == 0.0
    again = ids_scores(real, fake)  # a second fit: nothing is kept between calls without ``shared``
    assert again is not res
    assert (again.uids, again.pids) == (res.uids, res.pids)
    np.testing.assert_array_equal(again.fake_decision, res.fake_decision)
    assert "warning" not in ids_scores(rng.standard_normal((40, 8)), rng.standard_normal((40, 8))).details


def test_unpaired_sizes_give_uids_only():
    rng = np.random.default_rng(12)
    res = ids_scores(rng.standard_normal((60, 3)), rng.standard_normal((45, 3)) + 0.5)
    assert np.isnan(res.pids) and 0.0 < res.uids < 0.5


# --- registered metrics ---------------------------------------------------------------------

EXTRACTOR = {"extractor": "test:stats", "extractor_sha256": "0" * 64, "resize": "none"}
KNN_IDS = ["precision", "recall", "density", "coverage", "pids", "uids"]


def _stats_features(images) -> np.ndarray:
    """Channel means, standard deviations and quartiles of each image: 12-d features, no network."""
    rows = [
        np.r_[
            im.reshape(-1, 3).mean(0),
            im.reshape(-1, 3).std(0),
            np.quantile(im.reshape(-1, 3), [0.25, 0.75], axis=0).ravel(),
        ]
        for im in images
    ]
    return np.array(rows, dtype=np.float64)


def _image_features(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    real = [rng.random((16, 16, 3), dtype=np.float32) for _ in range(n)]
    fake = [np.clip(im + rng.normal(0, 0.1, im.shape), 0, 1).astype(np.float32) for im in real]
    return _stats_features(real), _stats_features(fake)


def _count_calls(monkeypatch, owner, name: str) -> list:
    calls: list = []
    original = getattr(owner, name)

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)
    return calls


def test_registered_metrics_take_features_and_share_one_computation(monkeypatch):
    rf, ff = _image_features(30, 13)
    pairs = _count_calls(monkeypatch, gram, "FeaturePair")
    fits = _count_calls(monkeypatch, idsmod, "_fit")
    ctx = SetMetricContext(seed=0, options={"fid_bootstrap": 10}, progress=False, extractor=dict(EXTRACTOR))
    results = {name: get_metric(name).fn(rf, ff, ctx) for name in ["fid", *KNN_IDS]}
    # One Gram pair and one SVM fit for all seven metrics of the method, kept in its ctx.shared.
    assert len(pairs) == 1 and len(fits) == 1
    assert {k: results[k].value for k in ("precision", "recall", "density", "coverage")} == pytest.approx(
        _ref_prdc(rf, ff), abs=1e-6
    )
    ref_u, ref_p, _, _ = _ref_ids(rf, ff)
    assert results["uids"].value == pytest.approx(ref_u, abs=2 / 60)
    assert results["pids"].value == pytest.approx(ref_p, abs=2 / 30)
    for name in KNN_IDS:
        info = get_metric(name)
        assert info.kind == "set" and info.higher_is_better
        d = results[name].details
        assert d["n"] == 30 and d["feature_dim"] == 12
        assert {k: d[k] for k in EXTRACTOR} == EXTRACTOR  # the extractor comes from ctx.extractor
    assert results["precision"].details["k"] == 3 and results["density"].details["k"] == 5
    assert "Kynkaanniemi" in get_metric("recall").summary and "Naeem" in get_metric("coverage").summary


def _same(a, b) -> bool:
    """Bit-identical results: value, interval and details (NaN equal to NaN)."""

    def eq(x, y):
        return x == y or (np.isnan(x) and np.isnan(y))

    return all(eq(x, y) for x, y in zip((a.value, a.low, a.high), (b.value, b.low, b.high))) and repr(
        a.details
    ) == repr(b.details)


def test_shared_scratch_gives_the_values_of_separate_computations(monkeypatch):
    # pool3-like: non-negative, off the origin, n < D (the Gram route), 40 images (FID-inf runs).
    rng = np.random.default_rng(30)
    load = rng.standard_normal((8, 64)) / 4
    rf = np.log1p(np.exp(rng.standard_normal((40, 8)) @ load + 0.3 * rng.standard_normal((40, 64)) - 1.0))
    ff = np.clip(rf + 0.05 + 0.1 * rng.standard_normal(rf.shape), 0, None)
    names = ["fid", "fid_inf", "kid", "kid_paired", *KNN_IDS]
    opts = {"fid_bootstrap": 20}

    def ctx(shared=None):
        return SetMetricContext(options=opts, progress=False, **({} if shared is None else {"shared": shared}))

    shared: dict = {}
    together = {name: get_metric(name).fn(rf, ff, ctx(shared)) for name in names}
    pairs = _count_calls(monkeypatch, gram, "FeaturePair")
    alone = {name: get_metric(name).fn(rf, ff, ctx()) for name in names}
    assert len(pairs) >= len(names) - 2  # each computed its own (pids and uids share their SVM fit)
    for name in names:
        assert _same(together[name], alone[name]), name
    # The scratch holds the one pair of this method's features.
    assert sum(1 for key in shared if key[0] == "gram.pair") == 1
    # Read-only features are hashed once per scratch; writeable ones on every use (they may change).
    frozen_r, frozen_f = rf.copy(), ff.copy()
    frozen_r.setflags(write=False)
    frozen_f.setflags(write=False)
    digests = _count_calls(monkeypatch, gram, "content_digest")
    again: dict = {}
    for name in names:
        assert _same(get_metric(name).fn(frozen_r, frozen_f, ctx(again)), together[name]), name
    assert len(digests) == 2


def _scipy_fid(x: np.ndarray, y: np.ndarray) -> float:
    import scipy.linalg

    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    d = x.mean(0) - y.mean(0)
    return float(d @ d + np.trace(s1) + np.trace(s2) - 2 * np.trace(root))


def test_a_modified_feature_matrix_is_not_answered_from_the_scratch():
    rng = np.random.default_rng(31)
    rf, ff = rng.normal(size=(20, 30)), rng.normal(0.3, 1.2, size=(20, 30))
    ctx = SetMetricContext(options={"fid_bootstrap": 0}, progress=False)
    before = get_metric("fid").fn(rf, ff, ctx).value
    ff[:5] += 1.0  # the same array object with new content: the scratch is keyed by content
    after = get_metric("fid").fn(rf, ff, ctx).value
    assert after != pytest.approx(before, rel=1e-3)
    assert after == pytest.approx(_scipy_fid(rf, ff), rel=1e-6)


def test_registered_knn_metric_on_too_few_images_is_withheld_with_a_reason():
    rf, ff = _image_features(4, 14)
    ctx = SetMetricContext(progress=False)
    res = get_metric("density").fn(rf, ff, ctx)
    assert np.isnan(res.value) and res.details["withheld"].startswith("density needs n >= 6 images")
    assert "k = 5" in res.details["withheld"]
    assert np.isfinite(get_metric("precision").fn(rf, ff, ctx).value)  # k = 3 < 4


@pytest.mark.parametrize("name", ["fid", "fid_inf", "kid", "kid_paired", *KNN_IDS])
def test_registered_metrics_refuse_unpaired_own_features(name):
    rng = np.random.default_rng(15)
    ctx = SetMetricContext(progress=False)
    with pytest.raises(ValueError, match=rf"{name}: real and fake features differ in shape: \(30, 4\) vs \(29, 4\)"):
        get_metric(name).fn(rng.normal(size=(30, 4)), rng.normal(size=(29, 4)), ctx)
    with pytest.raises(ValueError, match=f"{name}: no real features given"):
        get_metric(name).fn(None, rng.normal(size=(29, 4)), ctx)
