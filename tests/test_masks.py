"""Seeded masks: the study's protocol (1-3 rectangles, union <= 25 %), determinism, manifests."""

import json
import subprocess
import sys

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.masks import MAX_AREA, center_rect, make_mask, manifest, rects_to_mask


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**31), image_id=st.text(min_size=1, max_size=20),
       h=st.integers(16, 400), w=st.integers(16, 400))
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
    code = ("import json; from bench.masks import make_mask, manifest;"
            "items={f'i{k}': make_mask(7, f'i{k}', (160, 160)) for k in range(30)};"
            "print(json.dumps(manifest(7, 'rects', items)['sha256']))")
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
