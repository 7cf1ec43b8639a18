"""The store protocol: what the engine may ask of any place records live.

A store describes itself, lists IDs page by page with a resumable cursor, fetches records by ID, writes and
deletes batches, and says what limits it has. The engine is written once over this protocol; adding a kind
of store means one new module and its tests, nothing in the engine.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import SplitResult, urlsplit

from ..records import Record, SparseValues

DEFAULT_NAMESPACE = "__default__"


@dataclass(frozen=True)
class IndexShape:
    """What records must look like to fit: a target must match the source's shape exactly."""

    vector_type: str  # "dense" or "sparse"
    metric: str
    dimension: int | None  # None for sparse indexes

    def differences(self, other: IndexShape) -> list[str]:
        """Human-readable differences between this shape (source) and another (target)."""
        found = []
        for name in ("vector_type", "metric", "dimension"):
            mine, theirs = getattr(self, name), getattr(other, name)
            if mine != theirs:
                found.append(f"{name.replace('_', ' ')}: source {mine}, target {theirs}")
        return found


@dataclass(frozen=True)
class StoreDescription:
    name: str
    shape: IndexShape
    namespace_counts: dict[str, int]  # may lag behind recent writes (Pinecone is eventually consistent)
    cloud: str | None = None
    region: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    deployment_type: str = "managed"  # "managed" (serverless), "pod", "byoc", or "files"
    # Where the records live (an index's data-plane URL, a file tree's URL): equal locations are one store.
    location: str | None = None
    # Pinecone's dedicated read nodes hold one namespace per index.
    dedicated_read_nodes: bool = False
    # An integrated-embedding index's configuration (model, metric, field_map, read/write parameters); a
    # target created like this store gets the same, so that text searches on it embed as on the source.
    embed: dict[str, Any] | None = None

    def created_as(self) -> str:
        """In words, what an index created like this one will be (for plans and logs)."""
        shape = self.shape
        words = f"{shape.vector_type}, metric {shape.metric}"
        if shape.dimension is not None:
            words += f", dimension {shape.dimension}"
        if self.embed is not None:
            text_field = (self.embed.get("field_map") or {}).get("text")
            words += f", integrated embedding: model {self.embed.get('model')}, text field {text_field}"
        return words


@dataclass(frozen=True)
class Capabilities:
    """Optional abilities and limits of a store: what one request may carry. The engine asks for no more
    (and every limit is one Pinecone index's unless the store says otherwise)."""

    can_list: bool = True  # pod-based Pinecone indexes cannot list IDs
    # Whether the store's fetch_by_metadata works on this store; callers ask fetches_by_metadata().
    can_fetch_by_metadata: bool = False
    lists_bytewise: bool = True  # IDs are listed in bytewise order; False: in the order they were written
    max_write_records: int = 1_000  # 0: the store cannot be written (it is read only)
    max_write_bytes: int = 2_000_000  # the sum of request_size() of one write's records
    max_delete_ids: int = 1_000  # 0: the store cannot delete (a write-once export)
    max_fetch_ids: int = 1_000
    max_list_page: int = 100

    @property
    def can_write(self) -> bool:
        return self.max_write_records > 0

    @property
    def can_delete(self) -> bool:
        return self.max_delete_ids > 0


@dataclass(frozen=True)
class IdPage:
    ids: list[str]
    cursor: str | None  # pass back to continue; None when the listing is complete


@dataclass(frozen=True)
class RecordPage:
    records: list[Record]
    cursor: str | None  # pass back to continue; None when there are no more matches


@dataclass(frozen=True)
class WriteAck:
    """What a store acknowledged: the records are durable there (LSN where the store reports one)."""

    count: int
    lsn: int | None = None


@runtime_checkable
class Store(Protocol):
    def exists(self) -> bool:
        """Whether the index (or directory) is there at all; the first call of a run, so it fails fast."""
        ...

    def describe(self) -> StoreDescription: ...

    def capabilities(self) -> Capabilities: ...

    def list_ids(
        self, namespace: str, *, prefix: str = "", cursor: str | None = None, limit: int = 100
    ) -> IdPage: ...

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]: ...

    def request_size(self, record: Record) -> int:
        """Bytes this record adds to a write request, measured on this store's own encoding."""
        ...

    def write(self, namespace: str, records: Sequence[Record]) -> WriteAck: ...

    def delete(self, namespace: str, ids: Sequence[str]) -> WriteAck: ...


