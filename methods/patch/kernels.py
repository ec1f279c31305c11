"""Numba kernels of the patch method: patch distance, PatchMatch, reconstruction.

Conventions inside this module (the public boundary is :mod:`methods.patch.inpaint`):

- ``data`` is float32 ``H x W x C``: the colour channels followed, when features
  are on, by the texture features pre-multiplied by ``sqrt(lambda)``, so the patch
  distance is a plain sum of squares over all channels.
- A *target* is a patch centre whose patch overlaps the hole; targets are listed
  in raster order (``ty``, ``tx``) and ``tidx`` maps a pixel to its target index
  (-1 elsewhere). The nearest-neighbour field stores, per target, the centre of
  its source patch (``ny``, ``nx``) and the normalised squared distance ``d2``.
- A *source* centre is one whose whole patch lies in the image and outside the
  hole (``src_ok``).
- Distances are normalised by the number of compared pixels, so partial patches
  (at the image border, or during initialisation) compare fairly with full ones.

Determinism: random numbers come from a counter-based hash of (seed, level,
pass, pixel), never from thread state; parallel loops write disjoint outputs and
PatchMatch chunks are a fixed partition of the targets (independent of the
number of threads), reading other chunks only through a snapshot.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

GOLDEN = np.uint64(0x9E3779B97F4A7C15)
BIG = 1e30
_BLOCK = 64  # pixels per parallel work item in the reconstruction


@njit(cache=True, inline="always")
def _mix(z):
    # SplitMix64 finaliser: a bijective, well-mixed 64-bit hash.
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True, inline="always")
def rng_seed(seed, stream, counter):
    """Seed of a per-pixel random stream from (seed, stream, counter)."""
    return _mix(_mix(_mix(np.uint64(seed) + GOLDEN) ^ np.uint64(stream)) ^ np.uint64(counter))


@njit(cache=True, inline="always")
def rng_int(state, n):
    """Next state and a uniform integer in ``[0, n)``."""
    state = state + GOLDEN
    return state, np.int64((_mix(state) >> np.uint64(11)) % np.uint64(n))


@njit(cache=True, inline="always")
def patch_extent(ty, tx, h, height, width):
    """Offsets ``dy0..dy1``, ``dx0..dx1`` of a target patch that lie inside the image."""
    return max(-h, -ty), min(h, height - 1 - ty), max(-h, -tx), min(h, width - 1 - tx)


@njit(cache=True)
def patch_d2(data, valid, use_valid, ty, tx, sy, sx, h, count, bound):
    """Normalised squared distance between target patch ``(ty, tx)`` and source ``(sy, sx)``.

    Compares the target's in-image pixels (only those with ``valid`` when
    ``use_valid``), ``count`` of them. Returns a value above ``bound`` as soon as
    the partial sum proves the result cannot beat ``bound`` (early exit).
    """
    height, width, c = data.shape
    dy0, dy1, dx0, dx1 = patch_extent(ty, tx, h, height, width)
    limit = bound * count
    acc = 0.0
    for dy in range(dy0, dy1 + 1):
        yt = ty + dy
        ys = sy + dy
        for dx in range(dx0, dx1 + 1):
            xt = tx + dx
            if use_valid and not valid[yt, xt]:
                continue
            xs = sx + dx
            for ch in range(c):
                diff = data[yt, xt, ch] - data[ys, xs, ch]
                acc += diff * diff
        if acc > limit:
            return BIG
    return acc / count


@njit(cache=True, inline="always")
def try_source(data, valid, use_valid, src_ok, y, x, cy, cx, h, count, best, by, bx, evals):
    """Compare target ``(y, x)`` with candidate source ``(cy, cx)``; keep it if closer.

    Candidates outside the image, not a valid source, or equal to the current
    best are skipped without a distance evaluation.

    Returns
    -------
    tuple
        The updated ``(best, by, bx, evals)``: distance and centre of the best
        source so far, and the number of distance evaluations.
    """
    height, width, _ = data.shape
    if cy < 0 or cy >= height or cx < 0 or cx >= width or not src_ok[cy, cx]:
        return best, by, bx, evals
    if cy == by and cx == bx:
        return best, by, bx, evals
    # ``best`` is the early-exit bound: a candidate only matters if it beats it.
    d = patch_d2(data, valid, use_valid, y, x, cy, cx, h, count, best)
    if d < best:
        return d, cy, cx, evals + 1
    return best, by, bx, evals + 1


@njit(cache=True, inline="always")
def search_window(b, r, lo, hi, in_valid):
    """First coordinate and span of the random-search window around ``b`` on one axis.

    With ``in_valid`` the window ``[b - r, b + r]`` is intersected with the
    valid centre range ``[lo, hi]`` (as in the reference code), so no draw
    falls where no source can be; otherwise it is the whole window (draws
    outside the image are later discarded).
    """
    if in_valid:
        first = max(b - r, lo)
        # At least one draw even if ``b`` itself lies outside [lo, hi]; the
        # candidate is then checked and rejected like any invalid one.
        return first, max(1, min(b + r, hi) - first + 1)
    return b - r, 2 * r + 1


@njit(cache=True, inline="always")
def draw_candidate(state, by, bx, r, h, height, width, in_valid):
    """Next state and a random-search candidate within ``r`` of ``(by, bx)`` (:func:`search_window`)."""
    y0, ny_ = search_window(by, r, h, height - 1 - h, in_valid)
    x0, nx_ = search_window(bx, r, h, width - 1 - h, in_valid)
    state, oy = rng_int(state, ny_)
    state, ox = rng_int(state, nx_)
    return state, y0 + oy, x0 + ox


@njit(cache=True, inline="always")
def random_search(data, valid, use_valid, src_ok, y, x, h, count, best, by, bx, evals, seed, stream, in_valid):
    """Random search around the current best source, radius halving from the image size.

    Draws from the stream ``(seed, stream, y * width + x)``, so the result does
    not depend on the order in which targets are visited. ``in_valid`` draws
    each candidate inside the range of centres whose patch lies in the image
    (:func:`search_window`); without it, candidates outside are drawn and lost.

    Returns
    -------
    tuple
        The updated ``(best, by, bx, evals)`` as in :func:`try_source`.
    """
    height, width, _ = data.shape
    state = rng_seed(seed, stream, y * width + x)
    r = max(height, width)
    while r >= 1:
        # Centred on the best so far, which moves as better candidates are found.
        state, cy, cx = draw_candidate(state, by, bx, r, h, height, width, in_valid)
        r = r // 2
        best, by, bx, evals = try_source(data, valid, use_valid, src_ok, y, x, cy, cx, h, count, best, by, bx, evals)
    return best, by, bx, evals


@njit(cache=True)
def target_counts(ty, tx, h, height, width, valid, use_valid):
    """Number of compared pixels of each target patch."""
    n = ty.shape[0]
    out = np.zeros(n, dtype=np.float64)
    for k in range(n):
        dy0, dy1, dx0, dx1 = patch_extent(ty[k], tx[k], h, height, width)
        if not use_valid:
            out[k] = (dy1 - dy0 + 1) * (dx1 - dx0 + 1)
            continue
        cnt = 0
        for dy in range(dy0, dy1 + 1):
            for dx in range(dx0, dx1 + 1):
                if valid[ty[k] + dy, tx[k] + dx]:
                    cnt += 1
        out[k] = cnt
    return out


@njit(cache=True, parallel=True)
def nnf_distances(data, valid, use_valid, ty, tx, ny, nx, h, counts, d2):
    """Recompute ``d2`` for the current field (no early exit). Targets without compared pixels get 0."""
    for k in prange(ty.shape[0]):
        if counts[k] > 0:
            d2[k] = patch_d2(data, valid, use_valid, ty[k], tx[k], ny[k], nx[k], h, counts[k], BIG)
        else:
            d2[k] = 0.0


@njit(cache=True)
def random_init(ty, src_y, src_x, seed, stream, ny, nx, d2):
    """Give every target a uniformly drawn source centre."""
    ns = src_y.shape[0]
    for k in range(ty.shape[0]):
        state = rng_seed(seed, stream, k)
        state, i = rng_int(state, ns)
        ny[k] = src_y[i]
        nx[k] = src_x[i]
        d2[k] = BIG


@njit(cache=True, parallel=True)
def patchmatch_pass(
    data,
    valid,
    use_valid,
    src_ok,
    ty,
    tx,
    tidx,
    ny,
    nx,
    d2,
    counts,
    h,
    backward,
    recompute,
    seed,
    stream,
    chunks,
    evals,
    in_valid,
):
    """One PatchMatch sweep (propagation + random search) over all targets.

    Parameters
    ----------
    backward : bool
        Sweep in reverse raster order, propagating from the right and lower
        neighbours (forward sweeps propagate from the left and upper ones).
    recompute : bool
        Recompute each target's current distance first (the image changed since
        the last sweep).
    chunks : np.ndarray
        int64 boundaries of a fixed partition of the targets; chunks run in
        parallel, each sweeping its targets in order.
    evals : np.ndarray
        int64 per-chunk counters of distance evaluations (incremented).
    in_valid : bool
        Random search draws inside the valid centre range (:func:`random_search`).
    """
    height, width, _ = data.shape
    n_chunks = chunks.shape[0] - 1
    # Neighbours outside the current chunk are read from this snapshot so that
    # the result does not depend on how far other chunks have got.
    py = ny.copy()
    px = nx.copy()
    step = -1 if backward else 1
    for c in prange(n_chunks):
        start = chunks[c]
        end = chunks[c + 1]
        count = 0
        for i in range(end - start):
            k = end - 1 - i if backward else start + i
            y = ty[k]
            x = tx[k]
            if counts[k] <= 0:
                continue
            by = ny[k]
            bx = nx[k]
            if recompute or d2[k] >= BIG:
                best = patch_d2(data, valid, use_valid, y, x, by, bx, h, counts[k], BIG)
                count += 1
            else:
                best = d2[k]
            # Propagation: a neighbour's source, shifted by one pixel.
            for axis in range(2):
                qy = y - step if axis == 0 else y
                qx = x if axis == 0 else x - step
                if qy < 0 or qy >= height or qx < 0 or qx >= width:
                    continue
                j = tidx[qy, qx]
                if j < 0:
                    continue
                same = (j >= start) if not backward else (j < end)
                cy = (ny[j] if same else py[j]) + (y - qy)
                cx = (nx[j] if same else px[j]) + (x - qx)
                best, by, bx, count = try_source(
                    data, valid, use_valid, src_ok, y, x, cy, cx, h, counts[k], best, by, bx, count
                )
            best, by, bx, count = random_search(
                data, valid, use_valid, src_ok, y, x, h, counts[k], best, by, bx, count, seed, stream, in_valid
            )
            ny[k] = by
            nx[k] = bx
            d2[k] = best
        evals[c] += count


@njit(cache=True, inline="always")
def kth_smallest(a, n, k):
    """The ``k``-th smallest (0-based) of ``a[:n]``, reordering ``a[:n]`` in place.

    Hoare's selection: linear on average where sorting the <= 49 votes of a
    pixel by insertion cost quadratic time and dominated the reconstruction.
    The value is the order statistic itself, so it equals ``sorted(a[:n])[k]``.
    """
    lo = 0
    hi = n - 1
    while lo < hi:
        pivot = a[(lo + hi) // 2]
        i = lo
        j = hi
        while i <= j:
            while a[i] < pivot:
                i += 1
            while a[j] > pivot:
                j -= 1
            if i <= j:
                tmp = a[i]
                a[i] = a[j]
                a[j] = tmp
                i += 1
                j -= 1
        # a[lo..j] <= pivot <= a[i..hi]; anything between equals the pivot.
        if k <= j:
            hi = j
        elif k >= i:
            lo = i
        else:
            return a[k]
    return a[k]


@njit(cache=True, parallel=True)
def reconstruct(data, pix_y, pix_x, tidx, ny, nx, d2, assigned, h, percentile, n_colour, delta):
    """Weighted-mean reconstruction of the listed pixels, in place.

    Each assigned target patch covering a pixel votes with the value its source
    has at the same offset, weighted by ``exp(-d2 / (2 sigma^2))``; sigma is the
    ``percentile`` of the distances (``sqrt(d2)``) of the votes for that pixel
    (lower nearest rank), as in the reference code. Sources lie outside the
    hole, so writing hole pixels in place never changes a value being read.
    ``delta[i]`` receives the mean absolute change of pixel ``i``'s colour;
    pixels without a vote keep their value.
    """
    height, width, c = data.shape
    side = 2 * h + 1
    n_pix = pix_y.shape[0]
    n_blocks = (n_pix + _BLOCK - 1) // _BLOCK
    for b in prange(n_blocks):
        # Scratch space once per block of pixels: allocating per pixel inside a
        # parallel loop costs more than the reconstruction itself.
        votes = np.empty(side * side, dtype=np.int64)
        offs = np.empty(side * side, dtype=np.int64)
        dist = np.empty(side * side, dtype=np.float64)
        ranked = np.empty(side * side, dtype=np.float64)
        acc = np.empty(c, dtype=np.float64)
        for i in range(b * _BLOCK, min(n_pix, (b + 1) * _BLOCK)):
            y = pix_y[i]
            x = pix_x[i]
            n = 0
            # Patches covering (y, x) are centred at (y + dy, x + dx): in-image offsets only.
            dy0, dy1, dx0, dx1 = patch_extent(y, x, h, height, width)
            for dy in range(dy0, dy1 + 1):
                for dx in range(dx0, dx1 + 1):
                    j = tidx[y + dy, x + dx]
                    if j < 0 or not assigned[j]:
                        continue
                    votes[n] = j
                    offs[n] = (dy + h) * side + (dx + h)
                    dist[n] = d2[j]
                    ranked[n] = d2[j]
                    n += 1
            delta[i] = 0.0
            if n == 0:
                continue
            s2 = kth_smallest(ranked, n, int(np.floor(percentile / 100.0 * (n - 1))))
            acc[:] = 0.0
            wsum = 0.0
            for v in range(n):
                if s2 > 0.0:
                    w = np.exp(-dist[v] / (2.0 * s2))
                else:
                    # Perfect matches only: exact copies vote equally, others not at all.
                    w = 1.0 if dist[v] <= 0.0 else 0.0
                if w <= 0.0:
                    continue
                j = votes[v]
                sy = ny[j] - (offs[v] // side - h)
                sx = nx[j] - (offs[v] % side - h)
                wsum += w
                for ch in range(c):
                    acc[ch] += w * data[sy, sx, ch]
            if wsum > 0.0:
                change = 0.0
                for ch in range(c):
                    val = acc[ch] / wsum
                    if ch < n_colour:
                        change += abs(val - data[y, x, ch])
                    data[y, x, ch] = val
                delta[i] = change / n_colour


@njit(cache=True, parallel=True)
def reconstruct_best(data, pix_y, pix_x, tidx, ny, nx, d2, assigned, h):
    """Set each listed pixel from the single best (lowest ``d2``) assigned patch covering it."""
    height, width, c = data.shape
    for i in prange(pix_y.shape[0]):
        y = pix_y[i]
        x = pix_x[i]
        best = BIG
        sy = -1
        sx = -1
        dy0, dy1, dx0, dx1 = patch_extent(y, x, h, height, width)
        for dy in range(dy0, dy1 + 1):
            for dx in range(dx0, dx1 + 1):
                j = tidx[y + dy, x + dx]
                if j >= 0 and assigned[j] and d2[j] < best:
                    best = d2[j]
                    sy = ny[j] - dy
                    sx = nx[j] - dx
        if sy >= 0:
            for ch in range(c):
                data[y, x, ch] = data[sy, sx, ch]


@njit(cache=True)
def onion_layer_search(
    data, filled, src_ok, ty, tx, tidx, ny, nx, d2, assigned, layer, h, seed, stream, passes, evals, in_valid
):
    """Nearest neighbours of one onion-peel layer from partial patches.

    Each layer target is compared on its already filled pixels only, starting
    from its current (random) source, then improved by propagation from any
    assigned 8-neighbour and by random search, ``passes`` times, sequentially.
    """
    height, width, _ = data.shape
    count = 0
    for p in range(passes):
        for li in range(layer.shape[0]):
            k = layer[li]
            y = ty[k]
            x = tx[k]
            dy0, dy1, dx0, dx1 = patch_extent(y, x, h, height, width)
            cnt = 0
            for dy in range(dy0, dy1 + 1):
                for dx in range(dx0, dx1 + 1):
                    if filled[y + dy, x + dx]:
                        cnt += 1
            by = ny[k]
            bx = nx[k]
            best = patch_d2(data, filled, True, y, x, by, bx, h, cnt, BIG)
            count += 1
            for qy in range(y - 1, y + 2):
                for qx in range(x - 1, x + 2):
                    if qy < 0 or qy >= height or qx < 0 or qx >= width or (qy == y and qx == x):
                        continue
                    j = tidx[qy, qx]
                    if j < 0 or not assigned[j]:
                        continue
                    cy = ny[j] + (y - qy)
                    cx = nx[j] + (x - qx)
                    best, by, bx, count = try_source(
                        data, filled, True, src_ok, y, x, cy, cx, h, cnt, best, by, bx, count
                    )
            best, by, bx, count = random_search(
                data, filled, True, src_ok, y, x, h, cnt, best, by, bx, count, seed, stream + p, in_valid
            )
            ny[k] = by
            nx[k] = bx
            d2[k] = best
            assigned[k] = True
    evals[0] += count
