"""The ``--cluster`` command-line option shared by ``bench run`` and ``bench ablate`` (no Dask import)."""

from __future__ import annotations

import click

from bench.engine.address import ClusterError, parse_cluster

HELP = (
    "Run the work on Dask: local:N starts N worker processes here; tcp://HOST:PORT uses a running "
    "scheduler (README: 'Running on a cluster'). Records equal a local run's except timing."
)


def _check(ctx, param, value):
    if value is None:
        return None
    try:
        return parse_cluster(value).text
    except ClusterError as err:
        raise click.BadParameter(str(err)) from None


def cluster_option(fn):
    """Decorate a click command with ``--cluster`` (validated at parse time)."""
    return click.option("--cluster", default=None, metavar="local:N|tcp://HOST:PORT", callback=_check, help=HELP)(fn)
