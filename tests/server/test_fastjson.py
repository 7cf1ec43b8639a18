"""The simdjson fast path decodes upserts exactly like the ordinary path, and steps aside when unsure."""

from __future__ import annotations

import random

import orjson
import pytest

from pinecone_migrator.server.fastjson import decode_dense_upsert
from pinecone_migrator.server.validation import json_object, upsert_records

from ..helpers import random_records


def _wire(records: list[dict[str, object]]) -> list[dict[str, object]]:
    wire = []
    for record in records:
        item = {k: v for k, v in record.items() if k != "sparse_values"}
        if "sparse_values" in record:
            item["sparseValues"] = record["sparse_values"]
        wire.append(item)
    return wire


@pytest.mark.parametrize("seed", range(5))
def test_fast_path_gives_the_same_records_as_the_ordinary_path(seed: int) -> None:
    records = random_records(50, 16, random.Random(seed), sparse=seed % 2 == 0)
    records[0]["values"] = [1, -2, 0, 3] * 4  # integers are numbers too
    records[1]["values"] = [-0.0, 1e-45, 3.4e38, -1e-7] * 4
    records[2]["metadata"] = {"n": None, "big": 2**60, "t": True, "l": ["x", "y"]}
    raw = orjson.dumps({"vectors": _wire(records), "namespace": "ns"})
    fast = decode_dense_upsert(raw, 16)
    assert fast is not None
    body, packed = fast
    assert body["namespace"] == "ns"
    from_fast = upsert_records(body, "dense", 16, "dotproduct", False, packed)
    from_ordinary = upsert_records(json_object(raw), "dense", 16, "dotproduct", True)
    assert from_fast == from_ordinary


@pytest.mark.parametrize(
    "raw",
    [
        b'{"vectors": [{"id": "a", "values": [1, true, 2, 3]}]}',
        b'{"vectors": [{"id": "a", "values": [1, "2", 2, 3]}]}',
        b'{"vectors": [{"id": "a", "values": [1, 2, 3]}]}',
        b'{"vectors": [{"id": "a", "values": [1, 2, 3, 1e39]}]}',
        b'{"vectors": [{"id": "a"}]}',
        b'{"vectors": {"id": "a"}}',
        b'{"vectors": [1]}',
        b"[1, 2]",
        b'{"vectors": [',
        b'{"vectors": [{"id": "a", "values": [1, 2, 3, 4], '
        b'"sparseValues": {"indices": [-9223372036854775809], "values": [1]}}]}',
    ],
)
def test_fast_path_steps_aside_for_anything_irregular(raw: bytes) -> None:
    assert decode_dense_upsert(raw, 4) is None


def test_parser_is_reusable_after_a_failed_decode() -> None:
    assert decode_dense_upsert(b'{"vectors": [{"id": "a", "values": [1, true, 2, 3]}]}', 4) is None
    assert decode_dense_upsert(b'{"vectors": [{"id": "a", "values": [1, 2, 3, 4]}]}', 4) is not None
