"""Stop a command at seeded random moments, resume it, and compare with an uninterrupted run.

In the spirit of the crash tests of storage engines: every episode starts from an empty output
directory and is stopped and resumed until one attempt finishes; its files are then compared
with those of a run that was never interrupted. Episodes follow each other until the wanted
number of stops has landed on running processes.

A stop is SIGKILL of the whole process group (a crash, the OOM killer), SIGTERM of the command
alone (how batch schedulers and CI time limits stop a job) or SIGINT of the whole group (Ctrl-C
in a terminal). After SIGTERM and SIGINT the command must exit with 128 + the signal, say it was
stopped, print no traceback; after any stop, no process it started may be left running.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

BENCH = [sys.executable, "-m", "bench.cli"]


# What a finished run prints last.
FINISHED = "run directory:"
# Seconds a stopped command may take to exit, and then its processes to be gone.
EXIT_WITHIN = 30.0
GONE_WITHIN = 5.0


@dataclass
class Kill:
    """One stop that landed: when, which signal, and what the directory held just after it."""

    episode: int
    seconds: float
    state: str
    signal: str = "SIGKILL"
    exit_seconds: float = 0.0


@dataclass
class CrashLoop:
    """The outcome of :func:`crash_loop`."""

    reference_seconds: float
    kills: list[Kill] = field(default_factory=list)
    episodes: int = 0


def _run(command: list[str], log: Path) -> None:
    with open(log, "wb") as fh:
        proc = subprocess.run(command, stdout=fh, stderr=subprocess.STDOUT, timeout=600)
    text = log.read_text(errors="replace")
    assert proc.returncode == 0, f"{' '.join(command)} failed:\n{text[-3000:]}"
    assert "Traceback" not in text, text[-3000:]


def crash_loop(
    command_for: Callable[[Path], list[str]],
    state_of: Callable[[Path], str],
    compare: Callable[[Path, Path], None],
    tmp: Path,
    kills: int = 20,
    seed: int = 0,
    earliest: float = 0.25,
    stops: tuple[int, ...] = (signal.SIGKILL,),
) -> CrashLoop:
    """Run ``command_for(out)`` to completion once, then crash-loop it until ``kills`` kills landed.

    Parameters
    ----------
    command_for : callable
        The command line writing into an output directory.
    state_of : callable
        A short description of a directory's progress, noted at each kill.
    compare : callable
        ``compare(reference, resumed)`` asserts the two directories hold the same results.
    tmp : Path
        Where the reference and the episodes' directories go.
    kills : int
        Stops to land on running processes.
    seed : int
        Seed of the kill moments, drawn uniformly between ``earliest`` and 1 times the
        reference run's wall time.
    earliest : float
        Share of the reference time before which no kill is drawn (start-up is mostly imports).
    stops : tuple of int
        The signals, used in turn: SIGKILL and SIGINT go to the process group, SIGTERM to the command.
    """
    reference = tmp / "reference"
    _run(command_for(tmp / "warm-up"), tmp / "warm-up.log")  # compiled kernels and caches, so the timing is a resume's
    start = time.monotonic()
    _run(command_for(reference), tmp / "reference.log")
    loop = CrashLoop(time.monotonic() - start)
    rng = random.Random(seed)
    while len(loop.kills) < kills:
        loop.episodes += 1
        out = tmp / f"episode-{loop.episodes}"
        while True:
            if len(loop.kills) == kills:
                _run(command_for(out), tmp / f"episode-{loop.episodes}.log")
                break
            delay = rng.uniform(earliest, 1.0) * loop.reference_seconds
            sig = stops[len(loop.kills) % len(stops)]
            log_path = tmp / f"episode-{loop.episodes}.log"
            with open(log_path, "ab") as log:
                start_of_attempt = log.tell()
                proc = subprocess.Popen(command_for(out), stdout=log, stderr=log, start_new_session=True)
                try:
                    returncode = proc.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    seconds = _stop(proc, sig)
                    said = log_path.read_bytes()[start_of_attempt:].decode(errors="replace")
                    _check_stopped(proc.returncode, sig, said)
                    loop.kills.append(Kill(loop.episodes, delay, state_of(out), signal.Signals(sig).name, seconds))
                    continue
            text = (tmp / f"episode-{loop.episodes}.log").read_text(errors="replace")
            assert returncode == 0, text[-3000:]
            break
        text = (tmp / f"episode-{loop.episodes}.log").read_text(errors="replace")
        assert "Traceback" not in text, text[-3000:]
        compare(reference, out)
    return loop


def _stop(proc: subprocess.Popen, sig: int) -> float:
    """Send ``sig``, wait for the command to exit and its session to empty; seconds until it exited."""
    sent = time.monotonic()
    if sig == signal.SIGTERM:
        proc.send_signal(sig)  # the command alone: its workers are its business
    else:
        os.killpg(proc.pid, sig)  # the whole group, as the kernel (SIGKILL) or a terminal (Ctrl-C) does
    try:
        proc.wait(timeout=EXIT_WITHIN)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise AssertionError(f"{signal.Signals(sig).name} did not stop the command within {EXIT_WITHIN:g} s") from None
    exited = time.monotonic() - sent
    deadline = time.monotonic() + GONE_WITHIN
    while (left := session_processes(proc.pid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    if left:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(
            f"{signal.Signals(sig).name}: {len(left)} process(es) of the command still alive "
            f"{GONE_WITHIN:g} s after it exited: {left}"
        )
    return exited


def _check_stopped(returncode: int, sig: int, said: str) -> None:
    if returncode == 0:  # it finished in the instant before the signal landed
        return
    if returncode == -sig and FINISHED in said:
        return  # the work was done and reported; the signal landed while Python shut down
    if sig == signal.SIGKILL:
        assert returncode == -signal.SIGKILL, returncode
        return
    assert returncode == 128 + sig, f"{signal.Signals(sig).name} ended with exit {returncode}:\n{said[-3000:]}"
    assert "Traceback" not in said, said[-3000:]
    stopped = [line for line in said.splitlines() if "stopped by" in line]
    assert len(stopped) == 1 and "run the same command again to resume" in stopped[0], said[-3000:]


def session_processes(session: int) -> list[str]:
    """``pid command`` of every live (not zombie) process of a session, read from ``/proc``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace").strip()
        except OSError:  # it ended while we looked
            continue
        # pid (comm) state ppid pgrp session ...: comm may hold spaces and parentheses.
        fields = stat[stat.rindex(")") + 2 :].split()
        if fields[0] != "Z" and int(fields[3]) == session:
            found.append(f"{entry.name} {cmdline[:120]}")
    return found
