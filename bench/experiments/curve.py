"""Learning curves: score a training run's completion-net snapshots on a fixed probe set.

The probe is a benchmark protocol like any other (``bench.inputs.protocol``): the first
``n`` images of a split (CelebA's validation split for face models) with the study's
seeded masks, so every point of the curve is measured on the same images and holes.
Each snapshot (``RUN/snapshots/step-NNNNNNN.pt``, written by training with
``snapshot_every``) gets hole PSNR, hole SSIM and FID against the probe's real
images; baselines (e.g. ``biharmonic``) are scored on the same probe once so the
curve shows where the net stands. Rows go to ``curve.csv`` one at a time, so a killed
evaluation resumes where it stopped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bench.core.files import CSVLog, update_text
from bench.core.images import quantize
from bench.core.outdir import check_kind, check_links, lock_dir
from bench.engine.evaluate import execute, score
from bench.inputs.protocol import Protocol, load_protocol
from bench.metrics.inception import load_extractor
from bench.metrics.registry import get_metric
from methods.glcic.train import is_training_dir

CURVE_COLUMNS = ("label", "step", "phase", "samples_seen", "wall_s", "hole_psnr", "hole_ssim", "psnr", "fid")
SNAPSHOT_PATTERN = re.compile(r"step-(\d+)\.pt$")


@dataclass(frozen=True)
class ProbeSpec:
    """Which images and masks make the probe (recorded at the top of ``curve.csv``)."""

    dataset: str = "celeba"
    data_root: str = ""
    split: str = "val"
    n: int = 64
    seed: int = 0
    size: int = 160

    def describe(self) -> str:
        return f"{self.dataset} split {self.split}, first {self.n} images, {self.size} px, rects masks seed {self.seed}"


def snapshots(run_dir: str | Path) -> list[Path]:
    """The snapshot files of a run, by step."""
    found = [p for p in (Path(run_dir) / "snapshots").glob("step-*.pt") if SNAPSHOT_PATTERN.search(p.name)]
    return sorted(found, key=lambda p: int(SNAPSHOT_PATTERN.search(p.name).group(1)))


def _read_rows(path: Path) -> list[dict[str, str]]:
    return [row for row in CSVLog(path).rows() if row.get("label")]


class ProbeScorer:
    """Scores methods on one probe: per-image hole metrics plus FID against its reals.

    Parameters
    ----------
    spec : ProbeSpec
    extractor : FeatureExtractor, optional
        FID features (default: the standard Inception).
    """

    def __init__(self, spec: ProbeSpec, extractor=None):
        self.spec = spec
        self.protocol: Protocol = load_protocol(
            spec.dataset, spec.data_root or None, split=spec.split, size=spec.size, n=spec.n, seed=spec.seed
        )
        self.extractor = extractor or load_extractor()
        self.real_features = self.extractor([quantize(s.image) for s in self.protocol.samples])
        self.metrics = [get_metric("psnr"), get_metric("ssim")]

    def score(self, method, label: str) -> dict[str, float]:
        """Mean hole PSNR / hole SSIM / PSNR and FID of one method on the probe."""
        from bench.metrics.frechet import fid_gram

        todo = [(s, self.protocol.mask(s.id)) for s in self.protocol.samples]
        rows, finals = [], []
        for sample, mask, out, seconds, err in execute(method, label, todo):
            row, final = score(label, sample, mask, self.protocol.masks[sample.id][1], out, seconds, err, self.metrics)
            if final is None:
                raise RuntimeError(f"{label} failed on probe image {sample.id}: {row['error']}")
            rows.append(row)
            finals.append(quantize(final))
        fake = self.extractor(finals)
        return {
            "hole_psnr": float(np.mean([r["hole_psnr"] for r in rows])),
            "hole_ssim": float(np.mean([r["hole_ssim"] for r in rows])),
            "psnr": float(np.mean([r["psnr"] for r in rows])),
            "fid": fid_gram(self.real_features, fake),
        }


def evaluate_run(
    run_dir: str | Path,
    spec: ProbeSpec,
    baselines: tuple[str, ...] = ("biharmonic", "telea"),
    out_csv: str | Path | None = None,
    scorer: ProbeScorer | None = None,
    progress: bool = True,
) -> Path:
    """Score every snapshot of ``run_dir`` (and the baselines) not yet in ``curve.csv``.

    Parameters
    ----------
    run_dir : path
        A ``bench train`` run directory with ``snapshots/``.
    spec : ProbeSpec
        The probe.
    baselines : tuple of str
        Method specs scored once on the same probe (horizontal lines on the plot).
    out_csv : path, optional
        Default ``run_dir/curve.csv``.

    Returns
    -------
    Path
        The CSV, with one row per snapshot (label ``snapshot``) and per baseline.

    Raises
    ------
    OutDirError
        ``run_dir`` is not a training run's directory, holds a link leading outside it, or
        another ``bench curve`` is writing the same CSV (the message names it and its pid).
    """
    run_dir = Path(run_dir)
    out_csv = Path(out_csv) if out_csv else run_dir / "curve.csv"
    check_kind(run_dir, "train", legacy=is_training_dir, option="RUN")
    if out_csv.parent.resolve() == run_dir.resolve():
        check_links(run_dir, option="RUN")
    # A lock of its own: a curve may be scored while its training writes the run's other files.
    with lock_dir(out_csv.parent, lock_name=f".{out_csv.name}.lock", command="bench curve", option="RUN"):
        return _evaluate(run_dir, spec, baselines, out_csv, scorer, progress)


def _evaluate(
    run_dir: Path,
    spec: ProbeSpec,
    baselines: tuple[str, ...],
    out_csv: Path,
    scorer: ProbeScorer | None,
    progress: bool,
) -> Path:
    import torch
    from tqdm import tqdm

    from methods.glcic.inference import GLCIC
    from methods.registry import create

    CSVLog(out_csv, list(CURVE_COLUMNS)).repair()  # a torn or damaged row is set aside and scored again
    done = _read_rows(out_csv)
    if done and out_csv.with_suffix(".probe").exists() and out_csv.with_suffix(".probe").read_text() != spec.describe():
        raise ValueError(
            f"{out_csv} was measured on another probe ({out_csv.with_suffix('.probe').read_text()}); "
            "pass another --out or delete it"
        )
    update_text(out_csv.with_suffix(".probe"), spec.describe())
    seen = {(r["label"], r["step"]) for r in done}
    todo_snaps = [
        p for p in snapshots(run_dir) if ("snapshot", str(int(SNAPSHOT_PATTERN.search(p.name).group(1)))) not in seen
    ]
    todo_base = [b for b in baselines if (b, "") not in seen]
    if not todo_snaps and not todo_base:
        return out_csv
    scorer = scorer or ProbeScorer(spec)
    with CSVLog(out_csv, CURVE_COLUMNS) as log:
        for base in todo_base:
            log.append_row(
                {
                    "label": base,
                    "step": "",
                    "phase": "",
                    "samples_seen": "",
                    "wall_s": "",
                    **_fmt(scorer.score(create(base), base)),
                }
            )
        for path in tqdm(todo_snaps, desc="snapshots", disable=not progress):
            weights = torch.load(path, map_location="cpu", weights_only=True)
            cfg = weights["config"]
            step = int(weights["step"])
            hist = weights["history"]
            method = GLCIC(weights)
            row: dict[str, Any] = {
                "label": "snapshot",
                "step": step,
                "phase": _phase(cfg, step),
                "samples_seen": step * int(cfg["batch_size"]) * int(hist.get("world_size", 1)),
                "wall_s": f"{sum(float(v) for v in hist.get('wall_s', {}).values()):.1f}",
            }
            row.update(_fmt(scorer.score(method, f"snapshot-{step}")))
            log.append_row(row)
    return out_csv


def _phase(cfg: dict[str, Any], step: int) -> int:
    # The snapshot at step s holds the net after s updates; the last update was of phase(s - 1).
    last = max(step - 1, 0)
    if last < cfg["steps_phase1"]:
        return 1
    return 2 if last < cfg["steps_phase1"] + cfg["steps_phase2"] else 3


def _fmt(values: dict[str, float]) -> dict[str, str]:
    return {k: f"{v:.6g}" for k, v in values.items()}


def plot_curves(csvs: dict[str, str | Path], png_path: str | Path, title: str = "") -> Path:
    """Hole PSNR and FID against samples seen, one line per run, baselines as horizontal lines.

    Parameters
    ----------
    csvs : dict
        Legend label -> ``curve.csv``.
    png_path : path
        Output PNG (a PDF is written beside it).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8))
    baselines: dict[str, dict[str, float]] = {}
    for i, (label, path) in enumerate(csvs.items()):
        rows = _read_rows(Path(path))
        snaps = sorted((r for r in rows if r["label"] == "snapshot"), key=lambda r: int(r["step"]))
        for r in rows:
            if r["label"] != "snapshot":
                baselines[r["label"]] = {"hole_psnr": float(r["hole_psnr"]), "fid": float(r["fid"])}
        x = [int(r["samples_seen"]) for r in snaps]
        for ax, col in zip(axes, ("hole_psnr", "fid")):
            ax.plot(x, [float(r[col]) for r in snaps], marker="o", ms=3, color=f"C{i}", label=label)
    for j, (name, vals) in enumerate(sorted(baselines.items())):
        for ax, col in zip(axes, ("hole_psnr", "fid")):
            ax.axhline(vals[col], color="grey", ls=("--", ":", "-.")[j % 3], lw=1, label=name)
    axes[0].set_ylabel("hole PSNR (dB), higher is better")
    axes[1].set_ylabel("FID (Inception, n = probe), lower is better")
    for ax in axes:
        ax.set_xlabel("training samples seen")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    png_path = Path(png_path)
    fig.savefig(png_path, dpi=110)
    fig.savefig(png_path.with_suffix(".pdf"))
    plt.close(fig)
    return png_path
