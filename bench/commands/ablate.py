"""``bench ablate``: the study's discriminator table and channel-removal sweep."""

from __future__ import annotations

import logging
from pathlib import Path

import click
import numpy as np

from bench.commands.cluster_option import cluster_option
from bench.commands.options import (
    MASKS_HELP,
    check_data_root,
    check_dataset,
    check_mask_spec,
    max_pixels_option,
    split_specs,
)
from bench.inputs.masks import MaskError
from bench.metrics.registry import metric_names

DATASET_HELP = "Data source (bench list datasets; @module:attr for your own)."

# Bootstrap replicates beyond which the intervals no longer change but memory and time grow.
MAX_BOOT = 100_000

_data_options = [
    click.option("--dataset", default="builtin", show_default=True, callback=check_dataset, help=DATASET_HELP),
    click.option("--data-root", type=click.Path(file_okay=False), default=None),
    click.option("--split", default="test", show_default=True),
    click.option(
        "--size",
        default=160,
        show_default=True,
        type=click.IntRange(min=0),
        help="Centre crop and resize to SIZE x SIZE (0 = native, folder only).",
    ),
    # FID and its bootstrap need two images at least.
    click.option("--n", "n", default=32, show_default=True, type=click.IntRange(min=2), help="Number of images."),
    click.option(
        "--masks", "mask_family", default="rects", show_default=True, callback=check_mask_spec, help=MASKS_HELP
    ),
    max_pixels_option,
    click.option("--fid-features", type=click.Path(dir_okay=False, exists=True), default=None),
    click.option("--progress/--no-progress", default=True, show_default=True),
]


def data_options(fn):
    for option in reversed(_data_options):
        fn = option(fn)
    return check_data_root(fn)


def _ints(text: str, option: str, minimum: int = 0) -> list[int]:
    """Comma-separated integers of ``option``: at least one, each once, none below ``minimum``."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise click.BadParameter(f"expected comma-separated integers, got {text!r}", param_hint=option) from None
    if not values:
        raise click.BadParameter(f"no value in {text!r}", param_hint=option)
    twice = sorted({v for v in values if values.count(v) > 1})
    if twice:
        raise click.BadParameter(f"{', '.join(map(str, twice))} given more than once in {text!r}", param_hint=option)
    low = [v for v in values if v < minimum]
    if low:
        raise click.BadParameter(f"{low[0]} is below {minimum} in {text!r}", param_hint=option)
    return values


def _run_sweep(
    work, dataset, data_root, split, size, n, seed, mask_family, out, fid_features, n_boot, progress, cluster
):
    """Load the protocol, open the executor, build the sweep and run ``work(sweep)`` on it.

    Returns ``(result, protocol, sweep)``; bad input (a missing mask file, an unknown layer,
    an unreachable cluster) becomes a one-line error instead of a traceback.
    """
    from bench.engine.address import ClusterError
    from bench.engine.tasks import data_ref
    from bench.engine.where import open_executor
    from bench.experiments.ablate.sweep import Sweep
    from bench.inputs.protocol import NoUsableImagesError, load_protocol
    from bench.metrics.inception import ExtractorError

    try:
        proto = load_protocol(dataset, data_root, split, size, n, seed, mask_family)
    except (MaskError, NoUsableImagesError, ValueError, KeyError) as err:
        raise click.ClickException(str(err)) from None
    try:
        with open_executor(cluster) as executor:
            sweep = Sweep(
                proto,
                out,
                fid_features=fid_features,
                n_boot=n_boot,
                progress=progress,
                data=data_ref(dataset, data_root, split, size),
                executor=executor,
            )
            return work(sweep), proto, sweep
    except (ValueError, KeyError, ClusterError, ExtractorError) as err:
        raise click.ClickException(str(err)) from None


@click.group()
def ablate() -> None:
    """Network ablations of GLCIC: discriminators, channels, identity layers."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")


