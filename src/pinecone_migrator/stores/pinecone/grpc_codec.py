"""Records to and from the gRPC data plane's bytes, without a Python float per value.

Dense and sparse values travel as packed little-endian float32 (``repeated float``), which is what a
record's numpy arrays already hold: an upsert copies their bytes into the message, and a fetch's values are
read in place with ``np.frombuffer`` on the reply. Only the parts that are few per record (IDs, metadata,
sparse indices) go through protobuf. The layout is ``protocol/vector_service.proto``'s; a test checks that
protobuf reads these bytes as the same messages, and the sizes.

Metadata numbers come back as doubles (protobuf ``Struct``): an integer 3 is read as 3.0. Records and their
digests treat every metadata number as a float64 (:func:`~pinecone_migrator.records.canonical_metadata`),
so a record read over gRPC equals the same record read over REST.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt
from google.protobuf import struct_pb2

from ...protocol import vector_service_pb2 as pb
from ...records import Record, SparseValues, checked_record

if (
    sys.byteorder != "little"
):  # numpy's native float32 bytes are sent as they are; the wire's are little-endian
    raise ImportError("the gRPC transport expects a little-endian machine")

_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


class MalformedReply(ValueError):
    """The reply is not the protobuf message expected."""


# -- encoding ------------------------------------------------------------------------------------------------


def varint(value: int) -> bytes:
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (every field number here is below 16: its tag is one byte)."""
    return bytes(((number << 3) | _LENGTH_DELIMITED,)) + varint(len(payload)) + payload


def packed_varints(values: npt.NDArray[np.uint32]) -> bytes:
    """uint32s as protobuf packs them, computed for the whole array at once."""
    wide = values.astype(np.uint64)
    lengths = np.ones(wide.size, dtype=np.int64)
    for shift in (7, 14, 21, 28):
        lengths += wide >= (1 << shift)
    groups = np.empty((wide.size, 5), dtype=np.uint8)
    for byte in range(5):
        groups[:, byte] = ((wide >> np.uint64(7 * byte)) & np.uint64(0x7F)).astype(np.uint8)
        groups[:, byte] |= np.where(lengths > byte + 1, 0x80, 0).astype(np.uint8)
    return groups[np.arange(5) < lengths[:, None]].tobytes()


def struct_bytes(fields: Mapping[str, Any]) -> bytes:
    message = struct_pb2.Struct()
    message.update(fields)
    encoded: bytes = message.SerializeToString()
    return encoded


def _float_bytes(values: npt.NDArray[Any]) -> bytes:
    return np.ascontiguousarray(values, dtype="<f4").tobytes()


def sparse_bytes(sparse: SparseValues) -> bytes:
    """A ``SparseValues``: indices 1 (packed varints), values 2 (packed float32)."""
    return field(1, packed_varints(sparse.indices)) + field(2, _float_bytes(sparse.values))


def vector_bytes(record: Record) -> bytes:
    """A ``Vector``: id 1, values 2, metadata 3, sparse_values 4."""
    parts = [field(1, record.id.encode("utf-8"))]
    if record.values is not None:
        parts.append(field(2, _float_bytes(record.values)))
    if record.metadata:
        parts.append(field(3, struct_bytes(record.metadata)))
    if record.sparse is not None and len(record.sparse):
        parts.append(field(4, sparse_bytes(record.sparse)))
    return b"".join(parts)


def upsert_request(namespace: str, vectors: list[bytes]) -> bytes:
    """An ``UpsertRequest`` (vectors 1, namespace 2) from encoded ``Vector`` messages."""
    parts = [field(1, vector) for vector in vectors]
    if namespace:
        parts.append(field(2, namespace.encode("utf-8")))
    return b"".join(parts)


def vector_entry_size(vector: bytes) -> int:
    """Bytes one encoded ``Vector`` adds to an ``UpsertRequest``: tag, length and the message."""
    return 1 + len(varint(len(vector))) + len(vector)


# -- decoding ------------------------------------------------------------------------------------------------


def _read_varint(raw: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        try:
            byte = raw[pos]
        except IndexError:
            raise MalformedReply("a varint runs past the end of the reply") from None
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def fields(raw: bytes, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(field number, start, end) of each length-delimited field in ``raw[start:end]``; fields of other
    wire types (counts, scores) are skipped."""
    pos = start
    while pos < end:
        tag, pos = _read_varint(raw, pos)
        kind = tag & 7
        if kind == _LENGTH_DELIMITED:
            length, pos = _read_varint(raw, pos)
            if pos + length > end:
                raise MalformedReply("a field runs past the end of its message")
            yield tag >> 3, pos, pos + length
            pos += length
        elif kind == _VARINT:
            _, pos = _read_varint(raw, pos)
        elif kind == _FIXED64:
            pos += 8
        elif kind == _FIXED32:
            pos += 4
        else:
            raise MalformedReply(f"wire type {kind} is not used by these messages")


def records_reply(raw: bytes) -> tuple[list[Record], str | None]:
    """The records of a ``FetchResponse`` or ``FetchByMetadataResponse`` (vectors 1 — a map of id to
    ``Vector`` — and pagination 4), and the next page's token if any."""
    records: list[Record] = []
    token: str | None = None
    for number, start, end in fields(raw, 0, len(raw)):
        if number == 1:
            for entry_number, vector_start, vector_end in fields(raw, start, end):
                if entry_number == 2:  # the map entry's value (1 is its key, the same ID)
                    records.append(_record(raw, vector_start, vector_end))
        elif number == 4:
            for next_number, token_start, token_end in fields(raw, start, end):
                if next_number == 1 and token_end > token_start:
                    token = raw[token_start:token_end].decode("utf-8")
    return records, token


def _record(raw: bytes, start: int, end: int) -> Record:
    record_id = ""
    values: npt.NDArray[np.float32] | None = None
    metadata: dict[str, Any] = {}
    sparse: tuple[int, int] | None = None
    for number, part_start, part_end in fields(raw, start, end):
        if number == 1:
            record_id = raw[part_start:part_end].decode("utf-8")
        elif number == 2 and part_end > part_start:
            values = np.frombuffer(raw, "<f4", (part_end - part_start) // 4, part_start)
        elif number == 3:
            metadata = metadata_of(raw[part_start:part_end])
        elif number == 4:
            sparse = (part_start, part_end)
    if sparse is None and values is not None and np.isfinite(values).all():
        return checked_record(record_id, values, metadata)  # read-only, finite, no nulls: already normal
    # Sparse values, or values that are not finite (refused by name): the checking constructor.
    return Record(record_id, values, None if sparse is None else _sparse(raw, *sparse), metadata)


def _sparse(raw: bytes, start: int, end: int) -> SparseValues:
    message = pb.SparseValues.FromString(raw[start:end])
    return SparseValues(
        np.array(message.indices, dtype=np.uint32), np.array(message.values, dtype=np.float32)
    )


def metadata_of(raw: bytes) -> dict[str, Any]:
    """A ``Struct`` as a dict, fields whose value is null left out (Pinecone drops them too)."""
    parsed = struct_pb2.Struct.FromString(raw).fields
    plain = {key: _plain(value) for key, value in parsed.items()}
    return {key: value for key, value in plain.items() if value is not None}


def _plain(value: struct_pb2.Value) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return value.number_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "list_value":
        return [_plain(item) for item in value.list_value.values]
    if kind == "struct_value":
        return {key: _plain(item) for key, item in value.struct_value.fields.items()}
    return None
