"""Train the three GLCIC variants inside a fixed wall-clock budget (``bench train --budget``).

A lent GPU comes for minutes, not hours, so the step counts are set from the measured speed
rather than fixed in advance: phase 1 runs a short timing probe, then as many steps (a multiple
of 500) as fit its share of the budget; the three discriminator variants then branch from the
phase-1 net and train phases 2 and 3 side by side, as separate processes on the same device,
with Td : T = 1 : 2 sized to what is left. Every run directory is an ordinary ``bench train``
run (config.toml, losses.csv, snapshots/, glcic-VARIANT.pt), so it can be resumed or extended
with ``bench train`` on any machine.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from bench.core.files import atomic_write_json
from bench.core.outdir import claim_dir
from methods.glcic.config import GLCICConfig, load_config, save_config
from methods.glcic.data import TrainImages
from methods.glcic.train import Trainer

VARIANTS = ("full", "global", "local")
PROBE_STEPS = 150  # timing probe; the first 50 steps (cuDNN autotuning) are not timed
PHASE1_SHARE = 0.6  # of the budget, the rest is the variants' phases 2 and 3
# A phase-3 step costs about twice a phase-1 step (discriminator forward and backward on real
# and fake, then on fake again), and three processes share one device.
VARIANT_COST = 2.0 * len(VARIANTS)
STARTUP_S = 30.0  # a variant process: import torch, CUDA context, decode the images


def pack(run_dir: Path, dest: Path, limit: int = 15 * 2**20) -> Path:
    """Tar ``run_dir`` into ``dest/NAME.tar.gz`` without its fp32 training states.

    A lent machine returns files of at most 16 MiB: while the tar is larger than ``limit``,
    the earliest snapshot is left out (the exported weights and the last snapshot always stay).
    """
    dest.mkdir(parents=True, exist_ok=True)
    out = dest / f"{run_dir.name}.tar.gz"
    files = [
        p
        for p in sorted(run_dir.rglob("*"))
        if p.is_file() and p.name not in ("latest.pt", "phase1.pt") and not p.name.endswith(".tmp")
    ]
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


def parse_sets(items: Iterable[str]) -> dict[str, Any]:
    """``KEY=VALUE`` config overrides (VALUE read as JSON where it parses, else a string)."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"config override {item!r} is not KEY=VALUE")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def apply_sets(config: GLCICConfig, items: Iterable[str]) -> GLCICConfig:
    """``config`` with ``KEY=VALUE`` overrides, checked like a config file's keys."""
    sets = parse_sets(items)
    if not sets:
        return config
    return GLCICConfig.from_dict(config.to_dict() | sets, source="--set")


def _variant_command(requested: Path, init_from: Path, out: Path, device: str, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "methods.glcic.budget",
        "--config",
        str(requested),
        "--init-from",
        str(init_from),
        "--out",
        str(out),
        "--device",
        device,
        "--workers",
        str(workers),
    ]


