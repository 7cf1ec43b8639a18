"""One process per state file: an OS lock (``flock``) on ``<state>.lock``, held for the whole command.

The kernel releases the lock when its process dies, however it dies (SIGKILL included), so a stale lock never
blocks the next run; a ``.lock`` file left by a killed process means nothing unless locked. A run that ends
removes its lock file (and the state folder it had to create for it, when still empty), so a refused run
leaves nothing behind. The file holds who took the lock (PID, host, command, since when) so that a refused
run can name the holder.

Everything a run keeps beside its ledger (export staging, sweep state) and in it (sync state, verify
checkpoints) is covered by the one lock on the ledger's path. Within one process the lock is re-entrant
(migrate then verify, in one command, open the same ledger twice).
"""

from __future__ import annotations

import fcntl
import os
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import orjson

from .errors import UserError
from .localdb import inspect_state

# resolved lock path -> (file descriptor, how many holders in this process, folders created for it)
_held: dict[Path, tuple[int, int, list[Path]]] = {}
_guard = threading.Lock()


def lock_path(state: Path) -> Path:
    return state.with_name(state.name + ".lock")


def check_writable(path: Path, what: str) -> None:
    """Refuse a file path this run could not create or write, before anything is written anywhere.

    Tried for real (permission bits say nothing to root, nor about read-only mounts): an existing file is
    opened for appending, and a missing one's nearest existing folder gets a temporary file, removed at once.
    """
    if path.is_dir():
        raise UserError(f"{what} {path} is a directory: give a file path.")
    missing = _missing_folders(path.parent)
    folder = missing[-1].parent if missing else path.parent
    if not folder.is_dir():
        raise UserError(f"{what} {path} cannot be created: {folder} is not a directory.")
    try:
        if path.exists():
            with open(path, "ab"):
                pass
        else:
            tempfile.TemporaryFile(dir=folder).close()
    except OSError as error:
        raise UserError(
            f"{what} {path} cannot be written ({error.strerror}): choose another path or fix its permissions."
        ) from None


@contextmanager
def hold(state: Path, command: str) -> Iterator[None]:
    """Hold the state file at ``state`` for this process, or refuse at once naming the current holder.
    A state file that is not ours, or damaged, is refused before anything is written."""
    check_writable(state, "The state file")
    inspect_state(state)
    path = lock_path(state).resolve()
    with _guard:
        entry = _held.get(path)
        if entry is not None:
            _held[path] = (entry[0], entry[1] + 1, entry[2])
        else:
            created = _missing_folders(path.parent)
            _held[path] = (_acquire(path, state, command), 1, created)
    try:
        yield
    finally:
        with _guard:
            descriptor, count, created = _held[path]
            if count > 1:
                _held[path] = (descriptor, count - 1, created)
            else:
                del _held[path]
                _release(path, descriptor, created)


def _missing_folders(folder: Path) -> list[Path]:
    """The folders from ``folder`` up that do not exist yet, deepest first."""
    missing = []
    while not folder.exists() and folder != folder.parent:
        missing.append(folder)
        folder = folder.parent
    return missing


def _acquire(path: Path, state: Path, command: str) -> int:
    while True:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as error:
            raise UserError(
                f"Cannot create the lock file {path} ({error.strerror}): choose another --state."
            ) from None
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _describe_holder(descriptor)
            os.close(descriptor)
            raise UserError(
                f"The state file {state} is in use by another run ({holder}). Wait for it to finish or stop "
                "it, or give this run another --state."
            ) from None
        if _still_linked(path, descriptor):
            break
        # The previous holder removed the file between our open and our lock: lock the new one instead.
        os.close(descriptor)
    holder_info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": _command_line(command),
        "since": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    os.ftruncate(descriptor, 0)
    os.pwrite(descriptor, orjson.dumps(holder_info), 0)
    return descriptor


def _still_linked(path: Path, descriptor: int) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(descriptor).st_ino
    except FileNotFoundError:
        return False


def _release(path: Path, descriptor: int, created: list[Path]) -> None:
    """Unlink while still locked, so that nobody can lock the old file after we let go."""
    with suppress(OSError):
        path.unlink()
    os.close(descriptor)
    for folder in created:
        try:
            folder.rmdir()  # only when empty: the run wrote nothing else there
        except OSError:
            break


def _command_line(command: str) -> str:
    """The subcommand and its options' names only: values may be paths or filters, never keys, but keep
    it short."""
    words = [word for word in sys.argv[1:] if word.startswith("-")]
    return " ".join([f"pinecone-migrator {command}", *words])[:300]


def _describe_holder(descriptor: int) -> str:
    try:
        info = orjson.loads(os.pread(descriptor, 4096, 0) or b"{}")
    except (OSError, orjson.JSONDecodeError):
        info = {}
    if not isinstance(info, dict) or not info:
        return "holder unknown"
    return (
        f"PID {info.get('pid', '?')} on {info.get('host', '?')}, `{info.get('command', '?')}`, "
        f"since {info.get('since', '?')}"
    )
