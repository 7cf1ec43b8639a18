"""The seam between the Pinecone store and the wire: one index host's data plane, one attempt per call.

A :class:`Transport` sends exactly one request per call and translates the answer: records come back as
:class:`~pinecone_migrator.records.Record`, failures as :class:`~pinecone_migrator.errors.RemoteError`
(``status``, ``retryable``, ``retry_after``), :class:`~pinecone_migrator.errors.RecordsRejected` (a write
refused for its content) or :class:`~pinecone_migrator.errors.UserError` (a refused key). Retries and pacing
under the rate limits are the store's (:class:`~.store.PineconeStore`), so both transports — REST
(:mod:`.rest`) and gRPC (:mod:`.grpc_transport`) — are retried and paced the same way.

A :class:`Pacer` is asked before every attempt: ``wait`` blocks until the rate limits of the operation
admit the request; ``throttled`` hears that the remote answered 429 anyway. Operation names are those of
:data:`pinecone_migrator.limits.RATE_LIMITS`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from ...records import Record, SparseValues
from ..base import IdPage, Match, RecordPage


@dataclass(frozen=True)
class Written:
    """A write the remote acknowledged: how many records, and the LSN it was given (None: not told)."""

    count: int
    lsn: int | None


class Transport(Protocol):
    """One index host's data plane. Thread-safe; each call is one request (no retries). Namespaces are as
    sent on the wire (the default namespace is "")."""

    name: str  # "rest" or "grpc", for messages and reports

    def list_ids(self, namespace: str, prefix: str, cursor: str | None, limit: int) -> IdPage: ...

    def fetch_batches(self, ids: Sequence[str]) -> Iterator[list[str]]:
        """``ids`` split into requests this transport can send (count and, for REST, URL length)."""
        ...

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        """One request: ``ids`` must be one of :meth:`fetch_batches`'s batches."""
        ...

    def fetch_by_metadata(
        self, namespace: str, metadata_filter: dict[str, Any], cursor: str | None, limit: int
    ) -> RecordPage: ...

    def query(
        self,
        namespace: str,
        *,
        top_k: int,
        vector: Any = None,
        sparse: SparseValues | None = None,
        metadata_filter: dict[str, Any] | None = None,
    ) -> list[Match]:
        """Matches best first, without values or metadata."""
        ...

    def request_size(self, record: Record) -> int:
        """Bytes ``record`` adds to an upsert request (what write batches are sized by)."""
        ...

    def upsert(self, namespace: str, records: Sequence[Record]) -> Written: ...

    def delete(self, namespace: str, ids: Sequence[str]) -> Written: ...

    def update_metadata(self, namespace: str, record_id: str, set_metadata: dict[str, Any]) -> Written: ...

    def describe_index_stats(self) -> dict[str, Any]:
        """The index's stats in the REST API's shape (``namespaces`` → ``vectorCount``, ``dimension``,
        ``totalVectorCount``, ``metric``, ``vectorType`` where known)."""
        ...

    def indexed_lsn(self, namespace: str) -> int | None:
        """The highest LSN visible to reads (from a cheap read); None when the remote does not say."""
        ...

    def close(self) -> None: ...


class Pacer(Protocol):
    """Keeps a store's requests under rate limits; shared by every thread of the store."""

    def wait(self, operation: str, namespace: str, *, records: int = 1, nbytes: int = 0) -> None:
        """Block until the limits of ``operation`` admit one request of this size."""
        ...

    def throttled(self, operation: str, namespace: str) -> None:
        """The remote answered 429 to ``operation``: its limit is lower than assumed."""
        ...


class Unpaced:
    """No client-side limits (``--rate-limits off``): requests go as fast as the engine sends them."""

    def wait(self, operation: str, namespace: str, *, records: int = 1, nbytes: int = 0) -> None:
        return None

    def throttled(self, operation: str, namespace: str) -> None:
        return None