def train_in_budget(
    base: GLCICConfig,
    out: str | Path,
    budget: float,
    *,
    device: str = "cuda",
    workers: int = 1,
    pack_dir: str | Path | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Phase 1 then the three variants' phases 2 and 3, sized to finish within ``budget`` seconds.

    Parameters
    ----------
    base : GLCICConfig
        The training config; its step counts are replaced by the measured ones.
    out : path
        Parent folder of the run directories ``phase1``, ``full``, ``global`` and ``local``.
    budget : float
        Wall-clock seconds for everything, image decoding included.
    device : str
        ``cuda`` or ``cpu``.
    workers : int
        Threads decoding the training images (split between the variant processes).
    pack_dir : path, optional
        Where to write one .tar.gz per run directory (:func:`pack`) and ``summary.json`` as soon
        as each part is done, so that a run cut off at its limit still returns phase 1.
    echo : callable
        Receives one progress line per stage.

    Returns
    -------
    dict
        The summary (speeds, step counts, wall times), also written to ``out/summary.json``.
    """
    start = time.monotonic()
    out = Path(out)
    # The parent of the variants' run directories is this command's alone, as each of them is.
    with claim_dir(out, "budget", legacy=lambda path: (path / "summary.json").is_file()):
        return _train_in_budget(base, out, budget, start, device=device, workers=workers, pack_dir=pack_dir, echo=echo)


def _train_in_budget(
    base: GLCICConfig,
    out: Path,
    budget: float,
    start: float,
    *,
    device: str,
    workers: int,
    pack_dir: str | Path | None,
    echo: Callable[[str], None],
) -> dict[str, Any]:
    packs = Path(pack_dir) if pack_dir else None
    summary: dict[str, Any] = {"budget_s": budget, "device": device}

    def say(line: str) -> None:
        echo(f"[{time.monotonic() - start:6.1f}s] {line}")

    def save_summary() -> None:
        atomic_write_json(out / "summary.json", summary)
        if packs is not None:
            packs.mkdir(parents=True, exist_ok=True)
            atomic_write_json(packs / "summary.json", summary)

    images = TrainImages(base)
    images.preload(workers)
    summary["preload_s"] = round(time.monotonic() - start, 1)
    say(f"{len(images)} training images decoded")

    # Timing probe: the start of phase 1 itself (Tc is raised afterwards, which a run allows).
    phase1 = out / "phase1"
    probe = base.with_overrides(
        steps_phase1=10**6, steps_phase2=0, steps_phase3=0, ckpt_every=PROBE_STEPS, snapshot_every=0
    )
    Trainer(probe, phase1, device=device, progress=False, images=images).run(stop_at=PROBE_STEPS)
    step_s = mean_step_seconds(phase1, 50)
    steps = int((budget * PHASE1_SHARE - (time.monotonic() - start)) / step_s) // 500 * 500
    tc = max(500, steps)
    summary["phase1"] = {"probe_step_s": step_s, "samples_per_s": base.batch_size / step_s, "Tc": tc}
    save_summary()
    say(f"phase 1: {step_s * 1000:.1f} ms/step ({base.batch_size / step_s:.0f} samples/s) -> Tc = {tc}")

    # Snapshots at Tc/4, Tc/2, 3Tc/4 and Tc: the learning curve's points.
    p1 = base.with_overrides(steps_phase1=tc, steps_phase2=0, steps_phase3=0, snapshot_every=tc // 4)
    t1 = time.monotonic()
    Trainer(p1, phase1, device=device, progress=False, images=images).run()
    summary["phase1"]["wall_s"] = round(time.monotonic() - t1, 1)
    summary["phase1"]["step_s"] = mean_step_seconds(phase1, PROBE_STEPS)
    save_summary()
    if packs is not None:
        pack(phase1, packs)
    say("phase 1 done")

    # The variants: Td : T = 1 : 2, sized to what is left (in multiples of 50).
    left = budget - (time.monotonic() - start) - STARTUP_S - 20.0
    n = int(left / (summary["phase1"]["step_s"] * VARIANT_COST))
    td = max(50, n // 3 // 50 * 50)
    t = max(50, (n - td) // 50 * 50)
    summary["variants"] = {"Td": td, "T": t}
    save_summary()
    say(f"variants: Td = {td}, T = {t}")
    procs = {}
    for variant in VARIANTS:
        cfg = p1.with_overrides(
            variant=variant, steps_phase2=td, steps_phase3=t, snapshot_every=max(50, (td + t) // 3 // 50 * 50)
        )
        run_dir = out / variant
        run_dir.mkdir(parents=True, exist_ok=True)
        save_config(cfg, run_dir / "requested.toml")
        log = open(run_dir / "train.log", "w")
        command = _variant_command(
            run_dir / "requested.toml", phase1 / "phase1.pt", run_dir, device, max(1, workers // len(VARIANTS))
        )
        procs[variant] = (subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT), log)
    deadline = start + budget - 15.0
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
        if packs is not None:
            pack(run_dir, packs)
    summary["wall_s"] = round(time.monotonic() - start, 1)
    save_summary()
    say(f"done: {json.dumps(summary)}")
    return summary


def train_variant(config: str | Path, init_from: str | Path, out: str | Path, device: str, workers: int) -> None:
    """One variant's phases 2 and 3 from a phase-1 checkpoint (the subprocess of :func:`train_in_budget`)."""
    cfg = load_config(config)
    images = TrainImages(cfg)
    images.preload(workers)
    Trainer(cfg, out, device=device, init_from=init_from, progress=False, images=images).run()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=train_variant.__doc__)
    for flag in ("--config", "--init-from", "--out", "--device"):
        parser.add_argument(flag, required=True)
    parser.add_argument("--workers", type=int, default=1)
    ns = parser.parse_args()
    train_variant(ns.config, ns.init_from, ns.out, ns.device, ns.workers)
