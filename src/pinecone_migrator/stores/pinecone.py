"""A Pinecone index as a store, through the official SDK (the only module that imports it).

Retries: the SDK already retries 408/429/5xx three times; on top of that every call here is retried with
jittered exponential backoff within a time budget, because a migration must outlast longer outages than the
SDK's few seconds. A batch the target refuses for its content (400/413/422, or the SDK's own validation) is
not retried: it is reported as :class:`RecordsRejected` so the engine can find the records at fault.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar
from urllib.parse import quote

import numpy as np
import orjson

from ..errors import RecordsRejected, RemoteError, UserError
from ..records import Record, SparseValues
from .base import DEFAULT_NAMESPACE, Capabilities, IdPage, IndexShape, StoreDescription, WriteAck

T = TypeVar("T")

# Fetch IDs travel in the URL; keep each request's encoded IDs well under common URL limits.
MAX_FETCH_URL_BYTES = 12_000
REFUSED_STATUSES = frozenset({400, 413, 422})
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 8
    base_seconds: float = 0.5
    max_seconds: float = 30.0
    budget_seconds: float = 300.0

    def delays(self, rng: random.Random) -> Iterator[float]:
        """Full-jitter exponential backoff: random waits up to base·2^n, capped."""
        for attempt in range(self.attempts - 1):
            yield rng.uniform(0, min(self.max_seconds, self.base_seconds * 2**attempt))


FIRST_CONTACT = RetryPolicy(attempts=3, base_seconds=0.5, max_seconds=2.0, budget_seconds=10.0)


def wire_namespace(namespace: str) -> str:
    """The namespace as the SDK sends it: the default namespace is the empty string."""
    return "" if namespace == DEFAULT_NAMESPACE else namespace


def record_from_sdk(vector: Any) -> Record:
    sparse = None
    if vector.sparse_values is not None and len(vector.sparse_values.indices) > 0:
        sparse = SparseValues(
            indices=np.asarray(vector.sparse_values.indices, dtype=np.uint32),
            values=np.asarray(vector.sparse_values.values, dtype=np.float32),
        )
    values = np.asarray(vector.values, dtype=np.float32) if vector.values else None
    return Record(id=vector.id, values=values, sparse=sparse, metadata=dict(vector.metadata or {}))


def shortest_floats(values: Any) -> list[float]:
    """float32 values as Python floats that print in their shortest float32 form.

    ``0.1`` rather than ``0.10000000149011612``: the request the SDK sends is about half as long, and the
    server reads back exactly the same float32 values.
    """
    return list(orjson.loads(orjson.dumps(values, option=orjson.OPT_SERIALIZE_NUMPY)))


def record_to_sdk(record: Record) -> dict[str, Any]:
    body: dict[str, Any] = {"id": record.id}
    if record.values is not None:
        body["values"] = shortest_floats(record.values)
    if record.sparse is not None:
        body["sparse_values"] = {
            "indices": record.sparse.indices.tolist(),
            "values": shortest_floats(record.sparse.values),
        }
    if record.metadata:
        body["metadata"] = record.metadata
    return body


def fetch_batches(
    ids: Sequence[str], max_ids: int, max_url_bytes: int = MAX_FETCH_URL_BYTES
) -> Iterator[list[str]]:
    """Split IDs into fetch requests that respect both the ID count and the URL length."""
    batch: list[str] = []
    size = 0
    for record_id in ids:
        cost = len(quote(record_id, safe="")) + len("&ids=")
        if batch and (len(batch) >= max_ids or size + cost > max_url_bytes):
            yield batch
            batch, size = [], 0
        batch.append(record_id)
        size += cost
    if batch:
        yield batch


class PineconeStore:
    """One index of one project. ``control_host`` None means Pinecone's cloud."""

    def __init__(
        self,
        index_name: str,
        api_key: str,
        control_host: str | None = None,
        retry: RetryPolicy | None = None,
        seed: int | None = None,
    ) -> None:
        from pinecone import Pinecone

        self.index_name = index_name
        self._client = (
            Pinecone(api_key=api_key, host=control_host) if control_host else Pinecone(api_key=api_key)
        )
        self._retry = retry or RetryPolicy()
        self._rng = random.Random(seed)
        self._index: Any = None
        self._description: Any = None
        # Encodings made while sizing batches, reused by the write that follows (keyed by object identity;
        # the record is kept alongside so that its id cannot be reused while the entry exists).
        self._encoded: dict[int, tuple[Record, dict[str, Any]]] = {}

    # -- calls with retries --------------------------------------------------------------------------------

    def _call(
        self,
        operation: str,
        call: Callable[[], T],
        *,
        refusable: bool = False,
        retry: RetryPolicy | None = None,
    ) -> T:
        from pinecone.errors.exceptions import (
            ApiError,
            NotFoundError,
            PineconeConnectionError,
            PineconeTimeoutError,
            PineconeTypeError,
            PineconeValueError,
        )

        started = time.monotonic()
        policy = retry or self._retry
        delays = policy.delays(self._rng)
        while True:
            try:
                return call()
            except (PineconeValueError, PineconeTypeError) as error:
                # The SDK refused to send it: in a write the records are at fault (e.g. a non-ASCII ID),
                # anywhere else the request we built from the user's input.
                if refusable:
                    raise RecordsRejected(operation, str(error)) from None
                raise UserError(f"{operation}: {error}") from None
            except NotFoundError:
                raise RemoteError(
                    operation,
                    f"index {self.index_name!r} or its namespace was not found",
                    status=404,
                    retryable=False,
                ) from None
            except ApiError as error:
                status = error.status_code
                if refusable and status in REFUSED_STATUSES:
                    raise RecordsRejected(operation, _message(error), status) from None
                if status not in RETRYABLE_STATUSES:
                    raise RemoteError(operation, _message(error), status=status, retryable=False) from None
                failure: RemoteError = RemoteError(operation, _message(error), status=status, retryable=True)
            except (PineconeConnectionError, PineconeTimeoutError) as error:
                failure = RemoteError(operation, f"connection problem: {error}", retryable=True)
            delay = next(delays, None)
            if delay is None or time.monotonic() - started + delay > policy.budget_seconds:
                raise failure
            time.sleep(delay)

    @property
    def index(self) -> Any:
        if self._index is None:
            host = self._describe_raw().host
            self._index = self._client.index(host=host)
        return self._index

    def _describe_raw(self) -> Any:
        if self._description is None:
            self._description = self._call(
                "describe index", lambda: self._client.describe_index(self.index_name)
            )
        return self._description

    # -- the store protocol --------------------------------------------------------------------------------

    def exists(self) -> bool:
        """The first call of a run: a wrong host or key fails within seconds, not after the long budget."""
        return bool(
            self._call(
                "list indexes",
                lambda: self.index_name in self._client.list_indexes().names(),
                retry=FIRST_CONTACT,
            )
        )

    def describe(self) -> StoreDescription:
        model = self._describe_raw()
        stats = self._call("describe index stats", lambda: self.index.describe_index_stats())
        deployment = model.deployment
        return StoreDescription(
            name=model.name,
            shape=IndexShape(vector_type=model.vector_type, metric=model.metric, dimension=model.dimension),
            namespace_counts={
                (ns or DEFAULT_NAMESPACE): int(summary.vector_count)
                for ns, summary in stats.namespaces.items()
            },
            cloud=getattr(deployment, "cloud", None),
            region=getattr(deployment, "region", None),
            tags=dict(model.tags or {}),
            deployment_type=type(deployment).__name__.removesuffix("Deployment").lower(),
        )

    def capabilities(self) -> Capabilities:
        pod = type(self._describe_raw().deployment).__name__ == "PodDeployment"
        return Capabilities(can_list=not pod, can_fetch_by_metadata=True)

    def list_ids(
        self, namespace: str, *, prefix: str = "", cursor: str | None = None, limit: int = 100
    ) -> IdPage:
        page = self._call(
            "list",
            lambda: self.index.list_paginated(
                namespace=wire_namespace(namespace),
                prefix=prefix or None,
                limit=limit,
                pagination_token=cursor,
            ),
        )
        token = page.pagination.next if page.pagination is not None else None
        return IdPage(ids=[item.id for item in page.vectors], cursor=token or None)

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        found: list[Record] = []
        for batch in fetch_batches(ids, Capabilities.max_fetch_ids):
            response = self._call(
                "fetch", partial(self.index.fetch, ids=batch, namespace=wire_namespace(namespace))
            )
            found.extend(record_from_sdk(v) for v in response.vectors.values())
        return found

    def request_size(self, record: Record) -> int:
        encoded = record_to_sdk(record)
        self._encoded[id(record)] = (record, encoded)
        return len(orjson.dumps(encoded)) + 1

    def _encoding(self, record: Record) -> dict[str, Any]:
        cached = self._encoded.pop(id(record), None)
        if cached is not None and cached[0] is record:
            return cached[1]
        return record_to_sdk(record)

    def write(self, namespace: str, records: Sequence[Record]) -> WriteAck:
        vectors = [self._encoding(r) for r in records]
        response = self._call(
            "upsert",
            lambda: self.index.upsert(
                vectors=vectors, namespace=wire_namespace(namespace), show_progress=False
            ),
            refusable=True,
        )
        return WriteAck(count=int(response.upserted_count), lsn=_lsn(response, "x-pinecone-request-lsn"))

    def delete(self, namespace: str, ids: Sequence[str]) -> WriteAck:
        if not ids:
            return WriteAck(count=0)
        response = self._call(
            "delete", lambda: self.index.delete(ids=list(ids), namespace=wire_namespace(namespace))
        )
        return WriteAck(count=len(ids), lsn=_lsn(response, "x-pinecone-request-lsn"))

    # -- creating a target ---------------------------------------------------------------------------------

    def create_like(
        self,
        source: StoreDescription,
        *,
        cloud: str | None = None,
        region: str | None = None,
        deletion_protection: bool = False,
        read_capacity: dict[str, Any] | None = None,
    ) -> None:
        """Create this index with the source's dimension, metric, vector type and tags; wait until ready."""
        from pinecone import ServerlessSpec

        spec = ServerlessSpec(
            cloud=cloud or source.cloud or "aws", region=region or source.region or "us-east-1"
        )
        shape = source.shape
        kwargs: dict[str, Any] = {
            "name": self.index_name,
            "metric": shape.metric,
            "spec": spec,
            "vector_type": shape.vector_type,
            "deletion_protection": "enabled" if deletion_protection else "disabled",
        }
        if shape.dimension is not None:
            kwargs["dimension"] = shape.dimension
        if source.tags:
            kwargs["tags"] = source.tags
        if read_capacity is not None:
            kwargs["read_capacity"] = read_capacity
        try:
            # indexes.create (not the create_index shim) is the surface that accepts read_capacity.
            self._call("create index", lambda: self._client.indexes.create(**kwargs))
        except RemoteError as error:
            if error.status in (400, 422):
                raise UserError(f"Pinecone refused to create index {self.index_name!r}: {error}") from None
            raise
        self._description = None


def _message(error: Any) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error")
        if isinstance(inner, dict) and inner.get("message"):
            return f"[{error.status_code}] {inner['message']}"
        if body.get("message"):
            return f"[{error.status_code}] {body['message']}"
    return str(error)


def _lsn(response: Any, header: str) -> int | None:
    info = getattr(response, "response_info", None)
    headers = getattr(info, "raw_headers", None) or {}
    value = headers.get(header)
    return int(value) if value is not None and str(value).isdigit() else None
