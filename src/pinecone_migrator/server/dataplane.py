"""The data plane, in the wire format of Pinecone's ``db_data_2025-10`` API, under ``/data/<index>``.

Writes answer with ``x-pinecone-request-lsn`` (the LSN of the write), reads with
``x-pinecone-max-indexed-lsn`` (the highest LSN visible to reads), so clients can wait for freshness.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from typing import Any

import numpy as np
import orjson
from aiohttp import web

from . import search
from .catalog import IndexDefinition
from .context import ServerState, json_response, state_of
from .errors import ApiError, already_exists, failed_precondition, invalid_argument, not_found
from .fastjson import decode_dense_upsert
from .store import IndexData, MetadataPatch, StoredRecord
from .validation import (
    DEFAULT_NAMESPACE,
    MAX_FETCH_BY_METADATA_LIMIT,
    MAX_LIST_LIMIT,
    MAX_TOP_K,
    boolean,
    dense_values,
    id_list,
    integer,
    json_object,
    metadata_filter,
    namespace_name,
    query_vector,
    record_id,
    set_metadata_values,
    sparse_arrays,
    unknown_index,
    upsert_records,
)

PREFIX = "/data/"
MAX_QUERY_RESPONSE_BYTES = 4 * 1024 * 1024
REQUEST_LSN = "x-pinecone-request-lsn"
INDEXED_LSN = "x-pinecone-max-indexed-lsn"


class Target:
    """The index a data-plane request addresses."""

    def __init__(self, request: web.Request) -> None:
        self.state: ServerState = state_of(request)
        self.name = request.match_info["index"]
        if not self.state.catalog.exists(self.name):
            raise unknown_index(self.name)
        self.definition: IndexDefinition = self.state.catalog.get(self.name)
        self.data: IndexData = self.state.catalog.data(self.name)

    def limit(self, operation: str, namespace: str, records: int = 1, nbytes: int = 0) -> None:
        self.state.faults.check_rate_limit(self.name, operation, namespace, records, nbytes)

    def write(self, op: tuple[Any, ...]) -> dict[str, str]:
        delay = self.state.config.faults.visibility_delay_ms / 1000.0
        lsn = self.data.submit(op, delay_seconds=delay)
        return {REQUEST_LSN: str(lsn)}

    def read_headers(self) -> dict[str, str]:
        return {INDEXED_LSN: str(self.data.applied_lsn)}

    def check_new_namespace(self, ns: str) -> None:
        """Dedicated read nodes hold one namespace: Pinecone's DRN guide lists "Max namespaces per index: 1"
        (more only as early access through support). It documents no error text for a second one; we answer
        400 FAILED_PRECONDITION (a valid request the index's state refuses; 400 so clients do not retry)."""
        if not self.definition.is_dedicated or self.data.namespace_exists(ns):
            return
        held = sorted(self.data.namespace_counts())
        if held:
            raise failed_precondition(
                f"Index {self.name!r} runs on dedicated read nodes, which hold one namespace: it already "
                f"holds {held[0]!r}, so namespace {ns!r} cannot be created. Write into {held[0]!r}, or use "
                "an on-demand index for several namespaces."
            )


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


def _encode_token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


def _decode_token(token: str, kind: str) -> dict[str, Any]:
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise invalid_argument("Invalid pagination token: pass back pagination.next unchanged.") from None
    if not isinstance(payload, dict) or payload.get("k") != kind or not isinstance(payload.get("after"), str):
        raise invalid_argument("Invalid pagination token: pass back pagination.next unchanged.")
    return payload


# -- writes ------------------------------------------------------------------------------------------------


async def upsert(request: web.Request) -> web.Response:
    target = Target(request)
    raw = await request.read()
    limit = target.state.config.max_upsert_bytes
    if len(raw) > limit:
        raise invalid_argument(
            f"Request size is {len(raw)} bytes, which exceeds the maximum of {limit} bytes per upsert. "
            "Send fewer or smaller records per request."
        )
    definition = target.definition
    fast = decode_dense_upsert(raw, definition.dimension) if definition.dimension is not None else None
    if fast is not None:
        body, packed = fast
        records = upsert_records(
            body, definition.vector_type, definition.dimension, definition.metric, False, packed
        )
    else:
        body = json_object(raw)
        maybe_booleans = b"true" in raw or b"false" in raw
        records = upsert_records(
            body, definition.vector_type, definition.dimension, definition.metric, maybe_booleans
        )
    ns = namespace_name(body.get("namespace"))
    target.check_new_namespace(ns)
    target.limit("upsert", ns, len(records), len(raw))
    headers = target.write(("upsert", ns, records))
    return json_response({"upsertedCount": len(records)}, headers=headers)


async def update(request: web.Request) -> web.Response:
    target = Target(request)
    body = json_object(await request.read())
    ns = namespace_name(body.get("namespace"))
    has_id, has_filter = body.get("id") is not None, body.get("filter") is not None
    if has_id == has_filter:
        raise invalid_argument("Update needs exactly one of 'id' or 'filter'.")
    set_metadata = set_metadata_values(body.get("setMetadata"))
    if has_filter:
        predicate = metadata_filter(
            body["filter"], required=True, empty_message="Update with empty metadata filter is not allowed"
        )
        if body.get("values") is not None or body.get("sparseValues") is not None:
            raise invalid_argument("An update by filter can only set metadata (setMetadata).")
        if not isinstance(set_metadata, dict) or not set_metadata:
            raise invalid_argument("An update by filter needs a non-empty setMetadata object.")
        target.limit("update_by_metadata", ns)
        view = search.view_of(target.data, ns)
        matched = int(view.matching(predicate).sum())
        if boolean(body, "dryRun"):
            return json_response({"matchedRecords": matched}, headers=target.read_headers())
        headers = target.write(("update_filter", ns, body["filter"], set_metadata))
        return json_response({"matchedRecords": matched}, headers=headers)
    rid = record_id(body["id"])
    definition = target.definition
    patch = MetadataPatch(set_metadata=set_metadata)
    if body.get("values") is not None:
        if definition.vector_type == "sparse":
            raise invalid_argument("Sparse indexes take no dense values: update sparseValues instead.")
        assert definition.dimension is not None
        patch.values = dense_values(body["values"], definition.dimension)
    sparse = sparse_arrays(body.get("sparseValues"))
    if sparse is not None:
        if definition.vector_type == "dense" and definition.metric != "dotproduct":
            raise invalid_argument("Sparse values are only supported on indexes with the dotproduct metric.")
        patch.sparse_indices, patch.sparse_values = sparse
    target.limit("update", ns)
    matched = 1 if target.data.get(ns, rid) is not None else 0
    headers = target.write(("update", ns, rid, patch))
    return json_response({"matchedRecords": matched}, headers=headers)


async def delete(request: web.Request) -> web.Response:
    target = Target(request)
    body = json_object(await request.read())
    ns = namespace_name(body.get("namespace"))
    has_ids = body.get("ids") is not None
    delete_all = boolean(body, "deleteAll")
    has_filter = body.get("filter") is not None
    if has_ids + delete_all + has_filter != 1:
        raise invalid_argument("Delete needs exactly one of 'ids', 'deleteAll' or 'filter'.")
    if has_ids:
        ids = id_list(body["ids"])
        target.limit("delete", ns, len(ids))
        headers = target.write(("delete_ids", ns, ids))
    elif delete_all:
        target.limit("delete_by_metadata", ns)
        headers = target.write(("delete_all", ns))
    else:
        metadata_filter(
            body["filter"], required=True, empty_message="Delete with empty metadata filter is not allowed"
        )
        target.limit("delete_by_metadata", ns)
        headers = target.write(("delete_filter", ns, body["filter"]))
    return json_response({}, headers=headers)


# -- reads -------------------------------------------------------------------------------------------------


async def fetch(request: web.Request) -> web.Response:
    target = Target(request)
    ids = id_list(request.query.getall("ids", []))
    ns = namespace_name(request.query.get("namespace"))
    target.limit("fetch", ns, len(ids))
    records = target.data.fetch(ns, ids)
    body = {
        "vectors": _vectors_map(records),
        "namespace": request.query.get("namespace", ""),
        "usage": _usage(len(records) // 10),
    }
    return json_response(body, headers=target.read_headers())


async def list_vectors(request: web.Request) -> web.Response:
    target = Target(request)
    if target.definition.is_pod:
        raise invalid_argument(
            "The list operation is only supported for serverless indexes; this index is pod-based. "
            "Enumerate its records another way (queries with filters, or stamping)."
        )
    ns = namespace_name(request.query.get("namespace"))
    prefix = request.query.get("prefix", "")
    if len(prefix) > 512 or not prefix.isascii():
        raise invalid_argument("prefix must be at most 512 ASCII characters.")
    limit = integer(request.query.get("limit", 100), "limit", 1, MAX_LIST_LIMIT)
    after = None
    token = request.query.get("paginationToken")
    if token:
        payload = _decode_token(token, "list")
        if payload.get("prefix", "") != prefix:
            raise invalid_argument("The pagination token belongs to a listing with another prefix.")
        after = payload["after"]
    target.limit("list", ns)
    ids = target.data.list_ids(ns, prefix, limit + 1, after)
    body: dict[str, Any] = {
        "vectors": [{"id": i} for i in ids[:limit]],
        "namespace": request.query.get("namespace", ""),
        "usage": _usage(1),
    }
    if len(ids) > limit:
        body["pagination"] = {"next": _encode_token({"k": "list", "after": ids[limit - 1], "prefix": prefix})}
    return json_response(body, headers=target.read_headers())


async def query(request: web.Request) -> web.Response:
    target = Target(request)
    body = json_object(await request.read())
    ns = namespace_name(body.get("namespace"))
    if body.get("queries") is not None:
        raise invalid_argument("'queries' (several queries in one request) is no longer supported: send one.")
    top_k = integer(body.get("topK"), "topK", 1, MAX_TOP_K)
    include_values = boolean(body, "includeValues")
    include_metadata = boolean(body, "includeMetadata")
    predicate = metadata_filter(body.get("filter"))
    definition = target.definition
    vector = body.get("vector")
    sparse_body = body.get("sparseVector")
    by_id = body.get("id")
    if by_id is not None and (vector is not None or sparse_body is not None):
        raise invalid_argument("Query by 'id' cannot also carry 'vector' or 'sparseVector'.")
    target.limit("query", ns)
    dense_q = None
    sparse_q = None
    if by_id is not None:
        stored = target.data.get(ns, record_id(by_id))
        if stored is None:
            return json_response(
                {"matches": [], "namespace": body.get("namespace", ""), "usage": _usage(1)},
                headers=target.read_headers(),
            )
        dense_q = stored.dense()
        sparse_q = stored.sparse()
    else:
        if definition.vector_type == "sparse":
            if vector:
                raise invalid_argument("Sparse indexes are queried with sparseVector, not a dense vector.")
            if sparse_body is None:
                raise invalid_argument("Queries of a sparse index need a sparseVector.")
        elif vector is None:
            raise invalid_argument("Query needs a 'vector' (or an 'id') for a dense index.")
        if vector is not None and definition.dimension is not None:
            dense_q = query_vector(vector, definition.dimension)
        if sparse_body is not None:
            if definition.vector_type == "dense" and definition.metric != "dotproduct":
                raise invalid_argument("Sparse (hybrid) queries need an index with the dotproduct metric.")
            packed = sparse_arrays(sparse_body, " of the query")
            if packed is not None:
                sparse_q = (np.frombuffer(packed[0], np.uint32), np.frombuffer(packed[1], np.float32))
    view = search.view_of(target.data, ns)
    scores, eligible = search.score(view, definition.metric, dense_q, sparse_q, view.matching(predicate))
    matches = []
    for row, value in search.top_k(view, scores, eligible, top_k, definition.metric):
        match = _record_json(view.records[row], include_values, include_metadata)
        match["score"] = value
        matches.append(match)
    payload = orjson.dumps(
        {"matches": matches, "namespace": body.get("namespace", ""), "usage": _usage(5)},
        option=orjson.OPT_SERIALIZE_NUMPY,
    )
    if len(payload) > MAX_QUERY_RESPONSE_BYTES:
        raise invalid_argument(
            f"The query response would be {len(payload)} bytes, more than the 4 MB limit: lower topK or "
            "do not include values/metadata."
        )
    return web.Response(body=payload, content_type="application/json", headers=target.read_headers())


async def fetch_by_metadata(request: web.Request) -> web.Response:
    target = Target(request)
    body = json_object(await request.read())
    ns = namespace_name(body.get("namespace"))
    predicate = metadata_filter(
        body.get("filter"), required=True, empty_message="Empty filter provided for fetch by metadata request"
    )
    limit = integer(body.get("limit", 100), "limit", 1, MAX_FETCH_BY_METADATA_LIMIT)
    after = None
    token = body.get("paginationToken")
    if token:
        if not isinstance(token, str):
            raise invalid_argument("paginationToken must be a string.")
        after = _decode_token(token, "fetch_by_metadata")["after"]
    target.limit("fetch_by_metadata", ns)
    view = search.view_of(target.data, ns)
    start = (
        0 if after is None else int(np.searchsorted(np.array(view.ids, dtype=object), after, side="right"))
    )
    found: list[StoredRecord] = []
    more = False
    for row in range(start, len(view.records)):
        if predicate is None or predicate(view.metadata[row]):
            if len(found) == limit:
                more = True
                break
            found.append(view.records[row])
    response: dict[str, Any] = {
        "vectors": _vectors_map(found),
        "namespace": body.get("namespace", ""),
        "usage": _usage(len(found) // 10),
    }
    if more:
        response["pagination"] = {"next": _encode_token({"k": "fetch_by_metadata", "after": found[-1].id})}
    return json_response(response, headers=target.read_headers())


async def describe_index_stats(request: web.Request) -> web.Response:
    target = Target(request)
    body = json_object(await request.read()) if request.method == "POST" else {}
    definition = target.definition
    predicate = metadata_filter(body.get("filter"))
    if predicate is not None and not definition.is_pod:
        # The specs: "Serverless indexes do not support filtering describe_index_stats by metadata";
        # SDK 10.2.0: "The server rejects a non-empty filter". Pod-based indexes still answer it.
        raise invalid_argument(
            "Serverless indexes do not support filtering describe_index_stats by metadata: count the "
            "matches with fetch_by_metadata (or query) instead."
        )
    target.limit("describe_index_stats", "")
    counts = target.data.namespace_counts()
    if predicate is not None:
        counts = {ns: int(search.view_of(target.data, ns).matching(predicate).sum()) for ns in counts}
    response: dict[str, Any] = {
        "namespaces": {stats_namespace(definition, ns): {"vectorCount": n} for ns, n in counts.items()},
        "totalVectorCount": sum(counts.values()),
        "indexFullness": 0.0,
        "metric": definition.metric,
        "vectorType": definition.vector_type,
    }
    if definition.dimension is not None:
        response["dimension"] = definition.dimension
    return json_response(response, headers=target.read_headers())


def stats_namespace(definition: IndexDefinition, ns: str) -> str:
    """The default namespace's key in describe_index_stats: ``"__default__"`` on serverless indexes in every
    API version, ``""`` on pod-based ones.

    Evidence: SDK 10.2.0, which speaks API 2026-07, documents for describe_index_stats that "the default
    namespace appears under "__default__"", and names it ``__default__`` in the namespaces API too
    (describe_namespace, bulk import folders). The ``''`` key in the 2025-10/2026-04 specs is the example
    response carried over from pod-based indexes, which predate the ``__default__`` name and answer ``""``.
    """
    return "" if definition.is_pod and ns == DEFAULT_NAMESPACE else ns


# -- namespaces --------------------------------------------------------------------------------------------


def _namespace_json(data: IndexData, ns: str) -> dict[str, Any]:
    description: dict[str, Any] = {"name": ns, "record_count": data.count(ns)}
    schema = data.namespace_schema(ns)
    if schema:
        description["schema"] = orjson.Fragment(schema)
    return description


async def list_namespaces(request: web.Request) -> web.Response:
    target = Target(request)
    prefix = request.query.get("prefix", "")
    limit = integer(request.query.get("limit", 100), "limit", 1, 100)
    names = [ns for ns in target.data.namespace_counts() if ns.startswith(prefix)]
    token = request.query.get("paginationToken")
    if token:
        after = _decode_token(token, "namespaces")["after"]
        names_after = [ns for ns in names if ns > after]
    else:
        names_after = names
    target.limit("namespaces", "")
    page = names_after[:limit]
    response: dict[str, Any] = {
        "namespaces": [_namespace_json(target.data, ns) for ns in page],
        "total_count": len(names),
    }
    if len(names_after) > limit:
        response["pagination"] = {"next": _encode_token({"k": "namespaces", "after": page[-1]})}
    return json_response(response, headers=target.read_headers())


def _namespace_schema(value: Any) -> dict[str, Any] | None:
    """A validated metadata schema: ``{"fields": {name: {"filterable": true}}}`` (only true is allowed)."""
    if value is None:
        return None
    fields = value.get("fields") if isinstance(value, dict) else None
    if not isinstance(fields, dict):
        raise invalid_argument("schema must be an object with a 'fields' object.")
    clean: dict[str, Any] = {}
    for name, config in fields.items():
        if not name or not isinstance(config, dict) or set(config) - {"filterable"}:
            raise invalid_argument(f'schema field {name!r} must be an object like {{"filterable": true}}.')
        if config.get("filterable", True) is not True:
            raise invalid_argument(f"schema field {name!r}: only filterable: true is supported.")
        clean[name] = {"filterable": True}
    return {"fields": clean}


async def create_namespace(request: web.Request) -> web.Response:
    target = Target(request)
    body = json_object(await request.read())
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise invalid_argument("name must be a non-empty string.")
    if name == DEFAULT_NAMESPACE:
        raise invalid_argument("The namespace name __default__ is reserved and cannot be created.")
    ns = namespace_name(name)
    schema = _namespace_schema(body.get("schema"))
    if target.data.namespace_exists(ns):
        raise already_exists(f"Namespace {ns!r} already exists.")
    target.check_new_namespace(ns)
    target.limit("namespaces", ns)
    schema_text = orjson.dumps(schema).decode() if schema is not None else None
    headers = target.write(("create_namespace", ns, schema_text))
    target.data.apply_due()
    return json_response(_namespace_json(target.data, ns), headers=headers)


def _existing_namespace(target: Target, request: web.Request) -> str:
    ns = namespace_name(request.match_info["namespace"])
    if not target.data.namespace_exists(ns):
        raise not_found(f"Namespace {ns!r} not found.")
    return ns


async def describe_namespace(request: web.Request) -> web.Response:
    target = Target(request)
    ns = _existing_namespace(target, request)
    target.limit("namespaces", ns)
    return json_response(_namespace_json(target.data, ns), headers=target.read_headers())


async def delete_namespace(request: web.Request) -> web.Response:
    target = Target(request)
    ns = _existing_namespace(target, request)
    target.limit("namespaces", ns)
    headers = target.write(("delete_namespace", ns))
    return json_response({}, headers=headers)


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
