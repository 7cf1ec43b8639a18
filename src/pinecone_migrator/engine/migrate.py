"""Migrate one index to another: check or create the target, then copy every selected namespace.

Namespaces are copied side by side unless records of several source namespaces can meet in one target
namespace; progress goes to a :class:`ProgressListener`; everything is resumable through the ledger.
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ..errors import IncompatibleTarget, UserError
from ..filters import FilterError, MetadataPredicate, compile_filter
from ..records import Record
from ..statelock import hold
from ..stores.base import (
    CreatesLike,
    Finishes,
    Store,
    StoreDescription,
    TracksFreshness,
    fetches_by_metadata,
    same_location,
)
from .copy import CopyOptions, CopyRun, Route, RunTotals, fixed_route, metadata_route
from .fold import (
    creates_dedicated,
    fold_route,
    refuse_namespaces_a_dedicated_target_cannot_hold,
    refuse_shared_ids,
    with_source_namespace,
    without_field,
)
from .ledger import Ledger
from .namespace_copy import copy_in_parallel, copy_namespace
from .pacing import AdaptiveLimit
from .plan import Plan, plan_namespace
from .progress import NullProgress, ProgressListener
from .walk import Halted, Walker, slowed_by_throttling

log = logging.getLogger("pinecone_migrator.migrate")


@dataclass(frozen=True)
class Endpoint:
    index: str
    host: str | None  # control-plane URL; None = Pinecone's cloud

    def label(self) -> str:
        return f"{self.host or 'pinecone'}/{self.index}"


@dataclass(frozen=True)
class MigrationRequest:
    source: Endpoint
    target: Endpoint
    namespaces: tuple[str, ...] = ()  # empty: every namespace of the source
    namespace_map: tuple[tuple[str, str], ...] = ()  # source namespace -> target namespace
    target_namespace: str | None = None  # every selected namespace goes here
    allow_merge: bool = False  # several source namespaces may land in one target namespace
    filter: dict[str, Any] | None = None  # Pinecone metadata filter: copy only matching records
    namespace_from_metadata: str | None = None  # route each record by this metadata field
    fallback_namespace: str | None = None  # for records without a usable routing field
    clean_namespace_names: bool = False  # routed names made ASCII as the original script did
    # Fold: every selected namespace goes into target_namespace, its name kept in this metadata field.
    namespace_to_metadata: str | None = None
    # With namespace_from_metadata: the routing field is removed from the written records (undoes a fold).
    drop_namespace_field: bool = False
    state_path: Path | None = None
    restart: bool = False
    create_target: bool = True
    target_cloud: str | None = None
    target_region: str | None = None
    target_deletion_protection: bool = False
    target_read_capacity: dict[str, Any] | None = None  # dedicated read nodes for a created target
    options: CopyOptions = field(default_factory=CopyOptions)

    def fingerprint(self) -> dict[str, object]:
        """What identifies this migration in its ledger (never a key)."""
        return {
            "source": self.source.label(),
            "target": self.target.label(),
            "namespaces": sorted(self.namespaces) or "all",
            "namespace_map": sorted(self.namespace_map),
            "target_namespace": self.target_namespace,
            "filter": self.filter,
            "namespace_from_metadata": self.namespace_from_metadata,
            "fallback_namespace": self.fallback_namespace,
            # only when set, so that ledgers written before the option existed still match
            **({"clean_namespace_names": True} if self.clean_namespace_names else {}),
            **({"namespace_to_metadata": self.namespace_to_metadata} if self.namespace_to_metadata else {}),
            **({"drop_namespace_field": True} if self.drop_namespace_field else {}),
        }

    def route(self, namespace: str) -> Route:
        if self.namespace_from_metadata is not None:
            return metadata_route(
                self.namespace_from_metadata, self.fallback_namespace, clean=self.clean_namespace_names
            )
        if self.namespace_to_metadata is not None:
            return fold_route(self.namespace_to_metadata, namespace, self.destination(namespace))
        return fixed_route(self.destination(namespace))

    def as_written(self, namespace: str, record: Record) -> Record:
        """A routed record of source ``namespace`` as the migration writes it (a fold adds its namespace)."""
        if self.namespace_to_metadata is not None:
            return with_source_namespace(self.namespace_to_metadata, namespace, record)
        if self.drop_namespace_field and self.namespace_from_metadata is not None:
            return without_field(self.namespace_from_metadata, record)
        return record

    def destination(self, namespace: str) -> str:
        if self.target_namespace is not None:
            return self.target_namespace
        return dict(self.namespace_map).get(namespace, namespace)

    def predicate(self) -> MetadataPredicate | None:
        if not self.filter:
            return None
        try:
            return compile_filter(self.filter)
        except FilterError as error:
            raise UserError(f"Invalid --filter: {error}") from None

    def ledger_path(self) -> Path:
        if self.state_path is not None:
            return self.state_path
        safe = "".join(
            c if c.isalnum() or c in "-_" else "_" for c in f"{self.source.index}--{self.target.index}"
        )
        return Path(".pinecone-migrator") / f"{safe}.ledger.sqlite"


@dataclass
class NamespaceSummary:
    namespace: str
    source_count: int | None
    listed: int
    copied: int
    skipped: int
    dead_letters: int
    done: bool


@dataclass
class MigrationSummary:
    namespaces: list[NamespaceSummary]
    elapsed_seconds: float
    interrupted: bool
    resumed: bool
    read_back: int | None = None  # --verify batch: records read back equal (this run)
    resent: int | None = None  # --verify batch: records sent again because the target's copy differed
    copied_before: int = 0  # by earlier runs of the same ledger (a resumed run)

    @property
    def copied(self) -> int:
        return sum(n.copied for n in self.namespaces)

    @property
    def copied_this_run(self) -> int:
        return self.copied - self.copied_before

    @property
    def records_per_second(self) -> float | None:
        """This run's speed: a resumed run does not count what earlier runs copied."""
        return self.copied_this_run / self.elapsed_seconds if self.elapsed_seconds else None

    @property
    def dead_letters(self) -> int:
        return sum(n.dead_letters for n in self.namespaces)

    @property
    def complete(self) -> bool:
        return all(n.done for n in self.namespaces)

    def to_json(self) -> dict[str, object]:
        return {
            "complete": self.complete,
            "interrupted": self.interrupted,
            "resumed": self.resumed,
            "copied": self.copied,
            "copied_this_run": self.copied_this_run,
            "dead_letters": self.dead_letters,
            "elapsed_seconds": round(self.elapsed_seconds, 3),
            "records_per_second": None
            if self.records_per_second is None
            else round(self.records_per_second, 1),
            "namespaces": [vars(n) for n in self.namespaces],
            **(
                {"verify": {"level": "batch", "read_back_equal": self.read_back, "resent": self.resent}}
                if self.read_back is not None
                else {}
            ),
        }


