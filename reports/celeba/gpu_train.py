"""Train the CelebA GLCIC checkpoints on one GPU inside a fixed wall-clock budget.

A lent GPU comes for minutes, not hours, so the step counts are set from the measured speed
rather than fixed in advance: phase 1 runs a short timing probe, then as many steps (a multiple
of 500) as fit its share of the budget; the three discriminator variants then branch from the
phase-1 net and train phases 2 and 3 side by side, as separate processes on the same GPU, with
Td : T = 1 : 2 sized to what is left. Every run directory is an ordinary ``bench train`` run
(config.toml, losses.csv, snapshots/, glcic-VARIANT.pt), so it can be resumed or extended with
``bench train`` on any machine.

Run from the repository root::

    python reports/celeba/gpu_train.py --data-root ../shared/data/celeba --out runs/celeba-gpu \\
        --budget 530 --pack "$OUT"

``--pack DIR`` writes one .tar.gz per run directory (without the fp32 training states, which a
lent machine's file limits cannot return) and ``summary.json`` (speeds, step counts, wall
times) as soon as each part is done, so a run cut off at its limit still returns phase 1.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from methods.glcic.config import load_config, save_config
from methods.glcic.data import TrainImages
from methods.glcic.train import Trainer

CONFIG = ROOT / "methods/glcic/configs/celeba-gpu.toml"
VARIANTS = ("full", "global", "local")
PROBE_STEPS = 150  # timing probe; the first 50 steps (cuDNN autotuning) are not timed
PHASE1_SHARE = 0.6  # of the budget, the rest is the variants' phases 2 and 3
# A phase-3 step costs about twice a phase-1 step (discriminator forward and backward on real
# and fake, then on fake again), and three processes share one GPU.
VARIANT_COST = 2.0 * len(VARIANTS)
STARTUP_S = 30.0  # a variant process: import torch, CUDA context, decode the images


def pack(run_dir: Path, dest: Path, limit: int = 15 * 2**20) -> Path:
    """Tar ``run_dir`` into ``dest/NAME.tar.gz`` without its fp32 training states.

    A lent machine returns files of at most 16 MiB: while the tar is larger than ``limit``,
    the earliest snapshot is left out (the exported weights and the last snapshot always stay).
    """
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / f"{run_dir.name}.tar.gz"
    files = [p for p in sorted(run_dir.rglob("*")) if p.is_file()
             and p.name not in ("latest.pt", "phase1.pt") and not p.name.endswith(".tmp")]
    while True:
        with tarfile.open(out, "w:gz") as tar:
            for path in files:
                tar.add(path, arcname=str(path.relative_to(run_dir.parent)))
        snapshots = [p for p in files if p.parent.name == "snapshots"]
        if out.stat().st_size <= limit or len(snapshots) <= 1:
            return out
        files.remove(snapshots[0])


def mean_step_seconds(run_dir: Path, first: int) -> float:
    """Mean of losses.csv's per-step seconds from step ``first`` on."""
    frame = pd.read_csv(run_dir / "losses.csv")
    return float(frame.loc[frame["step"] >= first, "seconds"].mean())


def parse_sets(items: list[str]) -> dict:
    """``KEY=VALUE`` config overrides (VALUE read as JSON where it parses, else a string)."""
    out = {}
    for item in items:
        key, _, value = item.partition("=")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def run_variant(args: argparse.Namespace) -> None:
    """One variant's phases 2 and 3 (called in a subprocess by ``main``)."""
    config = load_config(args.config)
    images = TrainImages(config)
    images.preload(args.workers)
    Trainer(config, args.out, device=args.device, init_from=args.init_from, progress=False,
            images=images).run()


