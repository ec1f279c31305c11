"""The method registry: specs, type conversion, errors, and the classic methods."""

import cv2
import numpy as np
import pytest
from skimage.restoration import inpaint_biharmonic

import methods
from bench.core.images import from_uint8, to_uint8
from methods.registry import canonical_spec, parse_spec


def test_parse_and_canonical_spec():
    assert parse_spec("patch:size=9,features=0") == ("patch", {"size": "9", "features": "0"})
    assert parse_spec("telea") == ("telea", {})
    assert canonical_spec("patch", {"size": "9", "features": "0"}) == "patch:features=0,size=9"
    for bad in ("telea:radius", "telea:=3", ":x=1", "telea:radius=1,radius=2"):
        with pytest.raises(ValueError):
            parse_spec(bad)


def test_create_converts_values_and_names_the_variant():
    m = methods.create("telea:radius=5")
    assert m.radius == 5.0 and isinstance(m.radius, float)
    assert m.spec == "telea:radius=5"
    assert methods.create("telea").spec == "telea"


def test_bad_specs_give_clear_errors():
    with pytest.raises(KeyError, match="did you mean telea"):
        methods.create("tela")
    with pytest.raises(ValueError, match="valid: radius"):
        methods.create("telea:size=3")
    with pytest.raises(ValueError, match="not a valid float"):
        methods.create("telea:radius=big")


def test_classic_methods_listed():
    names = {m.name for m in methods.available()}
    assert {"telea", "ns", "biharmonic", "mean"} <= names


def test_telea_and_ns_are_opencv(small_image):
    mask = np.zeros(small_image.shape[:2], bool)
    mask[20:40, 10:30] = True
    for spec, flag in (("telea", cv2.INPAINT_TELEA), ("ns", cv2.INPAINT_NS)):
        ours = methods.create(spec).inpaint(small_image, mask)
        ref = from_uint8(cv2.inpaint(to_uint8(small_image), mask.astype(np.uint8), 3.0, flag))
        assert np.array_equal(ours, ref)


def test_biharmonic_is_scikit_image(small_image):
    mask = np.zeros(small_image.shape[:2], bool)
    mask[5:15, 40:60] = True
    ours = methods.create("biharmonic").inpaint(small_image, mask)
    ref = inpaint_biharmonic(small_image.astype(np.float64), mask, channel_axis=-1)
    assert np.allclose(ours, np.clip(ref, 0, 1), atol=1e-6)


def test_mean_fill_hand_computed():
    img = np.zeros((4, 4, 3), np.float32)
    img[:, :2] = 0.2
    img[:, 2:] = 0.6
    mask = np.zeros((4, 4), bool)
    mask[0, 0] = mask[3, 3] = True
    out = methods.create("mean").inpaint(img, mask)
    known_mean = (7 * 0.2 + 7 * 0.6) / 14
    assert np.allclose(out[mask], known_mean) and np.array_equal(out[~mask], img[~mask])
