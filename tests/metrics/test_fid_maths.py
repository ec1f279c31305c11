"""FID/KID maths against closed forms and independent numpy/scipy implementations written here."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg

from bench.metrics import frechet as fr


def _spd(rng, d, scale=1.0):
    a = rng.standard_normal((d, d))
    return scale * (a @ a.T / d + 0.1 * np.eye(d))


def _ref_frechet(mu1, s1, mu2, s2):
    # Independent route: tr sqrt(S1 S2) = tr sqrt(S1^1/2 S2 S1^1/2), a symmetric PSD
    # matrix whose square root is taken through eigh, not sqrtm.
    w, v = np.linalg.eigh(s1)
    h = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = np.linalg.eigvalsh(h @ s2 @ h)
    return float(np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * np.sqrt(np.clip(inner, 0, None)).sum())


@pytest.mark.parametrize("d", [1, 8, 256])
def test_frechet_matches_closed_form_for_diagonal_gaussians(d):
    rng = np.random.default_rng(d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    a, b = rng.uniform(0.1, 4.0, d), rng.uniform(0.1, 4.0, d)
    # Commuting covariances: tr sqrt(A B) = sum sqrt(a_i b_i), so
    # FID = |mu1 - mu2|^2 + sum (sqrt a_i - sqrt b_i)^2.
    closed = float(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    got = fr.frechet_distance(mu1, np.diag(a), mu2, np.diag(b))
    assert got == pytest.approx(closed, abs=1e-6, rel=1e-9)


def test_frechet_matches_independent_formula_for_full_covariances():
    rng = np.random.default_rng(7)
    d = 64
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d) + 0.5
    s1, s2 = _spd(rng, d), _spd(rng, d, 3.0)
    assert fr.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(_ref_frechet(mu1, s1, mu2, s2), abs=1e-6)


def test_frechet_one_dimensional_hand_case():
    # N(0, 4) vs N(3, 1): 9 + 4 + 1 - 2 * sqrt(4) = 10.
    assert fr.frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(10.0, abs=1e-12)


def test_frechet_retries_with_eps_offset_when_sqrtm_is_not_finite(monkeypatch):
    real_sqrtm = scipy.linalg.sqrtm
    calls = []

    def flaky(m):
        calls.append(m.copy())
        return np.full_like(m, np.inf) if len(calls) == 1 else real_sqrtm(m)

    monkeypatch.setattr(scipy.linalg, "sqrtm", flaky)
    s1, s2 = np.diag([1.0, 2.0]), np.diag([3.0, 0.5])
    value, info = fr.frechet_distance_info(np.zeros(2), s1, np.ones(2), s2, eps=1e-3)
    assert info["offset"] == 1e-3
    np.testing.assert_allclose(calls[1], (s1 + 1e-3 * np.eye(2)) @ (s2 + 1e-3 * np.eye(2)))
    shifted = np.sqrt((np.array([1.0, 2.0]) + 1e-3) * (np.array([3.0, 0.5]) + 1e-3)).sum()
    assert value == pytest.approx(2.0 + 3.0 + 3.5 - 2 * shifted, abs=1e-12)


def test_frechet_rejects_large_imaginary_part(monkeypatch):
    monkeypatch.setattr(scipy.linalg, "sqrtm", lambda m: np.eye(2) * (1 + 0.5j))
    with pytest.raises(ValueError, match="imaginary component"):
        fr.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2))
    # A tiny imaginary residue is dropped, as pytorch-fid does.
    monkeypatch.setattr(scipy.linalg, "sqrtm", lambda m: np.eye(2) * (0.5 + 1e-9j))
    # 0 + 2 + 2 - 2 * tr(0.5 I) = 2
    assert fr.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(2)) == pytest.approx(2.0)


def test_frechet_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="sigma2"):
        fr.frechet_distance(np.zeros(3), np.eye(3), np.zeros(3), np.eye(2))
    with pytest.raises(fr.FeatureError, match="fake features"):
        fr.fid_from_features(np.zeros((5, 3)), np.zeros((5, 4))[:, :, None])
    with pytest.raises(fr.FeatureError, match="at least 2"):
        fr.feature_stats(np.zeros((1, 4)))
    with pytest.raises(fr.FeatureError, match="NaN"):
        fr.feature_stats(np.array([[0.0, np.nan], [1.0, 2.0]]))


def test_feature_stats_match_numpy():
    x = np.random.default_rng(0).standard_normal((30, 5))
    mu, sigma = fr.feature_stats(x)
    np.testing.assert_allclose(mu, x.mean(axis=0))
    np.testing.assert_allclose(sigma, (x - x.mean(0)).T @ (x - x.mean(0)) / 29)


@pytest.mark.parametrize("n1,n2,d", [(40, 50, 64), (30, 30, 256), (300, 260, 32), (5, 400, 16)])
def test_gram_trace_matches_scipy_sqrtm(n1, n2, d):
    # Gram route (n <= D) and QR route (n > D) against the definition through sqrtm.
    rng = np.random.default_rng(n1 + n2 + d)
    x = rng.standard_normal((n1, d)) @ rng.standard_normal((d, d)) / np.sqrt(d)
    y = rng.standard_normal((n2, d)) * 1.5 + 0.3
    s1, s2 = np.cov(x, rowvar=False), np.cov(y, rowvar=False)
    ref = np.trace(scipy.linalg.sqrtm(s1 @ s2)).real
    assert fr.trace_sqrt_product(x, y) == pytest.approx(ref, rel=1e-6)
    assert fr.fid_gram(x, y) == pytest.approx(fr.fid_from_features(x, y), rel=1e-6, abs=1e-6)


def test_fid_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(1).standard_normal((200, 64)) * 3 + 1
    assert abs(fr.fid_from_features(x, x)) < 1e-8
    assert abs(fr.fid_gram(x, x)) < 1e-8
    # n < D: rank-deficient covariances, still ~0 on the Gram route.
    y = np.random.default_rng(2).standard_normal((20, 512))
    assert abs(fr.fid_gram(y, y)) < 1e-9


def _explicit_fid_of_resample(x, y, idx_x, idx_y):
    return fr.fid_from_features(x[idx_x], y[idx_y])


def _rebuilt_resamples(n, n_boot, seed, paired):
    """The resampled row indices of each bootstrap replicate, drawn as the library draws them."""
    draw = np.random.default_rng(seed)
    wx = draw.multinomial(n, np.full(n, 1 / n), size=n_boot)
    wy = wx if paired else draw.multinomial(n, np.full(n, 1 / n), size=n_boot)
    return [(np.repeat(np.arange(n), wx[b]), np.repeat(np.arange(n), wy[b])) for b in range(n_boot)]


@pytest.mark.parametrize("paired", [True, False])
@pytest.mark.parametrize("n,d", [(24, 48), (60, 12)])
def test_bootstrap_fid_replicates_equal_explicit_resamples(paired, n, d):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((n, d))
    y = x + 0.5 * rng.standard_normal((n, d))
    reps = fr.bootstrap_fid(x, y, n_boot=4, seed=11, paired=paired)
    # Rebuild the same draws and recompute FID from the duplicated rows with sqrtm.
    for b, (ix, iy) in enumerate(_rebuilt_resamples(n, 4, 11, paired)):
        assert reps[b] == pytest.approx(_explicit_fid_of_resample(x, y, ix, iy), rel=1e-6, abs=1e-6)


def test_bootstrap_is_deterministic_per_seed():
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((30, 40)), rng.standard_normal((30, 40)) + 0.2
    a, b = fr.bootstrap_fid(x, y, n_boot=20, seed=5), fr.bootstrap_fid(x, y, n_boot=20, seed=5)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, fr.bootstrap_fid(x, y, n_boot=20, seed=6))
    np.testing.assert_array_equal(fr.bootstrap_kid(x, y, n_boot=20, seed=5), fr.bootstrap_kid(x, y, n_boot=20, seed=5))


def test_centred_interval_hand_case():
    reps = np.arange(1.0, 102.0)  # 1..101, mean 51, 2.5 % / 97.5 % quantiles 3.5 and 98.5
    low, high = fr.centred_interval(50.0, reps)
    assert (low, high) == pytest.approx((2.5, 97.5))


# --- KID ---------------------------------------------------------------------


def _k(a, b):
    return (a @ b / a.size + 1.0) ** 3


def _ref_mmd2(x, y, paired):
    """Loop form of the unbiased MMD^2 U-statistic (Gretton et al. 2012)."""
    m = len(x)
    xx = sum(_k(x[i], x[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    yy = sum(_k(y[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    if paired:
        xy = sum(_k(x[i], y[j]) for i in range(m) for j in range(m) if i != j) / (m * (m - 1))
    else:
        xy = sum(_k(x[i], y[j]) for i in range(m) for j in range(m)) / (m * m)
    return xx + yy - 2 * xy


@pytest.mark.parametrize("paired", [True, False])
def test_kid_matches_loop_reference(paired):
    rng = np.random.default_rng(8)
    x, y = rng.standard_normal((15, 6)), rng.standard_normal((15, 6)) * 1.3
    got = fr.kid_subset_values(x, y, subsets=3, subset_size=9, seed=2, paired=paired)
    draw = np.random.default_rng(2)
    for s in range(3):
        i = draw.choice(15, 9, replace=False)
        j = i if paired else draw.choice(15, 9, replace=False)
        # kid_subset_values takes (real, fake) and compares fake[i] with real[j].
        assert got[s] == pytest.approx(_ref_mmd2(y[i], x[j], paired), rel=1e-10)


def test_kid_whole_set_paired_is_one_value():
    rng = np.random.default_rng(9)
    x, y = rng.standard_normal((12, 5)), rng.standard_normal((12, 5))
    vals = fr.kid_subset_values(x, y, subsets=5, subset_size=1000)
    assert np.all(vals == vals[0])
    assert vals[0] == pytest.approx(_ref_mmd2(y, x, True), rel=1e-10)


def test_kid_is_zero_in_expectation_for_two_halves_of_one_set():
    rng = np.random.default_rng(10)
    data = rng.standard_normal((4000, 8)) @ rng.standard_normal((8, 8))
    kids = []
    for _ in range(200):
        perm = rng.permutation(4000)[:80]
        kids.append(fr.kid_from_features(data[perm[:40]], data[perm[40:]], subsets=1, paired=False))
    kids = np.array(kids)
    se = kids.std(ddof=1) / np.sqrt(kids.size)
    assert abs(kids.mean()) < 3 * se
    # The test has power: halves of two different distributions are far from 0.
    shifted = fr.kid_from_features(data[:200], data[200:400] + 1.0, subsets=1)
    assert shifted > 20 * se


def test_paired_kid_is_unbiased_where_the_all_pairs_estimator_is_not():
    # y_i is x_i reflected in one coordinate: an isotropic Gaussian keeps its
    # distribution (true MMD = 0), but each y_i stays tied to its x_i, as an
    # inpainted output stays tied to its real image.
    rng = np.random.default_rng(12)
    d, m = 16, 30
    flip = np.ones(d)
    flip[0] = -1.0
    paired_vals, all_pairs_vals = [], []
    for _ in range(150):
        x = rng.standard_normal((m, d))
        y = x * flip
        paired_vals.append(fr.kid_from_features(x, y, paired=True))
        all_pairs_vals.append(_all_pairs(x, y))
    p, a = np.array(paired_vals), np.array(all_pairs_vals)
    assert abs(p.mean()) < 3 * p.std(ddof=1) / np.sqrt(p.size)
    # Including k(x_i, y_i) ~ (|x|^2/d + 1)^3 ~ 8 in the cross mean pulls it far below 0.
    assert a.mean() < -10 * a.std(ddof=1) / np.sqrt(a.size)


def _all_pairs(x, y):
    return fr.kid_from_features(x, y, paired=False)


@pytest.mark.parametrize("paired", [True, False])
def test_bootstrap_kid_replicates_equal_explicit_resamples(paired):
    rng = np.random.default_rng(13)
    n = 10
    x, y = rng.standard_normal((n, 4)), rng.standard_normal((n, 4)) + 0.3
    reps = fr.bootstrap_kid(x, y, n_boot=3, seed=1, paired=paired)
    for b, (ix, iy) in enumerate(_rebuilt_resamples(n, 3, 1, paired)):

        def mean_distinct(a, ia, c, ic):
            # Average kernel over position pairs whose original images differ.
            vals = [_k(a[p], c[q]) for p, q in ((p, q) for p in ia for q in ic) if p != q]
            return np.mean(vals)

        xx = mean_distinct(x, ix, x, ix)
        yy = mean_distinct(y, iy, y, iy)
        if paired:
            xy = mean_distinct(x, ix, y, iy)
        else:
            xy = np.mean([_k(x[p], y[q]) for p in ix for q in iy])
        assert reps[b] == pytest.approx(xx + yy - 2 * xy, rel=1e-9)


def _torchmetrics_style_kid(x: np.ndarray, y: np.ndarray) -> float:
    """KID as torchmetrics' KernelInceptionDistance computes one subset (written out by hand)."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1.0) ** 3
    kyy = (y @ y.T / d + 1.0) ** 3
    kxy = (x @ y.T / d + 1.0) ** 3
    m = x.shape[0]
    return float((kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.sum() / m**2)


def test_standard_kid_equals_the_torchmetrics_estimator():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(40, 16))
    y = rng.normal(0.3, 1.1, size=(40, 16))
    ref = _torchmetrics_style_kid(y, x)
    assert fr.kid_from_features(x, y, subsets=10, subset_size=1000, paired=False) == pytest.approx(ref, rel=1e-9)
    torch = pytest.importorskip("torch")
    pytest.importorskip("torchmetrics.image.kid", reason="torchmetrics not installed")
    from torchmetrics.image.kid import poly_mmd

    got = poly_mmd(torch.from_numpy(x), torch.from_numpy(y), degree=3, gamma=None, coef=1.0)
    assert float(got) == pytest.approx(ref, rel=1e-6)


