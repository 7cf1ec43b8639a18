"""Repair what verify found: re-copy missing and different records from the source; delete extra ones only
when asked. The caller verifies again afterwards."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from ...errors import UserError
from ...records import Record
from ...stores.base import Store, TracksFreshness
from ..migrate.target import selected_namespaces
from ..pacing import AdaptiveLimit, paced
from ..request import MigrationRequest
from ..walk import Position, fetch_all, run_walker
from ..writes import DeadLetter, write_in_batches
from .diff import Difference
from .result import VerifyResult
from .walker import known_pages, log_change


@dataclass
class RepairSummary:
    rewritten: int = 0  # records copied again from the source
    deleted: int = 0  # extra records deleted from the target (delete_extra)
    extra_left: int = 0  # extra records left in place (delete_extra not given)
    source_gone: int = 0  # listed as missing/different, but no longer in the source
    not_expected: int = 0  # the source record no longer passes the filter, or routes nowhere
    dead_letters: list[DeadLetter] = field(default_factory=list)  # records the target refused
    fresh: dict[str, bool | None] = field(default_factory=dict)  # target namespaces waited for
    interrupted: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "rewritten": self.rewritten,
            "deleted": self.deleted,
            "extra_left": self.extra_left,
            "source_gone": self.source_gone,
            "not_expected": self.not_expected,
            "dead_letters": [
                {"id": record_id, "namespace": namespace, "reason": reason}
                for record_id, namespace, reason in self.dead_letters
            ],
            "fresh": self.fresh,
            "interrupted": self.interrupted,
        }


def wait_for_writes(target: Store, lsns: Mapping[str, int], timeout_seconds: float) -> dict[str, bool | None]:
    """Per target namespace, whether reads now see writes up to its LSN: True, False (gave up after the
    shared ``timeout_seconds``), or None (the store reports no LSNs)."""
    if not isinstance(target, TracksFreshness):
        return dict.fromkeys(lsns)
    deadline = time.monotonic() + timeout_seconds
    return {
        namespace: target.wait_until_indexed(namespace, lsn, max(0.0, deadline - time.monotonic()))
        for namespace, lsn in lsns.items()
    }


def repair(
    differences: VerifyResult | Iterable[Difference],
    request: MigrationRequest,
    source: Store,
    target: Store,
    *,
    delete_extra: bool = False,
    stop: threading.Event | None = None,
    fetch_size: int = 1_000,
    freshness_timeout_seconds: float = 120.0,
    concurrency: int | None = None,
    adaptive: bool = True,
) -> RepairSummary:
    """Re-copy missing and different records (fetched from the source, filtered and routed as the copy does,
    written with the copy's batching and dead-letter isolation); delete extra ones only with ``delete_extra``.

    ``differences`` is a :class:`VerifyResult` (whose lists must be complete) or any iterable of differences,
    such as :func:`~pinecone_migrator.engine.verify.diff.read_diff` of a diff file. Up to ``concurrency``
    batches of ``fetch_size`` differences are repaired at once (None: as many as memory allows, each store's
    calls in flight finding their level as in a migration); a 429 from either store halves its calls in
    flight (``adaptive`` False: it does not, so that a test can compare the requests sent).
    """
    if isinstance(differences, VerifyResult):
        if differences.truncated:
            raise UserError(
                "This verify result lists only part of its differences (keep_differences); "
                "repair from its diff file instead."
            )
        differences = differences.differences()
    stop = stop or threading.Event()
    namespaces = selected_namespaces(request, source.describe())
    routing = request.namespace_from_metadata is not None
    summary = RepairSummary()
    recopy: dict[tuple[str, ...], list[Difference]] = {}  # candidate source namespaces -> differences
    extra: dict[str, list[str]] = {}
    for difference in differences:
        if difference.kind == "extra":
            extra.setdefault(difference.namespace, []).append(difference.id)
            continue
        if difference.source_namespace is not None:
            candidates: tuple[str, ...] = (difference.source_namespace,)
        elif routing:
            candidates = tuple(namespaces)
        else:
            candidates = tuple(ns for ns in namespaces if request.destination(ns) == difference.namespace)
        recopy.setdefault(candidates, []).append(difference)
    written: set[str] = set()

    def recopied(part: _Recopied, _: Position) -> None:
        summary.rewritten += part.rewritten
        summary.source_gone += part.source_gone
        summary.not_expected += part.not_expected
        summary.dead_letters += part.dead_letters
        written.update(part.destinations)

    def deleted(done: tuple[str, int], _: Position) -> None:
        namespace, count = done
        summary.deleted += count
        written.add(namespace)

    with run_walker(
        (source, target),
        stop,
        concurrency=concurrency,
        adaptive=adaptive,
        on_change=log_change,
        name="repair",
        batch_size=fetch_size,
    ) as walker:
        for candidates, found in recopy.items():
            copy_again = partial(
                _recopy, request, source, target, candidates, walker.lane(source), walker.lane(target)
            )
            if not walker.walk(known_pages(found, fetch_size), copy_again, recopied).complete:
                summary.interrupted = True
        for namespace, ids in extra.items():
            if not delete_extra:
                summary.extra_left += len(ids)
                continue
            delete = partial(_delete, target, namespace, walker.lane(target))
            per_request = max(1, target.capabilities().max_delete_ids)
            if not walker.walk(known_pages(ids, per_request), delete, deleted).complete:
                summary.interrupted = True
    if isinstance(target, TracksFreshness):
        lsns = {ns: lsn for ns, lsn in target.written_lsns().items() if ns in written}
        summary.fresh = wait_for_writes(target, lsns, freshness_timeout_seconds)
    return summary


@dataclass
class _Recopied:
    """What copying one batch of differences again did."""

    rewritten: int = 0
    source_gone: int = 0
    not_expected: int = 0
    dead_letters: list[DeadLetter] = field(default_factory=list)
    destinations: set[str] = field(default_factory=set)  # target namespaces written


def _recopy(
    request: MigrationRequest,
    source: Store,
    target: Store,
    candidates: tuple[str, ...],
    reads: AdaptiveLimit | None,
    writes: AdaptiveLimit | None,
    differences: list[Difference],
) -> _Recopied:
    """Copy the records of ``differences`` again from the source.

    Of the ``candidates`` holding an ID, the last whose record the filter keeps and routes to the
    difference's namespace wins (as in a merge); failing that, the last one routed anywhere (the source
    changed since verify: the record goes where a migration would now put it).
    """
    predicate = request.predicate()
    wanted = {d.id: d.namespace for d in differences}
    ids = list(wanted)
    chosen: dict[str, tuple[Record, str | None, bool]] = {}  # id -> (record, destination, routed there)
    for namespace in candidates:
        route = request.route(namespace)
        for record in fetch_all(source, namespace, ids, lane=reads):
            passes = predicate is None or predicate(record.metadata)
            destination = route(record)[0] if passes else None
            there = destination == wanted.get(record.id)
            known = chosen.get(record.id)
            if known is None or there or (destination is not None and not known[2]):
                chosen[record.id] = (request.as_written(namespace, record), destination, there)
    done = _Recopied(source_gone=len(ids) - len(chosen))
    per_destination: dict[str, list[Record]] = {}
    for record, destination, _ in chosen.values():
        if destination is None:
            done.not_expected += 1
        else:
            per_destination.setdefault(destination, []).append(record)
    options = request.options
    for destination, records in per_destination.items():
        for written, refused in write_in_batches(
            target, destination, records, options.max_request_records, options.max_request_bytes, lane=writes
        ):
            done.rewritten += len(written)
            done.dead_letters += refused
    done.destinations = set(per_destination)
    return done


def _delete(target: Store, namespace: str, lane: AdaptiveLimit | None, ids: list[str]) -> tuple[str, int]:
    with paced(lane, len(ids)):
        return namespace, target.delete(namespace, ids).count
