"""inpaint-bench: the harness (data sources, masks, runner, metrics, tables, figures, regression)."""

__version__ = "0.1.0"
