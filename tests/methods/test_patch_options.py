"""Options of the ``patch`` method: old behaviour pinned, stopping rule, partial-patch init."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

import methods
from bench.core.images import blank_hole
from bench.inputs.masks import make_mask
from methods.patch.inpaint import PatchParams, _onion_partial, _onion_peel, level_tol, make_level
from methods.patch.pyramid import build_pyramid

# The configuration before these options existed, every option spelled out
# (``repr`` of the old default tolerance, 0.1 grey level, parses back exactly).
OLD = f"patch:stop=change,tol={0.1 / 255!r},tol_px=0,init=onion,search=clip,final=search"
HALF_GREY = 0.5 / 255

# Outputs of the code before the options existed (run from a checkout of that version) on 96 px builtin crops with their benchmark masks: hole PSNR (float64),
# distance evaluations, first 16 hex digits of the SHA-256 of the float32 output.
BEFORE = [
    ("astronaut-000", "", 14.384666653584237, 164400, "5bdde665628914c3"),
    ("astronaut-000", ",iters=0", 15.1523970642, 18755, "bfb17a01422a0d19"),
    ("coffee-000", "", 23.749582811894463, 352774, "d66cba4faec4f687"),
    ("coffee-000", ",iters=0", 22.954292101422304, 40849, "dd720ca644fd0713"),
    ("chelsea-000", "", 15.795697757184612, 413420, "84967d3bfeb00527"),
    ("chelsea-000", ",iters=0", 15.16341694304086, 13235, "876d803814dea7da"),
]


def hole_psnr(out, image, mask):
    return 10 * np.log10(1.0 / np.mean((out.astype(np.float64) - image)[mask] ** 2))


@pytest.mark.parametrize("image_id, extra, psnr, evals, digest", BEFORE)
def test_old_options_reproduce_the_code_before_them(image_id, extra, psnr, evals, digest):
    from bench.inputs.data import get_source

    image = get_source("builtin", size=96).load(image_id)
    mask, _ = make_mask(0, image_id, image.shape[:2], "rects")
    m = methods.create(OLD + extra)
    out = m.inpaint(blank_hole(image, mask), mask)
    assert hashlib.sha256(out.tobytes()).hexdigest()[:16] == digest
    assert m.last_stats.distance_evals == evals
    assert hole_psnr(out, image, mask) == pytest.approx(psnr, abs=1e-9)


def periodic_texture(shape=(64, 64), period=(11, 13), seed=0):
    tile = np.random.default_rng(seed).random((*period, 3)).astype(np.float32)
    reps = (shape[0] // period[0] + 1, shape[1] // period[1] + 1, 1)
    return np.ascontiguousarray(np.tile(tile, reps)[: shape[0], : shape[1]])


def test_matches_rule_stops_converged_levels_early():
    # Exact copies of every patch exist, so the field settles and stops moving.
    image = periodic_texture()
    mask = np.zeros(image.shape[:2], bool)
    mask[20:42, 22:44] = True
    m = methods.create("patch:stop=matches,frac=0.3,levels=2")
    out = m.inpaint(blank_hole(image, mask), mask)
    st = m.last_stats
    assert np.abs(out - image)[mask].mean() < 1e-3
    assert len(st.iterations) == 2 and max(st.iterations) < 10
    for changed, searches in zip(st.changed, st.iterations):
        assert len(changed) == searches
        assert changed[-1] < 0.3 and all(c >= 0.3 for c in changed[:-1])
    # The article's rule on the same input needs more iterations.
    old = methods.create("patch:stop=change,levels=2")
    old.inpaint(blank_hole(image, mask), mask)
    assert sum(old.last_stats.iterations) > sum(st.iterations)


def test_matches_rule_fires_on_photos(builtin_images):
    m = methods.create("patch:stop=matches")
    for k, image in enumerate(builtin_images[:3]):
        mask, _ = make_mask(0, f"stop{k}", image.shape[:2], "rects")
        m.inpaint(blank_hole(image, mask), mask)
        assert max(m.last_stats.iterations) < 10, m.last_stats.changed


def test_either_rule_stops_at_the_first_of_the_two_rules():
    # One level: the trajectories of the three rules agree until one stops.
    from bench.inputs.data import get_source

    mask = np.zeros((64, 64), bool)
    mask[20:44, 18:40] = True
    winners = set()
    for image_id in ("rocket-000", "astronaut-000"):
        image = get_source("builtin", size=64).load(image_id)
        for frac in (0.05, 0.3):
            its = {}
            for rule in ("change", "matches", "either"):
                m = methods.create(f"patch:levels=1,init=onion,stop={rule},frac={frac},tol={0.1 / 255!r}")
                m.inpaint(blank_hole(image, mask), mask)
                its[rule] = m.last_stats.iterations[0]
            assert its["either"] == min(its["change"], its["matches"]), (image_id, frac, its)
            winners.add("change" if its["change"] < its["matches"] else "matches")
    assert winners == {"change", "matches"}  # the sky of the rocket photo settles by the article's rule


def test_default_is_the_documented_combination():
    spelled = f"patch:stop=change,tol={HALF_GREY!r},tol_px=6144,init=partial,search=clip,final=field"
    assert methods.create("patch").params == methods.create(spelled).params == PatchParams()


def test_half_grey_level_change_rule_fires_on_photos(builtin_images):
    # The article's tolerance (0.1 grey level) lets nearly every level run all
    # 10 iterations; half a grey level stops each level at the first
    # reconstruction that changes the hole by less, and only then.
    new, old = methods.create("patch:tol_px=0"), methods.create(OLD)
    for k, image in enumerate(builtin_images[:4]):
        mask, _ = make_mask(0, f"tol{k}", image.shape[:2], "rects")
        new.inpaint(blank_hole(image, mask), mask)
        old.inpaint(blank_hole(image, mask), mask)
        st = new.last_stats
        assert sum(st.iterations) < sum(old.last_stats.iterations), (st.iterations, old.last_stats.iterations)
        for residuals, searches in zip(st.residuals, st.iterations):
            assert len(residuals) == searches  # stop=change reconstructs after every search
            assert all(r >= HALF_GREY for r in residuals[:-1])
            assert residuals[-1] < HALF_GREY or searches == 10
        assert st.iterations[-1] < 10  # the finest level, the costly one (coarse ones may run all 10)


@pytest.mark.parametrize(
    "tol, tol_px, pixels, expected",
    [
        (HALF_GREY, 8192, 8192, HALF_GREY),  # the reference hole size: tol itself
        (HALF_GREY, 8192, 16384, 1.0 / 255),  # twice the pixels, twice the tolerance
        (HALF_GREY, 8192, 4096, 0.25 / 255),
        (HALF_GREY, 8192, 100, 0.1 / 255),  # floored at the article's 0.1 grey level
        (HALF_GREY, 0, 100, HALF_GREY),  # tol_px=0: the same tolerance everywhere
        (HALF_GREY, 0, 10**6, HALF_GREY),
        (0.05 / 255, 8192, 100, 0.05 / 255),  # a tol below the article's is its own floor
        (0.05 / 255, 8192, 81920, 0.5 / 255),
    ],
)
def test_level_tolerance_grows_with_the_hole(tol, tol_px, pixels, expected):
    assert level_tol(PatchParams(tol=tol, tol_px=tol_px), pixels) == pytest.approx(expected, rel=1e-12)


def test_each_level_stops_at_its_own_tolerance(builtin_images):
    # On 160 px photos the coarse levels (a few hundred hole pixels) run to the
    # article's tolerance and the finest, 4-16 times the pixels, stops at
    # a looser one; every level stops at the first reconstruction below it.
    m = methods.create("patch")
    looser_finest = 0
    for k, image in enumerate(builtin_images[:4]):
        mask, _ = make_mask(0, f"tolpx{k}", image.shape[:2], "rects")
        m.inpaint(blank_hole(image, mask), mask)
        st = m.last_stats
        _, holes = build_pyramid(np.where(mask[..., None], 0.0, image).astype(np.float32), mask, st.levels)
        pixels = [int(h.sum()) for h in holes[::-1]]  # coarsest first, as in the stats
        assert st.tols == [level_tol(m.params, n) for n in pixels]
        assert st.tols == sorted(st.tols)
        looser_finest += st.tols[0] < st.tols[-1]
        for residuals, searches, tol in zip(st.residuals, st.iterations, st.tols):
            assert all(r >= tol for r in residuals[:-1])
            assert residuals[-1] < tol or searches == 10
    assert looser_finest >= 2


def stripes(shape=(64, 64), period=8, vertical=True):
    """Two-colour stripes: every 7x7 patch has exact copies all along the stripes."""
    y, x = np.mgrid[: shape[0], : shape[1]]
    band = ((x if vertical else y) // (period // 2)) % 2
    return np.stack([0.2 + 0.6 * band, 0.5 - 0.3 * band, 0.3 + 0.4 * band], -1).astype(np.float32)


def init_alone(image, mask, init, seed):
    """The coarsest-level initialisation on one level, nothing after it."""
    p = PatchParams(seed=seed, init=init)
    data = np.ascontiguousarray(image.copy())
    data[mask] = 0.0
    lv = make_level(data, mask, p.size)
    (_onion_partial if init == "partial" else _onion_peel)(lv, p, 0, np.zeros(1, np.int64))
    return lv.data


@pytest.mark.parametrize("vertical", [True, False])
def test_partial_init_alone_continues_stripes(vertical):
    image = stripes(vertical=vertical)
    mask = np.zeros(image.shape[:2], bool)
    mask[20:44, 20:44] = True
    for seed in range(3):
        partial = init_alone(image, mask, "partial", seed)
        onion = init_alone(image, mask, "onion", seed)
        # Measured: the old initialisation reaches 33-43 dB here, the partial one is exact.
        assert np.abs(partial - image)[mask].max() < 1e-6
        assert hole_psnr(onion, image, mask) < 50.0


def test_partial_init_fills_the_hole_from_known_colours_only(small_image):
    mask = np.zeros(small_image.shape[:2], bool)
    mask[18:46, 20:40] = True
    out = init_alone(small_image, mask, "partial", 0)
    assert np.array_equal(out[~mask], small_image[~mask])
    lo, hi = small_image[~mask].min(axis=0), small_image[~mask].max(axis=0)
    assert ((out[mask] >= lo - 1e-6) & (out[mask] <= hi + 1e-6)).all()  # weighted means of known pixels


@pytest.mark.parametrize("spec", ["patch", OLD, "patch:search=valid,final=search", "patch:stop=either"])
def test_options_are_deterministic_on_any_thread_count(spec):
    import numba

    from bench.inputs.data import get_source

    image = get_source("builtin", size=96).load("china-000")
    mask, _ = make_mask(0, "china-000", image.shape[:2], "rects")
    blank = blank_hole(image, mask)
    before = numba.get_num_threads()
    a = methods.create(spec).inpaint(blank, mask)
    try:
        numba.set_num_threads(1)
        b = methods.create(spec).inpaint(blank, mask)
    finally:
        numba.set_num_threads(before)
    assert np.array_equal(a, b)
    assert np.array_equal(a, methods.create(spec).inpaint(blank, mask))


@pytest.mark.parametrize(
    "spec, message",
    [
        ("patch:stop=often", "stop='often'"),
        ("patch:init=random", "init='random'"),
        ("patch:search=all", "search='all'"),
        ("patch:final=none", "final='none'"),
        ("patch:frac=1.5", "frac"),
        ("patch:tol_px=-1", "tol_px=-1"),
    ],
)
def test_bad_option_values_are_named(spec, message):
    with pytest.raises(ValueError, match=message):
        methods.create(spec)
