"""Levels ``digest`` and ``full`` of verify: bucket digests of both sides, then (where needed) an ID-by-ID
comparison of the buckets that differ. See :mod:`pinecone_migrator.engine.verify` for the levels.

With :class:`~.checkpoints.VerifyCheckpoints`, the digest pass saves each scan's
progress and takes up what an earlier, interrupted verify saved; the ID pass (level ``full``) always runs
from the start. Saved scans are deleted once a verdict is reached."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TypeVar

import orjson

from ...records import Record, record_digest
from ...stores.base import Store, TracksFreshness
from ...stores.registry import split_pacing
from ..migrate.shards import discover_prefixes, shards_wanted
from ..request import MigrationRequest
from ..walk import Checkpoint, Position, Walker, WalkGroup, fetch_all, fetching, listing
from .checkpoints import ScanState, VerifyCheckpoints, verify_fingerprint
from .diff import Difference, differing_parts
from .digests import BucketDigests, bucket_of
from .result import NamespaceVerification, VerifyOptions, VerifyProgress, VerifyResult
from .walker import known_pages, verify_walker
from .workers import ScanOutput, ScanSetup, ScanWorkers, worker_context, worker_count


def fixed_feeders(request: MigrationRequest, namespaces: list[str]) -> dict[str, list[str]]:
    """Target namespace -> the source namespaces copied into it (no metadata routing), in copy order."""
    feeders: dict[str, list[str]] = {}
    for namespace in namespaces:
        feeders.setdefault(request.destination(namespace), []).append(namespace)
    return feeders


@dataclass
class _SourcePage:
    per_destination: dict[str, tuple[list[int], list[int]]]  # destination -> (buckets, digests)
    fetched: int
    filtered: int
    unroutable: int


_Page = TypeVar("_Page")  # what a walk's batch of records is reduced to
IdDigests = dict[str, int]
# Runs one scan: (side, namespace, ID prefix) -> (digests per target namespace, whether it reached the end).
Scan = Callable[[str, str, str], tuple[dict[str, BucketDigests], bool]]

STARTED_OVER_NOTE = "verify progress in the ledger was for different settings: started over"


class BucketVerifier:
    """Levels ``digest`` and ``full``."""

    def __init__(
        self,
        request: MigrationRequest,
        source: Store,
        target: Store,
        options: VerifyOptions,
        namespaces: list[str],
        stop: threading.Event,
        result: VerifyResult,
        on_difference: Callable[[Difference], None] | None,
        progress: VerifyProgress | None,
        checkpoints: VerifyCheckpoints | None = None,
    ) -> None:
        if checkpoints is not None:
            _check_fingerprint(checkpoints, verify_fingerprint(request, options))
        self.checkpoints = checkpoints
        self.reused = 0  # saved scans taken as they were (complete)
        self.continued = 0  # saved scans continued from their cursor
        self.request = request
        self.source = source
        self.target = target
        self.options = options
        self.namespaces = namespaces
        self.stop = stop
        self.result = result
        self.on_difference = on_difference
        self.progress = progress
        self.routing = request.namespace_from_metadata is not None
        self.predicate = request.predicate()
        self.buckets = options.buckets
        self.ignore = options.ignore_metadata_keys
        self.lock = threading.Lock()
        self.expected: dict[str, BucketDigests] = {}
        self.actual: dict[str, BucketDigests] = {}
        self.contributors: dict[str, list[str]] = {}  # target namespace -> source namespaces feeding it
        self.verdicts: dict[str, NamespaceVerification] = {}
        self.lsns: dict[tuple[str, str], int | None] = {}  # (side, namespace) -> indexed LSN at the start

    def _fixed(self, namespace: str) -> str | None:
        """The one target namespace of a source namespace's records, when no record's route can differ (a
        fold's route can refuse a record whose metadata already holds the field)."""
        if self.routing or self.request.namespace_to_metadata is not None:
            return None
        return self.request.destination(namespace)

    def _fetched(self, side: str, namespace: str, count: int) -> None:
        if not count:  # the end of a listing, handed over empty
            return
        with self.lock:
            if side == "source":
                self.result.source_records += count
            else:
                self.result.target_records += count
        if self.progress is not None:
            self.progress(side, namespace, count)

    # -- digest pass -----------------------------------------------------------------------------------

    def _scan(
        self,
        walker: Walker,
        side: str,
        namespace: str,
        prefix: str,
        state: ScanState,
        handle: Callable[[list[Record]], _Page],
        merge: Callable[[_Page, Position], None],
    ) -> bool:
        """Walk one side of a namespace (or of one ID-prefix shard of it) from where ``state`` got to; True
        when the listing reached its end."""
        store = self.source if side == "source" else self.target
        outcome = walker.walk(
            listing(store, namespace, prefix=prefix, page_size=self.options.page_size),
            fetching(store, namespace, handle, lane=walker.lane(store)),
            merge,
            start=Position(state.cursor, state.listed),
            on_checkpoint=self._saver(side, namespace, state, prefix),
        )
        return outcome.complete

    def _expected_digests(
        self, walker: Walker, namespace: str, prefix: str = ""
    ) -> tuple[dict[str, BucketDigests], bool]:
        buckets, ignore, predicate = self.buckets, self.ignore, self.predicate
        fixed = self._fixed(namespace)
        route = self.request.route(namespace)
        written = partial(self.request.as_written, namespace)
        empty = {} if fixed is None else {fixed: BucketDigests(buckets)}
        state = self._resume("source", namespace, empty, prefix)
        sums = state.digests
        if state.complete:
            return sums, True

        def handle(records: list[Record]) -> _SourcePage:
            fetched = len(records)
            if predicate is not None:
                records = [r for r in records if predicate(r.metadata)]
            if fixed is not None:
                pair = (
                    [bucket_of(r.id, buckets) for r in records],
                    [record_digest(written(r), ignore) for r in records],
                )
                return _SourcePage({fixed: pair}, fetched, fetched - len(records), 0)
            per_destination: dict[str, tuple[list[int], list[int]]] = {}
            unroutable = 0
            for record in records:
                destination, _ = route(record)
                if destination is None:
                    unroutable += 1
                    continue
                entry = per_destination.get(destination)
                if entry is None:
                    entry = per_destination[destination] = ([], [])
                entry[0].append(bucket_of(record.id, buckets))
                entry[1].append(record_digest(written(record), ignore))
            return _SourcePage(per_destination, fetched, fetched - len(records), unroutable)

        def merge(page: _SourcePage, _: Position) -> None:
            for destination, (ids_buckets, digests) in page.per_destination.items():
                acc = sums.get(destination)
                if acc is None:
                    acc = sums[destination] = BucketDigests(buckets)
                acc.add_all(ids_buckets, digests)
            state.fetched += page.fetched
            state.filtered += page.filtered
            state.unroutable += page.unroutable
            with self.lock:
                self.result.filtered_out += page.filtered
                self.result.unroutable += page.unroutable
            self._fetched("source", namespace, page.fetched)

        return sums, self._scan(walker, "source", namespace, prefix, state, handle, merge)

    def _actual_digests(self, walker: Walker, namespace: str, prefix: str = "") -> tuple[BucketDigests, bool]:
        buckets, ignore = self.buckets, self.ignore
        state = self._resume("target", namespace, {namespace: BucketDigests(buckets)}, prefix)
        sums = state.digests[namespace]
        if state.complete:
            return sums, True

        def handle(records: list[Record]) -> tuple[list[int], list[int]]:
            return [bucket_of(r.id, buckets) for r in records], [record_digest(r, ignore) for r in records]

        def merge(page: tuple[list[int], list[int]], _: Position) -> None:
            sums.add_all(*page)
            state.fetched += len(page[0])
            self._fetched("target", namespace, len(page[0]))

        return sums, self._scan(walker, "target", namespace, prefix, state, handle, merge)

    def scan_side(
        self, walker: Walker, side: str, namespace: str, prefix: str = ""
    ) -> tuple[dict[str, BucketDigests], bool]:
        """One scan: the expected digests of a source namespace (per target namespace), or a target
        namespace's own; and whether its listing reached the end."""
        if side == "source":
            return self._expected_digests(walker, namespace, prefix)
        digests, complete = self._actual_digests(walker, namespace, prefix)
        return {namespace: digests}, complete

    def _remote_scan(
        self, workers: ScanWorkers, side: str, namespace: str, prefix: str
    ) -> tuple[dict[str, BucketDigests], bool]:
        """One scan in a worker process, its counters and notes taken into this verify's result."""
        output = workers.scan(side, namespace, prefix)
        with self.lock:
            self.result.filtered_out += output.filtered
            self.result.unroutable += output.unroutable
            self.result.notes.extend(output.notes)
            self.reused += output.reused
            self.continued += output.continued
        return output.digests, output.complete

    def _resume(
        self, side: str, namespace: str, empty: dict[str, BucketDigests], prefix: str = ""
    ) -> ScanState:
        """A scan's saved progress (its counters taken into the result), or a fresh start with ``empty``
        digests. Saved progress is dropped when the store has indexed writes since it was saved."""
        if self.checkpoints is None:  # nothing is saved: no LSN to compare with
            return ScanState(cursor=None, listed=0, fetched=0, complete=False, digests=empty)
        lsn = self._lsn(side, namespace)
        fresh = ScanState(cursor=None, listed=0, fetched=0, complete=False, digests=empty, lsn=lsn)
        state = self.checkpoints.load(side, namespace, self.buckets, prefix)
        if state is None or (state.cursor is None and not state.complete and not state.listed):
            return fresh  # nothing saved, or a shard on record that was never scanned
        if state.lsn != lsn:
            with self.lock:
                self.result.notes.append(
                    f"the {side} namespace {namespace!r} was written to since the interrupted verify "
                    "saved its progress: scanned again"
                )
            return fresh
        with self.lock:
            self.result.filtered_out += state.filtered
            self.result.unroutable += state.unroutable
            if state.complete:
                self.reused += 1
            else:
                self.continued += 1
        return state

    def _lsn(self, side: str, namespace: str) -> int | None:
        """The store's indexed LSN of a namespace as this verify began (asked once, whatever its shards)."""
        with self.lock:
            if (side, namespace) in self.lsns:
                return self.lsns[side, namespace]
        lsn = _indexed_lsn(self.source if side == "source" else self.target, namespace)
        with self.lock:
            return self.lsns.setdefault((side, namespace), lsn)

    def _saver(self, side: str, namespace: str, state: ScanState, prefix: str = "") -> Checkpoint | None:
        checkpoints = self.checkpoints
        if checkpoints is None:
            return None

        def save(position: Position, complete: bool) -> None:
            state.cursor, state.listed, state.complete = position.cursor, position.listed, complete
            checkpoints.save(side, namespace, state, prefix)

        return save

    def _target_namespaces(self, known: list[str]) -> list[str]:
        found = set(known)
        if self.request.fallback_namespace is not None and self.routing:
            found.add(self.request.fallback_namespace)
        if self.options.all_target_namespaces:
            found.update(self.target.describe().namespace_counts)
        return sorted(found)

    def _shards(self, side: str, namespace: str, records: int | None) -> list[str]:
        """The ID prefixes a namespace's scan is split into ([""]: one scan), kept with the saved progress so
        that a resumed verify splits it the same way."""
        options, checkpoints = self.options, self.checkpoints
        if checkpoints is not None:
            saved = checkpoints.saved_shards(side, namespace)
            if saved:
                return saved
        store = self.source if side == "source" else self.target
        wanted = shards_wanted(
            store,
            namespace,
            records,
            options.shards,
            options.concurrency,
            options.shard_min_records,
            options.page_size,
        )
        prefixes = discover_prefixes(store, namespace, wanted, stop=self.stop) if wanted > 1 else []
        if not prefixes:
            return [""]
        if checkpoints is not None:  # every shard is on record before any is scanned
            lsn = self._lsn(side, namespace)
            for prefix in prefixes:
                checkpoints.save(side, namespace, ScanState(None, 0, 0, False, lsn=lsn), prefix)
        return prefixes

    def _digest_pass(self, group: WalkGroup, source_counts: Mapping[str, int]) -> bool:
        """Both sides' bucket digests; False when a scan was stopped before the end of its listing."""
        records = sum(source_counts.get(ns, 0) for ns in self.namespaces)
        processes = worker_count(self.options, records, self.source, self.target)
        if not processes:
            return self._scans(
                group, source_counts, lambda side, ns, prefix: self.scan_side(group.walker, side, ns, prefix)
            )
        checkpoints_at = None
        if self.checkpoints is not None:
            checkpoints_at = (self.checkpoints.path, self.checkpoints.fingerprint)
        # Each worker process paces its copy of a store at its share of the index's rate limits.
        split_pacing(self.source, processes)
        split_pacing(self.target, processes)
        setup = ScanSetup(
            self.request, self.source, self.target, self.options, self.namespaces, checkpoints_at
        )
        workers = ScanWorkers(processes, setup, scan_in_worker, self.stop, self._fetched)
        try:
            return self._scans(
                group, source_counts, lambda side, ns, prefix: self._remote_scan(workers, side, ns, prefix)
            )
        finally:
            workers.close()

    def _scans(self, group: WalkGroup, source_counts: Mapping[str, int], scan: Scan) -> bool:
        """Every scan of both sides, run by ``scan`` side by side, their digests merged per namespace."""
        expected_jobs = {
            ns: [
                group.start(scan, "source", ns, prefix)
                for prefix in self._shards("source", ns, source_counts.get(ns))
            ]
            for ns in self.namespaces
        }
        actual_jobs: dict[str, list[Future[tuple[dict[str, BucketDigests], bool]]]] = {}

        def start_actual(destinations: list[str]) -> None:
            target_counts = self.target.describe().namespace_counts
            for destination in destinations:
                actual_jobs[destination] = [
                    group.start(scan, "target", destination, prefix)
                    for prefix in self._shards("target", destination, target_counts.get(destination))
                ]

        if not self.routing:  # the target namespaces are known: scan both sides at once
            start_actual(self._target_namespaces(list(fixed_feeders(self.request, self.namespaces))))
        group.wait()
        complete = True
        for namespace in self.namespaces:
            sums: dict[str, BucketDigests] = {}
            for job in expected_jobs[namespace]:
                shard_sums, done = job.result()
                complete = complete and done
                for destination, acc in shard_sums.items():
                    sums.setdefault(destination, BucketDigests(self.buckets)).merge(acc)
            for destination, acc in sums.items():
                self.contributors.setdefault(destination, []).append(namespace)
                mine = self.expected.get(destination)
                if mine is None:
                    self.expected[destination] = acc
                else:
                    mine.merge(acc)
        if self.routing:  # the target namespaces are those the source's records route to
            if not complete or self.stop.is_set():
                return False
            start_actual(self._target_namespaces(list(self.expected)))
            group.wait()
        for destination, jobs in actual_jobs.items():
            total = BucketDigests(self.buckets)
            for job in jobs:
                shard_sums, done = job.result()
                complete = complete and done
                total.merge(shard_sums[destination])
            self.actual[destination] = total
        return complete

    def run(self, source_counts: Mapping[str, int]) -> None:
        """``source_counts``: the source's records per namespace, as verify described it."""
        options = self.options
        with (
            ThreadPoolExecutor(options.scans_at_once, thread_name_prefix="verify-scan") as drivers,
            verify_walker(self.source, self.target, options, self.stop) as walker,
        ):
            group = WalkGroup(drivers, walker)
            if self.checkpoints is not None and self.checkpoints.started_over:
                self.result.notes.append(STARTED_OVER_NOTE)
            complete = self._digest_pass(group, source_counts)
            if self.reused or self.continued:
                self.result.notes.append(f"resumed: {self.reused} scans reused, {self.continued} continued")
            for destination in sorted(self.expected.keys() | self.actual.keys()):
                self.expected.setdefault(destination, BucketDigests(self.buckets))
                self.actual.setdefault(destination, BucketDigests(self.buckets))
                feeders = self.contributors.get(destination, [])
                if not self.routing:
                    feeders = [ns for ns in self.namespaces if self.request.destination(ns) == destination]
                self.verdicts[destination] = NamespaceVerification(
                    namespace=destination, source_namespaces=feeders
                )
            if not complete:
                self.result.interrupted = True
                self.result.notes.append("interrupted before both sides were scanned: nothing was judged")
                for verdict in self.verdicts.values():
                    verdict.judged = False
            else:
                wanted = self._wanted_buckets()
                if wanted:
                    IdPass(self, group).run(wanted)
            for destination, verdict in self.verdicts.items():
                expected, actual = self.expected[destination], self.actual[destination]
                verdict.expected_digest = expected.total()
                verdict.actual_digest = actual.total()
                verdict.expected_count = verdict.expected_digest.count
                verdict.actual_count = verdict.actual_digest.count
                verdict.differing_buckets = expected.differing(actual)
            self.result.namespaces = list(self.verdicts.values())
        if self.checkpoints is not None and not self.result.interrupted and not self.stop.is_set():
            self.checkpoints.clear()  # a verdict: the next verify reads both sides afresh

    def _wanted_buckets(self) -> dict[str, set[int]]:
        """Buckets to compare ID by ID, per target namespace."""
        wanted: dict[str, set[int]] = {}
        for destination in self.verdicts:
            expected, actual = self.expected[destination], self.actual[destination]
            if self.options.level == "full" and self.options.all_buckets:
                chosen = {b for b in range(self.buckets) if expected.counts[b] or actual.counts[b]}
            elif self.options.level == "full" or len(self.contributors.get(destination, [])) > 1:
                chosen = set(expected.differing(actual))
            else:
                continue
            if chosen:
                wanted[destination] = chosen
        return wanted


def _indexed_lsn(store: Store, namespace: str) -> int | None:
    return store.indexed_lsn(namespace) if isinstance(store, TracksFreshness) else None


def _check_fingerprint(checkpoints: VerifyCheckpoints, wanted: dict[str, object]) -> None:
    """Saved digests are only comparable under the same selection and digest settings."""
    saved = orjson.loads(orjson.dumps(checkpoints.fingerprint, option=orjson.OPT_SORT_KEYS))
    for key, value in orjson.loads(orjson.dumps(wanted, option=orjson.OPT_SORT_KEYS)).items():
        if saved.get(key) != value:
            raise ValueError(
                f"The verify checkpoints were opened for other settings ({key}); "
                "build their fingerprint with verify_fingerprint(request, options)."
            )


def scan_in_worker(side: str, namespace: str, prefix: str) -> ScanOutput:
    """One scan in a worker process of :class:`ScanWorkers`, as the verify in the parent would run it."""
    context = worker_context()
    setup = context.setup
    options = setup.options
    result = VerifyResult(level=options.level, buckets=options.buckets)
    queue = context.progress

    def progress(side: str, namespace: str, count: int) -> None:
        queue.put((side, namespace, count))

    checkpoints = None if setup.checkpoints_at is None else VerifyCheckpoints(*setup.checkpoints_at)
    try:
        verifier = BucketVerifier(
            setup.request,
            setup.source,
            setup.target,
            options,
            setup.namespaces,
            context.stop,
            result,
            None,
            progress,
            checkpoints,
        )
        with verify_walker(setup.source, setup.target, options, context.stop) as walker:
            digests, complete = verifier.scan_side(walker, side, namespace, prefix)
    finally:
        if checkpoints is not None:
            checkpoints.close()
    return ScanOutput(
        digests=digests,
        complete=complete,
        filtered=result.filtered_out,
        unroutable=result.unroutable,
        reused=verifier.reused,
        continued=verifier.continued,
        notes=result.notes,
    )


class IdPass:
    """ID-by-ID comparison of chosen buckets: exact missing, extra and different IDs, with differing parts."""

    def __init__(self, owner: BucketVerifier, group: WalkGroup) -> None:
        self.owner = owner
        self.walker = group.walker
        self.group = group

    def run(self, wanted: dict[str, set[int]]) -> None:
        owner = self.owner
        budget = max(1, owner.options.max_ids_in_memory)
        rounds: list[dict[str, set[int]]] = [{}]
        held = 0
        for destination in sorted(wanted):
            expected, actual = owner.expected[destination], owner.actual[destination]
            for bucket in sorted(wanted[destination]):
                size = expected.counts[bucket] + actual.counts[bucket]
                if held and held + size > budget:
                    rounds.append({})
                    held = 0
                rounds[-1].setdefault(destination, set()).add(bucket)
                held += size
        for chosen in rounds:
            if owner.stop.is_set():
                owner.result.interrupted = True
                return
            self._round(chosen)

    def _expected_ids(self, namespace: str, wanted: dict[str, set[int]]) -> tuple[dict[str, IdDigests], bool]:
        owner = self.owner
        buckets, ignore, predicate = owner.buckets, owner.ignore, owner.predicate
        fixed = owner._fixed(namespace)
        route = owner.request.route(namespace)
        keep = wanted[fixed] if fixed is not None else set().union(*wanted.values())
        maps: dict[str, IdDigests] = {}

        def handle(records: list[Record]) -> tuple[list[tuple[str, str, int]], int]:
            found = []
            for record in records:
                if predicate is not None and not predicate(record.metadata):
                    continue
                destination = fixed if fixed is not None else route(record)[0]
                if destination is None:
                    continue
                chosen = wanted.get(destination)
                if chosen is not None and (fixed is not None or bucket_of(record.id, buckets) in chosen):
                    written = owner.request.as_written(namespace, record)
                    found.append((destination, record.id, record_digest(written, ignore)))
            return found, len(records)

        def merge(page: tuple[list[tuple[str, str, int]], int], _: Position) -> None:
            for destination, record_id, digest in page[0]:
                known = maps.get(destination)
                if known is None:
                    known = maps[destination] = {}
                known[record_id] = digest
            owner._fetched("source", namespace, page[1])

        return maps, self._walk(owner.source, namespace, handle, merge, keep)

    def _actual_ids(self, namespace: str, chosen: set[int]) -> tuple[IdDigests, bool]:
        owner = self.owner
        ignore = owner.ignore
        found: IdDigests = {}

        def handle(records: list[Record]) -> list[tuple[str, int]]:
            return [(r.id, record_digest(r, ignore)) for r in records]

        def merge(page: list[tuple[str, int]], _: Position) -> None:
            found.update(page)
            owner._fetched("target", namespace, len(page))

        return found, self._walk(owner.target, namespace, handle, merge, chosen)

    def _walk(
        self,
        store: Store,
        namespace: str,
        handle: Callable[[list[Record]], _Page],
        merge: Callable[[_Page, Position], None],
        chosen: set[int],
    ) -> bool:
        """Walk a namespace, fetching only the IDs in the ``chosen`` buckets; True when its listing reached
        the end."""
        buckets = self.owner.buckets
        next_page = listing(store, namespace, page_size=self.owner.options.page_size)
        return self.walker.walk(
            next_page,
            fetching(store, namespace, handle, lane=self.walker.lane(store)),
            merge,
            keep=lambda record_id: bucket_of(record_id, buckets) in chosen,
        ).complete

    def _round(self, wanted: dict[str, set[int]]) -> None:
        owner = self.owner
        group = self.group
        sources = [ns for ns in owner.namespaces if owner.routing or owner.request.destination(ns) in wanted]
        expected_jobs = {ns: group.start(self._expected_ids, ns, wanted) for ns in sources}
        actual_jobs = {dest: group.start(self._actual_ids, dest, wanted[dest]) for dest in wanted}
        group.wait()
        finished = [job.result()[1] for job in expected_jobs.values()]
        finished += [job.result()[1] for job in actual_jobs.values()]
        if not all(finished):
            owner.result.interrupted = True
            return
        # In copy order, so that a later source namespace's record replaces an earlier one's (a merge).
        expected: dict[str, dict[str, tuple[int, str]]] = {}
        for namespace in sources:
            for destination, found in expected_jobs[namespace].result()[0].items():
                into = expected.setdefault(destination, {})
                for record_id, digest in found.items():
                    into[record_id] = (digest, namespace)
        for destination in sorted(wanted):
            self._compare(
                destination,
                wanted[destination],
                expected.get(destination, {}),
                actual_jobs[destination].result()[0],
            )

    def _compare(
        self, destination: str, chosen: set[int], expected: dict[str, tuple[int, str]], actual: IdDigests
    ) -> None:
        owner = self.owner
        buckets = owner.buckets
        expected_sums, actual_sums = owner.expected[destination], owner.actual[destination]
        for bucket in chosen:  # the exact figures of these buckets (a merge may have counted an ID twice)
            expected_sums.counts[bucket] = expected_sums.totals[bucket] = 0
            actual_sums.counts[bucket] = actual_sums.totals[bucket] = 0
        expected_sums.add_all([bucket_of(i, buckets) for i in expected], [d for d, _ in expected.values()])
        actual_sums.add_all([bucket_of(i, buckets) for i in actual], list(actual.values()))
        verdict = owner.verdicts[destination]
        for record_id in sorted(expected.keys() - actual.keys()):
            self._emit(verdict, Difference(destination, record_id, "missing", (), expected[record_id][1]))
        for record_id in sorted(actual.keys() - expected.keys()):
            self._emit(verdict, Difference(destination, record_id, "extra"))
        different = sorted(i for i in expected.keys() & actual.keys() if expected[i][0] != actual[i])
        by_source: dict[str, list[str]] = {}
        for record_id in different:
            by_source.setdefault(expected[record_id][1], []).append(record_id)
        named: list[Difference] = []
        for namespace, ids in by_source.items():
            outcome = self.walker.walk(
                known_pages(ids, owner.options.fetch_size),
                partial(self._name_parts, namespace, destination),
                lambda found, _: named.extend(found),
            )
            if not outcome.complete:
                owner.result.interrupted = True
                break
        for difference in sorted(named, key=lambda d: d.id):
            self._emit(verdict, difference)

    def _name_parts(self, namespace: str, destination: str, ids: list[str]) -> list[Difference]:
        """The differences of IDs whose digests differ, naming the parts that differ."""
        owner = self.owner
        lane = self.walker.lane
        theirs = {r.id: r for r in fetch_all(owner.source, namespace, ids, lane=lane(owner.source))}
        ours = {r.id: r for r in fetch_all(owner.target, destination, ids, lane=lane(owner.target))}
        named = []
        for record_id in ids:
            a, b = theirs.get(record_id), ours.get(record_id)
            parts = differing_parts(a, b, owner.ignore) if a is not None and b is not None else ()
            named.append(Difference(destination, record_id, "different", parts, namespace))
        return named

    def _emit(self, verdict: NamespaceVerification, difference: Difference) -> None:
        verdict.add(difference, self.owner.options.keep_differences)
        if self.owner.on_difference is not None:
            self.owner.on_difference(difference)
