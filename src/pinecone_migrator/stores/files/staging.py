"""The local SQLite table that makes file writes durable before a data file exists.

The engine takes a write's acknowledgement as "durable", and writes pages of ~100 records; an export wants
files of 10,000 rows, each made visible only complete. So each acknowledged batch is first committed here
as one row (*waiting*; one blob per batch, because a row per record made SQLite the export's bottleneck),
then waiting batches are *claimed* for a named file (recorded before the file is uploaded; a batch that
would overflow the file is split), the file is published, and the claim is *committed*: the batches leave
the table, and the ``written`` table remembers which file holds each ID and its digest. A run killed at
any point resumes cleanly: a claimed file that reached storage is committed, one that did not is claimed
again.

The ``written`` table also keeps an export free of duplicate IDs. What goes into a file is decided from
the claimed batches alone (so a recovery decides the same): the last copy of each ID wins, and a copy
equal to the one an earlier file holds (a page sent again after a resume) is left out. A changed record
written again marks its older copy *stale*, to be removed from its file when the export finishes.
"""

from __future__ import annotations

import functools
import pickle
import threading
import uuid
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import orjson

from ...errors import UserError
from ...localdb import open_db, transaction
from ...records import Record, SetDigest, digest_bytes
from .formats import StagedRow
from .layout import data_file_name

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    namespace TEXT NOT NULL, ids BLOB NOT NULL, rows BLOB NOT NULL, count INTEGER NOT NULL,
    sparse INTEGER NOT NULL, file TEXT,
    seq INTEGER NOT NULL, part INTEGER NOT NULL DEFAULT 0  -- queue order; a split's tail is part + 1
);
CREATE INDEX IF NOT EXISTS batches_file ON batches (namespace, file);
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
TABLES = ("meta", "batches", "written", "files", "stale")

# Our own local file, written and read by this module only: pickle is the fastest way to keep bytes.
_dump = functools.partial(pickle.dumps, protocol=pickle.HIGHEST_PROTOCOL)


@dataclass(frozen=True)
class Claim:
    namespace: str
    name: str  # the file name inside the namespace's folder
    rows: int  # claimed; the file holds fewer when copies repeat
    sparse: bool  # whether any claimed row has sparse values


@dataclass(frozen=True)
class FilePlan:
    """What a claimed file holds: for each claimed batch (by rowid, in queue order) the positions kept."""

    keep: dict[int, list[int]]
    ids: list[tuple[str, bytes]]  # (ID, digest) of every row kept


@dataclass(frozen=True)
class NamespaceTotals:
    files: list[str]
    digest: SetDigest


