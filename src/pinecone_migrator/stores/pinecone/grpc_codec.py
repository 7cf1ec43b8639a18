"""Records to and from the gRPC data plane's bytes, without a Python float per value.

Dense values travel as packed little-endian float32 (``repeated float``), which is what a record's numpy
arrays already hold. An upsert is encoded here, by hand, copying each record's bytes into the message
(``protocol/vector_service.proto``'s layout; a test checks that protobuf reads them as the messages meant);
only metadata goes through protobuf. A fetch's reply is parsed by protobuf as ``protocol/packed_reads.proto``
declares it, dense values as ``bytes``, which ``np.frombuffer`` reads without a Python float per value.

Metadata numbers come back as doubles (protobuf ``Struct``): an integer 3 is read as 3.0. Records and their
digests treat every metadata number as a float64 (:func:`~pinecone_migrator.records.canonical_metadata`),
so a record read over gRPC equals the same record read over REST.
"""

from __future__ import annotations

import struct
import sys
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from google.protobuf import struct_pb2
from google.protobuf.message import DecodeError
from google.protobuf.unknown_fields import UnknownFieldSet

from ...protocol import packed_reads_pb2 as packed
from ...protocol import vector_service_pb2 as pb
from ...protocol.values import packed_varints, struct_dict, varint
from ...records import Record, SparseValues, checked_record

if (
    sys.byteorder != "little"
):  # numpy's native float32 bytes are sent as they are; the wire's are little-endian
    raise ImportError("the gRPC transport expects a little-endian machine")

_LENGTH_DELIMITED = 2


class MalformedReply(ValueError):
    """The reply is not the protobuf message expected."""


# -- encoding ------------------------------------------------------------------------------------------------


_TAGS = [bytes(((number << 3) | _LENGTH_DELIMITED,)) for number in range(16)]


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (every field number here is below 16: its tag is one byte)."""
    return _TAGS[number] + varint(len(payload)) + payload


def struct_bytes(fields: Mapping[str, Any]) -> bytes:
    """A ``google.protobuf.Struct`` (one map entry a field: key 1, ``Value`` 2), encoded here for the
    types metadata holds; anything else through protobuf, which encodes or refuses it."""
    try:
        return b"".join(
            field(1, field(1, key.encode("utf-8")) + field(2, _value_bytes(value)))
            for key, value in fields.items()
        )
    except _NotPlain:
        message = struct_pb2.Struct()
        message.update(fields)
        encoded: bytes = message.SerializeToString()
        return encoded


class _NotPlain(Exception):
    """A metadata value of a type :func:`_value_bytes` leaves to protobuf."""


_NULL = b"\x08\x00"  # null_value 1: NULL_VALUE (0)
_NUMBER = b"\x11"  # number_value 2: a double
_TRUE, _FALSE = b"\x20\x01", b"\x20\x00"  # bool_value 4
_DOUBLE = struct.Struct("<d").pack


def _value_bytes(value: Any) -> bytes:
    """A ``Value``'s content: string_value 3, struct_value 5 and list_value 6 (values 1) are messages."""
    if isinstance(value, str):
        return field(3, value.encode("utf-8"))
    if isinstance(value, bool):
        return _TRUE if value else _FALSE
    if isinstance(value, (float, int)):
        return _NUMBER + _DOUBLE(float(value))
    if isinstance(value, (list, tuple)):
        return field(6, b"".join(field(1, _value_bytes(item)) for item in value))
    if value is None:
        return _NULL
    if isinstance(value, Mapping):
        return field(5, struct_bytes(value))
    if isinstance(value, np.generic):  # a numpy number or bool: as its Python value
        return _value_bytes(value.item())
    raise _NotPlain


def sparse_bytes(sparse: SparseValues) -> bytes:
    """A ``SparseValues``: indices 1 (packed varints), values 2 (packed float32)."""
    return field(1, packed_varints(sparse.indices)) + field(
        2, np.ascontiguousarray(sparse.values, dtype="<f4").tobytes()
    )


