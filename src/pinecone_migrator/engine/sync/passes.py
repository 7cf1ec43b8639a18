"""Continuous sync in ledger mode: each pass brings the target up to date with the source; never writes to it.

A pass lists every selected source namespace. IDs the state does not know are fetched and copied; with
``detect_updates`` known IDs are fetched too and copied when their digest changed; with ``updated_field``
only records whose field is above the last pass's watermark are fetched (``fetch_by_metadata``). The first
pass of a new state compares with the target before writing (a migrate may have copied the bulk already).
With ``propagate_deletes``, IDs the listing no longer shows are deleted from the target once every
namespace was listed — unless there are more of them than ``max_delete_fraction`` of what the state knows:
an empty or broken listing must never wipe a target, so such a pass asks (``confirm_deletes``) and, without
a yes, deletes nothing.

Listings and ``fetch_by_metadata`` pages are walked as migrate walks them (:mod:`.walk`): batches are handled
in a pool the pass shares, whose adaptive limit halves when either store answers 429, and their counts are
merged in order by the walking thread.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import partial

from ...errors import UserError
from ...filters import MetadataPredicate
from ...records import STAMP_KEYS, Record, digest_bytes
from ...stores.base import Store, fetches_by_metadata
from ..ledger import Ledger
from ..migrate.copy import Route
from ..migrate.target import check_target, inspect_target, select
from ..pacing import AdaptiveLimit, paced
from ..request import MigrationRequest
from ..walk import (
    Position,
    Walker,
    batch_ids,
    fetch_all,
    id_pages,
    listing,
    metadata_listing,
    run_walker,
)
from ..writes import delete_batches, write_in_batches
from .state import Known, PassRecord, SyncState

log = logging.getLogger("pinecone_migrator.sync")


@dataclass(frozen=True)
class SyncOptions:
    """How a sync pass works. ``adaptive``: a 429 from either store halves the pages in flight, as in
    migrate; False keeps ``concurrency`` whatever the stores answer, which exists so that a test can compare
    the requests sent with and without adaptation."""

    detect_updates: bool = False
    updated_field: str | None = None  # numeric metadata field the application raises on every write
    propagate_deletes: bool = False
    max_delete_fraction: float = 0.05
    # --updated-field: how far behind the pass's start the next pass looks again. Writes made while a pass
    # scans (behind its cursor), clock skew between the application and us, and writes not yet visible
    # (Pinecone is eventually consistent) all carry values below the highest one a pass saw; re-reading this
    # window catches them, and unchanged records cost a read, not a write.
    lookback_seconds: float = 30.0
    metadata_page: int = 1_000  # records per fetch_by_metadata page
    interval_seconds: float = 30.0
    page_size: int = 100
    fetch_size: int | None = None  # IDs per fetch; None: as many as the source takes (up to 1,000)
    concurrency: int | None = None  # None: automatic, as in migrate (see CopyOptions)
    max_request_records: int | None = None  # None: the target's own limit (see CopyOptions)
    max_request_bytes: int | None = None
    adaptive: bool = True


@dataclass
class _Counts:
    """What a pass (or one batch of it) found and did; batches' counts merge in the walk's driver thread."""

    new: int = 0
    updated: int = 0
    dead: int = 0
    listed: int = 0
    oldest_change: float | None = None  # smallest --updated-field value copied (for the lag)

    def add(self, other: _Counts) -> None:
        self.new += other.new
        self.updated += other.updated
        self.dead += other.dead
        self.listed += other.listed
        if other.oldest_change is not None:
            old = self.oldest_change
            self.oldest_change = other.oldest_change if old is None else min(old, other.oldest_change)


def _concurrency_changed(old: int, new: int, reason: str) -> None:
    log.info("concurrency %d -> %d (%s)", old, new, reason)


def _numbers(records: list[Record], field_name: str) -> list[float]:
    values = [r.metadata.get(field_name) for r in records]
    return [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]


class SyncPass:
    """One pass over every selected namespace."""

    def __init__(
        self,
        request: MigrationRequest,
        options: SyncOptions,
        source: Store,
        target: Store,
        state: SyncState,
        stop: threading.Event,
        confirm_deletes: Callable[[int, int], bool],
    ) -> None:
        self.request = request
        self.options = options
        self.source = source
        self.target = target
        self.state = state
        self.stop = stop
        self.confirm_deletes = confirm_deletes
        self.counts = _Counts()
        self.number = 0
        self.baseline = False
        self.predicate: MetadataPredicate | None = None
        self.started = 0.0
        self.known_at_start = 0
        self.deleted = 0
        self.delete_approved = False
        self.guard_note: str | None = None

    def run(self) -> PassRecord:
        description, namespaces, self.predicate = select(self.request, self.source)
        check_target(description, self.target, self.request)
        if self.options.updated_field and fetches_by_metadata(self.source) is None:
            raise UserError(
                "--updated-field needs a source that filters by metadata (fetch_by_metadata); "
                "use --detect-updates instead."
            )
        self.known_at_start = self.state.count()
        self.baseline = self.known_at_start == 0
        self.number = self.state.begin_pass()
        started = self.started = time.time()
        record = PassRecord(self.number, started, None, "running", 0, 0, 0, 0, 0, None, None)
        try:
            sizes = [description.namespace_counts.get(ns) or 0 for ns in namespaces]
            typical = max(1, sum(sizes) // len(sizes)) if any(sizes) else None
            with self._walking(description.shape.dimension, typical) as walker:
                for namespace in namespaces:
                    if self.stop.is_set():
                        break
                    self._namespace(namespace, walker)
            complete = not self.stop.is_set()
            if complete and not self.request.namespaces:
                # every namespace is selected: one that vanished from the source altogether counts too
                for namespace in sorted(set(self.state.known_namespaces()) - set(namespaces)):
                    self._delete_vanished(namespace)
            record.state = "done" if complete else "stopped"
            if self.guard_note is not None:
                record.state, record.note = "guarded", self.guard_note
        except BaseException as error:
            record.state, record.note = "failed", str(error)
            raise
        finally:
            counts = self.counts
            record.new, record.updated, record.dead, record.listed = (
                counts.new, counts.updated, counts.dead, counts.listed,
            )  # fmt: skip
            record.deleted = self.deleted
            if counts.oldest_change is not None:
                record.lag_seconds = max(0.0, started - counts.oldest_change)
            record.finished = time.time()
            self.state.end_pass(record)
        return record

    def _walking(self, dimension: int | None, typical: int | None) -> AbstractContextManager[Walker]:
        """The pass's walker: one pool, and each store's calls in flight adapting to what it answers (a 429
        halves them). Batches gather list pages up to one fetch (1,000 IDs)."""
        options = self.options
        return run_walker(
            (self.source, self.target),
            self.stop,
            concurrency=options.concurrency,
            adaptive=options.adaptive,
            on_change=_concurrency_changed,
            name="sync",
            batch_size=options.fetch_size or batch_ids(self.source, dimension, options.page_size),
            dimension=dimension,
            typical_batch=typical,
        )

    def _merge(self, counts: _Counts, _: Position) -> None:
        self.counts.add(counts)

    # -- one namespace ------------------------------------------------------------------------------------

    def _namespace(self, namespace: str, walker: Walker) -> None:
        route = self.request.route(namespace)
        ids = listing(self.source, namespace, page_size=self.options.page_size)
        outcome = walker.walk(ids, partial(self._page, namespace, route, walker), self._merge)
        if not outcome.complete or self.stop.is_set():
            return
        # Deletes right after the namespace's own complete listing: a delete waits one pass, not two.
        self._delete_vanished(namespace)
        if self.options.updated_field:
            self._changed_since_watermark(namespace, route, walker)

    def _page(self, namespace: str, route: Route, walker: Walker, ids: list[str]) -> _Counts:
        known = self.state.known(namespace, ids)
        self.state.mark_seen(namespace, known, self.number)
        wanted = ids if self.options.detect_updates else [i for i in ids if i not in known]
        source = self.source
        records = fetch_all(source, namespace, wanted, lane=walker.lane(source)) if wanted else []
        _, counts = self._copy(namespace, records, known, route, walker)
        counts.listed = len(ids)
        return counts

    def _changed_since_watermark(self, namespace: str, route: Route, walker: Walker) -> None:
        evaluator = fetches_by_metadata(self.source)
        field_name = self.options.updated_field
        assert evaluator is not None and field_name
        mark = self.state.watermark(namespace)
        horizon = self.started - self.options.lookback_seconds
        if mark is None:  # first pass: its listing copies every record; changes count from here on
            self.state.set_watermark(namespace, horizon)
            return
        highest = mark

        def merge(found: tuple[_Counts, float | None], _: Position) -> None:
            nonlocal highest
            counts, seen = found
            self.counts.add(counts)
            if seen is not None:
                highest = max(highest, seen)

        changes = metadata_listing(
            evaluator, namespace, {field_name: {"$gt": mark}}, page_size=self.options.metadata_page
        )
        outcome = walker.walk(changes, partial(self._changes, namespace, route, field_name, walker), merge)
        if outcome.complete and not self.stop.is_set():
            self.state.set_watermark(namespace, max(mark, min(highest, horizon)))

    def _changes(
        self, namespace: str, route: Route, field_name: str, walker: Walker, records: list[Record]
    ) -> tuple[_Counts, float | None]:
        """Copy the records found above the watermark that did change; the highest value they carry."""
        known = self.state.known(namespace, [r.id for r in records])
        changed, counts = self._copy(namespace, records, known, route, walker)
        counts.oldest_change = min(_numbers(changed, field_name), default=None)
        return counts, max(_numbers(records, field_name), default=None)

    def _copy(
        self, namespace: str, records: list[Record], known: dict[str, Known], route: Route, walker: Walker
    ) -> tuple[list[Record], _Counts]:
        """Copy what is new or changed (and selected): those records (placed or not) and the counts."""
        predicate = self.predicate
        counts = _Counts()
        changed: list[Record] = []
        by_target: dict[str, list[tuple[Record, bytes, bool]]] = {}
        moved: dict[str, list[str]] = {}
        for record in records:
            if predicate is not None and not predicate(record.metadata):
                continue
            digest = digest_bytes(record)
            before = known.get(record.id)
            if before is not None and before.digest == digest:
                continue
            changed.append(record)
            destination, refusal = route(record)
            if destination is None:
                log.warning("dead letter %s/%s: %s", namespace, record.id, refusal)
                counts.dead += 1
                continue
            if before is not None and before.target_ns != destination:
                moved.setdefault(before.target_ns, []).append(record.id)
            by_target.setdefault(destination, []).append((record, digest, before is not None))
        lane = walker.lane(self.target)
        for destination, entries in by_target.items():
            if self.baseline:
                entries = self._differing(destination, entries, namespace, lane)
            counts.add(self._write(namespace, destination, entries, lane))
        for old_namespace, ids in moved.items():  # a metadata-routed record changed its namespace
            for chunk in delete_batches(self.target, ids):
                with paced(lane, len(chunk)):
                    self.target.delete(old_namespace, chunk)
        return changed, counts

    def _differing(
        self,
        destination: str,
        entries: list[tuple[Record, bytes, bool]],
        namespace: str,
        lane: AdaptiveLimit | None,
    ) -> list[tuple[Record, bytes, bool]]:
        """First pass: leave out what the target already holds equal (remembered as copied)."""
        held = fetch_all(self.target, destination, [r.id for r, _, _ in entries], lane=lane)
        there = {r.id: digest_bytes(r) for r in held}
        same = [(r.id, destination, d) for r, d, _ in entries if there.get(r.id) == d]
        if same:
            self.state.remember(namespace, same, self.number)
        return [(r, d, u) for r, d, u in entries if there.get(r.id) != d]

    def _write(
        self,
        namespace: str,
        destination: str,
        entries: list[tuple[Record, bytes, bool]],
        lane: AdaptiveLimit | None,
    ) -> _Counts:
        counts = _Counts()
        if not entries:
            return counts
        digests = {r.id: (d, updated) for r, d, updated in entries}
        options = self.options
        records = [r for r, _, _ in entries]
        for written, dead in write_in_batches(
            self.target,
            destination,
            records,
            options.max_request_records,
            options.max_request_bytes,
            lane=lane,
        ):
            done = [r.id for r in written]
            self.state.remember(namespace, [(i, destination, digests[i][0]) for i in done], self.number)
            updated = sum(1 for i in done if digests[i][1])
            counts.add(_Counts(new=len(done) - updated, updated=updated, dead=len(dead)))
            for record_id, _, reason in dead:
                log.warning("dead letter %s/%s: %s", namespace, record_id, reason)
        return counts

    # -- deletes ------------------------------------------------------------------------------------------

    def _delete_vanished(self, namespace: str) -> None:
        """Delete from the target what this pass's complete listing of ``namespace`` no longer showed —
        unless, with what the pass already deleted, that exceeds ``max_delete_fraction`` of the records
        known at its start and nobody agrees; then the pass deletes nothing more and says why."""
        if not self.options.propagate_deletes or self.guard_note is not None:
            return
        gone = self.state.unseen(namespace, self.number)
        if not gone:
            return
        known = max(self.known_at_start, 1)
        total = self.deleted + len(gone)
        if not self.delete_approved and total > self.options.max_delete_fraction * known:
            if not self.confirm_deletes(total, known):
                self.guard_note = (
                    f"{total:,} of {known:,} copied records are gone from the source listing (more than "
                    f"{self.options.max_delete_fraction:.0%}); deleted nothing more. If that is right, run "
                    "with --yes or a higher --max-delete-fraction."
                )
                return
            self.delete_approved = True
        by_target: dict[str, list[str]] = {}
        for record_id, destination in gone:
            by_target.setdefault(destination, []).append(record_id)
        for destination, ids in by_target.items():
            for chunk in delete_batches(self.target, ids):
                self.target.delete(destination, chunk)
                self.state.drop(namespace, chunk)
                self.deleted += len(chunk)


def strip_stamps(record: Record) -> Record:
    """The record without the stamp keys the tool writes into a source."""
    if not STAMP_KEYS & record.metadata.keys():
        return record
    metadata = {k: v for k, v in record.metadata.items() if k not in STAMP_KEYS}
    return Record(record.id, record.values, record.sparse, metadata)


UPDATED_FIELD_SAMPLE = 100  # records per namespace read to check --updated-field before the first pass


def check_sync(
    request: MigrationRequest, options: SyncOptions, source: Store, target: Store, *, stamping: bool
) -> None:
    """Everything that can refuse a sync, before its state file is written or a target created: the
    selection, the target (not the source itself, compatible, creatable), --updated-field's values."""
    description, namespaces, _ = select(request, source, needs_listing=False)
    inspect_target(description, target, request)
    Ledger.check_binding(request.ledger_path(), request.fingerprint(), request.restart, only_keys=True)
    if options.updated_field and not stamping and source.capabilities().can_list:
        for namespace in namespaces:
            _check_updated_field(source, namespace, options.updated_field)


