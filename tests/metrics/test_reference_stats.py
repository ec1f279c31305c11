"""Reference statistics files checked against pytorch-fid's and clean-fid's own code.

Files written by their code load here and give their FID; files written here are read by their
loaders and give the same FID (and clean-fid's KID). Their networks are never run: features are
random matrices handed to them where their network's output would be.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import json
import sys
import types
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bench.core.files import is_temporary
from bench.metrics.inception import CUSTOM_RESIZE, INCEPTION_RESIZE
from bench.metrics.reference_stats import (
    ReferenceStatsError,
    bootstrap_fid_against_reference,
    clean_fid_file_names,
    fid_against_reference,
    kid_against_reference,
    load_reference_stats,
    save_clean_fid_stats,
    save_pytorch_fid_stats,
)

INSTALL = "pip install --no-deps pytorch-fid==0.3.0 clean-fid==0.1.35"
INCEPTION = "inception-v3-tf-2015-12-05"
RECORD = {"extractor": INCEPTION, "extractor_sha256": "ab" * 32, "resize": INCEPTION_RESIZE}
CUSTOM = {"extractor": "torchscript:tiny.pt", "extractor_sha256": "cd" * 32, "resize": CUSTOM_RESIZE}


def _features(seed: int, n: int = 300, d: int = 16, shift: float = 0.0) -> np.ndarray:
    """Non-negative, correlated, unequally scaled columns, like pooled activations."""
    rng = np.random.default_rng(seed)
    mix = rng.standard_normal((d, d)) / np.sqrt(d)
    x = rng.standard_normal((n, d)) @ mix * rng.uniform(0.2, 2.0, d) + 1.0 + shift
    return np.abs(x)


def _load(path, d: int = 16, **kw):
    args = {"feature_dim": d, "resize": INCEPTION_RESIZE, "extractor_name": INCEPTION, **kw}
    return load_reference_stats(path, **args)


def _torchvision_stub() -> dict[str, types.ModuleType]:
    import torch

    tv = types.ModuleType("torchvision")
    tv.__version__ = "0.0"
    transforms = types.ModuleType("torchvision.transforms")
    models = types.ModuleType("torchvision.models")
    inception = types.ModuleType("torchvision.models.inception")
    for name in ("InceptionA", "InceptionC", "InceptionE"):
        setattr(inception, name, type(name, (torch.nn.Module,), {}))
    tv.transforms, tv.models, models.inception = transforms, models, inception
    return {
        "torchvision": tv,
        "torchvision.transforms": transforms,
        "torchvision.models": models,
        "torchvision.models.inception": inception,
    }


@pytest.fixture(scope="module")
def theirs():
    """pytorch-fid's ``fid_score`` and clean-fid's ``fid`` and ``features`` modules, as installed.

    Both import torchvision at module level, for their networks (their Inception classes subclass
    ``torchvision.models.inception.InceptionA/C/E``) and image loaders (``transforms.ToTensor``), and
    torchvision does not import against this CPU torch. The code checked here (statistics, file
    names and lookup, Frechet distance, KID) touches none of it, so a stand-in torchvision with those
    names is put in ``sys.modules`` while their modules are imported, and their modules and the
    stand-in are forgotten when this test module ends. Their files are not edited.
    """
    for dist in ("pytorch_fid", "cleanfid"):
        if importlib.util.find_spec(dist) is None:
            pytest.skip(f"{dist} is not installed: {INSTALL}")
    before = set(sys.modules)
    with pytest.MonkeyPatch.context() as mp:
        for name, module in _torchvision_stub().items():
            mp.setitem(sys.modules, name, module)
        mods = types.SimpleNamespace(
            fid_score=importlib.import_module("pytorch_fid.fid_score"),
            cleanfid=importlib.import_module("cleanfid"),
            clean_fid=importlib.import_module("cleanfid.fid"),
            clean_features=importlib.import_module("cleanfid.features"),
        )
        yield mods
    for name in set(sys.modules) - before:
        if name.split(".")[0] in ("pytorch_fid", "cleanfid", "torchvision"):
            del sys.modules[name]


class _NoNetwork:
    """Stands in for pytorch-fid's InceptionV3 in ``save_fid_stats``: only its block table is read."""

    BLOCK_INDEX_BY_DIM = {16: 3, 64: 3, 2048: 3}

    def __init__(self, blocks):
        self.blocks = blocks

    def to(self, device):
        return self


