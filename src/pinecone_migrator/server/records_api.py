"""The Records API of the data plane: ``records/namespaces/{ns}/upsert`` (text in, NDJSON) and
``records/namespaces/{ns}/search`` (by text, vector or ID), in the 2025-10 wire format.

Text is embedded with the index's model, which here is the local stand-in of :mod:`.embedding`. A record is
stored like any other: its vector, and every field but ``_id`` as metadata (the text field included, as
Pinecone does), so fetch, query, list and the migrator see an ordinary record.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from aiohttp import web

from . import search
from .dataplane import PREFIX, target_of
from .embedding import MAX_TEXT_BATCH, embed_dense, embed_sparse, token_count, words
from .errors import invalid_argument
from .operations import Target
from .store import StoredRecord
from .validation import (
    MAX_TOP_K,
    integer,
    json_object,
    metadata_filter,
    metadata_text,
    namespace_name,
    query_vector,
    record_id,
    sparse_arrays,
)

SparseQuery = tuple[npt.NDArray[np.uint32], npt.NDArray[np.float32]]


def _embed_config(target: Target) -> dict[str, Any]:
    embed = target.definition.embed
    if embed is None:
        raise invalid_argument(
            f"Index {target.name} has no integrated embedding: text can only be upserted into and searched "
            "in an index created for a model (create_index_for_model). Upsert vectors instead."
        )
    return embed


def _namespace(request: web.Request) -> str:
    return namespace_name(request.match_info["namespace"])


# -- upsert --------------------------------------------------------------------------------------------------


async def upsert_records(request: web.Request) -> web.Response:
    target = target_of(request)
    embed = _embed_config(target)
    ns = _namespace(request)
    raw = await request.read()
    limit = target.state.config.max_upsert_bytes
    if len(raw) > limit:
        raise invalid_argument(f"Request size is {len(raw)} bytes, more than the maximum of {limit} bytes.")
    lines = _ndjson(raw)
    records = [_embedded(line, embed) for line in lines]
    target.check_new_namespace(ns)
    target.limit("upsert", ns, len(records), len(raw))
    return web.Response(status=201, headers=target.write(("upsert", ns, records)))


def _ndjson(raw: bytes) -> list[dict[str, Any]]:
    lines = [line for line in raw.splitlines() if line.strip()]
    if not lines:
        raise invalid_argument("The request has no records: send one JSON object per line.")
    if len(lines) > MAX_TEXT_BATCH:
        raise invalid_argument(
            f"Upsert of {len(lines)} records exceeds the limit of {MAX_TEXT_BATCH} records per request "
            "for text that is embedded."
        )
    parsed = []
    for number, line in enumerate(lines, start=1):
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            raise invalid_argument(f"Line {number} of the request is not valid JSON: {error}") from None
        if not isinstance(value, dict):
            raise invalid_argument(f"Line {number} of the request must be a JSON object (one record).")
        parsed.append(value)
    return parsed


def _embedded(fields: dict[str, Any], embed: dict[str, Any]) -> StoredRecord:
    """One record: its text embedded, every field but the ID kept as metadata."""
    fields = dict(fields)
    rid = record_id(fields.pop("_id", None) or fields.pop("id", None), "_id")
    fields.pop("id", None)  # "_id" wins over its alias
    text_field = embed["field_map"]["text"]
    text = fields.get(text_field)
    if not isinstance(text, str) or not text.strip():
        raise invalid_argument(f"Record {rid!r} must have a non-empty string field {text_field!r} to embed.")
    metadata = metadata_text(fields, rid)
    if embed["vector_type"] == "sparse":
        indices, values = embed_sparse(embed["model"], text)
        return StoredRecord(rid, None, indices.tobytes(), values.tobytes(), metadata)
    return StoredRecord(
        rid, embed_dense(embed["model"], embed["dimension"], text).tobytes(), None, None, metadata
    )


# -- search --------------------------------------------------------------------------------------------------


async def search_records(request: web.Request) -> web.Response:
    target = target_of(request)
    ns = _namespace(request)
    body = json_object(await request.read())
    if body.get("rerank") is not None:
        raise invalid_argument("rerank needs a hosted reranking model, which the local server does not have.")
    query = body.get("query")
    if not isinstance(query, dict):
        raise invalid_argument("query is required and must be an object with top_k and a query source.")
    top_k = integer(query.get("top_k"), "top_k", 1, MAX_TOP_K)
    predicate = metadata_filter(query.get("filter"))
    target.limit("query", ns)
    dense_q, sparse_q, tokens = _query_vectors(target, ns, query)
    view = search.view_of(target.data, ns)
    candidates = view.matching(predicate) & _matching_terms(target, view, query.get("match_terms"))
    metric = target.definition.metric
    scores, eligible = search.score(view, metric, dense_q, sparse_q, candidates)
    wanted = _fields(body.get("fields"))
    hits = [
        {"_id": view.records[row].id, "_score": value, "fields": _selected(view.metadata[row], wanted)}
        for row, value in search.top_k(view, scores, eligible, top_k, metric)
    ]
    usage: dict[str, int] = {"read_units": max(1, len(hits) // 10)}
    if tokens:
        usage["embed_total_tokens"] = tokens
    return web.json_response(
        {"result": {"hits": hits}, "usage": usage}, dumps=_dumps, headers=target.read_headers()
    )


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SERIALIZE_NUMPY).decode()


def _query_vectors(
    target: Target, ns: str, query: dict[str, Any]
) -> tuple[npt.NDArray[np.float32] | None, SparseQuery | None, int]:
    """The query's dense and sparse vectors from its one source (text, vector or ID), and tokens embedded."""
    sources = [key for key in ("inputs", "vector", "id") if query.get(key) is not None]
    if len(sources) != 1:
        raise invalid_argument("A search needs exactly one of query.inputs, query.vector or query.id.")
    if sources == ["inputs"]:
        return _text_query(target, query["inputs"])
    if sources == ["id"]:
        stored = target.data.get(ns, record_id(query["id"]))
        if stored is None:
            raise invalid_argument(
                f"No record with the ID {query['id']!r} in namespace {ns!r} to search with."
            )
        return stored.dense(), stored.sparse(), 0
    return (*_vector_query(target, query["vector"]), 0)


