"""The ``bench`` command line. Subcommands load lazily so ``bench --help`` stays fast."""

from __future__ import annotations

import codecs
import importlib
import os
import signal
import sys
import tempfile
import threading
import time
import traceback
from contextlib import contextmanager

import click

from bench.core.outdir import OutDirError

# OpenMP threads (torch's and numba's share one libgomp, read when it loads) otherwise spin at
# every barrier. A run's feature pool uses whatever the methods leave idle, and spinning is
# not idle (results/benchmarks/README.md has the measurement). Set before any subcommand
# imports torch or numba; an explicit setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# name -> "module:attribute" of a click command. Each feature area owns its module.
COMMANDS = {
    "run": "bench.commands.run:run",
    "list": "bench.commands.listing:list_cmd",
    "train": "bench.commands.train:train",
    "time": "bench.commands.timing:time_cmd",
    "report": "bench.commands.report:report",
    "stats": "bench.commands.stats:stats",
    "check": "bench.commands.check:check",
    "ablate": "bench.commands.ablate:ablate",
    "curve": "bench.commands.curve:curve",
    "masks": "bench.commands.masks:masks",
    "export": "bench.commands.export:export",
    "publish": "bench.commands.publish:publish",
}


class LazyGroup(click.Group):
    """A click group that imports a subcommand's module only when it is used."""

    def list_commands(self, ctx):
        return sorted(COMMANDS)

    def get_command(self, ctx, name):
        target = COMMANDS.get(name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def invoke(self, ctx):
        with stop_signals_raise():
            try:
                return super().invoke(ctx)
            except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
                raise
            except KeyboardInterrupt as stop:
                signum = stop.signum if isinstance(stop, Stopped) else signal.SIGINT
                raise _stopped(ctx, signum) from None
            except OutDirError as err:
                # Any command's --out that is not its own directory: the message names it.
                raise click.ClickException(str(err)) from None
            except OSError as err:
                # A full disk, a vanished or unreadable file: one line naming the file, whatever the
                # subcommand was doing.
                where = f"{err.filename}: " if err.filename else ""
                raise click.ClickException(f"{where}{err.strerror or err}") from None
            except Exception as err:
                if _STOPPING:  # a worker killed by the same signal failed its task first
                    raise _stopped(ctx, _STOPPING[0]) from None
                if os.environ.get(DEBUG_ENV, "").strip() not in ("", "0"):
                    raise
                raise click.ClickException(_report_bug(ctx, err)) from None


# ---------------------------------------------------------------- stop signals

# Commands that keep their finished work and take up where they stopped when run again.
RESUMABLE = {"run", "ablate", "curve", "train", "export"}
# Signals that stop a command as Ctrl-C does: unwinding, so open pools and clusters are shut down.
STOP_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))
_STOPPING: list[int] = []  # the stop signals received so far
_CONSOLE = False  # running as the console script (the process ends with the command)


class Stopped(KeyboardInterrupt):
    """A stop signal other than Ctrl-C, raised in the main thread as Ctrl-C raises KeyboardInterrupt.

    A subclass of KeyboardInterrupt, so every ``except Exception`` lets it through and every
    context manager on the way out (worker pools, clusters, the run directory's lock) closes.
    """

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_signal(signum: int, frame) -> None:
    _STOPPING.append(signum)
    if len(_STOPPING) > 1:
        # A second signal while shutting down: end now. Workers end with this process (bench.core.children).
        os._exit(128 + signum)
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Stopped(signum)


@contextmanager
def stop_signals_raise():
    """Within: SIGTERM, SIGHUP (and SIGINT, unless ignored) unwind the command; restored on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _STOPPING.clear()
    wanted = list(STOP_SIGNALS)
    # A job started in the background of a shell ignores SIGINT: leave it so.
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        wanted.append(signal.SIGINT)
    previous = {s: signal.signal(s, _on_signal) for s in wanted}
    try:
        yield
    finally:
        for s, handler in previous.items():
            # The console script's work is done: a stop signal now ends it quietly, with the same exit code.
            signal.signal(s, _exit_quietly if _CONSOLE else handler)


def _exit_quietly(signum: int, frame) -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError, RuntimeError):  # closed, or interrupted mid-write
            pass
    os._exit(128 + signum)


def _stopped(ctx: click.Context, signum: int) -> click.exceptions.Exit:
    name = signal.Signals(signum).name
    how = "Ctrl-C (SIGINT)" if signum == signal.SIGINT else name
    command = ctx.invoked_subcommand or "bench"
    then = "; run the same command again to resume: finished work is kept" if command in RESUMABLE else ""
    click.echo(f"Aborted: bench {command} stopped by {how}{then}.", err=True)
    return click.exceptions.Exit(128 + signum)


# ---------------------------------------------------------------- unexpected errors

# Set to show an unexpected error's traceback instead of writing it to a file.
DEBUG_ENV = "BENCH_DEBUG"
# The words that mark an unexpected error (a bug), not a bad input.
BUG = "unexpected error (a bug in inpaint-bench)"


def _report_bug(ctx: click.Context, err: Exception) -> str:
    """Write ``err``'s traceback to a crash file and return the one line that names it."""
    command = " ".join(["bench", *sys.argv[1:]]) if sys.argv else "bench"
    text = "".join(traceback.format_exception(err))
    where = _crash_file(f"{command}\n\n{text}")
    kept = f"traceback in {where}" if where else "no traceback could be written"
    return (
        f"{BUG}: {type(err).__name__}: {err}; {kept}; please report it with that file "
        f"(or rerun with {DEBUG_ENV}=1 to show the traceback)"
    )


def _crash_file(text: str) -> str | None:
    """Write ``text`` to a new crash file in the user's cache (or the temporary folder); its path or None."""
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for folder in (os.path.join(cache, "inpaint-bench"), tempfile.gettempdir()):
        try:
            os.makedirs(folder, exist_ok=True)
            fd, path = tempfile.mkstemp(prefix=f"crash-{stamp}-", suffix=".txt", dir=folder)
            with os.fdopen(fd, "w", encoding="utf-8", errors="backslashreplace") as fh:
                fh.write(text)
            return path
        except OSError:
            continue
    return None


@click.group(cls=LazyGroup)
@click.version_option(package_name="inpaint-bench")
def cli() -> None:
    """inpaint-bench: compare inpainting methods on identical images, masks and metrics."""
    _escape_undecodable_output()


def _escape_undecodable_output() -> None:
    # A path that is not UTF-8 (an --out, a file in a data folder) arrives as lone surrogates,
    # which a strict stdout refuses to print: print its bytes as \xNN, as printable() writes them.
    for stream in (sys.stdout, sys.stderr):
        if getattr(stream, "errors", None) in ("strict", "backslashreplace") and hasattr(stream, "reconfigure"):
            stream.reconfigure(errors=ESCAPE)


def _escape(err: UnicodeError) -> tuple[str, int]:
    if not isinstance(err, UnicodeEncodeError):
        raise err
    bad = err.object[err.start : err.end]
    # os.fsdecode maps an undecodable byte b to the surrogate U+DC00 + b.
    text = "".join(f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF else f"\\u{ord(c):04x}" for c in bad)
    return text, err.end


ESCAPE = "inpaint-bench-escape"
codecs.register_error(ESCAPE, _escape)


def main() -> None:
    """Console-script entry point."""
    global _CONSOLE
    _CONSOLE = True
    cli()


if __name__ == "__main__":
    main()
