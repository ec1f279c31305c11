"""Markdown renderings of report tables (GitHub-flavoured; best values in bold)."""

from __future__ import annotations

import pandas as pd

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
            text.loc[method, col] = format_interval(
                table.value.loc[method, col], table.low.loc[method, col], table.high.loc[method, col], digits, style
            )
    return text, best


def markdown_table(table: MetricTable) -> str:
    """Methods as rows, ``mean \u00b1 half-width`` per metric, best per column in bold."""
    if not table.columns:
        return "(no metrics)\n"
    text, best = cells(table, "text")
    header = ["method"] + [metric_label(c, "text") for c in table.columns]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * len(table.columns)]
    for method in table.methods:
        row = [f"**{text.loc[method, c]}**" if best.loc[method, c] else text.loc[method, c] for c in table.columns]
        lines.append(f"| {_escape(method)} | " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


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
