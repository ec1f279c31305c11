"""Worker processes of bench.core.children ignore Ctrl-C and never outlive their parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from bench.core.children import new_pool, stop_pool, worker_pool

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="reads /proc")


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pid: int, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _alive(pid)


PARENT = textwrap.dedent(
    """
    import os, sys, time
    from bench.core.children import new_pool
    pool = new_pool(1)
    print(pool.submit(os.getpid).result(), flush=True)
    pool.submit(time.sleep, 600)
    time.sleep(600)
    """
)


def test_a_worker_dies_with_its_parent_killed_by_sigkill():
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True)
    worker = int(parent.stdout.readline())
    assert _alive(worker)
    os.kill(parent.pid, signal.SIGKILL)  # the parent alone: nothing stops the worker but the guard
    parent.wait()
    assert _wait_gone(worker), f"worker {worker} outlived its killed parent"


def test_a_worker_ignores_sigint():
    with worker_pool(1) as pool:
        pid = pool.submit(os.getpid).result()
        os.kill(pid, signal.SIGINT)
        time.sleep(0.3)
        assert pool.submit(os.getpid).result() == pid  # still the same process, still working


def test_leaving_a_pool_on_an_exception_kills_its_running_task_at_once():
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt):
        with worker_pool(1) as pool:
            pid = pool.submit(os.getpid).result()
            pool.submit(time.sleep, 600)
            raise KeyboardInterrupt
    assert time.monotonic() - start < 30 and _wait_gone(pid)


def test_stopping_a_pool_normally_finishes_its_work():
    with worker_pool(2) as pool:
        futures = [pool.submit(pow, 2, k) for k in range(8)]
    assert [f.result() for f in futures] == [2**k for k in range(8)]
    pool2 = new_pool(1)
    done = pool2.submit(pow, 3, 3)
    stop_pool(pool2, abort=False)
    assert done.result() == 27
