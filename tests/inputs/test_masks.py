"""Seeded masks: the study's protocol (1-3 rectangles, union <= 25 %), determinism, manifests."""

import json
import subprocess
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.inputs.masks import MAX_AREA, center_rect, make_mask, manifest, rects_to_mask


@settings(max_examples=200, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    image_id=st.text(min_size=1, max_size=20),
    h=st.integers(16, 400),
    w=st.integers(16, 400),
)
def test_rect_masks_follow_the_protocol(seed, image_id, h, w):
    mask, rects = make_mask(seed, image_id, (h, w), "rects")
    assert mask.dtype == np.bool_ and mask.shape == (h, w)
    assert 1 <= len(rects) <= 3
    assert 0 < mask.mean() <= MAX_AREA
    for r in rects:  # every rectangle lies inside the image and is not empty
        assert r.height >= 1 and r.width >= 1
        assert 0 <= r.top and r.top + r.height <= h and 0 <= r.left and r.left + r.width <= w
    assert np.array_equal(mask, rects_to_mask(rects, (h, w)))


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 1000), image_id=st.text(min_size=1, max_size=10))
def test_masks_are_a_pure_function_of_seed_id_and_size(seed, image_id):
    a, _ = make_mask(seed, image_id, (160, 160))
    b, _ = make_mask(seed, image_id, (160, 160))
    assert np.array_equal(a, b)


def test_masks_differ_between_images_and_seeds():
    base, _ = make_mask(0, "000001", (160, 160))
    assert not np.array_equal(base, make_mask(1, "000001", (160, 160))[0])
    assert not np.array_equal(base, make_mask(0, "000002", (160, 160))[0])


def test_all_counts_of_rectangles_occur():
    counts = {len(make_mask(0, f"img{i}", (160, 160))[1]) for i in range(200)}
    assert counts == {1, 2, 3}


def test_masks_identical_in_another_process():
    code = (
        "import json; from bench.inputs.masks import make_mask, manifest;"
        "items={f'i{k}': make_mask(7, f'i{k}', (160, 160)) for k in range(30)};"
        "print(json.dumps(manifest(7, 'rects', items)['sha256']))"
    )
    other = json.loads(subprocess.check_output([sys.executable, "-c", code], text=True))
    items = {f"i{k}": make_mask(7, f"i{k}", (160, 160)) for k in range(30)}
    assert manifest(7, "rects", items)["sha256"] == other


def test_manifest_hash_changes_with_any_mask():
    items = {f"i{k}": make_mask(0, f"i{k}", (64, 64)) for k in range(5)}
    h1 = manifest(0, "rects", items)["sha256"]
    mask, rects = items["i3"]
    flipped = mask.copy()
    flipped[0, 0] = not flipped[0, 0]
    items["i3"] = (flipped, rects)
    assert manifest(0, "rects", items)["sha256"] != h1


def test_center_family_is_one_64px_square():
    mask, rects = make_mask(0, "x", (160, 160), "center")
    assert len(rects) == 1 and mask.sum() == 64 * 64
    assert rects[0].top == 48 and rects[0].left == 48
    assert center_rect((100, 100)).height == 40


# Pinned from the code as it stood before mask families became a registry:
# the study's rects masks, and therefore every earlier run's mask hash, must never change.
PINNED_RECTS = [
    (0, "a", (160, 160), "3702ba34454e372ed601a920e5712e03a7be6405d848fad3a90f44a1e745a29d"),
    (0, "b", (160, 160), "abeb51b3263914432b72500f3375fd3fe9e2e620beac3da44c180072e88d96fa"),
    (0, "c", (160, 160), "0f3e075b477f136b8a88b277308ee3d374ae01e918fa9ec678bce8b272289293"),
    (3, "a", (120, 200), "39bd4fb8836011fe1f615a1fdee6bc8f6b13eeb4d5af9515a3d1fe90e0bf817d"),
    (7, "000123", (178, 97), "628b516cbf89eca3b86db41a62b3858e710c6026f0d9ecddbacc37a3a5832500"),
]


