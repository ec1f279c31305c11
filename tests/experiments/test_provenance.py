"""Provenance decides what a resumed run reuses: rewritten predictions, replaced images, other masks,
changed code or weights are computed again, with the count and the reason; nothing else is touched."""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage.metrics import mean_squared_error, peak_signal_noise_ratio

from bench.core.images import to_uint8
from bench.engine.provenance import FIELDS, IMAGE_CHANGED, MASK_CHANGED, NO_PROVENANCE
from bench.experiments.runner import RunConfig, RunConflictError, run
from bench.inputs.data import get_source
from bench.inputs.masks import make_mask
from bench.outputs.rundir import RunDir
from methods.glcic.inference import WEIGHTS_DIR

pytestmark = pytest.mark.filterwarnings("ignore:.*torch.jit.script.*deprecated:DeprecationWarning")

PIXEL = ["mse", "psnr"]
SIZE = 64


def _cfg(out: Path, **kw) -> RunConfig:
    base = dict(methods=["mean"], out=out, n=4, size=SIZE, metrics=PIXEL, progress=False, feature_workers=0)
    base.update(kw)
    return RunConfig(**base)


def _samples(n: int = 4, offset: int = 0):
    samples, _ = get_source("builtin", size=SIZE).take(n + offset)
    return samples[offset:]


def _save(path: Path, image: np.ndarray) -> None:
    assert cv2.imwrite(str(path), to_uint8(image)[..., ::-1])


def _read(path: Path) -> np.ndarray:
    """A PNG as the suite's float32 values (8-bit / 255), widened to float64 for the reference maths."""
    return (cv2.imread(str(path), cv2.IMREAD_COLOR)[..., ::-1] / np.float32(255)).astype(np.float64)


def _without_timing(rows: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in rows]


def _last_rows(rd: RunDir) -> dict:
    return {(r["method"], r["image_id"]): r for r in rd.read_records()}


def _snapshot(path: Path) -> dict[str, tuple[int, bytes]]:
    """Every file of a run directory with its modification time and bytes (the lock file aside)."""
    return {
        str(p.relative_to(path)): (p.stat().st_mtime_ns, p.read_bytes())
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


@pytest.fixture(scope="module")
def stats_extractor(tmp_path_factory):
    """A cheap TorchScript feature extractor (channel means and deviations) for set metrics."""
    import torch

    class ChannelStats(torch.nn.Module):
        def forward(self, x):
            return torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)

    path = tmp_path_factory.mktemp("extractor") / "stats.pt"
    torch.jit.script(ChannelStats()).save(str(path))
    return str(path)


def test_every_row_records_its_image_mask_and_method(tmp_path):
    result = run(_cfg(tmp_path / "run", methods=["mean", "telea"]))
    rd = result.rundir
    manifest = rd.read_json(rd.masks)
    for row in rd.read_records():
        assert all(row[f] is not None for f in FIELDS if f != "input_sha256") and row["input_sha256"] is None
        # The mask digest is the manifest's; the image digest is that of the ground truth PNG, hashed here by hand.
        assert row["mask_sha256"] == manifest["masks"][row["image_id"]]["sha256"]
        pixels = cv2.imread(str(rd.image_path(row["image_id"])), cv2.IMREAD_COLOR)[..., ::-1]
        assert row["image_sha256"] == hashlib.sha256(repr(pixels.shape).encode() + pixels.tobytes()).hexdigest()
    config = rd.read_json(rd.config)
    assert set(config["fingerprints"]) == {"mean", "telea"}
    assert config["fingerprints"]["telea"]["spec"] == "telea"
    assert "inpaint-bench" in config["fingerprints"]["telea"]["versions"]


def test_an_unchanged_rerun_recomputes_and_rewrites_nothing(tmp_path, stats_extractor):
    cfg = _cfg(tmp_path / "run", methods=["mean", "telea"], n=6, metrics=PIXEL + ["kid"], fid_features=stats_extractor)
    first = run(cfg)
    before = _snapshot(first.rundir.path)
    again = run(cfg)
    assert (again.computed, again.recomputed, again.rewritten_images, again.rows) == (0, {}, 0, 12)
    assert _snapshot(first.rundir.path) == before


def test_the_same_run_twice_gives_the_same_rows(tmp_path):
    a = run(_cfg(tmp_path / "a", methods=["mean", "telea"]))
    b = run(_cfg(tmp_path / "b", methods=["mean", "telea"]))
    assert _without_timing(a.rundir.read_records()) == _without_timing(b.rundir.read_records())


