"""Records <-> Qdrant points: IDs, namespaces in the payload, metadata and vectors."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
from qdrant_client.http import models

from ...records import Record, SparseValues
from ..base import DEFAULT_NAMESPACE

ID_KEY = "_pinecone_id"
# The UUID v5 namespace of every point ID made here: the same record ID in the same namespace is always the
# same point, so writes are upserts and a resumed run overwrites what it wrote before.
_POINT_IDS = uuid.uuid5(uuid.NAMESPACE_URL, "https://pinecone-migrator/qdrant-point")

PointId = int | str


def point_id(namespace: str, record_id: str) -> str:
    """The point a record is written to: namespace and ID both count, so the same ID in two namespaces
    of one collection are two points."""
    return str(uuid.uuid5(_POINT_IDS, f"{len(namespace)}:{namespace}{record_id}"))


def native_id(record_id: str) -> PointId | None:
    """The point ID a record ID names in a collection made elsewhere (its decimal integer or its UUID)."""
    if record_id.isdigit() and record_id.isascii() and record_id == str(int(record_id)):
        number = int(record_id)
        return number if number < 2**64 else None
    try:
        parsed = uuid.UUID(record_id)
    except ValueError:
        return None
    return str(parsed) if str(parsed) == record_id else None


def candidates(namespace: str, record_ids: Iterable[str]) -> list[PointId]:
    """Every point that may hold one of ``record_ids``: the one written here, and the native one."""
    found: dict[PointId, None] = {}
    for record_id in record_ids:
        found[point_id(namespace, record_id)] = None
        native = native_id(record_id)
        if native is not None:
            found[native] = None
    return list(found)


def record_id_of(point: models.Record) -> str:
    payload = point.payload or {}
    kept = payload.get(ID_KEY)
    return kept if isinstance(kept, str) else str(point.id)


def payload_of(record: Record, namespace: str, namespace_field: str | None) -> dict[str, Any]:
    payload: dict[str, Any] = dict(record.metadata)
    payload[ID_KEY] = record.id
    if namespace_field is not None and namespace != DEFAULT_NAMESPACE:
        payload[namespace_field] = namespace
    return payload


def reserved_key(record: Record, namespace_field: str | None) -> str | None:
    """A metadata key the payload keeps for itself, if the record has one."""
    if ID_KEY in record.metadata:
        return ID_KEY
    if namespace_field is not None and namespace_field in record.metadata:
        return namespace_field
    return None


def namespace_of(point: models.Record, namespace_field: str) -> str:
    value = (point.payload or {}).get(namespace_field)
    return value if isinstance(value, str) and value else DEFAULT_NAMESPACE


def record_of(point: models.Record, dense: str | None, sparse: str | None, reserved: Sequence[str]) -> Record:
    """The record a point holds; ``dense``/``sparse`` name its vectors ("" the unnamed one)."""
    payload = point.payload or {}
    metadata = {key: value for key, value in payload.items() if key not in reserved}
    values, sparse_values = None, None
    vectors = point.vector
    if isinstance(vectors, dict):
        if dense is not None and dense in vectors:
            values = np.asarray(vectors[dense], dtype=np.float32)
        held = vectors.get(sparse) if sparse is not None else None
        if isinstance(held, models.SparseVector) and held.indices:
            sparse_values = SparseValues(
                np.asarray(held.indices, dtype=np.uint32), np.asarray(held.values, dtype=np.float32)
            )
    elif isinstance(vectors, list) and dense == "":
        values = np.asarray(vectors, dtype=np.float32)
    return Record(id=record_id_of(point), values=values, sparse=sparse_values, metadata=metadata)


def vectors_of(record: Record, dense: str | None, sparse: str | None, arrays: bool) -> dict[str, Any] | Any:
    """The point's vector struct: named vectors, or the unnamed one's values. ``arrays``: dense values as
    float32 arrays (local mode), which local mode scales in float32 both when it inserts a point and when it
    updates one; given a list, it scales an update in float64 instead, and keeps a different vector."""
    values: Any = None
    if record.values is not None:
        values = record.values if arrays else record.values.tolist()
    if dense == "":
        return [] if values is None else values
    named: dict[str, Any] = {}
    if values is not None and dense is not None:
        named[dense] = values
    if record.sparse is not None and sparse is not None:
        named[sparse] = models.SparseVector(
            indices=record.sparse.indices.tolist(), values=record.sparse.values.tolist()
        )
    return named
