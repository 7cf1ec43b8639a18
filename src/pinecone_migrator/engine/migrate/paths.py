"""The ways a move can go, side by side: a streaming copy, a native backup and restore, an export and bulk
import — whether Pinecone allows each here, how long each should take and what it should cost.

Pure arithmetic over a :class:`~.plan.Plan` (sizes and request counts), the measured round trips, what is
known about the source and target (:class:`Situation`) and a price table; nothing here calls a store, so a
test can check every figure by hand. Times are lower bounds: a streaming copy cannot beat Pinecone's
published rate limits nor the round trips it waits for; the remote jobs (backup, restore, import) have no
published speed, so :data:`ASSUMED_SPEEDS` stands in and every figure says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

from ...prices import (
    GB,
    READ_UNITS_PER_LIST,
    Prices,
    read_units_for_fetch,
    write_units_for_upsert,
)
from .plan import NamespacePlan, Plan

STREAMING = "streaming copy"
NATIVE = "native backup -> restore"
BULK = "export -> bulk import"
BULK_RECOMMENDED_RECORDS = 10_000_000  # Pinecone recommends bulk import above about this many records

FetchSplit = Callable[[Sequence[str]], Iterable[Sequence[str]]]


@dataclass(frozen=True)
class ServiceSpeeds:
    """How fast the remote jobs go. Pinecone publishes no figure: these are our assumptions (a backup and a
    restore copy the index's files inside Pinecone's object storage; an import builds them from Parquet),
    chosen so that for one namespace of ~10 million records of dimension 768 an import and a streaming copy
    come out near each other, as Pinecone's own advice (import above ~10M records) suggests."""

    backup_start_seconds: float = 60.0
    backup_bytes_per_second: float = 500e6
    restore_start_seconds: float = 120.0  # a restore creates the index first
    restore_bytes_per_second: float = 200e6
    import_start_seconds: float = 300.0
    import_bytes_per_second: float = 100e6
    upload_bytes_per_second: float = 50e6  # an export writing Parquet files to the bucket from here


ASSUMED_SPEEDS = ServiceSpeeds()


@dataclass(frozen=True)
class ImportRules:
    """Pinecone's bulk-import limits, and how many records the export puts in one file."""

    max_namespaces: int
    max_files: int
    max_file_bytes: int
    rows_per_file: int


@dataclass(frozen=True)
class RoundTrips:
    """Seconds one request takes to each side, as measured (median of a few calls)."""

    source: float
    target: float
    target_measured_by: str = "list"  # "control plane" when the target index does not exist yet


@dataclass(frozen=True)
class Streaming:
    """How a streaming copy would run: batches (one fetch and its upserts) in flight at once, namespaces
    copied side by side, and each source namespace's listing shards (parallel listings)."""

    in_flight: int
    namespaces_at_once: int
    shards: dict[str, int] = field(default_factory=dict)  # source namespace -> listings; missing: 1


@dataclass(frozen=True)
class Situation:
    """What decides which paths Pinecone allows for this move."""

    source_serverless: bool
    same_project: bool
    same_region: bool
    target_exists: bool
    changed_by: tuple[str, ...] = ()  # options that make the copy differ from the index as it is
    existing_target_namespaces: frozenset[str] = frozenset()
    bucket: str | None = None
    integration_id: str | None = None
    routed_by_metadata: bool = False  # target namespaces are only known once the records are read
    source_lists: bool = True  # False: a pod-based source, whose IDs are found by query sweeps
    source_dedicated_reads: bool = False  # dedicated read nodes: no read rate limits, no read units
    regions: str = ""  # "source aws/us-east-1, target gcp/europe-west4", for the reason a restore cannot go
    # Another database (not a Pinecone index) on either side: only the client-side copy can move it.
    other_source: str | None = None  # that database's name
    other_target: str | None = None


