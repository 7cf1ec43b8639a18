"""The copy pipeline: list → fetch → write, page by page, resumable through the ledger.

Each unit of work is one walk (:mod:`.walk`): pages are listed in order by one thread and copied (fetch +
size-aware write batches) in the run's shared pool, so a few pages per unit are in memory whatever the size
of the index. The ledger's cursor moves past a page only when that page and every page before it are
acknowledged by the target.
"""

from __future__ import annotations

import re
import threading
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from ...filters import MetadataPredicate
from ...records import Record
from ...stores.base import FetchesByMetadata, Store, fetches_by_metadata
from ..ledger import Ledger
from ..progress import NullProgress, ProgressListener
from ..walk import Position, Walker, fetch_all, listing, metadata_listing
from ..writes import DeadLetter, write_in_batches
from .readback import read_back

# Where a record goes: (target namespace, None), or (None, why it cannot be placed).
Route = Callable[[Record], tuple[str | None, str | None]]


def fixed_route(namespace: str) -> Route:
    return lambda record: (namespace, None)


# Runs of anything but ASCII letters, digits and underscore become one underscore.
_NOT_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9_]+")


def clean_namespace_name(value: str) -> str:
    """The ASCII namespace name the original script made of a metadata value: accents dropped after
    compatibility decomposition (``café`` -> ``cafe``), other non-ASCII characters removed, and every run of
    characters other than letters, digits and ``_`` replaced by one ``_`` (``café 12`` -> ``cafe_12``).
    May return ``""`` (e.g. for a value written only in a non-Latin script)."""
    decomposed = unicodedata.normalize("NFKD", value)
    ascii_only = decomposed.encode("ascii", "ignore").decode("ascii")
    return _NOT_NAME_CHARACTERS.sub("_", ascii_only)


def _usable_name(value: object) -> TypeGuard[str]:
    return isinstance(value, str) and 0 < len(value) <= 512 and value.isascii() and "\x00" not in value


def metadata_route(field_name: str, fallback: str | None, clean: bool = False) -> Route:
    """Route each record to the namespace named by one of its metadata fields (one namespace per tenant);
    with ``clean``, by that name made ASCII (:func:`clean_namespace_name`)."""

    def route(record: Record) -> tuple[str | None, str | None]:
        value = record.metadata.get(field_name)
        name = clean_namespace_name(value) if clean and isinstance(value, str) else value
        if _usable_name(name):
            return name, None
        if fallback is not None:
            return fallback, None
        if value is None:
            problem = "is missing"
        elif clean and isinstance(value, str):
            problem = f"cleans to no usable namespace name ({value!r} -> {name!r})"
        else:
            problem = f"is not a usable namespace name ({value!r})"
        return None, (
            f"metadata field {field_name!r} {problem}; pass --fallback-namespace to place such records"
        )

    return route


@dataclass(frozen=True)
class CopyOptions:
    """How a migration copies. ``adaptive``: a 429 from either store halves the pages in flight (see
    :class:`~pinecone_migrator.engine.pacing.AdaptiveLimit`); False keeps ``concurrency`` whatever the
    stores answer, which exists so that a test can compare the requests sent with and without adaptation."""

    # Batches (and calls to each store) in flight: None = automatic (start at a few, climb while the
    # throughput climbs, within memory; see engine/pacing.py); N = N, halved on 429 and grown back.
    concurrency: int | None = None
    # Per write request; None: the target's own limit (its Capabilities: Pinecone 2 MB less the envelope,
    # files far more). A number is capped at that limit.
    max_request_bytes: int | None = None
    max_request_records: int | None = None
    page_size: int = 100
    shards: int | None = None  # ID-prefix shards listed in parallel: None = automatic, 1 = never
    # Automatic sharding only for namespaces at least this large; None: those whose listing alone would take
    # 20 s or more at the measured round trip (see shards.py).
    shard_min_records: int | None = None
    # With a --filter, let a store that can evaluate it (fetch_by_metadata) return only the matching records.
    server_side_filter: bool = True
    # migrate --verify batch: read every written batch back and compare digests (re-sending differences).
    read_back: bool = False
    freshness_timeout_seconds: float = 120.0
    adaptive: bool = True


@dataclass
class PageResult:
    """What copying one listed page did; the walk merges it into the ledger with the page's cursor."""

    listed: int
    copied: int
    skipped: int
    dead_letters: list[DeadLetter] = field(default_factory=list)
    read_back: int = 0  # records read back from the target and found equal
    resent: int = 0  # records sent again because the target's copy differed


@dataclass
class RunTotals:
    """Counts of this run (not of earlier runs of the same ledger) that the ledger does not keep."""

    read_back: int = 0
    resent: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, result: PageResult) -> None:
        with self.lock:
            self.read_back += result.read_back
            self.resent += result.resent