def check_target(source: StoreDescription, target: Store, request: MigrationRequest) -> None:
    """Refuse an unusable target before anything is written; create a missing one."""
    refuse_fold(request, "sync")
    if not inspect_target(source, target, request):
        create_target(source, target, request)


def refuse_fold(request: MigrationRequest, command: str) -> None:
    """Commands that write records without the copy pipeline cannot fold (yet)."""
    if request.namespace_to_metadata is not None or request.drop_namespace_field:
        raise UserError(
            f"{command} cannot fold or unfold namespaces (--namespace-to-metadata, --drop-namespace-field) "
            f"yet: do that once with migrate, or {command} each namespace into its own target."
        )


def inspect_target(source: StoreDescription, target: Store, request: MigrationRequest) -> bool:
    """Whether the target exists (True) or is to be created (False); reads only. Refuses the source itself,
    an existing target whose shape differs, and a missing one that may not or cannot be created."""
    found = _found_target(source, target, request)
    if found is not None:
        differences = source.shape.differences(found.shape)
        if differences:
            raise IncompatibleTarget(
                f"The target index {request.target.index!r} does not fit the source: "
                + "; ".join(differences)
                + ". Choose another --target-index (it will be created) or fix the target."
            )
        _warn_lost_embedding(source, found, request)
        return True
    if not request.create_target:
        raise UserError(
            f"The target index {request.target.index!r} does not exist, and creating it was ruled out "
            "(--no-create-target, or create_target: false in the config file)."
        )
    if not isinstance(target, CreatesLike):
        raise UserError(f"The target {request.target.label()!r} does not exist and cannot be created here.")
    return False


