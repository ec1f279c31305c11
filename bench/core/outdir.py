"""Directories this tool writes: claimed by kind, held by one writer, never written through an outside link.

Every command that writes a directory claims it first (:func:`claim_dir`), before it writes
anything there. A directory is accepted when it is new, empty, or marked as one of this tool's
directories of the same kind (or recognised as one written before the mark existed); a
folder of the user's files, or this tool's directory of another kind, is refused with a
one-line message. The claim holds the directory's writer lock until it is released, refuses a
directory holding a symbolic link that leads outside it, and removes only temporaries this
tool named (:data:`bench.core.files.TEMP_SUFFIX`) that a killed writer left behind.

::

    DIR/
      .inpaint-bench   {"tool": "inpaint-bench", "kind": KIND}: which command's directory this is
      .lock            flock held by the one process writing the directory; holds its pid and command
"""

from __future__ import annotations

import errno
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path

from bench.core.files import atomic_write_text, is_temporary

MARKER = ".inpaint-bench"
LOCK = ".lock"

# The command that writes each kind of directory (named in messages).
KINDS = {
    "run": "bench run",
    "sweep": "bench ablate channels/identity",
    "discriminator": "bench ablate discriminator",
    "train": "bench train",
    "export": "bench export",
    "report": "bench report",
    "stats": "bench stats",
    "masks": "bench masks figure",
    "budget": "bench train --budget",
}

# Files that may sit in a directory that counts as empty (a lock left by a writer killed at once).
_EMPTY_ANYWAY = {LOCK, MARKER}


class OutDirError(ValueError):
    """A directory cannot be claimed: not this tool's of this kind, a link leaves it, or it is not writable."""


class OutDirBusyError(OutDirError):
    """Another process holds the directory's writer lock."""


def kind_of(path: str | Path) -> str | None:
    """The kind recorded in ``path``'s marker; None when it has none (or an unreadable one)."""
    try:
        data = json.loads((Path(path) / MARKER).read_text())
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return str(data.get("kind")) if isinstance(data, dict) and data.get("tool") == "inpaint-bench" else None


def enclosing_tool_dir(path: str | Path) -> tuple[Path, str] | None:
    """The nearest of ``path`` and its parents that is one of this tool's marked directories, and its kind.

    For an output file a command is told to write: inside another command's directory it would
    become part of what that directory's readers find.
    """
    for candidate in (Path(os.path.abspath(path)), *Path(os.path.abspath(path)).parents):
        kind = kind_of(candidate)
        if kind is not None:
            return candidate, kind
    return None


def links_leaving(root: str | Path) -> list[tuple[Path, str]]:
    """Symbolic links under ``root`` whose target lies outside it, with their targets.

    Directories holding a marker of their own (another claim's, such as a run's ``report/``)
    are not entered: their writer checks them.
    """
    root = Path(root)
    real = os.path.realpath(root)
    found = []
    for folder, dirs, files in os.walk(root, followlinks=False):
        if folder != str(root) and os.path.isfile(os.path.join(folder, MARKER)):
            dirs[:] = []
            continue
        for name in [*dirs, *files]:
            path = os.path.join(folder, name)
            if os.path.islink(path):
                target = os.path.realpath(path)
                if os.path.commonpath([real, target]) != real:
                    found.append((Path(path), target))
    return found


def writer_pid(path: str | Path, lock_name: str = LOCK) -> str | None:
    """The pid holding ``path``'s writer lock, ``"?"`` when it is held by an unknown pid; None when free.

    Only probes: the lock is not kept, and a directory without a lock file is free.
    """
    import fcntl

    lock = Path(path) / lock_name
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(lock)
        return holder[0] if holder else "?"
    finally:
        os.close(fd)  # releases the probe's shared lock with it
    return None


