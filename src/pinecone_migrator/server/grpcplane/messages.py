"""Between protobuf messages and the operations' plain data.

Requests become the REST body the operations read (``topK``, ``sparseValues``...), so that validation and
its messages are those of REST. Proto3 cannot tell an empty repeated field or string from an absent one, so
empty means absent here (as it does for Pinecone's gRPC gateway). Metadata travels as ``Struct``, whose
numbers are doubles: Pinecone stores metadata numbers as float64 anyway, so an integer comes back as
``1.0`` over REST (JSON ``1.0``) and over gRPC alike.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...protocol import vector_service_pb2 as pb
from ...protocol.values import struct_dict
from .. import operations

Body = dict[str, Any]


def struct_field(message: Any, name: str) -> dict[str, Any] | None:
    return struct_dict(getattr(message, name)) if message.HasField(name) else None


def _sparse(message: Any, name: str) -> Body | None:
    if not message.HasField(name):
        return None
    sparse = getattr(message, name)
    return {"indices": list(sparse.indices), "values": list(sparse.values)}


def _optional(message: Any, name: str) -> Any:
    return getattr(message, name) if message.HasField(name) else None


# -- requests ----------------------------------------------------------------------------------------------


def upsert_body(
    request: pb.UpsertRequest, vector_type: str, dimension: int | None
) -> tuple[Body, list[bytes] | None]:
    """The REST body of an upsert, with the dense values already packed as float32 when every vector is
    regular; otherwise they stay in the body so that the operation names the first wrong one."""
    vectors: list[Body] = []
    packed: list[bytes] | None = [] if vector_type == "dense" and dimension is not None else None
    for vector in request.vectors:
        item: Body = {"id": vector.id}
        sparse = _sparse(vector, "sparse_values")
        if sparse is not None:
            item["sparseValues"] = sparse
        metadata = struct_field(vector, "metadata")
        if metadata is not None:
            item["metadata"] = metadata
        if packed is not None:
            values = np.asarray(vector.values, dtype=np.float32)
            if len(values) == dimension and np.isfinite(values).all():
                packed.append(values.tobytes())
            else:
                packed = None
        vectors.append(item)
    if packed is None:
        for item, vector in zip(vectors, request.vectors, strict=True):
            if len(vector.values) or vector_type == "dense":
                item["values"] = list(vector.values)
    return {"vectors": vectors, "namespace": request.namespace}, packed


def delete_body(request: pb.DeleteRequest) -> Body:
    return {
        "ids": list(request.ids) or None,
        "deleteAll": request.delete_all,
        "namespace": request.namespace,
        "filter": struct_field(request, "filter"),
    }


def update_body(request: pb.UpdateRequest) -> Body:
    return {
        "id": request.id or None,
        "values": list(request.values) or None,
        "sparseValues": _sparse(request, "sparse_values"),
        "setMetadata": struct_field(request, "set_metadata"),
        "namespace": request.namespace,
        "filter": struct_field(request, "filter"),
        "dryRun": _optional(request, "dry_run"),
    }


def query_body(request: pb.QueryRequest) -> Body:
    return {
        "namespace": request.namespace,
        "topK": request.top_k,
        "filter": struct_field(request, "filter"),
        "includeValues": request.include_values,
        "includeMetadata": request.include_metadata,
        "queries": [True] * len(request.queries) or None,
        "vector": list(request.vector) or None,
        "sparseVector": _sparse(request, "sparse_vector"),
        "id": request.id or None,
    }


def fetch_by_metadata_body(request: pb.FetchByMetadataRequest) -> Body:
    limit = _optional(request, "limit")
    return {
        "namespace": request.namespace,
        "filter": struct_field(request, "filter"),
        "limit": 100 if limit is None else limit,
        "paginationToken": _optional(request, "pagination_token"),
    }


def create_namespace_body(request: pb.CreateNamespaceRequest) -> Body:
    schema = None
    if request.HasField("schema"):
        fields = request.schema.fields
        schema = {"fields": {name: {"filterable": fields[name].filterable} for name in fields}}
    return {"name": request.name, "schema": schema}


# -- replies -----------------------------------------------------------------------------------------------


def pagination(token: str | None) -> pb.Pagination | None:
    return None if token is None else pb.Pagination(next=token)


def namespace_description(info: operations.NamespaceInfo) -> pb.NamespaceDescription:
    schema = None
    if info.schema:
        fields = info.schema.get("fields", {})
        schema = pb.MetadataSchema(
            fields={
                name: pb.MetadataFieldProperties(filterable=bool(config.get("filterable")))
                for name, config in fields.items()
            }
        )
    return pb.NamespaceDescription(name=info.name, record_count=info.record_count, schema=schema)


def stats(result: operations.Stats) -> pb.DescribeIndexStatsResponse:
    definition = result.definition
    return pb.DescribeIndexStatsResponse(
        namespaces={ns: pb.NamespaceSummary(vector_count=n) for ns, n in result.counts.items()},
        dimension=definition.dimension,
        index_fullness=0.0,
        total_vector_count=result.total,
        metric=definition.metric,
        vector_type=definition.vector_type,
    )
