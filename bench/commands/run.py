"""``bench run``: evaluate methods on identical images and masks."""

from __future__ import annotations

import logging
from pathlib import Path

import click

from bench.commands.cluster_option import cluster_option
from bench.commands.options import protocol_options, split_specs
from bench.metrics.registry import metric_names

# More processes than any machine's cores is a typo, not a request.
MAX_JOBS = 4096


@click.command()
@click.option(
    "--methods",
    "methods_",
    required=True,
    help="Comma-separated method specs, e.g. 'telea,patch:size=9,features=0,mean' (see `bench list methods`), "
    "'@package.module:Name[:key=value]' for your own code, 'predictions:dir=DIR' for a tool's outputs.",
)
@protocol_options
@click.option(
    "--metrics",
    default="default",
    show_default=True,
    help="Comma-separated metric names (see `bench list metrics`), 'default' (MSE, L1, PSNR, both "
    "SSIMs, FID, FID-inf, KID, paired KID) or 'all' (adds precision/recall, density/coverage, "
    "P-IDS/U-IDS).",
)
@click.option(
    "--jobs",
    default=1,
    show_default=True,
    type=click.IntRange(min=1, max=MAX_JOBS),
    help="Worker processes for CPU methods.",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Run directory (rerun the same command to resume). Default runs/<dataset>-n<N>-s<seed>.",
)
@click.option(
    "--fid-features",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="TorchScript feature extractor for FID/KID instead of the standard Inception.",
)
@click.option(
    "--fid-reference",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="Statistics of the real side of FID/KID from a file instead of the run's images: a pytorch-fid "
    ".npz (mu, sigma) or clean-fid custom statistics (bench/metrics/README.md).",
)
@click.option(
    "--device",
    default="cpu",
    show_default=True,
    help="Where FID/KID features and GLCIC inference run: cpu, cuda, cuda:N or auto (cuda when present).",
)
@click.option(
    "--feature-workers",
    type=click.IntRange(min=0, max=MAX_JOBS),
    default=None,
    help="Single-threaded, low-priority processes extracting FID/KID features while the "
    "methods run (0: in this process, as each chunk of outputs is made). "
    "Default: one per core when there are 2+ cores and 64+ images to extract.",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
@cluster_option
def run(
    methods_,
    dataset,
    data_root,
    split,
    size,
    n,
    seed,
    mask_family,
    metrics,
    jobs,
    out,
    fid_features,
    fid_reference,
    device,
    feature_workers,
    progress,
    cluster,
):
    """Run METHODS on the same seeded masks and print a summary table."""
    from bench.engine.address import ClusterError
    from bench.experiments.runner import RunConfig, RunConflictError
    from bench.experiments.runner import run as run_bench
    from bench.inputs.protocol import NoUsableImagesError
    from bench.outputs.rundir import RunDirError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    out = Path(out or f"runs/{dataset}-n{n}-s{seed}")
    metric_list = metric_names(metrics)
    specs = split_specs(methods_)
    if not specs:
        raise click.BadParameter(f"no method in {methods_!r}", param_hint="--methods")
    cfg = RunConfig(
        methods=specs,
        out=out,
        dataset=dataset,
        data_root=data_root,
        split=split,
        size=size,
        n=n or None,
        seed=seed,
        mask_family=mask_family,
        metrics=metric_list,
        jobs=jobs,
        fid_features=fid_features,
        fid_reference=fid_reference,
        device=device,
        progress=progress,
        cluster=cluster,
        feature_workers=feature_workers,
    )
    try:
        result = run_bench(cfg)
    except (
        RunConflictError,
        RunDirError,
        NoUsableImagesError,
        ClusterError,
        FileNotFoundError,
        ValueError,
        KeyError,
    ) as err:
        raise click.ClickException(str(err)) from None
    except OSError as err:  # e.g. a full disk, or a file of the run directory that became read-only mid-run
        raise click.ClickException(f"{err.filename or out}: {err.strerror or err}") from None
    click.echo("")
    click.echo(result.markdown)
    click.echo(
        f"{result.rows} rows ({result.computed} computed now, {result.rows - result.computed} resumed"
        + (f", {result.rescored} of them scored again from their saved outputs" if result.rescored else "")
        + "), "
        f"{result.errors} errors, {len(result.skipped_images)} images skipped; "
        f"mask sha256 {result.mask_hash}"
    )
    if result.repaired:
        click.echo(f"repaired before resuming: {result.repaired.describe()}")
    click.echo(
        f"run directory: {result.rundir.path} (95 % intervals in summary.md; "
        f"tables and figures: bench report {result.rundir.path})"
    )
