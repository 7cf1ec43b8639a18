"""A sweep's state file (SQLite): the IDs found per namespace and each namespace's sweep report, so that
memory stays bounded and a stopped sweep resumes."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ...errors import UserError
from ...localdb import open_db, transaction

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS found (
    ns TEXT NOT NULL,
    id TEXT NOT NULL,
    found_at INTEGER NOT NULL,
    seeded INTEGER NOT NULL DEFAULT 0,
    rnd INTEGER NOT NULL,
    PRIMARY KEY (ns, id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS found_seeds ON found (ns, seeded, found_at, rnd);
CREATE TABLE IF NOT EXISTS sweeps (
    ns TEXT PRIMARY KEY,
    expected INTEGER NOT NULL,
    found INTEGER NOT NULL,
    sweeps INTEGER NOT NULL,
    seconds REAL NOT NULL,
    finished INTEGER NOT NULL,
    proven INTEGER NOT NULL,
    reason TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class SweepReport:
    """How completely one namespace was enumerated."""

    namespace: str
    expected: int  # the namespace's record count (describe_index_stats, or as the caller said)
    found: int  # distinct IDs discovered
    sweeps: int  # queries sent
    seconds: float
    finished: bool  # False: never started, or stopped part-way (the next sweep continues)
    proven: bool  # found == expected when the sweep ended
    reason: str  # why the sweep ended, in words

    def to_json(self) -> dict[str, object]:
        return {**vars(self), "seconds": round(self.seconds, 3)}


class SweepState:
    """The SQLite file: IDs found per namespace and each namespace's sweep report."""

    def __init__(self, path: Path, source_name: str, restart: bool) -> None:
        self._db = open_db(path)
        self._lock = threading.Lock()
        self._db.executescript(_SCHEMA)
        with self._transaction():
            if restart:
                self._db.execute("DELETE FROM found")
                self._db.execute("DELETE FROM sweeps")
                self._db.execute("DELETE FROM meta")
            known = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
            if known and known.get("source") != source_name:
                raise UserError(
                    f"The sweep state {str(path)!r} belongs to source {known.get('source')!r}, not "
                    f"{source_name!r}. Give another state path, or restart to discard it."
                )
            if known and known.get("schema") != str(SCHEMA_VERSION):
                raise UserError(
                    f"The sweep state {str(path)!r} was written by another version (schema "
                    f"{known.get('schema')}); restart to discard it."
                )
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('source', ?)", (source_name,))
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        with self._lock, transaction(self._db):
            yield

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def report(self, namespace: str) -> SweepReport | None:
        with self._lock:
            row = self._db.execute(
                "SELECT expected, found, sweeps, seconds, finished, proven, reason FROM sweeps WHERE ns = ?",
                (namespace,),
            ).fetchone()
        if row is None:
            return None
        expected, found, sweeps, seconds, finished, proven, reason = row
        return SweepReport(namespace, expected, found, sweeps, seconds, bool(finished), bool(proven), reason)

    def reports(self) -> list[SweepReport]:
        with self._lock:
            names = [ns for (ns,) in self._db.execute("SELECT ns FROM sweeps ORDER BY ns")]
        return [r for r in map(self.report, names) if r is not None]

    def save(self, report: SweepReport) -> None:
        with self._transaction():
            self._save(report)

    def _save(self, report: SweepReport) -> None:
        self._db.execute(
            "INSERT OR REPLACE INTO sweeps VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                report.namespace,
                report.expected,
                report.found,
                report.sweeps,
                report.seconds,
                int(report.finished),
                int(report.proven),
                report.reason,
            ),
        )

    def add(self, report: SweepReport, ids: Sequence[str], rng: np.random.Generator) -> int:
        """Record the IDs one query returned and the report after it, at once; how many were new."""
        randoms = rng.integers(0, 2**62, size=len(ids)).tolist()
        with self._transaction():
            before = self._db.total_changes
            self._db.executemany(
                "INSERT OR IGNORE INTO found (ns, id, found_at, rnd) VALUES (?, ?, ?, ?)",
                [(report.namespace, i, report.sweeps, r) for i, r in zip(ids, randoms, strict=True)],
            )
            new = self._db.total_changes - before
            self._save(replace(report, found=report.found + new))
        return new

    def take_seeds(self, namespace: str, count: int) -> list[str]:
        """Up to ``count`` IDs not used as query seeds yet, the most recently discovered first (the
        frontier of what has been explored); they are marked used."""
        with self._transaction():
            ids = [
                i
                for (i,) in self._db.execute(
                    "SELECT id FROM found WHERE ns = ? AND seeded = 0 ORDER BY found_at DESC, rnd LIMIT ?",
                    (namespace, count),
                )
            ]
            self._db.executemany(
                "UPDATE found SET seeded = 1 WHERE ns = ? AND id = ?", [(namespace, i) for i in ids]
            )
        return ids

    def page(self, namespace: str, prefix: str, after: str | None, limit: int) -> list[str]:
        """Up to ``limit`` + 1 IDs starting with ``prefix``, in bytewise order, after ``after``."""
        if after is not None and after >= prefix:
            sql, bound = "SELECT id FROM found WHERE ns = ? AND id > ? ORDER BY id LIMIT ?", after
        else:
            sql, bound = "SELECT id FROM found WHERE ns = ? AND id >= ? ORDER BY id LIMIT ?", prefix
        with self._lock:
            rows = self._db.execute(sql, (namespace, bound, limit + 1)).fetchall()
        page: list[str] = []
        for (record_id,) in rows:
            if not record_id.startswith(prefix):
                break  # IDs with one prefix are contiguous in sorted order: the rest lie beyond it
            page.append(record_id)
        return page
