"""The ``bench`` command line. Subcommands load lazily so ``bench --help`` stays fast."""

from __future__ import annotations

import codecs
import importlib
import os
import sys

import click

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
        # A full disk, a vanished or unreadable file: one line naming the file, whatever the
        # subcommand was doing, instead of a traceback.
        try:
            return super().invoke(ctx)
        except OSError as err:
            where = f"{err.filename}: " if err.filename else ""
            raise click.ClickException(f"{where}{err.strerror or err}") from None


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
    cli()


if __name__ == "__main__":
    main()
