"""Command-line options and parsers shared by several commands (no command imports another)."""

from __future__ import annotations

import functools
import os
from pathlib import Path

import click

from bench.core.outdir import KINDS, enclosing_tool_dir
from bench.core.spec import split_specs as split_specs  # the commands parse specs from here

MASKS_HELP = (
    "Mask family spec, e.g. rects (the study: 1-3 rectangles <= 25 %), center, thin, medium, thick "
    "(LaMa), freeform (DeepFill v2), file:dir=PATH; see `bench list masks`."
)


def check_dataset(ctx, param, value: str | None) -> str | None:
    """Click callback: a registered dataset name or ``@module:attr`` spec, in its canonical form (None stays None)."""
    from bench.inputs.data.registry import resolve

    if value is None:
        return None
    try:
        return resolve(value)[2]
    except (ValueError, KeyError) as err:
        raise click.BadParameter(str(err)) from None


def check_mask_spec(ctx, param, value: str) -> str:
    """Click callback: parse a ``--masks`` spec and return its canonical form, or fail with the reason."""
    from bench.inputs.masks import MaskError, get_family

    try:
        return get_family(value).spec
    except (MaskError, KeyError) as err:
        raise click.BadParameter(str(err)) from None


def _set_max_pixels(ctx, param, value: int | None) -> None:
    from bench.inputs.data.io import MAX_PIXELS_ENV

    if value is None:
        return
    before = os.environ.get(MAX_PIXELS_ENV)
    os.environ[MAX_PIXELS_ENV] = str(value)  # worker processes inherit it

    def restore() -> None:  # a command run in-process (tests, notebooks) leaves no limit behind
        if before is None:
            os.environ.pop(MAX_PIXELS_ENV, None)
        else:
            os.environ[MAX_PIXELS_ENV] = before

    ctx.call_on_close(restore)


max_pixels_option = click.option(
    "--max-pixels",
    type=click.IntRange(min=1),
    default=None,
    expose_value=False,
    callback=_set_max_pixels,
    help="Skip images larger than this many pixels before decoding them (default 100,000,000).",
)


def output_file_check(beside: tuple[str, ...] = ()):
    """Click callback refusing an output file that would replace a link or land in another command's directory.

    Writing through a symbolic link leading nowhere (or in a loop) would replace the link itself by
    a file, which is the user's, not the command's; a file written into a run, sweep or export
    directory (its ``config.json``, say) would change what that directory's readers find.

    Parameters
    ----------
    beside : tuple of str
        Kinds of directory (:data:`bench.core.outdir.KINDS`) the command's file belongs in
        (a learning curve's plot in its training directory).
    """

    def check(ctx, param, value: str | None) -> str | None:
        if value is None:
            return value
        if os.path.islink(value) and not os.path.exists(value):
            raise click.BadParameter(f"{value} is a symbolic link that leads nowhere (or loops)")
        owner = enclosing_tool_dir(Path(value).parent)
        if owner is not None and owner[1] not in beside:
            where, kind = owner
            raise click.BadParameter(
                f"{value} is inside {where}, a directory of {KINDS.get(kind, kind)}: write it somewhere else"
            )
        return value

    return check


def check_data_root(fn):
    """Refuse ``--data-root`` with a dataset that does not read it (the builtin photos would be scored instead).

    Wraps a command callback that takes ``dataset`` and ``data_root`` keyword arguments.
    """

    @functools.wraps(fn)
    def checked(*args, **kwargs):
        from bench.inputs.data.registry import resolve

        dataset = kwargs.get("dataset")
        if kwargs.get("data_root") and dataset == "builtin":
            raise click.UsageError(
                f"--data-root {kwargs['data_root']} is not read by --dataset builtin (its photos ship with the "
                "suite): add --dataset folder for a folder of images, or --dataset celeba for a CelebA root"
            )
        if kwargs.get("data_root") and dataset and not resolve(dataset)[0].reads_root:
            raise click.UsageError(f"--data-root {kwargs['data_root']} is not read by --dataset {dataset}")
        return fn(*args, **kwargs)

    return checked


def protocol_options(fn):
    """Decorate a command with the options that fix a protocol: data, size, n, seed and masks.

    The command receives ``dataset, data_root, split, size, n, seed, mask_family``.
    """
    options = [
        click.option(
            "--dataset",
            default="builtin",
            show_default=True,
            callback=check_dataset,
            help="Data source (see `bench list datasets`); builtin needs no download; "
            "@package.module:attr[:key=value,...] names your own.",
        ),
        click.option(
            "--data-root",
            type=click.Path(file_okay=False),
            default=None,
            help="CelebA root (containing img_align_celeba/) or an image folder.",
        ),
        click.option("--split", default="test", show_default=True, help="Split for celeba/builtin."),
        click.option(
            "--size",
            default=160,
            show_default=True,
            type=click.IntRange(min=0),
            help="Centre crop and resize to SIZE x SIZE (0 = native, folder only).",
        ),
        click.option(
            "--n",
            "n",
            default=280,
            show_default=True,
            type=click.IntRange(min=0),
            help="Number of usable images (0 = all).",
        ),
        click.option("--seed", default=0, show_default=True, type=click.IntRange(min=0), help="Mask seed."),
        click.option(
            "--masks", "mask_family", default="rects", show_default=True, callback=check_mask_spec, help=MASKS_HELP
        ),
        max_pixels_option,
    ]
    fn = check_data_root(fn)
    for option in reversed(options):
        fn = option(fn)
    return fn