class DirClaim:
    """One holder's claim on a directory: release it (or leave its ``with`` block) to free the lock.

    Claims of one directory by one process share the lock (a driver and the pieces it calls);
    the lock is released when the last of them is.
    """

    def __init__(self, path: Path, key: tuple[str, str]):
        self.path = path
        self._key = key
        self._released = False

    def release(self) -> None:
        """Give the claim up (a second call does nothing)."""
        if self._released:
            return
        self._released = True
        with _HELD_GUARD:
            fd, count = _HELD[self._key]
            if count > 1:
                _HELD[self._key] = (fd, count - 1)
                return
            del _HELD[self._key]
        os.close(fd)  # closing releases the lock; the file stays, so no one can lock a vanished inode

    def __enter__(self) -> DirClaim:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


# Locks this process holds: (real path, lock file name) -> (descriptor, number of claims).
_HELD: dict[tuple[str, str], tuple[int, int]] = {}
_HELD_GUARD = threading.Lock()


def claim_dir(
    path: str | Path,
    kind: str,
    *,
    legacy: Callable[[Path], bool] | None = None,
    option: str = "--out",
    lock_name: str = LOCK,
    command: str | None = None,
) -> DirClaim:
    """Check ``path`` is this tool's directory of ``kind`` (or new or empty), then lock and mark it.

    Parameters
    ----------
    path : path
        The directory (created).
    kind : str
        One of :data:`KINDS`.
    legacy : callable, optional
        ``legacy(path)``: whether an unmarked directory is one of this kind written before the
        marker existed (it is then accepted and marked).
    option : str
        How the user named the directory (in messages).
    lock_name : str
        Lock file inside the directory: a second kind of writer that may work beside the first
        (a learning curve beside its training) takes a lock of its own.
    command : str, optional
        Who holds the lock, for the message a second writer gets (default: ``KINDS[kind]``).

    Returns
    -------
    DirClaim
        Holds the lock until released.

    Raises
    ------
    OutDirBusyError
        Another process holds the lock (the message names the directory and the pid).
    OutDirError
        The directory is a file, holds other files, is another kind's, holds a link that
        leads outside it, or cannot be created.
    """
    path = Path(path)
    check_kind(path, kind, legacy=legacy, option=option)
    check_links(path, option=option)
    first = not _held(path, lock_name)
    claim = lock_dir(path, lock_name=lock_name, command=command or KINDS[kind], option=option)
    if first:
        if kind_of(path) is None:
            _write_marker(path, kind)
        remove_temporaries(path)
    return claim


def lock_dir(path: str | Path, *, lock_name: str = LOCK, command: str, option: str = "--out") -> DirClaim:
    """Hold a writer lock in ``path`` (created) without claiming the directory's kind.

    For a writer that adds files to another command's directory (a learning curve beside
    its training run); :func:`claim_dir` is the usual way in.

    Raises
    ------
    OutDirBusyError
        Another process holds the lock (the message names the directory and the pid).
    OutDirError
        The directory cannot be created or the lock file opened.
    """
    path = Path(path)
    fd, key = _lock(path, lock_name, command, option)
    if fd is not None:
        _record_holder(fd, command)
    return DirClaim(path, key)


def _held(path: Path, lock_name: str) -> bool:
    with _HELD_GUARD:
        return (os.path.realpath(path), lock_name) in _HELD


def check_kind(path: Path, kind: str, *, legacy: Callable[[Path], bool] | None = None, option: str = "--out") -> None:
    """Refuse ``path`` unless it is missing, empty, or this tool's directory of ``kind``.

    Raises
    ------
    OutDirError
        The message names the directory and what it holds instead.
    """
    if path.exists() and not path.is_dir():
        raise OutDirError(f"{option} {path} is a file, not a directory; choose another {option}")
    if not path.is_dir():
        return
    found = kind_of(path)
    if found == kind:
        return
    if found is not None:
        raise OutDirError(
            f"{option} {path} is a directory of {KINDS.get(found, found)} ({found}), not of {KINDS[kind]}; "
            f"choose another {option}"
        )
    try:
        # Visible names first: they are what the user recognises.
        names = sorted((p.name for p in path.iterdir() if p.name not in _EMPTY_ANYWAY), key=lambda n: (n[0] == ".", n))
    except OSError as err:
        raise OutDirError(f"cannot read {option} {path}: {err.strerror or err}") from None
    if not names or (legacy is not None and legacy(path)):
        return
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    raise OutDirError(
        f"{option} {path} exists and is not an empty folder or a directory of {KINDS[kind]} (it holds {shown}); "
        f"choose a new or empty {option}"
    )