def test_rects_masks_are_pinned():
    from bench.inputs.masks import mask_digest

    for seed, image_id, shape, digest in PINNED_RECTS:
        mask, _ = make_mask(seed, image_id, shape)
        assert mask_digest(image_id, mask) == digest, (seed, image_id, shape)
    mask, _ = make_mask(0, "a", (160, 160), "rects")
    assert mask_digest("a", mask) == PINNED_RECTS[0][3]


def test_center_masks_are_pinned():
    from bench.inputs.masks import mask_digest

    assert mask_digest("x", make_mask(0, "x", (160, 160), "center")[0]) == (
        "041d8174942041782088c7c972607ac9075093ea2d2ec6b187255eec09b50e2c"
    )
    assert mask_digest("x", make_mask(0, "x", (100, 100), "center")[0]) == (
        "fe8faf0a40b214ee264f28d4122874cd6cffe71e5534fd13756a6f3f4db52d18"
    )


def test_baseline_mask_hash_still_holds():
    # results/baseline.json was written by an earlier `bench run` (builtin, n=32, seed 0, rects):
    # the same ids must still give the same manifest hash, or the regression gate compares other holes.
    from pathlib import Path

    from bench.inputs.data import get_source

    baseline = json.loads((Path(__file__).resolve().parents[2] / "results" / "baseline.json").read_text())["identity"]
    ids = get_source("builtin", None, split="test", size=160).ids()[: baseline["n"]]
    items = {i: make_mask(baseline["seed"], i, (160, 160), baseline["mask_family"]) for i in ids}
    assert manifest(baseline["seed"], baseline["mask_family"], items)["sha256"] == baseline["mask_sha256"]


# ---------------------------------------------------------------- the registry of families

import math  # noqa: E402

import cv2  # noqa: E402
import pytest  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from scipy.stats import ks_2samp  # noqa: E402

from bench.cli import cli  # noqa: E402
from bench.inputs.masks import MaskError, available, get_family, mask_digest, mask_from_entry  # noqa: E402
from bench.inputs.masks.freeform import freeform_segments  # noqa: E402
from bench.inputs.masks.lama import PRESETS, painted_width, stroke_segments  # noqa: E402
from bench.inputs.masks.strokes import Segment, rasterise  # noqa: E402

GENERATED = ["rects", "center", "thin", "medium", "thick", "freeform"]
RANDOM = ["rects", "thin", "medium", "thick", "freeform"]


def test_every_family_is_registered_and_listed():
    assert {i.name for i in available()} == set(GENERATED) | {"file"}
    res = CliRunner().invoke(cli, ["list", "masks"])
    assert res.exit_code == 0, res.output
    for name in GENERATED + ["file"]:
        assert f"\n{name} " in "\n" + res.output
    assert "(default)" in res.output.splitlines()[[l.split()[0] for l in res.output.splitlines()].index("rects")]


def test_specs_are_canonical_and_bad_specs_are_named():
    assert get_family("rects").spec == "rects"
    assert get_family("rects:max_area=0.25").spec == "rects"  # a spelled-out default names the same masks
    assert get_family(" center:area=0.20 ").spec == "center:area=0.2"
    with pytest.raises(KeyError, match="did you mean thick"):
        get_family("thik")
    with pytest.raises(MaskError, match="has no option 'width'.*valid: area"):
        get_family("center:width=3")
    with pytest.raises(MaskError, match="area='big' is not a valid float"):
        get_family("center:area=big")
    with pytest.raises(MaskError, match=r"area=1.5 must be in \(0, 1\)"):
        get_family("center:area=1.5")
    with pytest.raises(MaskError, match="needs a folder"):
        get_family("file")
    with pytest.raises(MaskError, match="no such folder"):
        get_family("file:dir=/nonexistent/masks")


