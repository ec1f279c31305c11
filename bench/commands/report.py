"""``bench report``: Markdown and LaTeX tables, paired comparisons and figures of a run."""

from __future__ import annotations

import click

from bench.commands.options import split_specs


def _specs(value: str | None) -> list[str] | None:
    if not value:
        return None
    return split_specs(value)


@click.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Output folder [default: RUN/report].")
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
    help="Also split every per-image-metric table by hole area (LaMa's bins 0-10 %, ..., 50-60 %, "
    "each [lo, hi); 60 % and more in a last bin), with n per bin. FID/KID are not split.",
)
def report(
    run,
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
    """Write tables (Markdown, LaTeX), paired comparisons and figures of RUN."""
    from bench.outputs.report.build import ReportOptions, build_report
    from bench.outputs.report.latex import LatexError

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