@ablate.command()
@click.option("--methods", "methods_", default="iizuka,iizuka-global,iizuka-local", show_default=True)
@click.option("--seeds", default="0,1,2", show_default=True, help="Distinct mask seeds (the study repeated 2-3 times).")
@click.option(
    "--metrics",
    default="default",
    show_default=True,
    help="Comma-separated metric names, 'default' or 'all' (as for bench run).",
)
@click.option("--out", type=click.Path(file_okay=False), default="runs/ablate-discriminator", show_default=True)
@data_options
@cluster_option
def discriminator(
    methods_, seeds, metrics, out, dataset, data_root, split, size, n, mask_family, fid_features, progress, cluster
):
    """Table 3: GLCIC with both, the global or the local discriminator, over repeated mask seeds."""
    from bench.experiments.ablate.discriminator import claim_ablation_dir
    from bench.experiments.runner import RunConfig

    seed_list = _ints(seeds, "--seeds")
    specs = split_specs(methods_)
    if not specs:
        raise click.BadParameter(f"no method in {methods_!r}", param_hint="--methods")
    if len(set(specs)) != len(specs):
        raise click.BadParameter(f"a method is listed twice in {methods_!r}", param_hint="--methods")
    cfg = RunConfig(
        methods=specs,
        out=Path(out),
        dataset=dataset,
        data_root=data_root,
        split=split,
        size=size,
        n=n,
        mask_family=mask_family,
        metrics=metric_names(metrics),
        fid_features=fid_features,
        progress=progress,
        cluster=cluster,
    )
    with claim_ablation_dir(Path(out)):
        _discriminator_tables(cfg, seed_list, seeds, mask_family)


def _discriminator_tables(cfg, seed_list: list[int], seeds: str, mask_family: str) -> None:
    """Run the seeds and write Table 3, with the ablation directory claimed."""
    from bench.core.files import atomic_write_text
    from bench.engine.address import ClusterError
    from bench.experiments.ablate.discriminator import discriminator_table
    from bench.experiments.runner import RunConflictError
    from bench.inputs.protocol import NoUsableImagesError
    from bench.metrics.inception import ExtractorError
    from bench.outputs.report.latex import escape_latex, metric_table_latex
    from bench.outputs.report.markdown import markdown_table
    from bench.outputs.report.tables import metric_table
    from bench.outputs.rundir import RunDirError

    dataset, split, n, out = cfg.dataset, cfg.split, cfg.n, cfg.out
    try:
        result = discriminator_table(cfg, seed_list)
    except (
        ClusterError,
        MaskError,
        RunConflictError,
        RunDirError,
        NoUsableImagesError,
        ExtractorError,
        ValueError,
        KeyError,
    ) as err:
        raise click.ClickException(str(err)) from None
    summary = result["summary"]
    present = set(summary["metric"])
    # The study's Table 3 is whole-image MSE, PSNR, SSIM and FID; the hole-only scores get a table of their own.
    tables = {
        "table3": [c for c in ("mse", "psnr", "ssim", "fid", "kid") if c in present],
        "table3_hole": [c for c in ("hole_mse", "hole_psnr", "hole_ssim") if c in present],
    }
    holes = "1-3 rectangles <= 25 %" if mask_family == "rects" else f"masks {mask_family}"
    caption = (
        f"Discriminator ablation on {dataset} ({split}), n = {n} per seed, {holes}; "
        f"mean over {len(seed_list)} mask seeds ({seeds}) with 95 % t interval."
    )
    out_dir = Path(out)
    atomic_write_text(out_dir / "table3.csv", summary.to_csv(index=False))
    for stem, columns in tables.items():
        if not columns:
            continue
        table = metric_table(summary, columns)
        region = "whole image" if stem == "table3" else "hole only"
        atomic_write_text(out_dir / f"{stem}.md", f"{caption} ({region})\n\n" + markdown_table(table))
        atomic_write_text(
            out_dir / f"{stem}.tex",
            metric_table_latex(
                table, escape_latex(f"{caption} ({region})"), f"tab:ablation-discriminator-{stem[7:] or 'image'}"
            ),
        )
        click.echo(f"{caption} ({region})\n")
        click.echo(markdown_table(table))
    click.echo(f"written: {out_dir}/table3*.{{csv,md,tex}}; runs: {', '.join(str(r.path) for r in result['runs'])}")