@runtime_checkable
class CreatesLike(Protocol):
    """Optional ability: a missing target can be made in the source's shape (dimension, metric, vector type,
    tags), ready for writes when this returns."""

    def create_like(
        self,
        source: StoreDescription,
        *,
        cloud: str | None = None,
        region: str | None = None,
        deletion_protection: bool = False,
        read_capacity: dict[str, Any] | None = None,
    ) -> None: ...


def placement_options_given(
    cloud: str | None, region: str | None, deletion_protection: bool, read_capacity: dict[str, Any] | None
) -> list[str]:
    """The Pinecone placement options of :meth:`CreatesLike.create_like` that were given, as the command's
    flags: a store of another database, which has no use for them, refuses them naming these."""
    given = (
        ("--target-cloud", cloud),
        ("--target-region", region),
        ("--target-deletion-protection", deletion_protection or None),
        ("--target-read-nodes", read_capacity),
    )
    return [flag for flag, value in given if value]


@runtime_checkable
class Finishes(Protocol):
    """Optional ability: a target that must be told when every namespace has been copied (a file export
    writes its last files and its manifest then)."""

    def finish(self) -> None: ...


@runtime_checkable
class UpdatesMetadata(Protocol):
    """Optional ability: merge metadata keys into one record without rewriting it (stamping a source)."""

    def update_metadata(self, namespace: str, record_id: str, set_metadata: dict[str, Any]) -> WriteAck: ...


@runtime_checkable
class ReportsThrottling(Protocol):
    """Optional ability: the store tells the engine each time it was asked to slow down (HTTP 429)."""

    def set_throttle_listener(self, listener: Callable[[], None] | None) -> None: ...


@runtime_checkable
class FetchesByMetadata(Protocol):
    """Optional ability: the store evaluates a metadata filter itself and returns matching records by page."""

    def fetch_by_metadata(
        self, namespace: str, metadata_filter: dict[str, Any], *, cursor: str | None = None, limit: int = 100
    ) -> RecordPage: ...


def fetches_by_metadata(store: Store) -> FetchesByMetadata | None:
    """The store as a filter evaluator when it can evaluate filters, else None: the one place that decides.

    Implementing the method is not enough: a pod-based Pinecone index has it (one class serves both kinds of
    index) but the service refuses it, which only the store's capabilities say."""
    if isinstance(store, FetchesByMetadata) and store.capabilities().can_fetch_by_metadata:
        return store
    return None


@runtime_checkable
class TracksFreshness(Protocol):
    """Optional ability: writes are numbered (LSN) and reads say how far they see, so a reader can wait
    until what was just written is visible (Pinecone is eventually consistent)."""

    def written_lsns(self) -> dict[str, int]: ...

    def indexed_lsn(self, namespace: str) -> int | None:
        """The highest write sequence number reads of ``namespace`` see now (None: not told)."""

    def wait_until_indexed(self, namespace: str, until_lsn: int, timeout_seconds: float) -> bool | None: ...


@dataclass(frozen=True)
class Match:
    id: str
    score: float


@runtime_checkable
class Searches(Protocol):
    """Optional ability: similarity search with a record's own vectors (to prove a copy searches the same)."""

    def query(self, namespace: str, record: Record, top_k: int) -> list[Match]: ...


@runtime_checkable
class QueriesIds(Protocol):
    """Optional ability: IDs of the best matches of a query vector, optionally filtered (what a query
    sweep of a store that cannot list needs)."""

    def query_ids(
        self,
        namespace: str,
        *,
        top_k: int,
        vector: Any = None,
        sparse: SparseValues | None = None,
        metadata_filter: dict[str, Any] | None = None,
    ) -> list[str]: ...


def same_location(first: str | None, second: str | None) -> bool:
    """Whether two store locations name the same data: same scheme, port and path, and the same host name —
    or, for hosts on this machine (a local server), addresses that resolve to the loopback interface, since
    ``localhost`` and ``127.0.0.1`` are one server. Cloud hosts are compared by name only: two indexes
    behind one load balancer share its addresses."""
    if not first or not second:
        return False
    a, b = (
        urlsplit(first if "://" in first else f"https://{first}"),
        urlsplit(second if "://" in second else f"https://{second}"),
    )
    if (a.scheme.lower(), _port(a), a.path.rstrip("/")) != (b.scheme.lower(), _port(b), b.path.rstrip("/")):
        return False
    host_a, host_b = (a.hostname or "").lower(), (b.hostname or "").lower()
    return host_a == host_b or (_is_loopback(host_a) and _is_loopback(host_b))


def _port(url: SplitResult) -> int | None:
    try:
        return url.port or {"http": 80, "https": 443}.get(url.scheme.lower())
    except ValueError:
        return None


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
