"""``verify --level sample N``: N IDs drawn uniformly from the source listing, fetched from both sides.

A quick check of a huge index: the whole source is listed (cheap: IDs only) but only N records are fetched.
It finds missing and different records among those drawn, never extra ones.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from ...records import Record, record_digest
from ...stores.base import Store
from ..request import MigrationRequest
from ..walk import Position, Walker, fetch_all, listing, pages
from .diff import Difference, differing_parts
from .result import NamespaceVerification, VerifyOptions, VerifyResult
from .walker import known_pages, verify_walker

SAMPLE_NOTE = "the sample level compares records drawn from the source: it cannot see extra target records"


def draw_ids(
    source: Store, namespaces: list[str], size: int, rng: random.Random, page_size: int, stop: threading.Event
) -> list[tuple[str, str]] | None:
    """``size`` (namespace, ID) pairs drawn uniformly from all the namespaces' listings (reservoir
    sampling); None when stopped."""
    chosen: list[tuple[str, str]] = []
    seen = 0
    for namespace in namespaces:
        complete = False
        for page in pages(listing(source, namespace, page_size=page_size), stop):
            for record_id in page.items:
                seen += 1
                if len(chosen) < size:
                    chosen.append((namespace, record_id))
                else:
                    slot = rng.randrange(seen)
                    if slot < size:
                        chosen[slot] = (namespace, record_id)
            complete = page.cursor is None
        if not complete:
            return None
    return chosen


@dataclass
class _Compared:
    """What comparing one batch of drawn IDs found, merged into the result in the order they were drawn."""

    source_records: int = 0
    target_records: int = 0
    filtered_out: int = 0
    unroutable: int = 0
    sampled: dict[str, int] = field(default_factory=dict)  # per target namespace
    differences: list[Difference] = field(default_factory=list)


class SampleCheck:
    """Compares drawn records of the source with what the target holds (a batch at a time, in the pool)."""

    def __init__(
        self,
        request: MigrationRequest,
        source: Store,
        target: Store,
        namespaces: list[str],
        options: VerifyOptions,
    ) -> None:
        self.request = request
        self.source = source
        self.target = target
        self.namespaces = namespaces
        self.options = options
        self.routing = request.namespace_from_metadata is not None
        self.predicate = request.predicate()
        self.feeders: dict[str, list[str]] = {}
        if not self.routing:
            for namespace in namespaces:
                self.feeders.setdefault(request.destination(namespace), []).append(namespace)

    def compare(self, namespace: str, ids: list[str], walker: Walker | None = None) -> _Compared:
        """Fetch drawn IDs of ``namespace`` from both sides (each fetch holding a slot of that store's lane
        in ``walker``) and name what differs."""
        compared = _Compared()
        lane = (lambda store: None) if walker is None else walker.lane
        records = fetch_all(self.source, namespace, ids, lane=lane(self.source))
        compared.source_records = len(records)
        route = self.request.route(namespace)
        per_destination: dict[str, list[Record]] = {}
        for record in records:
            if self.predicate is not None and not self.predicate(record.metadata):
                compared.filtered_out += 1
                continue
            placed = route(record)[0]
            if placed is None:
                compared.unroutable += 1
                continue
            per_destination.setdefault(placed, []).append(record)
        for destination, group in per_destination.items():
            wanted = [r.id for r in group]
            ours = {r.id: r for r in fetch_all(self.target, destination, wanted, lane=lane(self.target))}
            compared.target_records += len(ours)
            compared.sampled[destination] = len(group)
            for record in group:
                difference = self._difference(namespace, destination, record, ours.get(record.id))
                if difference is not None:
                    compared.differences.append(difference)
        return compared

    def _difference(
        self, namespace: str, destination: str, record: Record, found: Record | None
    ) -> Difference | None:
        ignore = self.options.ignore_metadata_keys
        expected, origin = self.request.as_written(namespace, record), namespace
        same = found is not None and record_digest(expected, ignore) == record_digest(found, ignore)
        if not same and (self.routing or len(self.feeders.get(destination, ())) > 1):
            expected, origin = self._winner(record, namespace, destination)
            same = found is not None and record_digest(expected, ignore) == record_digest(found, ignore)
        if same:
            return None
        if found is None:
            return Difference(destination, record.id, "missing", (), origin)
        parts = differing_parts(expected, found, ignore)
        return Difference(destination, record.id, "different", parts, origin)

    def _winner(self, record: Record, namespace: str, destination: str) -> tuple[Record, str]:
        """In a merge, the record a later source namespace sent to the same place replaces this one."""
        request, predicate = self.request, self.predicate
        found, origin = record, namespace
        for later in self.namespaces[self.namespaces.index(namespace) + 1 :]:
            if not self.routing and request.destination(later) != destination:
                continue
            for candidate in fetch_all(self.source, later, [record.id]):
                if predicate is not None and not predicate(candidate.metadata):
                    continue
                if request.route(later)(candidate)[0] == destination:
                    found, origin = request.as_written(later, candidate), later
        return found, origin


def verify_sample(
    request: MigrationRequest,
    source: Store,
    target: Store,
    namespaces: list[str],
    options: VerifyOptions,
    result: VerifyResult,
    stop: threading.Event,
    on_difference: Callable[[Difference], None] | None,
) -> None:
    result.notes.append(SAMPLE_NOTE)
    check = SampleCheck(request, source, target, namespaces, options)
    verdicts = {
        destination: NamespaceVerification(destination, sources, sampled=0)
        for destination, sources in check.feeders.items()
    }

    def merge(compared: _Compared, _: Position) -> None:
        result.source_records += compared.source_records
        result.target_records += compared.target_records
        result.filtered_out += compared.filtered_out
        result.unroutable += compared.unroutable
        for destination, sampled in compared.sampled.items():
            verdict = verdicts.get(destination)
            if verdict is None:
                verdict = verdicts[destination] = NamespaceVerification(
                    destination, list(namespaces), sampled=0
                )
            verdict.sampled = (verdict.sampled or 0) + sampled
        for difference in compared.differences:
            verdicts[difference.namespace].add(difference, options.keep_differences)
            if on_difference is not None:
                on_difference(difference)

    drawn = draw_ids(
        source, namespaces, options.sample_size, random.Random(options.seed), options.page_size, stop
    )
    if drawn is None:
        result.interrupted = True
        return
    by_namespace: dict[str, list[str]] = {}
    for namespace, record_id in drawn:
        by_namespace.setdefault(namespace, []).append(record_id)
    with verify_walker(source, target, options, stop) as walker:
        for namespace in namespaces:
            ids = sorted(by_namespace.get(namespace, ()))
            compare = partial(check.compare, namespace, walker=walker)
            if not walker.walk(known_pages(ids, options.fetch_size), compare, merge).complete:
                result.interrupted = True
                break
    result.namespaces = [verdicts[d] for d in sorted(verdicts)]
