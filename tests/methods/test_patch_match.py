"""PatchMatch of the patch method against brute force, the patch distance by hand, the RNG."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from numpy.lib.stride_tricks import sliding_window_view
from scipy import stats

from methods.patch import kernels as K
from methods.patch.inpaint import PatchParams, _full_counts, _search, make_level

DUMMY = np.ones((1, 1), dtype=bool)


def test_patch_distance_hand_computed_partial_patch_and_early_exit():
    data = np.zeros((5, 5, 1), np.float32)
    data[0, 0, 0] = 1.0
    data[1, 1, 0] = 3.0
    valid = np.ones((5, 5), bool)
    valid[0, 1] = False
    # Target centred at the corner (0, 0): with h = 1 only offsets 0..1 x 0..1 are in the image.
    # Source at (2, 2): pixels (2,2), (2,3), (3,2), (3,3) are all 0.
    # Compared: (0,0)->1, (1,0)->0, (1,1)->3 (and (0,1) is invalid): (1 + 0 + 9) / 3.
    assert K.patch_d2(data, valid, True, 0, 0, 2, 2, 1, 3.0, K.BIG) == pytest.approx(10.0 / 3.0)
    # Without the valid map all 4 in-image pixels count: 10 / 4.
    assert K.patch_d2(data, DUMMY, False, 0, 0, 2, 2, 1, 4.0, K.BIG) == pytest.approx(2.5)
    # A bound below the true distance makes the kernel give up with a value above the bound.
    assert K.patch_d2(data, DUMMY, False, 0, 0, 2, 2, 1, 4.0, 0.2) > 0.2
    counts = K.target_counts(np.array([0, 2]), np.array([0, 2]), 1, 5, 5, valid, True)
    assert counts.tolist() == [3.0, 9.0]


def brute_force(data, lv, size):
    """Exhaustive nearest source of every target (all targets are full patches here)."""
    h = size // 2
    win = sliding_window_view(data, (size, size), axis=(0, 1))  # (H-2h) x (W-2h) x C x size x size
    src = win[lv.src_y - h, lv.src_x - h].reshape(lv.src_y.size, -1).astype(np.float64)
    tgt = win[lv.ty - h, lv.tx - h].reshape(lv.ty.size, -1).astype(np.float64)
    d2 = (tgt**2).sum(1)[:, None] - 2 * tgt @ src.T + (src**2).sum(1)[None, :]
    d2 = np.maximum(d2, 0) / (size * size)
    best = d2.argmin(1)
    return d2.min(1), lv.src_y[best], lv.src_x[best]


def run_patchmatch(img, hole, size, sweeps, seed=3):
    p = PatchParams(size=size, pm_iters=sweeps, seed=seed)
    lv = make_level(np.ascontiguousarray(img, np.float32), hole, size)
    K.random_init(lv.ty, lv.src_y, lv.src_x, p.seed, 1, lv.ny, lv.nx, lv.d2)
    evals = np.zeros(1, np.int64)
    _search(lv, p, _full_counts(lv, size // 2), 0, 0, evals)
    return lv, int(evals[0])


# Measured (seed 3): fraction exact / mean distance ratio after 32 sweeps, 7x7:
# astronaut 0.92 / 1.004, coffee 0.84 / 1.009, chelsea 0.78 / 1.022 (fur has
# many near-equal patches); 5x5: 0.89 / 1.011, 0.62 / 1.074, 0.63 / 1.036.
@pytest.mark.parametrize("size", [5, 7])
@pytest.mark.parametrize("image_id", ["astronaut-000", "coffee-000", "chelsea-000"])
def test_patchmatch_converges_to_brute_force(size, image_id):
    from bench.inputs.data import get_source

    # A fully known image: the "hole" only selects which patches are targets.
    img = get_source("builtin", size=64).load(image_id)[:48, :48]
    hole = np.zeros((48, 48), bool)
    hole[18:30, 16:28] = True
    mean_d2 = []
    for sweeps in (1, 4, 32):
        lv, evals = run_patchmatch(img, hole, size, sweeps)
        mean_d2.append(lv.d2.mean())
    ref_d2, _, _ = brute_force(lv.data, lv, size)
    exact = np.isclose(lv.d2, ref_d2, rtol=1e-5, atol=1e-9)
    ratio = (np.sqrt(lv.d2) + 1e-6) / (np.sqrt(ref_d2) + 1e-6)
    print(
        f"{image_id} size {size}: {exact.mean():.3f} exact, mean distance ratio {ratio.mean():.4f}, "
        f"{evals} evaluations vs {lv.ty.size * lv.src_y.size} brute force"
    )
    assert (lv.d2 >= ref_d2 - 1e-6).all()  # never better than exhaustive: the distances are honest
    assert mean_d2[0] > mean_d2[1] > mean_d2[2]  # more sweeps, closer to the optimum
    assert exact.mean() >= 0.55
    assert ratio.mean() <= 1.10
    assert evals < 0.15 * lv.ty.size * lv.src_y.size


def test_patchmatch_sweep_is_deterministic_across_threads():
    import numba

    from bench.inputs.data import get_source

    img = get_source("builtin", size=96).load("china-000")
    hole = np.zeros((96, 96), bool)
    hole[20:70, 30:80] = True  # enough targets for several parallel chunks
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one, _ = run_patchmatch(img, hole, 7, 3)
        numba.set_num_threads(before)
        many, _ = run_patchmatch(img, hole, 7, 3)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(one.ny, many.ny) and np.array_equal(one.nx, many.nx)
    assert np.array_equal(one.d2, many.d2)


@njit
def _draws(seed, stream, count, n):
    out = np.empty(count, np.int64)
    for k in range(count):
        _, out[k] = K.rng_int(K.rng_seed(seed, stream, k), n)
    return out


def test_rng_is_uniform_and_seeded():
    draws = _draws(7, 1, 20000, 7)
    assert stats.chisquare(np.bincount(draws, minlength=7)).pvalue > 1e-3
    assert draws.min() == 0 and draws.max() == 6
    assert np.array_equal(draws, _draws(7, 1, 20000, 7))
    assert not np.array_equal(draws, _draws(8, 1, 20000, 7))
    assert not np.array_equal(draws, _draws(7, 2, 20000, 7))


@njit
def _candidates(by, bx, r, h, height, width, in_valid, count, seed):
    out = np.empty((count, 2), np.int64)
    for k in range(count):
        _, out[k, 0], out[k, 1] = K.draw_candidate(K.rng_seed(seed, 5, k), by, bx, r, h, height, width, in_valid)
    return out


def _brute_force_window(b, r, lo, hi):
    """Every centre within ``r`` of ``b`` whose patch lies in the image, by enumeration."""
    return {c for c in range(b - r, b + r + 1) if lo <= c <= hi}


@pytest.mark.parametrize("height, width", [(40, 40), (23, 57)])
def test_random_search_draws_only_inside_the_valid_range(height, width):
    h = 3
    rng = np.random.default_rng(0)
    for _ in range(12):
        by = int(rng.integers(h, height - h))
        bx = int(rng.integers(h, width - h))
        for r in (1, 2, 5, 17, max(height, width)):
            draws = _candidates(by, bx, r, h, height, width, True, 4000, 11)
            want_y = _brute_force_window(by, r, h, height - 1 - h)
            want_x = _brute_force_window(bx, r, h, width - 1 - h)
            # Every draw is a valid centre within r of the best, and every such
            # centre can be drawn (4000 draws over at most 51 values per axis).
            assert set(draws[:, 0].tolist()) == want_y
            assert set(draws[:, 1].tolist()) == want_x
            if len(want_y) > 1:  # uniform over the window
                assert stats.chisquare(np.bincount(draws[:, 0] - min(want_y))).pvalue > 1e-4
    # The old draws cover the whole window, so at the image size most fall outside.
    old = _candidates(20, 20, 40, h, 40, 40, False, 4000, 11)
    assert set(old[:, 0].tolist()) == set(range(-20, 61))
    inside = ((old >= h) & (old <= 40 - 1 - h)).all(axis=1).mean()
    assert inside < 0.3


def test_search_valid_keeps_patchmatch_honest_and_converging():
    from bench.inputs.data import get_source

    img = get_source("builtin", size=64).load("coffee-000")[:48, :48]
    hole = np.zeros((48, 48), bool)
    hole[18:30, 16:28] = True
    p = PatchParams(size=7, pm_iters=8, seed=3, search="valid")
    lv = make_level(np.ascontiguousarray(img, np.float32), hole, 7)
    K.random_init(lv.ty, lv.src_y, lv.src_x, p.seed, 1, lv.ny, lv.nx, lv.d2)
    _search(lv, p, _full_counts(lv, 3), 0, 0, np.zeros(1, np.int64))
    ref_d2, _, _ = brute_force(lv.data, lv, 7)
    assert lv.src_ok[lv.ny, lv.nx].all()
    assert (lv.d2 >= ref_d2 - 1e-6).all()
    assert np.isclose(lv.d2, ref_d2, rtol=1e-5, atol=1e-9).mean() >= 0.55
