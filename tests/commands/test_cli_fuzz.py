"""Every option of every command, fed values derived from its declared type: never a traceback.

The click command tree (:data:`bench.cli.COMMANDS`) is walked; each command has a cheap base
invocation (builtin images, ``--n 2``, ``--size 64``, cheap methods and metrics) and each of its
parameters is varied alone, with values its type suggests: negative, zero and huge numbers, not a
number, empty and non-ASCII text, duplicates in a list, an unknown choice, a missing path, a folder,
a file of the wrong kind, an empty file and a symbolic-link loop. Every combination is one test id.

Each combination must end with exit code 0, 1 or 2, print no traceback, and write nothing outside
its output folder: the working directory, ``HOME`` and a folder of the user's files (the inputs)
are compared before and after. Commands run in this process through click's ``CliRunner``, which
calls ``cli.main`` in standalone mode as the console script does, so the same error handling runs.
"""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from bench.cli import BUG, cli

# Seconds one combination may take before it counts as a hang (a value the command accepted and
# then worked on without end). The cheap bases finish in well under a second once warm.
HANG = 60


@dataclass(frozen=True)
class Area:
    """The folders a combination runs in."""

    root: Path  # the module's folder
    user: Path  # the user's files: read by commands, never written
    fixtures: Path  # prepared run, training and baseline folders (read-only for commands)

    def out(self, case: str) -> Path:
        """The output folder of one combination (its writes go here)."""
        return self.root / "out" / case


# ---------------------------------------------------------------- the cheap base of each command

# ``{out}`` stands for the combination's output folder, ``{run}`` for a finished cheap run,
# ``{train}`` for a finished tiny training run, ``{baseline}`` for a baseline of ``{run}``.
SMALL = ["--n", "2", "--size", "64", "--no-progress"]
BASES: dict[tuple[str, ...], list[str]] = {
    ("run",): ["--methods", "mean,telea", "--metrics", "mse,psnr", *SMALL, "--out", "{out}/run"],
    ("ablate", "channels"): ["--layers", "1", "--channels", "0", "--n-boot", "10", *SMALL, "--out", "{out}/a"],
    ("ablate", "identity"): ["--layers", "1", "--n-boot", "10", *SMALL, "--out", "{out}/a"],
    ("ablate", "discriminator"): ["--methods", "mean", "--seeds", "0", "--metrics", "mse", *SMALL, "--out", "{out}/a"],
    ("check",): ["{run}", "--baseline", "{baseline}", "--metrics", "mse"],
    ("curve",): ["{train}", "--dataset", "builtin", "--n", "2", "--no-progress", "--plot", "{out}/curve.png"],
    ("export",): [*SMALL, "--out", "{out}/export"],
    ("list",): ["methods"],
    ("masks", "figure"): ["--out", "{out}/masks", "--n", "2", "--size", "16", "--examples", "1", "--families", "rects"],
    ("publish",): ["{train}", "--dest", "{out}/weights", "--notes", "{user}/notes.md"],
    ("report",): ["{run}", "--out", "{out}/report", "--no-latex", "--no-compile", "--no-grid"],
    ("stats",): ["{run}", "--out", "{out}/stats"],
    ("time",): ["--methods", "mean", "--sizes", "64", "--n", "1", "--json", "{out}/time.json"],
    ("train",): ["--config", "{tiny}", "--out", "{out}/train", "--no-progress"],
}
# Parameters whose variation says nothing new (output detail) or starts another device.
LEFT_ALONE = {("train", "device"), ("train", "pack_dir")}
# Values that are valid and only slow: --n beyond the split's size means the whole split.
SLOW_BUT_VALID = {("channels", "n", "huge"), ("identity", "n", "huge"), ("discriminator", "n", "huge")}


def _commands(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name), command


# ---------------------------------------------------------------- values from a parameter's type

HUGE = str(2**64)


