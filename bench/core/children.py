"""Worker processes that leave Ctrl-C to their parent and never outlive it.

Ctrl-C in a terminal sends SIGINT to every process of the foreground group; a worker that took it
would print its own ``KeyboardInterrupt`` traceback while the parent stops. So workers here are
started with SIGINT blocked, ignore it from their first instruction on, and are stopped by their
parent (:func:`stop_pool`). Should the parent die without stopping them (SIGKILL, a crash), the
kernel ends them too (``PR_SET_PDEATHSIG`` on Linux; a watcher thread elsewhere), so a worker can
never stay alive holding the parent's stdout.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from typing import Any

# From <sys/prctl.h>: deliver a signal to this process when its parent thread ends.
_PR_SET_PDEATHSIG = 1
# Seconds between two looks at the parent where the kernel cannot watch it.
_WATCH_EVERY = 0.5


@contextmanager
def sigint_blocked() -> Iterator[None]:
    """Block SIGINT in this thread; processes and threads started inside inherit the block."""
    if not hasattr(signal, "pthread_sigmask"):  # not on POSIX: nothing to inherit
        yield
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


@contextmanager
def sigint_ignored_by_children() -> Iterator[None]:
    """Start processes that ignore SIGINT for good, whatever threads or interpreters they start from.

    A blocked signal is inherited only by processes forked from a thread that blocks it, and Python
    code may unblock it; an ignored one survives fork and exec, and Python (and asyncio) leave an
    ignored SIGINT ignored. So processes that will not run :func:`guard_this_worker` (a Dask local
    cluster's nannies and the workers they spawn) are started inside this. SIGINT is blocked
    meanwhile, so a Ctrl-C arriving during the start is held back, then taken by this process.
    """
    if threading.current_thread() is not threading.main_thread():  # only the main thread may set handlers
        with sigint_blocked():
            yield
        return
    with sigint_blocked():
        previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
        try:
            yield
        finally:
            # Restoring the handler before the mask: a Ctrl-C held back meanwhile is delivered to it.
            signal.signal(signal.SIGINT, previous)


def guard_this_worker(parent: int) -> None:
    """Ignore SIGINT and end this process when ``parent`` (the pid that started it) ends.

    Call first thing in a worker process. The process ends at once if ``parent`` is already gone.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # a pending Ctrl-C is now discarded
    if not _die_with_parent():
        threading.Thread(target=_watch, args=(parent,), name="parent-watch", daemon=True).start()
    if os.getppid() != parent:  # the parent ended before the watch was set
        os._exit(1)


def _die_with_parent() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        return libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(_WATCH_EVERY)
    os._exit(1)


def _start_worker(parent: int, initializer: Callable[..., Any] | None, initargs: tuple) -> None:
    guard_this_worker(parent)
    if initializer is not None:
        initializer(*initargs)


class _GuardedPool(ProcessPoolExecutor):
    # Processes start with SIGINT blocked, so none can take Ctrl-C while it imports.
    def _spawn_process(self) -> None:
        with sigint_blocked():
            super()._spawn_process()  # type: ignore[misc]


def new_pool(workers: int, initializer: Callable[..., Any] | None = None, initargs: tuple = ()) -> ProcessPoolExecutor:
    """A pool of ``workers`` spawned processes guarded as :func:`guard_this_worker` says.

    ``initializer(*initargs)`` runs in each process after the guard (it must be picklable).
    Stop the pool with :func:`stop_pool`.
    """
    import multiprocessing

    # spawn, not fork: the parent may hold torch's and numba's thread pools and open files.
    return _GuardedPool(
        workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_start_worker,
        initargs=(os.getpid(), initializer, initargs),
    )


def stop_pool(pool: ProcessPoolExecutor, abort: bool) -> None:
    """Shut ``pool`` down: after its work (``abort`` False) or at once, killing its processes.

    Aborting cancels queued work and terminates the processes (a task under way cannot be
    interrupted otherwise), then waits until they are gone.
    """
    if not abort:
        pool.shutdown(wait=True)
        return
    # ProcessPoolExecutor has no public way to end running tasks before Python 3.14.
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for process in processes:
        if process.is_alive():
            process.terminate()
    for process in processes:
        process.join(timeout=5)
        if process.is_alive():
            process.kill()
            process.join()
    # The pool's manager thread now sees its processes gone and releases its queues.
    pool.shutdown(wait=True)


@contextmanager
def worker_pool(
    workers: int, initializer: Callable[..., Any] | None = None, initargs: tuple = ()
) -> Iterator[ProcessPoolExecutor]:
    """:func:`new_pool` as a context: a normal exit waits for the work, any other kills the processes."""
    pool = new_pool(workers, initializer, initargs)
    try:
        yield pool
    except BaseException:
        stop_pool(pool, abort=True)
        raise
    stop_pool(pool, abort=False)
