"""README.md tells the truth about the commands: CI runs its test command, its examples use real names."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text()


def _bash_blocks() -> list[str]:
    return re.findall(r"```bash\n(.*?)```", README, flags=re.S)


def test_ci_runs_the_readmes_test_command():
    test_command = next(
        line for block in _bash_blocks() for line in block.splitlines() if line.rstrip().endswith("python -m pytest")
    )
    assert test_command.strip() in (REPO / ".ci" / "run").read_text()


def test_every_bench_subcommand_of_the_readme_exists():
    from bench.cli import COMMANDS

    used = {m.group(1) for m in re.finditer(r"^bench (\w+)", README, flags=re.M)}
    used |= {m.group(1) for block in _bash_blocks() for m in re.finditer(r"\bbench (\w+)", block)}
    assert used and used <= set(COMMANDS), used - set(COMMANDS)


def test_every_relative_link_exists():
    links = re.findall(r"\]\(([^)#:]+)\)", README)
    assert links
    missing = [link for link in links if not (REPO / link).exists()]
    assert not missing


def test_the_reliability_line_counts_the_hostile_input_table():
    from tests.commands.test_hostile_inputs import CASES

    claimed = re.search(r"(\d+) hostile inputs", README)
    assert claimed and int(claimed.group(1)) == len(CASES)
