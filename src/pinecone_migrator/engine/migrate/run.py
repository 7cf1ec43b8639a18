"""Migrate one index to another: check or create the target, then copy every selected namespace.

Namespaces are copied side by side unless records of several source namespaces can meet in one target
namespace; progress goes to a :class:`ProgressListener`; everything is resumable through the ledger.
"""

from __future__ import annotations

import logging
import threading
import time
from functools import partial

from ...statelock import hold
from ...stores.base import (
    Finishes,
    Store,
    TracksFreshness,
    fetches_by_metadata,
)
from ..ledger import Ledger
from ..progress import NullProgress, ProgressListener
from ..request import MigrationRequest
from ..walk import Halted, batch_ids, run_walker
from .copy import CopyRun, Route, RunTotals
from .fold import (
    refuse_shared_ids,
)
from .namespace_copy import copy_in_parallel, copy_namespace
from .plan import Plan, plan_namespace
from .shards import list_round_trip, namespaces_side_by_side
from .summary import MigrationSummary, NamespaceSummary
from .target import create_target, inspect_target, select, target_state

log = logging.getLogger("pinecone_migrator.migrate")


def plan_migration(request: MigrationRequest, source: Store, target: Store) -> tuple[Plan, str]:
    """What a migration would do, and the target's state; writes nothing anywhere."""
    description, namespaces, _ = select(request, source)
    state = target_state(description, target, request)
    if request.namespace_to_metadata is not None:
        refuse_shared_ids(source, namespaces)
    plans = [
        plan_namespace(
            source,
            namespace,
            f"<metadata {request.namespace_from_metadata}>"
            if request.namespace_from_metadata
            else request.destination(namespace),
            description.namespace_counts[namespace],
            request.options,
            target,
            partial(request.as_written, namespace),
        )
        for namespace in namespaces
    ]
    return Plan(namespaces=plans, page_size=request.options.page_size), state


def _namespace_width(
    request: MigrationRequest, namespaces: list[str], counts: dict[str, int], round_trip: float | None
) -> int:
    """How many namespaces to copy at once. One at a time when records of several source namespaces can
    meet in one target namespace: then a later namespace's record must be the one that stays. (A fold's
    namespaces share no ID, so they can go side by side.) Otherwise ``--concurrency`` when given, or as many
    as the measured list round trip needs (:func:`namespaces_side_by_side`)."""
    merging = request.namespace_to_metadata is None and (
        request.namespace_from_metadata is not None
        or len({request.destination(ns) for ns in namespaces}) < len(namespaces)
    )
    if merging:
        return 1
    fixed = request.options.concurrency
    if fixed is not None or round_trip is None:
        return min(len(namespaces), fixed or 4)
    mean = sum(counts.get(ns) or 0 for ns in namespaces) / max(1, len(namespaces))
    return namespaces_side_by_side(len(namespaces), mean, round_trip, request.options.page_size)


