"""Record storage of one index: SQLite, one table for all namespaces.

SQLite's BINARY collation compares bytes, which is Pinecone's list order for IDs. The database runs in WAL
mode with ``synchronous=NORMAL``: a transaction that has committed survives a crash of the server process
(``kill -9``), and every write is committed before the server acknowledges it.

Every write is an *operation* with a log sequence number (LSN). Normally it is applied in the same
transaction that assigns its LSN. With a visibility delay, the operation is first stored durably in a
pending table and applied once due, which models Pinecone's eventual consistency: readers keep seeing the
old state, and ``applied_lsn`` (sent as ``x-pinecone-max-indexed-lsn``) tells the truth about it.
"""

from __future__ import annotations

import pickle
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson

from ..filters import compile_filter


@dataclass(frozen=True)
class StoredRecord:
    """A record as stored: values as float32 bytes, sparse indices uint32 bytes, metadata as JSON text."""

    id: str
    values: bytes | None
    sparse_indices: bytes | None
    sparse_values: bytes | None
    metadata: str | None

    def dense(self) -> npt.NDArray[np.float32] | None:
        return None if self.values is None else np.frombuffer(self.values, dtype=np.float32)

    def sparse(self) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]] | None:
        if self.sparse_indices is None or self.sparse_values is None:
            return None
        return (
            np.frombuffer(self.sparse_indices, dtype=np.uint32),
            np.frombuffer(self.sparse_values, dtype=np.float32),
        )


@dataclass
class MetadataPatch:
    """An update by ID: whichever parts are not None replace (values, sparse) or merge into (metadata)."""

    values: bytes | None = None
    sparse_indices: bytes | None = None
    sparse_values: bytes | None = None
    set_metadata: dict[str, Any] | None = None


