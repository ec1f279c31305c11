"""LaTeX tables (booktabs) that fit the page, and compiling them to PDF.

A table's columns are measured (:mod:`bench.outputs.report.widths`) before anything is
written: a table wider than the text is set as stacked parts of the same float
(the row labels repeated), and only a single column that alone is too wide makes
the font smaller. The tables need only ``booktabs``; :func:`document` wraps them in
a minimal article so a test (and ``bench report``) can prove they compile.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bench.outputs.report.format import metric_label
from bench.outputs.report.markdown import cells
from bench.outputs.report.tables import BinTable, MetricTable
from bench.outputs.report.widths import text_width

ENGINES = ("pdflatex", "lualatex", "xelatex")

# Target width: 6.5 in, the text of a one-column paper with 1-inch margins; the report's
# own document (2 cm margins on letter or A4) is wider. Pass width_pt for another layout.
TEXT_WIDTH_PT = 469.75
# Column separation inside the tables (LaTeX's default is 6 pt): the cells are numbers,
# 4 pt on each side still separates them clearly and saves 4 pt per column.
TABCOLSEP_PT = 4.0
# Row labels (method specs) may wrap after ':', ',', '+', '=' into a box of at most this fraction
# of the text, when that saves splitting the table.
LABEL_FRACTION = 0.28
# pdfTeX's widths differ from the estimate by kerning only; this keeps a table clear of the margin.
SLACK_PT = 3.0

_SPECIALS = {
    "\\": r"\textbackslash{}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "{": r"\{",
    "}": r"\}",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
_SPECIAL_RE = re.compile("|".join(re.escape(k) for k in _SPECIALS))
_LABEL_BREAKS = re.compile(r"(?<=[:,+=])")


def escape_latex(text: str) -> str:
    """Escape LaTeX's special characters in plain text (captions, method names)."""
    return _SPECIAL_RE.sub(lambda m: _SPECIALS[m.group()], str(text))


def check_label(label: str) -> str:
    """Validate a ``\\label`` key: letters, digits and ``:-_.`` only, so it is stable and citeable."""
    if not re.fullmatch(r"[A-Za-z0-9:_.\-]+", label or ""):
        raise ValueError(f"LaTeX label {label!r}: use only letters, digits and ':-_.'")
    return label


@dataclass
class Block:
    """Rows of a table under an optional title row (e.g. one hole-area bin).

    Attributes
    ----------
    cells : DataFrame of str
        Rows labelled by plain text (escaped when written); cells are LaTeX already.
    bold : DataFrame of bool, optional
        Cells set in bold.
    title : str, optional
        LaTeX of a row spanning the table above the block.
    """

    cells: pd.DataFrame
    bold: pd.DataFrame | None = None
    title: str | None = None


