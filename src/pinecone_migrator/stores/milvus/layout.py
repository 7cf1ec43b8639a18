"""Which field of a collection holds what: the layout this tool creates, or the one inferred from a collection
the user made (by type, or by the field names the URI gives), and what such a collection can hold (its room).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ...errors import UserError
from ..base import IndexShape
from ..fidelity import PINECONE_METRICS, Room
from .address import MilvusAddress

# A collection property marking a collection laid out by this tool (pk = "<len>:<namespace><id>").
MARK = ("pinecone_migrator.layout", "1")
ID_MAX_BYTES = 2_048  # 512 characters of any script
NAMESPACE_MAX_BYTES = 2_048
PK_MAX_BYTES = 16_384
MAX_DIMENSION = 32_768
MAX_JSON_BYTES = 65_536
# A record without sparse values holds this pair: Milvus Lite refuses null and empty sparse vectors.
NO_SPARSE_INDEX = 2**32 - 2
NO_SPARSE_VALUE = 1e-30
MAX_SPARSE_INDEX = NO_SPARSE_INDEX - 1
METRICS = {"cosine": "COSINE", "euclidean": "L2", "dotproduct": "IP"}
PINECONE_METRIC = {milvus: pinecone for pinecone, milvus in METRICS.items()}
# Milvus data types by name (pymilvus DataType values), so that nothing here imports pymilvus.
BOOL, INT8, INT16, INT32, INT64, FLOAT, DOUBLE = 1, 2, 3, 4, 5, 10, 11
VARCHAR, ARRAY, JSON = 21, 22, 23
FLOAT_VECTOR, SPARSE_FLOAT_VECTOR = 101, 104
SCALARS = frozenset({BOOL, INT8, INT16, INT32, INT64, FLOAT, DOUBLE, VARCHAR, ARRAY})

MILVUS_ROOM = Room(
    kind="Milvus",
    metrics=PINECONE_METRICS,
    metric_names=dict(METRICS),
    sparse_metrics=None,
    max_dimension=MAX_DIMENSION,
    max_sparse_nonzeros=None,
    max_sparse_index=MAX_SPARSE_INDEX,
    sparse_positive_only=True,
    metadata_nested=True,
    max_metadata_bytes=MAX_JSON_BYTES,
    max_id_length=ID_MAX_BYTES // 4,
    ascii_ids=False,
)


@dataclass(frozen=True)
class Scalar:
    """A scalar field read as one metadata key (a collection the user made)."""

    name: str
    dtype: int
    element: int | None = None  # an ARRAY's element type
    nullable: bool = False


@dataclass(frozen=True)
class Layout:
    pk: str
    id: str  # == pk when the primary key is the ID
    ours: bool  # laid out by this tool: pk = "<len>:<namespace><id>"
    pk_is_int: bool = False
    id_max_bytes: int | None = ID_MAX_BYTES
    vector: str | None = None
    dimension: int | None = None
    sparse: str | None = None
    metadata: str | None = None  # a JSON field
    scalars: tuple[Scalar, ...] = field(default_factory=tuple)
    namespace: str | None = None  # a field holding the namespace (None: partitions, or one namespace)
    namespace_max_bytes: int | None = NAMESPACE_MAX_BYTES
    metric: str = "dotproduct"  # Pinecone's name

    @property
    def shape(self) -> IndexShape:
        if self.vector is None:
            return IndexShape(vector_type="sparse", metric="dotproduct", dimension=None)
        return IndexShape(vector_type="dense", metric=self.metric, dimension=self.dimension)

    def output_fields(self) -> list[str]:
        names = [self.pk, self.id, self.namespace, self.vector, self.sparse, self.metadata]
        names += [scalar.name for scalar in self.scalars]
        return list(dict.fromkeys(name for name in names if name))

    def room(self) -> Room:
        """What this collection holds exactly (for a source: what its records can carry)."""
        return replace(
            MILVUS_ROOM,
            dense=self.vector is not None,
            sparse=self.sparse is not None,
            metadata_nested=self.metadata is not None,
            metadata_lists=self.metadata is not None or any(s.dtype == ARRAY for s in self.scalars),
            max_metadata_bytes=MAX_JSON_BYTES if self.metadata is not None else None,
            max_id_length=None if self.id_max_bytes is None else self.id_max_bytes // 4,
        )


def created(shape: IndexShape, partitions: bool) -> Layout:
    """The layout :func:`create_like` makes for a source of ``shape``."""
    dense = shape.vector_type == "dense"
    return Layout(
        pk="pk",
        id="id",
        ours=True,
        vector="vector" if dense else None,
        dimension=shape.dimension if dense else None,
        sparse="sparse",
        metadata="metadata",
        namespace=None if partitions else "namespace",
        metric=shape.metric if dense else "dotproduct",
    )


def schema_fields(layout: Layout) -> list[dict[str, Any]]:
    """The fields of a collection laid out as ``layout`` (pymilvus add_field arguments)."""
    fields: list[dict[str, Any]] = [
        dict(field_name=layout.pk, datatype=VARCHAR, is_primary=True, max_length=PK_MAX_BYTES),
        dict(field_name=layout.id, datatype=VARCHAR, max_length=ID_MAX_BYTES),
    ]
    if layout.namespace is not None:
        fields.append(
            dict(
                field_name=layout.namespace,
                datatype=VARCHAR,
                max_length=NAMESPACE_MAX_BYTES,
                is_partition_key=True,
            )
        )
    if layout.vector is not None:
        fields.append(dict(field_name=layout.vector, datatype=FLOAT_VECTOR, dim=layout.dimension))
    if layout.sparse is not None:
        fields.append(dict(field_name=layout.sparse, datatype=SPARSE_FLOAT_VECTOR))
    if layout.metadata is not None:
        fields.append(dict(field_name=layout.metadata, datatype=JSON, nullable=True))
    return fields


def indexes(layout: Layout) -> list[dict[str, Any]]:
    """The vector indexes of a created collection (pymilvus add_index arguments): exact search, so that a
    search checks the copy against the source without an approximation of its own."""
    found = []
    if layout.vector is not None:
        found.append(dict(field_name=layout.vector, index_type="FLAT", metric_type=METRICS[layout.metric]))
    if layout.sparse is not None:
        found.append(dict(field_name=layout.sparse, index_type="SPARSE_INVERTED_INDEX", metric_type="IP"))
    return found


def inferred(address: MilvusAddress, described: dict[str, Any], metrics: dict[str, str]) -> Layout:
    """The layout of a described collection (``metrics``: vector field -> its index's metric type)."""
    fields = {f["name"]: f for f in described.get("fields", [])}
    partitions = address.namespaces == "partitions"
    if _ours(described, fields):
        ours = created(
            IndexShape(
                "dense" if "vector" in fields else "sparse",
                PINECONE_METRIC.get(metrics.get("vector", "IP"), "dotproduct"),
                _param(fields.get("vector"), "dim"),
            ),
            partitions,
        )
        return replace(ours, namespace=None if partitions or "namespace" not in fields else "namespace")
    return _users(address, fields, metrics, partitions)


def _ours(described: dict[str, Any], fields: dict[str, dict[str, Any]]) -> bool:
    """Marked as laid out by this tool, or shaped so (a run stopped between creating and marking)."""
    if (described.get("properties") or {}).get(MARK[0]) == MARK[1]:
        return True
    pk, id_field, sparse = fields.get("pk"), fields.get("id"), fields.get("sparse")
    return (
        pk is not None
        and bool(pk.get("is_primary"))
        and pk["type"] == VARCHAR
        and id_field is not None
        and id_field["type"] == VARCHAR
        and sparse is not None
        and sparse["type"] == SPARSE_FLOAT_VECTOR
        and fields.get("metadata", {}).get("type") == JSON
    )


def _users(
    address: MilvusAddress, fields: dict[str, dict[str, Any]], metrics: dict[str, str], partitions: bool
) -> Layout:
    def named(option: str | None, what: str) -> dict[str, Any] | None:
        if option is None:
            return None
        if option not in fields:
            raise address.problem(f"the collection has no field {option!r} ({what}).")
        return fields[option]

    def one_of(dtype: int, option: str | None, what: str, required: bool = False) -> str | None:
        chosen = named(option, what)
        if chosen is not None:
            if chosen["type"] != dtype:
                raise address.problem(f"field {option!r} is not the {what} field.")
            return str(chosen["name"])
        candidates = [name for name, f in fields.items() if f["type"] == dtype]
        if len(candidates) > 1:
            raise address.problem(
                f"the collection has several {what} fields ({', '.join(candidates)}): name one with "
                f"?{what.replace(' ', '_')}_field=NAME."
            )
        if required and not candidates:
            raise address.problem(f"the collection has no {what} field.")
        return candidates[0] if candidates else None

    primary = next((f for f in fields.values() if f.get("is_primary")), None)
    if primary is None or primary["type"] not in (VARCHAR, INT64):
        raise address.problem("the collection's primary key must be VARCHAR or INT64.")
    id_field = named(address.id_field, "ID") or primary
    if id_field["type"] not in (VARCHAR, INT64):
        raise address.problem(f"field {id_field['name']!r} (the ID) must be VARCHAR or INT64.")
    vector = one_of(FLOAT_VECTOR, address.vector_field, "vector")
    sparse = one_of(SPARSE_FLOAT_VECTOR, address.sparse_field, "sparse")
    if vector is None and sparse is None:
        raise address.problem("the collection has neither a FLOAT_VECTOR nor a SPARSE_FLOAT_VECTOR field.")
    metadata = one_of(JSON, address.metadata_field, "metadata")
    namespace_field = named(address.namespace_field, "namespace")
    if namespace_field is None and not partitions:
        namespace_field = next(
            (f for f in fields.values() if f.get("is_partition_key") and f["type"] == VARCHAR), None
        )
    namespace = None if partitions or namespace_field is None else str(namespace_field["name"])
    taken = {primary["name"], id_field["name"], vector, sparse, metadata, namespace}
    scalars = tuple(
        Scalar(name, f["type"], _param(f, "element_type"), bool(f.get("nullable")))
        for name, f in fields.items()
        if name not in taken and f["type"] in SCALARS
    )
    metric = "dotproduct"
    if vector is not None:
        milvus_metric = metrics.get(vector)
        if milvus_metric is None:
            raise address.problem(f"the vector field {vector!r} has no index: its metric is unknown.")
        metric = PINECONE_METRIC.get(milvus_metric, milvus_metric.lower())
    return Layout(
        pk=str(primary["name"]),
        id=str(id_field["name"]),
        ours=False,
        pk_is_int=primary["type"] == INT64,
        id_max_bytes=_param(id_field, "max_length") if id_field["type"] == VARCHAR else None,
        vector=vector,
        dimension=_param(fields.get(vector or ""), "dim"),
        sparse=sparse,
        metadata=metadata,
        scalars=scalars,
        namespace=namespace,
        namespace_max_bytes=_param(namespace_field, "max_length") if namespace else None,
        metric=metric,
    )


def _param(described: dict[str, Any] | None, name: str) -> int | None:
    if described is None:
        return None
    value = (described.get("params") or {}).get(name, described.get(name))
    return None if value is None else int(value)


def refuse_shape(address: MilvusAddress, shape: IndexShape) -> None:
    """A source shape no Milvus collection can take, refused before anything is created."""
    if shape.vector_type == "dense" and shape.metric not in METRICS:
        raise UserError(f"{address.flag} {address.text}: Milvus has no metric {shape.metric!r}.")
    if shape.dimension is not None and shape.dimension > MAX_DIMENSION:
        raise address.problem(f"dimension {shape.dimension} exceeds Milvus's {MAX_DIMENSION:,}.")
