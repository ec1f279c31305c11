"""LaTeX tables through pandas' Styler (booktabs rules), and compiling them to PDF.

The tables need only ``booktabs``; :func:`document` wraps them in a minimal
article so a test (and ``bench report``) can prove they compile.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pandas as pd

from bench.report.format import metric_label
from bench.report.markdown import cells
from bench.report.tables import MetricTable

ENGINES = ("pdflatex", "lualatex", "xelatex")

_SPECIALS = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
             "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\textasciicircum{}"}
_SPECIAL_RE = re.compile("|".join(re.escape(k) for k in _SPECIALS))


def escape_latex(text: str) -> str:
    """Escape LaTeX's special characters in plain text (captions, method names)."""
    return _SPECIAL_RE.sub(lambda m: _SPECIALS[m.group()], str(text))


def check_label(label: str) -> str:
    """Validate a ``\\label`` key: letters, digits and ``:-_.`` only, so it is stable and citeable."""
    if not re.fullmatch(r"[A-Za-z0-9:_.\-]+", label or ""):
        raise ValueError(f"LaTeX label {label!r}: use only letters, digits and ':-_.'")
    return label


def styled_latex(frame: pd.DataFrame, bold: pd.DataFrame | None, caption: str, label: str,
                 first_header: str = "Method", font: str | None = "small") -> str:
    """Render a frame of (already LaTeX-safe) cell text with Styler.

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
    """
    frame = frame.copy()
    # The header of the row-label column goes in the columns' name: an index name would add a second header row.
    frame.index = pd.Index(list(frame.index))
    frame.columns = pd.Index(list(frame.columns), name=first_header)
    styler = frame.style.format_index(escape="latex", axis=0)
    if bold is not None:
        css = bold.reindex(index=frame.index).set_axis(frame.columns, axis=1).map(
            lambda b: "textbf:--rwrap;" if b else "")
        styler = styler.apply(lambda _: css, axis=None)
    if font:
        styler = styler.set_table_styles([{"selector": font, "props": ":;"}], overwrite=False)
    return styler.to_latex(hrules=True, caption=caption, label=check_label(label), position_float="centering",
                           column_format="l" + "r" * len(frame.columns), environment="table")


def metric_table_latex(table: MetricTable, caption: str, label: str) -> str:
    """A :class:`MetricTable` as a booktabs table: arrows in the header, best per column bold.

    Parameters
    ----------
    table : MetricTable
        Means and intervals.
    caption : str
        Caption text, LaTeX already (build it with :func:`escape_latex`).
    label : str
        ``\\label`` key.
    """
    text, best = cells(table, "latex")
    text.columns = [metric_label(c, "latex") for c in table.columns]
    best.columns = text.columns
    return styled_latex(text, best, caption, label)


def document(fragments: list[str], title: str | None = None) -> str:
    """A minimal compilable article holding the table fragments (booktabs, T1 fonts, 2 cm margins)."""
    # No trailer ID under pdfTeX: it hashes the scratch folder's path and would change on every build.
    parts = [r"\ifdefined\pdftrailerid\pdftrailerid{}\fi", r"\documentclass{article}", r"\usepackage[T1]{fontenc}",
             r"\usepackage{booktabs}", r"\usepackage[margin=2cm]{geometry}", r"\begin{document}"]
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
        raise FileNotFoundError("no LaTeX engine found (pdflatex, lualatex or xelatex); on Debian: apt-get install "
                                "-y --no-install-recommends texlive-latex-base texlive-latex-recommended")
    out_dir = Path(out_dir or tex.parent)
    with tempfile.TemporaryDirectory(prefix="bench-latex-") as tmp:
        # -halt-on-error with nonstopmode: a broken table fails instead of waiting for input.
        cmd = [engine, "-interaction=nonstopmode", "-halt-on-error", f"-output-directory={tmp}", str(tex.resolve())]
        # A fixed date makes pdfTeX's timestamps and document ID reproducible (same table, same PDF).
        env = {**os.environ, "SOURCE_DATE_EPOCH": os.environ.get("SOURCE_DATE_EPOCH", "0"), "FORCE_SOURCE_DATE": "1"}
        proc = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, timeout=timeout, env=env)
        pdf = Path(tmp) / (tex.stem + ".pdf")
        if proc.returncode != 0 or not pdf.is_file():
            log = Path(tmp) / (tex.stem + ".log")
            text = log.read_text(errors="replace") if log.is_file() else proc.stdout
            errors = [line for line in text.splitlines() if line.startswith("!")][:10]
            raise LatexError(f"{Path(engine).name} failed on {tex} (exit {proc.returncode}): "
                             + (" | ".join(errors) or text[-2000:]))
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / pdf.name
        shutil.copyfile(pdf, target)
    return target
