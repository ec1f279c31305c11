"""Parse the ``--cluster`` option: ``local:N`` or ``tcp://HOST:PORT``; no Dask import."""

from __future__ import annotations

import re
from dataclasses import dataclass


class ClusterError(RuntimeError):
    """A cluster cannot be used; the message names the address and what to do."""


@dataclass(frozen=True)
class ClusterAddress:
    """Where to run work units.

    Attributes
    ----------
    text : str
        The option as given (recorded in ``config.json``).
    local_workers : int or None
        ``N`` of ``local:N`` (an embedded ``LocalCluster``), None for a scheduler address.
    scheduler : str or None
        ``tcp://HOST:PORT`` of an existing Dask scheduler, None for ``local:N``.
    """

    text: str
    local_workers: int | None = None
    scheduler: str | None = None


_LOCAL = re.compile(r"local:(\d+)")
_TCP = re.compile(r"(tcp|tls)://([^:/\s]+|\[[0-9a-fA-F:]+\]):(\d+)")


def parse_cluster(text: str) -> ClusterAddress:
    """Parse ``local:N`` or ``tcp://HOST:PORT`` (``tls://`` too).

    Raises
    ------
    ClusterError
        For anything else, naming the text and the accepted forms.
    """
    value = (text or "").strip()
    m = _LOCAL.fullmatch(value)
    if m:
        n = int(m.group(1))
        if n < 1:
            raise ClusterError(f"--cluster {value}: need at least one worker (local:1, local:2, ...)")
        return ClusterAddress(value, local_workers=n)
    m = _TCP.fullmatch(value)
    if m:
        port = int(m.group(3))
        if not 0 < port < 65536:
            raise ClusterError(f"--cluster {value}: port {port} is outside 1..65535")
        return ClusterAddress(value, scheduler=value)
    raise ClusterError(
        f"--cluster {value!r}: expected local:N (N workers on this machine) or "
        "tcp://HOST:PORT (a running Dask scheduler)"
    )
