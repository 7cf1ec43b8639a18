"""The data plane over gRPC, through the official SDK's gRPC client (``pinecone.grpc``).

The SDK's :class:`~pinecone.grpc.GrpcIndex` builds the channel (endpoint, TLS, key checks); requests go
to its native channel directly, as the SDK's own methods do once they have validated their input: those
methods turn every vector into a model object and check every float again, which is the per-record Python
this transport exists to avoid. The channel's own retries are off (``max_retries=0``): the store retries
and paces, and must hear each 429 itself. The SDK's adaptive limiter only gates its bulk helpers, which
are never called here.

What the SDK's gRPC client does not give: LSNs. Its channel returns response bodies only (SDK 10.2; the
response metadata that carries them is dropped), so writes report no LSN, and :meth:`indexed_lsn` reads
the index's indexed LSN with one REST list request to the same index, as the REST transport does.

Metadata numbers come back as doubles (protobuf ``Struct``): an integer 3 is read as 3.0. Records and
their digests treat every metadata number as a float64
(:func:`~pinecone_migrator.records.canonical_metadata`), so a record read over gRPC equals the same record
read over REST.
"""

from __future__ import annotations

import array
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import numpy as np

from ...errors import RecordsRejected, RemoteError, UserError
from ...records import Record, SparseValues, checked_record
from ..base import IdPage, Match, RecordPage
from .rest import API_VERSION, MAX_FETCH_IDS, Denied, RestTransport, message_of
from .retry import DENIED_STATUSES, REFUSED_STATUSES, RETRYABLE_STATUSES
from .transport import Transport, Written

T = TypeVar("T")
TIMEOUT_SECONDS = 60.0
CONNECT_TIMEOUT_SECONDS = 10.0
# The channel hands a fetch over as Python floats (about 32 bytes each, list slot included) before they are
# narrowed: a fetch of 1,000 records of dimension 20,000 would hold 640 MB. Fewer IDs per fetch at high
# dimensions keep that near 64 MB; at 2,000 and below a fetch still takes Pinecone's 1,000.
MAX_FETCH_VALUES = 2_000_000


def open_grpc_transport(
    description: Any, api_key: str, control_host: str | None, *, denied: Denied
) -> Transport:
    """The gRPC data plane of the index ``description`` describes (the SDK's describe model)."""
    endpoint, secure = grpc_endpoint(description, api_key, control_host)
    host = str(description.host)
    dimension = getattr(description, "dimension", None)
    return GrpcTransport(
        endpoint,
        api_key,
        secure=secure,
        denied=denied,
        lsn_reader=lambda: RestTransport(host, api_key, denied=denied),
        dimension=dimension if isinstance(dimension, int) else None,
    )


def is_pinecone_cloud(control_host: str | None) -> bool:
    if control_host is None:
        return True
    host = httpx.URL(control_host if "://" in control_host else f"https://{control_host}").host
    return host == "pinecone.io" or host.endswith(".pinecone.io")


def grpc_endpoint(description: Any, api_key: str, control_host: str | None) -> tuple[str, bool]:
    """Where the index's gRPC data plane listens, and whether over TLS.

    Pinecone's cloud serves gRPC on the index host itself (TLS, port 443). Our local server serves each
    index on a port of its own and names it in its describe reply (``grpc_host``, not Pinecone's), which
    the SDK's describe model does not keep: the description is read again, raw."""
    if control_host is None or is_pinecone_cloud(control_host):
        return str(description.host), True
    base = control_host if "://" in control_host else f"https://{control_host}"
    url = f"{base.rstrip('/')}/indexes/{quote(description.name, safe='')}"
    headers = {"Api-Key": api_key, "X-Pinecone-Api-Version": API_VERSION}
    try:
        reply = httpx.get(url, headers=headers, timeout=CONNECT_TIMEOUT_SECONDS)
    except httpx.HTTPError as error:
        raise RemoteError(
            "describe index", f"{control_host} did not answer: {error}", retryable=True
        ) from None
    try:
        described = reply.json() if reply.status_code == 200 else {}
    except ValueError:  # not JSON: the same control plane answered the SDK a moment ago, so not expected
        described = {}
    grpc_host = described.get("grpc_host") if isinstance(described, dict) else None
    if not grpc_host:
        raise UserError(
            f"{control_host} serves no gRPC data plane for index {description.name!r}; start it with "
            "`serve --grpc-port 0` or use --transport rest"
        )
    return str(grpc_host), base.startswith("https://")


