"""``bench list``: what methods, metrics and datasets exist."""

from __future__ import annotations

import click


@click.command("list")
@click.argument("what", type=click.Choice(["methods", "metrics", "datasets"]))
def list_cmd(what: str) -> None:
    """List registered METHODS, METRICS or DATASETS."""
    if what == "methods":
        import methods

        for info in methods.available():
            keys = ", ".join(f"{k}={v}" for k, v in info.params.items()) or "-"
            click.echo(f"{info.name:16s} {info.family:8s} {info.summary}\n{'':16s} keys: {keys}")
    elif what == "metrics":
        from bench.metrics import all_metrics

        for m in all_metrics():
            arrow = "higher is better" if m.higher_is_better else "lower is better"
            click.echo(f"{m.name:8s} {m.kind:6s} {arrow:17s} {m.summary}")
    else:
        from bench.data import DATASETS

        for name, text in DATASETS.items():
            click.echo(f"{name:8s} {text}")