def _check_updated_field(source: Store, namespace: str, field_name: str) -> None:
    """A watermark only moves over numbers: a field holding text (an ISO-8601 date, say) or missing from
    every record could never show an update, and the target would silently go stale."""
    ids = next(id_pages(source, namespace, page_size=UPDATED_FIELD_SAMPLE), [])
    if not ids:
        return
    values = [record.metadata.get(field_name) for record in fetch_all(source, namespace, ids)]
    present = [value for value in values if value is not None]
    wrong = [value for value in present if isinstance(value, bool) or not isinstance(value, (int, float))]
    fix = (
        f"The application must write a number into {field_name!r} on every write (Unix time in seconds, "
        "e.g. time.time()); otherwise use --detect-updates, which compares digests."
    )
    if wrong:
        raise UserError(
            f"--updated-field {field_name}: namespace {namespace!r} holds values that are not numbers "
            f"(e.g. {wrong[0]!r}), so no update could ever be detected. {fix}"
        )
    if not present:
        raise UserError(
            f"--updated-field {field_name}: none of the first {len(ids)} records of namespace {namespace!r} "
            f"has that field, so no update could ever be detected. {fix}"
        )


def follow(
    run_pass: Callable[[], PassRecord],
    options: SyncOptions,
    stop: threading.Event,
    once: bool,
    on_pass: Callable[[PassRecord], None],
    on_error: Callable[[Exception], None],
) -> PassRecord | None:
    """Pass after pass every ``interval_seconds`` until stopped (or one pass with ``once``). In follow mode a
    pass that fails (the remote is down after all retries) is reported and the next one tries again; a
    guarded pass (too many deletes) ends the sync, since nobody said yes."""
    from ...errors import RemoteError

    last: PassRecord | None = None
    while not stop.is_set():
        try:
            last = run_pass()
        except RemoteError as error:
            if once:
                raise
            on_error(error)
        else:
            on_pass(last)
            if once or last.state == "guarded":
                return last
        stop.wait(options.interval_seconds)
    return last
