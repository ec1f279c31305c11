"""``bench check``: the regression gate (compare a run with results/baseline.json)."""

from __future__ import annotations

import click


class CannotCompare(click.ClickException):
    """The run and the baseline cannot be compared (exit 2, unlike a regression's 1)."""

    exit_code = 2


@click.command()
@click.argument("run", type=click.Path(exists=True, file_okay=False))
@click.option(
    "--baseline",
    type=click.Path(dir_okay=False),
    default="results/baseline.json",
    show_default=True,
    help="Baseline file with reference numbers and per-metric tolerances.",
)
@click.option(
    "--map",
    "mapping",
    type=(str, str),
    multiple=True,
    metavar="RUN_SPEC BASELINE_NAME",
    help="Check the run's method RUN_SPEC against the baseline entry BASELINE_NAME "
    "(e.g. --map 'telea:radius=1' telea). Repeatable.",
)
@click.option("--allow-missing", is_flag=True, help="Do not fail on baseline methods absent from the run.")
@click.option("--metrics", default=None, help="Check only these comma-separated metric columns [default: all].")
@click.option(
    "--update",
    is_flag=True,
    help="Rewrite the baseline from RUN (tolerances and file mode kept; methods not in RUN dropped; "
    "a read-only baseline is refused) and exit 0.",
)
@click.option(
    "--allow-different",
    default=None,
    metavar="KEY,...",
    help="Compare although these identity keys differ from the baseline's, with a warning "
    "(dataset, n, seed, mask_family, ids_sha256, mask_sha256, extractor_sha256, metric_definitions).",
)
@click.option("--all-rows/--problems-only", default=True, show_default=True, help="Rows printed in the diff table.")
def check(run, baseline, mapping, allow_missing, metrics, update, allow_different, all_rows):
    """Exit 1 when RUN is worse than the baseline beyond a metric's tolerance (2 if they cannot be compared)."""
    from pathlib import Path

    from bench.outputs import regression as reg

    path = Path(baseline)
    mapping = dict(mapping)
    allow = tuple(k.strip() for k in (allow_different or "").split(",") if k.strip())
    try:
        if update:
            old = _previous(path)
            new = reg.make_baseline(run, old=old, mapping=mapping)
            if old is not None:
                try:
                    table = reg.compare(run, old, mapping, allow_missing=True, allow_different=allow)
                    click.echo("changes against the previous baseline:")
                    click.echo(reg.format_table(table, only_problems=True))
                except reg.BaselineError as err:
                    click.echo(f"previous baseline not comparable ({err}); replacing it")
                dropped = sorted(set(old["methods"]) - set(new["methods"]))
                if dropped:
                    click.echo(f"dropped from the baseline (not in {run}): {', '.join(dropped)}")
            reg.write_baseline(path, new)
            click.echo(
                f"baseline {path} written: {', '.join(new['methods'])} "
                f"({len(new['tolerances'])} metrics with tolerances)"
            )
            return
        old = reg.read_baseline(path)
        only = [m.strip() for m in metrics.split(",") if m.strip()] if metrics else None
        table = reg.compare(run, old, mapping, allow_missing=allow_missing, metrics=only, allow_different=allow)
    except (FileNotFoundError, reg.BaselineError, ValueError) as err:
        raise CannotCompare(str(err)) from None
    click.echo(reg.format_table(table, only_problems=not all_rows))
    for warning in table.attrs.get("warnings", []):
        click.echo(f"warning: {warning}", err=True)
    counts = table["status"].value_counts().to_dict()
    summary = ", ".join(f"{counts[s]} {s}" for s in reg.STATUS_ORDER if s in counts)
    if reg.failed(table):
        click.echo(f"FAIL: {summary} (baseline {path})", err=True)
        click.get_current_context().exit(1)
    click.echo(f"PASS: {summary} (baseline {path})")
    if counts.get("better"):
        click.echo("some metrics improved beyond their tolerance: consider `bench check RUN --update`")


def _previous(path):
    """The baseline ``--update`` replaces (None if there is none, or none usable: said, then replaced)."""
    from bench.outputs import regression as reg

    if not path.is_file():
        return None
    try:
        return reg.read_baseline(path)
    except reg.BaselineError as err:
        click.echo(f"previous baseline unusable ({err}); writing a new one with default tolerances")
        return None
