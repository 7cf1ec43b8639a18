"""The data plane over gRPC (``serve --grpc-port``), through the official SDK's GrpcIndex: every RPC keeps
the records REST keeps, with the same errors, and both transports see one store."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from pinecone import Pinecone, ServerlessSpec
from pinecone.errors.exceptions import ApiError

from tests.server.grpc_helpers import grpc_index, plain
from tests.serverproc import ServerProcess

SPEC = ServerlessSpec(cloud="aws", region="us-east-1")

# Metadata of every type Pinecone stores: strings, numbers (integers come back as floats: float64),
# booleans and lists of strings.
METADATA = {"title": "café ☕", "year": 2024, "score": 0.125, "draft": False, "tags": ["a", "b"]}


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess(None, grpc=True) as running:
        yield running


@pytest.fixture(scope="module")
def pc(server: ServerProcess) -> Pinecone:
    return Pinecone(api_key="k", host=server.url)


def _create(pc: Pinecone, name: str, **options: Any) -> Any:
    pc.create_index(name=name, spec=SPEC, **options)
    return pc.index(host=pc.describe_index(name).host)


def test_dense_hybrid_and_metadata_round_trip_over_grpc(server: ServerProcess, pc: Pinecone) -> None:
    rest = _create(pc, "hybrid", dimension=4, metric="dotproduct")
    index = grpc_index(server, "hybrid")
    records = [
        {"id": "plain", "values": [0.5, -1.0, 2.0, 0.0]},
        {"id": "meta", "values": [1.0, 1.0, 1.0, 1.0], "metadata": METADATA},
        {
            "id": "hybrid",
            "values": [0.0, 0.25, 0.0, 3.0],
            "sparse_values": {"indices": [7, 4_000_000_000], "values": [0.5, -2.0]},
        },
    ]
    assert index.upsert(vectors=records, namespace="ns").upserted_count == 3
    fetched = index.fetch(ids=["plain", "meta", "hybrid", "absent"], namespace="ns")
    got = {vid: plain(vector) for vid, vector in fetched.vectors.items()}
    assert set(got) == {"plain", "meta", "hybrid"}
    assert got["plain"] == {"id": "plain", "values": [0.5, -1.0, 2.0, 0.0], "sparse": None, "metadata": None}
    assert got["meta"]["metadata"] == {**METADATA, "year": 2024.0}
    assert got["hybrid"]["sparse"] == ([7, 4_000_000_000], [0.5, -2.0])
    # the same records, read over REST
    over_rest = rest.fetch(ids=["plain", "meta", "hybrid"], namespace="ns").vectors
    assert {vid: plain(vector) for vid, vector in over_rest.items()} == got


def test_sparse_index_round_trip_and_query(server: ServerProcess, pc: Pinecone) -> None:
    _create(pc, "sparse", metric="dotproduct", vector_type="sparse")
    index = grpc_index(server, "sparse")
    index.upsert(
        vectors=[
            {"id": "s1", "sparse_values": {"indices": [1, 2], "values": [1.0, 2.0]}},
            {"id": "s2", "sparse_values": {"indices": [2, 9], "values": [0.5, 4.0]}},
        ]
    )
    found = index.fetch(ids=["s1"]).vectors["s1"]
    assert plain(found)["sparse"] == ([1, 2], [1.0, 2.0]) and plain(found)["values"] == []
    result = index.query(top_k=2, sparse_vector={"indices": [9], "values": [1.0]})
    assert (result.matches[0].id, result.matches[0].score) == ("s2", 4.0)
    with pytest.raises(ApiError, match="Sparse indexes take no dense values"):
        index.upsert(vectors=[{"id": "d", "values": [1.0]}])


def test_query_by_vector_and_by_id_with_filter(server: ServerProcess, pc: Pinecone) -> None:
    rest = _create(pc, "query", dimension=2, metric="cosine")
    index = grpc_index(server, "query")
    index.upsert(
        vectors=[
            {"id": "east", "values": [1.0, 0.0], "metadata": {"kind": "x"}},
            {"id": "north", "values": [0.0, 1.0], "metadata": {"kind": "y"}},
            {"id": "northeast", "values": [1.0, 1.0], "metadata": {"kind": "x"}},
        ]
    )
    by_vector = index.query(vector=[1.0, 0.1], top_k=2, include_metadata=True)
    assert [m.id for m in by_vector.matches] == ["east", "northeast"]
    assert by_vector.matches[0].metadata == {"kind": "x"} and by_vector.matches[0].values == []
    filtered = index.query(vector=[0.0, 1.0], top_k=3, filter={"kind": {"$eq": "x"}}, include_values=True)
    assert [m.id for m in filtered.matches] == ["northeast", "east"]
    assert list(filtered.matches[0].values) == [1.0, 1.0]
    nested = {"$and": [{"kind": {"$in": ["x", "z"]}}, {"$or": [{"kind": {"$ne": "y"}}, {"kind": "y"}]}]}
    assert sorted(m.id for m in index.query(vector=[1.0, 1.0], top_k=3, filter=nested).matches) == [
        "east",
        "northeast",
    ]
    by_id = index.query(id="north", top_k=1)
    assert [m.id for m in by_id.matches] == ["north"]
    over_rest = rest.query(vector=[1.0, 0.1], top_k=2)
    assert [(m.id, round(m.score, 5)) for m in over_rest.matches] == [
        (m.id, round(m.score, 5)) for m in by_vector.matches
    ]


def test_list_pages_through_every_id_in_order(server: ServerProcess, pc: Pinecone) -> None:
    _create(pc, "listing", dimension=2)
    index = grpc_index(server, "listing")
    ids = [f"doc-{i:03d}" for i in range(250)] + ["other-1"]
    for start in range(0, len(ids), 100):
        index.upsert(
            vectors=[{"id": i, "values": [1.0, 0.5]} for i in ids[start : start + 100]], namespace="n"
        )
    pages: list[list[str]] = []
    token = None
    while True:
        page = index.list_paginated(namespace="n", prefix="doc-", limit=100, pagination_token=token)
        pages.append([item.id for item in page.vectors])
        token = page.pagination.next if page.pagination else None
        if not token:
            break
    assert [len(p) for p in pages] == [100, 100, 50]
    assert [i for p in pages for i in p] == sorted(i for i in ids if i.startswith("doc-"))


def test_fetch_of_a_thousand_ids(server: ServerProcess, pc: Pinecone) -> None:
    _create(pc, "thousand", dimension=8)
    index = grpc_index(server, "thousand")
    ids = [f"r{i:04d}" for i in range(1000)]
    for start in range(0, 1000, 250):
        batch = ids[start : start + 250]
        index.upsert(vectors=[{"id": i, "values": [float(n)] * 8} for n, i in enumerate(batch, start)])
    fetched = index.fetch(ids=ids)
    assert len(fetched.vectors) == 1000
    assert list(fetched.vectors["r0999"].values) == [999.0] * 8
    assert fetched.usage is not None and fetched.usage.read_units == 100


def test_update_delete_and_stats(server: ServerProcess, pc: Pinecone) -> None:
    _create(pc, "writes", dimension=2, metric="dotproduct")
    index = grpc_index(server, "writes")
    index.upsert(
        vectors=[{"id": f"v{i}", "values": [1.0, float(i)], "metadata": {"group": i % 2}} for i in range(10)],
        namespace="w",
    )
    index.update(id="v1", values=[9.0, 9.0], set_metadata={"note": "changed"}, namespace="w")
    fetched = index.fetch(ids=["v1"], namespace="w").vectors["v1"]
    assert list(fetched.values) == [9.0, 9.0]
    assert fetched.metadata == {"group": 1.0, "note": "changed"}
    matched = index.update(filter={"group": {"$eq": 0}}, set_metadata={"even": True}, namespace="w")
    assert matched.matched_records == 5
    assert index.fetch(ids=["v4"], namespace="w").vectors["v4"].metadata == {"group": 0.0, "even": True}
    index.delete(ids=["v0", "v1"], namespace="w")
    index.delete(filter={"group": {"$eq": 1}}, namespace="w")
    assert sorted(index.fetch(ids=[f"v{i}" for i in range(10)], namespace="w").vectors) == [
        "v2",
        "v4",
        "v6",
        "v8",
    ]
    stats = index.describe_index_stats()
    assert stats.total_vector_count == 4 and stats.dimension == 2 and stats.metric == "dotproduct"
    assert stats.namespaces["w"].vector_count == 4
    index.delete(delete_all=True, namespace="w")
    assert index.describe_index_stats().total_vector_count == 0


def test_namespaces_and_fetch_by_metadata(server: ServerProcess, pc: Pinecone) -> None:
    _create(pc, "spaces", dimension=2)
    index = grpc_index(server, "spaces")
    created = index.create_namespace(name="made", schema={"fields": {"genre": {"filterable": True}}})
    assert created.name == "made" and created.record_count == 0
    assert created.schema is not None and set(created.schema.fields) == {"genre"}
    index.upsert(
        vectors=[
            {"id": f"m{i}", "values": [1.0, 0.0], "metadata": {"genre": "a" if i < 3 else "b"}}
            for i in range(5)
        ],
        namespace="made",
    )
    index.upsert(vectors=[{"id": "x", "values": [0.0, 1.0]}], namespace="other")
    described = index.describe_namespace(namespace="made")
    assert described.record_count == 5
    listed = index.list_namespaces_paginated(limit=1)
    assert [ns.name for ns in listed.namespaces] == ["made"] and listed.pagination is not None
    rest_of = index.list_namespaces_paginated(limit=10, pagination_token=listed.pagination.next)
    assert [ns.name for ns in rest_of.namespaces] == ["other"]
    page = index.fetch_by_metadata(filter={"genre": {"$eq": "a"}}, namespace="made", limit=2)
    assert sorted(page.vectors) == ["m0", "m1"] and page.pagination is not None
    last = index.fetch_by_metadata(
        filter={"genre": {"$eq": "a"}}, namespace="made", limit=2, pagination_token=page.pagination.next
    )
    assert sorted(last.vectors) == ["m2"] and not last.pagination
    index.delete_namespace(namespace="other")
    assert [ns.name for ns in index.list_namespaces_paginated().namespaces] == ["made"]


def test_a_record_written_over_one_transport_is_read_over_the_other(
    server: ServerProcess, pc: Pinecone
) -> None:
    rest = _create(pc, "both", dimension=3)
    over_grpc = grpc_index(server, "both")
    rest.upsert(vectors=[{"id": "from-rest", "values": [1, 2, 3], "metadata": {"n": 1}}], namespace="b")
    over_grpc.upsert(vectors=[{"id": "from-grpc", "values": [4, 5, 6], "metadata": {"n": 2}}], namespace="b")
    seen_by_grpc = over_grpc.fetch(ids=["from-rest"], namespace="b").vectors["from-rest"]
    seen_by_rest = rest.fetch(ids=["from-grpc"], namespace="b").vectors["from-grpc"]
    assert plain(seen_by_grpc) == {
        "id": "from-rest",
        "values": [1.0, 2.0, 3.0],
        "sparse": None,
        "metadata": {"n": 1.0},
    }
    assert plain(seen_by_rest) == {
        "id": "from-grpc",
        "values": [4.0, 5.0, 6.0],
        "sparse": None,
        "metadata": {"n": 2.0},
    }


def test_update_of_sparse_values_dry_run_and_a_refused_stats_filter(
    server: ServerProcess, pc: Pinecone
) -> None:
    rest = _create(pc, "details", dimension=2, metric="dotproduct")
    index = grpc_index(server, "details")
    index.upsert(vectors=[{"id": f"d{i}", "values": [1.0, 1.0], "metadata": {"k": "v"}} for i in range(3)])
    index.update(id="d0", sparse_values={"indices": [5], "values": [2.5]})
    assert plain(index.fetch(ids=["d0"]).vectors["d0"])["sparse"] == ([5], [2.5])
    assert plain(rest.fetch(ids=["d0"]).vectors["d0"])["sparse"] == ([5], [2.5])
    dry = index.update(filter={"k": {"$eq": "v"}}, set_metadata={"k": "w"}, dry_run=True)
    assert dry.matched_records == 3
    assert index.fetch(ids=["d1"]).vectors["d1"].metadata == {"k": "v"}
    with pytest.raises(ApiError) as refused:
        index.describe_index_stats(filter={"k": {"$eq": "v"}})
    assert "Serverless indexes do not support filtering describe_index_stats" in str(refused.value)
