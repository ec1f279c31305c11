"""``bench stats``: a finished run's FID statistics as pytorch-fid and clean-fid files, from its stored features.

For the run's real images and each method's outputs, from the features the run stored (no image
is read and nothing is extracted)::

    DIR/
      README.txt                                    one line: what is where
      pytorch-fid/NAME.npz                          mu, sigma (pytorch-fid's save_fid_stats format)
      clean-fid/NAME_legacy_pytorch_custom_na.npz   mu, sigma (clean-fid's custom statistics)
      clean-fid/NAME_legacy_pytorch_custom_na_kid.npz   feats, the per-image features (for KID)

``NAME`` is ``real`` for the real images and a method's folder name under ``RUN/outputs`` for
its outputs; every file records the extractor and ``n`` (:mod:`bench.metrics.reference_stats`),
so ``bench run --fid-reference FILE`` can check it.
"""

from __future__ import annotations

from pathlib import Path

import click

# Name of the real images' statistics (method folders are named by their spec, never like this).
REAL = "real"
FORMATS = ("pytorch-fid", "clean-fid")


def export_run_stats(run: str | Path, out: str | Path, formats: tuple[str, ...] = FORMATS) -> list[Path]:
    """Write the statistics of ``run``'s real images and of each method's outputs into ``out``.

    Parameters
    ----------
    run : path
        A finished run directory with stored features.
    out : path
        The folder to write (claimed as ``bench stats``'s: new, empty or written by it before).
    formats : tuple of str
        Among :data:`FORMATS`.

    Returns
    -------
    list of Path
        The files written.

    Raises
    ------
    ValueError
        No stored features, features missing, a name clash, or clean-fid asked of features that are
        not those of one of its modes (each message names the run).
    """
    from bench.core.files import atomic_write_text
    from bench.core.outdir import claim_dir
    from bench.metrics.reference_stats import MODE_OF_RESIZE, save_clean_fid_stats, save_pytorch_fid_stats
    from bench.outputs.run_features import RunFeatures
    from bench.outputs.rundir import RunDir

    rundir = RunDir(run)
    writer = rundir.being_written()
    if writer is not None:
        raise ValueError(f"{rundir.path} is being written by bench run (pid {writer}): export it when it has finished")
    feats = RunFeatures(rundir)
    identity = feats.identity
    mode = MODE_OF_RESIZE.get(str(identity["resize"]))
    if "clean-fid" in formats and mode is None:
        raise ValueError(
            f"{rundir.path}: its features ({identity['extractor']}, resize {identity['resize']}) are not those of a "
            "clean-fid mode; export them with --format pytorch-fid"
        )
    config = rundir.read_json(rundir.config) if rundir.config.is_file() else {}
    reference = (config.get("run") or {}).get("fid_reference") if isinstance(config, dict) else None
    sets: list[tuple[str, str | None, list[str]]] = []  # (file name, method or None for the real images, ids)
    if not reference:  # a run compared with a reference file stored no features of its real images
        sets.append((REAL, None, feats.image_ids()))
    for spec, folder in rundir.output_folders().items():
        ids = feats.ok_ids(spec)
        if ids:
            sets.append((folder, spec, ids))
    names = [name.lower() for name, _, _ in sets]  # clean-fid lower-cases its file names
    clash = sorted({n for n in names if names.count(n) > 1})
    if clash:
        raise ValueError(
            f"{rundir.path}: statistics names {', '.join(clash)} would clash (a method's folder is named so)"
        )
    feats.require([spec for _, spec, _ in sets if spec is not None], real=not reference)
    written: list[Path] = []
    out = Path(out)
    with claim_dir(out, "stats"):
        for name, spec, ids in sets:
            x = feats.real(ids) if spec is None else feats.outputs(spec, ids)
            if "pytorch-fid" in formats:
                written.append(save_pytorch_fid_stats(out / "pytorch-fid" / f"{name}.npz", x, extractor=identity))
            if "clean-fid" in formats:
                written += save_clean_fid_stats(out / "clean-fid", name, x, mode=str(mode), extractor=identity)
        where = []
        if "pytorch-fid" in formats:
            where.append("pytorch-fid/NAME.npz (mu, sigma)")
        if "clean-fid" in formats:
            where.append(f"clean-fid/NAME_{mode}_custom_na.npz (mu, sigma) and its _kid.npz (per-image feats)")
        readme = out / "README.txt"
        atomic_write_text(
            readme,
            f"FID statistics of {rundir.path} from its stored {identity['extractor']} features: "
            + "; ".join(where)
            + "; NAME = "
            + ("real for its real images, else " if not reference else "")
            + "a method's folder under outputs/ (one file set per method)"
            + (f"; no real-image file: the run's real side was {reference}" if reference else "")
            + ".\n",
        )
        written.append(readme)
    return written


@click.command("stats")
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), required=True, help="Folder of the statistics files.")
@click.option(
    "--format",
    "format_",
    type=click.Choice(["pytorch-fid", "clean-fid", "both"]),
    default="both",
    show_default=True,
    help="pytorch-fid: NAME.npz with mu and sigma; clean-fid: custom statistics (mu, sigma and per-image features).",
)
def stats(run, out, format_):
    """Export RUN's FID statistics (real images and each method) from its stored features."""
    formats = FORMATS if format_ == "both" else (format_,)
    try:
        files = export_run_stats(run, out, formats)
    except (FileNotFoundError, ValueError, KeyError) as err:
        raise click.ClickException(str(err)) from None
    for path in files:
        click.echo(str(path))
    click.echo(f"{len(files)} files written to {out}")
