"""Newson et al.'s multiscale patch-based inpainting, driven level by level.

Newson, Almansa, Gousseau, Perez, "Non-Local Patch-Based Image Inpainting",
IPOL 7 (2017) 373-385. The numerical work happens in :mod:`.kernels` and
:mod:`.pyramid`; this module holds the schedule:

1. masked Gaussian pyramid of the image; texture features at full resolution,
   subsampled to every level;
2. at the coarsest level, an onion-peel initialisation: the hole is filled ring
   by ring from partial patches (``init``);
3. at every level, alternate a PatchMatch search and a weighted-mean
   reconstruction of image and features until the stopping rule (``stop``)
   fires or ``iters`` iterations have run;
4. upsample the nearest-neighbour field to the next finer level and rebuild
   the hole from it;
5. at the finest level, a last pass copies every hole pixel from its best patch.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import maximum_filter

from . import kernels as K
from .pyramid import auto_levels, build_pyramid, texture_features

# Random-stream ids: every use of randomness gets its own stream so that no
# two draws share a sequence.
_STREAM_INIT, _STREAM_ONION, _STREAM_PM, _STREAM_UPSAMPLE, _STREAM_PARTIAL = 1, 2, 3, 4, 5
_ONION_PASSES = 2
_DUMMY_VALID = np.ones((1, 1), dtype=np.bool_)

STOP_RULES = ("change", "matches", "either")
INITS = ("onion", "partial")
SEARCHES = ("clip", "valid")
FINALS = ("search", "field")
ARTICLE_TOL = 0.1 / 255.0  # the article's stopping tolerance: the floor of the scaled one (``tol_px``)


@dataclass(frozen=True)
class PatchParams:
    """Parameters of the patch method (the registry keys).

    Attributes
    ----------
    size : int
        Patch side (odd, >= 3).
    levels : int
        Pyramid levels; 0 chooses them from the hole (``auto_levels``).
    features : bool
        Add the texture features to the patch distance.
    lam : float
        Weight of the features in the squared patch distance (50 in the article).
    iters : int
        Cap on search/reconstruction iterations per level; 0 keeps the
        onion-peel initialisation alone (a deliberately weak setting).
    pm_iters : int
        PatchMatch sweeps per search (the field is warm-started between searches).
    tol : float
        ``stop="change"`` (and ``"either"``): stop a level when the mean absolute
        change of the hole's colour values falls below this, for a level whose
        hole has ``tol_px`` pixels (see ``tol_px``). The default is half a grey
        level (0.5/255); the article's 0.1 grey level almost never fires on
        photos, so every level ran all ``iters`` iterations.
    tol_px : int
        The tolerance grows in proportion to a level's hole: a level whose
        hole has ``n`` pixels stops at ``tol * n / tol_px``, never below the
        article's 0.1 grey level (or ``tol`` if smaller). An iteration costs in
        proportion to ``n``, and the coarse levels decide the structure while
        the finest adds detail, so small levels run until they settle and
        large ones stop after one or two iterations. 0 uses ``tol`` on every
        level.
    percentile : float
        Percentile of the distances of the patches voting for a pixel used as
        sigma of their weights (per pixel, as in the reference code).
    seed : int
        Seed of every random draw.
    stop : {"change", "matches", "either"}
        Stopping rule of a level: ``"change"``, the article's mean change of the
        hole below ``tol``; ``"matches"``, the share of target patches whose
        nearest neighbour moved in the last search below ``frac``; ``"either"``,
        whichever fires first (the article's rule still ends smooth levels
        whose matches keep moving between near-equal patches).
    frac : float
        Threshold of ``stop="matches"`` and ``"either"`` (a fraction of the targets).
    init : {"onion", "partial"}
        Coarsest-level initialisation: ``"onion"`` matches each layer's patches
        once, from their filled pixels, propagating from assigned neighbours;
        ``"partial"`` (the reference code's) re-runs PatchMatch on every patch
        touching the hole with partial patches before each layer, and fills a
        layer only from patches centred on filled pixels.
    search : {"clip", "valid"}
        Random search draws ``"clip"``: in the whole window around the best
        source, discarding draws outside the image; ``"valid"``: inside the
        range of centres whose patch lies in the image (the reference code's).
    final : {"search", "field"}
        The last pass at the finest level copies each hole pixel from its best
        patch, after ``"search"``: one more PatchMatch search on the final
        image; ``"field"``: the field of the last iteration as it is (the
        reference code's).
    """

    size: int = 7
    levels: int = 0
    features: bool = True
    lam: float = 50.0
    iters: int = 10
    pm_iters: int = 2
    tol: float = 0.5 / 255.0
    tol_px: int = 6144
    percentile: float = 75.0
    seed: int = 0
    stop: str = "change"
    frac: float = 0.3
    init: str = "partial"
    search: str = "clip"
    final: str = "field"

    def __post_init__(self):
        if self.size < 3 or self.size % 2 == 0:
            raise ValueError(f"patch size must be odd and >= 3, got size={self.size}")
        if self.levels < 0:
            raise ValueError(f"levels must be 'auto' or >= 1, got levels={self.levels}")
        if self.iters < 0:
            raise ValueError(f"iters must be >= 0, got iters={self.iters}")
        if self.pm_iters < 1:
            raise ValueError(f"pm_iters must be >= 1, got pm_iters={self.pm_iters}")
        if self.lam < 0:
            raise ValueError(f"lam must be >= 0, got lam={self.lam}")
        if not 0 < self.percentile <= 100:
            raise ValueError(f"percentile must be in (0, 100], got percentile={self.percentile}")
        if self.tol < 0:
            raise ValueError(f"tol must be >= 0, got tol={self.tol}")
        if self.tol_px < 0:
            raise ValueError(f"tol_px must be >= 0, got tol_px={self.tol_px}")
        if not 0 <= self.frac <= 1:
            raise ValueError(f"frac must be in [0, 1], got frac={self.frac}")
        for key, allowed in (("stop", STOP_RULES), ("init", INITS), ("search", SEARCHES), ("final", FINALS)):
            if getattr(self, key) not in allowed:
                raise ValueError(f"{key}={getattr(self, key)!r} must be one of {', '.join(allowed)}")


@dataclass
class Level:
    """Targets, sources and the nearest-neighbour field of one pyramid level."""

    data: np.ndarray  # float32 H x W x C (colour, then weighted features)
    hole: np.ndarray  # bool H x W
    ty: np.ndarray  # int64 target centres, raster order
    tx: np.ndarray
    tidx: np.ndarray  # int64 H x W, target index or -1
    src_ok: np.ndarray  # bool H x W, valid source centres
    src_y: np.ndarray  # int64 list of valid source centres
    src_x: np.ndarray
    hole_y: np.ndarray  # int64 hole pixels, raster order
    hole_x: np.ndarray
    ny: np.ndarray  # int64 source centre of each target
    nx: np.ndarray
    d2: np.ndarray  # float64 normalised squared distance of each target


@dataclass
class PatchStats:
    """What one run did: levels, iterations, residuals, changed matches and tolerance per level, distance evaluations.

    ``iterations`` (searches), ``residuals`` and ``changed`` list the levels
    coarsest first; ``changed`` holds, per iteration, the share of target
    patches whose nearest neighbour moved in that iteration's search, and
    ``residuals`` the mean absolute change of the hole's colours in each
    reconstruction (one fewer than searches where the last one is skipped),
    and ``tols`` the stopping tolerance of each level (:func:`level_tol`).
    """

    levels: int = 0
    hole_pixels: int = 0
    iterations: list[int] = field(default_factory=list)
    residuals: list[list[float]] = field(default_factory=list)
    changed: list[list[float]] = field(default_factory=list)
    tols: list[float] = field(default_factory=list)
    distance_evals: int = 0


def dilate_square(mask: np.ndarray, size: int) -> np.ndarray:
    """``mask`` dilated by a ``size x size`` square (pixels outside the image count as False).

    The same as ``binary_dilation(mask, structure=np.ones((size, size)))``, as
    a separable running maximum: 4-5x faster on a 1024 px hole, where the
    dilations of every level took 5 % of the run.
    """
    return maximum_filter(mask, size=size, mode="constant", cval=False)


def make_level(data: np.ndarray, hole: np.ndarray, size: int) -> Level:
    """Targets (centres of patches overlapping the hole) and sources of one level.

    Raises
    ------
    ValueError
        If no patch of the level lies wholly in the image and outside the hole.
    """
    h = size // 2
    height, width = hole.shape
    # A patch overlaps the hole iff its centre is in the hole dilated by the patch.
    near = dilate_square(hole, size)
    src_ok = ~near
    src_ok[:h, :] = False
    src_ok[height - h :, :] = False
    src_ok[:, :h] = False
    src_ok[:, width - h :] = False
    if not src_ok.any():
        raise ValueError(
            f"no {size}x{size} source patch lies outside the hole in a {width}x{height} image "
            f"with {int(hole.sum())} hole pixels: the hole is too large for this patch size"
        )
    ty, tx = np.nonzero(near)
    tidx = np.full(hole.shape, -1, dtype=np.int64)
    tidx[ty, tx] = np.arange(ty.size)
    sy, sx = np.nonzero(src_ok)
    hy, hx = np.nonzero(hole)
    n = ty.size
    return Level(
        data=data,
        hole=hole,
        ty=ty.astype(np.int64),
        tx=tx.astype(np.int64),
        tidx=tidx,
        src_ok=src_ok,
        src_y=sy.astype(np.int64),
        src_x=sx.astype(np.int64),
        hole_y=hy.astype(np.int64),
        hole_x=hx.astype(np.int64),
        ny=np.zeros(n, np.int64),
        nx=np.zeros(n, np.int64),
        d2=np.zeros(n, np.float64),
    )


def _chunks(n: int) -> np.ndarray:
    # A fixed partition (not tied to the thread count): results are identical on
    # any machine. 16 chunks keep 2-16 cores busy; small levels use fewer so
    # that propagation still runs along long sequential sweeps.
    parts = max(1, min(16, n // 256))
    return np.linspace(0, n, parts + 1).round().astype(np.int64)


def _full_counts(lv: Level, h: int) -> np.ndarray:
    height, width = lv.hole.shape
    return K.target_counts(lv.ty, lv.tx, h, height, width, _DUMMY_VALID, False)


def _search(lv: Level, p: PatchParams, counts: np.ndarray, level: int, it: int, evals: np.ndarray) -> float:
    """``pm_iters`` PatchMatch sweeps on full patches, alternating direction.

    Returns the share of targets whose source centre moved.
    """
    h = p.size // 2
    chunks = _chunks(lv.ty.size)
    per_chunk = np.zeros(chunks.size - 1, dtype=np.int64)
    before_y, before_x = lv.ny.copy(), lv.nx.copy()
    for s in range(p.pm_iters):
        stream = ((_STREAM_PM * 64 + level) * 4096 + it) * 64 + s
        K.patchmatch_pass(
            lv.data,
            _DUMMY_VALID,
            False,
            lv.src_ok,
            lv.ty,
            lv.tx,
            lv.tidx,
            lv.ny,
            lv.nx,
            lv.d2,
            counts,
            h,
            s % 2 == 1,
            s == 0,
            p.seed,
            stream,
            chunks,
            per_chunk,
            p.search == "valid",
        )
    evals[0] += per_chunk.sum()
    moved = np.count_nonzero((lv.ny != before_y) | (lv.nx != before_x))
    return moved / max(1, lv.ty.size)


def _onion_peel(lv: Level, p: PatchParams, level: int, evals: np.ndarray) -> None:
    """Fill the coarsest hole ring by ring from partial patches (Newson et al.'s initialisation)."""
    h = p.size // 2
    height, width = lv.hole.shape
    n = lv.ty.size
    K.random_init(lv.ty, lv.src_y, lv.src_x, p.seed, _STREAM_INIT * 64 + level, lv.ny, lv.nx, lv.d2)
    filled = ~lv.hole
    assigned = np.zeros(n, dtype=bool)
    # Targets centred on known pixels first get their neighbours from their known pixels.
    ring = ~lv.hole[lv.ty, lv.tx]
    ring_idx = np.flatnonzero(ring)
    if ring_idx.size:
        counts = K.target_counts(lv.ty, lv.tx, h, height, width, filled, True)
        counts = np.where(ring, counts, 0.0)
        chunks = _chunks(n)
        per_chunk = np.zeros(chunks.size - 1, dtype=np.int64)
        for s in range(p.pm_iters):
            stream = ((_STREAM_ONION * 64 + level) * 4096) * 64 + s
            K.patchmatch_pass(
                lv.data,
                filled,
                True,
                lv.src_ok,
                lv.ty,
                lv.tx,
                lv.tidx,
                lv.ny,
                lv.nx,
                lv.d2,
                counts,
                h,
                s % 2 == 1,
                s == 0,
                p.seed,
                stream,
                chunks,
                per_chunk,
                p.search == "valid",
            )
        evals[0] += per_chunk.sum()
        assigned[ring_idx] = True
    remaining = lv.hole.copy()
    layer_no = 0
    while remaining.any():
        # The next layer: hole pixels touching a filled pixel (8-connectivity).
        layer_mask = remaining & dilate_square(filled, 3)
        if not layer_mask.any():
            raise ValueError("onion peel: hole has no filled neighbour (the image has no known pixel)")
        ly, lx = np.nonzero(layer_mask)
        layer = lv.tidx[ly, lx]
        K.onion_layer_search(
            lv.data,
            filled,
            lv.src_ok,
            lv.ty,
            lv.tx,
            lv.tidx,
            lv.ny,
            lv.nx,
            lv.d2,
            assigned,
            layer,
            h,
            p.seed,
            (_STREAM_ONION * 64 + level) * 4096 + 64 * (1 + layer_no),
            _ONION_PASSES,
            evals,
            p.search == "valid",
        )
        K.reconstruct(
            lv.data,
            ly.astype(np.int64),
            lx.astype(np.int64),
            lv.tidx,
            lv.ny,
            lv.nx,
            lv.d2,
            assigned,
            h,
            p.percentile,
            3,
            np.zeros(ly.size),
        )
        filled |= layer_mask
        remaining &= ~layer_mask
        layer_no += 1


def _onion_partial(lv: Level, p: PatchParams, level: int, evals: np.ndarray) -> None:
    """Fill the coarsest hole layer by layer, re-matching every target with partial patches.

    The reference code's initialisation: before each layer, PatchMatch runs on
    every patch touching the hole, each compared on its already filled pixels
    only (warm-started from the previous layer's field); the layer, the hole
    pixels touching a filled pixel, is then rebuilt only from the patches
    centred on filled pixels, whose matches rest on the most known pixels.
    """
    h = p.size // 2
    height, width = lv.hole.shape
    K.random_init(lv.ty, lv.src_y, lv.src_x, p.seed, _STREAM_INIT * 64 + level, lv.ny, lv.nx, lv.d2)
    filled = ~lv.hole
    remaining = lv.hole.copy()
    chunks = _chunks(lv.ty.size)
    per_chunk = np.zeros(chunks.size - 1, dtype=np.int64)
    layer_no = 0
    while remaining.any():
        layer_mask = remaining & dilate_square(filled, 3)
        if not layer_mask.any():
            raise ValueError("onion peel: hole has no filled neighbour (the image has no known pixel)")
        # Targets with no filled pixel yet have count 0 and are skipped.
        counts = K.target_counts(lv.ty, lv.tx, h, height, width, filled, True)
        for s in range(p.pm_iters):
            stream = ((_STREAM_PARTIAL * 64 + level) * 4096 + layer_no) * 64 + s
            # The first sweep recomputes every distance: the filled pixels changed.
            K.patchmatch_pass(
                lv.data,
                filled,
                True,
                lv.src_ok,
                lv.ty,
                lv.tx,
                lv.tidx,
                lv.ny,
                lv.nx,
                lv.d2,
                counts,
                h,
                s % 2 == 1,
                s == 0,
                p.seed,
                stream,
                chunks,
                per_chunk,
                p.search == "valid",
            )
        ly, lx = np.nonzero(layer_mask)
        centred_filled = filled[lv.ty, lv.tx]
        K.reconstruct(
            lv.data,
            ly.astype(np.int64),
            lx.astype(np.int64),
            lv.tidx,
            lv.ny,
            lv.nx,
            lv.d2,
            centred_filled,
            h,
            p.percentile,
            3,
            np.zeros(ly.size),
        )
        filled |= layer_mask
        remaining &= ~layer_mask
        layer_no += 1
    evals[0] += per_chunk.sum()


def level_tol(p: PatchParams, hole_pixels: int) -> float:
    """Stopping tolerance of a level whose hole has ``hole_pixels`` pixels (see ``PatchParams.tol_px``)."""
    if p.tol_px <= 0:
        return p.tol
    return max(min(p.tol, ARTICLE_TOL), p.tol * hole_pixels / p.tol_px)


def _iterate(lv: Level, p: PatchParams, level: int, evals: np.ndarray, stats: PatchStats) -> None:
    """Alternate search and weighted-mean reconstruction until the stopping rule fires.

    The share of moved matches is read after the search, and when it ends the
    level (``stop="matches"`` or ``"either"``) the reconstruction that would
    follow is skipped wherever nothing reads it: a coarser level hands only its
    field to the next one, and ``final="field"`` rebuilds the finest hole from
    the field alone. The output is the same as with that reconstruction.
    """
    h = p.size // 2
    counts = _full_counts(lv, h)
    residuals: list[float] = []
    changed: list[float] = []
    delta = np.zeros(lv.hole_y.size)
    everyone = np.ones(lv.ty.size, dtype=bool)
    by_matches = p.stop in ("matches", "either")
    by_change = p.stop in ("change", "either")
    image_read_after = level == 0 and p.final == "search"
    tol = level_tol(p, lv.hole_y.size)
    for it in range(p.iters):
        changed.append(_search(lv, p, counts, level, it, evals))
        last = it == p.iters - 1 or (by_matches and changed[-1] < p.frac)
        if by_matches and last and not image_read_after:
            break
        K.reconstruct(lv.data, lv.hole_y, lv.hole_x, lv.tidx, lv.ny, lv.nx, lv.d2, everyone, h, p.percentile, 3, delta)
        residuals.append(float(delta.mean()) if delta.size else 0.0)
        if last or (by_change and residuals[-1] < tol):
            break
    stats.iterations.append(len(changed))
    stats.residuals.append(residuals)
    stats.changed.append(changed)
    stats.tols.append(tol)


def _upsample(coarse: Level, fine: Level, p: PatchParams, level: int) -> None:
    """Fine field from the coarse one (shifts doubled), then the fine hole rebuilt from it.

    A fine target inherits its parent's source, moved to the same sub-pixel
    offset; where that is not a valid source it is clamped into the image, and
    drawn at random if still invalid. The first reconstruction weighs each vote
    with the parent's distance, as the fine hole holds no estimate yet.
    """
    h = p.size // 2
    height, width = fine.hole.shape
    ch, cw = coarse.hole.shape
    pyc = np.minimum(fine.ty // 2, ch - 1)
    pxc = np.minimum(fine.tx // 2, cw - 1)
    parent = coarse.tidx[pyc, pxc]
    has = parent >= 0
    safe = np.where(has, parent, 0)
    sy = np.where(has, 2 * coarse.ny[safe] + (fine.ty - 2 * pyc), fine.ty)
    sx = np.where(has, 2 * coarse.nx[safe] + (fine.tx - 2 * pxc), fine.tx)
    sy = np.clip(sy, h, height - 1 - h)
    sx = np.clip(sx, h, width - 1 - h)
    ok = has & fine.src_ok[sy, sx]
    K.random_init(fine.ty, fine.src_y, fine.src_x, p.seed, _STREAM_UPSAMPLE * 64 + level, fine.ny, fine.nx, fine.d2)
    fine.ny[ok] = sy[ok]
    fine.nx[ok] = sx[ok]
    parent_d2 = np.where(has, coarse.d2[safe], np.inf)
    finite = np.isfinite(parent_d2)
    fill = parent_d2[finite].max() if finite.any() else 1.0
    fine.d2[:] = np.where(ok, parent_d2, fill)
    K.reconstruct(
        fine.data,
        fine.hole_y,
        fine.hole_x,
        fine.tidx,
        fine.ny,
        fine.nx,
        fine.d2,
        np.ones(fine.ty.size, dtype=bool),
        h,
        p.percentile,
        3,
        np.zeros(fine.hole_y.size),
    )


def _final_pass(lv: Level, p: PatchParams, evals: np.ndarray) -> None:
    """Copy each hole pixel from the best patch covering it (no averaging, so no blur)."""
    h = p.size // 2
    if p.iters == 0:
        K.nnf_distances(lv.data, _DUMMY_VALID, False, lv.ty, lv.tx, lv.ny, lv.nx, h, _full_counts(lv, h), lv.d2)
        evals[0] += lv.ty.size
    elif p.final == "search":
        _search(lv, p, _full_counts(lv, h), 0, 4095, evals)
    # final == "field": the last iteration's field and distances, as the reference code does.
    K.reconstruct_best(lv.data, lv.hole_y, lv.hole_x, lv.tidx, lv.ny, lv.nx, lv.d2, np.ones(lv.ty.size, dtype=bool), h)


def choose_levels(mask: np.ndarray, p: PatchParams) -> int:
    """The requested number of levels, or the automatic choice (:func:`auto_levels`)."""
    return p.levels if p.levels > 0 else auto_levels(mask, p.size)


def inpaint_patch(image: np.ndarray, mask: np.ndarray, params: PatchParams) -> tuple[np.ndarray, PatchStats]:
    """Inpaint a contract image with Newson et al.'s method.

    Parameters
    ----------
    image : np.ndarray
        float32 ``H x W x 3`` in [0, 1]; pixels under ``mask`` are never read.
    mask : np.ndarray
        bool ``H x W``, True = missing.
    params : PatchParams
        Method parameters.

    Returns
    -------
    output : np.ndarray
        float32 ``H x W x 3`` in [0, 1]; known pixels are returned unchanged.
    stats : PatchStats

    Raises
    ------
    ValueError
        If the image has no known pixel, or the hole leaves no source patch.
    """
    stats = PatchStats(hole_pixels=int(mask.sum()))
    out = image.copy()
    if not mask.any():
        return out, stats
    if mask.all():
        raise ValueError("mask covers the whole image: there is nothing to copy patches from")
    size = params.size
    if min(mask.shape) < size:
        raise ValueError(f"image {mask.shape[1]}x{mask.shape[0]} is smaller than the {size}x{size} patch")
    levels = choose_levels(mask, params)
    # Coarse levels whose hole leaves no source patch are dropped (a huge hole
    # in a small image); the finest level must have sources or we fail loudly.
    while True:
        clean = np.where(mask[..., None], np.float32(0.0), image)
        colours, holes = build_pyramid(clean, mask, levels)
        coarse_hole = holes[-1]
        if levels == 1 or _has_source(coarse_hole, size):
            break
        levels -= 1
    stats.levels = levels
    if params.features:
        feats = texture_features(clean, mask, 2**levels) * np.float32(math.sqrt(params.lam))
    evals = np.zeros(1, dtype=np.int64)
    lvls: list[Level] = []
    for l in range(levels):
        parts = [colours[l]]
        if params.features:
            step = 2**l
            parts.append(feats[::step, ::step])
        data = np.ascontiguousarray(np.concatenate(parts, axis=-1), dtype=np.float32)
        data[holes[l]] = 0.0
        lvls.append(make_level(data, holes[l], size))
    top = levels - 1
    if params.init == "partial":
        _onion_partial(lvls[top], params, top, evals)
    else:
        _onion_peel(lvls[top], params, top, evals)
    _iterate(lvls[top], params, top, evals, stats)
    for l in range(top - 1, -1, -1):
        _upsample(lvls[l + 1], lvls[l], params, l)
        _iterate(lvls[l], params, l, evals, stats)
    _final_pass(lvls[0], params, evals)
    stats.distance_evals = int(evals[0])
    fine = lvls[0]
    out[fine.hole_y, fine.hole_x] = np.clip(fine.data[fine.hole_y, fine.hole_x, :3], 0.0, 1.0)
    return out, stats


def _has_source(hole: np.ndarray, size: int) -> bool:
    h = size // 2
    if min(hole.shape) < size:
        return False
    near = dilate_square(hole, size)
    return bool((~near)[h : hole.shape[0] - h, h : hole.shape[1] - h].any())