@dataclass(frozen=True)
class Cost:
    """What a path uses, in Pinecone's units; :meth:`usd` prices it."""

    read_units: int = 0
    write_units: int = 0
    imported_bytes: int = 0
    backup_bytes: int = 0  # kept for a month
    restored_bytes: int = 0
    egress_bytes: int = 0

    def usd(self, prices: Prices) -> float:
        return (
            self.read_units * prices.usd_per_million_read_units / 1e6
            + self.write_units * prices.usd_per_million_write_units / 1e6
            + self.imported_bytes / GB * prices.usd_per_gb_imported
            + self.backup_bytes / GB * prices.usd_per_gb_month_backup
            + self.restored_bytes / GB * prices.usd_per_gb_restored
            + self.egress_bytes / GB * prices.usd_per_gb_egress
        )

    def to_json(self, prices: Prices) -> dict[str, object]:
        return {
            "read_units": self.read_units,
            "write_units": self.write_units,
            "imported_bytes": self.imported_bytes,
            "backup_bytes_for_a_month": self.backup_bytes,
            "restored_bytes": self.restored_bytes,
            "egress_bytes": self.egress_bytes,
            "usd": round(self.usd(prices), 4),
        }


@dataclass(frozen=True)
class PathEstimate:
    name: str
    seconds: float
    cost: Cost
    bound_by: str  # what the time is made of
    not_legal: tuple[str, ...] = ()  # why Pinecone would not allow it here; empty: allowed
    notes: tuple[str, ...] = ()

    @property
    def legal(self) -> bool:
        return not self.not_legal


@dataclass(frozen=True)
class PathComparison:
    paths: tuple[PathEstimate, ...]
    prices: Prices

    @property
    def recommended(self) -> PathEstimate | None:
        """The least estimated time among the legal paths (the cheaper one on a tie)."""
        legal = [p for p in self.paths if p.legal]
        return min(legal, key=lambda p: (p.seconds, p.cost.usd(self.prices)), default=None)

    def reason(self) -> str:
        best = self.recommended
        if best is None:
            return "no path is allowed here"
        others = [p for p in self.paths if p.legal and p is not best]
        if not others:
            return f"the only path allowed here ({len(self.paths) - 1} others are not: see why)"
        compared = ", ".join(f"{p.name} {_seconds(p.seconds)}" for p in others)
        return f"the least estimated time among the allowed paths ({_seconds(best.seconds)}; {compared})"

    def to_json(self) -> dict[str, object]:
        best = self.recommended
        return {
            "prices": {"label": self.prices.label(), "date": self.prices.date, "source": self.prices.source},
            "assumed_speeds": vars(ASSUMED_SPEEDS),
            "recommended": None if best is None else best.name,
            "why": self.reason(),
            "paths": [
                {
                    "path": p.name,
                    "legal": p.legal,
                    "not_legal_because": list(p.not_legal),
                    "estimated_seconds": round(p.seconds, 3),
                    "bound_by": p.bound_by,
                    "estimated_cost": p.cost.to_json(self.prices),
                    "notes": list(p.notes),
                }
                for p in self.paths
            ],
        }


def _seconds(seconds: float) -> str:
    return f"~{seconds:,.2g} s" if seconds < 10 else f"~{seconds:,.0f} s"


def fetch_split(plan: Plan, split: FetchSplit) -> Plan:
    """The plan with each namespace's IDs per fetch as ``split`` (the source's own splitting: ID count and,
    over REST, URL length) packs its sampled IDs, repeated to many requests' worth."""
    return replace(plan, namespaces=[_fetch_split(n, split) for n in plan.namespaces])


def _fetch_split(namespace: NamespacePlan, split: FetchSplit) -> NamespacePlan:
    if not namespace.sample_ids:
        return namespace
    wanted = 10 * round(namespace.ids_per_fetch)
    repeated = list(namespace.sample_ids) * math.ceil(wanted / len(namespace.sample_ids))
    requests = sum(1 for _ in split(repeated[:wanted]))
    return replace(namespace, ids_per_fetch=wanted / requests)


def compare_paths(
    plan: Plan,
    trips: RoundTrips,
    streaming: Streaming,
    situation: Situation,
    prices: Prices,
    rules: ImportRules,
    speeds: ServiceSpeeds = ASSUMED_SPEEDS,
) -> PathComparison:
    reads = _read_cost(plan, situation)
    return PathComparison(
        (
            _streaming(plan, trips, streaming, reads, situation),
            _native(plan, situation, speeds),
            _bulk(plan, trips, streaming, situation, rules, speeds, reads),
        ),
        prices,
    )


