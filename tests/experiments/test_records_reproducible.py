"""Records can be recomputed exactly from the PNGs a run saves (8-bit scoring)."""

from __future__ import annotations

import numpy as np
from PIL import Image

from bench.experiments.runner import RunConfig, run
from bench.metrics.registry import all_metrics, evaluate_image
from bench.outputs.rundir import RunDir

PIXEL = ["mse", "psnr", "ssim", "ssim_gaussian", "l1"]


def _png(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), dtype=np.float32) / np.float32(255.0)


def test_every_pixel_metric_recomputes_from_the_saved_pngs(tmp_path):
    cfg = RunConfig(methods=["telea", "biharmonic", "mean"], out=tmp_path / "run", n=6, metrics=PIXEL, progress=False)
    run(cfg)
    rundir = RunDir(tmp_path / "run")
    masks = rundir.read_json(rundir.masks)
    metrics = [m for m in all_metrics("image") if m.name in PIXEL]
    rows = [r for r in rundir.read_records() if r["status"] == "ok"]
    assert len(rows) == 18
    for row in rows:
        target = _png(rundir.image_path(row["image_id"]))
        output = _png(rundir.output_path(row["method"], row["image_id"]))
        mask = np.zeros(target.shape[:2], bool)
        for top, left, h, w in masks["masks"][row["image_id"]]["rects"]:
            mask[top : top + h, left : left + w] = True
        again = evaluate_image(output, target, mask, metrics)
        for column, value in again.items():
            assert row[column] == value, (row["method"], row["image_id"], column)  # exactly, not approximately
