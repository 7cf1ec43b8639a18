"""Stamp mode, the original script's way, done safely: copy unstamped source records, then stamp them.

A record is stamped (``migrated: true``, ``migrated_at: <UTC ISO-8601 Z>``) only after the target
acknowledged it, and with Pinecone's update by ID — never a re-upsert — so its values, sparse values and any
metadata the application writes meanwhile are untouched. Once stamped, it is fetched again: if the
application changed it between the copy and the stamp, the newer record is copied again, so the newer data
wins on both sides. Stamps are left out of the target unless ``copy_stamps``. Updates by ID are limited to
100 records/s per namespace, so stamps are paced (``stamps_per_second``, shared by every batch of a
namespace).

Unstamped records are found with the filter below (``$exists: false`` as well as ``$ne: true``, because a
missing field is not documented to match ``$ne``), through ``fetch_by_metadata`` where the source has it,
otherwise by listing and filtering locally; batches are copied and stamped side by side by the one walk
(:mod:`.walk`), whose batches in flight halve when the source or the target answers 429. ``reset_stamps``
removes the stamps again; Pinecone's update cannot remove a metadata key, so it re-upserts each stamped
record without them (see its caveat).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...errors import UserError
from ...filters import MetadataPredicate, compile_filter
from ...records import STAMP_KEYS, Record, record_digest
from ...stores.base import QueriesIds, Store, UpdatesMetadata, fetches_by_metadata
from ..migrate.copy import Route
from ..migrate.target import check_target, select
from ..pacing import AdaptiveLimit
from ..request import MigrationRequest
from ..walk import (
    NextPage,
    Page,
    Walker,
    fetch_all,
    listing,
    metadata_listing,
    pages,
    run_walker,
)
from ..writes import write_batches, write_in_batches
from .passes import strip_stamps
from .state import PassRecord, SyncState

log = logging.getLogger("pinecone_migrator.stamp")

UNSTAMPED: dict[str, Any] = {"$or": [{"migrated": {"$exists": False}}, {"migrated": {"$ne": True}}]}
STAMPED: dict[str, Any] = {"migrated": {"$exists": True}}
QUERY_TOP_K = 1_000  # per query of a pod-based source (IDs only; stamped ones drop out of the next query)
QUERIED = "queried"  # the cursor of a query sweep that goes on: it has no position, only the IDs it saw


def with_filter(user_filter: dict[str, Any] | None, extra: dict[str, Any]) -> dict[str, Any]:
    return extra if not user_filter else {"$and": [user_filter, extra]}


def stamp_now() -> dict[str, Any]:
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None).isoformat(timespec="seconds")
    return {"migrated": True, "migrated_at": f"{now}Z"}


class Pacer:
    """At most ``rate`` calls per second (Pinecone's update limit is per namespace: one pacer each), for
    any number of threads: each call takes the next free slot."""

    def __init__(self, rate: float) -> None:
        self.interval = 1.0 / rate
        self.next = time.monotonic()
        self.lock = threading.Lock()

    def wait(self, stop: threading.Event) -> None:
        with self.lock:
            slot = max(self.next, time.monotonic())
            self.next = slot + self.interval
        delay = slot - time.monotonic()
        if delay > 0:
            stop.wait(delay)


@dataclass(frozen=True)
class Matching:
    """How the records of a namespace that match a filter are found: an enumeration, and how one batch of
    what it yields (records or IDs) becomes the matching records."""

    next_page: NextPage[Any]
    records: Callable[[list[Any]], list[Record]]
    # Each page must be handled before the next is asked for (a query sweep finds the rest only once the
    # records it found are stamped): walked one page at a time, never side by side.
    sequential: bool = False


def matching(source: Store, namespace: str, metadata_filter: dict[str, Any]) -> Matching:
    """Server-side where the source can filter, otherwise listed, fetched and filtered here, and on a source
    that cannot list, queried with the filter."""
    evaluator = fetches_by_metadata(source)
    if evaluator is not None:
        return Matching(metadata_listing(evaluator, namespace, metadata_filter), list)
    if source.capabilities().can_list:
        predicate: MetadataPredicate = compile_filter(metadata_filter)

        def matches(ids: list[str]) -> list[Record]:
            return [r for r in fetch_all(source, namespace, ids) if predicate(r.metadata)]

        return Matching(listing(source, namespace), matches)
    if not isinstance(source, QueriesIds):
        raise UserError(
            "This source can neither list IDs nor filter by metadata: stamp mode cannot find records."
        )
    dimension = source.describe().shape.dimension
    if dimension is None:
        raise UserError("Stamp mode on a source that cannot list needs dense vectors to query with.")
    return Matching(
        _queried_ids(source, namespace, metadata_filter, dimension),
        lambda ids: fetch_all(source, namespace, ids),
        sequential=True,
    )


def matching_pages(
    source: Store, namespace: str, metadata_filter: dict[str, Any], stop: threading.Event
) -> Iterator[list[Record]]:
    """Non-empty pages of the records of a namespace that match a filter, one after the other (the caller
    handles each before the next is read)."""
    found = matching(source, namespace, metadata_filter)
    for page in pages(found.next_page, stop):
        records = found.records(page.items)
        if records:
            yield records


def _queried_ids(
    source: QueriesIds, namespace: str, metadata_filter: dict[str, Any], dimension: int
) -> NextPage[str]:
    """A pod-based source: query with the filter until no unseen record matches. Records stamped by the
    caller drop out of the filter, so the queries reach the rest; seen IDs end the sweep for records that
    cannot be stamped (dead letters)."""
    rng = np.random.default_rng()
    seen: set[str] = set()

    def next_page(cursor: str | None) -> Page[str]:
        vector = rng.standard_normal(dimension).astype(np.float32)
        ids = source.query_ids(namespace, top_k=QUERY_TOP_K, vector=vector, metadata_filter=metadata_filter)
        fresh = [i for i in ids if i not in seen]
        seen.update(fresh)
        return Page(fresh, QUERIED if fresh else None)

    return next_page


@dataclass(frozen=True)
class StampOptions:
    copy_stamps: bool = False
    stamps_per_second: float = 100.0
    max_request_records: int | None = None  # None: the target's own limit (see CopyOptions)
    max_request_bytes: int | None = None
    # Batches copied and stamped side by side (halved on 429); None: 4 — the stamps go at stamps_per_second
    # whatever is in flight, so more would only hold more records.
    concurrency: int | None = None
    adaptive: bool = True  # False: a 429 is only retried, the batches in flight stay as many


@dataclass
class _Tally:
    """What one batch did; batches are tallied in the walk's driver thread, in listing order."""

    listed: int = 0
    new: int = 0
    updated: int = 0
    dead: int = 0


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
        self.walker: Walker | None = None  # the pass's, while it runs: its lanes pace each store's calls

    def run(self) -> PassRecord:
        description, namespaces, _ = select(self.request, self.source, needs_listing=False)
        check_target(description, self.target, self.request)
        number = self.state.begin_pass()
        record = PassRecord(number, time.time(), None, "running", 0, 0, 0, 0, 0, None, None)
        try:
            with self._walker() as walker:
                self.walker = walker
                for namespace in namespaces:
                    if self.stop.is_set():
                        break
                    self._namespace(walker, namespace)
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

    def _walker(self) -> AbstractContextManager[Walker]:
        return run_walker(
            (self.source, self.target),
            self.stop,
            concurrency=self.options.concurrency or 4,
            adaptive=self.options.adaptive,
            on_change=_log_change,
            name="stamp",
        )

    def _namespace(self, walker: Walker, namespace: str) -> None:
        found = matching(self.source, namespace, with_filter(self.request.filter, UNSTAMPED))
        route = self.request.route(namespace)
        pacer = Pacer(self.options.stamps_per_second)

        def handle(items: list[Any]) -> _Tally:
            return self._copy_and_stamp(namespace, found.records(items), route, pacer)

        if found.sequential:
            for page in pages(found.next_page, self.stop):
                self._add(handle(page.items))
        else:
            walker.walk(found.next_page, handle, lambda tally, _: self._add(tally))

    def _add(self, tally: _Tally) -> None:
        self.listed += tally.listed
        self.new += tally.new
        self.updated += tally.updated
        self.dead += tally.dead

    def _copy_and_stamp(self, namespace: str, records: list[Record], route: Route, pacer: Pacer) -> _Tally:
        tally = _Tally(listed=len(records))
        copied = self._copy(records, route, tally)
        tally.new = len(copied)
        self._stamp(namespace, copied, pacer)
        self._copy_newer(namespace, copied, route, tally)
        return tally

    def _lane(self, store: Store) -> AdaptiveLimit | None:
        return None if self.walker is None else self.walker.lane(store)

    def _prepared(self, record: Record) -> Record:
        return record if self.options.copy_stamps else strip_stamps(record)

    def _copy(self, records: list[Record], route: Route, tally: _Tally) -> dict[str, Record]:
        """Write records to the target; returns those it acknowledged, by ID."""
        by_target: dict[str, list[Record]] = {}
        for record in records:
            destination, refusal = route(record)
            if destination is None:
                log.warning("dead letter %s: %s", record.id, refusal)
                tally.dead += 1
                continue
            by_target.setdefault(destination, []).append(self._prepared(record))
        copied: dict[str, Record] = {}
        originals = {r.id: r for r in records}
        options = self.options
        for destination, group in by_target.items():
            for written, dead in write_in_batches(
                self.target,
                destination,
                group,
                options.max_request_records,
                options.max_request_bytes,
                lane=self._lane(self.target),
            ):
                tally.dead += len(dead)
                copied.update({r.id: originals[r.id] for r in written})
        return copied

    def _stamp(self, namespace: str, copied: dict[str, Record], pacer: Pacer) -> None:
        stamp = stamp_now()
        for record_id in copied:
            if self.stop.is_set():
                return  # unstamped records are found (and copied, idempotently) by the next pass
            pacer.wait(self.stop)
            self.stamper.update_metadata(namespace, record_id, stamp)

    def _copy_newer(self, namespace: str, copied: dict[str, Record], route: Route, tally: _Tally) -> None:
        """Records the application changed between our copy and our stamp: copy the newer data too."""
        if not copied:
            return
        ignore = frozenset(STAMP_KEYS)
        now = fetch_all(self.source, namespace, list(copied), lane=self._lane(self.source))
        newer = [r for r in now if record_digest(r, ignore) != record_digest(copied[r.id], ignore)]
        if newer:
            log.info("%d record(s) changed in the source while being copied; copying them again", len(newer))
            tally.updated += len(self._copy(newer, route, tally))


def _log_change(old: int, new: int, reason: str) -> None:
    log.info("batches in flight %d -> %d: %s", old, new, reason)


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
            for batch in write_batches(source, clean):
                source.write(namespace, batch)
            removed += len(clean)
            on_progress(namespace, removed)
    return removed
