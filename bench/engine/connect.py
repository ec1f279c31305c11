"""Start or reach a Dask cluster and check that its workers can do this suite's work.

``local:N`` starts an embedded ``LocalCluster`` (N worker processes, one thread each);
``tcp://HOST:PORT`` connects to a running scheduler. Either way every worker is
probed before any work is sent: it must import this suite at the client's version
and commit (refused otherwise, naming both), and the probe says which data paths it
sees. How long to wait for a scheduler is Dask's ``distributed.comm.timeouts.connect``
(``DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=5s``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from bench.core.children import sigint_ignored_by_children
from bench.engine.address import ClusterAddress, ClusterError
from bench.engine.probe import make_probe, suite_identity
from bench.engine.tasks import describe_identity

log = logging.getLogger("bench")


@dataclass
class Session:
    """A connected client and what its workers reported.

    Attributes
    ----------
    client : distributed.Client
    address : ClusterAddress
    suite : dict
        The client's suite identity (``version``, ``commit``); every task carries it.
    workers : dict
        ``{worker address: probe result}`` at connection time.
    """

    client: Any
    address: ClusterAddress
    suite: dict[str, str | None]
    workers: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def n_workers(self) -> int:
        """Workers connected now (at least 1 for sizing work units)."""
        try:
            return max(1, len(self.client.nthreads()))
        except Exception:  # the scheduler went away: sizing falls back; the run loop reports it
            return max(1, len(self.workers))

    def where(self) -> str:
        """The cluster in words, for messages."""
        return self.address.scheduler or f"the local cluster ({self.address.text})"

    def missing_paths(self, paths: list[str]) -> dict[str, list[str]]:
        """``{path: [workers that do not see it]}`` for paths some worker lacks."""
        paths = [p for p in paths if p]
        if not paths:
            return {}
        answers = self.client.run(make_probe(), paths, on_error="return")
        missing: dict[str, list[str]] = {}
        for worker, info in answers.items():
            seen = info.get("paths", {}) if isinstance(info, dict) else {}
            for p in paths:
                if not seen.get(p):
                    missing.setdefault(p, []).append(worker)
        return missing


def _timeout() -> float:
    import dask
    from dask.utils import parse_timedelta

    return float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect"), default="seconds"))


@contextmanager
def connect(address: ClusterAddress) -> Iterator[Session]:
    """Connect (starting a local cluster for ``local:N``), check the workers, and close on exit.

    Raises
    ------
    ClusterError
        The scheduler cannot be reached or has no workers, or a worker lacks the suite or
        runs another version of it. The message names the address and the fix.
    """
    try:
        from distributed import Client, LocalCluster
    except ImportError:
        raise ClusterError(
            f"--cluster {address.text} needs Dask: pip install -e \".[cluster]\" (or pip install \"dask[distributed]\")"
        ) from None
    timeout = _timeout()
    cluster = client = None
    try:
        if address.local_workers is not None:
            # One thread per worker: the methods and Inception are CPU-bound, so processes are the unit.
            # Its nannies and workers ignore SIGINT (blocking alone reaches only processes forked
            # from a thread that blocks it): Ctrl-C reaches this process alone, which closes the cluster.
            with sigint_ignored_by_children():
                cluster = LocalCluster(
                    n_workers=address.local_workers,
                    threads_per_worker=1,
                    processes=True,
                    dashboard_address=None,
                    silence_logs=logging.ERROR,
                )
                client = Client(cluster, timeout=timeout)
        else:
            try:
                client = Client(address.scheduler, timeout=timeout)
            except (OSError, TimeoutError) as err:
                raise ClusterError(
                    f"cannot reach the Dask scheduler at {address.scheduler} within {timeout:g} s ({err}); start one "
                    f"with `dask scheduler --port PORT` and workers with `dask worker {address.scheduler}`, or "
                    "use --cluster local:N"
                ) from None
        session = Session(client, address, suite_identity())
        _wait_for_workers(session, timeout)
        session.workers = check_workers(session)
        session.suite = suite_identity()
        yield session
    finally:
        # Closing, Dask reports every connection it drops (tracebacks included) at INFO: that is the
        # expected end of a session, not news for the user.
        quiet = logging.getLogger("distributed")
        level = quiet.level
        quiet.setLevel(logging.CRITICAL)
        try:
            for thing in (client, cluster):
                if thing is not None:
                    try:
                        thing.close()
                    except Exception:  # closing a half-dead cluster must not hide the error that got us here
                        log.debug("closing %s failed", thing, exc_info=True)
        finally:
            quiet.setLevel(level)


def _wait_for_workers(session: Session, timeout: float) -> None:
    try:
        session.client.wait_for_workers(1, timeout=timeout)
    except TimeoutError:
        raise ClusterError(
            f"the Dask scheduler at {session.where()} has no workers (waited {timeout:g} s); start "
            f"some with `dask worker {session.address.scheduler or 'ADDRESS'}`"
        ) from None


def check_workers(session: Session) -> dict[str, dict[str, Any]]:
    """Probe every worker; refuse one without the suite or with another version of it.

    Returns
    -------
    dict
        ``{worker address: probe result}``.
    """
    probe = make_probe()
    mine = probe([])
    suite = mine["identity"]
    answers = session.client.run(probe, [], on_error="return")
    problems, notes = [], []
    for worker, info in sorted(answers.items()):
        if not isinstance(info, dict):  # the probe itself failed there (an exception object came back)
            problems.append(f"worker {worker} could not run the check: {type(info).__name__}: {info}")
            continue
        name = f"worker {worker} (host {info['host']})"
        if info["identity"] is None:
            problems.append(
                f"{name} cannot import the suite ({info['error']}): install it there with "
                "`pip install -e \".[cluster]\"` from the same checkout, in the environment "
                "`dask worker` runs in"
            )
        elif info["identity"] != suite:
            problems.append(
                f"{name} runs inpaint-bench {describe_identity(info['identity'])}, this client "
                f"{describe_identity(suite)}: install the same version on every worker"
            )
        else:
            differ = {
                k: (mine["packages"].get(k), v) for k, v in info["packages"].items() if v != mine["packages"].get(k)
            }
            if differ or info["python"] != mine["python"]:
                detail = ", ".join(f"{k} {b} (client {a})" for k, (a, b) in differ.items())
                notes.append(f"{name}: python {info['python']} (client {mine['python']}) {detail}".strip())
    if problems:
        raise ClusterError(f"refusing the cluster at {session.where()}: " + "; ".join(problems))
    for note in notes:
        log.warning("other package versions than the client's may change numbers: %s", note)
    return answers
