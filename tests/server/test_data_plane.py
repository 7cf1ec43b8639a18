"""Every data-plane operation through the official SDK 10.x against the local server."""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np
import pytest
from pinecone import Pinecone
from pinecone.errors.exceptions import ApiError as SdkApiError

from pinecone_migrator.server.context import ServerConfig
from pinecone_migrator.server.runner import BackgroundServer

from ..helpers import all_ids, as_plain, dense_index, expected, f32, random_records, sparse_index


def _fetch_all(index: Any, ids: list[str], namespace: str = "") -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), 500):
        response = index.fetch(ids=ids[start : start + 500], namespace=namespace)
        found.update({k: as_plain(v) for k, v in response.vectors.items()})
    return found


def test_upsert_fetch_round_trip_is_exact(pc: Pinecone) -> None:
    index = dense_index(pc, "exact", dimension=16, metric="dotproduct")
    records = random_records(300, 16, random.Random(1), sparse=True)
    records[0]["metadata"] = {
        "int": 7,
        "float": 0.1,
        "neg": -3.5,
        "big": 2**53,
        "bool": False,
        "empty_list": [],
        "order": ["z", "a", "m", "a"],
        "unicode": "naïve – 東京",
        "gone": None,
    }
    records[1]["values"] = [1e-30, -1e30, 0.0, -0.0] + [0.333333343267] * 12
    index.upsert(vectors=records, namespace="ns")
    got = _fetch_all(index, [r["id"] for r in records], "ns")
    assert got == {r["id"]: expected(r) for r in records}
    assert "gone" not in got[records[0]["id"]]["metadata"]
    assert got[records[0]["id"]]["metadata"]["order"] == ["z", "a", "m", "a"]
    assert isinstance(got[records[0]["id"]]["metadata"]["bool"], bool)


def test_fetch_of_missing_ids_returns_only_existing(pc: Pinecone) -> None:
    index = dense_index(pc, "missing", dimension=4)
    index.upsert(vectors=[{"id": "a", "values": [1, 2, 3, 4]}])
    response = index.fetch(ids=["a", "b", "a"])
    assert sorted(response.vectors) == ["a"]


def test_upsert_overwrites_whole_record(pc: Pinecone) -> None:
    index = dense_index(pc, "overwrite", dimension=2, metric="dotproduct")
    index.upsert(
        vectors=[
            {
                "id": "x",
                "values": [1, 1],
                "sparse_values": {"indices": [1], "values": [1]},
                "metadata": {"a": 1},
            }
        ]
    )
    index.upsert(vectors=[{"id": "x", "values": [2, 2], "metadata": {"b": "y"}}])
    got = as_plain(index.fetch(ids=["x"]).vectors["x"])
    assert got == {"id": "x", "values": [2.0, 2.0], "metadata": {"b": "y"}}
    assert index.describe_index_stats().total_vector_count == 1


def test_list_is_bytewise_paginated_and_prefixed(pc: Pinecone) -> None:
    index = dense_index(pc, "listing", dimension=2)
    ids = [
        "b",
        "B",
        "a",
        "a1",
        "a10",
        "a2",
        "A",
        "_",
        "-",
        "~",
        "0",
        "9",
        "a#",
        "doc1#chunk2",
        "doc1#chunk10",
    ]
    ids += [f"doc2#{i}" for i in range(250)]
    for start in range(0, len(ids), 100):
        index.upsert(vectors=[{"id": i, "values": [1, 0]} for i in ids[start : start + 100]], namespace="n")
    listed = all_ids(index, namespace="n", limit=7)
    assert listed == sorted(ids, key=lambda s: s.encode())
    assert len(set(listed)) == len(listed)
    assert all_ids(index, namespace="n", prefix="doc1#") == ["doc1#chunk10", "doc1#chunk2"]
    assert all_ids(index, namespace="n", prefix="nothing") == []
    first = index.list_paginated(namespace="n", limit=100)
    assert len(first.vectors) == 100 and first.pagination is not None
    second = index.list_paginated(namespace="n", limit=100, pagination_token=first.pagination.next)
    assert second.vectors[0].id > first.vectors[-1].id


def test_list_of_last_page_has_no_token(pc: Pinecone) -> None:
    index = dense_index(pc, "lastpage", dimension=2)
    index.upsert(vectors=[{"id": f"i{n}", "values": [1, 0]} for n in range(5)])
    page = index.list_paginated(limit=5)
    assert [v.id for v in page.vectors] == [f"i{n}" for n in range(5)]
    assert page.pagination is None or not page.pagination.next


