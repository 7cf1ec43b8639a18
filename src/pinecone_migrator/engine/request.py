"""What a migration is asked to do: where from, where to, which namespaces and records, how they are routed,
and with which copy options (one request model for migrate, export, import, restore, sync and verify)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import UserError
from ..filters import FilterError, MetadataPredicate, compile_filter
from ..records import Record
from .migrate.copy import CopyOptions, Route, fixed_route, metadata_route

if TYPE_CHECKING:
    from ..stores.fidelity import Fidelity
from .migrate.fold import (
    fold_route,
    with_source_namespace,
    without_field,
)


@dataclass(frozen=True)
class Endpoint:
    index: str  # an index's name; for a store named by URI (another database), that URI
    host: str | None  # control-plane URL; None = Pinecone's cloud
    uri: bool = False  # ``index`` is a store URI (--source/--target), which names the store by itself

    def label(self) -> str:
        return self.index if self.uri else f"{self.host or 'pinecone'}/{self.index}"


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
    # --accept-changes: copy into a target that cannot hold every record exactly, with the listed changes.
    accept_changes: bool = False
    # What the target does not hold exactly (set by the workflow from the two stores, before any write).
    fidelity: Fidelity | None = field(default=None, compare=False)

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
            **(
                {"changes": self.fidelity.names()}
                if self.fidelity is not None and self.fidelity.lossy
                else {}
            ),
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
        """A routed record of source ``namespace`` as the target holds it: a fold adds its namespace, and
        the accepted changes of the pair (fidelity) apply. What verify compares the target's copy with."""
        record = self._routed(namespace, record)
        return record if self.fidelity is None else self.fidelity.expected(record)

    def written_by_copy(self, namespace: str, record: Record) -> tuple[Record, str | None]:
        """:meth:`as_written`, or why the target will refuse the record (a change it cannot hold); counts
        the written records each accepted change alters (copy calls it once per record)."""
        record = self._routed(namespace, record)
        return (record, None) if self.fidelity is None else self.fidelity.written(record)

    def _routed(self, namespace: str, record: Record) -> Record:
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