def _their_activations(monkeypatch, fid_score, feats):
    """pytorch-fid's ``get_activations`` (its network pass over the images) returns ``feats``."""
    monkeypatch.setattr(fid_score, "InceptionV3", _NoNetwork)
    monkeypatch.setattr(fid_score, "get_activations", lambda *a, **k: np.array(feats, dtype=np.float64))


def _their_stats(monkeypatch, fid_score, feats):
    _their_activations(monkeypatch, fid_score, feats)
    return fid_score.calculate_activation_statistics([], None, dims=feats.shape[1])


# ------------------------------------------------------------------------------------ pytorch-fid


@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated")
def test_file_written_by_pytorch_fid_loads_and_gives_its_fid(theirs, tmp_path, monkeypatch):
    real, fake = _features(1, d=64), _features(2, d=64, shift=0.3)
    out = tmp_path / "celeba_stats.npz"
    (tmp_path / "images").mkdir()
    _their_activations(monkeypatch, theirs.fid_score, real)
    theirs.fid_score.save_fid_stats([str(tmp_path / "images"), str(out)], 50, "cpu", 64)

    ref = _load(out, d=64)
    assert (ref.format, ref.mode, ref.n, ref.feats, ref.extractor) == ("pytorch-fid", None, None, None, None)
    assert ref.sha256 == hashlib.sha256(out.read_bytes()).hexdigest()
    assert ref.path == str(out)
    ours = fid_against_reference(ref, fake, n_boot=0, seed=0)

    m1, s1 = theirs.fid_score.compute_statistics_of_path(str(out), None, 50, 64, "cpu")
    m2, s2 = _their_stats(monkeypatch, theirs.fid_score, fake)
    expected = theirs.fid_score.calculate_frechet_distance(m1, s1, m2, s2)
    assert ours.value == pytest.approx(expected, rel=1e-6)
    assert expected > 1.0  # shifted sets: a real distance, not rounding
    assert ours.details["reference_sha256"] == ref.sha256 and ours.details["n_reference"] is None


@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated")
def test_our_pytorch_fid_file_is_read_by_pytorch_fid_with_the_same_fid(theirs, tmp_path, monkeypatch):
    real, fake = _features(3), _features(4, shift=0.2)
    path = save_pytorch_fid_stats(tmp_path / "ref.npz", real.astype(np.float32), extractor=RECORD)

    m, s = theirs.fid_score.compute_statistics_of_path(str(path), None, 50, 16, "cpu")
    m_real, s_real = _their_stats(monkeypatch, theirs.fid_score, real.astype(np.float32))
    np.testing.assert_allclose(m, m_real, rtol=1e-6)
    np.testing.assert_allclose(s, s_real, rtol=1e-6, atol=1e-12)
    m_fake, s_fake = _their_stats(monkeypatch, theirs.fid_score, fake)
    expected = theirs.fid_score.calculate_frechet_distance(m, s, m_fake, s_fake)

    ref = _load(path, extractor_sha256=RECORD["extractor_sha256"])
    assert ref.n == 300 and ref.extractor == INCEPTION and ref.extractor_sha256 == RECORD["extractor_sha256"]
    result = fid_against_reference(ref, fake, n_boot=50, seed=0)
    assert result.value == pytest.approx(expected, rel=1e-6)
    assert result.low < result.value < result.high
    d = result.details
    assert (d["n_fake"], d["n_reference"], d["reference_format"], d["reference_mode"]) == (
        300,
        300,
        "pytorch-fid",
        None,
    )
    assert d["bootstrap"]["replicates"] == 50 and "generated images only" in d["bootstrap"]["resampled"]
    assert "n = 300 < 2048" in d["warning"]


