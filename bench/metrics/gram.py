"""Inner products of feature sets, computed once and shared by the set metrics of one method.

FID (its value, bootstrap and FID-infinity), KID and the k-NN metrics (precision,
recall, density, coverage) need the features only through inner products between
rows. The ``n x D`` products are the expensive step (``O(n^2 D)``); all that follows
is ``O(n^2)``. A caller that scores several set metrics of one method passes the same
``shared`` dict (``SetMetricContext.shared``, made fresh per method and feature set) to
each, so the products are computed once for all of them; nothing is kept between
callers, and a call without ``shared`` computes its own.

Public API
----------
feature_set(x, shared=None) -> FeatureSet
    Mean, centred Gram matrix and squared norms of one ``N x D`` matrix.
feature_pair(real, fake, shared=None) -> FeaturePair
    Both sets plus their cross products; raw Gram matrices (``x_i . y_j``, for KID)
    and squared distances (for k-NN metrics) derive from it.
remember(shared, key, make) -> value
    ``make()``, kept in ``shared`` under ``key`` (any other computation shared the same way).
shared_digest(x, shared) -> str
    :func:`content_digest`, computed once per read-only array within one ``shared`` dict.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable
from functools import cached_property
from typing import Any, TypeVar

import numpy as np

__all__ = [
    "FeaturePair",
    "FeatureSet",
    "blas_threads_for",
    "content_digest",
    "feature_pair",
    "feature_set",
    "one_blas_thread",
    "remember",
    "shared_digest",
]

T = TypeVar("T")

# threadpoolctl's handle on the process's BLAS libraries, built on first use (see
# one_blas_thread); it holds no data.
_CONTROLLER = None


def content_digest(x: np.ndarray) -> str:
    """SHA-256 of a float64 matrix's shape and bytes: equal digests, equal matrices."""
    h = hashlib.sha256(repr(x.shape).encode())
    h.update(np.ascontiguousarray(x, dtype=np.float64).data)
    return h.hexdigest()


def shared_digest(x: np.ndarray, shared: dict | None) -> str:
    """:func:`content_digest` of ``x``, remembered in ``shared`` while ``x`` cannot change.

    A read-only array that owns its memory cannot change under us, so within one ``shared``
    dict (which keeps the array alive, so its ``id`` stays its own) its digest is computed
    once: every set metric of a method asks for the digests of the same two matrices.
    """
    if shared is None or x.flags.writeable or not x.flags.owndata:
        return content_digest(x)
    kept = shared.get(("digest", id(x)))
    if kept is not None and kept[0] is x:
        return kept[1]
    digest = content_digest(x)
    shared[("digest", id(x))] = (x, digest)
    return digest


def remember(shared: dict | None, key: Any, make: Callable[[], T]) -> T:
    """``shared[key]``, made by ``make()`` on first use; just ``make()`` when ``shared`` is None.

    ``key`` must name everything the value depends on (the features' digests and any setting).
    """
    if shared is None:
        return make()
    if key not in shared:
        shared[key] = make()
    return shared[key]


def one_blas_thread():
    """Context manager limiting BLAS to one thread.

    For LAPACK decompositions of a few hundred to a few thousand rows (SVD, QR,
    symmetric eigenvalues) extra threads contend rather than help on a busy
    machine: measured 3-20x slower with two threads than with one on this
    project's 2-core machine while another job ran.
    """
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        # Built once: threadpool_limits() rescans the loaded libraries on every call,
        # which costs more than a bootstrap replicate's eigenproblem; numpy's BLAS is
        # loaded long before the first call.
        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=1, user_api="blas")


# From this size up a decomposition is compute-bound enough for every BLAS thread to pay;
# below it (the n = 280 bootstrap's 178 x 178) a second thread only loses
# (results/benchmarks/README.md has the timings).
THREADED_SIZE = 768


def blas_threads_for(size: int):
    """Context manager for a LAPACK decomposition of a ``size x size`` matrix.

    One BLAS thread below :data:`THREADED_SIZE` (see :func:`one_blas_thread`),
    the library's own thread count from there up.
    """
    return one_blas_thread() if size < THREADED_SIZE else contextlib.nullcontext()


