"""Replies that carry records, encoded straight to protobuf's wire format.

Stored dense values are already what protobuf sends for ``repeated float`` (packed little-endian float32),
so a fetch of 1,000 records of dimension 1536 can copy 6 MB of bytes instead of building 1.5 million Python
floats into messages, which made a gRPC fetch several times costlier for the server than the same fetch as
JSON. The layout follows ``vector_service.proto``; a test checks these bytes parse into the same messages
:mod:`.messages` builds.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Iterable

import numpy as np
import orjson
from google.protobuf import struct_pb2

from ...protocol.values import packed_varints, varint
from ..store import StoredRecord

_LENGTH_DELIMITED = 2
_FIXED32 = 5
_VARINT = 0

if sys.byteorder != "little":  # stored float32/uint32 bytes are native; the wire is little-endian
    raise ImportError("the gRPC wire encoder expects a little-endian machine")


def _tag(number: int, kind: int) -> bytes:
    return varint((number << 3) | kind)


def _field(number: int, payload: bytes) -> bytes:
    return _tag(number, _LENGTH_DELIMITED) + varint(len(payload)) + payload


def _metadata(text: str) -> bytes:
    message = struct_pb2.Struct()
    message.update(orjson.loads(text))
    encoded: bytes = message.SerializeToString()
    return encoded


def _sparse(record: StoredRecord) -> bytes:
    assert record.sparse_indices is not None and record.sparse_values is not None
    indices = np.frombuffer(record.sparse_indices, dtype=np.uint32)
    return _field(1, packed_varints(indices)) + _field(2, record.sparse_values)


def vector(record: StoredRecord) -> bytes:
    """A ``Vector``: id 1, values 2, metadata 3, sparse_values 4."""
    parts = [_field(1, record.id.encode())]
    if record.values:
        parts.append(_field(2, record.values))
    if record.metadata:
        parts.append(_field(3, _metadata(record.metadata)))
    if record.sparse_indices:
        parts.append(_field(4, _sparse(record)))
    return b"".join(parts)


def scored_vector(record: StoredRecord, score: float, include_values: bool, include_metadata: bool) -> bytes:
    """A ``ScoredVector``: id 1, score 2, values 3, metadata 4, sparse_values 5."""
    parts = [_field(1, record.id.encode()), _tag(2, _FIXED32) + struct.pack("<f", float(score))]
    if include_values and record.values:
        parts.append(_field(3, record.values))
    if include_metadata and record.metadata:
        parts.append(_field(4, _metadata(record.metadata)))
    if include_values and record.sparse_indices:
        parts.append(_field(5, _sparse(record)))
    return b"".join(parts)


def _usage(read_units: int) -> bytes:
    return _tag(1, _VARINT) + varint(read_units)


def _string(number: int, text: str) -> bytes:
    return _field(number, text.encode()) if text else b""


def records_reply(
    records: Iterable[StoredRecord], namespace: str, read_units: int, next_token: str | None = None
) -> bytes:
    """A ``FetchResponse`` (vectors 1, namespace 2, usage 3) or, with a token, a ``FetchByMetadataResponse``
    (the same fields, and pagination 4)."""
    parts = [_field(1, _field(1, r.id.encode()) + _field(2, vector(r))) for r in records]
    parts.append(_string(2, namespace))
    parts.append(_field(3, _usage(read_units)))
    if next_token is not None:
        parts.append(_field(4, _string(1, next_token)))
    return b"".join(parts)


def query_reply(matches: Iterable[bytes], namespace: str, read_units: int) -> bytes:
    """A ``QueryResponse``: matches 2, namespace 3, usage 4."""
    parts = [_field(2, match) for match in matches]
    parts.append(_string(3, namespace))
    parts.append(_field(4, _usage(read_units)))
    return b"".join(parts)
