"""The data-plane operations, independent of the transport that carried them (REST or gRPC).

Each operation takes the addressed index (:class:`Target`) and its input in the REST wire format's names
(``topK``, ``sparseValues``, ``setMetadata``...): the REST handlers pass the JSON body as it came, the gRPC
service translates its messages to those names. Validation, rate limits, LSNs and errors therefore happen
in one place, and the two transports cannot drift apart. Results are plain data that each transport
renders in its own format.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from . import search
from .catalog import IndexDefinition
from .context import ServerState
from .errors import already_exists, failed_precondition, invalid_argument, not_found
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
    metadata_filter,
    namespace_name,
    query_vector,
    record_id,
    set_metadata_values,
    sparse_arrays,
    unknown_index,
    upsert_records,
)

REQUEST_LSN = "x-pinecone-request-lsn"
INDEXED_LSN = "x-pinecone-max-indexed-lsn"
MAX_QUERY_RESPONSE_BYTES = 4 * 1024 * 1024

Headers = dict[str, str]


class Target:
    """The index a data-plane request addresses."""

    def __init__(self, state: ServerState, name: str) -> None:
        self.state = state
        self.name = name
        if not state.catalog.exists(name):
            raise unknown_index(name)
        self.definition: IndexDefinition = state.catalog.get(name)
        self.data: IndexData = state.catalog.data(name)

    def limit(self, operation: str, namespace: str, records: int = 1, nbytes: int = 0) -> None:
        self.state.faults.check_rate_limit(self.name, operation, namespace, records, nbytes)

    def write(self, op: tuple[Any, ...]) -> Headers:
        delay = self.state.config.faults.visibility_delay_ms / 1000.0
        lsn = self.data.submit(op, delay_seconds=delay)
        return {REQUEST_LSN: str(lsn)}

    def read_headers(self) -> Headers:
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


# -- results -----------------------------------------------------------------------------------------------


@dataclass
class Written:
    """A write's outcome: how many records it upserted or matched, and its LSN header."""

    headers: Headers
    count: int = 0


