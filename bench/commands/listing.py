"""``bench list``: what methods, metrics and datasets exist."""

from __future__ import annotations

import click


@click.command("list")
@click.argument("what", type=click.Choice(["methods", "metrics", "datasets", "masks"]))
def list_cmd(what: str) -> None:
    """List registered METHODS, METRICS, DATASETS or MASKS (mask families)."""
    if what == "methods":
        import methods

        for info in methods.available():
            keys = ", ".join(f"{k}={v}" for k, v in info.params.items()) or "-"
            keys += ", any other key=value" if info.open_keys else ""
            click.echo(
                f"{info.name:16s} {info.family:8s} {info.summary}\n{'':16s} keys: {keys}\n{'':16s} from: {info.origin}"
            )
        for name, reason in sorted(methods.broken_plugins().items()):
            click.echo(f"{name:16s} BROKEN   {reason}")
        click.echo(
            "\nAlso: @package.module:Name[:key=value,...] names your own function, class or factory "
            "(README: Benchmark your own method)."
        )
    elif what == "metrics":
        from bench.metrics import all_metrics
        from bench.metrics.registry import BROKEN

        for m in all_metrics():
            arrow = "higher is better" if m.higher_is_better else "lower is better"
            keys = ", ".join(f"{k}={v}" for k, v in m.params.items()) or "-"
            click.echo(f"{m.name:13s} {m.kind:6s} {arrow:17s} {m.summary}\n{'':13s} keys: {keys}; from: {m.origin}")
        for name, reason in sorted(BROKEN.items()):
            click.echo(f"{name:13s} BROKEN {reason}")
        click.echo("\nAlso: @package.module:function[:key=value,...] names your own metric (bench/metrics/README.md).")
    elif what == "masks":
        from bench.inputs.masks import DEFAULT_FAMILY, available

        for info in available():
            keys = ", ".join(f"{k}={v}" for k, v in info.params.items()) or "-"
            default = " (default)" if info.name == DEFAULT_FAMILY else ""
            click.echo(f"{info.name:9s} {info.summary}{default}\n{'':9s} keys: {keys}")
    else:
        from bench.inputs.data.registry import available, broken_plugins

        for info in available():
            keys = ", ".join(f"{k}={v}" for k, v in info.params.items()) or "-"
            keys += ", any other key=value" if info.open_keys else ""
            root = "required" if info.needs_root else "optional" if info.reads_root else "not read"
            click.echo(
                f"{info.name:16s} {info.summary}\n{'':16s} keys: {keys}; --data-root: {root}\n"
                f"{'':16s} from: {info.origin}"
            )
        for name, reason in sorted(broken_plugins().items()):
            click.echo(f"{name:16s} BROKEN   {reason}")
        click.echo(
            "\nAlso: @package.module:attr[:key=value,...] names your own Source class or factory "
            "(README: Your own data source)."
        )