def test_registered_kid_is_standard_and_kid_paired_is_paired():
    from bench.metrics.fid import kid_result
    from bench.metrics.registry import get_metric

    rng = np.random.default_rng(8)
    x = rng.normal(size=(30, 8))
    y = x + rng.normal(0, 0.5, size=(30, 8))
    std = kid_result(x, y, n_boot=0, paired=False)
    assert std.value == pytest.approx(_torchmetrics_style_kid(y, x), rel=1e-9)
    assert std.details["subsets"] == 1  # n = 30 < 1000: the whole set, once
    paired = kid_result(x, y, n_boot=0, paired=True)
    assert paired.value != pytest.approx(std.value, rel=1e-3)
    assert get_metric("kid").summary.startswith("kernel Inception distance, the standard")
    assert "paired" in get_metric("kid_paired").summary or "own real image" in get_metric("kid_paired").summary


def test_headline_fid_is_the_gram_route_and_equals_sqrtm():
    from bench.metrics.fid import fid_result

    rng = np.random.default_rng(9)
    x = rng.normal(size=(50, 64))
    y = rng.normal(0.2, 1.3, size=(50, 64))
    res = fid_result(x, y, n_boot=0)
    assert "Gram" in res.details["estimator"]
    ref = fr.frechet_distance(*fr.feature_stats(x), *fr.feature_stats(y))  # pytorch-fid's sqrtm route
    assert res.value == pytest.approx(ref, rel=1e-6)
    wide = fid_result(rng.normal(size=(80, 16)), rng.normal(size=(80, 16)), n_boot=0)  # n > D: sqrtm route
    assert "sqrtm" in wide.details["estimator"]


