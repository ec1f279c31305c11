"""The maths of FID and KID on feature matrices (numpy/scipy only, float64).

Public functions
----------------
feature_stats(features) -> (mu, sigma)
    Mean and unbiased covariance of an ``N x D`` feature matrix.
frechet_distance(mu1, sigma1, mu2, sigma2, eps=1e-6) -> float
    The Fréchet distance between two Gaussians, computed exactly as pytorch-fid
    does: ``scipy.linalg.sqrtm`` of ``sigma1 @ sigma2``, an ``eps * I`` offset and
    retry when the result is not finite, and a check that the imaginary part of the
    diagonal is negligible. ``frechet_distance_info`` also says whether the retry ran.
fid_from_features(real, fake, eps=1e-6) -> float
    ``frechet_distance`` of the two matrices' ``feature_stats``: the headline FID.
trace_sqrt_product(x1, x2) -> float
    ``tr sqrt(Sigma_1 Sigma_2)`` from the centred, scaled feature matrices alone,
    as the nuclear norm of ``x1 @ x2.T`` (no matrix square root); exact for any
    ``N`` and ``D`` and what makes bootstrap intervals affordable.
fid_gram(real, fake) -> float
    FID from features through :func:`trace_sqrt_product` (equal to the ``sqrtm``
    route to rounding; tests pin the two together).
fid_infinity(real, fake, points=15, min_fraction=0.5, seed=0) -> (value, ns, fids)
    FID extrapolated to an infinite number of generated images (Chong and Forsyth,
    CVPR 2020): FID of random fake subsets of ``points`` sizes against the full real
    set, a least-squares line in ``1/n``, its intercept.
kid_subset_values(real, fake, subsets, subset_size, seed, paired) -> ndarray
kid_from_features(real, fake, subsets=100, subset_size=1000, seed=0, paired=None) -> float
    Kernel Inception Distance (Binkowski et al. 2018): the unbiased MMD^2 with the
    cubic polynomial kernel ``k(x, y) = (x . y / D + 1) ** 3``, averaged over random
    subsets. Unpaired sets use torch-fidelity's estimator (all cross pairs); paired
    sets (row ``i`` of both from image ``i``) leave the matched pairs ``k(x_i, y_i)``
    out of the cross term (Gretton et al. 2012, eq. 3), because an output made
    from image ``i`` is not independent of it: with them in, the estimate of two
    near-identical sets is clearly negative.
bootstrap_fid(real, fake, n_boot, seed, paired) / bootstrap_kid(...) -> replicates
centred_interval(point, replicates, level=0.95) -> (low, high)
    Bootstrap over images. When the two sets have the same length they are
    resampled *paired* (the same ids in both), because a method's output ``i`` is
    the real image ``i`` with a hole filled, not an independent draw.

Why a Gram-matrix trace: with centred feature matrices ``X1`` (``n1 x D``) and
``X2`` (``n2 x D``), ``Sigma_k = Xk^T Xk / (nk - 1)``; the nonzero eigenvalues of
``Sigma_1 Sigma_2`` equal those of ``M M^T`` with ``M = X1 X2^T / sqrt((n1-1)(n2-1))``,
so ``tr sqrt(Sigma_1 Sigma_2)`` is the sum of the singular values of ``M``. For
``n < D`` this is an ``n x n`` problem instead of a ``D x D`` matrix square root.
The Gram matrices come from :mod:`bench.metrics.gram`; the functions that use them take
``shared``, a dict the caller passes to every one of them (``SetMetricContext.shared``),
so the value, its bootstrap, FID-infinity's subsets and KID of one method share one set
of ``n x D`` products (without it each call computes its own); each bootstrap replicate
or subset then costs ``O(n^2)`` plus one eigenproblem of the size of its distinct images.
"""

from __future__ import annotations

import numpy as np

from bench.metrics.gram import FeaturePair, blas_threads_for, feature_pair, one_blas_thread

# FID's covariance has rank < D below this many images; the estimate is then
# strongly biased upwards and comparable only at equal n.
BIAS_N = 2048

# Above this many rows the n x n matrices of the Gram route no longer pay
# (KID's kernel matrices are built in blocks from the features instead).
GRAM_MAX_N = 4096


class FeatureError(ValueError):
    """A feature matrix is malformed (wrong shape, too few rows, non-finite values)."""


