"""The pieces of protobuf that both ends of the gRPC data plane handle by hand: varints' bytes, and a
``google.protobuf.Struct`` read as plain Python (``json_format.MessageToDict`` does the same, about 3x
slower). One definition here, so that the local server and the Pinecone store's transport, which must not
import each other, write and read the same bytes the same way."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from google.protobuf import struct_pb2

_ONE_BYTE = [bytes((n,)) for n in range(0x80)]


def varint(value: int) -> bytes:
    """A non-negative integer as protobuf encodes it: 7 bits a byte, least significant first."""
    if 0 <= value < 0x80:  # tags and most lengths: one byte, from the table
        return _ONE_BYTE[value]
    if value < 0:
        raise ValueError(f"a varint here is a length, a tag or a count, never negative: {value}")
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def packed_varints(values: npt.NDArray[np.uint32]) -> bytes:
    """uint32s as protobuf packs them (a ``repeated uint32``'s payload: each one's :func:`varint`, end to
    end), computed for the whole array at once."""
    wide = values.astype(np.uint64)
    lengths = np.ones(wide.size, dtype=np.int64)
    for shift in (7, 14, 21, 28):
        lengths += wide >= (1 << shift)
    groups = np.empty((wide.size, 5), dtype=np.uint8)
    for byte in range(5):
        groups[:, byte] = ((wide >> np.uint64(7 * byte)) & np.uint64(0x7F)).astype(np.uint8)
        groups[:, byte] |= np.where(lengths > byte + 1, 0x80, 0).astype(np.uint8)
    return groups[np.arange(5) < lengths[:, None]].tobytes()


def plain(value: struct_pb2.Value) -> Any:
    """A ``Value`` as JSON-like Python: str, float (every number is a double), bool, list, dict, or
    ``None`` for a null (or no value at all)."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        return value.number_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "list_value":
        return [plain(item) for item in value.list_value.values]
    if kind == "struct_value":
        return struct_dict(value.struct_value)
    return None


def struct_dict(message: struct_pb2.Struct, *, drop_nulls: bool = False) -> dict[str, Any]:
    """A ``Struct`` as a dict. With ``drop_nulls`` its fields whose value is null are left out, as a
    record's metadata is read (Pinecone drops them too); nulls in a list or a nested struct stay either
    way. Without it, a request reads as its JSON would, nulls and all, for the operation to judge."""
    fields = {key: plain(value) for key, value in message.fields.items()}
    if drop_nulls and None in fields.values():
        return {key: value for key, value in fields.items() if value is not None}
    return fields