def test_fid_infinity_is_the_intercept_of_an_explicit_fit():
    rng = np.random.default_rng(10)
    x = rng.normal(size=(120, 32))
    y = rng.normal(0.25, 1.2, size=(120, 32))
    value, ns, fids = fr.fid_infinity(x, y, points=6, min_fraction=0.5, seed=4)
    assert list(ns) == [60, 72, 84, 96, 108, 120]
    draw = np.random.default_rng(4)
    ref = []
    for n in ns:  # pytorch-fid's sqrtm route on the same subsets
        sub = y[draw.choice(120, n, replace=False)]
        ref.append(fr.frechet_distance(*fr.feature_stats(x), *fr.feature_stats(sub)))
    np.testing.assert_allclose(fids, ref, rtol=1e-6)
    a = np.vstack([np.ones(len(ns)), 1.0 / ns]).T
    intercept = np.linalg.lstsq(a, np.array(ref), rcond=None)[0][0]
    assert value == pytest.approx(intercept, rel=1e-6)


def test_fid_infinity_removes_most_of_the_small_n_bias():
    # Two Gaussians with a known Frechet distance: mean shift 0.5 in each of 16 dims, same covariance.
    rng = np.random.default_rng(11)
    d, true = 16, 16 * 0.25
    inf_err, at_n_err = [], []
    for _ in range(20):
        x = rng.normal(size=(4000, d))
        y = rng.normal(0.5, 1.0, size=(200, d))
        value, ns, fids = fr.fid_infinity(x, y, seed=int(rng.integers(1 << 30)))
        inf_err.append(value - true)
        at_n_err.append(fids[-1] - true)
    assert np.mean(at_n_err) > 0.05  # FID at n = 200 is biased upwards
    assert abs(np.mean(inf_err)) < 0.5 * np.mean(at_n_err)