@pytest.mark.parametrize(("n", "d"), [(40, 64), (300, 16)], ids=["n<=D gram", "n>D features"])
@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated")
def test_bootstrap_replicates_are_pytorch_fids_of_the_resampled_features(theirs, n, d):
    ref_feats, fake = _features(5, n=500, d=d), _features(6, n=n, d=d, shift=0.1)
    mu, sigma = ref_feats.mean(axis=0), np.cov(ref_feats, rowvar=False)
    reps = bootstrap_fid_against_reference(mu, sigma, fake, n_boot=6, seed=11)
    counts = np.random.default_rng(11).multinomial(n, np.full(n, 1.0 / n), size=6)
    for b in range(6):
        rows = fake[np.repeat(np.arange(n), counts[b])]
        expected = theirs.fid_score.calculate_frechet_distance(mu, sigma, rows.mean(axis=0), np.cov(rows, rowvar=False))
        assert reps[b] == pytest.approx(expected, rel=1e-6)


def test_kid_is_withheld_without_per_image_features(tmp_path):
    path = save_pytorch_fid_stats(tmp_path / "ref.npz", _features(7))
    result = kid_against_reference(_load(path), _features(8), n_boot=0)
    assert np.isnan(result.value) and str(path) in result.details["withheld"]
    assert result.details["n_fake"] == 300


# ------------------------------------------------------------------------------------ clean-fid


@pytest.fixture
def clean_stats_folder(theirs, tmp_path, monkeypatch):
    """clean-fid's stats folder (``dirname(cleanfid.__file__)/stats``) moved into ``tmp_path``; no downloads."""
    package = tmp_path / "cleanfid"
    package.mkdir()
    monkeypatch.setattr(theirs.cleanfid, "__file__", str(package / "__init__.py"))

    def local_only(local_folder, url):
        path = Path(local_folder) / Path(url).name
        assert path.is_file(), f"clean-fid would download {url}: {path.name} is not where it looks"
        return str(path)

    monkeypatch.setattr(theirs.clean_features, "check_download_url", local_only)
    return package / "stats"


@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated")
def test_clean_fid_finds_and_reads_our_files_and_agrees_on_fid_and_kid(theirs, clean_stats_folder, monkeypatch):
    real, fake = _features(9).astype(np.float32), _features(10, shift=0.25)
    main, kid = save_clean_fid_stats(clean_stats_folder, "CelebA_Test", real, extractor=RECORD)
    assert (main.name, kid.name) == (
        "celeba_test_legacy_pytorch_custom_na.npz",
        "celeba_test_legacy_pytorch_custom_na_kid.npz",
    )
    assert not [p for p in clean_stats_folder.iterdir() if is_temporary(p.name)]

    get = theirs.clean_features.get_reference_statistics
    mu, sigma = get("CelebA_Test", 256, mode="legacy_pytorch", split="custom")
    np.testing.assert_allclose(mu, real.astype(np.float64).mean(axis=0), rtol=1e-6)
    np.testing.assert_allclose(sigma, np.cov(real.astype(np.float64), rowvar=False), rtol=1e-6, atol=1e-12)
    their_feats = get("CelebA_Test", 256, mode="legacy_pytorch", split="custom", metric="KID")
    assert their_feats.dtype == np.float32 and np.array_equal(their_feats, real)

    # Their whole path from a folder to a score, with their network and image reader replaced by the features.
    monkeypatch.setattr(theirs.clean_fid, "build_feature_extractor", lambda *a, **k: None)
    monkeypatch.setattr(theirs.clean_fid, "get_folder_features", lambda *a, **k: fake)
    kw = {"dataset_name": "CelebA_Test", "mode": "legacy_pytorch", "dataset_split": "custom", "verbose": False}
    their_fid = theirs.clean_fid.compute_fid(fdir1="outputs", device="cpu", **kw)
    their_kid = theirs.clean_fid.compute_kid(fdir1="outputs", device="cpu", **kw)

    for given in (main, kid):  # either file of the pair
        ref = _load(given, extractor_sha256=RECORD["extractor_sha256"])
        assert (ref.format, ref.mode, ref.n, ref.path) == ("clean-fid", "legacy_pytorch", 300, str(main))
        assert ref.feats is not None and np.array_equal(ref.feats, real.astype(np.float64))
        assert ref.sha256 == _pair_digest(main, kid)
        assert fid_against_reference(ref, fake, n_boot=0, seed=0).value == pytest.approx(their_fid, rel=1e-6)
        # 300 against 300 rows: one subset is both whole sets, so their random subsets are permutations.
        result = kid_against_reference(ref, fake, n_boot=40, seed=0)
        assert result.value == pytest.approx(their_kid, rel=1e-6)
        assert result.low < result.value < result.high and result.details["subsets"] == 1
        assert result.details["reference_format"] == "clean-fid"


