"""One overview table of the four comparison runs: hole PSNR, hole SSIM and FID per method.

The runs are builtin/CelebA x rects/thick (``reports/compare/make.sh``); the table is written as
Markdown, LaTeX and CSV. Usage: ``python -m bench.outputs.report.overview RUNS OUT``, where RUNS
holds ``builtin-rects``, ``builtin-thick``, ``celeba-rects``, ``celeba-thick`` (missing ones are
skipped). The per-run reports beside it have the intervals, paired tests and hole-area bins.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pandas as pd

from bench.core.files import atomic_write_text
from bench.metrics import column_direction
from bench.metrics.registry import split_column
from bench.outputs.report.format import display_label
from bench.outputs.report.latex import escape_latex

RUNS = ("builtin-rects", "builtin-thick", "celeba-rects", "celeba-thick")
# The overview's columns and their decimals: fewer than the registry's for SSIM and FID, so twelve
# columns fit one page; labels and directions are the registry's.
COLUMNS = (("hole_psnr", 2), ("hole_ssim", 3), ("fid", 1))


def _label(column: str) -> str:
    return ("hole " if split_column(column)[0] == "hole" else "") + display_label(column)


def collect(runs: Path) -> tuple[pd.DataFrame, dict[str, int]]:
    """Means and FID of every method in the comparison runs under ``runs``.

    Returns
    -------
    table : pandas.DataFrame
        Rows: methods in run order; columns: (run, metric) for the metrics of :data:`COLUMNS`.
    sizes : dict
        Images per run.
    """
    frames, sizes = [], {}
    for name in RUNS:
        run = runs / name
        if not (run / "summary.csv").exists():
            continue
        summary = pd.read_csv(run / "summary.csv")
        values = summary.pivot(index="method", columns="metric", values="value")
        sets = json.loads((run / "set_metrics.json").read_text())
        values["fid"] = pd.Series({m: v["fid"]["value"] for m, v in sets.items() if "fid" in v})
        order = list(dict.fromkeys(summary["method"]))
        table = values.loc[order, [c for c, _ in COLUMNS]]
        table.columns = pd.MultiIndex.from_product([[name], table.columns])
        frames.append(table)
        sizes[name] = int(summary["n"].max())
    if not frames:
        raise FileNotFoundError(f"no comparison runs ({', '.join(RUNS)}) with a summary.csv under {runs}")
    return pd.concat(frames, axis=1), sizes


def _cells(table: pd.DataFrame, latex: bool) -> list[list[str]]:
    rows = []
    best = {}
    for run, metric in table.columns:
        higher = column_direction(metric)
        col = table[(run, metric)]
        best[(run, metric)] = col.max() if higher else col.min()
    for method, row in table.iterrows():
        cells = [f"\\texttt{{{escape_latex(method)}}}" if latex else f"`{method}`"]
        for key, value in row.items():
            digits = dict(COLUMNS)[key[1]]
            text = "" if pd.isna(value) else f"{value:.{digits}f}"
            if text and value == best[key]:
                text = f"\\textbf{{{text}}}" if latex else f"**{text}**"
            cells.append(text)
        rows.append(cells)
    return rows


def markdown(table: pd.DataFrame, sizes: dict[str, int]) -> str:
    """The overview as a Markdown table with a caption, best value per column in bold."""
    runs = list(dict.fromkeys(r for r, _ in table.columns))
    head = ["method"] + [f"{r} {_label(c)}" for r in runs for c, _ in COLUMNS]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    lines += ["| " + " | ".join(cells) + " |" for cells in _cells(table, latex=False)]
    note = ", ".join(f"{r}: n = {sizes[r]}" for r in runs)
    return (
        "Means over images (hole PSNR in dB, hole SSIM: the SSIM map averaged over hole pixels); FID "
        f"from Inception features of the 8-bit outputs at the run's n ({note}); best per column in "
        "bold. Intervals, paired tests against `iizuka` and hole-area bins: each run's `report.md`.\n\n"
        + "\n".join(lines)
        + "\n"
    )


def latex(table: pd.DataFrame, sizes: dict[str, int]) -> str:
    """The overview as a LaTeX ``table`` (booktabs), best value per column in bold."""
    runs = list(dict.fromkeys(r for r, _ in table.columns))
    k = len(COLUMNS)
    spec = "l" + ("r" * k) * len(runs)
    top = " & ".join(f"\\multicolumn{{{k}}}{{c}}{{{escape_latex(r)} ($n={sizes[r]}$)}}" for r in runs)
    rules = " ".join(f"\\cmidrule(lr){{{2 + i * k}-{1 + (i + 1) * k}}}" for i in range(len(runs)))
    sub = " & ".join(_label(c) for _ in runs for c, _ in COLUMNS)
    body = "\n".join(" & ".join(cells) + r" \\" for cells in _cells(table, latex=True))
    return (
        "\\begin{table}[t]\n\\centering\n\\scriptsize\n\\setlength{\\tabcolsep}{3pt}\n"
        "\\resizebox{\\linewidth}{!}{%\n"
        f"\\begin{{tabular}}{{{spec}}}\n\\toprule\n & {top} \\\\\n{rules}\nmethod & {sub} \\\\\n\\midrule\n"
        f"{body}\n\\bottomrule\n\\end{{tabular}}}}\n"
        "\\caption{Every method on the builtin photos and CelebA test faces, with the study's rectangles "
        "and LaMa's thick masks: mean hole PSNR (dB), hole SSIM (SSIM map averaged over hole pixels) and "
        "FID (Inception pool3, 8-bit outputs). Best per column in bold.}\n"
        "\\label{tab:compare-overview}\n\\end{table}\n"
    )


def write_overview(runs: str | Path, out: str | Path) -> Path:
    """Write ``overview.md``, ``overview.tex`` and ``overview.csv`` of the runs under ``runs`` to ``out``."""
    table, sizes = collect(Path(runs))
    dest = Path(out)
    dest.mkdir(parents=True, exist_ok=True)
    atomic_write_text(dest / "overview.md", markdown(table, sizes))
    atomic_write_text(dest / "overview.tex", latex(table, sizes))
    atomic_write_text(dest / "overview.csv", table.to_csv())
    return dest


@click.command()
@click.argument("runs", type=click.Path(file_okay=False, exists=True))
@click.argument("out", type=click.Path(file_okay=False))
def main(runs: str, out: str) -> None:
    """Overview table of the comparison runs under RUNS, written to OUT."""
    try:
        dest = write_overview(runs, out)
    except FileNotFoundError as err:
        raise click.ClickException(str(err)) from None
    click.echo(f"written: {dest}/overview.{{md,tex,csv}}")


if __name__ == "__main__":
    main()
