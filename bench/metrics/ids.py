"""P-IDS and U-IDS: how often a linear SVM on Inception features mistakes outputs for real images.

Zhao et al., "Large Scale Image Completion via Co-Modulated Generative Adversarial
Networks" (ICLR 2021), on the same pool3 features as FID. Pure numpy + scikit-learn.

Public functions
----------------
ids_scores(real, fake, C=1.0, random_state=0, shared=None) -> IDSResult
    Fit the SVM once; P-IDS, U-IDS and the per-class error rates. ``pids`` and ``uids``
    of one method pass the same ``shared`` dict (``SetMetricContext.shared``) and share
    one fit.
pids_from_decisions(real_dec, fake_dec) -> float
uids_from_decisions(real_dec, fake_dec) -> float
    The two scores from given SVM decision values (the pairing and counting rules).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from bench.metrics.frechet import _check_pair
from bench.metrics.gram import one_blas_thread, remember, shared_digest

__all__ = ["IDSResult", "ids_scores", "pids_from_decisions", "uids_from_decisions"]


@dataclass(frozen=True)
class IDSResult:
    """Both scores of one SVM fit.

    Attributes
    ----------
    pids, uids : float
        Paired and unpaired Inception discriminative scores.
    real_decision, fake_decision : np.ndarray
        The SVM's decision values (positive = classified real).
    details : dict
        Solver settings, iterations, convergence, per-class error rates, warnings.
    """

    pids: float
    uids: float
    real_decision: np.ndarray
    fake_decision: np.ndarray
    details: dict[str, Any] = field(default_factory=dict)


def pids_from_decisions(real_dec, fake_dec) -> float:
    """P-IDS: the fraction of pairs in which the output scores as *more* real than its own real image.

    Parameters
    ----------
    real_dec, fake_dec : array_like
        Decision values of the real images and of the outputs made from them, row
        ``i`` of both from image ``i`` (positive = real side).

    Returns
    -------
    float
        ``mean(fake_dec[i] > real_dec[i])``; strict, so a tie counts as detected.
        At most about 0.5 (indistinguishable outputs).
    """
    r, f = np.asarray(real_dec, np.float64), np.asarray(fake_dec, np.float64)
    if r.shape != f.shape or r.ndim != 1:
        raise ValueError(
            f"P-IDS pairs output i with real image i: need two equal-length vectors, got shapes {r.shape} and {f.shape}"
        )
    return float(np.mean(f > r))


def uids_from_decisions(real_dec, fake_dec) -> float:
    """U-IDS: the SVM's misclassification rate over both sets pooled (its training error).

    A row is classified real when its decision value is positive (as
    ``LinearSVC.predict`` does), so with equal set sizes this is the mean of the
    fake-as-real and real-as-fake rates. At most about 0.5 (indistinguishable sets).
    """
    r, f = np.asarray(real_dec, np.float64), np.asarray(fake_dec, np.float64)
    return float((np.sum(r <= 0) + np.sum(f > 0)) / (r.size + f.size))


def _reduced_design(r: np.ndarray, f: np.ndarray) -> np.ndarray:
    """Rows ``z_i`` with ``z_i . z_j = [x_i, 1] . [x_j, 1]``, of dimension ``min(N, D + 1)``.

    ``[X, 1]^T = Q R`` with orthonormal ``Q``, so ``[X, 1] = R^T Q^T``: the rows of
    ``R^T`` are the augmented features written in an orthonormal basis of their span.
    """
    xa = np.hstack([np.vstack([r, f]), np.ones((r.shape[0] + f.shape[0], 1))])
    with one_blas_thread():
        return np.ascontiguousarray(np.linalg.qr(xa.T, mode="r").T)


def ids_scores(
    real, fake, *, C: float = 1.0, random_state: int = 0, max_iter: int = 1000, shared: dict | None = None
) -> IDSResult:
    """Paired and unpaired Inception discriminative scores (Zhao et al., ICLR 2021).

    As the authors' ``metrics/inception_discriminative_score.py`` (co-mod-gan, also
    used by MAT): a linear SVM (``sklearn.svm.LinearSVC(dual=False)``, squared hinge
    loss, ``C = 1``, intercept regularised, features *not* standardised) is trained
    on all real (label 1) and fake (label 0) features and evaluated on the same
    features. U-IDS is its misclassification rate; P-IDS the fraction of pairs whose
    output gets a higher decision value than its own real image. Both are about 0.5
    for outputs indistinguishable from real images and 0 for separable ones; higher
    is better.

    The SVM is fitted on the features rotated into the ``min(N, D + 1)``-dimensional
    span of ``[x, 1]`` (:func:`_reduced_design`, with ``fit_intercept=False``): the
    regularised objective depends on the weights only through their norm and their
    inner products with the rows, so this is the same optimisation problem and the
    same decision values, fitted about 4x faster when ``N < D``. ``random_state`` is
    fixed for determinism (the primal solver does not draw from it).

    Parameters
    ----------
    real, fake : array_like
        ``N x D`` feature matrices, row ``i`` of ``fake`` made from row ``i`` of ``real``
        (P-IDS needs equal sizes; U-IDS does not).
    C : float
        SVM regularisation (the reference's default, 1).
    random_state : int
        Passed to ``LinearSVC``.
    max_iter : int
        Solver iterations (the reference's default, 1000).
    shared : dict, optional
        Scratch shared with the method's other set metrics: the fit is kept there, keyed by
        the features' content and the settings, so ``pids`` and ``uids`` fit once.

    Returns
    -------
    IDSResult

    Notes
    -----
    With ``N_real + N_fake <= D + 1`` points (e.g. 280 + 280 against ``D = 2048``),
    the two sets are linearly separable whenever the points are in general position,
    and the in-sample SVM separates them: both scores are then 0 or close to it for
    any method and do not rank methods. ``details["warning"]`` says so.
    """
    r, f = _check_pair(real, fake)
    key = ("ids", shared_digest(r, shared), shared_digest(f, shared), float(C), int(random_state), int(max_iter))
    return remember(shared, key, lambda: _fit(r, f, C, random_state, max_iter))


def _fit(r: np.ndarray, f: np.ndarray, C: float, random_state: int, max_iter: int) -> IDSResult:
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.svm import LinearSVC

    z = _reduced_design(r, f)
    y = np.r_[np.ones(r.shape[0]), np.zeros(f.shape[0])]
    svm = LinearSVC(dual=False, C=C, fit_intercept=False, random_state=random_state, max_iter=max_iter)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        svm.fit(z, y)
    converged = not any(issubclass(w.category, ConvergenceWarning) for w in caught)
    dec = svm.decision_function(z)
    real_dec, fake_dec = dec[: r.shape[0]], dec[r.shape[0] :]
    details: dict[str, Any] = {
        "n_real": int(r.shape[0]),
        "n_fake": int(f.shape[0]),
        "feature_dim": int(r.shape[1]),
        "estimator": (
            f"LinearSVC(dual=False, C={C:g}), squared hinge, in-sample, unstandardised features "
            "(co-mod-gan's IDS); fitted in the span of [x, 1]"
        ),
        "solver_iterations": int(np.max(svm.n_iter_)),
        "converged": converged,
        "fake_as_real": float(np.mean(fake_dec > 0)),
        "real_as_fake": float(np.mean(real_dec <= 0)),
    }
    if r.shape[0] + f.shape[0] <= r.shape[1] + 1:
        details["warning"] = (
            f"{r.shape[0]} + {f.shape[0]} points in {r.shape[1]} dimensions are linearly "
            "separable: the in-sample SVM separates any two such sets, so P-IDS and U-IDS are "
            "~0 for every method here; they rank methods only when n is well above the "
            "feature dimension"
        )
    pids = pids_from_decisions(real_dec, fake_dec) if r.shape[0] == f.shape[0] else float("nan")
    return IDSResult(pids, uids_from_decisions(real_dec, fake_dec), real_dec, fake_dec, details)
