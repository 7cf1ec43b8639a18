"""Scanning for verify: walk a namespace (list → fetch) with bounded pages in flight, and bucket digests.

A scan lists IDs page by page in one thread (its *driver*) and hands batches of IDs to a shared pool that
fetches them and reduces the records to small results (digests) at once, so the records of at most a few
pages are ever in memory. Results are merged in the driver thread, in page order, so a scan's accumulators
need no lock. Batches are whole list pages, so once a batch is merged, every ID listed before the cursor that
followed it is merged: a scan can be checkpointed there and continued from that cursor later.

Buckets: every record ID falls in one of B buckets by a 64-bit hash of the ID alone (not its contents), so
the same ID lands in the same bucket on both sides; per (target namespace, bucket) both sides keep a count
and a sum of record digests (a :class:`~pinecone_migrator.records.SetDigest` split B ways).
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

import xxhash

from ..records import Record, SetDigest
from ..stores.base import Store

T = TypeVar("T")

_MOD = 1 << 128


def bucket_of(record_id: str, buckets: int) -> int:
    """The bucket of an ID: XXH3-64 of its UTF-8 bytes, modulo the number of buckets."""
    return xxhash.xxh3_64_intdigest(record_id.encode("utf-8")) % buckets


class BucketDigests:
    """Per bucket, how many records and the (unreduced) sum of their digests."""

    __slots__ = ("counts", "totals")

    def __init__(self, buckets: int) -> None:
        self.counts = [0] * buckets
        self.totals = [0] * buckets

    def add_all(self, buckets: list[int], digests: list[int]) -> None:
        counts, totals = self.counts, self.totals
        for bucket, digest in zip(buckets, digests, strict=True):
            counts[bucket] += 1
            totals[bucket] += digest

    def merge(self, other: BucketDigests) -> None:
        for bucket, count in enumerate(other.counts):
            if count:
                self.counts[bucket] += count
                self.totals[bucket] += other.totals[bucket]

    def total(self) -> SetDigest:
        return SetDigest(count=sum(self.counts), total=sum(self.totals) % _MOD)

    def differing(self, other: BucketDigests) -> list[int]:
        """Buckets whose count or digest differs from ``other``'s."""
        return [
            b
            for b, (mine, theirs) in enumerate(zip(self.counts, other.counts, strict=True))
            if mine != theirs or (self.totals[b] - other.totals[b]) % _MOD
        ]


@dataclass
class ScanOutcome:
    complete: bool  # the listing reached its end (False when stopped)
    listed: int  # IDs listed, before any ID filter


@dataclass(frozen=True)
class ScanStart:
    """Where a scan continues: the cursor after the last merged batch and the IDs listed before it."""

    cursor: str | None
    listed: int


# (cursor up to which every ID is merged, IDs listed before it, whether the listing reached its end)
ScanCheckpoint = Callable[[str | None, int, bool], None]


class Halted(Exception):
    """Another scan failed: this one stops at once (the failure itself is raised by its own scan)."""


class Scanner:
    """Runs namespace scans sharing one fetch pool; at most ``in_flight`` batches per scan at a time."""

    def __init__(
        self,
        fetch_pool: ThreadPoolExecutor,
        *,
        in_flight: int,
        page_size: int,
        fetch_size: int,
        stop: threading.Event,
        checkpoint_seconds: float = 2.0,
    ) -> None:
        self.pool = fetch_pool
        self.in_flight = max(1, in_flight)
        self.page_size = page_size
        self.fetch_size = max(1, fetch_size)
        self.stop = stop
        self.halt = threading.Event()  # set when any scan fails
        self.checkpoint_seconds = checkpoint_seconds

    def stopping(self) -> bool:
        return self.stop.is_set() or self.halt.is_set()

    def scan(
        self,
        store: Store,
        namespace: str,
        handle: Callable[[list[Record]], T],
        merge: Callable[[T], None],
        keep_id: Callable[[str], bool] | None = None,
        *,
        prefix: str = "",
        start: ScanStart | None = None,
        on_checkpoint: ScanCheckpoint | None = None,
    ) -> ScanOutcome:
        """List ``namespace`` to its end (or until stopped), fetch the IDs ``keep_id`` keeps, ``handle`` each
        fetched batch in the pool and ``merge`` its result here, in listing order.

        ``prefix`` limits the scan to the IDs starting with it (one shard). ``start`` continues an earlier
        scan whose results are merged already. ``on_checkpoint(cursor, listed, complete)`` is called after
        merges (at most every :attr:`checkpoint_seconds`, and once at the end unless the scan failed or
        merged nothing) with the cursor up to which every ID is merged."""
        pending: deque[tuple[Future[T], str | None, int]] = deque()  # with the cursor and count after it
        batch: list[str] = []
        cursor, listed = (start.cursor, start.listed) if start is not None else (None, 0)
        merged = started = (cursor, listed)
        last_checkpoint = time.monotonic()
        complete = False

        def work(ids: list[str]) -> T:
            if self.halt.is_set():
                raise Halted
            return handle(store.fetch(namespace, ids))

        def merge_oldest() -> None:
            nonlocal merged, last_checkpoint
            future, after, count = pending.popleft()
            merge(future.result())
            merged = (after, count)
            due = time.monotonic() - last_checkpoint >= self.checkpoint_seconds
            if on_checkpoint is not None and due and after is not None:  # the end is saved as complete
                on_checkpoint(after, count, False)
                last_checkpoint = time.monotonic()

        def submit(ids: list[str]) -> None:
            while len(pending) >= self.in_flight:
                merge_oldest()
            # A batch holds whole list pages: once merged, everything before ``cursor`` is.
            pending.append((self.pool.submit(work, ids), cursor, listed))

        try:
            while not self.stopping():
                page = store.list_ids(namespace, prefix=prefix, cursor=cursor, limit=self.page_size)
                listed += len(page.ids)
                batch.extend(page.ids if keep_id is None else filter(keep_id, page.ids))
                cursor = page.cursor
                if len(batch) >= self.fetch_size or (cursor is None and batch):
                    submit(batch)
                    batch = []
                if cursor is None:
                    complete = True
                    break
            while pending:
                merge_oldest()
            if on_checkpoint is not None and complete:  # all listed is merged, whatever halted others since
                on_checkpoint(None, listed, True)
            elif on_checkpoint is not None and merged != started:
                on_checkpoint(*merged, False)
        except BaseException:
            self.halt.set()
            for future, _, _ in pending:
                future.cancel()
            raise
        return ScanOutcome(complete=complete and not self.halt.is_set(), listed=listed)


class ScanGroup:
    """Scans run side by side (one driver thread each); the first failure halts the others and is raised."""

    def __init__(self, drivers: ThreadPoolExecutor, scanner: Scanner) -> None:
        self.drivers = drivers
        self.scanner = scanner
        self.futures: list[Future[Any]] = []

    def start(self, job: Callable[..., T], *args: Any) -> Future[T]:
        future = self.drivers.submit(job, *args)
        self.futures.append(future)
        return future

    def wait(self) -> None:
        """Wait for every job started; re-raise the first real failure (not a :class:`Halted`)."""
        failure: BaseException | None = None
        for future in self.futures:
            try:
                future.result()
            except Halted:
                continue
            except BaseException as error:  # kept, and re-raised once the others have stopped
                self.scanner.halt.set()
                if failure is None:
                    failure = error
        self.futures = []
        if failure is not None:
            raise failure
