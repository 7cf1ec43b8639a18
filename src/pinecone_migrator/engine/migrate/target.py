"""What a migration copies and where: the selected namespaces and records of the source, and the target
checked (never the source itself, the right shape, room for the namespaces) or created like the source."""

from __future__ import annotations

import logging
from typing import Any

from ...errors import IncompatibleTarget, UserError
from ...stores.base import (
    CreatesLike,
    Store,
    StoreDescription,
    same_location,
)
from ..request import MigrationRequest
from .fold import (
    creates_dedicated,
    refuse_namespaces_a_dedicated_target_cannot_hold,
)

log = logging.getLogger("pinecone_migrator.migrate")


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
        "created the target %s%s (%s, metric %s%s)",
        "" if request.target.uri else "index ",
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


def missing_source(request: MigrationRequest) -> UserError:
    if request.source.uri:
        return UserError(f"The source {request.source.label()} does not exist: check the --source URI.")
    return UserError(f"The source index {request.source.index!r} does not exist at {request.source.label()}.")


def select(
    request: MigrationRequest, source: Store, *, needs_listing: bool = True
) -> tuple[StoreDescription, list[str], Any]:
    """Validate the request against the source: its description, the namespaces to copy, the filter.
    ``needs_listing`` False: the caller finds records another way (stamp mode's filtered queries)."""
    if not source.exists():
        raise missing_source(request)
    description = source.describe()
    if needs_listing and not source.capabilities().can_list:
        raise UserError(
            f"The source index {request.source.index!r} is pod-based and cannot list its IDs; it has to be "
            "enumerated by query sweeps first (stores.listable.enumerable)."
        )
    return description, selected_namespaces(request, description), request.predicate()


def target_state(description: StoreDescription, target: Store, request: MigrationRequest) -> str:
    """The target as a migration would find it, in words; refuses the source itself as the target."""
    found = _found_target(description, target, request)
    if found is not None:
        differences = description.shape.differences(found.shape)
        return "exists, incompatible: " + "; ".join(differences) if differences else "exists, compatible"
    if not request.create_target:
        return "missing (--no-create-target)"
    return f"missing: would be created ({description.created_as()})"
