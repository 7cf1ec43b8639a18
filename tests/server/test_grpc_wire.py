"""The hand-encoded replies with records parse, with the generated protobuf classes, into exactly the
messages the .proto describes."""

from __future__ import annotations

import numpy as np
import orjson
from google.protobuf import struct_pb2

from pinecone_migrator.protocol import vector_service_pb2 as pb
from pinecone_migrator.server.grpcplane import wire
from pinecone_migrator.server.store import StoredRecord

METADATA = {"title": "café", "n": 3.0, "ok": True, "tags": ["a", "b"]}


def _record(
    rid: str, dense: list[float] | None, sparse: tuple[list[int], list[float]] | None, meta: bool
) -> StoredRecord:
    return StoredRecord(
        rid,
        None if dense is None else np.asarray(dense, np.float32).tobytes(),
        None if sparse is None else np.asarray(sparse[0], np.uint32).tobytes(),
        None if sparse is None else np.asarray(sparse[1], np.float32).tobytes(),
        orjson.dumps(METADATA).decode() if meta else None,
    )


RECORDS = [
    _record("dense", [0.5, -1.25, 3.0], None, False),
    _record("with-metadata", [1.0, 2.0, 3.0], None, True),
    _record("hybrid-é", [0.0, 0.0, 1.0], ([0, 127, 128, 4_294_967_295], [0.5, 1.0, -2.0, 8.0]), True),
    _record("sparse-only", None, ([3], [0.25]), False),
]


def _struct() -> struct_pb2.Struct:
    message = struct_pb2.Struct()
    message.update(METADATA)
    return message


def _expected_vector(record: StoredRecord) -> pb.Vector:
    vector = pb.Vector(id=record.id, values=record.dense() if record.values else ())
    if record.metadata:
        vector.metadata.CopyFrom(_struct())
    pair = record.sparse()
    if pair is not None:
        vector.sparse_values.CopyFrom(pb.SparseValues(indices=pair[0], values=pair[1]))
    return vector


def test_fetch_reply_is_the_fetch_response_message() -> None:
    encoded = wire.records_reply(RECORDS, "ns", 7)
    expected = pb.FetchResponse(
        vectors={r.id: _expected_vector(r) for r in RECORDS}, namespace="ns", usage=pb.Usage(read_units=7)
    )
    assert pb.FetchResponse.FromString(encoded) == expected


def test_fetch_by_metadata_reply_carries_the_next_token() -> None:
    encoded = wire.records_reply(RECORDS[:1], "", 1, next_token="abc")
    parsed = pb.FetchByMetadataResponse.FromString(encoded)
    assert parsed.pagination.next == "abc" and parsed.namespace == "" and parsed.usage.read_units == 1
    assert parsed.vectors["dense"] == _expected_vector(RECORDS[0])


def test_query_reply_is_the_query_response_message() -> None:
    matches = [
        wire.scored_vector(r, 0.5 - i, include_values=True, include_metadata=True)
        for i, r in enumerate(RECORDS)
    ]
    parsed = pb.QueryResponse.FromString(wire.query_reply(matches, "q", 5))
    assert parsed.namespace == "q" and parsed.usage.read_units == 5
    for i, (match, record) in enumerate(zip(parsed.matches, RECORDS, strict=True)):
        vector = _expected_vector(record)
        assert (match.id, match.score) == (record.id, 0.5 - i)
        assert list(match.values) == list(vector.values) and match.metadata == vector.metadata
        assert match.sparse_values == vector.sparse_values
    bare = pb.ScoredVector.FromString(
        wire.scored_vector(RECORDS[2], 1.0, include_values=False, include_metadata=False)
    )
    assert bare == pb.ScoredVector(id="hybrid-é", score=1.0)