def check_features(features, name: str = "features", min_rows: int = 2) -> np.ndarray:
    """Validate an ``N x D`` feature matrix and return it as float64.

    Parameters
    ----------
    features : array_like
        Candidate feature matrix.
    name : str
        Name used in error messages.
    min_rows : int
        Smallest acceptable ``N``.

    Returns
    -------
    np.ndarray
        ``float64`` array of shape ``N x D`` (a copy only when the dtype changes).
    """
    x = np.asarray(features)
    if x.ndim != 2:
        raise FeatureError(f"{name}: expected an N x D matrix, got shape {x.shape}")
    if x.shape[0] < min_rows:
        raise FeatureError(f"{name}: need at least {min_rows} feature rows, got {x.shape[0]}")
    if x.shape[1] < 1:
        raise FeatureError(f"{name}: feature dimension is 0")
    x = x.astype(np.float64, copy=False)
    if not np.isfinite(x).all():
        raise FeatureError(f"{name}: contains NaN or infinite values")
    return x


def _check_pair(real, fake) -> tuple[np.ndarray, np.ndarray]:
    r = check_features(real, "real features")
    f = check_features(fake, "fake features")
    if r.shape[1] != f.shape[1]:
        raise FeatureError(f"real and fake features differ in dimension: {r.shape[1]} vs {f.shape[1]}")
    return r, f


