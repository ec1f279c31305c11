"""``bench export``: write a protocol's masked inputs and masks for a tool that runs elsewhere."""

from __future__ import annotations

import logging

import click

from bench.commands.options import protocol_options
from bench.core.export_format import LAYOUTS


@click.command("export")
@protocol_options
@click.option(
    "--layout",
    type=click.Choice(LAYOUTS),
    default="lama",
    show_default=True,
    help="lama: OUT/ID.png + OUT/ID_mask000.png, 255 = hole (LaMa's bin/predict.py); "
    "mat: OUT/images/ID.png + OUT/masks/ID.png, 0 = hole (MAT's generate_image.py).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    required=True,
    help="Export folder (new or empty; rerun into it to resume).",
)
@click.option("--progress/--no-progress", default=True, show_default=True)
def export(dataset, data_root, split, size, n, seed, mask_family, layout, out, progress):
    """Write the masked inputs, masks and manifest of a protocol for an external tool.

    Then run the tool on OUT and score its outputs with the same protocol options:
    bench run --methods predictions:dir=PRED,export=OUT ...
    """
    from bench.experiments.export import ExportError, export_protocol
    from bench.inputs.protocol import NoUsableImagesError

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s: %(message)s")
    try:
        result = export_protocol(
            out,
            dataset=dataset,
            data_root=data_root,
            split=split,
            size=size,
            n=n or None,
            seed=seed,
            mask_family=mask_family,
            layout=layout,
            progress=progress,
        )
    except (ExportError, NoUsableImagesError, FileNotFoundError, ValueError, KeyError) as err:
        raise click.ClickException(str(err)) from None
    except OSError as err:
        raise click.ClickException(f"{err.filename or out}: {err.strerror or err}") from None
    m = result.manifest
    click.echo(
        f"exported {m['n']} images ({layout} layout, {result.written} files written now) to {result.out}; "
        f"mask sha256 {m['mask_sha256']}"
    )
    click.echo(
        f"score the tool's outputs with: bench run --methods predictions:dir=PRED,export={result.out} "
        f"{_protocol_args(dataset, data_root, split, size, n, seed, mask_family)}"
    )


def _protocol_args(dataset, data_root, split, size, n, seed, mask_family) -> str:
    """The ``bench run`` options that reproduce this protocol (defaults left out)."""
    parts = [f"--dataset {dataset}"] + ([f"--data-root {data_root}"] if data_root else [])
    for flag, value, default in (
        ("--split", split, "test"),
        ("--size", size, 160),
        ("--n", n, 280),
        ("--seed", seed, 0),
        ("--masks", mask_family, "rects"),
    ):
        if value != default:
            parts.append(f"{flag} {value}")
    return " ".join(parts)
