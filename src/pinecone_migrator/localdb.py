"""The tool's own small SQLite files (ledger, staging, sync state, sweep state): checked to be ours before
anything is written to them, opened one way, written in explicit transactions."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

from .errors import UserError

SQLITE_HEADER = b"SQLite format 3\x00"
# Every table any of the tool's files holds (ledger + verify checkpoints + sync state, staging, sweeps).
OUR_TABLES = frozenset(
    {
        "meta", "units", "dead_letters", "verify_meta", "verify_scans", "sync_meta", "sync_known",
        "sync_passes", "batches", "written", "files", "stale", "found", "sweeps",
    }
)  # fmt: skip


def inspect_state(path: Path) -> set[str]:
    """The tables of an existing state file (empty for a missing or empty file), read-only; refuses a file
    that is not SQLite, is damaged, or holds tables this tool never writes (someone else's database)."""
    if not path.exists() or path.is_dir():
        return set()
    if not path.is_file():
        raise UserError(f"{path} is not a regular file, so it cannot be a state file: pass another --state.")
    if path.stat().st_size == 0:
        return set()
    with open(path, "rb") as handle:
        header = handle.read(len(SQLITE_HEADER))
    if header != SQLITE_HEADER:
        raise UserError(
            f"{path} is not a pinecone-migrator state file (not an SQLite database): pass another --state."
        )
    try:
        db = open_read_only(path)
        try:
            tables = {
                str(row[0]) for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
            }
        finally:
            db.close()
    except sqlite3.DatabaseError as error:
        raise UserError(
            f"The state file {path} is damaged ({error}): pass another --state (or remove it to start over)."
        ) from None
    foreign = sorted(tables - OUR_TABLES)
    if foreign:
        raise UserError(
            f"{path} is an SQLite database that pinecone-migrator did not write (tables "
            f"{', '.join(foreign)}); it is left untouched: pass another --state."
        )
    return tables


def open_read_only(path: Path) -> sqlite3.Connection:
    """For commands that only read (status): nothing is created, no journal or WAL file is written."""
    return sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)


def open_db(path: Path, *, page_size: int | None = None) -> sqlite3.Connection:
    """A connection shared by threads (callers hold their own lock), in WAL mode: a commit survives the
    process being killed; ``page_size`` only applies to a new file."""
    inspect_state(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=30)
    if page_size is not None:
        db.execute(f"PRAGMA page_size={int(page_size)}")
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """All or nothing: rolled back on any exception (also KeyboardInterrupt)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")
