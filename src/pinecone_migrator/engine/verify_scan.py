"""Scanning for verify: walk a namespace (list → fetch) with bounded pages in flight, and bucket digests.

A scan lists IDs page by page in one thread (its *driver*) and hands batches of IDs to a shared pool that
fetches them and reduces the records to small results (digests) at once, so the records of at most a few
pages are ever in memory. Results are merged in the driver thread, in page order, so a scan's accumulators
need no lock.

Buckets: every record ID falls in one of B buckets by a 64-bit hash of the ID alone (not its contents), so
the same ID lands in the same bucket on both sides; per (target namespace, bucket) both sides keep a count
and a sum of record digests (a :class:`~pinecone_migrator.records.SetDigest` split B ways).
"""

from __future__ import annotations

import threading
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

    def set_bucket(self, bucket: int, digest: SetDigest) -> None:
        self.counts[bucket] = digest.count
        self.totals[bucket] = digest.total

    def bucket(self, bucket: int) -> SetDigest:
        return SetDigest(count=self.counts[bucket], total=self.totals[bucket] % _MOD)

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
    ) -> None:
        self.pool = fetch_pool
        self.in_flight = max(1, in_flight)
        self.page_size = page_size
        self.fetch_size = max(1, fetch_size)
        self.stop = stop
        self.halt = threading.Event()  # set when any scan fails

    def stopping(self) -> bool:
        return self.stop.is_set() or self.halt.is_set()

    def scan(
        self,
        store: Store,
        namespace: str,
        handle: Callable[[list[Record]], T],
        merge: Callable[[T], None],
        keep_id: Callable[[str], bool] | None = None,
    ) -> ScanOutcome:
        """List ``namespace`` to its end (or until stopped), fetch the IDs ``keep_id`` keeps, ``handle`` each
        fetched batch in the pool and ``merge`` its result here, in listing order."""
        pending: deque[Future[T]] = deque()
        batch: list[str] = []
        cursor: str | None = None
        listed = 0
        complete = False

        def work(ids: list[str]) -> T:
            if self.halt.is_set():
                raise Halted
            return handle(store.fetch(namespace, ids))

        def submit(ids: list[str]) -> None:
            while len(pending) >= self.in_flight:
                merge(pending.popleft().result())
            pending.append(self.pool.submit(work, ids))

        try:
            while not self.stopping():
                page = store.list_ids(namespace, cursor=cursor, limit=self.page_size)
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
                merge(pending.popleft().result())
        except BaseException:
            self.halt.set()
            for future in pending:
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
