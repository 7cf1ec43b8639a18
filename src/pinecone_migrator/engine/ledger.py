"""The ledger: one SQLite file per migration that makes every run resumable.

It holds the run's fingerprint (what is being copied where, never an API key), one row per unit of work
(a source namespace, or an ID-prefix shard of one) with its list cursor and counts, and the dead letters:
records a target refused, with the reason. A cursor advances only after every record before it has been
acknowledged by the target, so a run killed at any moment resumes without loss; upserts are idempotent, so
records written twice are harmless.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import orjson

from ..errors import UserError
from ..localdb import inspect_state, open_db, open_read_only

SCHEMA_VERSION = 1
_UNIT_COLUMNS = "namespace, prefix, cursor, done, listed, copied, skipped, dead, total_hint, last_error"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS units (
    namespace TEXT NOT NULL,
    prefix TEXT NOT NULL DEFAULT '',
    cursor TEXT,
    done INTEGER NOT NULL DEFAULT 0,
    listed INTEGER NOT NULL DEFAULT 0,
    copied INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    dead INTEGER NOT NULL DEFAULT 0,
    total_hint INTEGER,
    last_error TEXT,
    PRIMARY KEY (namespace, prefix)
);
CREATE TABLE IF NOT EXISTS dead_letters (
    namespace TEXT NOT NULL,
    id TEXT NOT NULL,
    target_namespace TEXT,
    reason TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (namespace, id)
);
"""


@dataclass(frozen=True)
class UnitState:
    namespace: str
    prefix: str
    cursor: str | None
    done: bool
    listed: int
    copied: int
    skipped: int
    dead: int
    total_hint: int | None
    last_error: str | None