def _read_cost(plan: Plan, situation: Situation) -> Cost:
    """Listing and fetching every record, and the bytes that leave the source (pods and dedicated read
    nodes are billed by the hour, not by read units)."""
    egress = round(sum(n.request_bytes for n in plan.namespaces))
    if not situation.source_serverless or situation.source_dedicated_reads:
        return Cost(egress_bytes=egress)
    fetch_units = 0
    for n in plan.namespaces:
        if n.fetch_requests:
            fetch_units += n.fetch_requests * read_units_for_fetch(math.ceil(n.records / n.fetch_requests))
    return Cost(
        read_units=plan.list_requests * READ_UNITS_PER_LIST + fetch_units,
        egress_bytes=egress,
    )


def _listing_seconds(plan: Plan, trips: RoundTrips, streaming: Streaming) -> float:
    """A listing is a chain of round trips (each page's cursor comes from the last); shards and namespaces
    listed side by side share the chain."""
    chains = [
        n.list_requests(plan.page_size) * trips.source / streaming.shards.get(n.source, 1)
        for n in plan.namespaces
    ]
    return max(max(chains, default=0.0), sum(chains) / max(1, streaming.namespaces_at_once))


def _slowest(bounds: dict[str, float]) -> tuple[float, str]:
    name = max(bounds, key=lambda k: bounds[k])
    return bounds[name], name


def _source_notes(situation: Situation) -> tuple[str, ...]:
    notes = []
    if not situation.source_lists:
        notes.append("a pod-based source: its IDs are found by query sweeps first, not counted here")
    if not situation.source_serverless:
        notes.append("a pod-based source is billed by the pod-hour: its reads cost no read units")
    if situation.source_dedicated_reads:
        notes.append("dedicated read nodes: no read rate limits, and reads billed by the node-hour")
    return tuple(notes)


def _read_limit_seconds(plan: Plan, situation: Situation) -> float:
    """The list and fetch rate limits' bound; a source with dedicated read nodes has none."""
    return 0.0 if situation.source_dedicated_reads else plan.read_seconds


def _streaming(
    plan: Plan, trips: RoundTrips, streaming: Streaming, reads: Cost, situation: Situation
) -> PathEstimate:
    written = [n for n in plan.namespaces if n.upsert_requests]
    write_units = sum(
        n.upsert_requests * write_units_for_upsert(n.request_bytes / n.upsert_requests) for n in written
    )
    waits = plan.fetch_requests * trips.source + plan.upsert_requests * trips.target
    seconds, bound = _slowest(
        {
            "list and fetch rate limits (per index)": _read_limit_seconds(plan, situation),
            "upsert rate limits (per namespace)": plan.write_seconds,
            "listing round trips": _listing_seconds(plan, trips, streaming),
            f"round trips with {streaming.in_flight} batches in flight": waits / max(1, streaming.in_flight),
        }
    )
    return PathEstimate(
        STREAMING,
        seconds,
        replace(reads, write_units=write_units),
        bound,
        notes=(
            f"{plan.list_requests:,} list, {plan.fetch_requests:,} fetch, {plan.upsert_requests:,} upsert "
            "requests",
            *_source_notes(situation),
        ),
    )


def _native(plan: Plan, situation: Situation, speeds: ServiceSpeeds) -> PathEstimate:
    size = plan.index_bytes
    seconds = (
        speeds.backup_start_seconds
        + size / speeds.backup_bytes_per_second
        + speeds.restore_start_seconds
        + size / speeds.restore_bytes_per_second
    )
    return PathEstimate(
        NATIVE,
        seconds,
        Cost(backup_bytes=size, restored_bytes=size),
        "assumed backup and restore speeds (Pinecone publishes none)",
        _native_refusals(situation),
    )