def _mean_records(namespaces: list[str], counts: dict[str, int]) -> int | None:
    """Records in a namespace to copy, on average (a batch of small namespaces holds no more)."""
    known = [counts[ns] for ns in namespaces if counts.get(ns)]
    return max(1, sum(known) // len(known)) if known else None


def _list_round_trip(source: Store, namespaces: list[str], counts: dict[str, int]) -> float | None:
    """The source's list round trip, measured once on the largest namespace to copy (None: nothing to list
    or a filter's enumeration)."""
    listed = [ns for ns in namespaces if counts.get(ns)]
    if not listed or not source.capabilities().can_list:
        return None
    return list_round_trip(source, max(listed, key=lambda ns: counts.get(ns) or 0))


def _copy_one(run: CopyRun, ledger: Ledger, namespace: str, route: Route) -> bool:
    if run.stopping():
        return False
    try:
        return copy_namespace(run, namespace, route)
    except Halted:
        raise  # another namespace failed: its error is the one noted
    except Exception as error:
        ledger.note_error(namespace, "", str(error))
        raise


def _summaries(ledger: Ledger) -> list[NamespaceSummary]:
    return [
        NamespaceSummary(
            namespace=u.namespace,
            source_count=u.total_hint,
            listed=u.listed,
            copied=u.copied,
            skipped=u.skipped,
            dead_letters=u.dead,
            done=u.done,
        )
        for u in ledger.namespaces()
    ]


def _changed(request: MigrationRequest) -> dict[str, int] | None:
    """Records this run changed, by accepted change (None: the target holds every record exactly)."""
    fidelity = request.fidelity
    return None if fidelity is None or fidelity.exact else dict(fidelity.changed)


def run_migration(
    request: MigrationRequest,
    source: Store,
    target: Store,
    stop: threading.Event | None = None,
    progress: ProgressListener | None = None,
) -> MigrationSummary:
    stop = stop or threading.Event()
    started = time.monotonic()
    description, namespaces, predicate = select(request, source)
    target_exists = inspect_target(description, target, request)
    if request.namespace_to_metadata is not None:
        refuse_shared_ids(source, namespaces, stop)
    server_filter = request.filter if request.options.server_side_filter and request.filter else None
    fingerprint = request.fingerprint()
    if server_filter is not None and fetches_by_metadata(source) is not None:
        fingerprint["enumeration"] = "fetch_by_metadata"  # its cursors are not list cursors
    ledger_path = request.ledger_path()
    Ledger.check_binding(ledger_path, fingerprint, request.restart)
    with hold(ledger_path, "migrate"):
        if not target_exists:
            create_target(description, target, request)
        counts = description.namespace_counts
        listener = progress or NullProgress()
        options = request.options
        totals = RunTotals()
        ledger = Ledger(ledger_path)
        try:
            resumed = ledger.bind(fingerprint, restart=request.restart)
            for namespace in namespaces:
                ledger.ensure_unit(namespace, total_hint=counts.get(namespace))
            earlier_units = ledger.namespaces()
            earlier = {unit.namespace: unit.listed for unit in earlier_units}
            copied_before = sum(unit.copied for unit in earlier_units)
            listener.run_started(
                {ns: counts.get(ns) for ns in namespaces}, {ns: earlier.get(ns, 0) for ns in namespaces}
            )

            def concurrency_changed(old: int, new: int, reason: str) -> None:
                log.info("concurrency %d -> %d (%s)", old, new, reason)
                listener.concurrency_changed(old, new, reason)

            round_trip = _list_round_trip(source, namespaces, counts)
            dimension = description.shape.dimension
            with run_walker(
                (source, target),
                stop,
                concurrency=options.concurrency,
                adaptive=options.adaptive,
                on_change=concurrency_changed,
                name="copy",
                batch_size=batch_ids(source, dimension, options.page_size),
                dimension=dimension,
                typical_batch=_mean_records(namespaces, counts),
            ) as walker:
                run = CopyRun(
                    totals=totals,
                    source=source,
                    target=target,
                    ledger=ledger,
                    options=options,
                    walker=walker,
                    progress=listener,
                    predicate=predicate,
                    server_filter=server_filter,
                    as_written=request.written_by_copy,
                    list_round_trip=round_trip,
                )
                width = _namespace_width(request, namespaces, counts, round_trip)
                if width > 1:
                    log.info("copying %d namespaces at once", width)
                copy_in_parallel(
                    run,
                    [partial(_copy_one, run, ledger, ns, request.route(ns)) for ns in namespaces],
                    width,
                )
            summaries = _summaries(ledger)
            if isinstance(target, Finishes) and not stop.is_set() and all(s.done for s in summaries):
                target.finish()
        finally:
            if isinstance(target, TracksFreshness):
                ledger.record_written_lsns(target.written_lsns())
            ledger.close()
        return MigrationSummary(
            namespaces=summaries,
            elapsed_seconds=time.monotonic() - started,
            interrupted=stop.is_set(),
            resumed=resumed,
            read_back=totals.read_back if options.read_back else None,
            resent=totals.resent if options.read_back else None,
            copied_before=copied_before,
            changed=_changed(request),
        )
