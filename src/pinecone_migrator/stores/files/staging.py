"""The local SQLite table that makes file writes durable before a data file exists.

The engine takes a write's acknowledgement as "durable", and writes pages of ~100 records; an export wants
files of 10,000 rows, each made visible only complete. So an acknowledged record is first committed here
(*waiting*), then a batch of waiting rows is *claimed* for a named file (recorded before the file is
uploaded), the file is published, and the claim is *committed*: the rows leave the table, and the
``written`` table remembers which file holds each ID and its digest. A run killed at any point resumes
cleanly: a claimed file that reached storage is committed, one that did not is claimed again.

The ``written`` table also keeps an export free of duplicate IDs: a record sent again after a resume with
the same digest is skipped; one that changed is written again and its older copy is marked *stale*, to be
removed from its file when the export finishes.
"""

from __future__ import annotations

import sqlite3
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import orjson

from ...errors import UserError
from ...records import Record, SetDigest, record_digest
from .formats import StagedRow
from .layout import data_file_name

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS staged (
    namespace TEXT NOT NULL, id TEXT NOT NULL, vals BLOB, sidx BLOB, svals BLOB, meta BLOB,
    digest BLOB NOT NULL, file TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS staged_waiting ON staged (namespace, id) WHERE file IS NULL;
CREATE INDEX IF NOT EXISTS staged_file ON staged (namespace, file);
CREATE TABLE IF NOT EXISTS written (
    namespace TEXT NOT NULL, id TEXT NOT NULL, file TEXT NOT NULL, digest BLOB NOT NULL,
    PRIMARY KEY (namespace, id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS files (
    namespace TEXT NOT NULL, name TEXT NOT NULL, sequence INTEGER NOT NULL, rows INTEGER NOT NULL,
    state TEXT NOT NULL, PRIMARY KEY (namespace, name)
);
CREATE TABLE IF NOT EXISTS stale (
    namespace TEXT NOT NULL, file TEXT NOT NULL, id TEXT NOT NULL, PRIMARY KEY (namespace, file, id)
) WITHOUT ROWID;
"""


@dataclass(frozen=True)
class Claim:
    namespace: str
    name: str  # the file name inside the namespace's folder
    rows: int
    sparse: bool  # whether any of its rows has sparse values


@dataclass(frozen=True)
class NamespaceTotals:
    files: list[str]
    digest: SetDigest


def _digest_bytes(record: Record) -> bytes:
    return record_digest(record).to_bytes(16, "little")


class Staging:
    def __init__(
        self, path: Path, identity: dict[str, object], *, restart: bool = False, forget: bool = False
    ) -> None:
        """``forget``: open only to read which files an earlier export made (see ``discard_export``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(SCHEMA)
        self.file_format = str(identity["format"])
        self.run_token = ""
        if forget:
            return
        wanted = orjson.dumps(identity, option=orjson.OPT_SORT_KEYS).decode()
        saved = self._meta("identity")
        if saved is not None and saved != wanted and not restart:
            raise UserError(
                f"The staging file {path} belongs to another export ({saved}); pass --restart to start "
                "this one over, or another --state."
            )
        if restart or saved is None:
            with self._transaction():
                for table in ("meta", "staged", "written", "files", "stale"):
                    self._db.execute(f"DELETE FROM {table}")
                self._db.execute("INSERT INTO meta VALUES ('identity', ?)", (wanted,))
                self._db.execute("INSERT INTO meta VALUES ('run_token', ?)", (uuid.uuid4().hex[:8],))
        self.run_token = self._meta("run_token") or uuid.uuid4().hex[:8]

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def known_files(self) -> list[tuple[str, str]]:
        """(namespace, file name) of every file this export has published or may have published."""
        with self._lock:
            return [(str(n), str(f)) for n, f in self._db.execute("SELECT namespace, name FROM files")]

    def stage(self, namespace: str, records: Sequence[Record]) -> None:
        """Commit records as waiting; skip those already in a file with the same digest."""
        rows = [(record, _digest_bytes(record)) for record in records]
        with self._lock, self._transaction():
            ids = [record.id for record, _ in rows]
            in_files: dict[str, bytes] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                query = f"SELECT id, digest FROM written WHERE namespace = ? AND id IN ({marks})"
                in_files.update(self._db.execute(query, (namespace, *chunk)).fetchall())
            for record, digest in rows:
                if in_files.get(record.id) == digest:
                    self._db.execute(
                        "DELETE FROM staged WHERE namespace = ? AND id = ? AND file IS NULL",
                        (namespace, record.id),
                    )
                    continue
                row = StagedRow.of(record)
                self._db.execute(
                    "INSERT INTO staged (namespace, id, vals, sidx, svals, meta, digest) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (namespace, id) WHERE file IS NULL DO UPDATE "
                    "SET vals = excluded.vals, sidx = excluded.sidx, svals = excluded.svals, "
                    "meta = excluded.meta, digest = excluded.digest",
                    (
                        namespace,
                        row.id,
                        row.values,
                        row.sparse_indices,
                        row.sparse_values,
                        row.metadata,
                        digest,
                    ),
                )

    def waiting(self, namespace: str) -> int:
        with self._lock:
            row = self._db.execute(
                "SELECT count(*) FROM staged WHERE namespace = ? AND file IS NULL", (namespace,)
            ).fetchone()
        return int(row[0])

    def namespaces_waiting(self) -> list[str]:
        with self._lock:
            return [
                str(r[0])
                for r in self._db.execute("SELECT DISTINCT namespace FROM staged WHERE file IS NULL")
            ]

    def claim(self, namespace: str, limit: int) -> Claim | None:
        """The oldest waiting rows (at most ``limit``), now assigned to a new file name."""
        with self._lock, self._transaction():
            row = self._db.execute("SELECT coalesce(max(sequence), 0) + 1 FROM files").fetchone()
            name = data_file_name(int(row[0]), self.run_token, self.file_format)
            picked = self._db.execute(
                "SELECT rowid, sidx IS NOT NULL FROM staged WHERE namespace = ? AND file IS NULL "
                "ORDER BY rowid LIMIT ?",
                (namespace, limit),
            ).fetchall()
            if not picked:
                return None
            self._db.executemany("UPDATE staged SET file = ? WHERE rowid = ?", [(name, r[0]) for r in picked])
            self._db.execute(
                "INSERT INTO files VALUES (?, ?, ?, ?, 'pending')",
                (namespace, name, int(row[0]), len(picked)),
            )
        return Claim(namespace, name, len(picked), any(r[1] for r in picked))

    def claimed_rows(self, claim: Claim, chunk: int) -> Iterator[list[StagedRow]]:
        """The rows of a claim in their staging order, ``chunk`` at a time (memory stays bounded)."""
        after = -1
        while True:
            with self._lock:
                picked = self._db.execute(
                    "SELECT rowid, id, vals, sidx, svals, meta FROM staged WHERE namespace = ? AND file = ? "
                    "AND rowid > ? ORDER BY rowid LIMIT ?",
                    (claim.namespace, claim.name, after, chunk),
                ).fetchall()
            if not picked:
                return
            after = picked[-1][0]
            yield [StagedRow(r[1], r[2], r[3], r[4], r[5]) for r in picked]

    def pending(self) -> list[tuple[str, str]]:
        with self._lock:
            return [
                (str(n), str(f))
                for n, f in self._db.execute("SELECT namespace, name FROM files WHERE state = 'pending'")
            ]

    def commit(self, namespace: str, name: str) -> None:
        """The file is published: its rows are written, and older copies of its IDs become stale."""
        with self._lock, self._transaction():
            self._db.execute(
                "INSERT OR IGNORE INTO stale SELECT w.namespace, w.file, w.id FROM written w JOIN staged s "
                "ON s.namespace = w.namespace AND s.id = w.id WHERE s.namespace = ? AND s.file = ? "
                "AND w.file != s.file",
                (namespace, name),
            )
            self._db.execute(
                "INSERT OR REPLACE INTO written SELECT namespace, id, file, digest FROM staged "
                "WHERE namespace = ? AND file = ?",
                (namespace, name),
            )
            self._db.execute("DELETE FROM staged WHERE namespace = ? AND file = ?", (namespace, name))
            self._db.execute(
                "UPDATE files SET state = 'done' WHERE namespace = ? AND name = ?", (namespace, name)
            )

    def release(self, namespace: str, name: str) -> None:
        """The file never reached storage: its rows wait again (unless a newer copy already waits)."""
        with self._lock, self._transaction():
            self._db.execute(
                "DELETE FROM staged WHERE namespace = ? AND file = ? AND id IN "
                "(SELECT id FROM staged WHERE namespace = ? AND file IS NULL)",
                (namespace, name, namespace),
            )
            self._db.execute(
                "UPDATE staged SET file = NULL WHERE namespace = ? AND file = ?", (namespace, name)
            )
            self._db.execute("DELETE FROM files WHERE namespace = ? AND name = ?", (namespace, name))

    def stale_files(self) -> list[tuple[str, str]]:
        with self._lock:
            return [
                (str(n), str(f)) for n, f in self._db.execute("SELECT DISTINCT namespace, file FROM stale")
            ]

    def held_by(self, namespace: str, name: str) -> set[str]:
        """IDs whose current copy is in this file."""
        with self._lock:
            rows = self._db.execute(
                "SELECT id FROM written WHERE namespace = ? AND file = ?", (namespace, name)
            ).fetchall()
        return {str(r[0]) for r in rows}

    def rewritten(self, namespace: str, name: str, rows: int) -> None:
        """The file was rewritten without its stale rows (``rows`` left; 0: it was removed)."""
        with self._lock, self._transaction():
            self._db.execute("DELETE FROM stale WHERE namespace = ? AND file = ?", (namespace, name))
            if rows:
                self._db.execute(
                    "UPDATE files SET rows = ? WHERE namespace = ? AND name = ?", (rows, namespace, name)
                )
            else:
                self._db.execute("DELETE FROM files WHERE namespace = ? AND name = ?", (namespace, name))

    def totals(self) -> dict[str, NamespaceTotals]:
        """Per namespace: its files in write order and the set digest of what they hold."""
        with self._lock:
            result: dict[str, NamespaceTotals] = {}
            for namespace, name in self._db.execute(
                "SELECT namespace, name FROM files WHERE state = 'done' ORDER BY sequence"
            ):
                result.setdefault(str(namespace), NamespaceTotals([], SetDigest())).files.append(str(name))
            for namespace, digest in self._db.execute("SELECT namespace, digest FROM written"):
                totals = result.setdefault(str(namespace), NamespaceTotals([], SetDigest()))
                totals.digest.add(int.from_bytes(digest, "little"))
        return result
