"""Markdown renderings of report tables (GitHub-flavoured; best values in bold)."""

from __future__ import annotations

import pandas as pd

from bench.metrics.pixel import PSNR_MAX
from bench.outputs.report.format import best_flags, format_interval, metric_label
from bench.outputs.report.tables import MetricTable
from bench.outputs.summary import digits_for


def cells(table: MetricTable, style: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Formatted cell text and best flags of a table, shared by Markdown and LaTeX.

    Returns
    -------
    text : DataFrame of str
        ``value \u00b1 half-width`` per cell.
    best : DataFrame of bool
        True where the cell is the best of its column (see :func:`best_flags`).
    """
    text = pd.DataFrame(index=table.value.index, columns=table.value.columns, dtype=object)
    best = pd.DataFrame(False, index=table.value.index, columns=table.value.columns)
    for col in table.columns:
        digits = digits_for(col)
        best[col] = best_flags(table.value[col], col, digits)
        for method in table.methods:
            cell = format_interval(
                table.value.loc[method, col], table.low.loc[method, col], table.high.loc[method, col], digits, style
            )
            if table.note_of(method, col):
                cell = "withheld"
            elif table.capped_count(method, col):
                cell += f" ({table.capped_count(method, col)} at cap)"
            text.loc[method, col] = cell
    return text, best


def table_notes(table: MetricTable) -> list[str]:
    """Plain sentences under a table: images at the PSNR cap, set metrics withheld and why."""
    capped = [
        f"{method} {col} {table.capped_count(method, col)}"
        for col in table.columns
        for method in table.methods
        if table.capped_count(method, col)
    ]
    notes = []
    if capped:
        notes.append(
            f"PSNR is capped at {PSNR_MAX:g} dB (an exact reconstruction has no finite PSNR); "
            f"images at the cap: {', '.join(capped)}."
        )
    notes += [
        f"{col} of {method} withheld: {table.note_of(method, col)}."
        for col in table.columns
        for method in table.methods
        if table.note_of(method, col)
    ]
    return notes


def markdown_table(table: MetricTable) -> str:
    """Methods as rows, ``mean \u00b1 half-width`` per metric, best per column in bold; :func:`table_notes` below."""
    if not table.columns:
        return "(no metrics)\n"
    text, best = cells(table, "text")
    header = ["method"] + [metric_label(c, "text") for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * len(table.columns)]
    for method in table.methods:
        row = [f"**{text.loc[method, c]}**" if best.loc[method, c] else text.loc[method, c] for c in table.columns]
        lines.append(f"| {_escape(method)} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n" + "".join(f"\n{_escape(n)}\n" for n in table_notes(table))


def frame_to_markdown(frame: pd.DataFrame) -> str:
    """A plain DataFrame (already formatted as text) as a Markdown table."""
    cols = [str(c) for c in frame.columns]
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, row in frame.iterrows():
        lines.append("| " + " | ".join(_escape(str(v)) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _escape(text: str) -> str:
    # A pipe inside a cell would split it into two columns.
    return text.replace("|", "\\|")
