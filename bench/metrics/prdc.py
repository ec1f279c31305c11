"""Precision, recall, density and coverage of a fake feature set against a real one.

k-nearest-neighbour estimates of the real and fake feature manifolds, on the same
Inception pool3 features as FID: improved precision and recall (Kynkaanniemi et al.
2019) and density and coverage (Naeem et al. 2020). Pure numpy on feature matrices.

Public functions
----------------
knn_radii(x, k) -> ndarray
    Distance of each row to its k-th nearest other row of the same set.
precision_recall(real, fake, k=3, shared=None) -> (precision, recall)
density_coverage(real, fake, k=5, shared=None) -> (density, coverage)
prdc(real, fake, k_pr=3, k_dc=5) -> dict
    All four, sharing one set of pairwise distances.

Distances come from the Gram matrices of :mod:`bench.metrics.gram` up to ``GRAM_MAX_N``
rows (given the same ``shared`` dict, the four metrics, FID and KID of one method use one
set of them), and are computed in float64 blocks of rows above that, so memory stays
``O(block x n)``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from bench.metrics.frechet import GRAM_MAX_N, _check_pair, check_features
from bench.metrics.gram import feature_pair, feature_set

__all__ = ["K_DC", "K_PR", "density_coverage", "knn_radii", "prdc", "precision_recall"]

K_PR = 3  # Kynkaanniemi et al. 2019, the value used for their results
K_DC = 5  # Naeem et al. 2020, Section 4 ("we use k = 5")
BLOCK = 1024


def _sq_blocks(a: np.ndarray, b: np.ndarray, same: bool, shared: dict | None) -> Iterator[tuple[int, np.ndarray]]:
    """``(start, D2)`` with ``D2[i, j] = |a[start + i] - b[j]|^2`` over blocks of rows of ``a``.

    ``same`` says ``a`` and ``b`` are one set, whose self-distances are set to ``inf``
    so that a row is never its own neighbour.
    """
    if max(a.shape[0], b.shape[0]) <= GRAM_MAX_N:
        if same:
            d2 = feature_set(a, shared).sqdist.copy()
        else:
            d2 = feature_pair(a, b, shared).sqdist
        if same:
            np.fill_diagonal(d2, np.inf)
        yield 0, d2
        return
    # Large sets: centre on one mean (distances do not change; cancellation does) and go by blocks.
    mean = a.mean(axis=0)
    ac, bc = a - mean, b - mean
    sq_b = np.einsum("ij,ij->i", bc, bc)
    for start in range(0, a.shape[0], BLOCK):
        rows = ac[start : start + BLOCK]
        d2 = np.einsum("ij,ij->i", rows, rows)[:, None] + sq_b[None, :] - 2.0 * rows @ bc.T
        np.maximum(d2, 0.0, out=d2)
        if same:
            idx = np.arange(rows.shape[0])
            d2[idx, start + idx] = np.inf
        yield start, d2


def _kth_sq(x: np.ndarray, k: int, shared: dict | None = None) -> np.ndarray:
    """Squared distance of each row of ``x`` to its ``k``-th nearest other row."""
    if not 1 <= k < x.shape[0]:
        raise ValueError(f"k must lie in 1..{x.shape[0] - 1} for a set of {x.shape[0]} rows, got {k}")
    out = np.empty(x.shape[0])
    for start, d2 in _sq_blocks(x, x, True, shared):
        out[start : start + d2.shape[0]] = np.partition(d2, k - 1, axis=1)[:, k - 1]
    return out


def knn_radii(x, k: int) -> np.ndarray:
    """Distance from each row of ``x`` to its ``k``-th nearest neighbour in ``x``, itself excluded.

    Parameters
    ----------
    x : array_like
        ``N x D`` feature matrix.
    k : int
        Neighbour rank, ``1 <= k < N``.

    Returns
    -------
    np.ndarray
        ``N`` radii (float64). A duplicated row counts as a neighbour at distance 0.
    """
    return np.sqrt(_kth_sq(check_features(x, "features"), k))


def _cross_counts(
    r: np.ndarray, f: np.ndarray, r_real: np.ndarray, r_fake: np.ndarray | None, strict: bool, shared: dict | None
) -> dict[str, np.ndarray]:
    """Ball memberships between the sets, given squared k-NN radii of each set.

    Returns per-fake ``in_real`` (inside at least one real ball) and ``count`` (real
    balls containing it), and per-real ``nearest_in`` (its nearest fake lies inside its
    own ball) and ``in_fake`` (inside at least one fake ball; only with ``r_fake``).
    """
    inside = np.less if strict else np.less_equal
    in_real = np.zeros(f.shape[0], bool)
    count = np.zeros(f.shape[0], np.int64)
    nearest_in = np.zeros(r.shape[0], bool)
    in_fake = np.zeros(r.shape[0], bool)
    for start, d2 in _sq_blocks(r, f, False, shared):
        rows = slice(start, start + d2.shape[0])
        ball = inside(d2, r_real[rows, None])
        in_real |= ball.any(axis=0)
        count += ball.sum(axis=0)
        nearest_in[rows] = inside(d2.min(axis=1), r_real[rows])
        if r_fake is not None:
            in_fake[rows] = inside(d2, r_fake[None, :]).any(axis=1)
    return {"in_real": in_real, "count": count, "nearest_in": nearest_in, "in_fake": in_fake}


def precision_recall(real, fake, k: int = K_PR, *, shared: dict | None = None) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al., NeurIPS 2019).

    "Improved Precision and Recall Metric for Assessing Generative Models".

    Each set's manifold is the union of balls around its rows with radius the distance
    to the row's ``k``-th nearest neighbour in its own set (itself excluded). Precision
    is the fraction of fake rows inside the real manifold (how many outputs look
    real); recall the fraction of real rows inside the fake manifold (how much of the
    real variety the outputs cover). A point on a ball's boundary is inside, as in the
    paper's ``||phi - phi'|| <= ||phi' - NN_k(phi')||``.

    Parameters
    ----------
    real, fake : array_like
        ``Nr x D`` and ``Nf x D`` feature matrices.
    k : int
        Neighbour rank of the radii (3, the paper's choice).
    shared : dict, optional
        Scratch shared with the method's other set metrics (:mod:`bench.metrics.gram`).

    Returns
    -------
    precision, recall : float
        Both in ``[0, 1]``; higher is better.
    """
    r, f = _check_pair(real, fake)
    c = _cross_counts(r, f, _kth_sq(r, k, shared), _kth_sq(f, k, shared), False, shared)
    return float(c["in_real"].mean()), float(c["in_fake"].mean())