_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    ns TEXT NOT NULL,
    id TEXT NOT NULL,
    vals BLOB,
    sp_idx BLOB,
    sp_val BLOB,
    meta TEXT,
    PRIMARY KEY (ns, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS namespaces (
    ns TEXT PRIMARY KEY,
    explicit INTEGER NOT NULL DEFAULT 0,
    schema TEXT
);
CREATE TABLE IF NOT EXISTS pending (
    lsn INTEGER PRIMARY KEY,
    due REAL NOT NULL,
    op BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
    key TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""

_COLUMNS = "id, vals, sp_idx, sp_val, meta"
_SQL_VARIABLES = 500  # well under SQLite's bound-parameter limit


def _record(row: tuple[Any, ...]) -> StoredRecord:
    return StoredRecord(row[0], row[1], row[2], row[3], row[4])


def _chunks(items: list[str], size: int = _SQL_VARIABLES) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class IndexData:
    """The records of one index. Not thread-safe: the server calls it from its one event loop."""

    def __init__(self, vector_type: str, dimension: int | None, metric: str, directory: Path | None) -> None:
        self.vector_type = vector_type
        self.dimension = dimension
        self.metric = metric
        if directory is None:
            self._db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        else:
            directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(
                str(directory / "records.sqlite"), isolation_level=None, check_same_thread=False
            )
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._load()

    def _load(self) -> None:
        self._counts: dict[str, int] = dict(
            self._db.execute("SELECT ns, count(*) FROM records GROUP BY ns").fetchall()
        )
        self.next_lsn = self._state("next_lsn", 1)
        self.applied_lsn = self._state("applied_lsn", 0)
        # Bumped on every applied change of a namespace: lets readers cache derived views.
        self.versions: dict[str, int] = {}
        self.views: dict[str, object] = {}  # derived per-namespace views, valid while the version holds
        # Operations left pending by a previous process are applied at once: they were acknowledged.
        self.apply_due(now=float("inf"))

    def copy_into(self, target: IndexData) -> None:
        """Replace everything ``target`` holds with a consistent copy of this store (SQLite's online backup),
        acknowledged but still pending writes included: a backup's point-in-time snapshot."""
        self._db.backup(target._db)
        target._load()

    def stored_bytes(self) -> int:
        """Pinecone's size estimate: ID bytes + 4 per dense value + 9 per sparse value + metadata bytes."""
        row = self._db.execute(
            "SELECT coalesce(sum(length(CAST(id AS BLOB)) + coalesce(length(vals), 0) "
            "+ coalesce(length(sp_idx), 0) / 4 * 9 + coalesce(length(CAST(meta AS BLOB)), 0)), 0) "
            "FROM records"
        ).fetchone()
        return int(row[0])

    # -- bookkeeping ---------------------------------------------------------------------------------------

    def _state(self, key: str, default: int) -> int:
        row = self._db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return int(row[0]) if row else default

    def _set_state(self, key: str, value: int) -> None:
        self._db.execute(
            "INSERT INTO state(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def close(self) -> None:
        self._db.close()

    def _touch(self, ns: str) -> None:
        self.versions[ns] = self.versions.get(ns, 0) + 1
        self.views.pop(ns, None)

    # -- writes --------------------------------------------------------------------------------------------

    def submit(self, op: tuple[Any, ...], delay_seconds: float = 0.0) -> int:
        """Durably accept a write operation and return its LSN; apply it now or once the delay has passed."""
        lsn = self.next_lsn
        self._db.execute("BEGIN IMMEDIATE")
        try:
            if delay_seconds > 0:
                self._db.execute(
                    "INSERT INTO pending(lsn, due, op) VALUES (?, ?, ?)",
                    (lsn, time.time() + delay_seconds, pickle.dumps(op)),
                )
            else:
                self._apply(op)
                self._set_state("applied_lsn", lsn)
            self._set_state("next_lsn", lsn + 1)
            self._db.execute("COMMIT")
        except BaseException:
            self._db.execute("ROLLBACK")
            self._reload_counts()
            raise
        self.next_lsn = lsn + 1
        if delay_seconds <= 0:
            self.applied_lsn = lsn
        return lsn

    def apply_due(self, now: float | None = None) -> int:
        """Apply pending operations whose time has come, in LSN order. Returns how many were applied."""
        limit = time.time() if now is None else now
        rows = self._db.execute("SELECT lsn, due, op FROM pending ORDER BY lsn").fetchall()
        applied = 0
        for lsn, due, blob in rows:
            if due > limit:
                break  # LSN order is apply order: a later op never overtakes an earlier one
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._apply(pickle.loads(blob))
                self._db.execute("DELETE FROM pending WHERE lsn = ?", (lsn,))
                self._set_state("applied_lsn", lsn)
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._reload_counts()
                raise
            self.applied_lsn = lsn
            applied += 1
        return applied

    def _reload_counts(self) -> None:
        self._counts = dict(self._db.execute("SELECT ns, count(*) FROM records GROUP BY ns").fetchall())
        self.versions = {ns: v + 1 for ns, v in self.versions.items()}

    def _apply(self, op: tuple[Any, ...]) -> None:
        kind, ns = op[0], op[1]
        if kind == "upsert":
            self._apply_upsert(ns, op[2])
        elif kind == "update":
            self._apply_update(ns, op[2], op[3])
        elif kind == "update_filter":
            for record_id in self._matching_ids(ns, op[2]):
                self._apply_update(ns, record_id, MetadataPatch(set_metadata=op[3]))
        elif kind == "delete_ids":
            self._apply_delete_ids(ns, op[2])
        elif kind == "delete_filter":
            self._apply_delete_ids(ns, list(self._matching_ids(ns, op[2])))
        elif kind == "delete_all":
            self._db.execute("DELETE FROM records WHERE ns = ?", (ns,))
            self._counts.pop(ns, None)
            self._forget_if_empty(ns)
        elif kind == "create_namespace":
            self._db.execute(
                "INSERT INTO namespaces(ns, explicit, schema) VALUES (?, 1, ?) "
                "ON CONFLICT(ns) DO UPDATE SET explicit = 1, schema = excluded.schema",
                (ns, op[2]),
            )
        elif kind == "delete_namespace":
            self._db.execute("DELETE FROM records WHERE ns = ?", (ns,))
            self._db.execute("DELETE FROM namespaces WHERE ns = ?", (ns,))
            self._counts.pop(ns, None)
        else:  # pragma: no cover - a programming error, never user input
            raise ValueError(f"unknown operation {kind!r}")
        self._touch(ns)

    def _apply_upsert(self, ns: str, records: list[StoredRecord]) -> None:
        ids = [r.id for r in records]
        existing = self._existing_ids(ns, ids)
        added = len({i for i in ids if i not in existing})
        self._db.executemany(
            "INSERT INTO records(ns, id, vals, sp_idx, sp_val, meta) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(ns, id) DO UPDATE SET vals = excluded.vals, sp_idx = excluded.sp_idx, "
            "sp_val = excluded.sp_val, meta = excluded.meta",
            [(ns, r.id, r.values, r.sparse_indices, r.sparse_values, r.metadata) for r in records],
        )
        self._db.execute("INSERT OR IGNORE INTO namespaces(ns) VALUES (?)", (ns,))
        self._counts[ns] = self._counts.get(ns, 0) + added

    def _apply_update(self, ns: str, record_id: str, patch: MetadataPatch) -> None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM records WHERE ns = ? AND id = ?", (ns, record_id)
        ).fetchone()
        if row is None:
            return
        current = _record(row)
        meta = current.metadata
        if patch.set_metadata is not None:
            merged = orjson.loads(meta) if meta else {}
            # Like Pinecone, a null in setMetadata is dropped: it neither sets nor removes the key.
            merged.update({k: v for k, v in patch.set_metadata.items() if v is not None})
            meta = orjson.dumps(merged).decode() if merged else None
        self._db.execute(
            "UPDATE records SET vals = ?, sp_idx = ?, sp_val = ?, meta = ? WHERE ns = ? AND id = ?",
            (
                patch.values if patch.values is not None else current.values,
                patch.sparse_indices if patch.sparse_indices is not None else current.sparse_indices,
                patch.sparse_values if patch.sparse_values is not None else current.sparse_values,
                meta,
                ns,
                record_id,
            ),
        )

    def _apply_delete_ids(self, ns: str, ids: list[str]) -> None:
        removed = 0
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            cursor = self._db.execute(f"DELETE FROM records WHERE ns = ? AND id IN ({marks})", (ns, *chunk))
            removed += max(cursor.rowcount, 0)
        if removed:
            self._counts[ns] = self._counts.get(ns, 0) - removed
            if self._counts[ns] <= 0:
                self._counts.pop(ns)
        self._forget_if_empty(ns)

    def _forget_if_empty(self, ns: str) -> None:
        """A namespace that was only created by writes disappears with its last record, as in Pinecone."""
        if self._counts.get(ns, 0) == 0:
            self._db.execute("DELETE FROM namespaces WHERE ns = ? AND explicit = 0", (ns,))

    def _matching_ids(self, ns: str, filter_json: dict[str, Any]) -> Iterator[str]:
        predicate = compile_filter(filter_json)
        ids: list[str] = []
        for record_id, meta in self._db.execute(
            "SELECT id, meta FROM records WHERE ns = ? ORDER BY id", (ns,)
        ).fetchall():
            if predicate(orjson.loads(meta) if meta else {}):
                ids.append(record_id)
        return iter(ids)

    # -- reads ---------------------------------------------------------------------------------------------

    def _existing_ids(self, ns: str, ids: list[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(ids):
            marks = ",".join("?" * len(chunk))
            found.update(
                row[0]
                for row in self._db.execute(
                    f"SELECT id FROM records WHERE ns = ? AND id IN ({marks})", (ns, *chunk)
                )
            )
        return found

    def fetch(self, ns: str, ids: list[str]) -> list[StoredRecord]:
        """Records with these IDs that exist, in the order asked (each once)."""
        by_id: dict[str, StoredRecord] = {}
        unique = list(dict.fromkeys(ids))
        for chunk in _chunks(unique):
            marks = ",".join("?" * len(chunk))
            for row in self._db.execute(
                f"SELECT {_COLUMNS} FROM records WHERE ns = ? AND id IN ({marks})", (ns, *chunk)
            ):
                by_id[row[0]] = _record(row)
        return [by_id[i] for i in unique if i in by_id]

    def get(self, ns: str, record_id: str) -> StoredRecord | None:
        row = self._db.execute(
            f"SELECT {_COLUMNS} FROM records WHERE ns = ? AND id = ?", (ns, record_id)
        ).fetchone()
        return None if row is None else _record(row)

    def list_ids(self, ns: str, prefix: str, limit: int, after: str | None) -> list[str]:
        """Up to ``limit`` IDs starting with ``prefix``, in bytewise order, strictly after ``after``."""
        sql = "SELECT id FROM records WHERE ns = ?"
        params: list[Any] = [ns]
        if prefix:
            sql += " AND substr(id, 1, ?) = ?"
            params += [len(prefix), prefix]
            # A range condition lets SQLite seek to the prefix instead of scanning the namespace.
            sql += " AND id >= ?"
            params.append(prefix)
        if after is not None:
            sql += " AND id > ?"
            params.append(after)
        sql += " ORDER BY id LIMIT ?"
        params.append(limit)
        return [row[0] for row in self._db.execute(sql, params)]

    def scan(self, ns: str, after: str | None = None) -> Iterator[StoredRecord]:
        """Every record of a namespace in ID order (optionally strictly after an ID)."""
        if after is None:
            cursor = self._db.execute(f"SELECT {_COLUMNS} FROM records WHERE ns = ? ORDER BY id", (ns,))
        else:
            cursor = self._db.execute(
                f"SELECT {_COLUMNS} FROM records WHERE ns = ? AND id > ? ORDER BY id", (ns, after)
            )
        for row in cursor.fetchall():
            yield _record(row)

    def count(self, ns: str) -> int:
        return self._counts.get(ns, 0)

    def namespace_counts(self) -> dict[str, int]:
        """Record count of every namespace that exists (explicitly created ones may be empty)."""
        counts = {ns: 0 for (ns,) in self._db.execute("SELECT ns FROM namespaces")}
        counts.update({ns: n for ns, n in self._counts.items() if n > 0})
        return dict(sorted(counts.items()))

    def namespace_exists(self, ns: str) -> bool:
        if self._counts.get(ns, 0) > 0:
            return True
        return self._db.execute("SELECT 1 FROM namespaces WHERE ns = ?", (ns,)).fetchone() is not None

    def namespace_schema(self, ns: str) -> str | None:
        row = self._db.execute("SELECT schema FROM namespaces WHERE ns = ?", (ns,)).fetchone()
        return None if row is None else row[0]

    def total_count(self) -> int:
        return sum(self._counts.values())
