"""``VectorService`` for one index: every RPC the official SDK's ``GrpcIndex`` calls.

Each call runs the same steps as a REST request: the API key (metadata ``api-key``), the faults (latency,
injected errors; a dropped connection becomes UNAVAILABLE, which is what a client sees of one), then the
shared operation of :mod:`..operations`. Errors keep REST's message and carry the gRPC code REST already
names in its ``rpcStatus`` body. LSNs travel as initial metadata under the REST header names
(``x-pinecone-request-lsn`` on writes, ``x-pinecone-max-indexed-lsn`` on reads): the response headers of
HTTP/2, where a gRPC client reads the headers of its call.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc

from ...protocol import vector_service_pb2 as pb
from .. import operations
from ..context import ServerState
from ..errors import ApiError, unauthenticated
from ..faults import Fault
from ..operations import Headers, Target
from . import messages, wire

log = logging.getLogger("pinecone_migrator.server.grpc")

SERVICE = "VectorService"

# The gRPC code of an error whose code name is not one (the control plane's FORBIDDEN, say), by HTTP status.
_BY_STATUS = {
    400: grpc.StatusCode.INVALID_ARGUMENT,
    401: grpc.StatusCode.UNAUTHENTICATED,
    403: grpc.StatusCode.PERMISSION_DENIED,
    404: grpc.StatusCode.NOT_FOUND,
    409: grpc.StatusCode.ALREADY_EXISTS,
    429: grpc.StatusCode.RESOURCE_EXHAUSTED,
    500: grpc.StatusCode.INTERNAL,
    501: grpc.StatusCode.UNIMPLEMENTED,
    503: grpc.StatusCode.UNAVAILABLE,
}


def status_code(error: ApiError) -> grpc.StatusCode:
    """The code REST's ``rpcStatus`` body names (so FAILED_PRECONDITION stays itself), else by HTTP status."""
    by_name = grpc.StatusCode.__members__.get(error.code)
    if by_name is not None:
        return by_name
    return _BY_STATUS.get(error.status, grpc.StatusCode.UNKNOWN)


Reply = tuple[Any, Headers]
Operation = Callable[[Target, Any], Reply]


class IndexService:
    """The RPCs of one index; ``handler()`` registers them with a ``grpc.aio`` server."""

    def __init__(self, state: ServerState, index: str) -> None:
        self.state = state
        self.index = index

    def handler(self) -> grpc.GenericRpcHandler:
        methods: dict[str, tuple[Operation, Callable[[bytes], Any]]] = {
            "Upsert": (self._upsert, _sized(pb.UpsertRequest.FromString)),
            "Delete": (_delete, pb.DeleteRequest.FromString),
            "Update": (_update, pb.UpdateRequest.FromString),
            "Fetch": (_fetch, pb.FetchRequest.FromString),
            "List": (_list, pb.ListRequest.FromString),
            "Query": (_query, pb.QueryRequest.FromString),
            "FetchByMetadata": (_fetch_by_metadata, pb.FetchByMetadataRequest.FromString),
            "DescribeIndexStats": (_describe_index_stats, pb.DescribeIndexStatsRequest.FromString),
            "ListNamespaces": (_list_namespaces, pb.ListNamespacesRequest.FromString),
            "CreateNamespace": (_create_namespace, pb.CreateNamespaceRequest.FromString),
            "DescribeNamespace": (_describe_namespace, pb.DescribeNamespaceRequest.FromString),
            "DeleteNamespace": (_delete_namespace, pb.DeleteNamespaceRequest.FromString),
        }
        handlers = {
            name: grpc.unary_unary_rpc_method_handler(
                self._call(operation),
                request_deserializer=deserialize,
                response_serializer=_serialize,
            )
            for name, (operation, deserialize) in methods.items()
        }
        return grpc.method_handlers_generic_handler(SERVICE, handlers)

    def _call(self, operation: Operation) -> Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                expected = self.state.config.api_key
                if expected is not None and _metadata(context).get("api-key") != expected:
                    raise unauthenticated()
                if await self.state.faults.before_call() is Fault.DROP:
                    await context.abort(grpc.StatusCode.UNAVAILABLE, "Injected fault: connection dropped.")
                reply, headers = operation(Target(self.state, self.index), request)
            except ApiError as error:
                await context.abort(status_code(error), error.message, _retry_after(error))
            except Exception as error:
                if isinstance(error, grpc.aio.AbortError):
                    raise
                log.exception("internal error on gRPC call to index %s", self.index)
                await context.abort(grpc.StatusCode.INTERNAL, "Internal server error; see the server log.")
            await context.send_initial_metadata(tuple(headers.items()))
            return reply

        return call

    def _upsert(self, target: Target, sized: tuple[int, pb.UpsertRequest]) -> Reply:
        nbytes, request = sized
        operations.check_upsert_size(target, nbytes)
        definition = target.definition
        body, packed = messages.upsert_body(request, definition.vector_type, definition.dimension)
        written = operations.upsert(target, body, nbytes, packed)
        return pb.UpsertResponse(upserted_count=written.count), written.headers


