"""Kill a command with SIGKILL at seeded random moments, resume it, and compare with an uninterrupted run.

In the spirit of the crash tests of storage engines: every episode starts from an empty output
directory and is killed and resumed until one attempt finishes; its files are then compared
with those of a run that was never interrupted. Episodes follow each other until the wanted
number of kills has landed on running processes.
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


@dataclass
class Kill:
    """One SIGKILL that landed: when, and what the directory held just after it."""

    episode: int
    seconds: float
    state: str


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
        SIGKILLs to land on running processes.
    seed : int
        Seed of the kill moments, drawn uniformly between ``earliest`` and 1 times the
        reference run's wall time.
    earliest : float
        Share of the reference time before which no kill is drawn (start-up is mostly imports).
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
            with open(tmp / f"episode-{loop.episodes}.log", "ab") as log:
                proc = subprocess.Popen(command_for(out), stdout=log, stderr=log, start_new_session=True)
                try:
                    returncode = proc.wait(timeout=delay)
                except subprocess.TimeoutExpired:
                    os.killpg(proc.pid, signal.SIGKILL)  # the whole group: feature workers die too
                    proc.wait()
                    loop.kills.append(Kill(loop.episodes, delay, state_of(out)))
                    continue
            text = (tmp / f"episode-{loop.episodes}.log").read_text(errors="replace")
            assert returncode == 0, text[-3000:]
            break
        text = (tmp / f"episode-{loop.episodes}.log").read_text(errors="replace")
        assert "Traceback" not in text, text[-3000:]
        compare(reference, out)
    return loop
