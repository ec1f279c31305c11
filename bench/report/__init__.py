"""Reports of a run: Markdown and LaTeX tables, figure grids, paired comparisons.

Modules
-------
format
    Metric labels, arrows, interval text and the best-per-column rule.
tables
    A run's numbers as wide method x metric tables (mean, interval, n).
markdown, latex
    The two renderings of a table (LaTeX through pandas' Styler).
paired
    Paired comparison of two methods on the same images.
figures
    Image grids, a bar chart with intervals and hole-PSNR versus hole area.
build
    ``bench report``: everything above written into one folder.
"""