def _metadata(context: grpc.aio.ServicerContext) -> dict[str, str]:
    return {key: value for key, value in context.invocation_metadata() or () if isinstance(value, str)}


def _retry_after(error: ApiError) -> tuple[tuple[str, str], ...]:
    after = error.headers.get("Retry-After")
    return (("retry-after", after),) if after is not None else ()


def _sized(parse: Callable[[bytes], Any]) -> Callable[[bytes], tuple[int, Any]]:
    """Keeps the request's size on the wire: the upsert limit is in bytes, as over REST."""

    def deserialize(raw: bytes) -> tuple[int, Any]:
        return len(raw), parse(raw)

    return deserialize


def _serialize(message: Any) -> bytes:
    """Replies with records arrive already encoded (:mod:`.wire`); the others are messages."""
    if isinstance(message, bytes):
        return message
    data: bytes = message.SerializeToString()
    return data


# -- the operations, message in, message out ---------------------------------------------------------------


def _delete(target: Target, request: pb.DeleteRequest) -> Reply:
    return pb.DeleteResponse(), operations.delete(target, messages.delete_body(request)).headers


def _update(target: Target, request: pb.UpdateRequest) -> Reply:
    written = operations.update(target, messages.update_body(request))
    return pb.UpdateResponse(matched_records=written.count), written.headers


def _fetch(target: Target, request: pb.FetchRequest) -> Reply:
    found = operations.fetch(target, list(request.ids), request.namespace)
    return wire.records_reply(found.records, request.namespace, found.read_units), found.headers


def _list(target: Target, request: pb.ListRequest) -> Reply:
    limit = request.limit if request.HasField("limit") else 100
    token = request.pagination_token if request.HasField("pagination_token") else None
    listing = operations.list_ids(target, request.namespace, request.prefix, limit, token)
    reply = pb.ListResponse(
        vectors=[pb.ListItem(id=i) for i in listing.ids],
        pagination=messages.pagination(listing.next_token),
        namespace=request.namespace,
        usage=pb.Usage(read_units=listing.read_units),
    )
    return reply, listing.headers


def _query(target: Target, request: pb.QueryRequest) -> Reply:
    found = operations.query(target, messages.query_body(request))
    matches = (
        wire.scored_vector(record, score, found.include_values, found.include_metadata)
        for record, score in found.matches
    )
    reply = wire.query_reply(matches, request.namespace, found.read_units)
    if len(reply) > operations.MAX_QUERY_RESPONSE_BYTES:
        raise operations.query_too_large(len(reply))
    return reply, found.headers


def _fetch_by_metadata(target: Target, request: pb.FetchByMetadataRequest) -> Reply:
    found = operations.fetch_by_metadata(target, messages.fetch_by_metadata_body(request))
    reply = wire.records_reply(found.records, request.namespace, found.read_units, found.next_token)
    return reply, found.headers


def _describe_index_stats(target: Target, request: pb.DescribeIndexStatsRequest) -> Reply:
    body = {"filter": messages.struct_field(request, "filter")}
    stats = operations.describe_index_stats(target, body)
    return messages.stats(stats), stats.headers


def _list_namespaces(target: Target, request: pb.ListNamespacesRequest) -> Reply:
    limit = request.limit if request.HasField("limit") else 100
    token = request.pagination_token if request.HasField("pagination_token") else None
    page = operations.list_namespaces(target, request.prefix, limit, token)
    reply = pb.ListNamespacesResponse(
        namespaces=[messages.namespace_description(info) for info in page.namespaces],
        pagination=messages.pagination(page.next_token),
        total_count=page.total_count,
    )
    return reply, page.headers


def _create_namespace(target: Target, request: pb.CreateNamespaceRequest) -> Reply:
    created = operations.create_namespace(target, messages.create_namespace_body(request))
    assert created.namespace is not None
    return messages.namespace_description(created.namespace), created.headers


def _describe_namespace(target: Target, request: pb.DescribeNamespaceRequest) -> Reply:
    described = operations.describe_namespace(target, request.namespace)
    assert described.namespace is not None
    return messages.namespace_description(described.namespace), described.headers


def _delete_namespace(target: Target, request: pb.DeleteNamespaceRequest) -> Reply:
    return pb.DeleteResponse(), operations.delete_namespace(target, request.namespace).headers
