"""The xphoto methods (``shiftmap``, ``fsr``) and ``criminisi``: contract, conventions, hand-checked terms."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner
from scipy import ndimage

import methods
from bench.core.images import ContractError, blank_hole, composite

SPECS = ["shiftmap", "fsr", "fsr:quality=best", "criminisi", "criminisi:window=0", "criminisi:window=8,patch=7"]


@pytest.fixture
def crop(small_image) -> np.ndarray:
    """A 48x48 real crop (keeps the slow ``fsr:quality=best`` under a few seconds)."""
    return np.ascontiguousarray(small_image[8:56, 8:56])


def _rect(shape, y0, y1, x0, x1) -> np.ndarray:
    mask = np.zeros(shape, bool)
    mask[y0:y1, x0:x1] = True
    return mask


def _hole_psnr(out, ref, mask) -> float:
    mse = float(((out[mask].astype(np.float64) - ref[mask]) ** 2).mean())
    return float("inf") if mse == 0 else -10 * np.log10(mse)


# --------------------------------------------------------------------------- every method


@pytest.mark.parametrize("spec", SPECS)
def test_fills_the_hole_and_keeps_the_contract(spec, crop):
    # Lifted to [0.5, 1] so that a hole left at its blanked 0 cannot pass for dark content.
    image = (0.5 + 0.5 * crop).astype(np.float32)
    mask = _rect(image.shape[:2], 14, 30, 10, 34) | _rect(image.shape[:2], 0, 8, 40, 48)  # one touches the border
    out = methods.create(spec).inpaint(blank_hole(image, mask), mask)
    assert out.dtype == np.float32 and out.shape == image.shape
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
    final = composite(out, image, mask)
    np.testing.assert_array_equal(final[~mask], image[~mask])
    assert out[mask].min() > 0.4
    # These methods keep the known pixels themselves (not only after compositing).
    np.testing.assert_array_equal(out[~mask], image[~mask])


def test_registry_and_cli_list_them():
    names = {info.name for info in methods.available()}
    assert {"shiftmap", "fsr", "criminisi"} <= names
    from bench.cli import cli

    res = CliRunner().invoke(cli, ["list", "methods"])
    assert res.exit_code == 0
    for text in ("shiftmap", "fsr", "quality=fast", "criminisi", "patch=9, window=64"):
        assert text in res.output


# --------------------------------------------------------------------------- xphoto


@pytest.mark.parametrize("spec", ["shiftmap", "fsr", "fsr:quality=best"])
def test_xphoto_mask_convention_fill_approaches_the_constant(spec):
    # xphoto reads nonzero as KNOWN. Were the mask passed the other way round,
    # the "hole" would be the whole frame and the blanked zeros would leak in.
    colour = np.array([0.2, 0.6, 0.9], np.float32)
    image = np.broadcast_to(colour, (40, 40, 3)).copy()
    mask = _rect((40, 40), 12, 28, 10, 26)
    out = methods.create(spec).inpaint(blank_hole(image, mask), mask)
    np.testing.assert_allclose(out[mask], np.broadcast_to(colour, out[mask].shape), atol=2.5 / 255)


def test_xphoto_conventions_of_the_raw_call():
    # The raw OpenCV call, to pin what the wrapper converts: nonzero = known.
    import cv2

    image = np.full((32, 32, 3), 120, np.uint8)
    hole = _rect((32, 32), 10, 20, 10, 20)
    src = image.copy()
    src[hole] = 0
    dst = np.zeros_like(src)
    cv2.xphoto.inpaint(src, np.where(hole, 0, 255).astype(np.uint8), dst, cv2.xphoto.INPAINT_FSR_FAST)
    assert np.abs(dst[hole].astype(int) - 120).max() <= 2
    dst = np.zeros_like(src)
    cv2.xphoto.inpaint(src, np.where(hole, 255, 0).astype(np.uint8), dst, cv2.xphoto.INPAINT_FSR_FAST)
    assert np.abs(dst[hole].astype(int) - 120).min() > 100  # inverted mask: the hole stays black


def test_xphoto_options_and_bad_inputs(crop):
    assert methods.create("fsr").algo == "fsr_fast"
    m = methods.create("fsr:quality=best")
    assert m.algo == "fsr_best" and m.spec == "fsr:quality=best"
    with pytest.raises(ValueError, match="quality='good'"):
        methods.create("fsr:quality=good")
    with pytest.raises(ValueError, match="nothing to fill from"):
        methods.create("shiftmap").inpaint(crop, np.ones(crop.shape[:2], bool))
    with pytest.raises(ContractError, match="mask"):
        methods.create("fsr").inpaint(crop, np.zeros(crop.shape[:2], np.uint8))
    no_hole = np.zeros(crop.shape[:2], bool)
    np.testing.assert_array_equal(methods.create("shiftmap").inpaint(crop, no_hole), crop)


# --------------------------------------------------------------------------- criminisi: whole method


def _stripes(h: int, w: int) -> np.ndarray:
    # Vertical stripes of period 5 with five distinct colours: any known column
    # fixes the phase, so exemplar copying must reproduce them exactly.
    palette = np.array(
        [[0.9, 0.1, 0.1], [0.1, 0.8, 0.2], [0.2, 0.2, 0.9], [0.95, 0.9, 0.1], [0.1, 0.1, 0.1]], np.float32
    )
    return np.ascontiguousarray(np.broadcast_to(palette[np.arange(w) % 5], (h, w, 3)))


@pytest.mark.parametrize(
    "rect",
    [(16, 30, 15, 33), (0, 12, 0, 14), (30, 48, 36, 48)],
    ids=["centre", "top-left corner", "bottom-right corner"],
)
def test_criminisi_completes_stripes_exactly(rect):
    image = _stripes(48, 48)
    mask = _rect((48, 48), *rect)
    out = methods.create("criminisi").inpaint(blank_hole(image, mask), mask)
    assert _hole_psnr(out, image, mask) > 40.0


def test_criminisi_same_output_on_any_thread_count(crop):
    import numba

    mask = _rect(crop.shape[:2], 10, 30, 12, 36)
    method = methods.create("criminisi")
    first = method.inpaint(blank_hole(crop, mask), mask)
    np.testing.assert_array_equal(method.inpaint(blank_hole(crop, mask), mask), first)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        np.testing.assert_array_equal(method.inpaint(blank_hole(crop, mask), mask), first)
    finally:
        numba.set_num_threads(before)


def test_criminisi_empty_window_falls_back_to_the_whole_image(crop):
    # Within 1 px of a front pixel every patch overlaps the hole, so window=1
    # never holds a source: each step must search the whole image instead.
    mask = _rect(crop.shape[:2], 10, 30, 12, 36)
    whole = methods.create("criminisi:window=0").inpaint(blank_hole(crop, mask), mask)
    np.testing.assert_array_equal(methods.create("criminisi:window=1").inpaint(blank_hole(crop, mask), mask), whole)
    assert not np.array_equal(methods.create("criminisi:window=6").inpaint(blank_hole(crop, mask), mask), whole)


def test_criminisi_copies_only_known_source_pixels(crop):
    # Every filled pixel is a copy of some originally known pixel of the input.
    mask = _rect(crop.shape[:2], 10, 26, 10, 26)
    out = methods.create("criminisi:patch=5").inpaint(blank_hole(crop, mask), mask)
    known = {tuple(p) for p in crop[~mask]}
    assert all(tuple(p) in known for p in out[mask])


@pytest.mark.parametrize(
    "spec, message",
    [("criminisi:patch=4", "patch=4"), ("criminisi:patch=1", "patch=1"), ("criminisi:window=-1", "window=-1")],
)
def test_criminisi_bad_options_are_named(spec, message):
    with pytest.raises(ValueError, match=message):
        methods.create(spec)


def test_criminisi_bad_inputs_are_named(crop):
    method = methods.create("criminisi")
    with pytest.raises(ValueError, match="no fully known 9x9 patch"):
        method.inpaint(crop, np.ones(crop.shape[:2], bool))
    with pytest.raises(ContractError, match="image"):
        method.inpaint(crop.astype(np.float64), np.zeros(crop.shape[:2], bool))
    np.testing.assert_array_equal(method.inpaint(crop, np.zeros(crop.shape[:2], bool)), crop)


# --------------------------------------------------------------------------- criminisi: kernels vs twins


def _gradients_twin(gray, known):
    """Slow twin: central differences between known pixels, one-sided where one neighbour is known."""
    height, width = gray.shape
    gy = np.zeros_like(gray)
    gx = np.zeros_like(gray)
    for y in range(height):
        for x in range(width):
            if not known[y, x]:
                continue
            for g, (sy, sx) in ((gy, (1, 0)), (gx, (0, 1))):
                ok = [
                    0 <= y + s * sy < height and 0 <= x + s * sx < width and known[y + s * sy, x + s * sx]
                    for s in (1, -1)
                ]
                if ok[0] and ok[1]:
                    g[y, x] = (gray[y + sy, x + sx] - gray[y - sy, x - sx]) / 2
                elif ok[0]:
                    g[y, x] = gray[y + sy, x + sx] - gray[y, x]
                elif ok[1]:
                    g[y, x] = gray[y, x] - gray[y - sy, x - sx]
    return gy, gx


def _priority_twin(gray, known, conf, h):
    """Slow twin of P = C * D on the front, -1 elsewhere (normals from scipy's Sobel)."""
    height, width = gray.shape
    gy, gx = _gradients_twin(gray, known)
    k = known.astype(float)
    ny = ndimage.sobel(k, axis=0, mode="nearest")
    nx = ndimage.sobel(k, axis=1, mode="nearest")
    front = ~known & ndimage.binary_dilation(known, np.ones((3, 3), bool))
    prio = np.full((height, width), -1.0)
    for y, x in zip(*np.nonzero(front)):
        sl = (slice(max(0, y - h), y + h + 1), slice(max(0, x - h), x + h + 1))
        c = (conf[sl] * known[sl]).sum() / known[sl].size
        mag = np.where(known[sl], gy[sl] ** 2 + gx[sl] ** 2, -1.0)
        i = np.unravel_index(np.argmax(mag), mag.shape)
        n = np.hypot(ny[y, x], nx[y, x])
        d = 0.0 if n == 0 else abs(-gy[sl][i] * nx[y, x] / n + gx[sl][i] * ny[y, x] / n)
        prio[y, x] = c * d
    return prio


def test_gradients_match_numpy_on_a_known_image_and_the_twin_with_a_hole():
    from methods.criminisi import kernels as K

    rng = np.random.default_rng(1)
    gray = rng.random((9, 11))
    known = np.ones((9, 11), bool)
    gy = np.zeros_like(gray)
    gx = np.zeros_like(gray)
    K.gradients(gray, known, gy, gx, 0, 9, 0, 11)
    ref_y, ref_x = np.gradient(gray)  # central inside, one-sided at the border
    np.testing.assert_allclose(gy, ref_y, atol=1e-12)
    np.testing.assert_allclose(gx, ref_x, atol=1e-12)
    known = rng.random((9, 11)) > 0.3
    K.gradients(gray, known, gy, gx, 0, 9, 0, 11)
    ref_y, ref_x = _gradients_twin(gray, known)
    np.testing.assert_allclose(gy, ref_y, atol=1e-12)
    np.testing.assert_allclose(gx, ref_x, atol=1e-12)


def test_data_term_by_hand():
    # Hole = right half. A ramp along y makes isophotes run along x, straight into
    # the front: D = |gradient| / alpha = 0.1. A ramp along x makes them parallel
    # to the front: D = 0. Confidence 1 everywhere known.
    from methods.criminisi import kernels as K

    known = np.ones((9, 10), bool)
    known[:, 5:] = False
    conf = known.astype(float)
    yy, xx = np.mgrid[0:9, 0:10].astype(float)
    for gray, expected in ((0.1 * yy, 0.1), (0.1 * xx, 0.0)):
        gy = np.zeros_like(gray)
        gx = np.zeros_like(gray)
        prio = np.zeros_like(gray)
        K.gradients(gray, known, gy, gx, 0, 9, 0, 10)
        for y in range(9):
            assert K.normal_at(known, y, 5) == pytest.approx((0.0, -1.0))  # points to the known side
            assert K.data_at(gy, gx, known, y, 5, 1, 1.0) == pytest.approx(expected, abs=1e-12)
        K.priorities(conf, known, gy, gx, prio, 1, 1.0, 0, 9, 0, 10)
        # Front = column 5. With h=1 its patch has 3 known pixels of 9, and at the
        # top and bottom rows 2 of the 6 pixels inside the image.
        np.testing.assert_allclose(prio[1:8, 5], expected * 3 / 9, atol=1e-12)
        np.testing.assert_allclose(prio[[0, 8], 5], expected * 2 / 6, atol=1e-12)
        assert (prio[:, :5] == -1).all() and (prio[:, 6:] == -1).all()


def test_confidence_by_hand():
    from methods.criminisi import kernels as K

    known = np.array([[1, 1, 0], [1, 0, 0], [0, 0, 0]], bool)
    conf = np.array([[1.0, 0.5, 9.0], [0.25, 9.0, 9.0], [9.0, 9.0, 9.0]])  # 9 = never read (missing)
    assert K.confidence_at(conf, known, 1, 1, 1) == pytest.approx((1.0 + 0.5 + 0.25) / 9)
    assert K.confidence_at(conf, known, 0, 0, 1) == pytest.approx((1.0 + 0.5 + 0.25) / 4)  # clipped patch
    assert K.confidence_at(conf, known, 2, 2, 1) == pytest.approx(0.0)


def test_priorities_match_the_brute_force_twin():
    from methods.criminisi import kernels as K

    rng = np.random.default_rng(2)
    for h in (1, 2, 4):
        gray = rng.random((14, 13))
        known = ndimage.binary_opening(rng.random((14, 13)) > 0.4)
        conf = np.where(known, rng.random((14, 13)), 0.0)
        gy = np.zeros_like(gray)
        gx = np.zeros_like(gray)
        prio = np.zeros_like(gray)
        K.gradients(gray, known, gy, gx, 0, 14, 0, 13)
        K.priorities(conf, known, gy, gx, prio, h, 1.0, 0, 14, 0, 13)
        np.testing.assert_allclose(prio, _priority_twin(gray, known, conf, h), atol=1e-12)
        # Normals against scipy's Sobel directly.
        for y, x in zip(*np.nonzero(~known)):
            ny, nx = K.normal_at(known, y, x)
            ry = ndimage.sobel(known.astype(float), axis=0, mode="nearest")[y, x]
            rx = ndimage.sobel(known.astype(float), axis=1, mode="nearest")[y, x]
            n = np.hypot(ry, rx)
            assert (ny, nx) == pytest.approx((ry / n, rx / n) if n else (0.0, 0.0), abs=1e-12)


def test_best_exemplar_matches_brute_force_ssd():
    from methods.criminisi import kernels as K
    from methods.criminisi.inpaint import source_centres

    rng = np.random.default_rng(3)
    lab = rng.random((20, 22, 3)).astype(np.float32)
    known = np.ones((20, 22), bool)
    known[6:13, 8:15] = False
    h = 2
    src_ok = source_centres(known, h)
    # source_centres against a direct check of every patch.
    for y in range(20):
        for x in range(22):
            inside = h <= y < 20 - h and h <= x < 22 - h
            assert src_ok[y, x] == (inside and known[y - h : y + h + 1, x - h : x + h + 1].all())
    for py, px, win in ((6, 8, None), (12, 14, None), (9, 7, (3, 17, 2, 20))):
        y0, y1, x0, x1 = win or (0, 20, 0, 22)
        sy, sx, d = K.best_exemplar(lab, known, src_ok, py, px, h, y0, y1, x0, x1)
        best = (np.inf, -1, -1)
        for y in range(y0, y1):
            for x in range(x0, x1):
                if not src_ok[y, x]:
                    continue
                acc = 0.0
                for dy in range(-h, h + 1):
                    for dx in range(-h, h + 1):
                        if known[py + dy, px + dx]:
                            acc += float(((lab[y + dy, x + dx] - lab[py + dy, px + dx]) ** 2).sum())
                if acc < best[0]:
                    best = (acc, y, x)
        assert (sy, sx) == best[1:] and d == pytest.approx(best[0], rel=1e-5)
