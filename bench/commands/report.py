"""``bench report``: Markdown and LaTeX tables, paired comparisons and figures of a run; FID per mask family of several."""

from __future__ import annotations

import click

from bench.commands.options import split_specs


def _specs(value: str | None) -> list[str] | None:
    if not value:
        return None
    return split_specs(value)


@click.command()
@click.argument(
    "runs", nargs=-1, required=True, metavar="RUN [RUN_B ...]", type=click.Path(exists=True, file_okay=False)
)
@click.option(
    "--out",
    type=click.Path(file_okay=False),
    default=None,
    help="Output folder [default: RUN/report; required with several runs].",
)
@click.option(
    "--methods",
    "methods_",
    default=None,
    help="Methods and their order (comma-separated specs) [default: all, in run order]. "
    "The first ranks the automatic grid rows.",
)
@click.option("--reference", default=None, help="Reference of the paired comparisons [default: first method].")
@click.option("--latex/--no-latex", default=True, show_default=True, help="Write booktabs LaTeX tables.")
@click.option(
    "--compile/--no-compile",
    "compile_",
    default=True,
    show_default=True,
    help="Compile report.tex to PDF when a LaTeX engine is installed.",
)
@click.option("--grid/--no-grid", default=True, show_default=True, help="Draw the image grid.")
@click.option("--images", default=None, help="Grid rows: comma-separated image ids [default: best, median, worst].")
@click.option(
    "--rank-by",
    default=None,
    help="Metric column ranking automatic grid rows [default: hole_psnr, or the run's first hole metric].",
)
@click.option("--error-maps", is_flag=True, help="Add an absolute-error column per method to the grid.")
@click.option("--bar-metric", default="hole_psnr", show_default=True, help="Metric column of the bar chart.")
@click.option("--area-metric", default="hole_psnr", show_default=True, help="Metric column plotted against hole area.")
@click.option(
    "--paired-metrics",
    default="hole_psnr,hole_ssim,ssim",
    show_default=True,
    help="Metric columns of the paired comparison (whole-image PSNR differences equal hole-PSNR "
    "differences exactly, so it is left out by default).",
)
@click.option(
    "--label",
    default="tab:inpainting",
    show_default=True,
    help="LaTeX label prefix (-image, -set, -hole, -paired are appended).",
)
@click.option(
    "--bins",
    type=click.Choice(["none", "area"]),
    default="none",
    show_default=True,
    help="Also split every table by hole area (LaMa's bins 0-10 %, ..., 50-60 %, each [lo, hi); 60 % and "
    "more in a last bin), with n per bin; FID, KID and the other set metrics from the run's stored features.",
)
def report(
    runs,
    out,
    methods_,
    reference,
    latex,
    compile_,
    grid,
    images,
    rank_by,
    error_maps,
    bar_metric,
    area_metric,
    paired_metrics,
    label,
    bins,
):
    """Write tables (Markdown, LaTeX), paired comparisons and figures of RUN.

    With several runs of the same images and different mask families (RUN_A RUN_B ...): a table
    of FID and KID per method and mask family, from the features the runs stored, into --out.
    """
    from bench.outputs.report.build import ReportOptions, build_report
    from bench.outputs.report.latex import LatexError

    if len(runs) > 1:
        _families(runs, out, _specs(methods_), latex, label)
        return
    run = runs[0]

    opts = ReportOptions(
        methods=_specs(methods_),
        reference=reference,
        latex=latex,
        compile=compile_,
        grid=grid,
        images=[i.strip() for i in images.split(",") if i.strip()] if images else None,
        rank_by=rank_by,
        error_maps=error_maps,
        bar_column=bar_metric,
        area_column=area_metric,
        paired_columns=tuple(c.strip() for c in paired_metrics.split(",") if c.strip()),
        label=label,
        bins=None if bins == "none" else bins,
    )
    try:
        rep = build_report(run, out, opts)
    except (FileNotFoundError, ValueError, KeyError, LatexError) as err:
        raise click.ClickException(str(err)) from None
    click.echo((rep.out / "report.md").read_text())
    for note in rep.notes:
        click.echo(f"note: {note}")
    click.echo(f"report written to {rep.out} ({len(rep.files)} files)")


def _families(runs: tuple[str, ...], out: str | None, methods: list[str] | None, latex: bool, label: str) -> None:
    """``bench report RUN_A RUN_B ...``: FID and KID per mask family into ``out``."""
    from bench.outputs.report.families import write_family_report

    if out is None:
        raise click.ClickException(f"{len(runs)} runs given: name the folder of their table with --out DIR")
    try:
        rep = write_family_report(list(runs), out, methods, write_latex=latex, label=label)
    except (FileNotFoundError, ValueError, KeyError) as err:
        raise click.ClickException(str(err)) from None
    click.echo((rep.out / "families.md").read_text())
    click.echo(f"report written to {rep.out} ({len(rep.files)} files)")
