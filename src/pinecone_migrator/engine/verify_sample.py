"""``verify --level sample N``: N IDs drawn uniformly from the source listing, fetched from both sides.

A quick check of a huge index: the whole source is listed (cheap: IDs only) but only N records are fetched.
It finds missing and different records among those drawn, never extra ones.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable

from ..records import Record, record_digest
from ..stores.base import Store
from .migrate import MigrationRequest
from .verify_diff import Difference, differing_parts
from .verify_result import NamespaceVerification, VerifyOptions, VerifyResult

SAMPLE_NOTE = "the sample level compares records drawn from the source: it cannot see extra target records"


def draw_ids(
    source: Store, namespaces: list[str], size: int, rng: random.Random, page_size: int, stop: threading.Event
) -> list[tuple[str, str]] | None:
    """``size`` (namespace, ID) pairs drawn uniformly from all the namespaces' listings (reservoir
    sampling); None when stopped."""
    chosen: list[tuple[str, str]] = []
    seen = 0
    for namespace in namespaces:
        cursor: str | None = None
        while True:
            if stop.is_set():
                return None
            page = source.list_ids(namespace, cursor=cursor, limit=page_size)
            for record_id in page.ids:
                seen += 1
                if len(chosen) < size:
                    chosen.append((namespace, record_id))
                else:
                    slot = rng.randrange(seen)
                    if slot < size:
                        chosen[slot] = (namespace, record_id)
            cursor = page.cursor
            if cursor is None:
                break
    return chosen


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
    routing = request.namespace_from_metadata is not None
    predicate = request.predicate()
    ignore = options.ignore_metadata_keys
    verdicts: dict[str, NamespaceVerification] = {}
    feeders: dict[str, list[str]] = {}
    for namespace in namespaces:
        if not routing:
            feeders.setdefault(request.destination(namespace), []).append(namespace)
    for destination, sources in feeders.items():
        verdicts[destination] = NamespaceVerification(destination, sources, sampled=0)

    def verdict_for(destination: str) -> NamespaceVerification:
        if destination not in verdicts:
            verdicts[destination] = NamespaceVerification(destination, list(namespaces), sampled=0)
        return verdicts[destination]

    def winner(record: Record, namespace: str, destination: str) -> tuple[Record, str]:
        """In a merge, the record a later source namespace sent to the same place replaces this one."""
        found, origin = record, namespace
        for later in namespaces[namespaces.index(namespace) + 1 :]:
            if not routing and request.destination(later) != destination:
                continue
            for candidate in source.fetch(later, [record.id]):
                if predicate is not None and not predicate(candidate.metadata):
                    continue
                if request.route(later)(candidate)[0] == destination:
                    found, origin = request.as_written(later, candidate), later
        return found, origin

    drawn = draw_ids(
        source, namespaces, options.sample_size, random.Random(options.seed), options.page_size, stop
    )
    if drawn is None:
        result.interrupted = True
        return
    by_namespace: dict[str, list[str]] = {}
    for namespace, record_id in drawn:
        by_namespace.setdefault(namespace, []).append(record_id)
    step = options.fetch_size
    for namespace in namespaces:
        ids = sorted(by_namespace.get(namespace, ()))
        route = request.route(namespace)
        for start in range(0, len(ids), step):
            if stop.is_set():
                result.interrupted = True
                break
            records = source.fetch(namespace, ids[start : start + step])
            result.source_records += len(records)
            per_destination: dict[str, list[Record]] = {}
            for record in records:
                if predicate is not None and not predicate(record.metadata):
                    result.filtered_out += 1
                    continue
                placed = route(record)[0]
                if placed is None:
                    result.unroutable += 1
                    continue
                per_destination.setdefault(placed, []).append(record)
            for destination, group in per_destination.items():
                ours = {r.id: r for r in target.fetch(destination, [r.id for r in group])}
                result.target_records += len(ours)
                verdict = verdict_for(destination)
                assert verdict.sampled is not None
                verdict.sampled += len(group)
                merged = routing or len(feeders.get(destination, ())) > 1
                for record in group:
                    expected, origin = request.as_written(namespace, record), namespace
                    found = ours.get(record.id)
                    same = found is not None and record_digest(expected, ignore) == record_digest(
                        found, ignore
                    )
                    if not same and merged:
                        expected, origin = winner(record, namespace, destination)
                        same = found is not None and record_digest(expected, ignore) == record_digest(
                            found, ignore
                        )
                    if same:
                        continue
                    if found is None:
                        difference = Difference(destination, record.id, "missing", (), origin)
                    else:
                        parts = differing_parts(expected, found, ignore)
                        difference = Difference(destination, record.id, "different", parts, origin)
                    verdict.add(difference, options.keep_differences)
                    if on_difference is not None:
                        on_difference(difference)
    result.namespaces = [verdicts[d] for d in sorted(verdicts)]
