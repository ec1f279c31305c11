"""Data sources on real files, including the bad ones a researcher's folder will contain."""

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from bench.core.images import check_image, to_uint8
from bench.inputs.data import Builtin, CelebA, Folder, ImageLoadError, Preprocess, get_source
from bench.inputs.data.builtin import PHOTOS
from bench.inputs.data.io import read_image
from tests.conftest import CELEBA_ROOT, needs_celeba


@pytest.fixture(scope="module")
def photo8() -> np.ndarray:
    """A real 8-bit RGB photo crop (96 x 120)."""
    img = get_source("builtin", size=120).load("coffee-001")[:96]
    return to_uint8(img)


@pytest.fixture
def messy_folder(tmp_path: Path, photo8: np.ndarray) -> Path:
    Image.fromarray(photo8).save(tmp_path / "a_good.jpg", quality=95)
    Image.fromarray(photo8).convert("L").save(tmp_path / "b_gray.png")
    rgba = np.dstack([photo8, np.full(photo8.shape[:2], 255, np.uint8)])
    rgba[:10, :10, 3] = 0  # transparent corner -> white
    Image.fromarray(rgba, "RGBA").save(tmp_path / "c_rgba.png")
    cv2.imwrite(str(tmp_path / "d_16bit.png"), (photo8[..., ::-1].astype(np.uint16) * 257))
    Image.fromarray(photo8[:8, :8]).save(tmp_path / "e_tiny.png")
    (tmp_path / "f_corrupt.jpg").write_bytes(np.random.default_rng(0).bytes(5000))
    full = (tmp_path / "a_good.jpg").read_bytes()
    (tmp_path / "g_truncated.jpg").write_bytes(full[: len(full) // 2])
    (tmp_path / "h_empty.png").write_bytes(b"")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def test_good_gray_rgba_and_16bit_are_converted(messy_folder, photo8):
    ref = photo8.astype(np.float32) / 255
    good = check_image(read_image(messy_folder / "a_good.jpg"))
    assert np.abs(good - ref).mean() < 0.02  # JPEG at quality 95
    gray = check_image(read_image(messy_folder / "b_gray.png"))
    assert np.array_equal(gray[..., 0], gray[..., 1]) and np.array_equal(gray[..., 1], gray[..., 2])
    expected_gray = np.asarray(Image.fromarray(photo8).convert("L"), np.float32) / 255
    assert np.allclose(gray[..., 0], expected_gray, atol=1e-6)
    rgba = check_image(read_image(messy_folder / "c_rgba.png"))
    assert np.allclose(rgba[:10, :10], 1.0) and np.allclose(rgba[20:, 20:], ref[20:, 20:], atol=1e-6)
    deep = check_image(read_image(messy_folder / "d_16bit.png"))
    assert np.allclose(deep, ref, atol=1e-6)


@pytest.mark.parametrize(
    "name, reason",
    [
        ("e_tiny.png", "too small"),
        ("f_corrupt.jpg", "corrupt"),
        ("g_truncated.jpg", "truncated"),
        ("h_empty.png", "empty"),
    ],
)
def test_bad_files_raise_with_the_file_named(messy_folder, name, reason):
    with pytest.raises(ImageLoadError) as info:
        read_image(messy_folder / name)
    assert name in str(info.value) and reason in str(info.value)


def test_folder_skips_bad_files_and_lists_them(messy_folder):
    source = Folder(messy_folder, Preprocess(size=64))
    assert "notes" not in source.ids()
    samples, skipped = source.take(None)
    assert [s.id for s in samples] == ["a_good", "b_gray", "c_rgba", "d_16bit"]
    assert {s["id"] for s in skipped} == {"e_tiny", "f_corrupt", "g_truncated", "h_empty"}
    assert all(s.image.shape == (64, 64, 3) for s in samples)


def test_take_fills_up_past_bad_files(messy_folder):
    samples, skipped = Folder(messy_folder).take(4)
    assert len(samples) == 4 and skipped == []
    samples, skipped = Folder(messy_folder).take(5)  # only 4 usable files exist
    assert len(samples) == 4 and len(skipped) == 4


def test_preprocess_center_crop_and_resize():
    img = np.zeros((218, 178, 3), np.float32)
    img[20:198, :, :] = 1.0  # exactly the centred 178x178 square is white
    out = Preprocess(size=160)(img)
    assert out.shape == (160, 160, 3) and out.dtype == np.float32
    assert np.allclose(out, 1.0)
    with pytest.raises(ValueError):
        Preprocess(crop="random")


def _fake_celeba(root: Path, photo8: np.ndarray, ids: list[int], partition: dict | None) -> Path:
    folder = root / "img_align_celeba"
    folder.mkdir(parents=True)
    face = cv2.resize(photo8, (178, 218))
    for k in ids:
        Image.fromarray(np.roll(face, k, axis=1)).save(folder / f"{k:06d}.jpg")
    if partition is not None:
        (root / "list_eval_partition.txt").write_text("".join(f"{k:06d}.jpg {p}\n" for k, p in partition.items()))
    return root


def test_celeba_official_ranges_without_partition_file(tmp_path, photo8):
    root = _fake_celeba(tmp_path, photo8, [1, 2, 162771, 182638, 182639, 202599], None)
    assert CelebA(root).ids() == ["182638", "182639", "202599"]
    assert CelebA(root, split="train").ids() == ["000001", "000002"]
    assert CelebA(root, split="val").ids() == ["162771"]
    img = CelebA(root).load("182638")
    assert img.shape == (160, 160, 3) and img.dtype == np.float32
    desc = CelebA(root).describe()
    assert desc["partition"] == "official id ranges" and desc["preprocess"]["size"] == 160


def test_celeba_partition_file_wins(tmp_path, photo8):
    root = _fake_celeba(tmp_path, photo8, [1, 2, 3], {1: 2, 2: 0, 3: 2})
    assert CelebA(root).ids() == ["000001", "000003"]
    assert CelebA(root, split="train").ids() == ["000002"]


def test_celeba_missing_layout_is_explained(tmp_path):
    with pytest.raises(FileNotFoundError, match="img_align_celeba"):
        CelebA(tmp_path)


def test_builtin_is_deterministic_and_splits_are_disjoint():
    test, train = Builtin("test"), Builtin("train")
    assert not set(test.photos) & set(train.photos)
    assert set(test.photos) | set(train.photos) == set(PHOTOS)
    a = test.load("astronaut-005")
    b = Builtin("test").load("astronaut-005")
    assert np.array_equal(a, b) and check_image(a).shape == (160, 160, 3)
    assert not np.array_equal(a, test.load("astronaut-006"))
    ids = test.ids()
    assert len(ids) == len(set(ids)) and ids[: len(test.photos)] == [f"{p}-000" for p in test.photos]
    with pytest.raises(ImageLoadError):
        test.load("hubble-000")  # a train photo is not in the test split


# ---------------------------------------------------------------- resampling units


def test_builtin_groups_crops_by_source_photo():
    source = Builtin("test")
    ids = source.ids()[:21]  # round robin: 3 crops of each of the 7 photos
    groups = source.groups(ids)
    assert groups["astronaut-000"] == groups["astronaut-001"] == "astronaut"
    assert groups["grace_hopper-002"] == "grace_hopper"
    assert set(groups.values()) == set(source.photos) and source.unit == "builtin source photos"


def _identity_file(root: Path, identities: dict[int, int]) -> None:
    # The official format, in the official order, with lines of other images around the wanted ones.
    lines = [f"{k:06d}.jpg {identities.get(k, 9000 + k)}\n" for k in range(1, 202600, 997)]
    lines += [f"{k:06d}.jpg {v}\n" for k, v in identities.items()]
    (root / "identity_CelebA.txt").write_text("".join(sorted(lines)))


def test_celeba_groups_by_identity_when_the_file_is_there(tmp_path, photo8):
    root = _fake_celeba(tmp_path, photo8, [182638, 182639, 182640, 182641, 190000], None)
    bare = CelebA(root)
    assert "each image is its own unit" in bare.unit and "identity_CelebA.txt" in bare.unit
    assert bare.groups(bare.ids()) == {i: i for i in bare.ids()}
    _identity_file(root, {182638: 17, 182639: 4, 182640: 17, 182641: 4})  # 190000 is not listed
    source = CelebA(root)
    assert source.unit == "CelebA identities"
    groups = source.groups(source.ids())
    assert groups == {"182638": "17", "182639": "4", "182640": "17", "182641": "4", "190000": "image:190000"}
    assert source.groups(["182639"]) == {"182639": "4"}  # only the ids asked for


def test_folder_groups_file(tmp_path, photo8):
    for name in ("a", "b", "c", "d"):
        Image.fromarray(photo8).save(tmp_path / f"{name}.png")
    source = Folder(tmp_path)
    assert "each image is its own unit" in source.unit and source.groups(source.ids()) == {i: i for i in "abcd"}
    (tmp_path / "groups.csv").write_text("image_id,group\na.png,scene1\nb,scene1\nc,scene 2\n\n")
    source = Folder(tmp_path)
    assert source.ids() == ["a", "b", "c", "d"]  # the CSV is not an image
    assert source.unit == "groups of groups.csv"
    assert source.groups(source.ids()) == {"a": "scene1", "b": "scene1", "c": "scene 2", "d": "image:d"}
    (tmp_path / "groups.csv").write_text("file;group\na;x\n")
    with pytest.raises(ValueError, match="groups.csv: needs a header row 'image_id,group'"):
        Folder(tmp_path).groups(["a"])
    (tmp_path / "groups.csv").write_text("image_id,group\na,x\na.png,y\n")
    with pytest.raises(ValueError, match="line 3: 'a' is in group 'x' and 'y'"):
        Folder(tmp_path).groups(["a"])


def test_protocol_carries_groups_and_unit():
    from bench.inputs.protocol import load_protocol

    proto = load_protocol("builtin", size=32, n=9, seed=0)
    assert proto.unit == "builtin source photos" and proto.n_units == 7
    assert proto.groups == {s.id: s.id.rpartition("-")[0] for s in proto.samples}
    assert "groups" not in proto.identity  # intervals only: a run with groups resumes one without


@needs_celeba
def test_real_celeba_test_split_has_22_identities():
    source = CelebA(CELEBA_ROOT)
    ids = source.ids()
    groups = source.groups(ids)
    assert len(ids) == 659 and set(groups) == set(ids)
    assert len(set(groups.values())) == 22 and not any(g.startswith("image:") for g in groups.values())
