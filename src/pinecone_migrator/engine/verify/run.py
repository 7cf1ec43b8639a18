"""Verify: prove that a target holds exactly what a migration with a given request should have produced.

Two sides are compared per *target* namespace:

* **expected**: the source namespaces the request selects, scanned (list + fetch) and put through the
  request's filter and routing exactly as the copy does; records the routing places nowhere (dead letters of
  a migration) and records the filter leaves out are expected nowhere and counted apart;
* **actual**: the target namespaces those records land in, scanned the same way.

Levels (:class:`VerifyOptions.level`):

* ``count``: ``describe`` counts of source and target namespaces. Only meaningful when each target namespace
  is fed by exactly one source namespace, unfiltered and unrouted; otherwise the result says it cannot judge.
  Counts lag recent writes on Pinecone.
* ``digest`` (default): per target namespace and per bucket of IDs (a hash of the ID, the same on both sides),
  a count and a sum of record digests. A difference is narrowed to buckets before anything is compared ID by
  ID. Where several source namespaces feed one target namespace (merges, metadata routing), a later record may
  legitimately replace an earlier one with the same ID, so differing buckets there are resolved ID by ID.
* ``full``: the digest pass, then for the differing buckets (or all of them, ``all_buckets``) a second scan
  keeping ``id -> digest`` maps of those buckets only (in rounds bounded by ``max_ids_in_memory``), giving
  the exact missing, extra and different IDs; the records of different IDs are fetched from both sides to
  name the parts that differ (``values``, ``sparse``, ``metadata:<key>``).
* ``sample``: N IDs drawn uniformly from the source listing (reservoir sampling), fetched from both sides.

Stores are used through the Store protocol only, read with the one walk (:mod:`.walk`, see
:mod:`.walker`): a 429 from either store halves the fetches in flight, as in a migration. Memory is
bounded by the pages in flight, the per-bucket digests, and (level ``full``) the ID maps of the buckets
being examined.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

from ...stores.base import Store, StoreDescription
from ..migrate.target import selected_namespaces
from ..request import MigrationRequest
from .buckets import BucketVerifier, fixed_feeders
from .checkpoints import VerifyCheckpoints, verify_fingerprint
from .diff import Difference, JsonlDiffWriter, read_diff
from .digests import bucket_of
from .repair import RepairSummary, repair, wait_for_writes
from .result import LEVELS, Level, NamespaceVerification, VerifyOptions, VerifyProgress, VerifyResult
from .sample import verify_sample

__all__ = [
    "LEVELS",
    "Difference",
    "JsonlDiffWriter",
    "Level",
    "NamespaceVerification",
    "RepairSummary",
    "VerifyCheckpoints",
    "VerifyOptions",
    "VerifyProgress",
    "VerifyResult",
    "bucket_of",
    "read_diff",
    "repair",
    "verify",
    "verify_fingerprint",
    "wait_for_writes",
]

COUNT_LAG_NOTE = "counts come from describe_index_stats and may lag recent writes"


def verify(
    request: MigrationRequest,
    source: Store,
    target: Store,
    options: VerifyOptions | None = None,
    *,
    stop: threading.Event | None = None,
    on_difference: Callable[[Difference], None] | None = None,
    target_lsns: Mapping[str, int] | None = None,
    progress: VerifyProgress | None = None,
    checkpoints: VerifyCheckpoints | None = None,
) -> VerifyResult:
    """Compare what ``request`` should have produced in ``target`` with what is there.

    ``on_difference`` is called once per differing ID as it is found (e.g. a :class:`JsonlDiffWriter`);
    ``target_lsns`` (per target namespace, e.g. from the migration's ledger) makes verify first wait until
    the target shows those writes, up to ``options.freshness_timeout_seconds``; ``stop`` is honoured between
    pages (the result is then ``interrupted`` and not equal). ``checkpoints`` (levels ``digest`` and
    ``full``) saves the digest scans' progress and continues what an interrupted verify saved; see
    :mod:`.checkpoints`. Its fingerprint must come from :func:`verify_fingerprint`.
    """
    options = options or VerifyOptions()
    stop = stop or threading.Event()
    started = time.monotonic()
    description = source.describe()
    namespaces = selected_namespaces(request, description)
    result = VerifyResult(level=options.level, buckets=options.buckets)
    if request.fidelity is not None and request.fidelity.lossy:
        result.compared_through = request.fidelity.names()
    if target_lsns:
        result.freshness = wait_for_writes(target, target_lsns, options.freshness_timeout_seconds)
        stale = sorted(ns for ns, fresh in result.freshness.items() if fresh is False)
        if stale:
            result.notes.append(
                f"gave up waiting after {options.freshness_timeout_seconds:.0f} s for the target to show its "
                f"writes to {', '.join(map(repr, stale))}: differences there may only be lag"
            )
    if options.level == "count":
        _verify_counts(request, description, target, namespaces, result)
    elif options.level == "sample":
        verify_sample(request, source, target, namespaces, options, result, stop, on_difference)
    else:
        BucketVerifier(
            request, source, target, options, namespaces, stop, result, on_difference, progress, checkpoints
        ).run(description.namespace_counts)
    result.interrupted = result.interrupted or stop.is_set()
    result.elapsed_seconds = time.monotonic() - started
    return result


def _verify_counts(
    request: MigrationRequest,
    description: StoreDescription,
    target: Store,
    namespaces: list[str],
    result: VerifyResult,
) -> None:
    source_counts = description.namespace_counts
    target_counts = target.describe().namespace_counts
    routing = request.namespace_from_metadata is not None
    feeders = {} if routing else fixed_feeders(request, namespaces)
    reasons = []
    if request.filter:
        reasons.append("a filter selects the records")
    if routing:
        reasons.append("records are routed by metadata")
    if any(len(sources) > 1 for sources in feeders.values()):
        reasons.append("several source namespaces are merged into one")
    result.notes.append(COUNT_LAG_NOTE)
    if reasons:
        note = f"the count level cannot judge this migration ({'; '.join(reasons)}); use the digest level"
        result.unjudged = note
        destinations = sorted(feeders) if not routing else sorted(target_counts)
        for destination in destinations:
            result.namespaces.append(
                NamespaceVerification(
                    namespace=destination,
                    source_namespaces=feeders.get(destination, namespaces),
                    actual_count=target_counts.get(destination, 0),
                    judged=False,
                    note=note,
                )
            )
        return
    for destination, (namespace,) in feeders.items():
        result.namespaces.append(
            NamespaceVerification(
                namespace=destination,
                source_namespaces=[namespace],
                expected_count=source_counts.get(namespace, 0),
                actual_count=target_counts.get(destination, 0),
            )
        )