@pytest.mark.parametrize("metric", ["cosine", "euclidean", "dotproduct"])
def test_query_scores_match_exact_reference(pc: Pinecone, metric: str) -> None:
    dim = 12
    index = dense_index(pc, f"q-{metric}", dimension=dim, metric=metric)
    records = random_records(200, dim, random.Random(2))
    index.upsert(vectors=records)
    query = [random.Random(3).uniform(-1, 1) for _ in range(dim)]
    result = index.query(vector=query, top_k=10, include_values=True, include_metadata=True)
    matrix = np.array([f32(r["values"]) for r in records], dtype=np.float64)
    q = np.array(f32(query), dtype=np.float64)
    if metric == "cosine":
        ref = matrix @ q / (np.linalg.norm(matrix, axis=1) * np.linalg.norm(q))
    elif metric == "euclidean":
        ref = ((matrix - q) ** 2).sum(axis=1)
    else:
        ref = matrix @ q
    order = np.argsort(ref if metric == "euclidean" else -ref)[:10]
    assert [m.id for m in result.matches] == [records[i]["id"] for i in order]
    for match, i in zip(result.matches, order, strict=True):
        assert match.score == pytest.approx(ref[i], rel=1e-5, abs=1e-6)
        assert f32(match.values) == f32(records[i]["values"])
        assert match.metadata == records[i]["metadata"]


def test_query_by_id_filter_and_includes(pc: Pinecone) -> None:
    index = dense_index(pc, "qfilter", dimension=4)
    records = random_records(100, 4, random.Random(4))
    index.upsert(vectors=records, namespace="x")
    result = index.query(id=records[0]["id"], top_k=1, namespace="x")
    assert result.matches[0].id == records[0]["id"]
    assert result.matches[0].score == pytest.approx(1.0, abs=1e-5)
    assert not result.matches[0].values and not result.matches[0].metadata
    recent = index.query(
        vector=[1, 0, 0, 0], top_k=100, namespace="x", filter={"year": {"$gte": 2010}}, include_metadata=True
    )
    assert {m.id for m in recent.matches} == {r["id"] for r in records if r["metadata"]["year"] >= 2010}
    assert index.query(id="absent", top_k=3, namespace="x").matches == []


def test_sparse_index_round_trip_and_query(pc: Pinecone) -> None:
    index = sparse_index(pc, "sparse")
    vectors = [
        {"id": "s1", "sparse_values": {"indices": [1, 10, 4_294_967_295], "values": [0.5, 0.25, 2.0]}},
        {"id": "s2", "sparse_values": {"indices": [10, 20], "values": [1.0, 1.0]}},
        {"id": "s3", "sparse_values": {"indices": [99], "values": [3.0]}, "metadata": {"k": "v"}},
    ]
    index.upsert(vectors=vectors)
    got = {k: as_plain(v) for k, v in index.fetch(ids=["s1", "s2", "s3"]).vectors.items()}
    assert got == {v["id"]: expected(v) for v in vectors}
    result = index.query(sparse_vector={"indices": [10, 4_294_967_295], "values": [2.0, 1.0]}, top_k=10)
    assert [(m.id, m.score) for m in result.matches] == [
        ("s1", pytest.approx(2.5)),
        ("s2", pytest.approx(2.0)),
    ]
    stats = index.describe_index_stats()
    assert stats.total_vector_count == 3


def test_hybrid_query_adds_dense_and_sparse_dot_products(pc: Pinecone) -> None:
    index = dense_index(pc, "hybrid", dimension=2, metric="dotproduct")
    index.upsert(
        vectors=[
            {"id": "h1", "values": [1, 0], "sparse_values": {"indices": [5], "values": [10.0]}},
            {"id": "h2", "values": [0, 3], "sparse_values": {"indices": [6], "values": [1.0]}},
        ]
    )
    result = index.query(vector=[1, 1], sparse_vector={"indices": [5], "values": [0.5]}, top_k=2)
    assert [(m.id, m.score) for m in result.matches] == [
        ("h1", pytest.approx(6.0)),
        ("h2", pytest.approx(3.0)),
    ]


def test_update_by_id_values_sparse_and_metadata_merge(pc: Pinecone) -> None:
    index = dense_index(pc, "upd", dimension=2, metric="dotproduct")
    index.upsert(vectors=[{"id": "u", "values": [1, 2], "metadata": {"a": 1, "b": "keep"}}])
    index.update(id="u", set_metadata={"a": 2, "c": ["x"]})
    assert as_plain(index.fetch(ids=["u"]).vectors["u"])["metadata"] == {"a": 2, "b": "keep", "c": ["x"]}
    index.update(id="u", values=[3, 4], sparse_values={"indices": [7], "values": [0.5]})
    got = as_plain(index.fetch(ids=["u"]).vectors["u"])
    assert got["values"] == [3.0, 4.0]
    assert got["sparse_values"] == {"indices": [7], "values": [0.5]}
    assert got["metadata"] == {"a": 2, "b": "keep", "c": ["x"]}


def test_update_by_filter_with_dry_run(pc: Pinecone) -> None:
    index = dense_index(pc, "updf", dimension=2)
    index.upsert(
        vectors=[{"id": f"r{i}", "values": [1, i], "metadata": {"even": i % 2 == 0}} for i in range(10)]
    )
    dry = index.update(filter={"even": True}, set_metadata={"seen": True}, dry_run=True)
    assert dry.matched_records == 5
    assert index.fetch_by_metadata(filter={"seen": True}).vectors == {}
    real = index.update(filter={"even": True}, set_metadata={"seen": True})
    assert real.matched_records == 5
    assert sorted(index.fetch_by_metadata(filter={"seen": True}).vectors) == ["r0", "r2", "r4", "r6", "r8"]


