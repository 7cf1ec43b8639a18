"""What a sync remembers between passes, in its ledger file (own tables, own connection).

``sync_known``: every source record the target holds a copy of — its source namespace, ID, the target
namespace it went to, the digest of what was copied, and the last pass whose listing saw it (so a record
no longer listed is found by one query, and a pass interrupted half-way leaves nothing inconsistent: an
unfinished pass never deletes). ``sync_passes``: one row per pass, what it found and did. ``sync_meta``:
the fingerprint of the selection the state belongs to, and per-namespace watermarks of ``--updated-field``.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import orjson

from ...errors import UserError
from ...localdb import inspect_state, open_db, open_read_only, transaction

SCHEMA = """
CREATE TABLE IF NOT EXISTS sync_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS sync_known (
    source_ns TEXT NOT NULL, id TEXT NOT NULL, target_ns TEXT NOT NULL, digest BLOB NOT NULL,
    seen INTEGER NOT NULL, PRIMARY KEY (source_ns, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sync_known_seen ON sync_known (source_ns, seen);
CREATE TABLE IF NOT EXISTS sync_passes (
    number INTEGER PRIMARY KEY, started REAL NOT NULL, finished REAL, state TEXT NOT NULL,
    new INTEGER NOT NULL DEFAULT 0, updated INTEGER NOT NULL DEFAULT 0, deleted INTEGER NOT NULL DEFAULT 0,
    dead INTEGER NOT NULL DEFAULT 0, listed INTEGER NOT NULL DEFAULT 0, lag_seconds REAL, note TEXT
);
"""


@dataclass(frozen=True)
class Known:
    target_ns: str
    digest: bytes


@dataclass
class PassRecord:
    number: int
    started: float
    finished: float | None
    state: str  # running, done, stopped, guarded, failed
    new: int
    updated: int
    deleted: int
    dead: int
    listed: int
    lag_seconds: float | None
    note: str | None

    @property
    def seconds(self) -> float | None:
        return None if self.finished is None else self.finished - self.started

    def to_json(self) -> dict[str, object]:
        return {**vars(self), "seconds": None if self.seconds is None else round(self.seconds, 3)}


class SyncState:
    def __init__(self, path: Path, fingerprint: dict[str, object], *, restart: bool = False) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._db = open_db(path)
        self._db.executescript(SCHEMA)
        wanted = orjson.dumps(fingerprint, option=orjson.OPT_SORT_KEYS).decode()
        saved = self._meta("fingerprint")
        if saved is not None and saved != wanted and not restart:
            raise UserError(
                f"The state file {path} belongs to another sync ({saved}). Pass --state for a new file, or "
                "reset it (pinecone-migrator reset) or --restart to forget its state."
            )
        if restart or saved != wanted:
            self.forget()
            self._set_meta("fingerprint", wanted)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> SyncState:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _transaction(self) -> AbstractContextManager[None]:
        return transaction(self._db)

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM sync_meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self._db.execute("INSERT OR REPLACE INTO sync_meta VALUES (?, ?)", (key, value))

    def forget(self) -> None:
        """Forget every known record and watermark (the next pass re-checks everything); keep pass history."""
        with self._lock, self._transaction():
            _forget(self._db)

    # -- known records ------------------------------------------------------------------------------------

    def known(self, source_ns: str, ids: Sequence[str]) -> dict[str, Known]:
        found: dict[str, Known] = {}
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                rows = self._db.execute(
                    f"SELECT id, target_ns, digest FROM sync_known WHERE source_ns = ? AND id IN ({marks})",
                    (source_ns, *chunk),
                ).fetchall()
                found.update({str(i): Known(str(t), bytes(d)) for i, t, d in rows})
        return found

    def mark_seen(self, source_ns: str, ids: Iterable[str], pass_number: int) -> None:
        with self._lock, self._transaction():
            self._db.executemany(
                "UPDATE sync_known SET seen = ? WHERE source_ns = ? AND id = ?",
                [(pass_number, source_ns, i) for i in ids],
            )

    def remember(self, source_ns: str, copies: Iterable[tuple[str, str, bytes]], pass_number: int) -> None:
        """Record copies acknowledged by the target: (ID, target namespace, digest)."""
        with self._lock, self._transaction():
            self._db.executemany(
                "INSERT OR REPLACE INTO sync_known VALUES (?, ?, ?, ?, ?)",
                [(source_ns, i, t, d, pass_number) for i, t, d in copies],
            )

    def unseen(self, source_ns: str, pass_number: int) -> list[tuple[str, str]]:
        """(ID, target namespace) of known records of a namespace the pass's listing did not see."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id, target_ns FROM sync_known WHERE source_ns = ? AND seen < ?",
                (source_ns, pass_number),
            ).fetchall()
        return [(str(i), str(t)) for i, t in rows]

    def known_namespaces(self) -> list[str]:
        with self._lock:
            return [str(r[0]) for r in self._db.execute("SELECT DISTINCT source_ns FROM sync_known")]

    def count(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM sync_known").fetchone()[0])

    def drop(self, source_ns: str, ids: Iterable[str]) -> None:
        with self._lock, self._transaction():
            self._db.executemany(
                "DELETE FROM sync_known WHERE source_ns = ? AND id = ?", [(source_ns, i) for i in ids]
            )

    # -- watermarks of --updated-field ---------------------------------------------------------------------

    def watermark(self, source_ns: str) -> float | None:
        with self._lock:
            value = self._meta(f"watermark:{source_ns}")
        return None if value is None else float(value)

    def set_watermark(self, source_ns: str, value: float) -> None:
        with self._lock:
            self._set_meta(f"watermark:{source_ns}", repr(value))

    # -- passes --------------------------------------------------------------------------------------------

    def begin_pass(self) -> int:
        with self._lock, self._transaction():
            self._db.execute("UPDATE sync_passes SET state = 'stopped' WHERE state = 'running'")
            cursor = self._db.execute(
                "INSERT INTO sync_passes (started, state) VALUES (?, 'running')", (time.time(),)
            )
        return int(cursor.lastrowid or 0)

    def end_pass(self, record: PassRecord) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE sync_passes SET finished = ?, state = ?, new = ?, updated = ?, deleted = ?, "
                "dead = ?, listed = ?, lag_seconds = ?, note = ? WHERE number = ?",
                (record.finished, record.state, record.new, record.updated, record.deleted, record.dead,
                 record.listed, record.lag_seconds, record.note, record.number),
            )  # fmt: skip


def _forget(db: sqlite3.Connection) -> None:
    db.execute("DELETE FROM sync_known")
    db.execute("DELETE FROM sync_meta WHERE key LIKE 'watermark:%'")


def forget_state(path: Path) -> int:
    """Forget what a sync's state knows (``reset`` in ledger mode); returns how many records it knew."""
    if not path.exists():
        raise UserError(f"There is no state file {path}: nothing to reset (pass --state?).")
    db = open_db(path)
    try:
        db.executescript(SCHEMA)
        with transaction(db):
            (known,) = db.execute("SELECT count(*) FROM sync_known").fetchone()
            _forget(db)
    finally:
        db.close()
    return int(known)


def last_passes(path: Path, limit: int = 3) -> list[PassRecord]:
    """The latest passes recorded in a ledger file (for `status`); empty when it holds no sync."""
    if "sync_passes" not in inspect_state(path):
        return []
    db = open_read_only(path)
    try:
        rows = db.execute(
            "SELECT number, started, finished, state, new, updated, deleted, dead, listed, lag_seconds, note "
            "FROM sync_passes ORDER BY number DESC LIMIT ?",
            (limit,),
        ).fetchall()
    finally:
        db.close()
    return [PassRecord(*row) for row in rows]