def feature_stats(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance (``N - 1`` denominator) of a feature matrix.

    Parameters
    ----------
    features : array_like
        ``N x D`` matrix, ``N >= 2``.

    Returns
    -------
    mu : np.ndarray
        ``D`` float64 vector.
    sigma : np.ndarray
        ``D x D`` float64 matrix, as ``np.cov(features, rowvar=False)``.
    """
    x = check_features(features)
    return x.mean(axis=0), np.cov(x, rowvar=False)


def frechet_distance(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> float:
    """Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)``, pytorch-fid's way.

    ``d^2 = ||mu1 - mu2||^2 + tr(sigma1) + tr(sigma2) - 2 tr sqrt(sigma1 sigma2)``,
    with the square root from ``scipy.linalg.sqrtm`` in float64.

    Parameters
    ----------
    mu1, mu2 : array_like
        Means, ``D`` vectors.
    sigma1, sigma2 : array_like
        Covariances, ``D x D``.
    eps : float
        Offset added to both diagonals when the product's square root is not finite
        (a singular product, possible when ``N < D``).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        On mismatched shapes, or when the square root keeps a significant imaginary
        part on its diagonal (``|imag| > 1e-3``, pytorch-fid's threshold).
    """
    return frechet_distance_info(mu1, sigma1, mu2, sigma2, eps)[0]


def frechet_distance_info(mu1, sigma1, mu2, sigma2, eps: float = 1e-6) -> tuple[float, dict[str, float]]:
    """:func:`frechet_distance` plus what happened on the way.

    Returns
    -------
    value : float
    info : dict
        ``offset`` (0.0, or ``eps`` when the retry was needed) and ``max_imag``
        (largest imaginary part discarded from the square root).
    """
    import scipy.linalg

    mu1, mu2 = np.atleast_1d(np.asarray(mu1, np.float64)), np.atleast_1d(np.asarray(mu2, np.float64))
    sigma1, sigma2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(f"mean vectors must be 1-D of equal length, got {mu1.shape} and {mu2.shape}")
    d = mu1.shape[0]
    for name, s in (("sigma1", sigma1), ("sigma2", sigma2)):
        if s.shape != (d, d):
            raise ValueError(f"{name}: expected shape {(d, d)} to match the means, got {s.shape}")
    diff = mu1 - mu2
    offset = 0.0
    # scipy >= 1.16 deprecates disp=False; the non-finite check below is what
    # pytorch-fid acts on, so its error estimate is not needed.
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():
        offset = eps
        shift = np.eye(d) * eps
        covmean = scipy.linalg.sqrtm((sigma1 + shift) @ (sigma2 + shift))
    max_imag = 0.0
    if np.iscomplexobj(covmean):
        max_imag = float(np.max(np.abs(covmean.imag)))
        if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
            raise ValueError(f"sqrtm(sigma1 @ sigma2) has an imaginary component {max_imag:.3g}")
        covmean = covmean.real
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * np.trace(covmean))
    return value, {"offset": offset, "max_imag": max_imag}


def fid_from_features(real, fake, eps: float = 1e-6) -> float:
    """FID of two feature matrices the pytorch-fid way (:func:`feature_stats` + :func:`frechet_distance`).

    Costs a ``D x D`` ``sqrtm`` (seconds at ``D = 2048``); for many FIDs against
    one reference at ``n < D``, :func:`fid_gram` gives the same number far faster.
    """
    r, f = _check_pair(real, fake)
    return frechet_distance(*feature_stats(r), *feature_stats(f), eps=eps)


def _nuclear_cross(a: np.ndarray, b: np.ndarray) -> float:
    """Sum of singular values of ``a @ b.T`` (rows are samples, columns features)."""
    if max(a.shape[0], b.shape[0]) <= a.shape[1]:
        return float(np.linalg.svd(a @ b.T, compute_uv=False).sum())
    # More samples than features: a = Qa Ra, b = Qb Rb with orthonormal Q, so
    # a b^T = Qa (Ra Rb^T) Qb^T has the singular values of the small Ra Rb^T.
    ra = np.linalg.qr(a, mode="r")
    rb = np.linalg.qr(b, mode="r")
    return float(np.linalg.svd(ra @ rb.T, compute_uv=False).sum())


def trace_sqrt_product(x1, x2) -> float:
    """``tr sqrt(Sigma_1 Sigma_2)`` for the covariances of two feature matrices.

    Parameters
    ----------
    x1, x2 : array_like
        ``n1 x D`` and ``n2 x D`` feature matrices (centred here).

    Returns
    -------
    float
        Sum of the singular values of ``X1c X2c^T / sqrt((n1 - 1)(n2 - 1))``.
    """
    a, b = _check_pair(x1, x2)
    a = (a - a.mean(axis=0)) / np.sqrt(a.shape[0] - 1)
    b = (b - b.mean(axis=0)) / np.sqrt(b.shape[0] - 1)
    return _nuclear_cross(a, b)


def fid_gram(real, fake, *, shared: dict | None = None) -> float:
    """FID from two feature matrices without a matrix square root.

    Mathematically equal to ``frechet_distance(*feature_stats(real), *feature_stats(fake))``
    when that one needs no ``eps`` offset; cost ``O(n^2 D)`` for ``n < D``. ``shared``:
    see the module docstring.
    """
    r, f = _check_pair(real, fake)
    if max(r.shape[0], f.shape[0]) > r.shape[1]:
        diff = r.mean(axis=0) - f.mean(axis=0)
        tr_r = float(((r - r.mean(axis=0)) ** 2).sum() / (r.shape[0] - 1))
        tr_f = float(((f - f.mean(axis=0)) ** 2).sum() / (f.shape[0] - 1))
        return float(diff @ diff + tr_r + tr_f - 2.0 * trace_sqrt_product(r, f))
    # n <= D: everything from the Gram matrices (shared through ``shared`` with the
    # bootstrap, FID-infinity and KID of the same sets).
    p = feature_pair(r, f, shared)
    nr, nf = p.real.n, p.fake.n
    with blas_threads_for(min(nr, nf)):
        trace_sqrt = np.linalg.svd(p.cross / np.sqrt((nr - 1.0) * (nf - 1.0)), compute_uv=False).sum()
    return float(p.dmu2 + p.real.sq.sum() / (nr - 1) + p.fake.sq.sum() / (nf - 1) - 2.0 * trace_sqrt)


def fid_infinity(
    real, fake, points: int = 15, min_fraction: float = 0.5, seed: int = 0, *, shared: dict | None = None
) -> tuple[float, np.ndarray, np.ndarray]:
    """FID-infinity (Chong and Forsyth, CVPR 2020).

    "Effectively Unbiased FID and Inception Score and where to find them".

    FID is biased upwards by a term that shrinks like ``1/n``; fitting ``FID(n) = a + b / n``
    over several subset sizes and taking ``a`` removes it, which makes values comparable
    across set sizes. As in the paper's code, the fake set is subsampled (without
    replacement) and the real statistics stay those of the whole real set.

    Parameters
    ----------
    real, fake : array_like
        ``N x D`` feature matrices.
    points : int
        Number of subset sizes, evenly spaced from ``min_fraction * n_fake`` to ``n_fake``.
    min_fraction : float
        Smallest subset as a fraction of the fake set (the paper: 5,000 of 50,000; at the
        few hundred images of a benchmark run, half keeps each FID's own noise small).
    seed : int
        Seed of the subset draws.
    shared : dict, optional
        Scratch shared with the method's other set metrics (see the module docstring).

    Returns
    -------
    value : float
        The intercept at ``1/n = 0``.
    ns, fids : np.ndarray
        The subset sizes and their FIDs (the points of the fit).
    """
    r, f = _check_pair(real, fake)
    ns = fid_infinity_sizes(f.shape[0], points, min_fraction)
    if ns.size < 2:
        raise ValueError(f"fid_infinity needs at least two distinct subset sizes; the fake set has {f.shape[0]} rows")
    rng = np.random.default_rng(seed)
    subsets = [rng.choice(f.shape[0], n, replace=False) for n in ns]
    if max(r.shape[0], f.shape[0]) > r.shape[1]:
        fids = np.array([fid_gram(r, f[idx]) for idx in subsets])
    else:
        # A subset is a 0/1 weighting of the fake rows: its FID comes from the
        # Gram matrices of the whole sets (exact; no new n x D products).
        wf = np.zeros((len(subsets), f.shape[0]))
        for row, idx in zip(wf, subsets):
            row[idx] = 1.0
        fids = _GramResampler(feature_pair(r, f, shared))(np.ones((len(subsets), r.shape[0])), wf)
    slope, intercept = np.polyfit(1.0 / ns, fids, 1)
    return float(intercept), ns, fids


def fid_infinity_sizes(n: int, points: int = 15, min_fraction: float = 0.5) -> np.ndarray:
    """The distinct subset sizes :func:`fid_infinity` fits for a fake set of ``n`` rows.

    ``points`` sizes evenly spaced from ``max(2, min_fraction * n)`` to ``n``, rounded; fewer
    when ``n`` is too small to give ``points`` distinct integers.

    Examples
    --------
    >>> fid_infinity_sizes(3).tolist(), fid_infinity_sizes(28).size
    ([2, 3], 15)
    """
    if points < 2:
        raise ValueError(f"points must be >= 2, got {points}")
    if not 0 < min_fraction <= 1:
        raise ValueError(f"min_fraction must lie in (0, 1], got {min_fraction}")
    lo = max(2, int(round(min_fraction * n)))
    return np.unique(np.linspace(lo, n, points).round().astype(int))


def fid_infinity_min_n(points: int = 15, min_fraction: float = 0.5) -> int:
    """Smallest set size for which :func:`fid_infinity` fits all ``points`` distinct subset sizes.

    Examples
    --------
    >>> fid_infinity_min_n()
    28
    """
    n = 2
    while fid_infinity_sizes(n, points, min_fraction).size < points:
        n += 1
    return n


def _poly_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _mmd2_unbiased(x: np.ndarray, y: np.ndarray, paired: bool) -> float:
    """Unbiased MMD^2 of two equally sized samples with the cubic polynomial kernel.

    ``paired`` drops the matched cross pairs ``k(x_i, y_i)`` (Gretton et al. 2012,
    eq. 3): when ``y_i`` is derived from ``x_i`` they are not independent draws and
    would pull the estimate below zero.
    """
    return _mmd2_from_kernels(_poly_kernel(x, x), _poly_kernel(y, y), _poly_kernel(x, y), paired)


def _gram_kernels(r: np.ndarray, f: np.ndarray, shared: dict | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """KID's kernel matrices ``K(r, r)``, ``K(f, f)``, ``K(r, f)`` from the Gram matrices of the pair."""
    p, d = feature_pair(r, f, shared), r.shape[1]
    return (p.real.raw / d + 1.0) ** 3, (p.fake.raw / d + 1.0) ** 3, (p.raw_cross / d + 1.0) ** 3


def _mmd2_from_kernels(kxx: np.ndarray, kyy: np.ndarray, kxy: np.ndarray, paired: bool) -> float:
    m = kxx.shape[0]
    within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1))
    if paired:
        return float(within - 2.0 * (kxy.sum() - np.trace(kxy)) / (m * (m - 1)))
    return float(within - 2.0 * kxy.sum() / (m * m))