def _pair_digest(*paths: Path) -> str:
    """sha256 over each file's name and hex digest, in name order (written out here, not imported)."""
    h = hashlib.sha256()
    for p in sorted(paths):
        h.update(p.name.encode() + b"\0" + hashlib.sha256(p.read_bytes()).hexdigest().encode() + b"\0")
    return h.hexdigest()


@pytest.mark.filterwarnings("ignore:The `disp` argument is deprecated")
def test_file_written_by_clean_fid_loads_and_gives_its_fid(theirs, clean_stats_folder, monkeypatch):
    real, fake = _features(12, d=64).astype(np.float32), _features(13, d=64, shift=0.1)
    monkeypatch.setattr(theirs.clean_fid, "build_feature_extractor", lambda *a, **k: None)
    monkeypatch.setattr(theirs.clean_fid, "get_folder_features", lambda *a, **k: real)
    theirs.clean_fid.make_custom_stats("Faces", "images", mode="legacy_pytorch", device="cpu", verbose=False)
    main = clean_stats_folder / "faces_legacy_pytorch_custom_na.npz"
    assert main.is_file() and main.with_name("faces_legacy_pytorch_custom_na_kid.npz").is_file()

    ref = _load(main, d=64)
    assert (ref.format, ref.mode, ref.n, ref.extractor) == ("clean-fid", "legacy_pytorch", 300, None)
    monkeypatch.setattr(theirs.clean_fid, "get_folder_features", lambda *a, **k: fake)
    kw = {"dataset_name": "Faces", "mode": "legacy_pytorch", "dataset_split": "custom", "verbose": False}
    assert fid_against_reference(ref, fake, n_boot=0).value == pytest.approx(
        theirs.clean_fid.compute_fid(fdir1="outputs", device="cpu", **kw), rel=1e-6
    )
    assert kid_against_reference(ref, fake, n_boot=0).value == pytest.approx(
        theirs.clean_fid.compute_kid(fdir1="outputs", device="cpu", **kw), rel=1e-6
    )

    # The same network's statistics under clean-fid's other resize modes are not this suite's features.
    monkeypatch.setattr(theirs.clean_fid, "get_folder_features", lambda *a, **k: real)
    theirs.clean_fid.make_custom_stats("Faces", "images", mode="clean", device="cpu", verbose=False)
    clean = clean_stats_folder / "faces_clean_custom_na.npz"
    with pytest.raises(ReferenceStatsError, match="mode 'clean'") as err:
        _load(clean, d=64)
    assert str(clean) in str(err.value)


# ------------------------------------------------------------------------------------ writers


def test_clean_fid_names_follow_its_lookup():
    assert clean_fid_file_names("FFHQ", "clean", "trainval", 1024) == (
        "ffhq_clean_trainval_1024.npz",
        "ffhq_clean_trainval_1024_kid.npz",
    )
    for bad, match in [
        ({"mode": "bicubic"}, "unknown clean-fid mode"),
        ({"res": 256}, "resolution 'na'"),
        ({"split": "test"}, "need a resolution"),
        ({"split": "my_split", "res": 256}, "without '_'"),
    ]:
        with pytest.raises(ValueError, match=match):
            clean_fid_file_names("x", **bad)
    with pytest.raises(ValueError, match="plain name"):
        clean_fid_file_names("a/b")