def _native_refusals(situation: Situation) -> tuple[str, ...]:
    outside = []
    if situation.other_target is not None:
        outside.append(f"a Pinecone backup restores into Pinecone; the target is {situation.other_target}")
    if situation.other_source is not None:
        outside.append(f"Pinecone backs up its own indexes; the source is {situation.other_source}")
    if outside:
        return tuple(outside)  # the reasons below are about two Pinecone indexes
    why = []
    if not situation.source_serverless:
        why.append("Pinecone backs up serverless indexes only; the source is not one")
    if not situation.same_project:
        why.append(
            "the target is in another project (its API key does not see the source index): a backup "
            "restores only within its own project"
        )
    if not situation.same_region:
        why.append(f"a backup restores in its own cloud and region ({situation.regions})")
    if situation.target_exists:
        why.append("the target index exists: a restore creates a new index")
    if situation.changed_by:
        why.append(
            f"{', '.join(situation.changed_by)} cannot apply: a backup restores every namespace as it is"
        )
    return tuple(why)


def _bulk(
    plan: Plan,
    trips: RoundTrips,
    streaming: Streaming,
    situation: Situation,
    rules: ImportRules,
    speeds: ServiceSpeeds,
    reads: Cost,
) -> PathEstimate:
    size = plan.index_bytes
    export, _ = _slowest(
        {
            "reads": _read_limit_seconds(plan, situation),
            "listing": _listing_seconds(plan, trips, streaming),
            "fetch round trips": plan.fetch_requests * trips.source / max(1, streaming.in_flight),
            "upload": size / speeds.upload_bytes_per_second,
        }
    )
    seconds = export + speeds.import_start_seconds + size / speeds.import_bytes_per_second
    return PathEstimate(
        BULK,
        seconds,
        replace(reads, imported_bytes=size),
        "the export's reads and upload, then the assumed import speed (Pinecone publishes none)",
        _bulk_refusals(plan, situation, rules),
        (*_bulk_notes(plan, situation), *_source_notes(situation)),
    )


def _bulk_refusals(plan: Plan, situation: Situation, rules: ImportRules) -> tuple[str, ...]:
    why = []
    if situation.other_target is not None:
        why.append(f"Pinecone's bulk import writes Pinecone indexes; the target is {situation.other_target}")
    if situation.bucket is None:
        why.append("needs --bucket URI: object storage Pinecone can read (s3://, gs://, Azure)")
    elif "://" not in situation.bucket or situation.bucket.startswith("file://"):
        why.append(f"{situation.bucket} is not object storage: Pinecone imports from s3://, gs:// or Azure")
    if situation.integration_id is None:
        why.append("needs --integration-id: the storage integration through which Pinecone reads the bucket")
    taken = sorted(set(plan.target_namespaces) & situation.existing_target_namespaces)
    if taken:
        shown = ", ".join(repr(name) for name in taken[:3]) + (" ..." if len(taken) > 3 else "")
        why.append(f"target namespace(s) {shown} exist already: an import only creates namespaces")
    if len(plan.target_namespaces) > rules.max_namespaces:
        why.append(
            f"{len(plan.target_namespaces):,} namespaces: one import takes at most {rules.max_namespaces:,}"
        )
    files = sum(math.ceil(n.records / rules.rows_per_file) for n in plan.namespaces)
    if files > rules.max_files:
        why.append(f"{files:,} files: one import takes at most {rules.max_files:,}")
    largest = max((rules.rows_per_file * n.bytes_per_record for n in plan.namespaces), default=0.0)
    if largest > rules.max_file_bytes:
        gib, most = largest / 1024**3, rules.max_file_bytes / 1024**3
        why.append(f"files of ~{gib:,.3g} GiB: an import takes files of at most {most:,.3g} GiB")
    return tuple(why)


def _bulk_notes(plan: Plan, situation: Situation) -> tuple[str, ...]:
    notes = []
    if plan.records < BULK_RECOMMENDED_RECORDS:
        notes.append(f"Pinecone recommends bulk import above ~{BULK_RECOMMENDED_RECORDS:,} records")
    if situation.routed_by_metadata:
        notes.append("target namespaces come from metadata: that none exists yet is checked at import")
    return tuple(notes)
