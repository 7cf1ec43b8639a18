"""`plan`: what a migration would move, and each way of moving it compared — allowed here or not, estimated
time and cost — with the one recommended. Reads only: a few sample pages and a few timed list calls."""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field, replace

from ...prices import DEFAULT_PRICES, Prices
from ...stores.base import DEFAULT_NAMESPACE, Store, StoreDescription, same_location
from ...stores.fidelity import PINECONE, Fidelity, pair, room_of
from ..migrate.paths import (
    FetchSplit,
    ImportRules,
    PathComparison,
    RoundTrips,
    Situation,
    Streaming,
    compare_paths,
    fetch_split,
)
from ..migrate.plan import Plan
from ..migrate.pod_sample import sampled_by_query
from ..migrate.run import plan_migration
from ..migrate.shards import namespaces_side_by_side, shards_wanted
from ..request import MigrationRequest
from ..walk import batches_in_memory

TIMED_CALLS = 3


@dataclass(frozen=True)
class PathSettings:
    """What the comparison needs beyond the request. ``source_as_target_sees_it``: the source index opened
    with the target's credentials and control plane (same project when it is there, at the same place);
    ``split_fetch``: how the source splits a fetch into requests (default: its most IDs per request)."""

    import_rules: ImportRules
    prices: Prices = DEFAULT_PRICES
    bucket: str | None = None
    integration_id: str | None = None
    source_as_target_sees_it: Store | None = None
    split_fetch: FetchSplit | None = None
    timed_calls: int = TIMED_CALLS


@dataclass(frozen=True)
class PathPlan:
    plan: Plan
    target_state: str
    trips: RoundTrips
    comparison: PathComparison
    situation: Situation = field(repr=False)
    # What the target does not hold exactly (--accept-changes is needed where it is lossy).
    fidelity: Fidelity = field(default_factory=Fidelity)

    def to_json(self) -> dict[str, object]:
        return {
            "dry_run": True,
            "target": self.target_state,
            **self.plan.to_json(),
            "round_trip_seconds": {
                "source": round(self.trips.source, 4),
                "target": round(self.trips.target, 4),
                "target_measured_by": self.trips.target_measured_by,
            },
            **self.comparison.to_json(),
            **self.fidelity.to_json(),
            "needs_accept_changes": not self.fidelity.exact,
        }


def plan_paths(request: MigrationRequest, source: Store, target: Store, settings: PathSettings) -> PathPlan:
    """Sample, time and compare; a pod-based source (no list) is sampled by a query instead."""
    listed = sampled_by_query(source)
    plan, state = plan_migration(request, listed, target)
    if settings.split_fetch is not None:
        plan = fetch_split(plan, settings.split_fetch)
    described = source.describe()
    target_exists = target.exists()
    found = target.describe() if target_exists else None
    first = plan.namespaces[0].source if plan.namespaces else DEFAULT_NAMESPACE
    calls = settings.timed_calls
    if found is not None:
        trips = RoundTrips(time_list(listed, first, calls), time_list(target, _some_namespace(found), calls))
    else:
        trips = RoundTrips(time_list(listed, first, calls), time_exists(target, calls), "control plane")
    fidelity = pair(source, target, described.shape)
    source_kind, target_kind = room_of(source).kind, room_of(target).kind
    situation = replace(
        _situation(request, described, found, settings),
        source_lists=listed is source,
        other_source=None if source_kind == PINECONE.kind else source_kind,
        other_target=None if target_kind == PINECONE.kind else target_kind,
    )
    comparison = compare_paths(
        plan,
        trips,
        _streaming(request, plan, trips, source),
        situation,
        settings.prices,
        settings.import_rules,
    )
    return PathPlan(plan, state, trips, comparison, situation, fidelity)


def time_list(store: Store, namespace: str, calls: int) -> float:
    """The median round trip of ``calls`` list requests."""

    def once() -> float:
        started = time.perf_counter()
        store.list_ids(namespace, limit=100)
        return time.perf_counter() - started

    return statistics.median(once() for _ in range(max(1, calls)))


def time_exists(store: Store, calls: int) -> float:
    def once() -> float:
        started = time.perf_counter()
        store.exists()
        return time.perf_counter() - started

    return statistics.median(once() for _ in range(max(1, calls)))


def _some_namespace(found: StoreDescription) -> str:
    return next(iter(sorted(found.namespace_counts)), DEFAULT_NAMESPACE)


def _streaming(request: MigrationRequest, plan: Plan, trips: RoundTrips, source: Store) -> Streaming:
    """As the copy would run it (the engine's own rules, at the measured round trip): batches in flight as
    fixed or as many as memory holds, namespaces side by side unless several land in one target namespace,
    each namespace's listing shards."""
    options = request.options
    largest = max((n.ids_per_fetch for n in plan.namespaces), default=100.0)
    dimension = source.describe().shape.dimension
    in_flight = options.concurrency or batches_in_memory(round(largest), dimension)
    merging = request.namespace_to_metadata is None and (
        request.namespace_from_metadata is not None or len(plan.target_namespaces) < len(plan.namespaces)
    )
    if options.concurrency is not None:  # as run._namespace_width
        side_by_side = min(len(plan.namespaces), options.concurrency)
    else:
        mean = plan.records / max(1, len(plan.namespaces))
        side_by_side = namespaces_side_by_side(len(plan.namespaces), mean, trips.source, plan.page_size)
    shards = {
        n.source: shards_wanted(
            source,  # not called: the round trip is given
            n.source,
            n.records,
            options.shards,
            options.concurrency,
            options.shard_min_records,
            plan.page_size,
            round_trip=trips.source,
        )
        or 1
        for n in plan.namespaces
    }
    return Streaming(in_flight=in_flight, namespaces_at_once=1 if merging else side_by_side, shards=shards)


def _situation(
    request: MigrationRequest,
    source: StoreDescription,
    target: StoreDescription | None,
    settings: PathSettings,
) -> Situation:
    if target is not None:
        where = (target.cloud, target.region)
    else:
        where = (request.target_cloud or source.cloud, request.target_region or source.region)
    seen = settings.source_as_target_sees_it
    same_project = (
        seen is not None and seen.exists() and same_location(seen.describe().location, source.location)
    )
    return Situation(
        source_serverless=source.deployment_type == "managed",
        same_project=same_project,
        # a pod-based index names an environment, not a cloud and region: nothing to compare
        same_region=None in (source.cloud, source.region) or where == (source.cloud, source.region),
        target_exists=target is not None,
        changed_by=_changed_by(request, source),
        existing_target_namespaces=frozenset(target.namespace_counts) if target else frozenset(),
        bucket=settings.bucket,
        integration_id=settings.integration_id,
        routed_by_metadata=request.namespace_from_metadata is not None,
        source_dedicated_reads=source.dedicated_read_nodes,
        regions=f"source {source.cloud}/{source.region}, target {where[0]}/{where[1]}",
    )


def _changed_by(request: MigrationRequest, source: StoreDescription) -> tuple[str, ...]:
    """The options that make the copy differ from the whole index as it is."""
    changed = []
    if request.namespaces and set(request.namespaces) != set(source.namespace_counts):
        changed.append("--namespace")
    if any(a != b for a, b in request.namespace_map):
        changed.append("--namespace-map")
    if request.target_namespace is not None:
        changed.append("--target-namespace")
    if request.filter:
        changed.append("--filter")
    if request.namespace_from_metadata is not None:
        changed.append("--namespace-from-metadata")
    if request.namespace_to_metadata is not None:
        changed.append("--namespace-to-metadata")
    return tuple(changed)