def latex_table(
    blocks: list[Block],
    headers: list[str],
    caption: str,
    label: str,
    first_header: str = "Method",
    font: str | None = "small",
    width_pt: float = TEXT_WIDTH_PT,
) -> str:
    """A booktabs ``table`` float that fits ``width_pt``, split into stacked parts when it must.

    Parameters
    ----------
    blocks : list of Block
        The rows; every block has the columns of ``headers``, in order.
    headers : list of str
        Column headers, LaTeX already.
    caption : str
        Caption, LaTeX already.
    label : str
        ``\\label`` key (see :func:`check_label`).
    first_header : str
        Header of the row-label column (plain text).
    font : str, optional
        Size command of the table (``small``, ``footnotesize``) or None.
    width_pt : float
        Width the table must fit (the ``\\textwidth`` of the target document).

    Returns
    -------
    str
        The float. Columns are split into consecutive groups, each a tabular with the
        row labels, when all of them do not fit; a font one step smaller is used only
        when a single column does not fit beside the labels, and ``\\resizebox``
        (package ``graphicx``) only when even that fails.
    """
    if not blocks:
        raise ValueError("a LaTeX table needs at least one block of rows")
    ncols = len(headers)
    avail = width_pt - SLACK_PT
    # Preference: one tabular with whole labels, then with wrapped labels, then stacked parts;
    # a smaller font only when a single column does not fit; a scaled box only when nothing does.
    for size in _sizes(font):
        col_w = [
            max(
                [text_width(headers[j], size)]
                + [text_width(str(b.cells.iat[i, j]), size) for b in blocks for i in range(len(b.cells))]
            )
            for j in range(ncols)
        ]
        title_w = max([text_width(b.title, size) for b in blocks if b.title] + [0.0])
        options = []
        # Whole labels first, then wrapped in ever narrower boxes: the widest box that needs the fewest parts.
        for k, box in enumerate([None] + [f * LABEL_FRACTION * avail for f in (1.0, 0.75, 0.5, 0.35)]):
            wrapped = _row_labels(blocks, first_header, size, box)
            parts = None if wrapped is None else _split(wrapped[1], col_w, title_w, avail)
            if parts is not None:
                options.append((len(parts), k, wrapped[0], parts))
        if options:
            _, _, labels, parts = min(options, key=lambda o: (o[0], o[1]))
            return _float(blocks, headers, labels, parts, caption, label, first_header, size, resize=False)
    labels = _row_labels(blocks, first_header, size, None)[0]
    return _float(blocks, headers, labels, [[j] for j in range(ncols)], caption, label, first_header, size, resize=True)


def _sizes(font: str | None) -> list[str | None]:
    order = [None, "small", "footnotesize"]
    return order[order.index(font) :] if font in order else [font]


