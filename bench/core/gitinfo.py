"""The git commit of a checkout: the one reader for run configs, checkpoints, benchmarks and workers."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def git_commit(root: str | Path = REPO, *, short: bool = False, dirty: bool = True) -> str | None:
    """The commit checked out at ``root``, or None outside a git checkout (an installed wheel).

    Parameters
    ----------
    root : path
        A folder of the checkout (default: this suite's).
    short : bool
        Abbreviated hash, as ``git describe --always`` prints it.
    dirty : bool
        Append ``-dirty`` (short) or ``+dirty`` when tracked files have uncommitted changes.
    """
    try:
        args = ["git", "-C", str(root), "rev-parse"] + (["--short"] if short else []) + ["HEAD"]
        head = subprocess.run(args, capture_output=True, text=True, timeout=10, check=False).stdout.strip()
        changed = (
            dirty
            and bool(head)
            and bool(
                subprocess.run(
                    ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
                    capture_output=True,
                    text=True,
                    timeout=10,
                    check=False,
                ).stdout.strip()
            )
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if not head:
        return None
    return head + (("-dirty" if short else "+dirty") if changed else "")
