"""The data plane over gRPC, spoken with grpcio directly (``--transport grpc``).

Why not the official SDK's gRPC client: its channel turns every float into a Python object, both ways, so
it cost about what REST costs per record, and it hands over no response metadata, where the LSNs travel.
Here records are encoded and read as bytes (:mod:`.grpc_codec`): an upsert copies each record's float32
bytes into the message, a fetch reads values in place from the reply. Other messages (list, query, stats)
are few and small, and go through the generated module (:mod:`pinecone_migrator.protocol`).

What is sent is what the SDK sends: the methods of ``VectorService`` (no package), the key as metadata
``api-key``, ``x-pinecone-api-version``, and a user agent naming pinecone-migrator; TLS to port 443 of the
index host on Pinecone's cloud, plaintext to our local server's ``grpc_host``. LSNs are read from the
call's initial and trailing metadata under REST's header names. The channel's own retries are off: the
store retries and paces, and must hear each 429 itself.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar
from urllib.parse import quote

import grpc
import httpx
import numpy as np

from ... import __version__
from ...errors import RemoteError, UserError
from ...protocol import vector_service_pb2 as pb
from ...records import Record, SparseValues
from ..base import IdPage, Match, RecordPage
from . import grpc_codec as codec
from .rest import API_VERSION, INDEXED_LSN, MAX_FETCH_IDS, REQUEST_LSN, RestTransport
from .retry import Denied, failure_of
from .transport import Transport, Written

T = TypeVar("T")
TIMEOUT_SECONDS = 60.0
CONNECT_TIMEOUT_SECONDS = 10.0
# A fetch's reply is held whole while its records are views of it (4 bytes a value): fetches of the widest
# records take fewer IDs so that one reply stays near 64 MB of values; up to dimension 16,000, 1,000 IDs.
MAX_FETCH_VALUES = 16_000_000
MAX_MESSAGE_BYTES = 256 << 20  # far above any reply Pinecone sends (1,000 IDs x 20,000 dims is 80 MB)
CHANNEL_OPTIONS: list[tuple[str, Any]] = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.primary_user_agent", f"pinecone-migrator/{__version__}"),
    ("grpc.enable_retries", 0),  # the store retries, and paces on every 429
    # A ping after 30 s of silence finds a connection a middlebox dropped before a call waits on it.
    ("grpc.keepalive_time_ms", 30_000),
    ("grpc.keepalive_timeout_ms", 10_000),
    ("grpc.keepalive_permit_without_calls", 0),
]

# The HTTP status REST would have answered, by gRPC code (Pinecone's REST errors name the same codes).
_STATUS_OF: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.ABORTED: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNKNOWN: 500,
    grpc.StatusCode.INTERNAL: 500,
    grpc.StatusCode.DATA_LOSS: 500,
    grpc.StatusCode.UNIMPLEMENTED: 501,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}


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
    """Where the index's gRPC data plane listens (``host:port``), and whether over TLS.

    Pinecone's cloud serves gRPC on the index host itself (TLS, port 443). Our local server serves each
    index on a port of its own and names it in its describe reply (``grpc_host``, not Pinecone's), which
    the SDK's describe model does not keep: the description is read again, raw."""
    if control_host is None or is_pinecone_cloud(control_host):
        return with_port(str(description.host), 443), True
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


def check_grpc_served(control_host: str | None, api_key: str) -> None:
    """Before an index is created for the gRPC transport: a host other than Pinecone's cloud must serve a
    gRPC data plane (our local server says so at ``/_admin/grpc``), or the index would be created for
    nothing. Raises the same one-line UserError as a missing ``grpc_host``."""
    if control_host is None or is_pinecone_cloud(control_host):
        return
    base = control_host if "://" in control_host else f"https://{control_host}"
    try:
        reply = httpx.get(
            f"{base.rstrip('/')}/_admin/grpc", headers={"Api-Key": api_key}, timeout=CONNECT_TIMEOUT_SECONDS
        )
    except httpx.HTTPError as error:
        raise RemoteError(
            "describe gRPC listeners", f"{control_host} did not answer: {error}", retryable=True
        ) from None
    if reply.status_code != 200:
        raise UserError(
            f"{control_host} serves no gRPC data plane; start it with `serve --grpc-port 0` or use "
            "--transport rest"
        )


def with_port(host: str, port: int) -> str:
    """``host`` without a scheme, with ``port`` unless it names one."""
    bare = host.split("://", 1)[-1].rstrip("/")
    return bare if bare.rsplit(":", 1)[-1].isdigit() and not bare.endswith("]") else f"{bare}:{port}"


class GrpcTransport:
    """One index host over gRPC (:class:`~.transport.Transport`). Thread-safe: the channel multiplexes
    concurrent calls and releases the GIL while it waits."""

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
        """``endpoint``: ``host:port``. ``lsn_reader``: opens a REST transport for :meth:`indexed_lsn` when
        the gRPC reply carries no indexed LSN (on first need). ``dimension``: the index's, which bounds
        the IDs of a fetch."""
        self.host = endpoint
        self._denied = denied
        self._timeout = timeout_seconds
        self.max_fetch_ids = max(1, min(MAX_FETCH_IDS, MAX_FETCH_VALUES // (dimension or 1)))
        self._metadata = (("api-key", api_key), ("x-pinecone-api-version", API_VERSION))
        self._open_lsn_reader = lsn_reader
        self._lsn_reader: Transport | None = None
        self._lsn_reader_lock = threading.Lock()
        if secure:
            self._channel = grpc.secure_channel(endpoint, grpc.ssl_channel_credentials(), CHANNEL_OPTIONS)
        else:
            self._channel = grpc.insecure_channel(endpoint, CHANNEL_OPTIONS)
        # Replies that carry records are read as bytes (:mod:`.grpc_codec`), requests of records sent as
        # bytes; the rest go through the generated messages.
        self._methods: dict[str, grpc.UnaryUnaryMultiCallable] = {
            name: self._channel.unary_unary(
                f"/VectorService/{name}",
                request_serializer=None if name == "Upsert" else _serialize,
                response_deserializer=parse,
            )
            for name, parse in (
                ("Upsert", pb.UpsertResponse.FromString),
                ("Fetch", None),
                ("FetchByMetadata", None),
                ("List", pb.ListResponse.FromString),
                ("Query", pb.QueryResponse.FromString),
                ("Delete", pb.DeleteResponse.FromString),
                ("Update", pb.UpdateResponse.FromString),
                ("DescribeIndexStats", pb.DescribeIndexStatsResponse.FromString),
            )
        }
        # Encodings made while sizing batches, reused by the write that follows (as the REST transport
        # does: keyed by object identity, the record kept alongside so that its id cannot be reused).
        self._encoded: dict[int, tuple[Record, codec.EncodedVector]] = {}

    def close(self) -> None:
        self._channel.close()
        if self._lsn_reader is not None:
            self._lsn_reader.close()

    def _call(
        self, operation: str, method: str, request: Any, *, refusable: bool = False
    ) -> tuple[Any, dict[str, str]]:
        """One request (no retry): the reply and the call's metadata (initial and trailing), or the
        failure translated as the REST transport translates HTTP's."""
        try:
            reply, call = self._methods[method].with_call(
                request, metadata=self._metadata, timeout=self._timeout
            )
        except grpc.RpcError as error:
            raise self._failure(operation, error, refusable) from None
        return reply, _metadata_of(call)

    def _failure(self, operation: str, error: grpc.RpcError, refusable: bool) -> Exception:
        code: grpc.StatusCode = error.code()
        details = str(error.details() or code.name)
        if code is grpc.StatusCode.DEADLINE_EXCEEDED:
            return RemoteError(operation, f"{self.host} timed out", retryable=True)
        if code is grpc.StatusCode.UNAVAILABLE:  # refused, dropped, or not reachable at all
            return RemoteError(operation, f"connection problem with {self.host}: {details}", retryable=True)
        status = _STATUS_OF.get(code, 500)
        if code is grpc.StatusCode.RESOURCE_EXHAUSTED and "message larger than max" in details:
            status = 413  # this client's own message limit, not a rate limit: sending again cannot help
        return failure_of(
            operation,
            status,
            f"[{status}] {details}",
            self.host,
            denied=self._denied,
            refusable=refusable,
            retry_after=_retry_after(error),
        )

    # -- the data plane --------------------------------------------------------------------------------------

    def list_ids(self, namespace: str, prefix: str, cursor: str | None, limit: int) -> IdPage:
        page, _ = self._call("list", "List", _list_request(namespace, prefix, cursor, limit))
        token = page.pagination.next if page.HasField("pagination") else ""
        return IdPage(ids=[item.id for item in page.vectors], cursor=token or None)

    def fetch_batches(self, ids: Sequence[str]) -> Iterator[list[str]]:
        """IDs travel in the request body here: Pinecone's count per fetch bounds a batch, and so does the
        size of the reply at the highest dimensions (:data:`MAX_FETCH_VALUES`)."""
        for start in range(0, len(ids), self.max_fetch_ids):
            yield list(ids[start : start + self.max_fetch_ids])

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        raw, _ = self._call("fetch", "Fetch", pb.FetchRequest(ids=list(ids), namespace=namespace))
        return self._records("fetch", raw)[0]

    def fetch_by_metadata(
        self, namespace: str, metadata_filter: dict[str, Any], cursor: str | None, limit: int
    ) -> RecordPage:
        request = pb.FetchByMetadataRequest(namespace=namespace, limit=limit)
        request.filter.update(metadata_filter)
        if cursor:
            request.pagination_token = cursor
        raw, _ = self._call("fetch by metadata", "FetchByMetadata", request)
        records, token = self._records("fetch by metadata", raw)
        return RecordPage(records=records, cursor=token)

    def _records(self, operation: str, raw: bytes) -> tuple[list[Record], str | None]:
        try:
            return codec.records_reply(raw)
        except (codec.MalformedReply, UnicodeDecodeError) as error:
            raise RemoteError(
                operation, f"{self.host} sent a reply that is not a record page: {error}", retryable=False
            ) from None

    def query(
        self,
        namespace: str,
        *,
        top_k: int,
        vector: Any = None,
        sparse: SparseValues | None = None,
        metadata_filter: dict[str, Any] | None = None,
    ) -> list[Match]:
        # Values and metadata are never asked for, as over REST.
        request = pb.QueryRequest(namespace=namespace, top_k=top_k)
        if vector is not None:
            request.vector.extend(np.asarray(vector, dtype=np.float32).tolist())
        if sparse is not None:
            request.sparse_vector.indices.extend(sparse.indices.tolist())
            request.sparse_vector.values.extend(sparse.values.tolist())
        if metadata_filter:
            request.filter.update(metadata_filter)
        found, _ = self._call("query", "Query", request)
        return [Match(id=match.id, score=float(match.score)) for match in found.matches]

    def request_size(self, record: Record) -> int:
        """The record's bytes in an UpsertRequest, exactly (packed float32 values: 4 bytes a float,
        against about 10 as JSON text); the encoding is kept for the write that follows."""
        cached = self._encoded.get(id(record))
        if cached is None or cached[0] is not record:
            cached = (record, codec.EncodedVector(record))
            self._encoded[id(record)] = cached
        return cached[1].size

    def _encoding(self, record: Record) -> codec.EncodedVector:
        cached = self._encoded.pop(id(record), None)
        if cached is not None and cached[0] is record:
            return cached[1]
        return codec.EncodedVector(record)

    def upsert(self, namespace: str, records: Sequence[Record]) -> Written:
        request = codec.upsert_request(namespace, [self._encoding(record) for record in records])
        answer, metadata = self._call("upsert", "Upsert", request, refusable=True)
        return Written(int(answer.upserted_count), _lsn(metadata, REQUEST_LSN))

    def delete(self, namespace: str, ids: Sequence[str]) -> Written:
        request = pb.DeleteRequest(ids=list(ids), namespace=namespace)
        _, metadata = self._call("delete", "Delete", request)
        return Written(len(ids), _lsn(metadata, REQUEST_LSN))

    def update_metadata(self, namespace: str, record_id: str, set_metadata: dict[str, Any]) -> Written:
        request = pb.UpdateRequest(id=record_id, namespace=namespace)
        request.set_metadata.update(set_metadata)
        _, metadata = self._call("update", "Update", request)
        return Written(1, _lsn(metadata, REQUEST_LSN))

    def describe_index_stats(self) -> dict[str, Any]:
        stats, _ = self._call("describe index stats", "DescribeIndexStats", pb.DescribeIndexStatsRequest())
        shaped: dict[str, Any] = {
            "namespaces": {
                name: {"vectorCount": int(summary.vector_count)} for name, summary in stats.namespaces.items()
            },
            "totalVectorCount": int(stats.total_vector_count),
        }
        for key, rest_key in (
            ("dimension", "dimension"),
            ("metric", "metric"),
            ("vector_type", "vectorType"),
        ):
            if stats.HasField(key):
                shaped[rest_key] = getattr(stats, key)
        return shaped

    def indexed_lsn(self, namespace: str) -> int | None:
        """From the cheapest read, a list of one ID, as over REST; through REST when the gRPC reply does
        not carry it."""
        _, metadata = self._call("list", "List", _list_request(namespace, "", None, 1))
        visible = _lsn(metadata, INDEXED_LSN)
        if visible is not None or self._open_lsn_reader is None:
            return visible
        with self._lsn_reader_lock:
            if self._lsn_reader is None:
                self._lsn_reader = self._open_lsn_reader()
        return self._lsn_reader.indexed_lsn(namespace)


def _serialize(message: Any) -> bytes:
    data: bytes = message.SerializeToString()
    return data


def _list_request(namespace: str, prefix: str, cursor: str | None, limit: int) -> pb.ListRequest:
    request = pb.ListRequest(namespace=namespace, limit=limit)
    if prefix:
        request.prefix = prefix
    if cursor:
        request.pagination_token = cursor
    return request


def _metadata_of(call: Any) -> dict[str, str]:
    """A call's initial and trailing metadata (Pinecone may send LSNs in either)."""
    found: dict[str, str] = {}
    for pairs in (call.initial_metadata(), call.trailing_metadata()):
        for key, value in pairs or ():
            if isinstance(value, str):
                found.setdefault(key.lower(), value)
    return found


def _lsn(metadata: dict[str, str], key: str) -> int | None:
    value = metadata.get(key)
    return int(value) if value is not None and value.isdigit() else None


def _retry_after(error: grpc.RpcError) -> float | None:
    try:
        pairs = error.trailing_metadata() or ()
    except Exception:  # an error raised before any reply (no connection) has no metadata to read
        return None
    for key, value in pairs:
        if key.lower() == "retry-after" and isinstance(value, str):
            try:
                return max(0.0, float(value))
            except ValueError:
                return None
    return None
