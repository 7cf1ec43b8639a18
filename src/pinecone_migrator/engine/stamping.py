"""Stamp mode, the original script's way, done safely: copy unstamped source records, then stamp them.

A record is stamped (``migrated: true``, ``migrated_at: <UTC ISO-8601 Z>``) only after the target
acknowledged it, and with Pinecone's update by ID — never a re-upsert — so its values, sparse values and any
metadata the application writes meanwhile are untouched. Once stamped, it is fetched again: if the
application changed it between the copy and the stamp, the newer record is copied again, so the newer data
wins on both sides. Stamps are left out of the target unless ``copy_stamps``. Updates by ID are limited to
100 records/s per namespace, so stamps are paced (``stamps_per_second``).

Unstamped records are found with the filter below (``$exists: false`` as well as ``$ne: true``, because a
missing field is not documented to match ``$ne``), through ``fetch_by_metadata`` where the source has it,
otherwise by listing and filtering locally. ``reset_stamps`` removes the stamps again; Pinecone's update
cannot remove a metadata key, so it re-upserts each stamped record without them (see its caveat).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UserError
from ..filters import MetadataPredicate, compile_filter
from ..records import STAMP_KEYS, Record, record_digest
from ..stores.base import FetchesByMetadata, QueriesIds, Store, UpdatesMetadata
from .copy import Route
from .migrate import MigrationRequest, check_target, select
from .sync import strip_stamps
from .sync_state import PassRecord, SyncState
from .writes import write_batches, write_in_batches

log = logging.getLogger("pinecone_migrator.stamp")

UNSTAMPED: dict[str, Any] = {"$or": [{"migrated": {"$exists": False}}, {"migrated": {"$ne": True}}]}
STAMPED: dict[str, Any] = {"migrated": {"$exists": True}}
QUERY_TOP_K = 1_000  # per query of a pod-based source (IDs only; stamped ones drop out of the next query)


def with_filter(user_filter: dict[str, Any] | None, extra: dict[str, Any]) -> dict[str, Any]:
    return extra if not user_filter else {"$and": [user_filter, extra]}


def stamp_now() -> dict[str, Any]:
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")
    return {"migrated": True, "migrated_at": f"{now}Z"}


class Pacer:
    """At most ``rate`` calls per second (Pinecone's update limit is per namespace: one pacer each)."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next = time.monotonic()

    def wait(self, stop: threading.Event) -> None:
        delay = self.next - time.monotonic()
        if delay > 0:
            stop.wait(delay)
        self.next = max(self.next, time.monotonic()) + self.interval


def matching_pages(
    source: Store, namespace: str, metadata_filter: dict[str, Any], stop: threading.Event
) -> Iterator[list[Record]]:
    """Pages of the records of a namespace that match a filter: server-side where the source can filter,
    otherwise listed, fetched and filtered here."""
    if isinstance(source, FetchesByMetadata) and source.capabilities().can_fetch_by_metadata:
        cursor: str | None = None
        while not stop.is_set():
            page = source.fetch_by_metadata(namespace, metadata_filter, cursor=cursor, limit=100)
            if page.records:
                yield page.records
            cursor = page.cursor
            if cursor is None:
                return
        return
    if not source.capabilities().can_list:
        if isinstance(source, QueriesIds):
            yield from _queried_pages(source, namespace, metadata_filter, stop)
            return
        raise UserError(
            "This source can neither list IDs nor filter by metadata: stamp mode cannot find records."
        )
    predicate: MetadataPredicate = compile_filter(metadata_filter)
    cursor = None
    while not stop.is_set():
        listed = source.list_ids(namespace, cursor=cursor, limit=100)
        records = (
            [r for r in source.fetch(namespace, listed.ids) if predicate(r.metadata)] if listed.ids else []
        )
        if records:
            yield records
        cursor = listed.cursor
        if cursor is None:
            return


def _queried_pages(
    source: Any, namespace: str, metadata_filter: dict[str, Any], stop: threading.Event
) -> Iterator[list[Record]]:
    """A pod-based source: query with the filter until no unseen record matches. Records stamped by the
    caller drop out of the filter, so the queries reach the rest; seen IDs end the loop for records that
    cannot be stamped (dead letters)."""
    dimension = source.describe().shape.dimension
    if dimension is None:
        raise UserError("Stamp mode on a source that cannot list needs dense vectors to query with.")
    rng = np.random.default_rng()
    seen: set[str] = set()
    while not stop.is_set():
        vector = rng.standard_normal(dimension).astype(np.float32)
        ids = source.query_ids(namespace, top_k=QUERY_TOP_K, vector=vector, metadata_filter=metadata_filter)
        fresh = [i for i in ids if i not in seen]
        if not fresh:
            return
        seen.update(fresh)
        for start in range(0, len(fresh), 100):
            records = source.fetch(namespace, fresh[start : start + 100])
            if records:
                yield records


@dataclass(frozen=True)
class StampOptions:
    copy_stamps: bool = False
    stamps_per_second: float = 100.0
    max_request_records: int = 1_000
    max_request_bytes: int = 1_950_000


class StampPass:
    def __init__(
        self,
        request: MigrationRequest,
        options: StampOptions,
        source: Store,
        target: Store,
        state: SyncState,
        stop: threading.Event,
    ) -> None:
        if not isinstance(source, UpdatesMetadata):
            raise UserError("This source cannot update metadata by ID, so it cannot be stamped.")
        self.request = request
        self.options = options
        self.source: Store = source
        self.stamper: UpdatesMetadata = source
        self.target = target
        self.state = state
        self.stop = stop
        self.new = self.updated = self.dead = self.listed = 0

    def run(self) -> PassRecord:
        description, namespaces, _ = select(self.request, self.source, needs_listing=False)
        check_target(description, self.target, self.request)
        number = self.state.begin_pass()
        record = PassRecord(number, time.time(), None, "running", 0, 0, 0, 0, 0, None, None)
        try:
            for namespace in namespaces:
                if self.stop.is_set():
                    break
                self._namespace(namespace)
            record.state = "stopped" if self.stop.is_set() else "done"
        except BaseException as error:
            record.state, record.note = "failed", str(error)
            raise
        finally:
            record.new, record.updated, record.dead, record.listed = (
                self.new,
                self.updated,
                self.dead,
                self.listed,
            )
            record.finished = time.time()
            self.state.end_pass(record)
        return record

    def _namespace(self, namespace: str) -> None:
        route = self.request.route(namespace)
        pacer = Pacer(self.options.stamps_per_second)
        for records in matching_pages(
            self.source, namespace, with_filter(self.request.filter, UNSTAMPED), self.stop
        ):
            self.listed += len(records)
            copied = self._copy(records, route)
            self.new += len(copied)
            self._stamp(namespace, copied, pacer)
            self._copy_newer(namespace, copied, route)

    def _prepared(self, record: Record) -> Record:
        return record if self.options.copy_stamps else strip_stamps(record)

    def _copy(self, records: list[Record], route: Route) -> dict[str, Record]:
        """Write records to the target; returns those it acknowledged, by ID."""
        by_target: dict[str, list[Record]] = {}
        for record in records:
            destination, refusal = route(record)
            if destination is None:
                log.warning("dead letter %s: %s", record.id, refusal)
                self.dead += 1
                continue
            by_target.setdefault(destination, []).append(self._prepared(record))
        copied: dict[str, Record] = {}
        originals = {r.id: r for r in records}
        options = self.options
        for destination, group in by_target.items():
            for written, dead in write_in_batches(
                self.target, destination, group, options.max_request_records, options.max_request_bytes
            ):
                self.dead += len(dead)
                copied.update({r.id: originals[r.id] for r in written})
        return copied

    def _stamp(self, namespace: str, copied: dict[str, Record], pacer: Pacer) -> None:
        stamp = stamp_now()
        for record_id in copied:
            if self.stop.is_set():
                return  # unstamped records are found (and copied, idempotently) by the next pass
            pacer.wait(self.stop)
            self.stamper.update_metadata(namespace, record_id, stamp)

    def _copy_newer(self, namespace: str, copied: dict[str, Record], route: Route) -> None:
        """Records the application changed between our copy and our stamp: copy the newer data too."""
        if not copied:
            return
        ignore = frozenset(STAMP_KEYS)
        now = self.source.fetch(namespace, list(copied))
        newer = [r for r in now if record_digest(r, ignore) != record_digest(copied[r.id], ignore)]
        if newer:
            log.info("%d record(s) changed in the source while being copied; copying them again", len(newer))
            self.updated += len(self._copy(newer, route))


def reset_stamps(
    source: Store,
    namespaces: list[str],
    stop: threading.Event,
    on_progress: Callable[[str, int], None],
) -> int:
    """Remove ``migrated``/``migrated_at`` from every stamped record of these namespaces; returns how many.

    Pinecone's update cannot delete a metadata key, so each stamped record is written again without them:
    a record the application changes between this fetch and this write loses that change. Run it while
    the application does not write, or accept that risk."""
    removed = 0
    for namespace in namespaces:
        for records in matching_pages(source, namespace, STAMPED, stop):
            clean = [strip_stamps(r) for r in records]
            for batch in write_batches(clean, 1_000, 1_950_000, source.request_size):
                source.write(namespace, batch)
            removed += len(clean)
            on_progress(namespace, removed)
    return removed
