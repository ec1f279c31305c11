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

from bench.outputs.report.build import ReportOptions, build_report
from bench.outputs.report.latex import find_engine
from tests.outputs.feature_runs import add_feature_store

PDFLATEX = find_engine()
needs_pdflatex = pytest.mark.skipif(
    PDFLATEX is None or not PDFLATEX.endswith("pdflatex"), reason="pdflatex not installed"
)

NINE = [
    "iizuka",
    "iizuka:data=builtin",
    "iizuka:post=blend",
    "iizuka:drop=conv1.44+conv14.3",
    "patch",
    "patch:size=9,features=0",
    "telea",
    "ns",
    "biharmonic",
]
PHOTOS = ["astronaut", "coffee", "chelsea", "rocket", "grace_hopper", "china", "flower"]
OVERFULL = re.compile(r"Overfull \\hbox \(([0-9.]+)pt too wide\)")


def synthetic_run(path: Path, methods: list[str] = NINE, n: int = 280, seed: int = 0, max_area: float = 0.25) -> Path:
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
            rows.append(
                {
                    "method": m,
                    "image_id": i,
                    "status": "ok",
                    "error": None,
                    "seconds": float(rng.uniform(0.001, 3.0)),
                    "mask_area": float(a),
                    "n_rects": 2,
                    "output": "composited",
                    "mse": mse,
                    "hole_mse": hole_mse,
                    "psnr": float(-10 * np.log10(mse)),
                    "hole_psnr": float(-10 * np.log10(hole_mse)),
                    "ssim": float(np.clip(1 - a * rng.uniform(0.2, 0.6), 0, 1)),
                    "hole_ssim": float(rng.uniform(0.1, 0.7)),
                    "l1": hole_l1 * a,
                    "hole_l1": hole_l1,
                }
            )
    path.mkdir(parents=True, exist_ok=True)
    (path / "records.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    details = {
        "n": n,
        "n_real": n,
        "n_fake": n,
        "feature_dim": 2048,
        "extractor": "inception-v3-tf-2015-12-05",
        "extractor_sha256": "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34",
        "resize": "bilinear-299 (torch interpolate, align_corners=False, antialias=False)",
    }
    sets = {}
    for j, m in enumerate(methods):
        fid = 27.5 + 11.0 * j
        kid = 0.0017 + 0.0021 * j
        sets[m] = {
            "fid": {"value": fid, "low": fid - 5.5, "high": fid + 6.1, "details": details},
            "kid": {"value": kid, "low": kid - 0.0006, "high": kid + 0.0007, "details": details},
        }
    (path / "set_metrics.json").write_text(json.dumps(sets))
    config = {
        "identity": {
            "dataset": {"dataset": "builtin", "split": "test", "preprocess": {"size": 160}},
            "n": n,
            "seed": seed,
            "mask_family": "rects",
        },
        "methods": methods,
        "mask_sha256": "5871e4c0023f" + "0" * 52,
        "command": f"bench run --methods {','.join(methods)} --n {n} --out runs/main",
    }
    (path / "config.json").write_text(json.dumps(config))
    groups = {"unit": "builtin source photos", "units": len(PHOTOS), "groups": {i: i.rpartition("-")[0] for i in ids}}
    (path / "groups.json").write_text(json.dumps(groups))
    return path


def overfull_boxes(tex: Path, workdir: Path) -> list[float]:
    """Widths (pt) of every overfull hbox pdflatex reports for ``tex``."""
    proc = subprocess.run(
        [PDFLATEX, "-interaction=nonstopmode", "-halt-on-error", f"-output-directory={workdir}", str(tex)],
        check=False,
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=180,
    )
    log = (workdir / (tex.stem + ".log")).read_text(errors="replace")
    assert proc.returncode == 0, log[-3000:]
    return [float(w) for w in OVERFULL.findall(log)]


@pytest.fixture(scope="module")
def nine_run(tmp_path_factory):
    # With stored features: --bins area splits the set metrics too, and that table must fit as well.
    return add_feature_store(synthetic_run(tmp_path_factory.mktemp("nine") / "run"))


@needs_pdflatex
@pytest.mark.parametrize("bins", [None, "area"])
def test_nine_method_report_fits_the_page(nine_run, tmp_path, bins):
    rep = build_report(nine_run, tmp_path / "rep", ReportOptions(grid=False, compile=False, bins=bins))
    widths = overfull_boxes(rep.out / "report.tex", tmp_path)
    assert all(w <= 1.0 for w in widths), f"overfull hboxes (pt): {widths}"


def _measure(texts: list[str], size: str, workdir: Path) -> list[float]:
    """pdfTeX's own widths (pt) of ``texts`` at a font size, through \\settowidth."""
    lines = [r"\documentclass{article}", r"\usepackage[T1]{fontenc}", r"\newlength\w", r"\begin{document}", "\\" + size]
    for k, t in enumerate(texts):
        lines.append(rf"\settowidth\w{{{t}}}\typeout{{MEAS{k} \the\w}}")
    lines.append(r"\end{document}")
    (workdir / "m.tex").write_text("\n".join(lines))
    subprocess.run(
        [PDFLATEX, "-interaction=nonstopmode", "m.tex"], check=False, cwd=workdir, capture_output=True, timeout=120
    )
    found = dict(re.findall(r"MEAS(\d+) ([0-9.]+)pt", (workdir / "m.log").read_text()))
    return [float(found[str(k)]) for k in range(len(texts))]