def test_writers_refuse_what_the_tools_would_misread(tmp_path):
    feats = _features(14)
    with pytest.raises(ValueError, match="ending in .npz"):
        save_pytorch_fid_stats(tmp_path / "ref.stats", feats)
    with pytest.raises(ValueError, match="'legacy_pytorch' mode, not 'clean'"):
        save_clean_fid_stats(tmp_path, "x", feats, mode="clean", extractor=RECORD)
    with pytest.raises(ValueError, match="lacks extractor_sha256"):
        save_pytorch_fid_stats(tmp_path / "ref.npz", feats, extractor={"extractor": INCEPTION, "resize": "x"})
    assert not list(tmp_path.iterdir())


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    path = save_pytorch_fid_stats(tmp_path / "ref.npz", _features(15))
    before = path.read_bytes()

    def dies_midway(fh, **arrays):
        fh.write(b"PK\x03\x04 half an archive")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez_compressed", dies_midway)
    with pytest.raises(KeyboardInterrupt):
        save_pytorch_fid_stats(path, _features(16))
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["ref.npz"]


# ------------------------------------------------------------------------------------ refusals


def _npz(path: Path, **arrays) -> Path:
    np.savez(path, **arrays)
    return path


def _good(d: int = 16) -> dict[str, np.ndarray]:
    x = _features(20, d=d)
    return {"mu": x.mean(axis=0), "sigma": np.cov(x, rowvar=False)}


def _refusals(tmp_path: Path):
    """(case, file, load options, expected words) for every refusal."""
    g = _good()
    nan_mu = {**g, "mu": np.where(np.arange(16) == 3, np.nan, g["mu"])}
    inf_sigma = {**g, "sigma": np.where(np.eye(16, dtype=bool), np.inf, g["sigma"])}
    lopsided = {**g, "sigma": g["sigma"] + np.triu(np.ones((16, 16)), 1)}
    (tmp_path / "folder.npz").mkdir()
    (tmp_path / "text.npz").write_text("mu sigma\n")
    np.save(tmp_path / "single.npz", g["mu"])  # np.save writes a .npy array whatever the name
    (tmp_path / "single.npz.npy").rename(tmp_path / "single.npz")
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes((_npz(tmp_path / "whole.npz", **g)).read_bytes()[:200])
    feats = _features(20)
    kid_only = tmp_path / "lonely_legacy_pytorch_custom_na_kid.npz"
    _npz(kid_only, feats=feats)
    _npz(tmp_path / "mixed_legacy_pytorch_custom_na.npz", **g)
    _npz(tmp_path / "mixed_legacy_pytorch_custom_na_kid.npz", feats=feats + 1.0)
    _npz(tmp_path / "narrow_legacy_pytorch_custom_na.npz", **g)
    _npz(tmp_path / "narrow_legacy_pytorch_custom_na_kid.npz", feats=feats[:, :8])
    other = {**RECORD, "extractor_sha256": "ef" * 32}
    return [
        ("missing", tmp_path / "absent.npz", {}, "no such"),
        ("missing kid file", tmp_path / "gone_legacy_pytorch_custom_na_kid.npz", {}, "no such"),
        ("folder", tmp_path / "folder.npz", {}, "is a folder"),
        ("not npz", tmp_path / "text.npz", {}, "not a readable .npz"),
        ("npy", tmp_path / "single.npz", {}, "not an .npz archive"),
        ("truncated", truncated, {}, "not a readable .npz"),
        ("pickle", _npz(tmp_path / "pickled.npz", mu=np.array([{}], dtype=object), sigma=g["sigma"]), {}, "readable"),
        ("no sigma", _npz(tmp_path / "nosigma.npz", mu=g["mu"]), {}, "no 'sigma' array"),
        ("mu 2-d", _npz(tmp_path / "mu2d.npz", mu=g["sigma"], sigma=g["sigma"]), {}, "'mu' has shape (16, 16)"),
        ("sigma shape", _npz(tmp_path / "sig.npz", mu=g["mu"], sigma=g["sigma"][:, :15]), {}, "'sigma' has shape"),
        (
            "dims",
            _npz(tmp_path / "dims.npz", **g),
            {"feature_dim": 8},
            "has 16-d statistics, this run's extractor gives 8-d",
        ),
        ("text mu", _npz(tmp_path / "strmu.npz", mu=np.array(["a"] * 16), sigma=g["sigma"]), {}, "real numbers"),
        ("nan", _npz(tmp_path / "nan.npz", **nan_mu), {}, "'mu' holds NaN"),
        ("inf", _npz(tmp_path / "inf.npz", **inf_sigma), {}, "'sigma' holds NaN or infinite"),
        ("asymmetric", _npz(tmp_path / "asym.npz", **lopsided), {}, "not a covariance"),
        ("mode clean", _npz(tmp_path / "x_clean_custom_na.npz", **g), {}, "mode 'clean'"),
        ("mode tf", _npz(tmp_path / "x_legacy_tensorflow_train_256.npz", **g), {}, "mode 'legacy_tensorflow'"),
        ("clip", _npz(tmp_path / "x_legacy_pytorch_clip_vit_b_32_custom_na.npz", **g), {}, "clip_vit_b_32 features"),
        ("kid only", kid_only, {}, "without their statistics file"),
        ("mixed pair", tmp_path / "mixed_legacy_pytorch_custom_na.npz", {}, "not one reference set"),
        ("narrow feats", tmp_path / "narrow_legacy_pytorch_custom_na_kid.npz", {}, "'feats' has shape (300, 8)"),
        (
            "custom, no record",
            _npz(tmp_path / "plain.npz", **g),
            {"resize": CUSTOM_RESIZE, "extractor_name": "torchscript:tiny.pt"},
            "does not record which network",
        ),
        (
            "other extractor",
            save_pytorch_fid_stats(tmp_path / "other.npz", feats, extractor=other),
            {"extractor_sha256": RECORD["extractor_sha256"]},
            "statistics of inception-v3-tf-2015-12-05 (sha256 efefefefefef",
        ),
        (
            "custom, record, no sha given",
            save_pytorch_fid_stats(tmp_path / "custom.npz", feats, extractor=CUSTOM),
            {"resize": CUSTOM_RESIZE, "extractor_name": "torchscript:tiny.pt"},
            "recognised only by its sha256 (this run's was not given)",
        ),
        (
            "custom, another user extractor",
            tmp_path / "custom.npz",
            {"resize": CUSTOM_RESIZE, "extractor_name": "torchscript:other.pt"},
            "this run's features come from torchscript:other.pt",
        ),
        ("bad record", _npz(tmp_path / "rec.npz", **g, inpaint_bench=np.array("[1, 2]")), {}, "not the JSON object"),
    ]


