"""``bench masks``: look at the mask families."""

from __future__ import annotations

from pathlib import Path

import click

from bench.commands.options import check_mask_spec, split_specs


@click.group()
def masks() -> None:
    """Mask families: example figure and hole-area table."""


@masks.command()
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder for the figure and table.")
@click.option(
    "--families",
    default="all",
    show_default=True,
    help="Comma-separated family specs, or 'all' (every registered family but file).",
)
@click.option("--examples", default=4, show_default=True, type=click.IntRange(1, 12), help="Masks per family.")
@click.option(
    "--n",
    "n",
    default=280,
    show_default=True,
    type=click.IntRange(min=1),
    help="Masks per family for the hole-area table (builtin ids, as `bench run --n`).",
)
@click.option("--size", default=160, show_default=True, type=click.IntRange(min=16), help="Image side in pixels.")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Mask seed.")
def figure(out, families, examples, n, size, seed):
    """Draw example masks of each family over builtin photos and tabulate hole areas."""
    from bench.inputs.masks import MaskError
    from bench.outputs.mask_figure import area_table, example_figure, figure_families, text_table

    names = figure_families() if families.strip().lower() == "all" else split_specs(families)
    if not names:
        raise click.BadParameter(f"no family in {families!r}", param_hint="--families")
    specs = [check_mask_spec(None, None, name) for name in names]
    out = Path(out)
    from bench.core.files import atomic_write_text
    from bench.core.outdir import claim_dir

    caption = f"Hole area (fraction of the image) of {n} masks per family, {size}x{size}, seed {seed}:"
    # Claimed before anything is drawn: a folder of the user's files is refused, not written into.
    with claim_dir(out, "masks", legacy=lambda path: (path / "areas.md").is_file()):
        try:
            table = area_table(specs, n=n, size=size, seed=seed)
            files = example_figure(specs, out / "masks", examples=examples, size=size, seed=seed)
        except (MaskError, KeyError, ValueError, OSError) as err:
            raise click.ClickException(str(err)) from None
        atomic_write_text(out / "areas.csv", table.to_csv(index=False, float_format="%.4f"))
        atomic_write_text(out / "areas.md", f"{caption}\n\n{text_table(table)}\n")
    click.echo(f"{caption}\n")
    click.echo(text_table(table))
    click.echo(f"\nwritten: {', '.join(map(str, files))}, {out / 'areas.csv'}, {out / 'areas.md'}")