@needs_pdflatex
@pytest.mark.parametrize("size", ["small", "footnotesize"])
def test_width_estimate_matches_pdftex(tmp_path, size):
    from bench.outputs.report.widths import text_width

    texts = [
        r"+0.0756 $\pm$ 0.0135 ($p < 0.001$)",
        r"\textbf{0.0037 $\pm$ 0.0018}",
        r"vs iizuka:post=blend",
        r"$\Delta$SSIM$\uparrow$ (hole)",
        r"patch:size=9,features=0",
        r"iizuka:drop=conv1.44+conv14.3",
        r"\emph{Hole area 10--20\%, $n = 37$}",
        r"-1.01 $\pm$ 0.33 ($p = 0.986$)",
        r"KID$\downarrow$",
        r"$\infty$",
        r"a\_b \& 50\%",
    ]
    measured = _measure(texts, size, tmp_path)
    for text, want in zip(texts, measured):
        assert text_width(text, size) == pytest.approx(want, rel=0.02, abs=0.5), text


@needs_pdflatex
def test_wide_and_long_labelled_tables_still_fit(tmp_path):
    import pandas as pd

    from bench.outputs.report.latex import Block, document, latex_table

    cell = r"+0.0756 $\pm$ 0.0135 ($p < 0.001$)"
    wide = pd.DataFrame(
        [[cell] * 7] * 3, index=["telea", "patch:size=9,features=0", "ns"], columns=[f"col{k}" for k in range(7)]
    )
    tex_wide = latex_table([Block(wide)], list(wide.columns), "Seven wide columns.", "tab:wide")
    # 7 columns of ~120 pt do not fit 470 pt: stacked parts of the same float, labels repeated.
    assert tex_wide.count(r"\begin{tabular}") >= 2 and tex_wide.count(r"\label{tab:wide}") == 1
    assert tex_wide.count("patch:") == tex_wide.count(r"\begin{tabular}")
    # Wrapping the long label after ',' or '=' saved a part here: it breaks only there, never hyphenated.
    assert r"patch:\allowbreak{}size=\allowbreak{}9,\allowbreak{}features=\allowbreak{}0" in tex_wide
    long = pd.DataFrame([["1.0"], ["2.0"]], index=["x" * 200, "y"], columns=["MSE"])
    tex_long = latex_table([Block(long)], ["MSE"], "An unbreakable 200-character label.", "tab:long")
    assert r"\resizebox{\linewidth}{!}" in tex_long  # the last resort, only here
    assert r"\resizebox" not in tex_wide
    doc = tmp_path / "w.tex"
    doc.write_text(document([tex_wide, tex_long]))
    widths = overfull_boxes(doc, tmp_path)
    assert all(w <= 1.0 for w in widths), f"overfull hboxes (pt): {widths}"


def test_fid_kid_captions_name_features_and_n(nine_run, tmp_path):
    from bench.metrics.inception import INCEPTION_RESIZE

    rep = build_report(nine_run, tmp_path / "rep", ReportOptions(grid=False, compile=False, latex=True))
    tex = (rep.out / "table_set.tex").read_text()
    caption = tex.split(r"\caption{")[1].split(r"\label")[0]
    md = (rep.out / "report.md").read_text()
    set_md = md.split("## Set metrics")[1].split("##")[0]
    for text in (caption, set_md):
        assert "Inception-v3 pool3" in text and "2048-d" in text and "pytorch-fid" in text
        assert "bilinear resize to 299" in text and "8-bit PNGs" in text
        assert "n = 280 per method" in text
    # The resize details are the metrics module's own words, not a copy.
    assert INCEPTION_RESIZE.split("(")[1].rstrip(")").replace("_", r"\_") in caption
    assert "FID" not in (rep.out / "table_image.tex").read_text()


def test_caption_names_a_user_extractor_and_unequal_n(tmp_path):
    run = synthetic_run(tmp_path / "run", methods=["telea", "mean"], n=20)
    sets = json.loads((run / "set_metrics.json").read_text())
    user = {
        "n": 20,
        "feature_dim": 64,
        "extractor": "torchscript:tiny.pt",
        "extractor_sha256": "ab" * 32,
        "resize": "none (extractor's own)",
    }
    sets["telea"]["fid"]["details"] = user
    sets["telea"]["kid"]["details"] = user
    sets["mean"]["fid"]["details"] = dict(sets["mean"]["fid"]["details"], n=19)
    sets["mean"]["kid"]["details"] = dict(sets["mean"]["kid"]["details"], n=19)
    (run / "set_metrics.json").write_text(json.dumps(sets))
    rep = build_report(run, tmp_path / "rep", ReportOptions(grid=False, compile=False))
    caption = (rep.out / "table_set.tex").read_text()
    assert r"user extractor torchscript:tiny.pt (sha256 abababababab), 64-d, resize: none" in caption
    assert "Inception-v3 pool3" in caption  # mean's features were the standard ones
    assert "n per method: telea 20, mean 19" in caption
