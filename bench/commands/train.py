"""``bench train``: train a GLCIC variant in three phases (resumable, DDP under torchrun)."""

from __future__ import annotations

import math
from pathlib import Path

import click

from bench.commands.options import check_dataset, max_pixels_option

BUDGET_CONFIG = Path(__file__).resolve().parents[2] / "methods" / "glcic" / "configs" / "celeba-gpu.toml"


# Bounds far beyond any real training, so a typo (an extra digit, 2**64) is refused, not started.
STEPS = click.IntRange(min=0, max=10**9)
MAX_WIDTH = 64.0
MAX_SIDE = 8192
MAX_BATCH = 65536
MAX_WORKERS = 1024


def _finite(ctx, param, value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise click.BadParameter(f"{value} is not a finite number")
    return value


def _check_config_file(path: str) -> None:
    """Refuse a ``--config`` that is not TOML or sets no key (an empty file would train the paper's 500k steps)."""
    import tomllib

    try:
        with open(path, "rb") as fh:
            table = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise click.BadParameter(f"{path} is not a TOML file ({err})", param_hint="--config") from None
    if not table:
        raise click.BadParameter(
            f"{path} sets no key; leave --config out for the paper's settings", param_hint="--config"
        )


def _check_checkpoint(path: str) -> None:
    """Refuse an ``--init-from`` that PyTorch cannot read, naming the file."""
    import torch

    try:
        torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises pickle, zip, EOF and runtime errors for a file that is not its own
        reason = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise click.BadParameter(
            f"{path} is not a training checkpoint of bench train (e.g. RUN/phase1.pt): {reason}",
            param_hint="--init-from",
        ) from None


@click.command()
@click.option(
    "--variant",
    type=click.Choice(["full", "global", "local"]),
    default=None,
    help="Discriminator branches: full (global + local), or one of them (the ablations). "
    "Default: the config file's, else full.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="TOML config (keys of methods.glcic.config.GLCICConfig, top level or under [glcic]). "
    "Default: the paper's settings.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Run directory; rerun the same command to resume. Default runs/glcic-VARIANT.",
)
@click.option(
    "--dataset",
    callback=check_dataset,
    default=None,
    help="Training images (bench list datasets; default: config's, else builtin).",
)
@click.option(
    "--data-root",
    type=click.Path(file_okay=False),
    default=None,
    help="CelebA root (containing img_align_celeba/) or an image folder.",
)
@click.option("--split", default=None, help="Split to train on (default: config's, else train).")
@max_pixels_option
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--steps-phase1", type=STEPS, default=None, help="Tc: completion-net steps (MSE).")
@click.option("--steps-phase2", type=STEPS, default=None, help="Td: discriminator-only steps.")
@click.option("--steps-phase3", type=STEPS, default=None, help="T: joint steps.")
@click.option(
    "--width",
    type=click.FloatRange(min=0, min_open=True, max=MAX_WIDTH),
    callback=_finite,
    default=None,
    help="Channel multiplier (1.0 = the paper).",
)
@click.option(
    "--resolution", type=click.IntRange(min=16, max=MAX_SIDE), default=None, help="Training crop side in pixels."
)
@click.option(
    "--batch-size", type=click.IntRange(min=1, max=MAX_BATCH), default=None, help="Images per step per process."
)
@click.option(
    "--init-from",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="Start from a phase-1 training checkpoint (e.g. RUN/phase1.pt) to branch a variant.",
)
@click.option(
    "--seed", type=click.IntRange(min=0, max=2**63 - 1), default=None, help="Seed for initialisation and batches."
)
@click.option(
    "--set",
    "sets",
    multiple=True,
    metavar="KEY=VALUE",
    help="Override any config key (VALUE read as JSON where it parses), e.g. --set max_images=200.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=0, max=MAX_WORKERS),
    default=0,
    show_default=True,
    help="Threads decoding every training image before the first step (0: decode as batches need them).",
)
@click.option(
    "--budget",
    type=click.FloatRange(min=0, min_open=True),
    callback=_finite,
    default=None,
    metavar="SECONDS",
    help="Train all three variants within this wall-clock time: phase 1 sized from a timing probe, then "
    "phases 2 and 3 of each variant side by side (default config: celeba-gpu.toml; OUT holds phase1/, "
    "full/, global/, local/ and summary.json).",
)
@click.option(
    "--pack",
    "pack_dir",
    type=click.Path(file_okay=False),
    default=None,
    help="With --budget: a .tar.gz of each run directory (without training states) and summary.json, "
    "written as each part finishes.",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
def train(
    variant,
    config_file,
    out,
    dataset,
    data_root,
    split,
    device,
    steps_phase1,
    steps_phase2,
    steps_phase3,
    width,
    resolution,
    batch_size,
    init_from,
    seed,
    sets,
    workers,
    budget,
    pack_dir,
    progress,
):
    """Train GLCIC (Iizuka et al. 2017): phase 1 MSE, phase 2 discriminator, phase 3 joint.

    Writes OUT/config.toml, OUT/losses.csv, OUT/losses.png, checkpoints OUT/latest.pt and
    OUT/phase1.pt, and finally OUT/glcic-VARIANT.pt, loadable with `iizuka:ckpt=PATH`.
    For several processes or GPUs, launch with
    `torchrun --nproc_per_node N -m bench.cli train ...`. With --budget SECONDS (a lent GPU's
    minutes), the step counts follow the measured speed instead.
    """
    from methods.glcic.budget import apply_sets, train_in_budget
    from methods.glcic.data import TrainImages
    from methods.glcic.train import Trainer, resolve_config

    if budget is None and pack_dir is not None:
        raise click.UsageError("--pack needs --budget")
    if budget is not None and (variant or init_from):
        raise click.UsageError(
            "--budget trains all three variants from its own phase 1: leave out --variant and --init-from"
        )
    if budget is not None and config_file is None:
        config_file = str(BUDGET_CONFIG)
    if config_file is not None:
        _check_config_file(config_file)
    if init_from is not None:
        _check_checkpoint(init_from)
    try:
        config = resolve_config(
            config_file,
            variant=variant,
            dataset=dataset,
            data_root=data_root,
            split=split,
            steps_phase1=steps_phase1,
            steps_phase2=steps_phase2,
            steps_phase3=steps_phase3,
            width=width,
            resolution=resolution,
            batch_size=batch_size,
            seed=seed,
        )
        config = apply_sets(config, sets)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    if budget is not None:
        train_in_budget(
            config,
            out or "runs/celeba-gpu",
            budget,
            device=device,
            workers=max(1, workers),
            pack_dir=pack_dir,
            echo=lambda line: click.echo(line),
        )
        return
    out_dir = Path(out or f"runs/glcic-{config.variant}")
    try:
        images = None
        if workers > 0:
            images = TrainImages(config)
            images.preload(workers)
        weights = Trainer(config, out_dir, device=device, init_from=init_from, progress=progress, images=images).run()
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from None
    if weights is not None:
        click.echo(f"weights: {weights}\nuse them with: bench run --methods 'iizuka:ckpt={weights}'")