@dataclass
class CopyRun:
    """What every unit of one run shares: the stores, the ledger, the walker (its pool, adaptive limit, stop
    and halt signals)."""

    source: Store
    target: Store
    ledger: Ledger
    options: CopyOptions
    walker: Walker
    progress: ProgressListener = field(default_factory=NullProgress)
    predicate: MetadataPredicate | None = None
    # The filter is still applied locally too: it decides, the store's evaluation only saves transfers.
    server_filter: dict[str, Any] | None = None
    totals: RunTotals = field(default_factory=RunTotals)
    # A routed record of a source namespace as it is written (a fold adds the namespace to its metadata,
    # the pair's accepted changes apply)...
    # ...and why the target will refuse it (fidelity's known refusals: a dead letter without a request).
    as_written: Callable[[str, Record], tuple[Record, str | None]] | None = None
    list_round_trip: float | None = None  # seconds per source list call, measured once per run

    @property
    def stop(self) -> threading.Event:
        return self.walker.stop

    def stopping(self) -> bool:
        return self.walker.stopping()

    def filtering_source(self) -> FetchesByMetadata | None:
        """The source as the evaluator of the run's filter, when there is one and the source can."""
        return fetches_by_metadata(self.source) if self.server_filter is not None else None


class UnitCopier:
    """Copies one unit of work: a source namespace, or the IDs of it that start with one prefix."""

    def __init__(
        self,
        run: CopyRun,
        namespace: str,
        route: Route,
        prefix: str = "",
        keep_id: Callable[[str], bool] | None = None,
    ) -> None:
        self.run_ = run
        self.namespace = namespace
        self.route = route
        self.prefix = prefix
        self.keep_id = keep_id  # drops listed IDs another unit already covers

    def run(self) -> bool:
        """Copy until the listing ends (True) or the run stops (False). A failure raises.

        Listed pages are gathered into batches (the walker's ``batch_size`` IDs: one fetch for up to 1,000
        IDs) and the ledger moves over a batch's pages once they and every page before them are
        acknowledged; on a stop or a failure the batches in flight finish and are committed in order, and a
        failed batch is never committed past."""
        run = self.run_
        state = run.ledger.unit(self.namespace, self.prefix)
        if state.done:
            return True
        start = Position(state.cursor, state.listed)
        evaluator = run.filtering_source()
        if evaluator is not None and run.server_filter is not None:
            matching = metadata_listing(
                evaluator, self.namespace, run.server_filter, page_size=run.options.page_size
            )
            outcome = run.walker.walk(
                matching, self._copy_records, self._commit, start=start, every_page=True
            )
        else:
            listed = listing(run.source, self.namespace, prefix=self.prefix, page_size=run.options.page_size)
            outcome = run.walker.walk(listed, self._copy_ids, self._commit, keep=self.keep_id, start=start)
        return outcome.complete

    def _copy_ids(self, ids: list[str]) -> PageResult:
        source = self.run_.source
        records = fetch_all(source, self.namespace, ids, lane=self.run_.walker.lane(source)) if ids else []
        return self._copy(records, listed=len(ids))

    def _copy_records(self, records: list[Record]) -> PageResult:
        return self._copy(records, listed=len(records))

    def _copy(self, records: list[Record], listed: int) -> PageResult:
        run = self.run_
        if run.predicate is not None:
            records = [r for r in records if run.predicate(r.metadata)]
        copied = 0
        dead: list[DeadLetter] = []
        destinations: dict[str, list[Record]] = {}
        for record in records:
            namespace, refusal = self.route(record)
            if namespace is None:
                dead.append((record.id, None, refusal or "no target namespace"))
            else:
                known_refusal = None
                if run.as_written is not None:
                    record, known_refusal = run.as_written(self.namespace, record)
                if known_refusal is not None:
                    dead.append((record.id, namespace, known_refusal))
                else:
                    destinations.setdefault(namespace, []).append(record)
        limits = (run.options.max_request_records, run.options.max_request_bytes)
        checked = resent = 0
        for namespace, group in destinations.items():
            refused_here: list[DeadLetter] = []
            arrived: list[Record] = []
            lane = run.walker.lane(run.target)
            for written, refused in write_in_batches(run.target, namespace, group, *limits, lane=lane):
                copied += len(written)
                arrived += written
                refused_here += refused
            if run.options.read_back:
                sent_again, differing = read_back(
                    run.target, namespace, arrived, run.options.freshness_timeout_seconds
                )
                checked += len(arrived) - len(differing)
                resent += sent_again
                copied -= len(differing)
                refused_here += differing
            dead += refused_here
        # Skipped: filtered out, or listed but deleted from the source before the fetch.
        return PageResult(
            listed=listed,
            copied=copied,
            skipped=listed - len(records),
            dead_letters=dead,
            read_back=checked,
            resent=resent,
        )

    def _commit(self, result: PageResult, position: Position) -> None:
        """Advance the ledger over one copied batch of pages (the walk merges batches in order)."""
        run = self.run_
        run.ledger.advance(
            self.namespace,
            self.prefix,
            cursor=position.cursor,
            listed=result.listed,
            copied=result.copied,
            skipped=result.skipped,
            dead_letters=result.dead_letters,
        )
        run.totals.add(result)
        run.progress.page_done(
            self.namespace, result.listed, result.copied, result.skipped, len(result.dead_letters)
        )