def density_coverage(real, fake, k: int = K_DC, *, shared: dict | None = None) -> tuple[float, float]:
    """Density and coverage (Naeem et al., ICML 2020).

    "Reliable Fidelity and Diversity Metrics for Generative Models".

    With ``B_i`` the ball around real row ``i`` of radius its distance to its ``k``-th
    nearest real neighbour (itself excluded): density is ``1/(k Nf) sum_j sum_i
    1[fake_j in B_i]``, how many real balls hold each output on average, scaled so
    that a fake set drawn like the real one scores about 1 (it can exceed 1 where
    outputs crowd dense real regions); coverage is the fraction of real rows whose
    ball holds at least one fake row. Balls are open (strict ``<``), as in the
    authors' code (``prdc``). Only real balls are used, so one outlying output
    cannot inflate either score.

    Parameters
    ----------
    real, fake : array_like
        ``Nr x D`` and ``Nf x D`` feature matrices.
    k : int
        Neighbour rank of the radii (5, the paper's choice).
    shared : dict, optional
        Scratch shared with the method's other set metrics (:mod:`bench.metrics.gram`).

    Returns
    -------
    density : float
        ``>= 0``; higher is better up to about 1.
    coverage : float
        In ``[0, 1]``; higher is better.
    """
    r, f = _check_pair(real, fake)
    c = _cross_counts(r, f, _kth_sq(r, k, shared), None, True, shared)
    return float(c["count"].sum() / (k * f.shape[0])), float(c["nearest_in"].mean())


def prdc(real, fake, k_pr: int = K_PR, k_dc: int = K_DC) -> dict[str, float]:
    """:func:`precision_recall` and :func:`density_coverage` in one call.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``density``, ``coverage``.
    """
    shared: dict = {}
    precision, recall = precision_recall(real, fake, k_pr, shared=shared)
    density, coverage = density_coverage(real, fake, k_dc, shared=shared)
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}