def _found_target(
    source: StoreDescription, target: Store, request: MigrationRequest
) -> StoreDescription | None:
    """The existing target's description (None when missing), after the refusals that hold whatever the
    target's shape: it is not the source, and a dedicated-read-nodes target gets one namespace."""
    found = target.describe() if target.exists() else None
    if found is not None:
        refuse_source_as_target(source, found, request)
    check_one_namespace(source, request, found)
    return found


def _warn_lost_embedding(
    source: StoreDescription, found: StoreDescription, request: MigrationRequest
) -> None:
    """Vectors copy exactly into any index of the same shape; only text search needs the same model."""
    wanted = (source.embed or {}).get("model")
    if wanted is not None and (found.embed or {}).get("model") != wanted:
        log.warning(
            "the source embeds text with %s, the existing target %s does not: records and vector search "
            "carry over, text search (search_records) on the target will not work as on the source",
            wanted,
            request.target.label(),
        )


def check_one_namespace(
    source: StoreDescription, request: MigrationRequest, existing: StoreDescription | None
) -> None:
    """A dedicated-read-nodes target (``existing``, or the one --target-read-nodes creates) takes one
    namespace: refuse a migration writing more, before anything is written."""
    if existing is not None:
        dedicated = existing.dedicated_read_nodes
    else:
        dedicated = creates_dedicated(request.target_read_capacity)
    if not dedicated:
        return
    namespaces = list(request.namespaces) or sorted(source.namespace_counts)
    refuse_namespaces_a_dedicated_target_cannot_hold(
        sorted({request.destination(ns) for ns in namespaces}),
        request.namespace_from_metadata is not None,
        request.target.label(),
        existing,
    )


def refuse_source_as_target(
    source: StoreDescription, target: StoreDescription, request: MigrationRequest
) -> None:
    """The source is only ever read: a target that is the source index (the same name on the same
    control plane and project, or another spelling of the same data-plane host) is refused."""
    if same_location(source.location, target.location):
        raise UserError(
            f"The target {request.target.label()} is the source index itself (both are {source.location}): "
            "pinecone-migrator never writes to its source. Choose another --target-index, or the "
            "--target-host / --target-api-key-env of another project. (Namespaces cannot be reorganised "
            "inside one index: copy to a new index instead.)"
        )


def create_target(source: StoreDescription, target: Store, request: MigrationRequest) -> None:
    if not isinstance(target, CreatesLike):
        raise UserError(f"The target {request.target.label()!r} does not exist and cannot be created here.")
    target.create_like(
        source,
        cloud=request.target_cloud,
        region=request.target_region,
        deletion_protection=request.target_deletion_protection,
        read_capacity=request.target_read_capacity,
    )
    shape = source.shape
    log.info(
        "created the target index %s (%s, metric %s%s)",
        request.target.label(),
        shape.vector_type,
        shape.metric,
        "" if shape.dimension is None else f", dimension {shape.dimension}",
    )


def check_merges(namespaces: list[str], request: MigrationRequest) -> None:
    """Two source namespaces landing in one target namespace could overwrite each other's IDs."""
    if request.namespace_from_metadata is not None:
        return  # routing by metadata gathers records from any source namespace by design
    if request.namespace_to_metadata is not None:
        return  # a fold is a deliberate merge whose IDs are checked (refuse_shared_ids)
    landing: dict[str, list[str]] = {}
    for namespace in namespaces:
        landing.setdefault(request.destination(namespace), []).append(namespace)
    merged = {dst: srcs for dst, srcs in landing.items() if len(srcs) > 1}
    if merged and not request.allow_merge:
        details = "; ".join(f"{', '.join(srcs)} -> {dst}" for dst, srcs in merged.items())
        raise UserError(
            f"Several source namespaces would be merged into one target namespace ({details}); records with "
            "the same ID would overwrite each other. Pass --allow-merge if that is what you want."
        )
    for dst, srcs in merged.items():
        log.warning(
            "merging namespaces %s into %r: a later record replaces an earlier one with the same ID",
            srcs,
            dst,
        )