class Staging:
    def __init__(
        self, path: Path, identity: dict[str, object], *, restart: bool = False, forget: bool = False
    ) -> None:
        """``forget``: open only to read which files an earlier export made (see ``discard_export``)."""
        self.path = path
        self._lock = threading.Lock()
        # Batches are blobs of ~0.4 MB: large pages keep their overflow chains short.
        self._db = open_db(path, page_size=65536)
        self._db.executescript(SCHEMA)
        self.file_format = str(identity["format"])
        self.run_token = self._meta("run_token") or ""
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
            drops = "".join(f"DROP TABLE IF EXISTS {table};" for table in TABLES)
            self._db.executescript(f"BEGIN; {drops} {SCHEMA} COMMIT;")
            with self._transaction():
                self._db.execute("INSERT INTO meta VALUES ('identity', ?)", (wanted,))
                self._db.execute("INSERT INTO meta VALUES ('run_token', ?)", (uuid.uuid4().hex[:8],))
        self.run_token = self._meta("run_token") or uuid.uuid4().hex[:8]
        (last_seq,) = self._db.execute("SELECT coalesce(max(seq), 0) FROM batches").fetchone()
        self._next_seq = int(last_seq) + 1
        self._waiting: dict[str, int] = {
            str(ns): int(count)
            for ns, count in self._db.execute(
                "SELECT namespace, sum(count) FROM batches WHERE file IS NULL GROUP BY namespace"
            )
        }

    def _meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _transaction(self) -> AbstractContextManager[None]:
        return transaction(self._db)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def known_files(self) -> list[tuple[str, str]]:
        """(namespace, file name) of every file this export has published or may have published."""
        with self._lock:
            return [(str(n), str(f)) for n, f in self._db.execute("SELECT namespace, name FROM files")]

    def stage(self, namespace: str, records: Sequence[Record]) -> None:
        """Commit a batch of records as waiting."""
        if not records:
            return
        ids = _dump([(record.id, digest_bytes(record)) for record in records])
        rows = _dump([StagedRow.of(record).as_tuple() for record in records])
        sparse = any(record.sparse is not None for record in records)
        with self._lock:
            self._db.execute(
                "INSERT INTO batches (namespace, ids, rows, count, sparse, seq) VALUES (?, ?, ?, ?, ?, ?)",
                (namespace, ids, rows, len(records), sparse, self._next_seq),
            )
            self._next_seq += 1
            self._waiting[namespace] = self._waiting.get(namespace, 0) + len(records)

    def waiting(self, namespace: str) -> int:
        with self._lock:
            return self._waiting.get(namespace, 0)

    def namespaces_waiting(self) -> list[str]:
        with self._lock:
            return sorted(ns for ns, count in self._waiting.items() if count)

    def claim(self, namespace: str, limit: int) -> Claim | None:
        """The oldest waiting rows (``limit`` when there are that many), now assigned to a new file."""
        with self._lock, self._transaction():
            row = self._db.execute("SELECT coalesce(max(sequence), 0) + 1 FROM files").fetchone()
            name = data_file_name(int(row[0]), self.run_token, self.file_format)
            taken: list[int] = []
            total = 0
            sparse = False
            for rowid, count, has_sparse in self._db.execute(
                "SELECT rowid, count, sparse FROM batches WHERE namespace = ? AND file IS NULL "
                "ORDER BY seq, part",
                (namespace,),
            ).fetchall():
                if total + count > limit:
                    taken.append(self._split(rowid, limit - total))
                    count = limit - total
                else:
                    taken.append(rowid)
                total += count
                sparse = sparse or bool(has_sparse)
                if total >= limit:
                    break
            if not taken:
                return None
            self._db.executemany("UPDATE batches SET file = ? WHERE rowid = ?", [(name, r) for r in taken])
            self._db.execute(
                "INSERT INTO files VALUES (?, ?, ?, ?, 'pending')", (namespace, name, int(row[0]), total)
            )
            self._waiting[namespace] -= total
        return Claim(namespace, name, total, sparse)

    def _split(self, rowid: int, head: int) -> int:
        """Split a waiting batch after ``head`` rows: the batch keeps its first ``head`` rows (its rowid is
        returned, to be claimed) and its rest waits as the next part at the same place in the queue."""
        namespace, ids_blob, rows_blob, count, seq, part = self._db.execute(
            "SELECT namespace, ids, rows, count, seq, part FROM batches WHERE rowid = ?", (rowid,)
        ).fetchone()
        ids, rows = pickle.loads(ids_blob), pickle.loads(rows_blob)
        self._db.execute(
            "UPDATE batches SET ids = ?, rows = ?, count = ?, sparse = ? WHERE rowid = ?",
            (_dump(ids[:head]), _dump(rows[:head]), head, any(r[2] is not None for r in rows[:head]), rowid),
        )
        self._db.execute(
            "INSERT INTO batches (namespace, ids, rows, count, sparse, seq, part) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            (namespace, _dump(ids[head:]), _dump(rows[head:]), count - head,
             any(r[2] is not None for r in rows[head:]), seq, part + 1),
        )  # fmt: skip
        return rowid

    def plan(self, namespace: str, name: str) -> FilePlan:
        """Which claimed rows the file holds: the last copy of each ID, unless an earlier file already holds
        an equal one."""
        with self._lock:
            last: dict[str, tuple[int, int, bytes]] = {}
            for rowid, ids_blob in self._db.execute(
                "SELECT rowid, ids FROM batches WHERE namespace = ? AND file = ? ORDER BY seq, part",
                (namespace, name),
            ):
                for position, (record_id, digest) in enumerate(pickle.loads(ids_blob)):
                    last[record_id] = (rowid, position, digest)
            earlier = self._written_digests(namespace, list(last))
        keep: dict[int, list[int]] = {}
        ids: list[tuple[str, bytes]] = []
        for record_id, (rowid, position, digest) in last.items():
            if earlier.get(record_id) != digest:
                keep.setdefault(rowid, []).append(position)
                ids.append((record_id, digest))
        for positions in keep.values():
            positions.sort()
        return FilePlan(keep, ids)

    def _written_digests(self, namespace: str, ids: list[str]) -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            query = f"SELECT id, digest FROM written WHERE namespace = ? AND id IN ({marks})"
            found.update(self._db.execute(query, (namespace, *chunk)).fetchall())
        return found

    def planned_rows(self, claim: Claim, plan: FilePlan) -> Iterator[list[StagedRow]]:
        """The rows the plan keeps, batch by batch in staging order (memory stays bounded)."""
        for rowid in plan.keep:  # in queue order
            with self._lock:
                (rows_blob,) = self._db.execute(
                    "SELECT rows FROM batches WHERE rowid = ?", (rowid,)
                ).fetchone()
            rows = pickle.loads(rows_blob)
            yield [StagedRow(*rows[position]) for position in plan.keep[rowid]]

    def pending(self) -> list[tuple[str, str]]:
        with self._lock:
            return [
                (str(n), str(f))
                for n, f in self._db.execute("SELECT namespace, name FROM files WHERE state = 'pending'")
            ]

    def commit(self, namespace: str, name: str, plan: FilePlan) -> None:
        """The file is published (or held nothing): its rows are written, older copies of its IDs stale."""
        with self._lock, self._transaction():
            if plan.ids:
                earlier = self._db.execute(
                    "SELECT id, file FROM written WHERE namespace = ? AND file != ? AND id IN "
                    "(SELECT value FROM json_each(?))",
                    (namespace, name, orjson.dumps([i for i, _ in plan.ids]).decode()),
                ).fetchall()
                self._db.executemany(
                    "INSERT OR IGNORE INTO stale VALUES (?, ?, ?)", [(namespace, f, i) for i, f in earlier]
                )
                self._db.executemany(
                    "INSERT OR REPLACE INTO written VALUES (?, ?, ?, ?)",
                    [(namespace, i, name, d) for i, d in plan.ids],
                )
            self._db.execute("DELETE FROM batches WHERE namespace = ? AND file = ?", (namespace, name))
            if plan.ids:
                self._db.execute(
                    "UPDATE files SET state = 'done', rows = ? WHERE namespace = ? AND name = ?",
                    (len(plan.ids), namespace, name),
                )
            else:
                self._db.execute("DELETE FROM files WHERE namespace = ? AND name = ?", (namespace, name))

    def release(self, namespace: str, name: str) -> None:
        """The file never reached storage: its batches wait again."""
        with self._lock, self._transaction():
            (count,) = self._db.execute(
                "SELECT coalesce(sum(count), 0) FROM batches WHERE namespace = ? AND file = ?",
                (namespace, name),
            ).fetchone()
            self._db.execute(
                "UPDATE batches SET file = NULL WHERE namespace = ? AND file = ?", (namespace, name)
            )
            self._db.execute("DELETE FROM files WHERE namespace = ? AND name = ?", (namespace, name))
            self._waiting[namespace] = self._waiting.get(namespace, 0) + int(count)

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