class GrpcTransport:
    """One index host over gRPC (:class:`~.transport.Transport`). Thread-safe: the native channel
    multiplexes concurrent calls and releases the GIL while it waits."""

    name = "grpc"

    def __init__(
        self,
        endpoint: str,
        api_key: str,
        *,
        secure: bool = True,
        denied: Denied,
        lsn_reader: Callable[[], Transport] | None = None,
        dimension: int | None = None,
        timeout_seconds: float = TIMEOUT_SECONDS,
    ) -> None:
        """``lsn_reader``: opens the REST transport that :meth:`indexed_lsn` reads through (on first use:
        most runs never ask). ``dimension``: the index's, which bounds the IDs of a fetch."""
        from pinecone import RetryConfig
        from pinecone.grpc import GrpcIndex

        self.host = endpoint
        self._denied = denied
        self.max_fetch_ids = max(1, min(MAX_FETCH_IDS, MAX_FETCH_VALUES // (dimension or 1)))
        self._open_lsn_reader = lsn_reader
        self._lsn_reader: Transport | None = None
        self._lsn_reader_lock = threading.Lock()
        self._index = GrpcIndex(
            host=endpoint,
            api_key=api_key,
            api_version=API_VERSION,
            secure=secure,
            grpc_scheme="https" if secure else "http",
            timeout=timeout_seconds,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            retry_config=RetryConfig(max_retries=0),
        )
        self._channel = self._index._channel

    def close(self) -> None:
        self._index.close()
        if self._lsn_reader is not None:
            self._lsn_reader.close()

    def _call(self, operation: str, call: Callable[[], T], *, refusable: bool = False) -> T:
        """One request (no retry): the answer, or the failure translated as the REST transport does."""
        from pinecone.errors.exceptions import (
            ApiError,
            PineconeConnectionError,
            PineconeError,
            PineconeTimeoutError,
            PineconeTypeError,
            PineconeValueError,
        )

        try:
            return call()
        except ApiError as error:
            status = error.status_code
            message = message_of(status, error.body, error.message)
            if status in DENIED_STATUSES:
                raise self._denied(status, message, self.host) from None
            if refusable and status in REFUSED_STATUSES:
                raise RecordsRejected(operation, message, status) from None
            raise RemoteError(
                operation, message, status=status, retryable=status in RETRYABLE_STATUSES
            ) from None
        except PineconeTimeoutError:
            raise RemoteError(operation, f"{self.host} timed out", retryable=True) from None
        except PineconeConnectionError as error:  # UNAVAILABLE, or no connection at all
            raise RemoteError(
                operation, f"connection problem with {self.host}: {error}", retryable=True
            ) from None
        except (PineconeValueError, PineconeTypeError) as error:  # the SDK would not send it
            if refusable:
                raise RecordsRejected(operation, str(error)) from None
            raise UserError(f"{operation} ({self.host}): {error}") from None
        except (
            PineconeError
        ) as error:  # a status the SDK names only by its message (ABORTED, UNIMPLEMENTED...)
            raise RemoteError(operation, f"{self.host} answered: {error}", retryable=False) from None

    # -- the data plane --------------------------------------------------------------------------------------

    def list_ids(self, namespace: str, prefix: str, cursor: str | None, limit: int) -> IdPage:
        page = self._call(
            "list",
            lambda: self._channel.list(
                prefix=prefix or None, limit=limit, pagination_token=cursor, namespace=namespace
            ),
        )
        return IdPage(ids=[item["id"] for item in page.get("vectors", ())], cursor=_next(page))

    def fetch_batches(self, ids: Sequence[str]) -> Iterator[list[str]]:
        """IDs travel in the request body here: Pinecone's count per fetch bounds a batch, and so does the
        memory of its values at high dimensions (:data:`MAX_FETCH_VALUES`)."""
        for start in range(0, len(ids), self.max_fetch_ids):
            yield list(ids[start : start + self.max_fetch_ids])

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        found = self._call("fetch", lambda: self._channel.fetch(ids, namespace=namespace))
        return records_of(found.get("vectors", {}))

    def fetch_by_metadata(
        self, namespace: str, metadata_filter: dict[str, Any], cursor: str | None, limit: int
    ) -> RecordPage:
        found = self._call(
            "fetch by metadata",
            lambda: self._channel.fetch_by_metadata(
                namespace=namespace, filter=metadata_filter, limit=limit, pagination_token=cursor
            ),
        )
        return RecordPage(records=records_of(found.get("vectors", {})), cursor=_next(found))

    def query(
        self,
        namespace: str,
        *,
        top_k: int,
        vector: Any = None,
        sparse: SparseValues | None = None,
        metadata_filter: dict[str, Any] | None = None,
    ) -> list[Match]:
        dense = None if vector is None else np.ascontiguousarray(vector, dtype=np.float32).data
        found = self._call(
            "query",
            lambda: self._channel.query(
                top_k,
                vector=dense,
                namespace=namespace,
                filter=metadata_filter or None,
                include_values=False,
                include_metadata=False,
                sparse_vector=None if sparse is None else _sparse_dict(sparse),
            ),
        )
        return [Match(id=str(m["id"]), score=float(m.get("score", 0.0))) for m in found.get("matches", ())]

    def request_size(self, record: Record) -> int:
        """The record's bytes in an UpsertRequest, exactly as protobuf encodes it (packed float32 values:
        4 bytes a float, against about 10 as JSON text)."""
        return _field(vector_size(record))

    def upsert(self, namespace: str, records: Sequence[Record]) -> Written:
        vectors = [_vector_dict(record) for record in records]
        answer = self._call("upsert", lambda: self._channel.upsert(vectors, namespace), refusable=True)
        return Written(int(answer.get("upserted_count", len(records))), None)

    def delete(self, namespace: str, ids: Sequence[str]) -> Written:
        self._call("delete", lambda: self._channel.delete(ids=list(ids), namespace=namespace))
        return Written(len(ids), None)

    def update_metadata(self, namespace: str, record_id: str, set_metadata: dict[str, Any]) -> Written:
        self._call(
            "update",
            lambda: self._channel.update(record_id, set_metadata=set_metadata, namespace=namespace),
        )
        return Written(1, None)

    def describe_index_stats(self) -> dict[str, Any]:
        stats = self._call("describe index stats", lambda: self._channel.describe_index_stats(filter=None))
        shaped: dict[str, Any] = {
            "namespaces": {
                name: {"vectorCount": int(summary.get("vector_count", 0))}
                for name, summary in stats.get("namespaces", {}).items()
            },
            "totalVectorCount": int(stats.get("total_vector_count", 0)),
        }
        for key, rest_key in (
            ("dimension", "dimension"),
            ("metric", "metric"),
            ("vector_type", "vectorType"),
        ):
            if stats.get(key) is not None:
                shaped[rest_key] = stats[key]
        return shaped

    def indexed_lsn(self, namespace: str) -> int | None:
        if self._open_lsn_reader is None:
            return None
        with self._lsn_reader_lock:
            if self._lsn_reader is None:
                self._lsn_reader = self._open_lsn_reader()
        return self._lsn_reader.indexed_lsn(namespace)


def _next(page: Mapping[str, Any]) -> str | None:
    token = (page.get("pagination") or {}).get("next")
    return str(token) if token else None


# -- records to and from the channel's dicts ---------------------------------------------------------------


def _sparse_dict(sparse: SparseValues) -> dict[str, Any]:
    return {"indices": sparse.indices.data, "values": sparse.values.data}


def _vector_dict(record: Record) -> dict[str, Any]:
    """What the channel encodes. Values go as a memoryview of the float32 array: the channel reads any
    sequence, and reading this one costs it about two thirds of reading a list (whose Python floats would
    have to be made first); a numpy array itself costs more than either."""
    values = () if record.values is None else np.ascontiguousarray(record.values).data
    vector: dict[str, Any] = {"id": record.id, "values": values}
    if record.sparse is not None:
        vector["sparse_values"] = _sparse_dict(record.sparse)
    if record.metadata:
        vector["metadata"] = record.metadata
    return vector


def records_of(vectors: Mapping[str, Any]) -> list[Record]:
    """Records from a fetch's ``{id: {"values": [...], "sparse_values": ..., "metadata": ...}}``."""
    dense = _dense_page(vectors)
    return dense if dense is not None else [_record(key, vector) for key, vector in vectors.items()]


def _record(key: str, vector: Mapping[str, Any]) -> Record:
    sparse = vector.get("sparse_values")
    values = vector.get("values")
    return Record(
        id=key,
        values=_float32(values) if values else None,
        sparse=None if sparse is None else SparseValues(sparse["indices"], sparse["values"]),
        metadata=vector.get("metadata") or {},
    )


def _float32(values: list[float]) -> np.ndarray[Any, np.dtype[np.float32]]:
    # array("f") reads a list of floats faster than numpy does; the float32 values were sent exactly.
    return np.frombuffer(array.array("f", values), dtype=np.float32)


def _dense_page(vectors: Mapping[str, Any]) -> list[Record] | None:
    """The records of a page of dense vectors of one width without sparse values, narrowed to float32 in
    one block and built without checking their parts again (as :func:`.rest._dense_page` does); ``None``
    for any other page, and for values that are not finite (the record-by-record path refuses those by
    name)."""
    ids: list[str] = []
    rows: list[array.array[float]] = []
    metadatas: list[dict[str, Any]] = []
    width = -1
    for key, vector in vectors.items():
        values = vector.get("values")
        if not values or "sparse_values" in vector:
            return None
        if len(values) != width:
            if width >= 0:
                return None
            width = len(values)
        ids.append(key)
        rows.append(array.array("f", values))
        metadata = vector.get("metadata") or {}
        metadatas.append(metadata if None not in metadata.values() else _without_nulls(metadata))
    if not ids:
        return []
    block = np.frombuffer(b"".join(rows), dtype=np.float32)
    if not np.isfinite(block).all():
        return None
    block = block.reshape(len(ids), width)
    block.flags.writeable = False  # and so is every row
    return [checked_record(i, row, m) for i, row, m in zip(ids, block, metadatas, strict=True)]


def _without_nulls(metadata: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in metadata.items() if value is not None}


# -- protobuf sizes (proto3 wire format; every field number here is below 16, so a tag is one byte) -------


def _varint(n: int) -> int:
    return max(1, (n.bit_length() + 6) // 7)


def _field(length: int) -> int:
    """A length-delimited field: tag, length, bytes."""
    return 1 + _varint(length) + length


def vector_size(record: Record) -> int:
    """Bytes of the ``Vector`` message for ``record``."""
    size = _field(len(record.id.encode("utf-8")))
    if record.values is not None:
        size += _field(4 * record.values.size)
    if record.sparse is not None and len(record.sparse):
        indices = record.sparse.indices
        index_bytes = indices.size + sum(int(np.count_nonzero(indices >= 1 << s)) for s in (7, 14, 21, 28))
        size += _field(_field(index_bytes) + _field(4 * indices.size))
    if record.metadata:
        size += _field(struct_size(record.metadata))
    return size


def struct_size(fields: Mapping[str, Any]) -> int:
    """Bytes of a ``google.protobuf.Struct``: one map entry (key, Value) per field."""
    return sum(
        _field(_field(len(key.encode("utf-8"))) + _field(_value_size(value))) for key, value in fields.items()
    )


def _value_size(value: Any) -> int:
    """Bytes of a ``google.protobuf.Value``'s content (its one field)."""
    if value is None or isinstance(value, bool):
        return 2  # null_value / bool_value: tag and a one-byte varint
    if isinstance(value, (int, float)):
        return 9  # number_value: tag and a double
    if isinstance(value, str):
        return _field(len(value.encode("utf-8")))
    if isinstance(value, Mapping):
        return _field(struct_size(value))
    if isinstance(value, (list, tuple)):
        return _field(sum(_field(_value_size(item)) for item in value))
    return 9  # numpy numbers