class FeatureSet:
    """One ``N x D`` feature matrix with its mean and centred Gram matrix.

    Attributes
    ----------
    x : np.ndarray
        The features (float64, read-only).
    mean : np.ndarray
        Row mean, ``D``.
    centred : np.ndarray
        ``x - mean``, made when read and not kept (an ``N x D`` copy is as large as the
        features: 490 MB at 30,000 Inception rows).
    gram : np.ndarray
        ``centred @ centred.T`` (``N x N``).
    sq : np.ndarray
        Its diagonal, the squared norms of the centred rows.
    """

    def __init__(self, x: np.ndarray, digest: str):
        self.x = x
        self.digest = digest
        self.mean = x.mean(axis=0)
        centred = self.centred
        self.gram = centred @ centred.T
        self.sq = np.diagonal(self.gram).copy()

    @property
    def centred(self) -> np.ndarray:
        return self.x - self.mean

    @property
    def n(self) -> int:
        return self.x.shape[0]

    @cached_property
    def sqdist(self) -> np.ndarray:
        """Squared Euclidean distances between rows (``N x N``, diagonal exactly 0)."""
        d = self.sq[:, None] + self.sq[None, :] - 2.0 * self.gram
        np.maximum(d, 0.0, out=d)
        np.fill_diagonal(d, 0.0)
        return d

    @cached_property
    def raw(self) -> np.ndarray:
        """Raw Gram matrix ``x @ x.T``, from the centred one plus the mean terms."""
        a = self.centred @ self.mean
        return self.gram + a[:, None] + a[None, :] + float(self.mean @ self.mean)


class FeaturePair:
    """A real and a fake feature set and the products between them.

    Attributes
    ----------
    real, fake : FeatureSet
    cross : np.ndarray
        ``real.centred @ fake.centred.T`` (``Nr x Nf``), each set centred by its own mean.
    dmu : np.ndarray
        ``real.mean - fake.mean``.
    pr, pf : np.ndarray
        ``real.centred @ dmu`` and ``fake.centred @ dmu``.
    """

    def __init__(self, real: FeatureSet, fake: FeatureSet):
        self.real, self.fake = real, fake
        rc = real.centred
        # One array for both sides when the sets are one (same content): the product is then the
        # Gram matrix to the bit (BLAS takes the symmetric route for x @ x.T).
        fc = rc if fake is real else fake.centred
        self.cross = rc @ fc.T
        self.dmu = real.mean - fake.mean
        self.dmu2 = float(self.dmu @ self.dmu)
        self.pr = rc @ self.dmu
        self.pf = fc @ self.dmu

    @cached_property
    def raw_cross(self) -> np.ndarray:
        """``real.x @ fake.x.T`` from the centred cross product plus the mean terms."""
        a = self.real.centred @ self.fake.mean
        b = self.fake.centred @ self.real.mean
        return self.cross + a[:, None] + b[None, :] + float(self.real.mean @ self.fake.mean)

    @cached_property
    def sqdist(self) -> np.ndarray:
        """Squared distances ``|real_i - fake_j|^2`` (``Nr x Nf``).

        ``real_i - fake_j = rc_i - fc_j + dmu`` with centred rows, which keeps the
        cancellation small when the features sit far from the origin.
        """
        d = (
            self.real.sq[:, None]
            + self.fake.sq[None, :]
            + self.dmu2
            - 2.0 * self.cross
            + 2.0 * self.pr[:, None]
            - 2.0 * self.pf[None, :]
        )
        return np.maximum(d, 0.0, out=d)


def _frozen_copy(x: np.ndarray) -> np.ndarray:
    # A private copy: the caller may modify theirs while the set is kept in ``shared``.
    out = np.array(x, dtype=np.float64)
    out.setflags(write=False)
    return out


def feature_set(x: np.ndarray, shared: dict | None = None) -> FeatureSet:
    """The :class:`FeatureSet` of a validated float64 ``N x D`` matrix, kept in ``shared`` by content."""
    digest = shared_digest(x, shared)
    return remember(shared, ("gram.set", digest), lambda: FeatureSet(_frozen_copy(x), digest))


def feature_pair(real: np.ndarray, fake: np.ndarray, shared: dict | None = None) -> FeaturePair:
    """The :class:`FeaturePair` of two validated float64 matrices, kept in ``shared`` by content.

    Every set metric of a method given the same ``shared`` dict uses one pair: its Gram,
    cross and distance matrices are computed once.
    """
    r, f = feature_set(real, shared), feature_set(fake, shared)
    return remember(shared, ("gram.pair", r.digest, f.digest), lambda: FeaturePair(r, f))