def main(args: argparse.Namespace) -> None:
    start = time.monotonic()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    packdir = Path(args.pack) if args.pack else None
    summary: dict = {"budget_s": args.budget, "device": args.device}

    def save_summary() -> None:
        (out / "summary.json").write_text(json.dumps(summary, indent=2))
        if packdir is not None:
            packdir.mkdir(parents=True, exist_ok=True)
            (packdir / "summary.json").write_text(json.dumps(summary, indent=2))

    base = load_config(CONFIG).with_overrides(data_root=args.data_root, **parse_sets(args.set))
    images = TrainImages(base)
    images.preload(args.workers)
    summary["preload_s"] = round(time.monotonic() - start, 1)
    print(f"[{time.monotonic() - start:6.1f}s] {len(images)} training images decoded", flush=True)

    # Timing probe: the start of phase 1 itself (Tc is raised afterwards, which a run allows).
    phase1 = out / "phase1"
    probe = base.with_overrides(steps_phase1=10**6, steps_phase2=0, steps_phase3=0,
                                ckpt_every=PROBE_STEPS, snapshot_every=0)
    Trainer(probe, phase1, device=args.device, progress=False, images=images).run(stop_at=PROBE_STEPS)
    step_s = mean_step_seconds(phase1, 50)
    phase1_end = args.budget * PHASE1_SHARE
    steps = int((phase1_end - (time.monotonic() - start)) / step_s) // 500 * 500
    tc = max(500, steps)
    summary["phase1"] = {"probe_step_s": step_s, "samples_per_s": base.batch_size / step_s, "Tc": tc}
    save_summary()
    print(f"[{time.monotonic() - start:6.1f}s] phase 1: {step_s * 1000:.1f} ms/step "
          f"({base.batch_size / step_s:.0f} samples/s) -> Tc = {tc}", flush=True)

    # Snapshots at Tc/4, Tc/2, 3Tc/4 and Tc: the learning curve's points.
    p1 = base.with_overrides(steps_phase1=tc, steps_phase2=0, steps_phase3=0, snapshot_every=tc // 4)
    t1 = time.monotonic()
    Trainer(p1, phase1, device=args.device, progress=False, images=images).run()
    summary["phase1"]["wall_s"] = round(time.monotonic() - t1, 1)
    summary["phase1"]["step_s"] = mean_step_seconds(phase1, PROBE_STEPS)
    save_summary()
    if packdir is not None:
        pack(phase1, packdir)
    print(f"[{time.monotonic() - start:6.1f}s] phase 1 done", flush=True)

    # The variants: Td : T = 1 : 2, sized to what is left (in multiples of 50).
    left = args.budget - (time.monotonic() - start) - STARTUP_S - 20.0
    n = int(left / (summary["phase1"]["step_s"] * VARIANT_COST))
    td = max(50, n // 3 // 50 * 50)
    t = max(50, (n - td) // 50 * 50)
    summary["variants"] = {"Td": td, "T": t}
    save_summary()
    print(f"[{time.monotonic() - start:6.1f}s] variants: Td = {td}, T = {t}", flush=True)
    procs = {}
    for variant in VARIANTS:
        cfg = p1.with_overrides(variant=variant, steps_phase2=td, steps_phase3=t,
                                snapshot_every=max(50, (td + t) // 3 // 50 * 50))
        run_dir = out / variant
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "requested.toml")
        log = open(run_dir / "train.log", "w")
        procs[variant] = (subprocess.Popen(
            [sys.executable, __file__, "--run-variant", "--config", str(run_dir / "requested.toml"),
             "--init-from", str(phase1 / "phase1.pt"), "--out", str(run_dir), "--device", args.device,
             "--workers", str(max(1, args.workers // len(VARIANTS)))],
            stdout=log, stderr=subprocess.STDOUT), log)
    deadline = start + args.budget - 15.0
    while any(p.poll() is None for p, _ in procs.values()) and time.monotonic() < deadline:
        time.sleep(2.0)
    for variant, (proc, log) in procs.items():
        if proc.poll() is None:
            proc.terminate()
            proc.wait(10)
        log.close()
        run_dir = out / variant
        done = (run_dir / f"glcic-{variant}.pt").exists()
        summary["variants"][variant] = {"returncode": proc.returncode, "finished": done}
        if (run_dir / "losses.csv").exists():
            summary["variants"][variant]["step_s"] = mean_step_seconds(run_dir, tc)
        if packdir is not None:
            pack(run_dir, packdir)
    summary["wall_s"] = round(time.monotonic() - start, 1)
    save_summary()
    print(f"[{time.monotonic() - start:6.1f}s] done: {json.dumps(summary)}", flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-root", default="../shared/data/celeba")
    parser.add_argument("--out", default="runs/celeba-gpu")
    parser.add_argument("--budget", type=float, default=530.0, help="seconds for everything")
    parser.add_argument("--pack", default=None, help="folder for the tars and summary.json")
    parser.add_argument("--device", default="cuda", choices=["cuda", "cpu"])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="threads decoding the images")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="override a key of celeba-gpu.toml (e.g. a small width for a dry run)")
    parser.add_argument("--run-variant", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--config", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--init-from", default=None, help=argparse.SUPPRESS)
    ns = parser.parse_args()
    run_variant(ns) if ns.run_variant else main(ns)
