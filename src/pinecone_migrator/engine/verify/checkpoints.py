"""Verify's progress in the ledger file, so that an interrupted verify continues where it stopped.

Per scan — one side ("source" or "target") of one namespace, or of one ID-prefix shard of it — the ledger
keeps the list cursor up to which
every record is accounted for, the bucket digests so far, and the store's indexed LSN when the scan began.
A resumed verify reuses finished scans and continues unfinished ones from their cursor, unless the store
has indexed writes since (its LSN moved): then the saved digests may describe records that changed, and
that scan starts over. Saved progress belongs to one set of settings
(:func:`verify_fingerprint`: the migration's selection, the number of buckets, the ignored metadata keys);
opened with other settings, it is discarded (``started_over``). When a verify reaches a verdict its saved
scans are deleted, so that the next verify (say, after a repair) reads everything afresh.

The tables live beside the migration's in the same SQLite file, through a connection of their own.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from ...localdb import inspect_state, open_db, open_read_only
from ..request import MigrationRequest
from .digests import BucketDigests
from .result import VerifyOptions

_SCHEMA = """
CREATE TABLE IF NOT EXISTS verify_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS verify_scans (
    side TEXT NOT NULL,
    namespace TEXT NOT NULL,
    prefix TEXT NOT NULL,
    cursor TEXT,
    complete INTEGER NOT NULL,
    listed INTEGER NOT NULL,
    fetched INTEGER NOT NULL,
    filtered INTEGER NOT NULL,
    unroutable INTEGER NOT NULL,
    lsn INTEGER,
    digests BLOB NOT NULL,
    PRIMARY KEY (side, namespace, prefix)
);
"""


def verify_fingerprint(request: MigrationRequest, options: VerifyOptions) -> dict[str, Any]:
    """What saved digests depend on: the selection and the digest settings (not the level)."""
    return {
        **request.fingerprint(),
        "buckets": options.buckets,
        "ignore_metadata_keys": sorted(options.ignore_metadata_keys),
    }


@dataclass
class ScanState:
    """How far one scan got: every ID listed before ``cursor`` is in ``digests`` (per target namespace)."""

    cursor: str | None
    listed: int
    fetched: int
    complete: bool
    digests: dict[str, BucketDigests] = field(default_factory=dict)
    filtered: int = 0  # source side: records the filter left out
    unroutable: int = 0  # source side: records routed nowhere
    lsn: int | None = None  # the store's indexed LSN when the scan began (a later one: it changed since)


def _encode(digests: dict[str, BucketDigests]) -> bytes:
    # Sums are unbounded integers (reduced mod 2^128 only at the end): kept as decimal strings.
    return orjson.dumps(
        {
            destination: [[b, n, str(acc.totals[b])] for b, n in enumerate(acc.counts) if n]
            for destination, acc in digests.items()
        }
    )


def _decode(raw: bytes, buckets: int) -> dict[str, BucketDigests]:
    found: dict[str, BucketDigests] = {}
    for destination, entries in orjson.loads(raw).items():
        acc = found[destination] = BucketDigests(buckets)
        for bucket, count, total in entries:
            acc.counts[bucket] = int(count)
            acc.totals[bucket] = int(total)
    return found


def saved_progress(path: Path) -> list[tuple[str, str, bool, int]]:
    """(side, namespace, complete, IDs listed) of an interrupted verify's saved scans, per namespace (for
    `status`); empty when the ledger holds none."""
    if "verify_scans" not in inspect_state(path):
        return []
    db = open_read_only(path)
    try:
        rows = db.execute(
            "SELECT side, namespace, MIN(complete), SUM(listed) FROM verify_scans "
            "GROUP BY side, namespace ORDER BY side DESC, namespace"
        ).fetchall()
    finally:
        db.close()
    return [(str(side), str(namespace), bool(done), int(listed)) for side, namespace, done, listed in rows]


class VerifyCheckpoints:
    def __init__(self, path: Path, fingerprint: dict[str, Any], restart: bool = False) -> None:
        self.path = path
        self.fingerprint = fingerprint
        self._lock = threading.Lock()
        self._db = open_db(path)
        self._db.executescript(_SCHEMA)
        wanted = orjson.dumps(fingerprint, option=orjson.OPT_SORT_KEYS).decode()
        row = self._db.execute("SELECT value FROM verify_meta WHERE key = 'fingerprint'").fetchone()
        saved = bool(self.saved_scans())
        self.started_over = saved and not restart and (row is None or row[0] != wanted)
        if restart or row is None or row[0] != wanted:
            self.clear()
            self._db.execute(
                "INSERT INTO verify_meta(key, value) VALUES ('fingerprint', ?) "
                "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (wanted,),
            )

    def saved_scans(self) -> list[tuple[str, str, bool]]:
        """(side, namespace, complete) of every saved scan (a sharded namespace: one per shard)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT side, namespace, complete FROM verify_scans ORDER BY side, namespace, prefix"
            ).fetchall()
        return [(str(side), str(namespace), bool(complete)) for side, namespace, complete in rows]

    def saved_shards(self, side: str, namespace: str) -> list[str]:
        """The ID prefixes a saved scan of this namespace was split into ([""]: one scan; []: none saved)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT prefix FROM verify_scans WHERE side = ? AND namespace = ? ORDER BY prefix",
                (side, namespace),
            ).fetchall()
        return [str(row[0]) for row in rows]

    def load(self, side: str, namespace: str, buckets: int, prefix: str = "") -> ScanState | None:
        with self._lock:
            row = self._db.execute(
                "SELECT cursor, listed, fetched, complete, filtered, unroutable, lsn, digests "
                "FROM verify_scans WHERE side = ? AND namespace = ? AND prefix = ?",
                (side, namespace, prefix),
            ).fetchone()
        if row is None:
            return None
        return ScanState(
            cursor=row[0],
            listed=int(row[1]),
            fetched=int(row[2]),
            complete=bool(row[3]),
            filtered=int(row[4]),
            unroutable=int(row[5]),
            lsn=None if row[6] is None else int(row[6]),
            digests=_decode(row[7], buckets),
        )

    def save(self, side: str, namespace: str, state: ScanState, prefix: str = "") -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO verify_scans(side, namespace, prefix, cursor, complete, listed, "
                "fetched, filtered, unroutable, lsn, digests) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    side,
                    namespace,
                    prefix,
                    state.cursor,
                    int(state.complete),
                    state.listed,
                    state.fetched,
                    state.filtered,
                    state.unroutable,
                    state.lsn,
                    _encode(state.digests),
                ),
            )

    def clear(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM verify_scans")

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> VerifyCheckpoints:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
