"""``bench publish``: commit-ready GLCIC checkpoints with cards from a finished training run."""

from __future__ import annotations

from pathlib import Path

import click

CELEBA_NOTES = Path(__file__).resolve().parents[2] / "reports" / "celeba" / "card_notes.md"
CELEBA_PROBE = (
    "CelebA validation split, first 64 images, 160 px, the study's 1-3 rectangles <= 25 %, mask seed 0; `bench curve`"
)


@click.command()
@click.argument("runs", type=click.Path(file_okay=False, exists=True))
@click.option(
    "--dest",
    type=click.Path(file_okay=False),
    default="methods/glcic/weights/celeba",
    show_default=True,
    help="Where the checkpoints (NAME.pt, NAME.toml, NAME.md, NAME-losses.png) are written.",
)
@click.option("--step", type=int, default=None, help="Publish each variant's step-N snapshot, not its final weights.")
@click.option(
    "--commit",
    default=None,
    help="Record this code commit in the weights (a run on a copy of the tree without .git).",
)
@click.option(
    "--notes",
    "notes_file",
    type=click.Path(dir_okay=False, exists=True),
    default=str(CELEBA_NOTES),
    show_default=True,
    help="Markdown shared by the three cards.",
)
@click.option("--probe", default=CELEBA_PROBE, show_default=True, help="One line naming the curve.csv probe.")
def publish(runs, dest, step, commit, notes_file, probe):
    """Publish RUNS/{full,global,local} as iizuka, iizuka-global and iizuka-local.

    Each variant must have been scored with `bench curve` (its curve.csv goes into the card).
    """
    from methods.glcic.card import publish_variants

    try:
        paths = publish_variants(runs, dest, Path(notes_file).read_text(), probe, step=step, commit=commit)
    except (FileNotFoundError, KeyError) as err:
        raise click.ClickException(str(err)) from None
    for path in paths:
        click.echo(f"published: {path}")