class Ledger:
    """``read_only``: for `status` — nothing is created or changed, and a file without a ledger's tables
    reads as holding no progress."""

    def __init__(self, path: Path, *, read_only: bool = False) -> None:
        self.path = path
        tables = inspect_state(path)
        self._db = open_read_only(path) if read_only else open_db(path)
        # Units of one namespace commit from several threads; one connection, one transaction at a time.
        self._lock = threading.RLock()
        if read_only and not {"meta", "units", "dead_letters"} <= tables:
            self._db.close()
            self._db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        self._db.executescript(_SCHEMA)
        version = self.get_meta("schema_version")
        if version is None:
            if not read_only:
                self.set_meta("schema_version", str(SCHEMA_VERSION))
        elif int(version) != SCHEMA_VERSION:
            raise UserError(
                f"The ledger {path} was written by another version of pinecone-migrator (schema {version}); "
                "use --restart to start over or another --state file."
            )

    @staticmethod
    def check_binding(
        path: Path, fingerprint: dict[str, object], restart: bool, *, only_keys: bool = False
    ) -> None:
        """Refuse, before anything is written, a ledger that belongs to another migration (read-only).
        ``only_keys``: compare just the keys ``fingerprint`` has (a sync checks the migration it continues,
        whose ledger may say more, e.g. how a filtered copy enumerated)."""
        if restart or "meta" not in inspect_state(path):
            return
        db = open_read_only(path)
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'fingerprint'").fetchone()
        finally:
            db.close()
        if row is None:
            return
        saved = orjson.loads(row[0])
        if only_keys and isinstance(saved, dict):
            saved = {key: saved.get(key) for key in fingerprint}
        if _fingerprint_text(saved) != _fingerprint_text(fingerprint):
            raise _belongs_elsewhere(path)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def get_meta(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self._db.execute(
            "INSERT INTO meta(key, value) VALUES (?, ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (key, value),
        )

    def bind(self, fingerprint: dict[str, object], restart: bool) -> bool:
        """Tie the ledger to one selection. Returns True when resuming earlier progress."""
        wanted = _fingerprint_text(fingerprint)
        existing = self.get_meta("fingerprint")
        if existing is not None and existing != wanted and not restart:
            raise _belongs_elsewhere(self.path)
        if restart or existing is None:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.execute("DELETE FROM units")
            self._db.execute("DELETE FROM dead_letters")
            self._db.execute("COMMIT")
            self.set_meta("fingerprint", wanted)
            self.set_meta("created_at", datetime.now(timezone.utc).isoformat())
            return False
        return True

    def ensure_unit(self, namespace: str, prefix: str = "", total_hint: int | None = None) -> None:
        self._db.execute(
            "INSERT INTO units(namespace, prefix, total_hint) VALUES (?, ?, ?) "
            "ON CONFLICT(namespace, prefix) DO UPDATE SET total_hint = excluded.total_hint",
            (namespace, prefix, total_hint),
        )

    def unit(self, namespace: str, prefix: str = "") -> UnitState:
        with self._lock:
            row = self._db.execute(
                f"SELECT {_UNIT_COLUMNS} FROM units WHERE namespace = ? AND prefix = ?",
                (namespace, prefix),
            ).fetchone()
        if row is None:
            raise KeyError((namespace, prefix))
        return _unit(row)

    def units(self) -> Iterator[UnitState]:
        with self._lock:
            rows = self._db.execute(
                f"SELECT {_UNIT_COLUMNS} FROM units ORDER BY namespace, prefix"
            ).fetchall()
        for row in rows:
            yield _unit(row)

    def advance(
        self,
        namespace: str,
        prefix: str,
        *,
        cursor: str | None,
        listed: int,
        copied: int,
        skipped: int,
        dead_letters: list[tuple[str, str | None, str]],
    ) -> None:
        """Record one acknowledged page: its counts, its dead letters and the cursor after it, atomically."""
        now = datetime.now(timezone.utc).isoformat()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.executemany(
                    "INSERT INTO dead_letters(namespace, id, target_namespace, reason, at) "
                    "VALUES (?, ?, ?, ?, ?) "
                    "ON CONFLICT(namespace, id) DO UPDATE SET reason = excluded.reason, at = excluded.at",
                    [(namespace, rid, target, reason, now) for rid, target, reason in dead_letters],
                )
                done = int(cursor is None)
                self._db.execute(
                    "UPDATE units SET cursor = ?, done = ?, listed = listed + ?, copied = copied + ?, "
                    "skipped = skipped + ?, dead = dead + ?, last_error = NULL "
                    "WHERE namespace = ? AND prefix = ?",
                    (cursor, done, listed, copied, skipped, len(dead_letters), namespace, prefix),
                )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise

    def note_error(self, namespace: str, prefix: str, message: str) -> None:
        with self._lock:
            self._db.execute(
                "UPDATE units SET last_error = ? WHERE namespace = ? AND prefix = ?",
                (message, namespace, prefix),
            )

    def record_written_lsns(self, lsns: dict[str, int]) -> None:
        """Remember how far the target's writes went (per target namespace), for a later freshness wait."""
        with self._lock:
            known = self.written_lsns()
            for namespace, lsn in lsns.items():
                known[namespace] = max(lsn, known.get(namespace, 0))
            self.set_meta("target_written_lsns", orjson.dumps(known).decode())

    def written_lsns(self) -> dict[str, int]:
        raw = self.get_meta("target_written_lsns")
        return {} if raw is None else {str(k): int(v) for k, v in orjson.loads(raw).items()}

    def shard_prefixes(self, namespace: str) -> list[str]:
        """The ID-prefix shards of a namespace (empty when it is copied as one unit)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT prefix FROM units WHERE namespace = ? AND prefix != '' ORDER BY prefix", (namespace,)
            ).fetchall()
        return [str(row[0]) for row in rows]

    def add_shards(self, namespace: str, prefixes: list[str]) -> None:
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            self._db.executemany(
                "INSERT OR IGNORE INTO units(namespace, prefix) VALUES (?, ?)",
                [(namespace, prefix) for prefix in prefixes],
            )
            self._db.execute("COMMIT")

    def namespaces(self) -> list[UnitState]:
        """One row per namespace, the counts of its shards summed; done when every unit is done.

        ``prefix`` is '' and ``cursor`` None in these rows; the namespace's own unit gives ``total_hint``.
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT namespace, '', NULL, MIN(done), SUM(listed), SUM(copied), SUM(skipped), SUM(dead), "
                "MAX(CASE WHEN prefix = '' THEN total_hint END), "
                "GROUP_CONCAT(last_error, '; ') FROM units GROUP BY namespace ORDER BY namespace"
            ).fetchall()
        return [_unit(row) for row in rows]

    def dead_letters(self) -> list[tuple[str, str, str | None, str]]:
        return [
            (str(r[0]), str(r[1]), r[2], str(r[3]))
            for r in self._db.execute(
                "SELECT namespace, id, target_namespace, reason FROM dead_letters ORDER BY namespace, id"
            )
        ]


def _fingerprint_text(fingerprint: dict[str, object]) -> str:
    return orjson.dumps(fingerprint, option=orjson.OPT_SORT_KEYS).decode()


def _belongs_elsewhere(path: Path) -> UserError:
    return UserError(
        f"The ledger {path} belongs to a different migration (other source, target or selection). "
        "Use --restart to start this one over, or pass another --state file."
    )


def _unit(row: tuple[object, ...]) -> UnitState:
    return UnitState(
        namespace=str(row[0]),
        prefix=str(row[1]),
        cursor=None if row[2] is None else str(row[2]),
        done=bool(row[3]),
        listed=int(row[4]),  # type: ignore[call-overload]
        copied=int(row[5]),  # type: ignore[call-overload]
        skipped=int(row[6]),  # type: ignore[call-overload]
        dead=int(row[7]),  # type: ignore[call-overload]
        total_hint=None if row[8] is None else int(row[8]),  # type: ignore[call-overload]
        last_error=None if row[9] is None else str(row[9]),
    )