# --- the Gram matrices shared by the set metrics of one method ---------------------------


def test_shared_gram_products_equal_direct_ones():
    from scipy.spatial.distance import cdist

    from bench.metrics import gram

    rng = np.random.default_rng(20)
    r = rng.gamma(2.0, 0.5, (30, 40)) + 3.0  # far from the origin, like pool3 features
    f = rng.gamma(2.0, 0.5, (25, 40)) + 3.2
    shared: dict = {}
    p = gram.feature_pair(r, f, shared)
    np.testing.assert_allclose(p.raw_cross, r @ f.T, rtol=1e-12)
    np.testing.assert_allclose(p.real.raw, r @ r.T, rtol=1e-12)
    np.testing.assert_allclose(p.sqdist, cdist(r, f, "sqeuclidean"), rtol=1e-9)
    np.testing.assert_allclose(p.fake.sqdist, cdist(f, f, "sqeuclidean"), rtol=1e-9, atol=1e-9)
    rc, fc = r - r.mean(0), f - f.mean(0)
    np.testing.assert_allclose(p.cross, rc @ fc.T, rtol=1e-12, atol=1e-12)
    assert gram.feature_pair(r.copy(), f.copy(), shared) is p  # equal content, one entry
    assert gram.feature_pair(r, f) is not p  # without a scratch: computed afresh, nothing kept