def _text_query(
    target: Target, inputs: Any
) -> tuple[npt.NDArray[np.float32] | None, SparseQuery | None, int]:
    embed = _embed_config(target)
    text = inputs.get("text") if isinstance(inputs, dict) else None
    if not isinstance(text, str) or not text.strip():
        raise invalid_argument("query.inputs must carry the query as a non-empty string under 'text'.")
    if embed["vector_type"] == "sparse":
        return None, embed_sparse(embed["model"], text), token_count(text)
    return embed_dense(embed["model"], embed["dimension"], text), None, token_count(text)


def _vector_query(target: Target, value: Any) -> tuple[npt.NDArray[np.float32] | None, SparseQuery | None]:
    if not isinstance(value, dict):
        raise invalid_argument(
            "query.vector must be an object with values and/or sparse_indices/sparse_values."
        )
    definition = target.definition
    dense = None
    if value.get("values") is not None:
        if definition.dimension is None:
            raise invalid_argument(f"Index {definition.name} is sparse: query it with sparse values.")
        dense = query_vector(value["values"], definition.dimension)
    sparse = None
    if value.get("sparse_indices") is not None or value.get("sparse_values") is not None:
        packed = sparse_arrays(
            {"indices": value.get("sparse_indices"), "values": value.get("sparse_values")}, " of the query"
        )
        if packed is not None:
            sparse = (np.frombuffer(packed[0], np.uint32), np.frombuffer(packed[1], np.float32))
    if dense is None and sparse is None:
        raise invalid_argument("query.vector has neither values nor sparse values.")
    return dense, sparse


def _matching_terms(target: Target, view: search.NamespaceView, value: Any) -> npt.NDArray[np.bool_]:
    """Which records hold every term (Pinecone allows match_terms on sparse integrated indexes only)."""
    everything = np.ones(len(view.records), dtype=bool)
    if value is None:
        return everything
    embed = _embed_config(target)
    if embed["vector_type"] != "sparse":
        raise invalid_argument("match_terms is supported only for indexes with a sparse embedding model.")
    if not isinstance(value, dict) or value.get("strategy", "all") != "all":
        raise invalid_argument("match_terms needs terms and the strategy 'all'.")
    terms = value.get("terms")
    if not isinstance(terms, list) or not all(isinstance(term, str) for term in terms):
        raise invalid_argument("match_terms.terms must be a list of strings.")
    required = {word for term in terms for word in words(term)}
    text_field = embed["field_map"]["text"]
    return np.fromiter(
        (required <= set(words(str(meta.get(text_field, "")))) for meta in view.metadata),
        dtype=bool,
        count=len(view.records),
    )


def _fields(value: Any) -> list[str] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise invalid_argument("fields must be a list of field names.")
    return value


def _selected(metadata: dict[str, Any], wanted: list[str] | None) -> dict[str, Any]:
    if wanted is None:
        return metadata
    return {name: metadata[name] for name in wanted if name in metadata}


def add_routes(app: web.Application) -> None:
    base = PREFIX + "{index}/records/namespaces/{namespace}"
    app.router.add_post(base + "/upsert", upsert_records)
    app.router.add_post(base + "/search", search_records)
