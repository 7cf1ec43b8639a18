"""The data plane over REST, in the wire format of Pinecone's ``db_data_2025-10`` API, at ``/data/<index>``.

The operations themselves live in :mod:`.operations` (shared with the gRPC transport); this module reads
their input from HTTP requests and renders their results as JSON. Writes answer with
``x-pinecone-request-lsn`` (the LSN of the write), reads with ``x-pinecone-max-indexed-lsn`` (the highest
LSN visible to reads), so clients can wait for freshness.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import orjson
from aiohttp import web

from . import operations
from .context import json_response, state_of
from .errors import ApiError
from .fastjson import decode_dense_upsert
from .operations import MAX_QUERY_RESPONSE_BYTES, NamespaceInfo, Records, Target, query_too_large
from .store import StoredRecord
from .validation import json_object

PREFIX = "/data/"


def target_of(request: web.Request) -> Target:
    return Target(state_of(request), request.match_info["index"])


def _record_json(
    record: StoredRecord, include_values: bool = True, include_metadata: bool = True
) -> dict[str, Any]:
    body: dict[str, Any] = {"id": record.id}
    if include_values:
        dense = record.dense()
        body["values"] = dense if dense is not None else []
        sparse = record.sparse()
        if sparse is not None:
            body["sparseValues"] = {"indices": sparse[0], "values": sparse[1]}
    if include_metadata and record.metadata:
        body["metadata"] = orjson.Fragment(record.metadata)
    return body


def _vectors_map(records: Iterable[StoredRecord]) -> dict[str, Any]:
    return {r.id: _record_json(r) for r in records}


def _usage(read_units: int) -> dict[str, int]:
    return {"readUnits": max(1, read_units)}


def _records_json(found: Records, namespace: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "vectors": _vectors_map(found.records),
        "namespace": namespace if namespace is not None else "",
        "usage": _usage(found.read_units),
    }
    if found.next_token is not None:
        body["pagination"] = {"next": found.next_token}
    return body


# -- writes ------------------------------------------------------------------------------------------------


async def upsert(request: web.Request) -> web.Response:
    target = target_of(request)
    raw = await request.read()
    operations.check_upsert_size(target, len(raw))
    dimension = target.definition.dimension
    fast = decode_dense_upsert(raw, dimension) if dimension is not None else None
    if fast is not None:
        body, packed = fast
        written = operations.upsert(target, body, len(raw), packed, maybe_booleans=False)
    else:
        maybe_booleans = b"true" in raw or b"false" in raw
        written = operations.upsert(target, json_object(raw), len(raw), maybe_booleans=maybe_booleans)
    return json_response({"upsertedCount": written.count}, headers=written.headers)


async def update(request: web.Request) -> web.Response:
    written = operations.update(target_of(request), json_object(await request.read()))
    return json_response({"matchedRecords": written.count}, headers=written.headers)


async def delete(request: web.Request) -> web.Response:
    written = operations.delete(target_of(request), json_object(await request.read()))
    return json_response({}, headers=written.headers)


# -- reads -------------------------------------------------------------------------------------------------


async def fetch(request: web.Request) -> web.Response:
    namespace = request.query.get("namespace")
    found = operations.fetch(target_of(request), request.query.getall("ids", []), namespace)
    return json_response(_records_json(found, namespace), headers=found.headers)


async def list_vectors(request: web.Request) -> web.Response:
    query = request.query
    listing = operations.list_ids(
        target_of(request),
        query.get("namespace"),
        query.get("prefix", ""),
        query.get("limit", 100),
        query.get("paginationToken"),
    )
    body: dict[str, Any] = {
        "vectors": [{"id": i} for i in listing.ids],
        "namespace": query.get("namespace", ""),
        "usage": _usage(listing.read_units),
    }
    if listing.next_token is not None:
        body["pagination"] = {"next": listing.next_token}
    return json_response(body, headers=listing.headers)


async def query(request: web.Request) -> web.Response:
    body = json_object(await request.read())
    found = operations.query(target_of(request), body)
    matches = []
    for record, score in found.matches:
        match = _record_json(record, found.include_values, found.include_metadata)
        match["score"] = score
        matches.append(match)
    payload = orjson.dumps(
        {"matches": matches, "namespace": body.get("namespace", ""), "usage": _usage(found.read_units)},
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
    if len(payload) > MAX_QUERY_RESPONSE_BYTES:
        raise query_too_large(len(payload))
    return web.Response(body=payload, content_type="application/json", headers=found.headers)


async def fetch_by_metadata(request: web.Request) -> web.Response:
    body = json_object(await request.read())
    found = operations.fetch_by_metadata(target_of(request), body)
    return json_response(_records_json(found, body.get("namespace")), headers=found.headers)


async def describe_index_stats(request: web.Request) -> web.Response:
    body = json_object(await request.read()) if request.method == "POST" else {}
    stats = operations.describe_index_stats(target_of(request), body)
    definition = stats.definition
    response: dict[str, Any] = {
        "namespaces": {ns: {"vectorCount": n} for ns, n in stats.counts.items()},
        "totalVectorCount": stats.total,
        "indexFullness": 0.0,
        "metric": definition.metric,
        "vectorType": definition.vector_type,
    }
    if definition.dimension is not None:
        response["dimension"] = definition.dimension
    return json_response(response, headers=stats.headers)


# -- namespaces --------------------------------------------------------------------------------------------


def _namespace_json(info: NamespaceInfo) -> dict[str, Any]:
    description: dict[str, Any] = {"name": info.name, "record_count": info.record_count}
    if info.schema:
        description["schema"] = info.schema
    return description


async def list_namespaces(request: web.Request) -> web.Response:
    query = request.query
    page = operations.list_namespaces(
        target_of(request), query.get("prefix", ""), query.get("limit", 100), query.get("paginationToken")
    )
    response: dict[str, Any] = {
        "namespaces": [_namespace_json(info) for info in page.namespaces],
        "total_count": page.total_count,
    }
    if page.next_token is not None:
        response["pagination"] = {"next": page.next_token}
    return json_response(response, headers=page.headers)


async def create_namespace(request: web.Request) -> web.Response:
    reply = operations.create_namespace(target_of(request), json_object(await request.read()))
    assert reply.namespace is not None
    return json_response(_namespace_json(reply.namespace), headers=reply.headers)


async def describe_namespace(request: web.Request) -> web.Response:
    reply = operations.describe_namespace(target_of(request), request.match_info["namespace"])
    assert reply.namespace is not None
    return json_response(_namespace_json(reply.namespace), headers=reply.headers)


async def delete_namespace(request: web.Request) -> web.Response:
    reply = operations.delete_namespace(target_of(request), request.match_info["namespace"])
    return json_response({}, headers=reply.headers)


async def unsupported(request: web.Request) -> web.Response:
    raise ApiError(
        501,
        "UNIMPLEMENTED",
        f"{request.method} {request.path}: this operation is not implemented by the local server yet.",
    )


def add_routes(app: web.Application) -> None:
    base = PREFIX + "{index}"
    router = app.router
    router.add_post(base + "/vectors/upsert", upsert)
    router.add_get(base + "/vectors/fetch", fetch)
    router.add_post(base + "/vectors/fetch_by_metadata", fetch_by_metadata)
    router.add_get(base + "/vectors/list", list_vectors)
    router.add_post(base + "/vectors/update", update)
    router.add_post(base + "/vectors/delete", delete)
    router.add_post(base + "/query", query)
    router.add_post(base + "/describe_index_stats", describe_index_stats)
    router.add_get(base + "/describe_index_stats", describe_index_stats)
    router.add_get(base + "/namespaces", list_namespaces)
    router.add_post(base + "/namespaces", create_namespace)
    router.add_get(base + "/namespaces/{namespace:.+}", describe_namespace)
    router.add_delete(base + "/namespaces/{namespace:.+}", delete_namespace)
    for path in (
        "/records/namespaces/{namespace}/upsert",
        "/records/namespaces/{namespace}/search",
    ):
        router.add_route("*", base + path, unsupported)
