"""Decoding fetch responses: the whole-page fast path gives exactly the records (and digests) the
record-by-record path gives, and hands every other kind of page to it."""

from __future__ import annotations

import orjson
import pytest

from pinecone_migrator.records import InvalidRecord, record_digest
from pinecone_migrator.stores.pinecone.rest import _parse, _records_one_by_one, fetched_page


def page(vectors: dict[str, dict[str, object]], token: str | None = None) -> bytes:
    body: dict[str, object] = {"vectors": vectors, "namespace": "ns"}
    if token:
        body["pagination"] = {"next": token}
    return orjson.dumps(body)


PAGES = {
    "dense with metadata and nulls": page(
        {
            "a": {"id": "a", "values": [0.1, 0.2, 3.0], "metadata": {"x": 1, "gone": None, "tags": ["t"]}},
            "b": {"id": "b", "values": [1e-30, -2.5, 7.0]},
            "c": {"id": "c", "values": [0.0, 0.0, 1.0], "metadata": {}},
        },
        token="next-page",
    ),
    "hybrid": page(
        {
            "a": {
                "id": "a",
                "values": [0.1, 0.2],
                "sparseValues": {"indices": [3, 1], "values": [0.5, 0.25]},
            },
            "b": {"id": "b", "values": [0.3, 0.4]},
        }
    ),
    "sparse only": page({"a": {"id": "a", "sparseValues": {"indices": [7], "values": [1.5]}}}),
    "mixed lengths": page({"a": {"id": "a", "values": [1.0, 2.0]}, "b": {"id": "b", "values": [1.0]}}),
    "integers in values": page(
        {"a": {"id": "a", "values": [1, 2, 3]}, "b": {"id": "b", "values": [4, 5, 6]}}
    ),
    "empty values": page({"a": {"id": "a", "values": [], "metadata": {"k": "v"}}}),
    "no vectors": orjson.dumps({"namespace": "ns"}),
}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_both_decoders_agree(name: str) -> None:
    raw = PAGES[name]
    records, token = fetched_page(raw)
    vectors = _parse(raw).get("vectors")
    reference = [] if vectors is None else _records_one_by_one(vectors)
    assert [r.id for r in records] == [r.id for r in reference]
    assert records == reference
    assert [record_digest(r) for r in records] == [record_digest(r) for r in reference]
    assert token == ("next-page" if name == "dense with metadata and nulls" else None)
    for record in records:
        assert None not in record.metadata.values()
        assert record.values is None or not record.values.flags.writeable


def test_values_beyond_float32_are_refused_by_name() -> None:
    with pytest.raises(InvalidRecord, match="values of record 'a'"):
        fetched_page(page({"a": {"id": "a", "values": [1e39, 0.0]}}))