def test_shared_gram_follows_content_not_identity():
    from bench.metrics import gram

    rng = np.random.default_rng(21)
    x, y = rng.normal(size=(20, 30)), rng.normal(0.3, 1.2, size=(20, 30))
    shared: dict = {}
    before = fr.fid_gram(x, y, shared=shared)
    y[:5] += 1.0  # modified in place: the scratch must not answer for the old content
    after = fr.fid_gram(x, y, shared=shared)
    assert after != pytest.approx(before, rel=1e-3)
    assert after == pytest.approx(fr.frechet_distance(*fr.feature_stats(x), *fr.feature_stats(y)), rel=1e-6)
    frozen = np.array(y)
    frozen.setflags(write=False)
    assert gram.content_digest(frozen) == gram.content_digest(y)
    # A read-only array's digest is remembered within a scratch, a writeable one's never.
    assert gram.shared_digest(frozen, shared) == gram.shared_digest(frozen, shared) == gram.content_digest(y)
    assert ("digest", id(frozen)) in shared and ("digest", id(y)) not in shared
    gram.shared_digest(y, shared)
    assert ("digest", id(y)) not in shared
    view = frozen[:, :]  # read-only but not owning its memory: its owner could change it
    gram.shared_digest(view, shared)
    assert ("digest", id(view)) not in shared


