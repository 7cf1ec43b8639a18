"""The one walk: list → fetch → handle → ordered merge, over any store, with bounded pages in flight.

Every command that reads a namespace walks it the same way. A *driver* thread pages through an enumeration
(IDs from ``list_ids``, or records from ``fetch_by_metadata``), gathers whole pages into batches and hands
each batch to a shared pool, where ``handle`` turns it into a small result (a copy acknowledgement, bucket
digests, records found new). Results are merged back in the driver thread, in page order, so a walk's
accumulators need no lock, and since a batch holds whole pages, once it is merged every item listed before
the cursor that followed it is merged: a ledger or checkpoint can be moved there and a later walk continued
from that cursor.

How many batches are in flight is bounded twice: per walk (memory stays a few pages, whatever the size of
the namespace), and by an :class:`~pinecone_migrator.engine.pacing.AdaptiveLimit` that every walk of one
run shares and that halves when a store answers 429 (:func:`slowed_by_throttling`), so copy, sync, verify,
repair and stamping all slow down the same way.

For the small sequential reads (a plan's sample, a demo's listing, a search check) :func:`id_pages`,
:func:`record_pages` and :func:`matching_pages` walk one page at a time over the same enumerations.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from ..records import Record
from ..stores.base import FetchesByMetadata, ReportsThrottling, Store
from .pacing import AdaptiveLimit, ChangeListener, Lanes, RecordBudget, paced

Item = TypeVar("Item")  # what an enumeration yields: IDs (str) or records
Result = TypeVar("Result")


@dataclass(frozen=True)
class Page(Generic[Item]):
    items: list[Item]
    cursor: str | None  # pass back to continue; None once the enumeration is complete


# The next page of an enumeration, from the cursor the last one returned (None: the first page).
NextPage = Callable[[str | None], Page[Item]]


def listing(store: Store, namespace: str, *, prefix: str = "", page_size: int = 100) -> NextPage[str]:
    """Pages of IDs from ``list_ids``, no larger than the store allows."""
    limit = max(1, min(page_size, store.capabilities().max_list_page))

    def next_page(cursor: str | None) -> Page[str]:
        page = store.list_ids(namespace, prefix=prefix, cursor=cursor, limit=limit)
        return Page(page.ids, page.cursor)

    return next_page


def metadata_listing(
    store: FetchesByMetadata, namespace: str, metadata_filter: dict[str, Any], *, page_size: int = 100
) -> NextPage[Record]:
    """Pages of the records that match a filter, evaluated by the store (``fetch_by_metadata``)."""

    def next_page(cursor: str | None) -> Page[Record]:
        page = store.fetch_by_metadata(namespace, metadata_filter, cursor=cursor, limit=page_size)
        return Page(page.records, page.cursor)

    return next_page


def fetch_size(store: Store, wanted: int) -> int:
    """IDs per fetch: what the caller wants, no more than the store takes in one request."""
    return max(1, min(wanted, store.capabilities().max_fetch_ids))


def fetch_all(
    store: Store,
    namespace: str,
    ids: Sequence[str],
    per_request: int | None = None,
    *,
    lane: AdaptiveLimit | None = None,
) -> list[Record]:
    """The records of ``ids`` (those that exist), fetched in requests the store accepts (the IDs of several
    list pages in one request, up to its ``max_fetch_ids``); each request holds a slot of ``lane``."""
    step = fetch_size(store, per_request or len(ids) or 1)
    found: list[Record] = []
    for start in range(0, len(ids), step):
        chunk = ids[start : start + step]
        with paced(lane, len(chunk)):
            found += store.fetch(namespace, chunk)
    return found


def fetching(
    store: Store,
    namespace: str,
    handle: Callable[[list[Record]], Result],
    *,
    lane: AdaptiveLimit | None = None,
) -> Callable[[list[str]], Result]:
    """A batch handler for listed IDs: fetch the records, then ``handle`` them (nothing is fetched for an
    empty batch)."""

    def fetch_then_handle(ids: list[str]) -> Result:
        return handle(fetch_all(store, namespace, ids, lane=lane) if ids else [])

    return fetch_then_handle


@dataclass(frozen=True)
class Position:
    """Where a walk stands: every item listed before ``cursor`` is merged; ``listed`` items were listed
    (before any ``keep`` filter) up to there, counting those of the walk it continues."""

    cursor: str | None
    listed: int


@dataclass(frozen=True)
class WalkOutcome:
    complete: bool  # the enumeration reached its end (False when stopped or halted)
    listed: int


# (position up to which everything is merged, whether the enumeration reached its end)
Checkpoint = Callable[[Position, bool], None]


class Halted(Exception):
    """Another walk of its group failed: this one stops at once (the failure is raised by its own walk)."""


class Walker:
    """Runs walks that share one pool, one stop signal and one adaptive limit on the batches in flight.

    ``in_flight`` bounds each walk (memory); ``limit`` bounds all of them together and shrinks on 429.
    ``batch_size`` is how many kept items a batch gathers (whole pages, so a batch may hold more)."""

    def __init__(
        self,
        pool: ThreadPoolExecutor,
        *,
        limit: AdaptiveLimit,
        stop: threading.Event,
        in_flight: int | None = None,
        batch_size: int = 100,
        checkpoint_seconds: float = 2.0,
        lanes: Lanes | None = None,
        budget: RecordBudget | None = None,
    ) -> None:
        self.pool = pool
        self.limit = limit
        self.budget = budget  # records in flight (memory), besides the batches the limit allows
        self.stop = stop
        self.in_flight = max(1, in_flight if in_flight is not None else limit.maximum)
        self.batch_size = max(1, batch_size)
        self.checkpoint_seconds = checkpoint_seconds
        self.lanes = lanes
        self.halt = threading.Event()  # set when any walk fails

    def stopping(self) -> bool:
        return self.stop.is_set() or self.halt.is_set()

    def _finished(self, weight: int) -> None:
        self.limit.release()
        if self.budget is not None:
            self.budget.release(weight)

    def lane(self, store: Store) -> AdaptiveLimit | None:
        """The limit on calls in flight to ``store`` (None: the store is not one of the run's)."""
        return None if self.lanes is None else self.lanes.of(store)

    def walk(
        self,
        next_page: NextPage[Item],
        handle: Callable[[list[Item]], Result],
        merge: Callable[[Result, Position], None],
        *,
        keep: Callable[[Item], bool] | None = None,
        start: Position | None = None,
        on_checkpoint: Checkpoint | None = None,
        every_page: bool = False,
    ) -> WalkOutcome:
        """Enumerate to the end (or until stopped), ``handle`` each batch of kept items in the pool and
        ``merge`` its result here, in enumeration order, with the position it reaches.

        ``start`` continues an earlier walk whose results are merged already. ``every_page`` hands each page
        over on its own, empty ones too; otherwise pages are gathered until a batch holds ``batch_size``
        kept items (the IDs of several list pages fetched in one request), empty pages are merged into the
        next batch and only the end of the enumeration is handed over empty. When the listing fails, the
        pages gathered before the failure are still handed over and merged. ``on_checkpoint`` is called
        after merges, at most every :attr:`checkpoint_seconds`, and once at the end (complete) or where a
        stopped walk got to; not after a failure. When the enumeration fails, the batches already handled
        are merged before the failure is raised; a failed batch is never merged past."""
        pending: deque[tuple[Future[Result], Position]] = deque()
        batch: list[Item] = []
        position = start or Position(None, 0)
        merged = started = position
        last_checkpoint = time.monotonic()
        complete = False

        def work(items: list[Item]) -> Result:
            if self.halt.is_set():
                raise Halted
            return handle(items)

        def merge_oldest(checkpoint: bool = True) -> None:
            nonlocal merged, last_checkpoint
            future, after = pending[0]
            result = future.result()  # a failure raises here and the failed batch stays unmerged
            pending.popleft()
            merge(result, after)
            merged = after
            due = checkpoint and time.monotonic() - last_checkpoint >= self.checkpoint_seconds
            if on_checkpoint is not None and due and after.cursor is not None:  # the end is saved as complete
                on_checkpoint(after, False)
                last_checkpoint = time.monotonic()

        def submit(items: list[Item]) -> bool:
            while len(pending) >= self.in_flight:
                merge_oldest()
            weight = max(1, len(items))
            if self.budget is not None and not self.budget.acquire(weight, self.stop):
                return False
            if not self.limit.acquire(self.stop):
                if self.budget is not None:
                    self.budget.release(weight)
                return False
            future = self.pool.submit(work, items)
            future.add_done_callback(lambda _: self._finished(weight))
            pending.append((future, position))
            # Merged only once the new batch is on its way: a merge (a ledger commit) never delays it.
            while pending and pending[0][0].done():
                merge_oldest()
            return True

        def settle() -> None:
            """After a failed listing: the batches that finished still merge, in order, up to one that did
            not (what was copied before the failure is not done again)."""
            while pending and not pending[0][0].cancelled() and pending[0][0].exception() is None:
                merge_oldest(checkpoint=False)

        listing_failed = False
        try:
            while not self.stopping():
                try:
                    page = next_page(position.cursor)
                except BaseException:
                    listing_failed = True
                    if batch and not self.stopping() and submit(batch):
                        # listed before the failure: handled and merged, so a retry need not list it again
                        batch = []
                        for future, _ in pending:
                            future.exception()
                    raise
                batch.extend(page.items if keep is None else filter(keep, page.items))
                position = Position(page.cursor, position.listed + len(page.items))
                end = page.cursor is None
                if every_page or end or len(batch) >= self.batch_size:
                    if not submit(batch):
                        position = merged  # the page was listed but not handed over: not merged
                        break
                    batch = []
                if end:
                    complete = True
                    break
            while pending:
                merge_oldest()
            if on_checkpoint is not None and complete:
                on_checkpoint(merged, True)
            elif on_checkpoint is not None and merged != started:
                on_checkpoint(merged, False)
        except BaseException:
            self.halt.set()
            for future, _ in pending:
                future.cancel()
            for future, _ in pending:  # in-flight batches finish before the caller's resources close
                if not future.cancelled():
                    future.exception()
            if listing_failed:
                settle()
            raise
        return WalkOutcome(complete=complete and not self.halt.is_set(), listed=merged.listed)


class WalkGroup:
    """Walks run side by side (one driver thread each); the first failure halts the others and is raised."""

    def __init__(self, drivers: ThreadPoolExecutor, walker: Walker) -> None:
        self.drivers = drivers
        self.walker = walker
        self.futures: list[Future[Any]] = []

    def start(self, job: Callable[..., Result], *args: Any) -> Future[Result]:
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
                self.walker.halt.set()
                if failure is None:
                    failure = error
        self.futures = []
        if failure is not None:
            raise failure


@contextmanager
def slowed_by_throttling(
    limit: AdaptiveLimit, *stores: Store, adaptive: bool = True
) -> Iterator[AdaptiveLimit]:
    """While inside, every 429 any of ``stores`` reports halves ``limit`` (see :class:`AdaptiveLimit`).
    ``adaptive`` False: nothing is wired and the limit never shrinks (to measure what adaptation saves)."""
    throttling = [store for store in stores if adaptive and isinstance(store, ReportsThrottling)]
    for store in throttling:
        store.set_throttle_listener(limit.throttled)
    try:
        yield limit
    finally:
        for store in throttling:
            store.set_throttle_listener(None)


# Records the batches in flight may hold, all walks of a run together. A fetched record costs far more than
# its float32 values: the decoded record (tracemalloc over a 1,000-ID fetch through the REST store, ~1 KB of
# metadata: 18 KB held, 27 KB at the peak of decoding, at dimension 768), and the JSON parser of the thread
# that fetched it keeps its capacity for the largest response it saw (one per pool thread, outside Python's
# allocator). Measured as migrate's peak RSS at dimension 768, 25,000 records, batches of 1,000: 247 MB with
# 2 in flight, 351 MB with 4, 454 MB with 5 — ~50 MB a batch over a ~150 MB base; the old 4 pages of 100:
# 147 MB at 100,000 records. Counted as 64 bytes a value + 6 KB a record: 64 MB hold ~1,200 records at
# dimension 768, ~6,400 at 64. Every batch in flight may hold its records (fetched, waiting for a write
# slot), so this bounds them whatever the lanes do; the threads (and their parsers) are as many as batches
# of the run's typical size fit.
RECORDS_MEMORY_BYTES = 64 * 1024 * 1024
# Batches in flight when nobody says, at most: enough for ~80 ms round trips with small batches (Little's law
# at ~5,000 records/s with 50-record namespaces is ~16-32).
AUTOMATIC_MAX_BATCHES = 64


def record_footprint(dimension: int | None) -> int:
    """Bytes one fetched record costs while it is in flight (see RECORDS_MEMORY_BYTES)."""
    return 64 * (dimension or 1_536) + 6_000


def records_in_memory(dimension: int | None) -> int:
    """How many fetched records the memory budget holds at once, all batches together."""
    return max(1, RECORDS_MEMORY_BYTES // record_footprint(dimension))


def batches_in_memory(batch_records: int, dimension: int | None) -> int:
    """How many batches of ``batch_records`` the memory budget holds at once (2 to 64)."""
    fits = records_in_memory(dimension) // max(1, batch_records)
    return max(2, min(AUTOMATIC_MAX_BATCHES, fits))


COALESCED_IDS = 1_000  # IDs per fetch when a walk gathers list pages: Pinecone's most, 10 pages of 100


def batch_ids(store: Store, dimension: int | None, page_size: int = 100) -> int:
    """IDs per batch of a walk that fetches by ID: as many as one fetch of ``store`` takes (up to
    :data:`COALESCED_IDS`, so that fetches cost one request per 1,000 IDs instead of one per list page),
    fewer when records are so large that the memory budget would not hold three such batches."""
    most = fetch_size(store, COALESCED_IDS)
    fits = records_in_memory(dimension) // 3
    return max(1, min(most, max(page_size, fits)))


@contextmanager
def run_walker(
    stores: Sequence[Store],
    stop: threading.Event,
    *,
    concurrency: int | None,
    adaptive: bool = True,
    on_change: ChangeListener | None = None,
    name: str = "walk",
    batch_size: int = 100,
    in_flight: int | None = None,
    dimension: int | None = None,
    store_names: Sequence[str] = ("source", "target"),
    typical_batch: int | None = None,
) -> Iterator[Walker]:
    """The walker of one run, and the lanes of its stores (each store's calls in flight).

    ``concurrency`` N: N batches in flight and N calls in flight to each store, halved by that store's
    429s and grown back (not with ``adaptive`` False). None (automatic): as many records in flight as memory
    allows for ``dimension`` (:func:`records_in_memory`), in as many batches as fit when batches hold
    ``typical_batch`` records (default ``batch_size``: small namespaces make small batches, and many), and
    each store's calls start at a few and climb while its throughput climbs (see :class:`AdaptiveLimit`).
    ``on_change`` hears each change, the store's name (``store_names``, in the order of ``stores``) in its
    reason."""
    automatic = concurrency is None
    typical = min(batch_size, typical_batch or batch_size)
    batches = batches_in_memory(typical, dimension) if concurrency is None else max(1, concurrency)
    budget = RecordBudget(records_in_memory(dimension)) if automatic else None

    def lane(store_name: str) -> AdaptiveLimit:
        def heard(old: int, new: int, reason: str) -> None:
            if on_change is not None:
                on_change(old, new, f"{store_name}: {reason}")

        return AdaptiveLimit(batches, automatic=automatic and adaptive, on_change=heard)

    limits: dict[int, AdaptiveLimit] = {}
    names = [*store_names, *(f"store {n}" for n in range(len(store_names), len(stores)))]
    for store, store_name in zip(stores, names, strict=False):
        limits.setdefault(id(store), lane(store_name))
    lanes = Lanes(limits)
    batch_limit = AdaptiveLimit(batches)  # memory: fixed, the lanes adapt
    with ExitStack() as wired:
        for store in stores:
            own = lanes.of(store)
            assert own is not None
            wired.enter_context(slowed_by_throttling(own, store, adaptive=adaptive))
        pool = wired.enter_context(ThreadPoolExecutor(batches, thread_name_prefix=name))
        yield Walker(
            pool,
            limit=batch_limit,
            stop=stop,
            in_flight=None if automatic else in_flight,
            batch_size=batch_size,
            lanes=lanes,
            budget=budget,
        )


# -- sequential walks --------------------------------------------------------------------------------------


def pages(next_page: NextPage[Item], stop: threading.Event | None = None) -> Iterator[Page[Item]]:
    """The pages of an enumeration one after the other (empty ones too), until its end or ``stop``."""
    cursor: str | None = None
    while stop is None or not stop.is_set():
        page = next_page(cursor)
        yield page
        cursor = page.cursor
        if cursor is None:
            return


def id_pages(
    store: Store, namespace: str, *, page_size: int = 100, stop: threading.Event | None = None
) -> Iterator[list[str]]:
    """Non-empty pages of the IDs of a namespace, in listing order."""
    for page in pages(listing(store, namespace, page_size=page_size), stop):
        if page.items:
            yield page.items


def record_pages(
    store: Store, namespace: str, *, page_size: int = 100, stop: threading.Event | None = None
) -> Iterator[list[Record]]:
    """Non-empty pages of the records of a namespace (listed, then fetched), in listing order."""
    for ids in id_pages(store, namespace, page_size=page_size, stop=stop):
        records = fetch_all(store, namespace, ids)
        if records:
            yield records


def matching_pages(
    store: FetchesByMetadata,
    namespace: str,
    metadata_filter: dict[str, Any],
    *,
    page_size: int = 100,
    stop: threading.Event | None = None,
) -> Iterator[list[Record]]:
    """Non-empty pages of the records that match a filter the store evaluates."""
    for page in pages(metadata_listing(store, namespace, metadata_filter, page_size=page_size), stop):
        if page.items:
            yield page.items