class EncodedVector:
    """One ``UpsertRequest.vectors`` entry (tag, length, ``Vector``: id 1, values 2, metadata 3,
    sparse_values 4) as the pieces of its bytes: the dense values stay the record's own buffer, copied
    once, into the request."""

    __slots__ = ("parts", "size")

    def __init__(self, record: Record) -> None:
        encoded_id = record.id.encode("utf-8")
        body: list[bytes | memoryview] = [_TAGS[1], varint(len(encoded_id)), encoded_id]
        if record.values is not None:
            values = _float_buffer(record.values)
            body += [_TAGS[2], varint(values.nbytes), values]
        if record.metadata:
            body.append(field(3, struct_bytes(record.metadata)))
        if record.sparse is not None and len(record.sparse):
            body.append(field(4, sparse_bytes(record.sparse)))
        length = sum(map(len, body))  # the values' buffer is cast to bytes: its len is its size
        prefix = varint(length)
        self.parts: list[bytes | memoryview] = [_TAGS[1], prefix, *body]
        self.size = 1 + len(prefix) + length


def _float_buffer(values: npt.NDArray[Any]) -> memoryview:
    if values.dtype == np.float32 and values.flags.c_contiguous:
        return values.data.cast("B")
    return memoryview(np.ascontiguousarray(values, dtype="<f4").tobytes())


def upsert_request(namespace: str, vectors: list[EncodedVector]) -> bytes:
    """An ``UpsertRequest`` (vectors 1, namespace 2): every piece copied once."""
    parts = [part for vector in vectors for part in vector.parts]
    if namespace:
        parts.append(field(2, namespace.encode("utf-8")))
    return b"".join(parts)


# -- decoding ------------------------------------------------------------------------------------------------


def records_reply(raw: bytes) -> tuple[list[Record], str | None]:
    """The records of a ``FetchResponse`` or ``FetchByMetadataResponse``, and the next page's token if
    any. Raises :class:`MalformedReply` for bytes that are not such a reply."""
    try:
        reply = packed.PackedRecords.FromString(raw)
    except DecodeError as error:
        raise MalformedReply(str(error)) from None
    vectors = reply.vectors
    records = _dense_page(vectors)
    if records is None:
        records = [_record(key, vector) for key, vector in vectors.items()]
    return records, reply.pagination.next or None


def _dense_page(vectors: Mapping[str, packed.PackedVector]) -> list[Record] | None:
    """The records of a page of dense vectors of one width without sparse values, their values one block
    (one copy out of the reply, one finiteness check) whose rows they are; ``None`` for any other page, and
    for values that are not finite (which :func:`_record` refuses by name)."""
    ids: list[str] = []
    chunks: list[bytes] = []
    metadatas: list[dict[str, Any]] = []
    width = -1
    for key, vector in vectors.items():
        values = vector.values
        if len(values) != width:
            if width >= 0 or not values or len(values) % 4:
                return None
            width = len(values)
        if vector.HasField("sparse_values"):
            return None
        ids.append(key)
        chunks.append(values)
        metadatas.append(struct_dict(vector.metadata, drop_nulls=True) if vector.HasField("metadata") else {})
    if not ids:
        return []
    block = np.frombuffer(b"".join(chunks), dtype="<f4").reshape(len(ids), width // 4)
    if not np.isfinite(block).all():
        return None
    return [checked_record(i, row, m) for i, row, m in zip(ids, block, metadatas, strict=True)]


def _record(key: str, vector: packed.PackedVector) -> Record:
    metadata = struct_dict(vector.metadata, drop_nulls=True) if vector.HasField("metadata") else {}
    raw = vector.values
    if len(raw) % 4:
        raise MalformedReply(f"the values of record {key!r} are {len(raw)} bytes, not float32s")
    if not raw:
        return _unpacked(key, vector, metadata)
    # Sparse values too, or values that are not finite (refused by name): the checking constructor.
    return Record(key, np.frombuffer(raw, dtype="<f4"), _sparse(vector), metadata)


def _unpacked(key: str, vector: packed.PackedVector, metadata: dict[str, Any]) -> Record:
    """A record without packed dense values: sparse only, or values a sender did not pack (each float a
    field of its own, which the ``bytes`` declaration leaves aside as unknown): those read in full."""
    values = None
    if len(UnknownFieldSet(vector)):
        full = pb.Vector.FromString(vector.SerializeToString())
        values = np.array(full.values, dtype=np.float32) if len(full.values) else None
    return Record(key, values, _sparse(vector), metadata)


def _sparse(vector: packed.PackedVector) -> SparseValues | None:
    if not vector.HasField("sparse_values"):
        return None
    sparse = vector.sparse_values
    return SparseValues(np.array(sparse.indices, dtype=np.uint32), np.array(sparse.values, dtype=np.float32))


def metadata_of(raw: bytes) -> dict[str, Any]:
    """An encoded ``Struct`` as a dict, as a fetch reads it."""
    return struct_dict(struct_pb2.Struct.FromString(raw), drop_nulls=True)