def _paired(nr: int, nf: int, paired: bool | None) -> bool:
    if paired is None:
        return nr == nf
    if paired and nr != nf:
        raise ValueError(f"paired estimates need equal set sizes, got {nr} real and {nf} fake")
    return paired


def kid_subset_values(
    real,
    fake,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    paired: bool | None = None,
    *,
    shared: dict | None = None,
) -> np.ndarray:
    """Unbiased MMD^2 on each of ``subsets`` random subsets (drawn without replacement).

    Parameters
    ----------
    real, fake : array_like
        ``N x D`` feature matrices (row ``i`` of both is image ``i`` when paired).
    subsets : int
        Number of subsets.
    subset_size : int
        Rows per subset; clipped to the smaller set's size.
    seed : int
        Seed of the subset draws.
    paired : bool or None
        Draw the same ids from both sets and leave matched pairs out of the cross
        term; ``None`` means "when the sizes match". Unpaired sets are subsampled
        independently and every cross pair is used (torch-fidelity's estimator).
    shared : dict, optional
        Scratch shared with the method's other set metrics (see the module docstring).

    Returns
    -------
    np.ndarray
        ``subsets`` float64 values. When a paired subset is the whole set, every
        subset is a permutation of it and all values are equal, so it is computed once.
    """
    r, f = _check_pair(real, fake)
    if subsets < 1:
        raise ValueError(f"subsets must be >= 1, got {subsets}")
    if subset_size < 2:
        raise ValueError(f"subset_size must be >= 2, got {subset_size}")
    paired = _paired(r.shape[0], f.shape[0], paired)
    m = min(subset_size, r.shape[0], f.shape[0])
    if m == r.shape[0] == f.shape[0]:
        # Every subset would be the whole of both sets, and MMD^2 does not depend on order.
        if m <= GRAM_MAX_N:
            k_rr, k_ff, k_rf = _gram_kernels(r, f, shared)
            return np.full(subsets, _mmd2_from_kernels(k_ff, k_rr, k_rf.T, paired))
        return np.full(subsets, _mmd2_unbiased(f, r, paired))
    rng = np.random.default_rng(seed)
    out = np.empty(subsets)
    for s in range(subsets):
        i = rng.choice(f.shape[0], m, replace=False)
        j = i if paired else rng.choice(r.shape[0], m, replace=False)
        out[s] = _mmd2_unbiased(f[i], r[j], paired)
    return out


