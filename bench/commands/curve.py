"""``bench curve``: learning curves of GLCIC training runs on a fixed probe set."""

from __future__ import annotations

from pathlib import Path

import click

from bench.commands.options import check_data_root, check_dataset, max_pixels_option, output_file_check


@click.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False, exists=True))
@click.option(
    "--dataset",
    default="celeba",
    show_default=True,
    callback=check_dataset,
    help="Dataset of the probe images (bench list datasets; @module:attr for your own).",
)
@click.option(
    "--data-root", type=click.Path(file_okay=False), default=None, help="CelebA root or image folder of the probe."
)
@click.option(
    "--split",
    default="val",
    show_default=True,
    help="Probe split (validation: never trained on, never in the test tables).",
)
@max_pixels_option
@click.option("--n", "n", default=64, show_default=True, help="Probe size (the first N images of the split).")
@click.option("--seed", default=0, show_default=True, help="Mask seed of the probe.")
@click.option(
    "--baselines",
    default="biharmonic,telea",
    show_default=True,
    help="Methods scored once on the same probe, drawn as horizontal lines.",
)
@click.option(
    "--plot",
    "plot_path",
    type=click.Path(dir_okay=False),
    callback=output_file_check(("train",)),
    default=None,
    help="PNG of hole PSNR and FID against samples seen (PDF beside it). Default: FIRST_RUN/curve.png.",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
@check_data_root
def curve(runs, dataset, data_root, split, n, seed, baselines, plot_path, progress):
    """Score every snapshot of each RUN (training with snapshot_every > 0) on a fixed probe.

    Writes RUN/curve.csv (resumable: scored snapshots are kept) and one plot of all runs.
    """
    from bench.experiments.curve import ProbeScorer, ProbeSpec, evaluate_run, plot_curves

    if n < 2:
        raise click.BadParameter(f"--n {n}: FID needs at least 2 probe images", param_hint="--n")
    spec = ProbeSpec(dataset=dataset, data_root=data_root or "", split=split, n=n, seed=seed)
    base = tuple(b.strip() for b in baselines.split(",") if b.strip())
    scorer = None
    csvs = {}
    for i, run in enumerate(runs):
        run = Path(run)
        if not (run / "snapshots").is_dir():
            raise click.ClickException(f"{run} has no snapshots/ (train with snapshot_every > 0 in its config)")
        try:
            if scorer is None:
                scorer = ProbeScorer(spec)
            csvs[run.name] = evaluate_run(run, spec, baselines=base if i == 0 else (), scorer=scorer, progress=progress)
        except (ValueError, FileNotFoundError) as err:
            raise click.ClickException(str(err)) from None
    out = Path(plot_path) if plot_path else Path(runs[0]) / "curve.png"
    plot_curves(csvs, out, title=f"GLCIC learning curve on {spec.describe()}")
    click.echo(f"curve: {out}")
    for label, path in csvs.items():
        click.echo(f"  {label}: {path}")