def _write_table4(
    result: dict,
    out: Path,
    base: str,
    dataset: str,
    split: str,
    n: int,
    seed: int,
    mask_family: str,
    extractor_identity: dict,
) -> None:
    """``table4.md`` and ``table4.tex``: the per-layer summary and the channels outside the baseline interval."""
    from bench.core.files import atomic_write_text
    from bench.experiments.ablate.channels import channel_tables
    from bench.outputs.report.format import describe_features
    from bench.outputs.report.latex import Block, escape_latex, latex_table
    from bench.outputs.report.markdown import frame_to_markdown

    summary, outside = channel_tables(result)
    b = result["baseline"]
    holes = "1-3 rectangles covering at most 25 %" if mask_family == "rects" else f"masks {mask_family}"
    common = (
        f"Single-channel removal from {base} on {dataset} ({split}), n = {n}, {holes}, mask seed {seed}; "
        f"baseline FID {b['fid']:.2f} (95 % bootstrap interval {b['fid_low']:.2f}-{b['fid_high']:.2f}), "
        f"hole PSNR {b['hole_psnr']:.2f} dB. FID: {describe_features(extractor_identity)}, n = {n}."
    )
    cap_summary = (
        f"{common} Per layer: channels measured, FID range, channels outside the baseline interval "
        "(the study's criterion), channels whose paired bootstrap interval of the FID difference "
        "excludes 0 (raising / lowering FID; no multiple-comparison correction), lowest hole PSNR (dB)."
    )
    cap_outside = f"{common} Channels whose removal moves FID outside the baseline interval."
    md = [cap_summary, "", frame_to_markdown(summary.rename_axis("layer").reset_index()), cap_outside, ""]
    md.append(
        frame_to_markdown(outside.rename_axis("channel").reset_index())
        if len(outside)
        else "No channel's FID lies outside the baseline interval.\n"
    )
    atomic_write_text(out / "table4.md", "\n".join(md))
    tex = [
        latex_table(
            [Block(summary.map(escape_latex))],
            [escape_latex(c) for c in summary.columns],
            escape_latex(cap_summary),
            "tab:ablation-channels",
            first_header="Layer",
        )
    ]
    if len(outside):
        tex.append(
            latex_table(
                [Block(outside.map(escape_latex))],
                [escape_latex(c) for c in outside.columns],
                escape_latex(cap_outside),
                "tab:ablation-channels-outside",
                first_header="Channel",
            )
        )
    atomic_write_text(out / "table4.tex", "\n".join(tex))


