"""The protobuf pieces the local server and the Pinecone store's gRPC transport share are the bytes and the
values protobuf itself writes and reads."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from google.protobuf import struct_pb2
from hypothesis import given
from hypothesis import strategies as st

from pinecone_migrator.protocol import vector_service_pb2 as pb
from pinecone_migrator.protocol.values import packed_varints, struct_dict, varint

# Every width a varint takes, at both ends: 1 to 10 bytes.
EDGES = sorted({0, 1} | {(1 << bits) + d for bits in range(7, 64, 7) for d in (-1, 0)} | {2**64 - 1})


@pytest.mark.parametrize("number", EDGES)
def test_a_varint_is_the_bytes_protobuf_writes(number: int) -> None:
    # Usage.read_units (field 1, an optional uint32: 0 is written too) below 2**32; above,
    # NamespaceDescription.record_count (field 2, a uint64).
    if number < 2**32:
        expected = pb.Usage(read_units=number).SerializeToString()
        assert b"\x08" + varint(number) == expected
    else:
        expected = pb.NamespaceDescription(record_count=number).SerializeToString()
        assert b"\x10" + varint(number) == expected


def test_a_negative_varint_is_refused_not_written_wrong() -> None:
    with pytest.raises(ValueError, match="never negative"):
        varint(-1)


@given(st.lists(st.integers(0, 2**32 - 1), max_size=40))
def test_packed_uint32s_are_the_bytes_protobuf_writes(indices: list[int]) -> None:
    packed = packed_varints(np.array(indices, dtype=np.uint32))
    expected = pb.SparseValues(indices=indices).SerializeToString()
    assert (b"\x0a" + varint(len(packed)) + packed if indices else b"") == expected


def test_packed_uint32s_at_each_width() -> None:
    edges = [n for n in EDGES if n < 2**32] + [2**32 - 1]
    packed = packed_varints(np.array(edges, dtype=np.uint32))
    assert packed == b"".join(varint(n) for n in edges)


scalars = st.one_of(
    st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),
    st.integers(-(2**53), 2**53),
    st.booleans(),
)
json_like = st.recursive(
    st.one_of(scalars, st.none()),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=4),
    max_leaves=12,
)


def _as_read(value: Any) -> Any:
    """What a Struct gives back for a value put in: every number a double."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, list):
        return [_as_read(item) for item in value]
    return {key: _as_read(item) for key, item in value.items()}


def _typed(value: Any) -> str:
    """JSON that tells a float from an int and a bool from both (1.0, 1, true), keys in order."""
    return json.dumps(value, sort_keys=True)


@given(st.dictionaries(st.text(max_size=6), json_like, max_size=6))
def test_a_struct_reads_as_the_json_it_was_made_from(fields: dict[str, Any]) -> None:
    message = struct_pb2.Struct()
    message.update(fields)
    assert _typed(struct_dict(message)) == _typed(_as_read(fields))
    top_level_nulls_left_out = {key: value for key, value in fields.items() if value is not None}
    assert _typed(struct_dict(message, drop_nulls=True)) == _typed(_as_read(top_level_nulls_left_out))


def test_metadata_read_drops_only_its_own_null_fields() -> None:
    message = struct_pb2.Struct()
    message.update({"gone": None, "n": 3, "ok": True, "tags": ["a", None], "deep": {"x": None}})
    assert _typed(struct_dict(message, drop_nulls=True)) == _typed(
        {"n": 3.0, "ok": True, "tags": ["a", None], "deep": {"x": None}}
    )
    assert struct_dict(message)["gone"] is None  # a request keeps it, for the operation to judge
    assert struct_dict(struct_pb2.Struct()) == {} and struct_dict(struct_pb2.Struct(), drop_nulls=True) == {}