def kid_from_features(
    real,
    fake,
    subsets: int = 100,
    subset_size: int = 1000,
    seed: int = 0,
    paired: bool | None = None,
    *,
    shared: dict | None = None,
) -> float:
    """Kernel Inception Distance: mean of :func:`kid_subset_values` (same parameters)."""
    return float(kid_subset_values(real, fake, subsets, subset_size, seed, paired, shared=shared).mean())


def _resample_counts(n: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """Bootstrap multiplicities: row ``b`` says how often each of ``n`` items is drawn."""
    return rng.multinomial(n, np.full(n, 1.0 / n), size=n_boot)


def _weighted_factor(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """Rows of ``x`` kept by a resample with their weights folded in.

    Returns ``(mean, F, trace)`` with ``F^T F`` the resample's covariance, so that
    repeated rows cost nothing extra.
    """
    n = int(w.sum())
    keep = w > 0
    xs, ws = x[keep], w[keep].astype(np.float64)
    mean = ws @ xs / n
    f = (xs - mean) * np.sqrt(ws / (n - 1))[:, None]
    return mean, f, float((f * f).sum())


def _fid_resampled(r: np.ndarray, f: np.ndarray, wr: np.ndarray, wf: np.ndarray) -> float:
    """FID of one resample from the features themselves (any ``n``, used when ``n > D``)."""
    mr, fr, tr_r = _weighted_factor(r, wr)
    mf, ff, tr_f = _weighted_factor(f, wf)
    diff = mr - mf
    return float(diff @ diff + tr_r + tr_f - 2.0 * _nuclear_cross(fr, ff))


class _GramResampler:
    """FID of weighted resamples from Gram matrices computed once (``n <= D``).

    Every quantity of a resample (its means, traces and the cross matrix
    ``Yr Yf^T`` of its centred rows) is a weighted combination of the Gram
    matrices of the globally centred features, so a replicate costs ``O(n^2)``
    plus a small symmetric eigenproblem instead of ``O(n^2 D)``. Weights are
    bootstrap multiplicities, or 0/1 for subsets (FID-infinity).
    """

    def __init__(self, pair: FeaturePair):
        self.p = pair

    def __call__(self, wr: np.ndarray, wf: np.ndarray) -> np.ndarray:
        """FIDs of the resamples given by the rows of ``wr`` (``B x Nr``) and ``wf`` (``B x Nf``)."""
        # One eigenproblem per replicate, of the number of distinct rows drawn: a few
        # hundred rows take one BLAS thread (two ran the n = 280 bootstrap 2x slower on the
        # busy 2-core machine), a thousand or more pay for all of them.
        wr, wf = np.atleast_2d(wr), np.atleast_2d(wf)
        size = int(min(np.count_nonzero(wr, axis=1).min(), np.count_nonzero(wf, axis=1).min()))
        with blas_threads_for(size):
            return self._fids(wr, wf)

    def _fids(self, wr: np.ndarray, wf: np.ndarray) -> np.ndarray:
        p, g = self.p, self.p.cross
        wr, wf = np.atleast_2d(wr).astype(np.float64), np.atleast_2d(wf).astype(np.float64)
        nr, nf = wr.sum(axis=1), wf.sum(axis=1)
        ar, af = wr / nr[:, None], wf / nf[:, None]
        # The O(n^2) parts of all replicates at once, as matrix products.
        g_af, ar_g = af @ g.T, ar @ g
        rr = np.einsum("bi,bi->b", ar @ p.real.gram, ar)
        ff = np.einsum("bj,bj->b", af @ p.fake.gram, af)
        rf = np.einsum("bi,bi->b", g_af, ar)
        dist2 = p.dmu2 + 2.0 * (ar @ p.pr - af @ p.pf) + rr - 2.0 * rf + ff
        tr_r = (wr @ p.real.sq - nr * rr) / (nr - 1.0)
        tr_f = (wf @ p.fake.sq - nf * ff) / (nf - 1.0)
        trace_sqrt = np.empty(wr.shape[0])
        for b in range(wr.shape[0]):
            u, v = np.flatnonzero(wr[b]), np.flatnonzero(wf[b])
            # Rows, then columns: faster than np.ix_.
            cross = g[u][:, v] - g_af[b, u][:, None] - ar_g[b, v][None, :] + rf[b]
            cross *= np.sqrt(wr[b, u] / (nr[b] - 1.0))[:, None]
            cross *= np.sqrt(wf[b, v] / (nf[b] - 1.0))[None, :]
            small = cross @ cross.T if u.size <= v.size else cross.T @ cross
            trace_sqrt[b] = np.sqrt(np.clip(np.linalg.eigvalsh(small), 0.0, None)).sum()
        return dist2 + tr_r + tr_f - 2.0 * trace_sqrt


def _draws(nr: int, nf: int, n_boot: int, seed: int, paired: bool | None):
    rng = np.random.default_rng(seed)
    paired = _paired(nr, nf, paired)
    wr = _resample_counts(nr, n_boot, rng)
    wf = wr if paired else _resample_counts(nf, n_boot, rng)
    return wr.astype(np.float64), wf.astype(np.float64), paired


def centred_interval(point: float, replicates: np.ndarray, level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of ``replicates`` shifted so that their mean sits on ``point``.

    Resampling with replacement repeats images, which shrinks the effective sample
    size; FID grows as ``n`` shrinks, so raw FID replicates sit above the point
    estimate (often entirely). Shifting keeps the spread the bootstrap measures and
    drops that artefact; the shift is reported separately as the bootstrap bias.
    """
    reps = np.asarray(replicates, dtype=np.float64)
    if reps.size == 0:
        return float("nan"), float("nan")
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(reps, [alpha, 1.0 - alpha])
    shift = point - float(reps.mean())
    return float(lo + shift), float(hi + shift)


def bootstrap_fid(
    real,
    fake,
    n_boot: int = 200,
    seed: int = 0,
    paired: bool | None = None,
    progress: bool = False,
    *,
    shared: dict | None = None,
) -> np.ndarray:
    """Bootstrap replicates of FID over images.

    Each replicate resamples images with replacement and recomputes the FID of the
    resampled features exactly (means, covariances and ``tr sqrt`` through Gram
    matrices). Turn replicates into an interval with :func:`centred_interval`.

    Parameters
    ----------
    real, fake : array_like
        ``N x D`` feature matrices.
    n_boot : int
        Number of replicates.
    seed : int
        Seed of the resampling.
    paired : bool or None
        Resample the same ids in both sets; ``None`` means "when the sizes match".
    progress : bool
        Show a progress bar.
    shared : dict, optional
        Scratch shared with the method's other set metrics (see the module docstring).

    Returns
    -------
    np.ndarray
        The ``n_boot`` bootstrap FIDs.
    """
    from tqdm import tqdm

    r, f = _check_pair(real, fake)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    wr, wf, _ = _draws(r.shape[0], f.shape[0], n_boot, seed, paired)
    if max(r.shape[0], f.shape[0]) <= r.shape[1]:
        resample = _GramResampler(feature_pair(r, f, shared))
        # Chunks of replicates: the batched O(n^2) products stay small and the bar moves.
        chunk = 25
        return np.concatenate(
            [
                resample(wr[i : i + chunk], wf[i : i + chunk])
                for i in tqdm(
                    range(0, n_boot, chunk), desc="FID bootstrap", disable=not progress, leave=False, unit_scale=chunk
                )
            ]
        )
    return np.array(
        [
            _fid_resampled(r, f, wr[b], wf[b])
            for b in tqdm(range(n_boot), desc="FID bootstrap", disable=not progress, leave=False)
        ]
    )


def _kernel_weighted_sums(
    x: np.ndarray, y: np.ndarray, wx: np.ndarray, wy: np.ndarray, block: int = 1024
) -> np.ndarray:
    """``wx_b^T K(x, y) wy_b`` for every replicate ``b``, building ``K`` in column blocks."""
    out = np.zeros(wx.shape[0])
    for start in range(0, y.shape[0], block):
        k = _poly_kernel(x, y[start : start + block])
        out += np.einsum("bi,bi->b", wx @ k, wy[:, start : start + block])
    return out


def bootstrap_kid(
    real, fake, n_boot: int = 200, seed: int = 0, paired: bool | None = None, *, shared: dict | None = None
) -> np.ndarray:
    """Bootstrap replicates of KID over images.

    Each replicate is the unbiased MMD^2 of the resampled sets over all their
    pairs except those that repeat one original image: a repeated image paired
    with itself would put ``k(x, x)`` into the within-set means, and a paired
    resample must also drop ``k(x_i, y_i)`` from the cross term, as
    :func:`kid_subset_values` does. The kernel is built once: from the pair's Gram
    matrices up to ``GRAM_MAX_N`` rows, in blocks from the features above.

    Parameters and returns are those of :func:`bootstrap_fid` (without ``progress``).
    """
    r, f = _check_pair(real, fake)
    if n_boot < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    wr, wf, paired = _draws(r.shape[0], f.shape[0], n_boot, seed, paired)
    nr, nf, d = r.shape[0], f.shape[0], r.shape[1]
    if max(nr, nf) <= GRAM_MAX_N:
        kernels = _gram_kernels(r, f, shared)

        def weighted(i, wx, wy):
            with one_blas_thread():  # B x n times n x n: too small for threads to pay on a busy machine
                return np.einsum("bi,bi->b", wx @ kernels[i], wy)

        diag_r, diag_f = np.diagonal(kernels[0]), np.diagonal(kernels[1])
        diag_rf = np.diagonal(kernels[2]) if paired else None
    else:
        pairs = ((r, r), (f, f), (r, f))

        def weighted(i, wx, wy):
            return _kernel_weighted_sums(*pairs[i], wx, wy)

        diag_r = (np.einsum("ij,ij->i", r, r) / d + 1.0) ** 3
        diag_f = (np.einsum("ij,ij->i", f, f) / d + 1.0) ** 3
        diag_rf = (np.einsum("ij,ij->i", r, f) / d + 1.0) ** 3 if paired else None
    sq = (wr**2).sum(axis=1)
    # Position pairs (a, b) whose original images differ: n^2 - sum_i w_i^2 of them (0 for a
    # replicate that drew one image n times: its NaN is dropped below).
    with np.errstate(divide="ignore", invalid="ignore"):
        xx = (weighted(0, wr, wr) - (wr**2) @ diag_r) / (nr * nr - sq)
        yy = (weighted(1, wf, wf) - (wf**2) @ diag_f) / (nf * nf - (wf**2).sum(axis=1))
        if paired:
            xy = (weighted(2, wr, wf) - (wr**2) @ diag_rf) / (nr * nr - sq)
        else:
            xy = weighted(2, wr, wf) / (nr * nf)
        reps = xx + yy - 2.0 * xy
    # A replicate that drew one image n times has no distinct pairs (odds n^(1-n)).
    return reps[np.isfinite(reps)]