def _split(label_w: float, col_w: list[float], title_w: float, avail: float) -> list[list[int]] | None:
    """Consecutive column groups whose tabulars fit ``avail``; None when one column alone does not."""
    pad = 2 * TABCOLSEP_PT

    def width(cols):
        return max(label_w + pad + sum(col_w[j] + pad for j in cols), title_w + pad)

    parts: list[list[int]] = []
    for j in range(len(col_w)):
        if parts and width(parts[-1] + [j]) <= avail:
            parts[-1].append(j)
        elif width([j]) <= avail:
            parts.append([j])
        else:
            return None
    # Even out the parts (7 columns as 4 + 3, not 6 + 1) when that still fits.
    if len(parts) > 1:
        per = -(-len(col_w) // len(parts))
        even = [list(range(k, min(k + per, len(col_w)))) for k in range(0, len(col_w), per)]
        if len(even) == len(parts) and all(width(p) <= avail for p in even):
            parts = even
    return parts or [[]]


def _row_labels(
    blocks: list[Block], first_header: str, size: str | None, box: float | None
) -> tuple[list[list[str]], float] | None:
    """LaTeX of each block's row labels and the label column's width.

    With ``box`` (pt), labels wider than it wrap in a parbox of that width after
    ``:``, ``,``, ``+`` or ``=``; None when a piece between those breaks is wider.
    """
    plain = [[str(x) for x in b.cells.index] for b in blocks]
    header_w = text_width(escape_latex(first_header), size)
    widths = [text_width(escape_latex(x), size) for rows in plain for x in rows] + [header_w]
    if box is None or max(widths) <= box:
        return [[escape_latex(x) for x in rows] for rows in plain], max(widths)
    pieces = [p for rows in plain for x in rows for p in _LABEL_BREAKS.split(x)]
    if max(text_width(escape_latex(p), size) for p in pieces) > box or header_w > box:
        return None

    def wrap(x: str) -> str:
        if text_width(escape_latex(x), size) <= box:
            return escape_latex(x)
        # No hyphenation inside a spec: it breaks only where \allowbreak says.
        inner = r"\allowbreak{}".join(escape_latex(p) for p in _LABEL_BREAKS.split(x))
        return rf"\parbox[t]{{{box + 0.5:.1f}pt}}{{\raggedright\hyphenpenalty=10000\relax {inner}}}"

    return [[wrap(x) for x in rows] for rows in plain], box + 0.5


def _float(blocks, headers, labels, parts, caption, label, first_header, size, resize: bool) -> str:
    lines = [r"\begin{table}", r"\centering", rf"\caption{{{caption}}}", rf"\label{{{check_label(label)}}}"]
    if size:
        lines.append("\\" + size)
    lines.append(rf"\setlength{{\tabcolsep}}{{{TABCOLSEP_PT:g}pt}}")
    for k, cols in enumerate(parts):
        if k:
            lines.append(r"\par\medskip")
        tab = _tabular(blocks, headers, labels, cols, first_header)
        lines.append(r"\resizebox{\linewidth}{!}{%" + "\n" + tab + "}" if resize else tab)
    lines.append(r"\end{table}")
    return "\n".join(lines) + "\n"


def _tabular(blocks, headers, labels, cols, first_header) -> str:
    out = [
        r"\begin{tabular}{l" + "r" * len(cols) + "}",
        r"\toprule",
        " & ".join([escape_latex(first_header)] + [headers[j] for j in cols]) + r" \\",
        r"\midrule",
    ]
    for k, (block, rows) in enumerate(zip(blocks, labels)):
        if k:
            out.append(r"\midrule")
        if block.title:
            out.append(rf"\multicolumn{{{len(cols) + 1}}}{{l}}{{{block.title}}} \\")
        for i, row_label in enumerate(rows):
            cells_ = []
            for j in cols:
                text = str(block.cells.iat[i, j])
                if block.bold is not None and bool(block.bold.iat[i, j]):
                    text = rf"\textbf{{{text}}}"
                cells_.append(text)
            out.append(" & ".join([row_label] + cells_) + r" \\")
    out += [r"\bottomrule", r"\end{tabular}"]
    return "\n".join(out)


def styled_latex(
    frame: pd.DataFrame,
    bold: pd.DataFrame | None,
    caption: str,
    label: str,
    first_header: str = "Method",
    font: str | None = "small",
    width_pt: float = TEXT_WIDTH_PT,
) -> str:
    """A frame of (already LaTeX-safe) cell text as a booktabs table that fits the page.

    Parameters
    ----------
    frame : DataFrame of str
        Rows are labelled by plain text (escaped here); column labels and cells are
        LaTeX already (arrows, ``$\\pm$``).
    bold : DataFrame of bool, optional
        Cells to set in bold.
    caption : str
        Caption, LaTeX already.
    label : str
        ``\\label`` key (see :func:`check_label`).
    first_header : str
        Header of the row-label column.
    font : str, optional
        A size command applied to the table (``small``, ``footnotesize``) or None.
    width_pt : float
        Width to fit (see :func:`latex_table`).
    """
    bold = None if bold is None else bold.reindex(index=frame.index, columns=frame.columns, fill_value=False)
    return latex_table(
        [Block(frame, bold)], [str(c) for c in frame.columns], caption, label, first_header, font, width_pt
    )


def metric_table_latex(table: MetricTable, caption: str, label: str, width_pt: float = TEXT_WIDTH_PT) -> str:
    """A :class:`MetricTable` as a booktabs table: arrows in the header, best per column bold.

    Parameters
    ----------
    table : MetricTable
        Means and intervals.
    caption : str
        Caption text, LaTeX already (build it with :func:`escape_latex`).
    label : str
        ``\\label`` key.
    width_pt : float
        Width to fit (see :func:`latex_table`).
    """
    text, best = cells(table, "latex")
    return latex_table(
        [Block(text, best)], [metric_label(c, "latex") for c in table.columns], caption, label, width_pt=width_pt
    )


def binned_table_latex(tables: list[BinTable], caption: str, label: str, width_pt: float = TEXT_WIDTH_PT) -> str:
    """Tables of several hole-area bins as one float: a title row per bin, best per column bold within each bin.

    Parameters
    ----------
    tables : list of BinTable
        From :func:`bench.outputs.report.tables.area_tables`; all with the same columns.
    caption, label, width_pt
        As in :func:`metric_table_latex`.
    """
    if not tables:
        raise ValueError("no hole-area bin has results")
    blocks = []
    for bt in tables:
        text, best = cells(bt.table, "latex")
        blocks.append(Block(text, best, rf"\emph{{Hole area {bt.bin.label('latex')}, {bt.n_text('latex')}}}"))
    return latex_table(
        blocks, [metric_label(c, "latex") for c in tables[0].table.columns], caption, label, width_pt=width_pt
    )


def document(fragments: list[str], title: str | None = None) -> str:
    """A minimal compilable article holding the table fragments (booktabs, graphicx, T1 fonts, 2 cm margins)."""
    # No trailer ID under pdfTeX: it hashes the scratch folder's path and would change on every build.
    parts = [
        r"\ifdefined\pdftrailerid\pdftrailerid{}\fi",
        r"\documentclass{article}",
        r"\usepackage[T1]{fontenc}",
        r"\usepackage{booktabs}",
        r"\usepackage{graphicx}",
        r"\usepackage[margin=2cm]{geometry}",
        r"\begin{document}",
    ]
    if title:
        parts.append(r"\section*{" + escape_latex(title) + "}")
    parts += fragments
    parts.append(r"\end{document}")
    return "\n".join(parts) + "\n"


def find_engine() -> str | None:
    """Path of the first LaTeX engine on PATH (pdflatex, lualatex, xelatex), or None."""
    for name in ENGINES:
        path = shutil.which(name)
        if path:
            return path
    return None


class LatexError(RuntimeError):
    """A LaTeX engine rejected a document; the message ends with the log's error lines."""


def compile_pdf(tex: Path, out_dir: Path | None = None, engine: str | None = None, timeout: float = 120.0) -> Path:
    """Compile a ``.tex`` file to PDF in a scratch folder and copy the PDF next to it.

    Parameters
    ----------
    tex : Path
        The document.
    out_dir : Path, optional
        Where the PDF goes (default: the folder of ``tex``).
    engine : str, optional
        Engine executable (default: :func:`find_engine`).
    timeout : float
        Seconds before the engine is stopped.

    Returns
    -------
    Path
        The PDF.

    Raises
    ------
    FileNotFoundError
        No LaTeX engine installed.
    LatexError
        The engine failed; the log's ``!`` lines are in the message.
    """
    tex = Path(tex)
    engine = engine or find_engine()
    if engine is None:
        raise FileNotFoundError(
            "no LaTeX engine found (pdflatex, lualatex or xelatex); on Debian: apt-get install "
            "-y --no-install-recommends texlive-latex-base texlive-latex-recommended"
        )
    out_dir = Path(out_dir or tex.parent)
    with tempfile.TemporaryDirectory(prefix="bench-latex-") as tmp:
        # -halt-on-error with nonstopmode: a broken table fails instead of waiting for input.
        cmd = [engine, "-interaction=nonstopmode", "-halt-on-error", f"-output-directory={tmp}", str(tex.resolve())]
        # A fixed date makes pdfTeX's timestamps and document ID reproducible (same table, same PDF).
        env = {**os.environ, "SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH", "0"), "FORCE_SOURCE_DATE": "1"}
        proc = subprocess.run(cmd, check=False, cwd=tmp, capture_output=True, text=True, timeout=timeout, env=env)
        pdf = Path(tmp) / (tex.stem + ".pdf")
        if proc.returncode != 0 or not pdf.is_file():
            log = Path(tmp) / (tex.stem + ".log")
            text = log.read_text(errors="replace") if log.is_file() else proc.stdout
            errors = [line for line in text.splitlines() if line.startswith("!")][:10]
            raise LatexError(
                f"{Path(engine).name} failed on {tex} (exit {proc.returncode}): " + (" | ".join(errors) or text[-2000:])
            )
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / pdf.name
        shutil.copyfile(pdf, target)
    return target