def test_the_metrics_modules_keep_no_module_level_cache():
    import bench.metrics.gram as gram
    import bench.metrics.ids as ids

    for module in (gram, ids):
        containers = {
            name: value
            for name, value in vars(module).items()
            if isinstance(value, (dict, list, set)) and not name.startswith("__") and name != "__all__"
        }
        assert containers == {}, module.__name__


def test_blas_threads_limited_for_small_decompositions_only():
    from threadpoolctl import threadpool_info

    from bench.metrics import gram

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    outside = blas_threads()
    with gram.blas_threads_for(gram.THREADED_SIZE - 1):
        assert blas_threads() and all(t == 1 for t in blas_threads())
    with gram.blas_threads_for(gram.THREADED_SIZE):
        assert blas_threads() == outside
    assert blas_threads() == outside


@pytest.mark.parametrize("paired", [True, False])
def test_bootstrap_on_pool3_like_features_equals_sqrtm_of_each_resample(paired):
    # n < D and features far from the origin: the Gram route's cancellation is at its worst here.
    rng = np.random.default_rng(22)
    n, d = 60, 256
    load = rng.standard_normal((16, d)) / 4
    x = np.log1p(np.exp(rng.standard_normal((n, 16)) @ load + 0.3 * rng.standard_normal((n, d)) - 1.0))
    y = np.clip(x + 0.02 + 0.1 * rng.standard_normal((n, d)), 0, None)
    # With n < D the D x D product is singular: sqrtm (and any D x D route) turns its exact
    # zero eigenvalues into rounding noise whose square roots add up to ~1e-6 of FID here,
    # while the Gram route takes singular values of the n x n cross product directly.
    # Both stay far inside the 1e-4 this suite promises against the sqrtm route.
    assert fr.fid_gram(x, y) == pytest.approx(fr.fid_from_features(x, y), rel=1e-5)
    reps = fr.bootstrap_fid(x, y, n_boot=3, seed=5, paired=paired)
    for b, (ix, iy) in enumerate(_rebuilt_resamples(n, 3, 5, paired)):
        assert reps[b] == pytest.approx(_explicit_fid_of_resample(x, y, ix, iy), rel=1e-5)


def test_fid_infinity_gram_route_equals_sqrtm_points():
    # n <= D: the subset FIDs come from the whole sets' Gram matrices.
    rng = np.random.default_rng(23)
    x = rng.normal(size=(40, 64))
    y = rng.normal(0.2, 1.1, size=(40, 64))
    value, ns, fids = fr.fid_infinity(x, y, points=5, seed=3)
    draw = np.random.default_rng(3)
    ref = [fr.fid_from_features(x, y[draw.choice(40, n, replace=False)]) for n in ns]
    np.testing.assert_allclose(fids, ref, rtol=1e-6)
    a = np.vstack([np.ones(len(ns)), 1.0 / ns]).T
    assert value == pytest.approx(np.linalg.lstsq(a, np.array(ref), rcond=None)[0][0], rel=1e-6)
