"""LaTeX tables through Styler: booktabs rules, arrows, bold best, caption, label, escaping; and they compile."""

import pandas as pd
import pytest

from bench.outputs.report.latex import (
    LatexError,
    check_label,
    compile_pdf,
    document,
    escape_latex,
    find_engine,
    metric_table_latex,
    styled_latex,
)
from bench.outputs.report.tables import MetricTable

needs_latex = pytest.mark.skipif(find_engine() is None, reason="no LaTeX engine installed (pdflatex/lualatex/xelatex)")


def _table():
    value = pd.DataFrame(
        {"mse": [0.0037, 0.0068], "psnr": [29.64, 25.36], "ssim": [0.9331, 0.9354]}, index=["telea", "patch:iters=0_x"]
    )
    half = pd.DataFrame({"mse": [0.0018, 0.0025], "psnr": [2.80, 2.24], "ssim": [0.0177, 0.0176]}, index=value.index)
    return MetricTable(value, value - half, value + half, value * 0 + 32)


def _rows(tex):
    body = tex.split(r"\midrule")[1].split(r"\bottomrule")[0]
    return [[c.strip() for c in line.rstrip("\\ ").split(" & ")] for line in body.strip().splitlines()]


def test_booktabs_table_with_arrows_bold_caption_and_label():
    tex = metric_table_latex(_table(), "Caption $n = 32$.", "tab:inpainting-image")
    for rule in (
        r"\toprule",
        r"\midrule",
        r"\bottomrule",
        r"\begin{tabular}{lrrr}",
        r"\caption{Caption $n = 32$.}",
        r"\label{tab:inpainting-image}",
    ):
        assert rule in tex, rule
    header = tex.split(r"\toprule")[1].split(r"\midrule")[0].strip()
    assert header == r"Method & MSE$\downarrow$ & PSNR$\uparrow$ & SSIM$\uparrow$ \\"
    rows = _rows(tex)
    assert rows[0] == ["telea", r"\textbf{0.0037 $\pm$ 0.0018}", r"\textbf{29.64 $\pm$ 2.80}", r"0.9331 $\pm$ 0.0177"]
    assert rows[1] == [
        r"patch:iters=0\_x",
        r"0.0068 $\pm$ 0.0025",
        r"25.36 $\pm$ 2.24",
        r"\textbf{0.9354 $\pm$ 0.0176}",
    ]


def test_escaping_and_labels():
    assert (
        escape_latex("a_b & 50% #1 {x} ~ ^ \\")
        == r"a\_b \& 50\% \#1 \{x\} \textasciitilde{} \textasciicircum{} \textbackslash{}"
    )
    assert check_label("tab:inpainting-hole") == "tab:inpainting-hole"
    for bad in ("tab inpainting", "tab{x}", ""):
        with pytest.raises(ValueError, match="label"):
            check_label(bad)


def test_styled_latex_without_bold_keeps_cells():
    frame = pd.DataFrame({r"$\Delta$PSNR": ["+0.46 $\\pm$ 0.26 ($p < 0.001$)"]}, index=["vs ns"])
    tex = styled_latex(frame, None, "cap", "tab:p", first_header="Comparison")
    assert r"Comparison & $\Delta$PSNR \\" in tex and r"vs ns & +0.46 $\pm$ 0.26 ($p < 0.001$) \\" in tex
    assert r"\textbf" not in tex


@needs_latex
def test_tables_compile_to_pdf(tmp_path):
    tex = metric_table_latex(_table(), "Whole image, $n = 32$, 25\\% holes.", "tab:x-image")
    doc = tmp_path / "t.tex"
    doc.write_text(document([tex], title="Report_1"))
    pdf = compile_pdf(doc)
    assert pdf == tmp_path / "t.pdf" and pdf.read_bytes()[:5] == b"%PDF-" and pdf.stat().st_size > 1000


@needs_latex
def test_broken_latex_fails_loudly(tmp_path):
    doc = tmp_path / "bad.tex"
    doc.write_text(document([r"\begin{tabular}{l} a & b \\ \end{tabular}", r"\undefinedmacro"]))
    with pytest.raises(LatexError, match="bad.tex"):
        compile_pdf(doc)


def test_missing_engine_is_reported(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    doc = tmp_path / "x.tex"
    doc.write_text(document([]))
    with pytest.raises(FileNotFoundError, match="texlive-latex-base"):
        compile_pdf(doc)