def test_every_refusal_is_one_line_naming_the_file(tmp_path):
    cases = _refusals(tmp_path)
    for case, path, options, words in cases:
        with pytest.raises(ReferenceStatsError) as err:
            _load(path, **options)
        message = str(err.value)
        assert words in message, (case, message)
        assert str(path) in message or path.name in message, (case, message)
        assert "\n" not in message, case


def test_a_user_extractor_is_accepted_with_its_own_record_and_sha256(tmp_path):
    feats = _features(21)
    path = save_pytorch_fid_stats(tmp_path / "custom.npz", feats, extractor=CUSTOM)
    ref = _load(
        path, resize=CUSTOM_RESIZE, extractor_name="torchscript:tiny.pt", extractor_sha256=CUSTOM["extractor_sha256"]
    )
    assert ref.extractor == "torchscript:tiny.pt" and ref.n == 300
    with np.load(path) as data:
        record = json.loads(str(data["inpaint_bench"]))
    assert record == {**CUSTOM, "n": 300}
    with pytest.raises(ReferenceStatsError, match="this run's features come from"):
        _load(path, resize=CUSTOM_RESIZE, extractor_name="torchscript:tiny.pt", extractor_sha256="00" * 32)


def test_loaded_arrays_are_read_only_float64(tmp_path):
    path = save_pytorch_fid_stats(tmp_path / "ref.npz", _features(22).astype(np.float32))
    ref = _load(path)
    assert ref.mu.dtype == ref.sigma.dtype == np.float64
    with pytest.raises(ValueError):
        ref.mu[0] = 1.0
    assert zipfile.is_zipfile(path)