@pytest.mark.parametrize("family", GENERATED)
def test_every_family_is_deterministic_and_keeps_the_contract(family):
    for shape in [(160, 160), (97, 211)]:
        for image_id in ["a", "b", "000123"]:
            mask, rects = make_mask(5, image_id, shape, family)
            again, _ = make_mask(5, image_id, shape, family)
            assert mask.dtype == np.bool_ and mask.shape == shape
            assert 0 < mask.sum() < mask.size
            assert np.array_equal(mask, again)
            if rects:
                assert np.array_equal(mask, rects_to_mask(rects, shape))
    if family in RANDOM:
        base = make_mask(0, "a", (160, 160), family)[0]
        assert not np.array_equal(base, make_mask(0, "b", (160, 160), family)[0])
        assert not np.array_equal(base, make_mask(1, "a", (160, 160), family)[0])


@pytest.mark.parametrize("family", ["thin", "medium", "thick", "freeform"])
def test_stroke_masks_identical_in_another_process(family):
    code = (
        "from bench.inputs.masks import make_mask, mask_digest;"
        f"print(','.join(mask_digest(f'i{{k}}', make_mask(3, f'i{{k}}', (128, 96), '{family}')[0]) "
        "for k in range(5)))"
    )
    other = subprocess.check_output([sys.executable, "-c", code], text=True).strip()
    assert other == ",".join(mask_digest(f"i{k}", make_mask(3, f"i{k}", (128, 96), family)[0]) for k in range(5))


def test_center_area_option_gives_that_area():
    for shape in [(160, 160), (120, 200)]:
        mask, (rect,) = make_mask(0, "x", shape, "center:area=0.2")
        assert abs(mask.mean() - 0.2) < 0.01
        assert rect.height == rect.width
        assert (
            abs((rect.top + rect.height / 2) - shape[0] / 2) <= 1
            and abs((rect.left + rect.width / 2) - shape[1] / 2) <= 1
        )
    with pytest.raises(MaskError, match="does not fit"):
        make_mask(0, "x", (40, 400), "center:area=0.5")


# ---------------------------------------------------------------- strokes


def _capsule_reference(seg: Segment, shape) -> np.ndarray:
    """Union of scikit-image discs of radius width/2 centred every 0.05 px along the segment."""
    from skimage.draw import disk

    out = np.zeros(shape, dtype=bool)
    steps = max(1, int(seg.length / 0.05))
    for t in np.linspace(0, 1, steps + 1):
        rr, cc = disk(
            (seg.y0 + t * (seg.y1 - seg.y0), seg.x0 + t * (seg.x1 - seg.x0)), seg.width / 2 + 1e-9, shape=shape
        )
        out[rr, cc] = True
    return out


@pytest.mark.parametrize(
    "seg",
    [Segment(10, 12, 50, 40, 7), Segment(5, 30, 5, 30, 9), Segment(-5, 20, 30, 70, 12.5), Segment(20, 20, 60, 21, 1)],
)
def test_segment_raster_is_the_capsule(seg):
    ours, ref = rasterise([seg], (64, 64)), _capsule_reference(seg, (64, 64))
    assert (ours & ref).sum() / (ours | ref).sum() > 0.97


def test_segment_width_is_its_diameter():
    mask = rasterise([Segment(10, 30, 90, 30, 9)], (64, 100))
    assert mask[:, 50].sum() == 9  # rows 26..34: centres within 4.5 px of row 30
    disc = rasterise([Segment(50, 50, 50, 50, 40)], (100, 100))
    assert abs(disc.sum() / (math.pi * 20**2) - 1) < 0.03


@pytest.mark.parametrize("thickness", [2, 5, 6, 9, 14, 57, 104])  # LaMa draws 5 and up
def test_painted_width_is_what_cv2_line_paints(thickness):
    # LaMa painted its strokes with cv2.line; our capsules take the width it really paints.
    canvas = np.zeros((300, 300), np.uint8)
    cv2.line(canvas, (50, 150), (250, 150), 1, thickness)
    assert canvas[:, 150].sum() == painted_width(thickness)