@dataclass
class Records:
    """Records read by ID or by filter, with the token of the next page (fetch_by_metadata)."""

    records: list[StoredRecord]
    headers: Headers
    next_token: str | None = None

    @property
    def read_units(self) -> int:
        return max(1, len(self.records) // 10)


@dataclass
class Listing:
    ids: list[str]
    headers: Headers
    next_token: str | None = None
    read_units: int = 1


@dataclass
class Matches:
    matches: list[tuple[StoredRecord, float]]
    include_values: bool
    include_metadata: bool
    headers: Headers
    read_units: int = 5


@dataclass
class Stats:
    counts: dict[str, int]  # by the namespace names describe_index_stats shows
    definition: IndexDefinition
    headers: Headers

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@dataclass
class NamespaceInfo:
    name: str
    record_count: int
    schema: dict[str, Any] | None  # {"fields": {name: {"filterable": true}}}


@dataclass
class NamespacePage:
    namespaces: list[NamespaceInfo]
    total_count: int
    headers: Headers
    next_token: str | None = None


@dataclass
class NamespaceReply:
    namespace: NamespaceInfo | None
    headers: Headers = field(default_factory=dict)


# -- pagination tokens -------------------------------------------------------------------------------------


def encode_token(payload: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(orjson.dumps(payload)).decode().rstrip("=")


def decode_token(token: str, kind: str) -> dict[str, Any]:
    try:
        payload = orjson.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise invalid_argument("Invalid pagination token: pass back pagination.next unchanged.") from None
    if not isinstance(payload, dict) or payload.get("k") != kind or not isinstance(payload.get("after"), str):
        raise invalid_argument("Invalid pagination token: pass back pagination.next unchanged.")
    return payload


# -- writes ------------------------------------------------------------------------------------------------


def check_upsert_size(target: Target, nbytes: int) -> None:
    limit = target.state.config.max_upsert_bytes
    if nbytes > limit:
        raise invalid_argument(
            f"Request size is {nbytes} bytes, which exceeds the maximum of {limit} bytes per upsert. "
            "Send fewer or smaller records per request."
        )


def upsert(
    target: Target,
    body: Mapping[str, Any],
    nbytes: int,
    packed: list[bytes] | None = None,
    maybe_booleans: bool = True,
) -> Written:
    """``packed``: the dense values of ``body["vectors"]``, already float32 bytes (a fast decoder's work)."""
    definition = target.definition
    records = upsert_records(
        body, definition.vector_type, definition.dimension, definition.metric, maybe_booleans, packed
    )
    ns = namespace_name(body.get("namespace"))
    target.check_new_namespace(ns)
    target.limit("upsert", ns, len(records), nbytes)
    return Written(target.write(("upsert", ns, records)), len(records))


def update(target: Target, body: Mapping[str, Any]) -> Written:
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
            return Written(target.read_headers(), matched)
        return Written(target.write(("update_filter", ns, body["filter"], set_metadata)), matched)
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
    return Written(target.write(("update", ns, rid, patch)), matched)


def delete(target: Target, body: Mapping[str, Any]) -> Written:
    ns = namespace_name(body.get("namespace"))
    has_ids = body.get("ids") is not None
    delete_all = boolean(body, "deleteAll")
    has_filter = body.get("filter") is not None
    if has_ids + delete_all + has_filter != 1:
        raise invalid_argument("Delete needs exactly one of 'ids', 'deleteAll' or 'filter'.")
    if has_ids:
        ids = id_list(body["ids"])
        target.limit("delete", ns, len(ids))
        return Written(target.write(("delete_ids", ns, ids)))
    if delete_all:
        target.limit("delete_by_metadata", ns)
        return Written(target.write(("delete_all", ns)))
    empty = "Delete with empty metadata filter is not allowed"
    metadata_filter(body["filter"], required=True, empty_message=empty)
    target.limit("delete_by_metadata", ns)
    return Written(target.write(("delete_filter", ns, body["filter"])))


# -- reads -------------------------------------------------------------------------------------------------


def fetch(target: Target, ids: Any, namespace: str | None) -> Records:
    checked = id_list(ids)
    ns = namespace_name(namespace)
    target.limit("fetch", ns, len(checked))
    return Records(target.data.fetch(ns, checked), target.read_headers())


def list_ids(target: Target, namespace: str | None, prefix: str, limit: Any, token: str | None) -> Listing:
    if target.definition.is_pod:
        raise invalid_argument(
            "The list operation is only supported for serverless indexes; this index is pod-based. "
            "Enumerate its records another way (queries with filters, or stamping)."
        )
    ns = namespace_name(namespace)
    if len(prefix) > 512 or not prefix.isascii():
        raise invalid_argument("prefix must be at most 512 ASCII characters.")
    page_size = integer(limit, "limit", 1, MAX_LIST_LIMIT)
    after = None
    if token:
        payload = decode_token(token, "list")
        if payload.get("prefix", "") != prefix:
            raise invalid_argument("The pagination token belongs to a listing with another prefix.")
        after = payload["after"]
    target.limit("list", ns)
    ids = target.data.list_ids(ns, prefix, page_size + 1, after)
    next_token = None
    if len(ids) > page_size:
        next_token = encode_token({"k": "list", "after": ids[page_size - 1], "prefix": prefix})
    return Listing(ids[:page_size], target.read_headers(), next_token)


def query(target: Target, body: Mapping[str, Any]) -> Matches:
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
            return Matches([], include_values, include_metadata, target.read_headers(), read_units=1)
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
    found = [
        (view.records[row], value)
        for row, value in search.top_k(view, scores, eligible, top_k, definition.metric)
    ]
    return Matches(found, include_values, include_metadata, target.read_headers())


def query_too_large(nbytes: int) -> Exception:
    return invalid_argument(
        f"The query response would be {nbytes} bytes, more than the 4 MB limit: lower topK or "
        "do not include values/metadata."
    )


def fetch_by_metadata(target: Target, body: Mapping[str, Any]) -> Records:
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
        after = decode_token(token, "fetch_by_metadata")["after"]
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
    next_token = encode_token({"k": "fetch_by_metadata", "after": found[-1].id}) if more else None
    return Records(found, target.read_headers(), next_token)


def describe_index_stats(target: Target, body: Mapping[str, Any]) -> Stats:
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
    shown = {stats_namespace(definition, ns): n for ns, n in counts.items()}
    return Stats(shown, definition, target.read_headers())


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


def namespace_info(data: IndexData, ns: str) -> NamespaceInfo:
    schema = data.namespace_schema(ns)
    return NamespaceInfo(ns, data.count(ns), orjson.loads(schema) if schema else None)


def list_namespaces(target: Target, prefix: str, limit: Any, token: str | None) -> NamespacePage:
    page_size = integer(limit, "limit", 1, 100)
    names = [ns for ns in target.data.namespace_counts() if ns.startswith(prefix)]
    if token:
        after = decode_token(token, "namespaces")["after"]
        names_after = [ns for ns in names if ns > after]
    else:
        names_after = names
    target.limit("namespaces", "")
    page = names_after[:page_size]
    more = len(names_after) > page_size
    next_token = encode_token({"k": "namespaces", "after": page[-1]}) if more else None
    infos = [namespace_info(target.data, ns) for ns in page]
    return NamespacePage(infos, len(names), target.read_headers(), next_token)


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


def create_namespace(target: Target, body: Mapping[str, Any]) -> NamespaceReply:
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
    return NamespaceReply(namespace_info(target.data, ns), headers)


def _existing_namespace(target: Target, name: str) -> str:
    ns = namespace_name(name)
    if not target.data.namespace_exists(ns):
        raise not_found(f"Namespace {ns!r} not found.")
    return ns


def describe_namespace(target: Target, name: str) -> NamespaceReply:
    ns = _existing_namespace(target, name)
    target.limit("namespaces", ns)
    return NamespaceReply(namespace_info(target.data, ns), target.read_headers())


def delete_namespace(target: Target, name: str) -> NamespaceReply:
    ns = _existing_namespace(target, name)
    target.limit("namespaces", ns)
    return NamespaceReply(None, target.write(("delete_namespace", ns)))
