"""The pieces that let GLCIC train inside a lent GPU's short budget: threaded image preloading
and the packing of run directories under the machine's per-file limit (reports/celeba/gpu_train.py)."""

from __future__ import annotations

import importlib.util
import tarfile
from pathlib import Path

import numpy as np

from methods.glcic.config import load_config
from methods.glcic.data import TrainImages, sample_batch

ROOT = Path(__file__).resolve().parents[1]
TINY = Path(__file__).with_name("glcic_tiny.toml")


def _driver():
    spec = importlib.util.spec_from_file_location("gpu_train", ROOT / "reports/celeba/gpu_train.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_preload_caches_every_image_exactly_as_lazy_loading_does():
    cfg = load_config(TINY)
    lazy, eager = TrainImages(cfg), TrainImages(cfg)
    eager.preload(workers=4)
    assert sorted(eager._cache) == list(range(len(eager)))
    for i in range(len(lazy)):
        assert np.array_equal(lazy.image(i), eager.image(i))
    a, b = sample_batch(lazy, cfg, 7), sample_batch(eager, cfg, 7)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.masks, b.masks)


def _names(archive: Path) -> list[str]:
    with tarfile.open(archive) as tar:
        return tar.getnames()


def _fake_run(root: Path, snapshots: int, size: int) -> Path:
    run = root / "full"
    (run / "snapshots").mkdir(parents=True)
    rng = np.random.default_rng(0)  # incompressible bytes, so the gzip size is known in advance
    for step in range(1, snapshots + 1):
        (run / "snapshots" / f"step-{step * 100:07d}.pt").write_bytes(rng.bytes(size))
    (run / "glcic-full.pt").write_bytes(rng.bytes(size))
    for name in ("latest.pt", "phase1.pt"):
        (run / name).write_bytes(rng.bytes(size))
    (run / "losses.csv").write_text("step,phase\n0,1\n")
    return run


def test_pack_leaves_out_training_states_and_earliest_snapshots_to_fit(tmp_path):
    pack = _driver().pack
    run = _fake_run(tmp_path / "runs", snapshots=4, size=100_000)
    everything = pack(run, tmp_path / "all", limit=10**7)
    names = _names(everything)
    assert "full/glcic-full.pt" in names and "full/losses.csv" in names
    assert not any(n.endswith(("latest.pt", "phase1.pt")) for n in names)
    assert sum("snapshots/" in n for n in names) == 4
    # Room for the weights and two snapshots: the two earliest go.
    fitted = pack(run, tmp_path / "fit", limit=330_000)
    kept = sorted(n for n in _names(fitted) if "snapshots/" in n)
    assert kept == ["full/snapshots/step-0000300.pt", "full/snapshots/step-0000400.pt"]
    assert fitted.stat().st_size <= 330_000
    # Never below the weights and the last snapshot, even when that is over the limit.
    tight = pack(run, tmp_path / "tight", limit=1)
    assert sorted(n for n in _names(tight) if "snapshots/" in n) == ["full/snapshots/step-0000400.pt"]


def test_config_overrides_parse_as_json_else_text():
    assert _driver().parse_sets(["width=0.0625", "max_images=200", "dataset=folder"]) == {
        "width": 0.0625, "max_images": 200, "dataset": "folder"}