def _lama_reference(rs: np.random.RandomState, shape, preset) -> np.ndarray:
    """LaMa's published procedure written out independently: np.random and cv2.line, as their code draws."""
    h, w = shape
    weights = np.array([1.0] + ([preset.boxes.proba] if preset.boxes else []))
    while True:
        canvas = np.zeros(shape, np.float32)
        if rs.choice(len(weights), p=weights / weights.sum()) == 0:
            s = preset.strokes
            for i in range(rs.randint(s.min_times, s.max_times + 2)):
                x, y = rs.randint(w), rs.randint(h)
                for _ in range(1 + rs.randint(5)):
                    angle = 0.01 + rs.randint(4)
                    angle = 2 * math.pi - angle if i % 2 == 0 else angle
                    length, thickness = 10 + rs.randint(s.max_len), 5 + rs.randint(s.max_width)
                    x1 = int(np.clip(int(x + length * np.sin(angle)), 0, w))
                    y1 = int(np.clip(int(y + length * np.cos(angle)), 0, h))
                    cv2.line(canvas, (x, y), (x1, y1), 1.0, thickness)
                    x, y = x1, y1
        else:
            b = preset.boxes
            top = min(b.max_size + 1, h - 2 * b.margin, w - 2 * b.margin)
            for _ in range(rs.randint(b.min_times, b.max_times + 1)):
                bw, bh = rs.randint(b.min_size, top), rs.randint(b.min_size, top)
                x, y = rs.randint(b.margin, w - b.margin - bw + 1), rs.randint(b.margin, h - b.margin - bh + 1)
                canvas[y : y + bh, x : x + bw] = 1
        if 0 < canvas.mean() <= 0.5:
            return canvas > 0


# Mean hole area at 256 px of LaMa's own procedure (2000 masks of _lama_reference each): thin 0.29,
# medium 0.24, thick 0.26 (standard errors 0.003). Thin strokes are narrow but many (4-51 of up to
# 5 segments), so their area matches thick's; what grows from thin to thick is the stroke width.
LAMA_MEAN_AREA = {"thin": 0.29, "medium": 0.24, "thick": 0.26}


@pytest.mark.parametrize("name", ["thin", "medium", "thick"])
def test_lama_areas_match_lama_procedure(name):
    rs = np.random.RandomState(2022)
    ref = np.array([_lama_reference(rs, (256, 256), PRESETS[name]).mean() for _ in range(200)])
    ours = np.array([make_mask(0, f"img{k}", (256, 256), name)[0].mean() for k in range(200)])
    assert abs(ours.mean() - ref.mean()) < 0.035, (ours.mean(), ref.mean())
    assert abs(ours.mean() - LAMA_MEAN_AREA[name]) < 0.035
    assert ours.max() <= 0.5 and ours.min() > 0  # max_tamper_area
    # the whole distribution, not only the mean (boxes make medium's and thick's bimodal)
    assert ks_2samp(ours, ref).pvalue > 0.01


@pytest.mark.parametrize("name", ["thin", "medium", "thick"])
@pytest.mark.parametrize("shape", [(256, 256), (160, 160), (120, 300)])
def test_lama_stroke_bounds_scale_with_the_image(name, shape):
    p = PRESETS[name].strokes
    scale = min(shape) / 256
    widths, lengths = [], []
    rng = np.random.default_rng(1)
    for _ in range(50):
        segs = stroke_segments(rng, shape, p)
        widths += [s.width for s in segs]
        lengths += [s.length for s in segs]
        assert all(0 <= s.x1 <= shape[1] and 0 <= s.y1 <= shape[0] for s in segs)
    lo, hi = max(1.0, scale * painted_width(5)), scale * painted_width(5 + p.max_width - 1)
    assert lo - 1e-9 <= min(widths) and max(widths) <= hi + 1e-9
    assert max(lengths) <= scale * (10 + p.max_len - 1) + 1.5  # truncation to integers moves an end < 1 px per axis
    assert max(widths) > 0.8 * hi  # the bound is reached, not just respected
    if shape == (256, 256):  # at LaMa's size every width is one cv2.line paints for a LaMa thickness
        assert set(widths) <= {painted_width(t) for t in range(5, 5 + p.max_width)}