def selected_namespaces(request: MigrationRequest, description: StoreDescription) -> list[str]:
    """The source namespaces a migration with this request copies, in its order (the later one wins a
    merge). Refuses unknown namespaces, a map naming namespaces not copied, unallowed merges and an
    invalid filter; shared by migrate and verify."""
    counts = description.namespace_counts
    namespaces = list(request.namespaces) or sorted(counts)
    missing = [ns for ns in namespaces if ns not in counts]
    if missing:
        raise UserError(
            f"The source has no namespace {', '.join(map(repr, missing))}. It has: {sorted(counts)}."
        )
    unknown_map = [src for src, _ in request.namespace_map if src not in namespaces]
    if unknown_map:
        raise UserError(
            f"--namespace-map names {', '.join(map(repr, unknown_map))}, which is not being copied."
        )
    check_merges(namespaces, request)
    request.predicate()  # refuses an invalid filter before anything is read
    return namespaces


def select(
    request: MigrationRequest, source: Store, *, needs_listing: bool = True
) -> tuple[StoreDescription, list[str], Any]:
    """Validate the request against the source: its description, the namespaces to copy, the filter.
    ``needs_listing`` False: the caller finds records another way (stamp mode's filtered queries)."""
    if not source.exists():
        raise UserError(
            f"The source index {request.source.index!r} does not exist at {request.source.label()}."
        )
    description = source.describe()
    if needs_listing and not source.capabilities().can_list:
        raise UserError(
            f"The source index {request.source.index!r} is pod-based and cannot list its IDs; it has to be "
            "enumerated by query sweeps first (stores.listable.enumerable)."
        )
    return description, selected_namespaces(request, description), request.predicate()


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


def target_state(description: StoreDescription, target: Store, request: MigrationRequest) -> str:
    """The target as a migration would find it, in words; refuses the source itself as the target."""
    found = _found_target(description, target, request)
    if found is not None:
        differences = description.shape.differences(found.shape)
        return "exists, incompatible: " + "; ".join(differences) if differences else "exists, compatible"
    if not request.create_target:
        return "missing (--no-create-target)"
    return f"missing: would be created ({description.created_as()})"


def _namespace_width(request: MigrationRequest, namespaces: list[str]) -> int:
    """How many namespaces to copy at once. One at a time when records of several source namespaces can
    meet in one target namespace: then a later namespace's record must be the one that stays. (A fold's
    namespaces share no ID, so they can go side by side.)"""
    if request.namespace_to_metadata is not None:
        return min(len(namespaces), request.options.concurrency)
    merging = request.namespace_from_metadata is not None or len(
        {request.destination(ns) for ns in namespaces}
    ) < len(namespaces)
    return 1 if merging else min(len(namespaces), request.options.concurrency)


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


def _pacing(
    options: CopyOptions, progress: ProgressListener, *stores: Store
) -> AbstractContextManager[AdaptiveLimit]:
    """The run's adaptive limit, slowed by the 429s of ``stores`` unless adaptation is off."""

    def concurrency_changed(old: int, new: int, reason: str) -> None:
        log.info("concurrency %d -> %d (%s)", old, new, reason)
        progress.concurrency_changed(old, new, reason)

    limit = AdaptiveLimit(options.concurrency, on_change=concurrency_changed)
    return slowed_by_throttling(limit, *stores, adaptive=options.adaptive)


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
            with (
                _pacing(options, listener, source, target) as limit,
                ThreadPoolExecutor(max_workers=options.concurrency, thread_name_prefix="copy") as pool,
            ):
                run = CopyRun(
                    totals=totals,
                    source=source,
                    target=target,
                    ledger=ledger,
                    options=options,
                    walker=Walker(pool, limit=limit, stop=stop),
                    progress=listener,
                    predicate=predicate,
                    server_filter=server_filter,
                    as_written=request.as_written,
                )
                copy_in_parallel(
                    run,
                    [partial(_copy_one, run, ledger, ns, request.route(ns)) for ns in namespaces],
                    _namespace_width(request, namespaces),
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
        )


__all__ = [
    "Endpoint",
    "MigrationRequest",
    "MigrationSummary",
    "plan_migration",
    "run_migration",
    "select",
    "target_state",
]