def test_a_rewritten_predictions_folder_is_scored_again(tmp_path, caplog):
    samples = _samples()
    preds = tmp_path / "preds"
    preds.mkdir()
    for s in samples:
        _save(preds / f"{s.id}.png", np.full_like(s.image, 0.5))
    spec = f"predictions:dir={preds}"
    first = run(_cfg(tmp_path / "run", methods=[spec]))
    assert first.computed == 4
    # The tool was run again: three of its outputs changed, one is byte for byte the same.
    rng = np.random.default_rng(3)
    new = {s.id: rng.uniform(0, 1, s.image.shape).astype(np.float32) for s in samples[:3]}
    for image_id, image in new.items():
        _save(preds / f"{image_id}.png", image)
    with caplog.at_level(logging.WARNING, logger="bench"):
        second = run(_cfg(tmp_path / "run", methods=[spec]))
    reason = f"{spec}: prediction file changed"
    assert second.computed == 3 and second.recomputed == {reason: 3}
    assert f"3 rows recomputed: {reason} (3)" in caplog.text
    rows = _last_rows(second.rundir)
    for s in samples:
        mask, _ = make_mask(0, s.id, s.image.shape[:2])
        prediction = _read(preds / f"{s.id}.png")
        truth = (to_uint8(s.image) / np.float32(255)).astype(np.float64)
        final = np.where(mask[..., None], prediction, truth)  # known pixels copied back from the input
        row = rows[(spec, s.id)]
        assert row["mse"] == pytest.approx(mean_squared_error(truth, final), rel=1e-9)
        assert row["psnr"] == pytest.approx(peak_signal_noise_ratio(truth, final, data_range=1.0), rel=1e-9)
    # The records.csv and the summary describe the new rows.
    import pandas as pd

    table = pd.read_csv(second.rundir.records_csv)
    assert len(table) == 4
    got = table.set_index("image_id")["mse"].to_dict()
    assert got == pytest.approx({s.id: rows[(spec, s.id)]["mse"] for s in samples}, rel=1e-12)


def _folder(path: Path, samples) -> None:
    path.mkdir(exist_ok=True)
    for k, s in enumerate(samples):
        _save(path / f"img{k}.png", s.image)


def test_replaced_images_of_the_same_names_are_scored_again_with_their_ground_truth_and_fid(
    tmp_path, stats_extractor, caplog
):
    data = tmp_path / "data"
    _folder(data, _samples(8))
    cfg = _cfg(
        tmp_path / "run",
        methods=["mean", "telea"],
        n=8,
        dataset="folder",
        data_root=str(data),
        metrics=PIXEL + ["fid", "kid"],
        fid_features=stats_extractor,
    )
    first = run(cfg)
    old_sets = first.rundir.read_json(first.rundir.set_metrics)
    # Other pictures under the same names: the same ids, n and masks of the same shapes.
    replacement = _samples(8, offset=8)
    _folder(data, replacement)
    with caplog.at_level(logging.WARNING, logger="bench"):
        second = run(cfg)
    assert second.recomputed == {IMAGE_CHANGED: 16} and second.computed == 16 and second.rewritten_images == 8
    assert "16 rows recomputed: image pixels changed (16)" in caplog.text
    rd = second.rundir
    for k, s in enumerate(replacement):
        np.testing.assert_array_equal(_read(rd.image_path(f"img{k}")), to_uint8(s.image) / np.float32(255))
    # Every number equals a fresh run's on the new images, FID included (not the stored one).
    fresh = run(RunConfig(**{**cfg.__dict__, "out": tmp_path / "fresh"}))
    assert _without_timing(list(_last_rows(rd).values())) == _without_timing(fresh.rundir.read_records())
    sets, fresh_sets = (json.loads(p.read_text()) for p in (rd.set_metrics, fresh.rundir.set_metrics))
    for method in ("mean", "telea"):
        for metric in ("fid", "kid"):
            new, want = sets[method][metric], fresh_sets[method][metric]
            assert new["details"]["key"] != old_sets[method][metric]["details"]["key"]  # not the stored result
            assert new["value"] == (pytest.approx(want["value"], rel=1e-9) if want["value"] is not None else None)
    assert sets["mean"]["kid"]["value"] != pytest.approx(old_sets["mean"]["kid"]["value"], rel=1e-6)
    # A resume that would keep telea's rows, which no longer match the images, is refused.
    _folder(data, _samples(8))
    with pytest.raises(RunConflictError, match=r"telea: 8 rows stale: image pixels changed \(8\)"):
        run(RunConfig(**{**cfg.__dict__, "methods": ["mean"]}))


def test_a_run_whose_masks_json_and_config_were_deleted_recomputes_under_the_new_seed(tmp_path):
    cfg = _cfg(tmp_path / "run", methods=["mean", "telea"])
    first = run(cfg)
    first.rundir.masks.unlink()
    first.rundir.config.unlink()
    second = run(RunConfig(**{**cfg.__dict__, "seed": 7}))
    assert second.computed == 8 and second.recomputed == {MASK_CHANGED: 8}
    fresh = run(RunConfig(**{**cfg.__dict__, "seed": 7, "out": tmp_path / "fresh"}))
    assert _without_timing(list(_last_rows(second.rundir).values())) == _without_timing(fresh.rundir.read_records())
    import pandas as pd

    for name in ("records.csv", "summary.csv"):
        a, b = (pd.read_csv(d / name) for d in (second.rundir.path, fresh.rundir.path))
        if "metric" in a:
            a, b = (t[t["metric"] != "seconds"].reset_index(drop=True) for t in (a, b))
        pd.testing.assert_frame_equal(
            a.drop(columns=["seconds"], errors="ignore"), b.drop(columns=["seconds"], errors="ignore")
        )


