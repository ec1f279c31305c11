"""Numba kernels of Criminisi et al.'s exemplar-based inpainting: priority terms, exemplar search, copy.

Conventions inside this module (the public boundary is :mod:`methods.criminisi.inpaint`):

- ``known`` is bool ``H x W`` (True = known *now*: original or already filled),
  ``conf`` float64 ``H x W`` the confidence C, ``gray`` float64 ``H x W`` the
  intensity whose isophotes drive the data term, ``lab`` float32 ``H x W x 3``
  the colours compared by the exemplar search.
- A patch is the square of half-size ``h`` around its centre, clipped to the
  image for targets; a *source* centre (``src_ok``) has its whole patch inside
  the image and originally known.
- The fill front is the set of missing pixels with a known 8-neighbour;
  ``prio`` holds P = C * D on the front and -1 elsewhere.

Ties (equal priority, equal SSD) go to the first pixel in raster order, so the
result does not depend on the number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

BIG = 1e300


@njit(cache=True, inline="always")
def _diff(gray, known, y, x, sy, sx):
    # Central difference where both neighbours are known, one-sided where one
    # is, 0 where none is: the hole's placeholder values never enter.
    height, width = gray.shape
    yp, xp, ym, xm = y + sy, x + sx, y - sy, x - sx
    up = 0 <= yp < height and 0 <= xp < width and known[yp, xp]
    dn = 0 <= ym < height and 0 <= xm < width and known[ym, xm]
    if up and dn:
        return 0.5 * (gray[yp, xp] - gray[ym, xm])
    if up:
        return gray[yp, xp] - gray[y, x]
    if dn:
        return gray[y, x] - gray[ym, xm]
    return 0.0


@njit(cache=True)
def gradients(gray, known, gy, gx, y0, y1, x0, x1):
    """Write the gradient of ``gray`` at the known pixels of rows ``y0:y1``, columns ``x0:x1``.

    Missing pixels get 0. The window is clipped to the image by the caller.
    """
    for y in range(y0, y1):
        for x in range(x0, x1):
            if known[y, x]:
                gy[y, x] = _diff(gray, known, y, x, 1, 0)
                gx[y, x] = _diff(gray, known, y, x, 0, 1)
            else:
                gy[y, x] = 0.0
                gx[y, x] = 0.0


@njit(cache=True, inline="always")
def _k(known, y, x):
    # Known indicator with the image border replicated, so a hole touching the
    # border has its normal from the hole's own edges only.
    height, width = known.shape
    y = min(max(y, 0), height - 1)
    x = min(max(x, 0), width - 1)
    return 1.0 if known[y, x] else 0.0


@njit(cache=True)
def normal_at(known, y, x):
    """Unit normal ``(ny, nx)`` to the fill front at ``(y, x)``: Sobel of the known indicator.

    Returns ``(0, 0)`` where the Sobel response vanishes (e.g. an isolated missing pixel).
    """
    ny = 0.0
    nx = 0.0
    for d in range(-1, 2):
        w = 2.0 if d == 0 else 1.0
        ny += w * (_k(known, y + 1, x + d) - _k(known, y - 1, x + d))
        nx += w * (_k(known, y + d, x + 1) - _k(known, y + d, x - 1))
    norm = np.sqrt(ny * ny + nx * nx)
    if norm == 0.0:
        return 0.0, 0.0
    return ny / norm, nx / norm


@njit(cache=True)
def confidence_at(conf, known, y, x, h):
    """C(p): sum of the confidences of the known pixels of the patch over its in-image area."""
    height, width = known.shape
    total = 0.0
    area = 0
    for yy in range(max(0, y - h), min(height, y + h + 1)):
        for xx in range(max(0, x - h), min(width, x + h + 1)):
            area += 1
            if known[yy, xx]:
                total += conf[yy, xx]
    return total / area


@njit(cache=True)
def data_at(gy, gx, known, y, x, h, alpha):
    """D(p) = |isophote . normal| / alpha.

    The isophote is the gradient rotated by 90 degrees, taken at the known pixel
    of the patch with the largest gradient magnitude (the paper's "maximum value
    of the image gradient in the patch").
    """
    height, width = known.shape
    best = -1.0
    by = 0.0
    bx = 0.0
    for yy in range(max(0, y - h), min(height, y + h + 1)):
        for xx in range(max(0, x - h), min(width, x + h + 1)):
            if known[yy, xx]:
                m = gy[yy, xx] * gy[yy, xx] + gx[yy, xx] * gx[yy, xx]
                if m > best:
                    best = m
                    by = gy[yy, xx]
                    bx = gx[yy, xx]
    ny, nx = normal_at(known, y, x)
    # Isophote (x, y) = (-gy, gx); its dot product with the normal (nx, ny).
    return abs(-by * nx + bx * ny) / alpha


@njit(cache=True)
def on_front(known, y, x):
    """True where ``(y, x)`` is missing and has a known 8-neighbour in the image."""
    if known[y, x]:
        return False
    height, width = known.shape
    for yy in range(max(0, y - 1), min(height, y + 2)):
        for xx in range(max(0, x - 1), min(width, x + 2)):
            if known[yy, xx]:
                return True
    return False


@njit(cache=True)
def priorities(conf, known, gy, gx, prio, h, alpha, y0, y1, x0, x1):
    """Write P = C * D on the front pixels of the window, -1 on the others."""
    for y in range(y0, y1):
        for x in range(x0, x1):
            if on_front(known, y, x):
                prio[y, x] = confidence_at(conf, known, y, x, h) * data_at(gy, gx, known, y, x, h, alpha)
            else:
                prio[y, x] = -1.0


@njit(cache=True, parallel=True)
def best_exemplar(lab, known, src_ok, py, px, h, y0, y1, x0, x1):
    """Source centre of least SSD to target ``(py, px)`` over the target's known pixels.

    Candidates are the ``src_ok`` centres in rows ``y0:y1``, columns ``x0:x1``.
    Each row is searched in parallel with its own early-exit bound; the rows are
    then reduced in order, so ties go to the first centre in raster order.

    Returns
    -------
    tuple
        ``(sy, sx, ssd)``; ``(-1, -1, BIG)`` if the window holds no source.
    """
    height, width, nch = lab.shape
    # Gather the target's known pixels once: offsets and colours.
    n = 0
    size = 2 * h + 1
    tdy = np.empty(size * size, np.int64)
    tdx = np.empty(size * size, np.int64)
    tval = np.empty((size * size, nch), np.float32)
    for dy in range(max(-h, -py), min(h, height - 1 - py) + 1):
        for dx in range(max(-h, -px), min(h, width - 1 - px) + 1):
            if known[py + dy, px + dx]:
                tdy[n] = dy
                tdx[n] = dx
                for c in range(nch):
                    tval[n, c] = lab[py + dy, px + dx, c]
                n += 1
    rows = y1 - y0
    row_best = np.full(rows, BIG)
    row_x = np.full(rows, -1, np.int64)
    for r in prange(rows):
        y = y0 + r
        best = BIG
        bx = -1
        for x in range(x0, x1):
            if not src_ok[y, x]:
                continue
            acc = 0.0
            for k in range(n):
                ys = y + tdy[k]
                xs = x + tdx[k]
                for c in range(nch):
                    d = lab[ys, xs, c] - tval[k, c]
                    acc += d * d
                if acc >= best:  # cannot beat this row's best (ties keep the first)
                    break
            if acc < best:
                best = acc
                bx = x
        row_best[r] = best
        row_x[r] = bx
    sy = -1
    sx = -1
    best = BIG
    for r in range(rows):
        if row_x[r] >= 0 and row_best[r] < best:
            best = row_best[r]
            sy = y0 + r
            sx = row_x[r]
    return sy, sx, best


@njit(cache=True)
def copy_patch(image, lab, known, conf, py, px, sy, sx, h, c):
    """Copy the source patch into the missing pixels of the target patch; give them confidence ``c``.

    Returns the number of pixels filled.
    """
    height, width = known.shape
    filled = 0
    for dy in range(max(-h, -py), min(h, height - 1 - py) + 1):
        for dx in range(max(-h, -px), min(h, width - 1 - px) + 1):
            ty = py + dy
            tx = px + dx
            if known[ty, tx]:
                continue
            for ch in range(image.shape[2]):
                image[ty, tx, ch] = image[sy + dy, sx + dx, ch]
                lab[ty, tx, ch] = lab[sy + dy, sx + dx, ch]
            known[ty, tx] = True
            conf[ty, tx] = c
            filled += 1
    return filled
