"""Records <-> Milvus rows under a layout, exactly: float32 values through protobuf floats (bit for bit),
sparse pairs as float32, metadata as JSON (float64 numbers, booleans, strings, lists) or scalar fields."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import orjson

from ...records import Metadata, Record, SparseValues
from .layout import (
    ARRAY,
    BOOL,
    DOUBLE,
    FLOAT,
    MAX_JSON_BYTES,
    MAX_SPARSE_INDEX,
    NO_SPARSE_INDEX,
    NO_SPARSE_VALUE,
    VARCHAR,
    Layout,
    Scalar,
)

_NO_SPARSE = {NO_SPARSE_INDEX: NO_SPARSE_VALUE}
_NO_SPARSE_F32 = float(np.float32(NO_SPARSE_VALUE))


def primary_key(layout: Layout, namespace: str, record_id: str) -> str | int:
    """The primary key of ``record_id`` in ``namespace``: ``<len>:<namespace><id>`` in a collection laid out
    by this tool (one prefix per namespace, so that key order within it is ID order)."""
    if layout.ours:
        return f"{len(namespace)}:{namespace}{record_id}"
    return int(record_id) if layout.pk_is_int else record_id


def namespace_prefix(layout: Layout, namespace: str) -> str:
    return f"{len(namespace)}:{namespace}" if layout.ours else ""


def row_of(layout: Layout, namespace: str, record: Record) -> dict[str, Any]:
    """The row a record is written as; call :func:`refusal` first."""
    row: dict[str, Any] = {layout.pk: primary_key(layout, namespace, record.id)}
    if layout.id != layout.pk:
        row[layout.id] = record.id
    if layout.namespace is not None:
        row[layout.namespace] = namespace
    if layout.vector is not None and record.values is not None:
        row[layout.vector] = record.values.tolist()
    if layout.sparse is not None:
        sparse = record.sparse
        row[layout.sparse] = (
            dict(zip(sparse.indices.tolist(), sparse.values.tolist(), strict=True)) if sparse else _NO_SPARSE
        )
    metadata = dict(record.metadata)
    for scalar in layout.scalars:
        row[scalar.name] = metadata.pop(scalar.name, None)
    if layout.metadata is not None:
        row[layout.metadata] = metadata
    return row


def refusal(layout: Layout, namespace: str, record: Record) -> str | None:
    """Why this collection cannot hold ``record`` exactly (None: it can)."""
    if layout.pk_is_int and not (record.id.isdigit() and record.id == str(int(record.id))):
        return "the collection's primary key is INT64: IDs must be decimal integers"
    if layout.id_max_bytes is not None and len(record.id.encode()) > layout.id_max_bytes:
        return f"ID of {len(record.id.encode()):,} bytes exceeds the field's {layout.id_max_bytes:,}"
    most = layout.namespace_max_bytes
    if layout.namespace is not None and most is not None and len(namespace.encode()) > most:
        return f"namespace name longer than {layout.namespace_max_bytes:,} bytes"
    if layout.vector is None:
        if record.values is not None:
            return "the collection holds sparse vectors only: dense values cannot be written"
    elif record.values is None or record.values.size != layout.dimension:
        return f"dimension {record.dimension} does not match the collection's {layout.dimension}"
    return _sparse_refusal(layout, record.sparse) or _metadata_refusal(layout, record.metadata)


def _sparse_refusal(layout: Layout, sparse: SparseValues | None) -> str | None:
    if sparse is None:
        return (
            "the collection holds sparse vectors only: a record needs sparse values"
            if (layout.vector is None)
            else None
        )
    if layout.sparse is None:
        return "the collection has no sparse vector field"
    if sparse.indices.size and int(sparse.indices[-1]) > MAX_SPARSE_INDEX:
        return f"sparse index {int(sparse.indices[-1]):,} exceeds Milvus's {MAX_SPARSE_INDEX:,}"
    if (sparse.values <= 0).any():
        return "Milvus holds positive sparse values only (it refuses negative ones and drops zeros)"
    return None


def _metadata_refusal(layout: Layout, metadata: Metadata) -> str | None:
    rest = dict(metadata)
    for scalar in layout.scalars:
        value = rest.pop(scalar.name, None)
        problem = _scalar_problem(scalar, value)
        if problem:
            return problem
    if rest and layout.metadata is None:
        return f"the collection has no field for metadata {sorted(rest)[0]!r}"
    if layout.metadata is not None and len(orjson.dumps(rest)) > MAX_JSON_BYTES:
        return (
            f"metadata of {len(orjson.dumps(rest)):,} bytes exceeds Milvus's JSON limit of {MAX_JSON_BYTES:,}"
        )
    return None


def _scalar_problem(scalar: Scalar, value: Any) -> str | None:
    if value is None:
        return None if scalar.nullable else f"metadata {scalar.name!r} is required by the collection"
    exact = {
        BOOL: isinstance(value, bool),
        VARCHAR: isinstance(value, str),
        DOUBLE: isinstance(value, (int, float)) and not isinstance(value, bool),
        FLOAT: isinstance(value, (int, float))
        and not isinstance(value, bool)
        and float(np.float32(value)) == value,
        ARRAY: isinstance(value, list) and scalar.element == VARCHAR,
    }.get(scalar.dtype)
    if exact is None:  # an integer field
        exact = isinstance(value, (int, float)) and not isinstance(value, bool) and float(value).is_integer()
    return None if exact else f"metadata {scalar.name!r} does not fit the collection's field of that name"


def record_of(layout: Layout, row: dict[str, Any]) -> Record:
    """The record a row holds."""
    values = row.get(layout.vector) if layout.vector else None
    dense = None if values is None else np.asarray(values, dtype=np.float32)
    sparse = _sparse_of(row.get(layout.sparse) if layout.sparse else None)
    metadata: Metadata = {}
    stored = row.get(layout.metadata) if layout.metadata else None
    if isinstance(stored, dict):
        metadata.update({key: value for key, value in stored.items() if value is not None})
    for scalar in layout.scalars:
        value = row.get(scalar.name)
        if value is not None:
            metadata[scalar.name] = _scalar_value(scalar, value)
    return Record(id=str(row[layout.id]), values=dense, sparse=sparse, metadata=metadata)


def _sparse_of(stored: Any) -> SparseValues | None:
    if not stored:
        return None
    pairs = dict(stored)
    if len(pairs) == 1 and pairs.get(NO_SPARSE_INDEX) == _NO_SPARSE_F32:
        return None
    indices = np.fromiter(pairs.keys(), dtype=np.uint32, count=len(pairs))
    values = np.fromiter(pairs.values(), dtype=np.float32, count=len(pairs))
    return SparseValues(indices, values)


def _scalar_value(scalar: Scalar, value: Any) -> Any:
    if scalar.dtype == FLOAT:
        return float(np.float32(value))
    if isinstance(value, (list, tuple)):
        return [str(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