def test_a_resume_with_fewer_methods_keeps_the_others_in_every_derived_file(tmp_path, stats_extractor, caplog):
    import pandas as pd

    cfg = _cfg(
        tmp_path / "run",
        methods=["telea", "mean"],
        n=6,
        metrics=PIXEL + ["kid"],
        fid_features=stats_extractor,
    )
    run(cfg)
    with caplog.at_level(logging.WARNING, logger="bench"):
        fewer = run(RunConfig(**{**cfg.__dict__, "methods": ["mean"]}))
    assert fewer.kept_methods == ["telea"] and fewer.computed == 0 and fewer.rows == 12
    assert "keeps telea from earlier runs" in caplog.text
    rd = fewer.rundir
    in_records = {r["method"] for r in rd.read_records()}
    assert in_records == {"telea", "mean"}
    assert set(rd.read_json(rd.config)["methods"]) == in_records
    assert set(pd.read_csv(rd.records_csv)["method"]) == in_records
    summary = pd.read_csv(rd.summary_csv)
    assert set(summary["method"]) == in_records
    assert set(summary[summary["metric"] == "kid"]["method"]) == in_records
    assert set(rd.read_json(rd.set_metrics)) == in_records
    md = rd.summary_md.read_text()
    assert "| telea |" in md and "| mean |" in md
    # Each method's numbers in the tables are the means of its rows in records.jsonl.
    rows = pd.DataFrame(rd.read_records())
    for method in in_records:
        want = rows[rows["method"] == method]["psnr"].mean()
        got = summary[(summary["method"] == method) & (summary["metric"] == "psnr")]["value"].item()
        assert got == pytest.approx(want, rel=1e-12)
    # Dropping a set metric drops it from set_metrics.json as from the summaries.
    run(RunConfig(**{**cfg.__dict__, "methods": ["mean"], "metrics": PIXEL}))
    assert rd.read_json(rd.set_metrics) == {}
    assert "kid" not in set(pd.read_csv(rd.summary_csv)["metric"])


def test_user_code_whose_source_changed_is_run_again(tmp_path, monkeypatch, caplog):
    module = tmp_path / "code" / "prov_user_fill.py"
    module.parent.mkdir()
    module.write_text("def fill(image, mask):\n    out = image.copy()\n    out[mask] = 0.25\n    return out\n")
    monkeypatch.syspath_prepend(str(module.parent))
    spec = "@prov_user_fill:fill"
    first = run(_cfg(tmp_path / "run", methods=[spec]))
    assert first.computed == 4
    assert run(_cfg(tmp_path / "run", methods=[spec])).computed == 0
    module.write_text(module.read_text() + "# tuned\n")
    with caplog.at_level(logging.WARNING, logger="bench"):
        second = run(_cfg(tmp_path / "run", methods=[spec]))
    reason = f"{spec}: code prov_user_fill changed"
    assert second.computed == 4 and second.recomputed == {reason: 4}
    assert f"4 rows recomputed: {reason} (4)" in caplog.text


def test_a_replaced_glcic_checkpoint_at_the_same_path_is_run_again(tmp_path):
    ckpt = tmp_path / "glcic.pt"
    shutil.copyfile(WEIGHTS_DIR / "builtin" / "iizuka.pt", ckpt)
    spec = f"iizuka:ckpt={ckpt}"
    first = run(_cfg(tmp_path / "run", methods=[spec], n=2))
    old = _last_rows(first.rundir)
    shutil.copyfile(WEIGHTS_DIR / "builtin" / "iizuka-global.pt", ckpt)
    second = run(_cfg(tmp_path / "run", methods=[spec], n=2))
    assert second.computed == 2 and second.recomputed == {f"{spec}: weights changed": 2}
    new = _last_rows(second.rundir)
    assert all(new[k]["method_sha256"] != old[k]["method_sha256"] for k in old)
    # Scored with the new weights: equal to a fresh run that only ever saw them.
    fresh = run(_cfg(tmp_path / "fresh", methods=[spec], n=2))
    assert _without_timing(list(new.values())) == _without_timing(fresh.rundir.read_records())


def test_rows_without_provenance_are_computed_again(tmp_path):
    first = run(_cfg(tmp_path / "run", methods=["mean"]))
    records = first.rundir.records_jsonl
    old = [json.loads(line) for line in records.read_text().splitlines()]
    records.write_text("".join(json.dumps({k: v for k, v in r.items() if k not in FIELDS}) + "\n" for r in old))
    second = run(_cfg(tmp_path / "run", methods=["mean"]))
    assert second.computed == 4 and second.recomputed == {NO_PROVENANCE: 4}
    # A method not asked for whose rows carry no provenance is not kept unproven: the run is refused.
    records.write_text("".join(json.dumps({k: v for k, v in r.items() if k not in FIELDS}) + "\n" for r in old))
    with pytest.raises(RunConflictError, match="mean: 4 rows stale: no provenance recorded"):
        run(_cfg(tmp_path / "run", methods=["telea"]))
