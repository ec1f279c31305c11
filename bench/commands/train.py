"""``bench train``: train a GLCIC variant in three phases (resumable, DDP under torchrun)."""

from __future__ import annotations

from pathlib import Path

import click


@click.command()
@click.option("--variant", type=click.Choice(["full", "global", "local"]), default=None,
              help="Discriminator branches: full (global + local), or one of them (the ablations). "
                   "Default: the config file's, else full.")
@click.option("--config", "config_file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="TOML config (keys of methods.glcic.config.GLCICConfig, top level or under [glcic]). "
                   "Default: the paper's settings.")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Run directory; rerun the same command to resume. Default runs/glcic-VARIANT.")
@click.option("--dataset", type=click.Choice(["builtin", "celeba", "folder"]), default=None,
              help="Training images (default: config's, else builtin).")
@click.option("--data-root", type=click.Path(file_okay=False), default=None,
              help="CelebA root (containing img_align_celeba/) or an image folder.")
@click.option("--split", default=None, help="Split to train on (default: config's, else train).")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True)
@click.option("--steps-phase1", type=int, default=None, help="Tc: completion-net steps (MSE).")
@click.option("--steps-phase2", type=int, default=None, help="Td: discriminator-only steps.")
@click.option("--steps-phase3", type=int, default=None, help="T: joint steps.")
@click.option("--width", type=float, default=None, help="Channel multiplier (1.0 = the paper).")
@click.option("--resolution", type=int, default=None, help="Training crop side in pixels.")
@click.option("--batch-size", type=int, default=None, help="Images per step per process.")
@click.option("--init-from", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Start from a phase-1 training checkpoint (e.g. RUN/phase1.pt) to branch a variant.")
@click.option("--seed", type=int, default=None, help="Seed for initialisation and batches.")
@click.option("--progress/--no-progress", default=True, show_default=True)
def train(variant, config_file, out, dataset, data_root, split, device, steps_phase1, steps_phase2,
          steps_phase3, width, resolution, batch_size, init_from, seed, progress):
    """Train GLCIC (Iizuka et al. 2017): phase 1 MSE, phase 2 discriminator, phase 3 joint.

    Writes OUT/config.toml, OUT/losses.csv, OUT/losses.png, checkpoints OUT/latest.pt and
    OUT/phase1.pt, and finally OUT/glcic-VARIANT.pt, loadable with `iizuka:ckpt=PATH`.
    For several processes or GPUs, launch with
    `torchrun --nproc_per_node N -m bench.cli train ...`.
    """
    from methods.glcic.train import Trainer, resolve_config

    try:
        config = resolve_config(config_file, variant=variant, dataset=dataset, data_root=data_root,
                                split=split, steps_phase1=steps_phase1, steps_phase2=steps_phase2,
                                steps_phase3=steps_phase3, width=width, resolution=resolution,
                                batch_size=batch_size, seed=seed)
    except ValueError as err:
        raise click.UsageError(str(err)) from None
    out_dir = Path(out or f"runs/glcic-{config.variant}")
    try:
        weights = Trainer(config, out_dir, device=device, init_from=init_from, progress=progress).run()
    except (ValueError, FileNotFoundError) as err:
        raise click.ClickException(str(err)) from None
    if weights is not None:
        click.echo(f"weights: {weights}\nuse them with: bench run --methods 'iizuka:ckpt={weights}'")