def _path_values(param: click.Parameter) -> dict[str, str]:
    kind: click.Path = param.type  # type: ignore[assignment]
    # An input (it must exist) is offered the user's files; an output a path inside its own folder.
    home = "{user}" if kind.exists else "{out}"
    return {
        "missing": f"{home}/no/such/path",
        "folder": "{user}/folder" if kind.exists else "{out}/empty-folder",
        "text-file": "{user}/notes.md" if kind.exists else "{out}/notes.md",
        "empty-file": "{user}/empty.bin" if kind.exists else "{out}/empty.bin",
        "link-loop": "{user}/loop",
        "non-ascii": f"{home}/é-ü-∂",
    }


def values_for(param: click.Parameter) -> dict[str, list[str]]:
    """``{label: command-line words}`` to try for ``param`` (one option or argument)."""
    t = param.type
    if isinstance(param, click.Option) and param.is_flag:
        flags = param.secondary_opts if param.default is True and param.secondary_opts else param.opts
        return {"flag": [flags[0]]}
    if isinstance(t, click.Path):
        values = _path_values(param)
    elif isinstance(t, click.Choice):
        values = {"unknown": "no-such-choice", "empty": ""}
    elif isinstance(t, (click.types.IntParamType, click.types.IntRange)):
        values = {"negative": "-1", "zero": "0", "huge": HUGE, "not-a-number": "x"}
    elif isinstance(t, (click.types.FloatParamType, click.types.FloatRange)):
        values = {"negative": "-1", "zero": "0", "nan": "nan", "inf": "inf", "not-a-number": "x"}
    elif isinstance(t, click.Tuple):
        values = {"empty": " ".join([""] * len(t.types)), "non-ascii": " ".join(["é"] * len(t.types))}
        return {k: [*param.opts[:1], *v.split(" ")] for k, v in values.items()}
    else:  # text: names, lists, specs
        values = {"empty": "", "blank": " ", "non-ascii": "é∂ü", "comma": ",", "duplicate": "0,0", "negative": "-1"}
    if isinstance(param, click.Argument):
        return {k: [v] for k, v in values.items()}
    return {k: [param.opts[0], v] for k, v in values.items()}


def _with(base: list[str], param: click.Parameter, words: list[str]) -> list[str]:
    """``base`` with ``param`` replaced by ``words`` (or ``words`` added)."""
    if isinstance(param, click.Argument):
        # Every base names its one argument first.
        return [*words, *base[1:]]
    args = list(base)
    for opt in (*param.opts, *param.secondary_opts):
        while opt in args:
            i = args.index(opt)
            takes_value = not (isinstance(param, click.Option) and param.is_flag)
            del args[i : i + (2 if takes_value else 1)]
    return [*args, *words]


def _combinations() -> list:
    params = []
    for path, command in _commands(cli):
        assert path in BASES, f"bench {' '.join(path)} has no cheap base in this test: add one to BASES"
        params.append(pytest.param(path, None, [], id=f"{'-'.join(path)}:base"))
        for param in command.params:
            if (path[-1], param.name) in LEFT_ALONE or param.name in ("help", "version"):
                continue
            for label, words in values_for(param).items():
                if (path[-1], param.name, label) in SLOW_BUT_VALID:
                    continue
                params.append(pytest.param(path, param.name, words, id=f"{'-'.join(path)}:{param.name}={label}"))
    return params


COMBINATIONS = _combinations()


# ---------------------------------------------------------------- the folders


def _snapshot(*roots: Path) -> dict[str, str]:
    state = {}
    for root in roots:
        for dirpath, dirnames, filenames in os.walk(root):
            for name in dirnames + filenames:
                p = Path(dirpath) / name
                if p.is_symlink():
                    state[str(p)] = "link:" + os.readlink(p)
                elif p.is_file():
                    state[str(p)] = hashlib.sha256(p.read_bytes()).hexdigest()
                else:
                    state[str(p)] = "dir"
    return state