@ablate.command()
@click.option("--base", default="iizuka", show_default=True, help="Method spec to ablate (without drop=).")
@click.option("--layers", default="1,2,3,4,10,14,15,16", show_default=True, help="Layer numbers (conv1 = 1).")
@click.option("--channels", default="all", show_default=True, help="'all' or comma-separated channel indices.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option(
    "--n-boot",
    default=200,
    show_default=True,
    type=click.IntRange(min=1, max=MAX_BOOT),
    help="Bootstrap replicates for FID intervals.",
)
@click.option("--out", type=click.Path(file_okay=False), default="runs/ablate-channels", show_default=True)
@data_options
@cluster_option
def channels(
    base,
    layers,
    channels,
    seed,
    n_boot,
    out,
    dataset,
    data_root,
    split,
    size,
    n,
    mask_family,
    fid_features,
    progress,
    cluster,
):
    """Table 4: zero one output channel at a time and re-measure FID (resumable; each channel a task on --cluster)."""
    from bench.experiments.ablate.channels import channel_figure, sweep_channels

    layer_list = _ints(layers, "--layers", minimum=1)
    if channels.strip() != "all":
        channels = ",".join(map(str, _ints(channels, "--channels")))
    result, proto, sweep = _run_sweep(
        lambda sweep: sweep_channels(sweep, base, layer_list, channels),
        dataset,
        data_root,
        split,
        size,
        n,
        seed,
        mask_family,
        out,
        fid_features,
        n_boot,
        progress,
        cluster,
    )
    files = channel_figure(result, Path(out) / "table4")
    b = result["baseline"]
    click.echo(
        f"baseline {base}: FID {b['fid']:.3f} [{b['fid_low']:.3f}, {b['fid_high']:.3f}], "
        f"hole PSNR {b['hole_psnr']:.2f} dB (n = {n})"
    )
    for layer, rows in result["layers"].items():
        fids = [float(r["fid"]) for r in rows]
        secs = [float(r["channel_seconds"]) for r in rows]
        click.echo(
            f"{layer}: {len(rows)} channels, FID {min(fids):.3f} .. {max(fids):.3f}, {np.mean(secs):.2f} s per channel"
        )
    import pandas as pd

    flagged = pd.DataFrame(result["flagged"])
    from bench.core.files import atomic_write_text

    atomic_write_text(Path(out) / "flagged.csv", flagged.to_csv(index=False) if len(flagged) else "layer,channel\n")
    _write_table4(
        result, Path(out), base, dataset, split, len(proto.samples), seed, mask_family, sweep.extractor.identity
    )
    if len(flagged):
        flagged = flagged.assign(fid=flagged["fid"].astype(float)).sort_values("fid", ascending=False)
        click.echo(
            "channels whose removal changes FID (outside the baseline interval, or a paired "
            "bootstrap interval of the difference excluding 0):"
        )
        for _, r in flagged.iterrows():
            click.echo(
                f"  {r['layer']}.{r['channel']}: FID {float(r['fid']):.3f} ({float(r['fid_delta']):+.3f} "
                f"[{float(r['fid_delta_low']):+.3f}, {float(r['fid_delta_high']):+.3f}]):{r['test']}"
            )
    else:
        click.echo("no channel changes FID beyond the baseline interval or the paired difference interval")
    click.echo(f"figure: {', '.join(map(str, files))}")


@ablate.command()
@click.option("--base", default="iizuka", show_default=True)
@click.option("--layers", default=",".join(str(i) for i in range(1, 18)), show_default=True)
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0))
@click.option("--n-boot", default=200, show_default=True, type=click.IntRange(min=1, max=MAX_BOOT))
@click.option("--out", type=click.Path(file_okay=False), default="runs/ablate-identity", show_default=True)
@data_options
@cluster_option
def identity(
    base, layers, seed, n_boot, out, dataset, data_root, split, size, n, mask_family, fid_features, progress, cluster
):
    """The study's abandoned experiment: replace a layer by the identity where shapes allow."""
    from bench.experiments.ablate.channels import sweep_identity

    layer_list = _ints(layers, "--layers", minimum=1)
    result, _, _ = _run_sweep(
        lambda sweep: sweep_identity(sweep, base, layer_list),
        dataset,
        data_root,
        split,
        size,
        n,
        seed,
        mask_family,
        out,
        fid_features,
        n_boot,
        progress,
        cluster,
    )
    b = result["baseline"]
    click.echo(f"baseline {base}: FID {b['fid']:.3f} [{b['fid_low']:.3f}, {b['fid_high']:.3f}]")
    for r in result["rows"]:
        click.echo(
            f"{r['layer']:>7s} as identity: FID {float(r['fid']):.3f} ({float(r['fid_delta']):+.3f}), "
            f"hole PSNR {float(r['hole_psnr']):.2f} dB"
        )
    for layer, why in result["not_applicable"].items():
        click.echo(f"{layer:>7s}: not applicable ({why})")
