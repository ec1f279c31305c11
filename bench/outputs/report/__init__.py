"""Reports of a run: Markdown and LaTeX tables, figure grids, paired comparisons.

Modules
-------
format
    Metric labels, arrows, interval text and the best-per-column rule.
tables
    A run's numbers as wide method x metric tables (mean, interval, n), overall or per hole-area bin.
markdown, latex
    The two renderings of a table (LaTeX measured and split to fit the page).
widths
    Natural widths of LaTeX cell text (Computer Modern, measured with pdfTeX).
captions
    Caption text: dataset, n, masks, intervals, the FID/KID feature extractor, area bins.
paired
    Paired comparison of two methods on the same images.
figures
    Image grids, a bar chart with intervals and hole-PSNR versus hole area.
set_bins
    Set metrics (FID, KID, ...) per hole-area bin, from the run's stored features.
contents
    What a report holds: options, tables, the paired cells.
document
    The Markdown report.
build
    ``bench report``: everything above written into one folder (LaTeX, figures, files).
families
    ``bench report RUN_A RUN_B ...``: FID and KID per mask family of runs on the same images.
"""