@pytest.fixture(scope="module")
def area(tmp_path_factory) -> Iterator[Area]:
    root = tmp_path_factory.mktemp("fuzz")
    user, fixtures = root / "user", root / "fixtures"
    (user / "folder").mkdir(parents=True)
    (user / "folder" / "keep.txt").write_text("a file of the user's\n")
    (user / "notes.md").write_text("# notes of the user's\n\nnot a checkpoint, an image, a run or a config\n")
    (user / "empty.bin").write_bytes(b"")
    (user / "loop").symlink_to(user / "loop")
    (root / "home").mkdir()
    (root / "cwd").mkdir()
    (root / "cache").mkdir()
    runner = CliRunner()
    fixtures.mkdir()
    done = runner.invoke(
        cli, ["run", "--methods", "mean,telea", "--metrics", "mse,psnr", *SMALL, "--out", str(fixtures / "run")]
    )
    assert done.exit_code == 0, done.output
    done = runner.invoke(
        cli, ["check", str(fixtures / "run"), "--baseline", str(fixtures / "baseline.json"), "--update"]
    )
    assert done.exit_code == 0, done.output
    tiny = Path(__file__).resolve().parents[1] / "glcic_tiny.toml"
    done = runner.invoke(
        cli,
        [
            "train",
            "--config",
            str(tiny),
            "--out",
            str(fixtures / "train"),
            "--set",
            "snapshot_every=2",
            "--no-progress",
        ],
    )
    assert done.exit_code == 0, done.output
    yield Area(root, user, fixtures)


def _fill(words: list[str], area: Area, out: Path) -> list[str]:
    tiny = Path(__file__).resolve().parents[1] / "glcic_tiny.toml"
    where = {
        "{out}": str(out),
        "{user}": str(area.user),
        "{run}": str(area.fixtures / "run"),
        "{train}": str(area.fixtures / "train"),
        "{baseline}": str(area.fixtures / "baseline.json"),
        "{tiny}": str(tiny),
    }
    filled = []
    for word in words:
        for key, value in where.items():
            word = word.replace(key, value)
        filled.append(word)
    return filled


class _Hang(BaseException):
    """Raised in the command by the alarm: it ran past :data:`HANG`."""


@pytest.mark.parametrize(("path", "name", "words"), COMBINATIONS)
def test_a_command_given_a_value_of_its_options_type_ends_cleanly(area, path, name, words, monkeypatch, request):
    command = dict(_commands(cli))[path]
    base = BASES[path]
    if name is not None:
        param = next(p for p in command.params if p.name == name)
        base = _with(base, param, words)
    out = area.out(request.node.callspec.id.replace("/", "_"))
    out.mkdir(parents=True)
    (out / "empty-folder").mkdir()
    (out / "notes.md").write_text("not a checkpoint\n")
    (out / "empty.bin").write_bytes(b"")
    args = [*path, *_fill(base, area, out)]
    watched = (area.user, area.fixtures, area.root / "home", area.root / "cwd")
    before = _snapshot(*watched)
    monkeypatch.chdir(area.root / "cwd")
    env = {"HOME": str(area.root / "home"), "XDG_CACHE_HOME": str(area.root / "cache"), "BENCH_DEBUG": None}

    def hang(*_):
        raise _Hang

    previous = signal.signal(signal.SIGALRM, hang)
    signal.alarm(HANG)
    try:
        result = CliRunner(env=env).invoke(cli, args)
    except _Hang:
        pytest.fail(f"bench {' '.join(args)} still ran after {HANG} s")
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    said = result.output
    shown = f"bench {' '.join(args)}\nexit {result.exit_code}\n{said[-2000:]}"
    # An exception other than click's exit escaped main(): the console script prints a traceback.
    assert result.exception is None or isinstance(result.exception, SystemExit), f"{shown}\n{result.exception!r}"
    assert "Traceback" not in said, shown
    # A value a user can type is a bad input, to be named; never an unexpected error.
    assert BUG not in said, shown
    assert result.exit_code in (0, 1, 2), shown
    assert _snapshot(*watched) == before, f"{shown}\nwrote outside its output folder"