def test_thick_strokes_are_wider_than_medium_than_thin():
    def thickness(name):  # mean largest inscribed radius (distance transform), a width measure blind to area
        return np.mean(
            [
                cv2.distanceTransform(make_mask(0, f"w{k}", (160, 160), name)[0].astype(np.uint8), cv2.DIST_L2, 5).max()
                for k in range(60)
            ]
        )

    thin, medium, thick = thickness("thin"), thickness("medium"), thickness("thick")
    assert thin < medium < thick


def _freeform_reference(rs: np.random.RandomState, h: int, w: int) -> np.ndarray:
    """DeepFill v2's brush_stroke_mask written out independently: np.random and PIL, as its code draws."""
    from PIL import Image, ImageDraw

    radius = math.sqrt(h * h + w * w) / 8
    img = Image.new("L", (w, h), 0)
    draw = ImageDraw.Draw(img)
    for _ in range(rs.randint(1, 4)):
        n = rs.randint(4, 12)
        lo, hi = 2 * math.pi / 5 - rs.uniform(0, 2 * math.pi / 15), 2 * math.pi / 5 + rs.uniform(0, 2 * math.pi / 15)
        angles = [2 * math.pi - rs.uniform(lo, hi) if k % 2 == 0 else rs.uniform(lo, hi) for k in range(n)]
        pts = [(int(rs.randint(0, w)), int(rs.randint(0, h)))]
        for a in angles:
            r = np.clip(rs.normal(radius, radius // 2), 0, 2 * radius)
            pts.append(
                (int(np.clip(pts[-1][0] + r * math.cos(a), 0, w)), int(np.clip(pts[-1][1] + r * math.sin(a), 0, h)))
            )
        width = int(rs.uniform(12, 40))
        draw.line(pts, fill=1, width=width)
        for x, y in pts:
            draw.ellipse((x - width // 2, y - width // 2, x + width // 2, y + width // 2), fill=1)
    return np.asarray(img) > 0


def test_freeform_matches_deepfill_procedure():
    # 1000 masks each at 256 px: reference 0.150, ours 0.149 (standard errors 0.0025).
    rs = np.random.RandomState(2019)
    ref = np.array([_freeform_reference(rs, 256, 256).mean() for _ in range(300)])
    ours = np.array([make_mask(0, f"img{k}", (256, 256), "freeform")[0].mean() for k in range(300)])
    assert abs(ours.mean() - ref.mean()) < 0.025, (ours.mean(), ref.mean())
    assert ks_2samp(ours, ref).pvalue > 0.01
    scale = 160 / 256
    segs = [s for k in range(100) for s in freeform_segments(np.random.default_rng(k), (160, 160))]
    assert min(s.width for s in segs) >= scale * 12 - 1e-9 and max(s.width for s in segs) <= scale * 39 + 1e-9


# ---------------------------------------------------------------- user masks from files


def _write_masks(folder, ids, shape, suffix=".png"):
    folder.mkdir(exist_ok=True)
    masks = {}
    for k, image_id in enumerate(ids):
        mask = np.zeros(shape, dtype=bool)
        mask[5 + k : 20 + k, 10 : 30 + k] = True
        cv2.imwrite(str(folder / f"{image_id}{suffix}"), mask.astype(np.uint8) * 255)
        masks[image_id] = mask
    return masks


def test_file_masks_round_trip(tmp_path):
    masks = _write_masks(tmp_path / "m", ["a", "b[1]", "000123"], (48, 64))
    family = get_family(f"file:dir={tmp_path / 'm'}")
    for image_id, want in masks.items():
        got, rects = family(0, image_id, (48, 64))
        assert np.array_equal(got, want) and rects == []
    # colour and 16-bit files: above half the range is missing, the largest channel counts
    colour = np.zeros((48, 64, 3), np.uint8)
    colour[10:20, 10:20, 2] = 200  # red in BGR
    colour[30:40, 30:40] = 100  # grey below the threshold: known
    cv2.imwrite(str(tmp_path / "m" / "c.png"), colour)
    got, _ = family(0, "c", (48, 64))
    assert got.sum() == 100 and got[15, 15] and not got[35, 35]
    deep = np.zeros((48, 64), np.uint16)
    deep[0:8, 0:8] = 40000
    deep[20:30, 20:30] = 30000
    cv2.imwrite(str(tmp_path / "m" / "d.png"), deep)
    assert family(0, "d", (48, 64))[0].sum() == 64


def test_file_masks_errors_name_the_file(tmp_path):
    _write_masks(tmp_path / "m", ["a"], (48, 64))
    with pytest.raises(MaskError, match=r"no mask for image 'zz' in .*m"):
        make_mask(0, "zz", (48, 64), f"file:dir={tmp_path / 'm'}")
    with pytest.raises(MaskError, match=r"a\.png: mask is 64x48 but image 'a' is 100x80.*resize=1"):
        make_mask(0, "a", (80, 100), f"file:dir={tmp_path / 'm'}")
    big, _ = make_mask(0, "a", (96, 128), f"file:dir={tmp_path / 'm'},resize=1")
    small, _ = make_mask(0, "a", (48, 64), f"file:dir={tmp_path / 'm'}")
    assert np.array_equal(big, np.kron(small, np.ones((2, 2), dtype=bool)))  # nearest neighbour, 2x
    cv2.imwrite(str(tmp_path / "m" / "e.png"), np.zeros((48, 64), np.uint8))
    with pytest.raises(MaskError, match=r"e\.png: the mask of 'e' is empty"):
        make_mask(0, "e", (48, 64), f"file:dir={tmp_path / 'm'}")
    cv2.imwrite(str(tmp_path / "m" / "a.jpg"), np.zeros((48, 64), np.uint8))
    with pytest.raises(MaskError, match="several masks for image 'a'"):
        make_mask(0, "a", (48, 64), f"file:dir={tmp_path / 'm'}")
    (tmp_path / "m" / "junk.png").write_bytes(b"not a png")
    with pytest.raises(MaskError, match=r"junk\.png: not a readable mask image"):
        make_mask(0, "junk", (48, 64), f"file:dir={tmp_path / 'm'}")


# ---------------------------------------------------------------- manifests


def test_manifest_stores_bits_for_strokes_and_rebuilds_every_mask():
    items = {f"i{k}": make_mask(0, f"i{k}", (64, 80), fam) for k, fam in enumerate(["thick", "medium", "rects"] * 3)}
    man = json.loads(json.dumps(manifest(0, "thick", items)))  # as it comes back from masks.json
    assert man["family"] == "thick"
    for image_id, (mask, rects) in items.items():
        entry = man["masks"][image_id]
        assert ("rects" in entry) == bool(rects) and ("bits" in entry) != bool(rects)
        assert np.array_equal(mask_from_entry(image_id, entry), mask)
    entry = dict(man["masks"]["i0"], sha256="0" * 64)
    with pytest.raises(MaskError, match="does not rebuild its mask"):
        mask_from_entry("i0", entry)


def test_rects_manifest_has_no_new_fields():
    man = manifest(0, "rects", {"a": make_mask(0, "a", (64, 64))})
    assert list(man) == ["family", "seed", "count", "sha256", "masks"]
    assert list(man["masks"]["a"]) == ["shape", "rects", "area", "sha256"]


# ---------------------------------------------------------------- the command line


def _run(args):
    return CliRunner().invoke(
        cli, ["run", "--methods", "mean", "--n", "4", "--size", "64", "--metrics", "mse,psnr", "--no-progress", *args]
    )


def test_run_with_lama_masks_end_to_end_and_resume_refuses_other_family(tmp_path):
    from bench.outputs.rundir import RunDir

    out = tmp_path / "run"
    res = _run(["--masks", "thick", "--out", str(out)])
    assert res.exit_code == 0, res.output
    rundir = RunDir(out)
    man = rundir.read_json(rundir.masks)
    config = rundir.read_json(rundir.config)
    assert man["family"] == "thick" and config["identity"]["mask_family"] == "thick" and man["count"] == 4
    for image_id in man["masks"]:
        assert np.array_equal(rundir.load_mask(image_id), make_mask(0, image_id, (64, 64), "thick")[0])
    assert _run(["--masks", "thick", "--out", str(out)]).exit_code == 0  # resume
    res = _run(["--masks", "thin", "--out", str(out)])
    assert res.exit_code != 0 and "different masks" in res.output


def test_run_refuses_unknown_family_with_a_suggestion(tmp_path):
    res = _run(["--masks", "thik", "--out", str(tmp_path / "r")])
    assert res.exit_code == 2 and "did you mean thick" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "r").exists()
    res = CliRunner().invoke(cli, ["ablate", "identity", "--masks", "file:dir=/nonexistent", "--out", str(tmp_path)])
    assert res.exit_code == 2 and "no such folder" in res.output


def test_masks_figure_command(tmp_path):
    res = CliRunner().invoke(
        cli,
        [
            "masks",
            "figure",
            "--out",
            str(tmp_path),
            "--families",
            "rects,center:area=0.1,thin",
            "--examples",
            "2",
            "--n",
            "10",
            "--size",
            "64",
        ],
    )
    assert res.exit_code == 0, res.output
    # Besides the figure and table: the directory's marker and writer lock (bench/core/outdir.py).
    assert {p.name for p in tmp_path.iterdir()} == {
        "masks.png",
        "masks.pdf",
        "areas.csv",
        "areas.md",
        ".inpaint-bench",
        ".lock",
    }
    import pandas as pd

    table = pd.read_csv(tmp_path / "areas.csv")
    assert list(table["family"]) == ["rects", "center:area=0.1", "thin"]
    assert (table["min"] <= table["mean"]).all() and (table["mean"] <= table["max"]).all()
    assert table.loc[0, "max"] <= MAX_AREA and abs(table.loc[1, "mean"] - 0.1) < 0.01


def test_run_with_file_masks_and_a_missing_one(tmp_path):
    from bench.inputs.data import get_source
    from bench.outputs.rundir import RunDir

    ids = get_source("builtin", None, split="test", size=64).ids()[:3]
    want = _write_masks(tmp_path / "m", ids[:2], (64, 64))
    spec = f"file:dir={tmp_path / 'm'}"
    res = _run(["--masks", spec, "--n", "2", "--out", str(tmp_path / "ok")])
    assert res.exit_code == 0, res.output
    rundir = RunDir(tmp_path / "ok")
    assert rundir.read_json(rundir.masks)["family"] == spec
    for image_id in ids[:2]:
        assert np.array_equal(rundir.load_mask(image_id), want[image_id])
    res = _run(["--masks", spec, "--n", "3", "--out", str(tmp_path / "bad")])
    assert res.exit_code == 1 and f"no mask for image '{ids[2]}'" in res.output and "Traceback" not in res.output
    assert not (tmp_path / "bad").exists()


@settings(max_examples=25, deadline=None)
@given(
    family=st.sampled_from(GENERATED),
    seed=st.integers(0, 2**31),
    image_id=st.text(min_size=1, max_size=12),
    h=st.integers(16, 300),
    w=st.integers(16, 300),
)
def test_any_family_any_size_gives_a_proper_hole(family, seed, image_id, h, w):
    mask, rects = make_mask(seed, image_id, (h, w), family)
    assert mask.dtype == np.bool_ and mask.shape == (h, w)
    assert 0 < mask.sum() < mask.size
    if family in ("thin", "medium", "thick"):
        assert mask.mean() <= 0.5