def test_delete_by_ids_filter_and_all(pc: Pinecone) -> None:
    index = dense_index(pc, "del", dimension=2)
    index.upsert(
        vectors=[{"id": f"d{i}", "values": [1, i], "metadata": {"n": i}} for i in range(20)], namespace="a"
    )
    index.upsert(vectors=[{"id": "keep", "values": [1, 1]}], namespace="b")
    index.delete(ids=["d0", "d1", "nope"], namespace="a")
    index.delete(filter={"n": {"$lt": 5}}, namespace="a")
    assert all_ids(index, namespace="a") == sorted(f"d{i}" for i in range(5, 20))
    index.delete(delete_all=True, namespace="a")
    stats = index.describe_index_stats()
    assert {ns: s.vector_count for ns, s in stats.namespaces.items()} == {"b": 1}


def test_describe_index_stats_counts_per_namespace(pc: Pinecone) -> None:
    index = dense_index(pc, "stats", dimension=3, metric="euclidean")
    index.upsert(vectors=[{"id": f"x{i}", "values": [0, 0, i]} for i in range(7)])
    index.upsert(
        vectors=[{"id": f"y{i}", "values": [0, 1, i], "metadata": {"g": i % 3}} for i in range(9)],
        namespace="y",
    )
    stats = index.describe_index_stats()
    assert stats.dimension == 3
    assert stats.total_vector_count == 16
    assert {ns: s.vector_count for ns, s in stats.namespaces.items()} == {"__default__": 7, "y": 9}
    with pytest.raises(SdkApiError, match="do not support filtering"):  # serverless: Pinecone's 400
        index.describe_index_stats(filter={"g": 0})


def test_fetch_by_metadata_pages_through_matches(pc: Pinecone) -> None:
    index = dense_index(pc, "fbm", dimension=2)
    index.upsert(
        vectors=[
            {"id": f"m{i:03d}", "values": [1, i], "metadata": {"t": "a" if i % 4 else "b"}}
            for i in range(100)
        ]
    )
    seen: list[str] = []
    token = None
    while True:
        page = index.fetch_by_metadata(filter={"t": "a"}, limit=7, pagination_token=token)
        seen.extend(sorted(page.vectors))
        token = page.pagination.next if page.pagination else None
        if not token:
            break
    assert seen == [f"m{i:03d}" for i in range(100) if i % 4]


def test_namespaces_create_list_describe_delete(pc: Pinecone) -> None:
    index = dense_index(pc, "nss", dimension=2)
    index.upsert(vectors=[{"id": "1", "values": [1, 1]}], namespace="filled")
    created = index.create_namespace(name="empty")
    assert created.name == "empty"
    names = {ns.name: ns.record_count for page in index.list_namespaces() for ns in page.namespaces}
    assert names == {"empty": 0, "filled": 1}
    assert index.describe_namespace(name="filled").record_count == 1
    index.delete_namespace(name="filled")
    assert {ns.name for page in index.list_namespaces() for ns in page.namespaces} == {"empty"}
    with pytest.raises(SdkApiError) as missing:
        index.describe_namespace(name="filled")
    assert missing.value.status_code == 404


def test_lsn_headers_are_monotonic_and_reported(pc: Pinecone) -> None:
    index = dense_index(pc, "lsn", dimension=2)
    first = index.upsert(vectors=[{"id": "a", "values": [1, 0]}])
    second = index.upsert(vectors=[{"id": "b", "values": [0, 1]}])
    lsn1 = int(first.response_info.raw_headers["x-pinecone-request-lsn"])
    lsn2 = int(second.response_info.raw_headers["x-pinecone-request-lsn"])
    assert lsn2 > lsn1
    result = index.query(vector=[1, 0], top_k=1)
    assert int(result.response_info.raw_headers["x-pinecone-max-indexed-lsn"]) >= lsn2


def test_visibility_delay_hides_writes_until_indexed() -> None:
    config = ServerConfig(port=0)
    config.faults.visibility_delay_ms = 400
    with BackgroundServer(config) as running:
        pc = Pinecone(api_key="k", host=running.url)
        index = dense_index(pc, "delayed", dimension=2)
        written = index.upsert(vectors=[{"id": "late", "values": [1, 0]}])
        lsn = int(written.response_info.raw_headers["x-pinecone-request-lsn"])
        early = index.fetch(ids=["late"])
        assert early.vectors == {}
        assert int(early.response_info.raw_headers["x-pinecone-max-indexed-lsn"]) < lsn
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            later = index.fetch(ids=["late"])
            if later.vectors:
                break
            time.sleep(0.05)
        assert list(later.vectors) == ["late"]
        assert int(later.response_info.raw_headers["x-pinecone-max-indexed-lsn"]) >= lsn
