"""Property-based: any valid record set comes back identical, and listing is bytewise and complete."""

from __future__ import annotations

import itertools
import string
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pinecone import Pinecone

from ..helpers import all_ids, as_plain, dense_index, expected

DIMENSION = 4
_namespace_counter = itertools.count()

ids = st.text(alphabet=string.printable.strip() + " ", min_size=1, max_size=24)
finite32 = st.floats(width=32, allow_nan=False, allow_infinity=False)
metadata_values = st.one_of(
    st.text(max_size=20),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.lists(st.text(max_size=8), max_size=4),
    st.none(),
)
records = st.dictionaries(
    ids,
    st.fixed_dictionaries(
        {
            "values": st.lists(finite32, min_size=DIMENSION, max_size=DIMENSION),
            "metadata": st.dictionaries(st.text(min_size=1, max_size=10), metadata_values, max_size=5),
        },
        optional={
            "sparse_values": st.lists(
                st.tuples(st.integers(0, 2**32 - 1), finite32),
                min_size=1,
                max_size=5,
                unique_by=lambda p: p[0],
            )
        },
    ),
    min_size=1,
    max_size=60,
)


def _as_upsert(record_id: str, body: dict[str, Any]) -> dict[str, Any]:
    record: dict[str, Any] = {"id": record_id, "values": body["values"], "metadata": body["metadata"]}
    if "sparse_values" in body:
        pairs = body["sparse_values"]
        record["sparse_values"] = {"indices": [i for i, _ in pairs], "values": [v for _, v in pairs]}
    return record


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=records, page=st.integers(1, 100))
def test_any_record_set_round_trips_and_lists_bytewise(
    pc: Pinecone, batch: dict[str, Any], page: int
) -> None:
    if "props" not in pc.list_indexes().names():
        dense_index(pc, "props", dimension=DIMENSION, metric="dotproduct")
    index = pc.index(host=pc.describe_index("props").host)
    namespace = f"ns{next(_namespace_counter)}"
    upserted = [_as_upsert(k, v) for k, v in batch.items()]
    index.upsert(vectors=upserted, namespace=namespace)
    listed = all_ids(index, namespace=namespace, limit=page)
    assert listed == sorted(batch, key=lambda s: s.encode())
    fetched = index.fetch(ids=listed, namespace=namespace).vectors
    assert {k: as_plain(v) for k, v in fetched.items()} == {r["id"]: expected(r) for r in upserted}
