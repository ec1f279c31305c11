"""LaTeX tables of ``bench report`` fit the page: a realistic 9-method run compiles without overfull boxes.

The run is synthetic (records, set metrics, config written here) but shaped like the README's main
job: 9 method specs, 280 builtin crops, whole-image, hole and set metrics, a FID above 100.
The check is pdfTeX's own: every ``Overfull \\hbox (X pt too wide)`` in the log of the report's
document, none wider than 1 pt.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from bench.report.build import ReportOptions, build_report
from bench.report.latex import find_engine

PDFLATEX = find_engine()
needs_pdflatex = pytest.mark.skipif(PDFLATEX is None or not PDFLATEX.endswith("pdflatex"),
                                    reason="pdflatex not installed")

NINE = ["iizuka", "iizuka:data=builtin", "iizuka:post=blend", "iizuka:drop=conv1.44+conv14.3", "patch",
        "patch:size=9,features=0", "telea", "ns", "biharmonic"]
PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "grace_hopper", "china", "flower"]
OVERFULL = re.compile(r"Overfull \\hbox \(([0-9.]+)pt too wide\)")


def synthetic_run(path: Path, methods: list[str] = NINE, n: int = 280, seed: int = 0,
                  max_area: float = 0.25) -> Path:
    """Write a run directory with realistic records and set metrics (no images: build with grid=False)."""
    rng = np.random.default_rng(seed)
    ids = [f"{PHOTOS[k % len(PHOTOS)]}-{k // len(PHOTOS):03d}" for k in range(n)]
    area = rng.uniform(0.02, max_area, n)
    rows = []
    for j, m in enumerate(methods):
        skill = 1.0 + 0.15 * j
        for i, a in zip(ids, area):
            hole_mse = float(np.clip(rng.lognormal(np.log(0.02 * skill), 0.6), 1e-5, 1.0))
            mse = hole_mse * a
            hole_l1 = float(np.sqrt(hole_mse) * 0.8)
            rows.append({"method": m, "image_id": i, "status": "ok", "error": None,
                         "seconds": float(rng.uniform(0.001, 3.0)), "mask_area": float(a), "n_rects": 2,
                         "output": "composited", "mse": mse, "hole_mse": hole_mse,
                         "psnr": float(-10 * np.log10(mse)), "hole_psnr": float(-10 * np.log10(hole_mse)),
                         "ssim": float(np.clip(1 - a * rng.uniform(0.2, 0.6), 0, 1)),
                         "hole_ssim": float(rng.uniform(0.1, 0.7)), "l1": hole_l1 * a, "hole_l1": hole_l1})
    path.mkdir(parents=True, exist_ok=True)
    (path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    details = {"n": n, "n_real": n, "n_fake": n, "feature_dim": 2048, "extractor": "inception-v3-tf-2015-12-05",
               "extractor_sha256": "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
               "resize": "bilinear-299 (torch interpolate, align_corners=False, antialias=False)"}
    sets = {}
    for j, m in enumerate(methods):
        fid = 27.5 + 11.0 * j
        kid = 0.0017 + 0.0021 * j
        sets[m] = {"fid": {"value": fid, "low": fid - 5.5, "high": fid + 6.1, "details": details},
                   "kid": {"value": kid, "low": kid - 0.0006, "high": kid + 0.0007, "details": details}}
    (path / "set_metrics.json").write_text(json.dumps(sets))
    config = {"identity": {"dataset": {"dataset": "builtin", "split": "test", "preprocess": {"size": 160}},
                           "n": n, "seed": seed, "mask_family": "rects"},
              "methods": methods, "mask_sha256": "5871e4c0023f" + "0" * 52,
              "command": f"bench run --methods {','.join(methods)} --n {n} --out runs/main"}
    (path / "config.json").write_text(json.dumps(config))
    groups = {"unit": "builtin source photos", "units": len(PHOTOS), "groups": {i: i.rpartition("-")[0] for i in ids}}
    (path / "groups.json").write_text(json.dumps(groups))
    return path


def overfull_boxes(tex: Path, workdir: Path) -> list[float]:
    """Widths (pt) of every overfull hbox pdflatex reports for ``tex``."""
    proc = subprocess.run([PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", f"-output-directory={workdir}",
                           str(tex)], check=False, cwd=workdir, capture_output=True, text=True, timeout=180)
    log = (workdir / (tex.stem + ".log")).read_text(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    return [float(w) for w in OVERFULL.findall(log)]


@pytest.fixture(scope="module")
def nine_run(tmp_path_factory):
    return synthetic_run(tmp_path_factory.mktemp("nine") / "run")


@needs_pdflatex
@pytest.mark.parametrize("bins", [None, "area"])
def test_nine_method_report_fits_the_page(nine_run, tmp_path, bins):
    rep = build_report(nine_run, tmp_path / "rep", ReportOptions(grid=False, compile=False, bins=bins))
    widths = overfull_boxes(rep.out / "report.tex", tmp_path)
    assert all(w <= 1.0 for w in widths), f"overfull hboxes (pt): {widths}"
