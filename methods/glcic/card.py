"""Model cards: a Markdown description written beside each exported GLCIC checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from bench.core.files import atomic_write_text
from methods.glcic.networks import CompletionNet, count_parameters


def render_card(weights: dict[str, Any], name: str, notes: str = "") -> str:
    """Markdown card of a loaded weights file (see ``methods.glcic.inference.load_weights``).

    Parameters
    ----------
    weights : dict
        The exported checkpoint (metadata + state dict).
    name : str
        Title, e.g. the registry name or file name.
    notes : str
        Extra Markdown appended (e.g. scores measured with ``bench run``).
    """
    cfg, hist = weights["config"], weights["history"]
    data = hist.get("data", {})
    wall = hist.get("wall_s", {})
    total_wall = sum(float(v) for v in wall.values())
    params = count_parameters(CompletionNet(float(weights["width"])))
    losses = weights.get("final_losses", {})
    loss_text = ", ".join(f"{k} {v:.4g}" for k, v in losses.items()) or "n/a"
    if data.get("dataset") == "builtin":
        data_line = (
            f"`builtin` dataset, split `{data.get('split')}` (photos: "
            f"{', '.join(data.get('photos', []))}; {data.get('n_ids')} crops, ids "
            f"`{data.get('first_id')}` ... `{data.get('last_id')}`), disjoint from the "
            "builtin test photos"
        )
    else:
        data_line = (
            f"`{data.get('dataset')}` split `{data.get('split')}` ({data.get('partition', '')}): "
            f"{data.get('n_ids')} ids, `{data.get('first_id')}` ... `{data.get('last_id')}`"
            + (f", id list sha256 `{data['ids_sha256'][:16]}…`" if data.get("ids_sha256") else "")
        )
    branched = hist.get("init_from")
    lines = [
        f"# {name}",
        "",
        f"GLCIC completion network (Iizuka et al. 2017) trained with the **{cfg['variant']}** "
        "discriminator" + (" (global + local branches)." if cfg["variant"] == "full" else " branch only."),
        "",
        "| | |",
        "|---|---|",
        f"| width multiplier | {cfg['width']} ({params:,} parameters; the paper's width 1.0 has 6,072,131) |",
        f"| training crops | {cfg['resolution']} px random crops of {cfg['load_size']} px images, random flips |",
        f"| holes | one rectangle, sides {cfg['hole_min']}-{cfg['hole_max']} px; local patch {cfg['local_size']} px |",
        f"| steps | phase 1 (MSE) Tc={cfg['steps_phase1']}, phase 2 (D only) Td={cfg['steps_phase2']}, "
        f"phase 3 (joint, alpha={cfg['alpha']}) T={cfg['steps_phase3']}; batch {cfg['batch_size']}"
        f"{' per process x ' + str(hist.get('world_size')) if hist.get('world_size', 1) > 1 else ''} |",
        f"| optimiser | {cfg['optimizer']} (lr {cfg['lr']}, rho {cfg['rho']}) |",
        f"| data | {data_line} |",
        f"| mean pixel (hole fill) | {', '.join(f'{v:.4f}' for v in weights['mean_pixel'])} |",
        f"| seed | {cfg['seed']} |",
        f"| step wall time | phase 1 {float(wall.get('1', 0)) / 60:.1f} min, phase 2 {float(wall.get('2', 0)) / 60:.1f} min, "
        f"phase 3 {float(wall.get('3', 0)) / 60:.1f} min (total {total_wall / 60:.1f} min) |",
        f"| throughput | {_samples_per_second(cfg, hist)} |",
        f"| hardware | {hist.get('hardware', 'unknown')} |",
        f"| code | git commit `{hist.get('git_commit', 'not recorded')}` |",
        f"| final losses (mean of last 100 steps) | {loss_text} |",
    ]
    if branched:
        lines += [
            "",
            f"Phases 2 and 3 were branched from the phase-1 checkpoint `{branched}` "
            "(phase 1 has no discriminator, so it is shared by the three variants; its "
            "wall time is included above).",
        ]
    if notes:
        lines += ["", notes.strip()]
    return "\n".join(lines) + "\n"


def _samples_per_second(cfg: dict[str, Any], hist: dict[str, Any]) -> str:
    """Training samples per second of each phase that ran, from the recorded wall times."""
    wall = hist.get("wall_s", {})
    world = int(hist.get("world_size", 1))
    steps = {"1": cfg["steps_phase1"], "2": cfg["steps_phase2"], "3": cfg["steps_phase3"]}
    parts = []
    for phase, n in steps.items():
        seconds = float(wall.get(phase, 0))
        if n and seconds > 0:
            parts.append(f"phase {phase} {n * cfg['batch_size'] * world / seconds:.2f}")
    return ", ".join(parts) + " samples/s" if parts else "n/a"


def write_card(
    weights_path: str | Path, card_path: str | Path | None = None, name: str | None = None, notes: str = ""
) -> Path:
    """Render the card of ``weights_path`` to ``card_path`` (default: same name, ``.md``)."""
    weights_path = Path(weights_path)
    weights = torch.load(weights_path, map_location="cpu", weights_only=True)
    card_path = Path(card_path) if card_path else weights_path.with_suffix(".md")
    atomic_write_text(card_path, render_card(weights, name or weights_path.stem, notes))
    return card_path


def probe_notes(curve_csv: str | Path, probe: str) -> str:
    """Markdown of a run's learning curve (``bench curve``): every snapshot and the baselines."""
    import csv

    with open(curve_csv, newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r.get("label")]
    snaps = sorted((r for r in rows if r["label"] == "snapshot"), key=lambda r: int(r["step"]))
    lines = [
        f"## Metrics on the probe ({probe})",
        "",
        "| step | phase | samples seen | hole PSNR (dB) | hole SSIM | PSNR (dB) | FID |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in snaps:
        lines.append(
            f"| {r['step']} | {r['phase']} | {int(r['samples_seen']):,} | {float(r['hole_psnr']):.2f} | "
            f"{float(r['hole_ssim']):.4f} | {float(r['psnr']):.2f} | {float(r['fid']):.1f} |"
        )
    for r in rows:
        if r["label"] != "snapshot":
            lines.append(
                f"| `{r['label']}` (baseline) | | | {float(r['hole_psnr']):.2f} | {float(r['hole_ssim']):.4f} | "
                f"{float(r['psnr']):.2f} | {float(r['fid']):.1f} |"
            )
    return "\n".join(lines) + "\n"


def publish_weights(run_dir: str | Path, dest_dir: str | Path, name: str, notes: str = "") -> Path:
    """Copy a finished run's weights, config and loss plot under ``dest_dir/name.*`` with a card.

    Parameters
    ----------
    run_dir : path
        A finished ``bench train`` run (holds ``glcic-VARIANT.pt``).
    dest_dir : path
        Where committed checkpoints live (e.g. ``methods/glcic/weights/celeba``).
    name : str
        Registry-style file stem (``iizuka``, ``iizuka-global``).
    notes : str
        Markdown appended to the card (probe metrics, honesty notes).
    """
    import shutil

    run_dir, dest_dir = Path(run_dir), Path(dest_dir)
    found = sorted(run_dir.glob("glcic-*.pt"))
    if len(found) != 1:
        raise FileNotFoundError(f"{run_dir}: expected one finished glcic-VARIANT.pt, found {len(found)}")
    dest_dir.mkdir(parents=True, exist_ok=True)
    weights = dest_dir / f"{name}.pt"
    shutil.copyfile(found[0], weights)
    shutil.copyfile(run_dir / "config.toml", dest_dir / f"{name}.toml")
    if (run_dir / "losses.png").exists():
        shutil.copyfile(run_dir / "losses.png", dest_dir / f"{name}-losses.png")
    write_card(weights, name=name, notes=notes)
    return weights


# Run-directory variant -> registry name of its published checkpoint.
PUBLISHED_NAMES = {"full": "iizuka", "global": "iizuka-global", "local": "iizuka-local"}


def publish_variants(
    runs: str | Path,
    dest_dir: str | Path,
    notes: str,
    probe: str,
    step: int | None = None,
    commit: str | None = None,
) -> list[Path]:
    """Publish the three variants of a ``bench train --budget`` (or ``train.sh``) run, with cards.

    Parameters
    ----------
    runs : path
        Folder holding the variant run directories ``full``, ``global`` and ``local``, each
        scored by ``bench curve`` (its ``curve.csv`` goes into the card).
    dest_dir : path
        Where the checkpoints are committed (``methods/glcic/weights/celeba``).
    notes : str
        Markdown shared by the three cards (data, budget, honesty notes).
    probe : str
        One line naming the validation probe of ``curve.csv``.
    step : int, optional
        Publish the step-``step`` snapshot instead of each run's final weights.
    commit : str, optional
        The code's commit, recorded where the run's own record is wrong (a copy of the tree
        without its ``.git``, as on a lent GPU machine).

    Returns
    -------
    list of Path
        The published weights.
    """
    import shutil
    import tempfile

    runs = Path(runs)
    published = []
    for variant, name in PUBLISHED_NAMES.items():
        run = runs / variant
        source = run / "snapshots" / f"step-{step:07d}.pt" if step is not None else run / f"glcic-{variant}.pt"
        if not source.exists():
            raise FileNotFoundError(f"{source}: no such checkpoint to publish")
        with tempfile.TemporaryDirectory() as tmp:
            # publish_weights takes a run directory holding one glcic-VARIANT.pt: stage the chosen file as one.
            stage = Path(tmp)
            weights = torch.load(source, map_location="cpu", weights_only=True)
            if commit:
                weights["history"]["git_commit"] = commit
            torch.save(weights, stage / f"glcic-{variant}.pt")
            for f in ("config.toml", "losses.png"):
                shutil.copyfile(run / f, stage / f)
            cfg = weights["config"]
            phase = "3" if weights["step"] > cfg["steps_phase1"] + cfg["steps_phase2"] else "1-2"
            tail = (
                f"\nThis checkpoint is step {weights['step']} (phase {phase}). "
                "Learning curve: `reports/celeba/learning_curve.png`.\n"
            )
            text = notes + "\n" + probe_notes(run / "curve.csv", probe) + tail
            published.append(publish_weights(stage, dest_dir, name, notes=text))
    return published