def check_links(path: Path, *, option: str = "--out") -> None:
    """Refuse a directory holding a symbolic link that leads outside it (nothing is written through one).

    Raises
    ------
    OutDirError
        The message names the first such link and its target.
    """
    if not path.is_dir():
        return
    found = links_leaving(path)
    if found:
        link, target = found[0]
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise OutDirError(
            f"{link} is a symbolic link to {target}, outside {option} {path}{more}: bench writes nothing "
            f"through it; remove the link or choose another {option}"
        )


def remove_temporaries(path: str | Path) -> int:
    """Delete the temporaries this tool names under ``path`` (a killed writer's), not entering other claims.

    Called with the writer lock held, so no live writer owns them. Returns how many went.
    """
    path = Path(path)
    gone = 0
    for folder, dirs, files in os.walk(path, followlinks=False):
        if folder != str(path) and os.path.isfile(os.path.join(folder, MARKER)):
            dirs[:] = []
            continue
        for name in files:
            if is_temporary(name):
                try:
                    os.unlink(os.path.join(folder, name))
                    gone += 1
                except OSError:
                    pass  # read-only directory: a stray hidden file harms nothing
    return gone


def _lock(path: Path, lock_name: str, command: str, option: str) -> tuple[int | None, tuple[str, str]]:
    """Take the lock (a new descriptor), or join this process's claim; the descriptor is None when joined."""
    import fcntl

    fd = _open_lock(path, lock_name, option)
    key = (os.path.realpath(path), lock_name)
    with _HELD_GUARD:
        if key in _HELD:
            os.close(fd)
            held, count = _HELD[key]
            _HELD[key] = (held, count + 1)
            return None, key
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            holder = _holder(path / lock_name)
            by = f"another {holder[1]}" if holder and holder[1] else f"another {command}"
            pid = f" (pid {holder[0]})" if holder else ""
            raise OutDirBusyError(
                f"{path} is being written by {by}{pid}: wait for it to finish, or use another {option}"
            ) from None
        _HELD[key] = (fd, 1)
    return fd, key


def _open_lock(path: Path, lock_name: str, option: str) -> int:
    lock = path / lock_name
    try:
        path.mkdir(parents=True, exist_ok=True)
        return os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
        # A finished directory that is read-only can still be re-opened: flock works on a read-only descriptor.
        if err.errno in (errno.EACCES, errno.EPERM, errno.EROFS) and lock.is_file():
            try:
                return os.open(lock, os.O_RDONLY)
            except OSError:
                pass
        raise OutDirError(
            f"cannot write {option} {path}: {err.strerror or err} ({err.filename or path}); choose a writable {option}"
        ) from None


def _holder(lock: Path) -> tuple[str, str] | None:
    """``(pid, command)`` written in a lock file (command empty when only a pid is written)."""
    try:
        pid, _, command = lock.read_text().strip().partition(" ")
    except (OSError, UnicodeDecodeError):
        return None
    return (pid, command.strip()) if pid.isdigit() else None


def _record_holder(fd: int, command: str) -> None:
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {command}\n".encode(), 0)
    except OSError:
        pass  # read-only lock file: the pid only improves the message a second writer gets


def _write_marker(path: Path, kind: str) -> None:
    try:
        atomic_write_text(path / MARKER, json.dumps({"tool": "inpaint-bench", "kind": kind}) + "\n")
    except OSError as err:
        if err.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            raise  # a read-only finished directory stays unmarked; anything else is a real problem
