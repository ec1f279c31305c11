"""Newson et al.'s non-local patch-based inpainting (IPOL 2017), registered as ``patch``.

The numba kernels load only when a ``patch`` method is built, so listing the
registry stays fast. The card (options, the reference code, measured effects) is
``patch.md``.
"""

from __future__ import annotations

import numpy as np

from bench.core.images import check_image, check_mask
from methods.registry import Method, register


class PatchInpaint(Method):
    """Multiscale PatchMatch inpainting with texture features (Newson et al. 2017).

    Parameters
    ----------
    params : methods.patch.inpaint.PatchParams
        The configuration.

    Attributes
    ----------
    last_stats : PatchStats or None
        Levels, iterations, residuals and distance evaluations of the last call.
    """

    def __init__(self, params):
        self.params = params
        self.last_stats = None

    def inpaint(self, image: np.ndarray, mask: np.ndarray) -> np.ndarray:
        from methods.patch.inpaint import inpaint_patch

        check_image(image)
        check_mask(mask, image.shape[:2])
        out, self.last_stats = inpaint_patch(image, mask, self.params)
        return out


def _parse_levels(levels: str) -> int:
    text = str(levels).strip().lower()
    if text == "auto":
        return 0
    try:
        value = int(text)
    except ValueError:
        raise ValueError(f"patch: levels={levels!r} must be 'auto' or a positive integer") from None
    if value < 1:
        raise ValueError(f"patch: levels={levels!r} must be 'auto' or a positive integer")
    return value


@register(
    "patch", family="patch", summary="Newson et al. 2017 multiscale PatchMatch inpainting with texture features (numba)"
)
def patch(
    size: int = 7,
    levels: str = "auto",
    features: int = 1,
    iters: int = 10,
    seed: int = 0,
    pm_iters: int = 2,
    lam: float = 50.0,
    tol: float = 0.5 / 255.0,
    tol_px: int = 6144,
    percentile: float = 75.0,
    stop: str = "change",
    frac: float = 0.3,
    init: str = "partial",
    search: str = "clip",
    final: str = "field",
) -> Method:
    """Newson et al. patch-based inpainting.

    Parameters
    ----------
    size : int
        Patch side (odd, >= 3).
    levels : str
        ``"auto"`` (from the hole's erosion depth and the patch size) or a number of levels.
    features : int
        1 adds the texture features to the patch distance, 0 turns them off.
    iters : int
        Cap on search/reconstruction iterations per level; 0 = onion-peel initialisation alone.
    seed : int
        Seed of the random initialisation and random search.
    pm_iters : int
        PatchMatch sweeps per search.
    lam : float
        Weight of the texture features in the squared patch distance.
    tol : float
        Threshold of ``stop=change`` and ``stop=either``: mean absolute change of
        the hole's colours, in [0, 1] units, for a hole of ``tol_px`` pixels
        (0.5 grey level; the article's 0.1 grey level, ``0.1/255``, seldom
        fires on photos).
    tol_px : int
        A level whose hole has ``n`` pixels stops at ``tol * n / tol_px``, at
        least the article's 0.1 grey level (small levels are cheap to iterate,
        large ones costly); 0 uses ``tol`` on every level.
    percentile : float
        Percentile of the patch distances used as sigma of the vote weights.
    stop : str
        Per-level stopping rule: ``change`` (the article's: mean change of the
        hole below ``tol``), ``matches`` (share of target patches whose nearest
        neighbour moved in the last search below ``frac``) or ``either``
        (whichever fires first).
    frac : float
        Threshold of ``stop=matches`` and ``stop=either``.
    init : str
        Coarsest-level initialisation: ``onion`` (each layer matched once from
        its filled pixels) or ``partial`` (the reference code's: every patch
        touching the hole re-matched with partial patches before each layer, a
        layer filled only from patches centred on filled pixels).
    search : str
        Random-search draws: ``clip`` (whole window, draws outside the image
        discarded) or ``valid`` (drawn inside the valid centre range).
    final : str
        Last pass at the finest level (each hole pixel copied from its best
        patch): after one more search (``search``) or from the last
        iteration's field (``field``, the reference code's).
    """
    import os

    # Numba's OpenMP threads otherwise spin at every barrier; when the cores are
    # shared (bench run --jobs, a training job alongside) a spinning thread that
    # loses its core stalls every parallel region, several times slower on a
    # loaded machine. Passive waiting costs nothing measurable on an idle one.
    # Read when OpenMP first starts in this
    # process; an explicit setting wins.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    from methods.patch.inpaint import PatchParams

    if features not in (0, 1):
        raise ValueError(f"patch: features={features!r} must be 0 or 1")
    params = PatchParams(
        size=size,
        levels=_parse_levels(levels),
        features=bool(features),
        lam=lam,
        iters=iters,
        pm_iters=pm_iters,
        tol=tol,
        tol_px=tol_px,
        percentile=percentile,
        seed=seed,
        stop=stop,
        frac=frac,
        init=init,
        search=search,
        final=final,
    )
    return PatchInpaint(params)
