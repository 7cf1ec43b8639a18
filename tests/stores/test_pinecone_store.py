"""The Pinecone store against the local server: control plane through the official SDK, records over REST."""

from __future__ import annotations

import random

import httpx
import numpy as np
import pytest

from pinecone_migrator.errors import RecordsRejected, UserError
from pinecone_migrator.records import Record, SparseValues
from pinecone_migrator.server.context import ServerConfig
from pinecone_migrator.server.runner import BackgroundServer
from pinecone_migrator.stores.base import DEFAULT_NAMESPACE, IndexShape, StoreDescription
from pinecone_migrator.stores.pinecone.store import PineconeStore, RetryPolicy, fetch_batches

FAST_RETRY = RetryPolicy(attempts=40, base_seconds=0.01, max_seconds=0.05, budget_seconds=10)
SOURCE = StoreDescription(
    name="src",
    shape=IndexShape(vector_type="dense", metric="dotproduct", dimension=4),
    namespace_counts={},
    cloud="aws",
    region="us-east-1",
    tags={"team": "search"},
)


def _records(count: int, seed: int = 0) -> list[Record]:
    rng = np.random.default_rng(seed)
    return [
        Record(
            id=f"doc {i}#chunk/{i % 3}",
            values=rng.standard_normal(4).astype(np.float32),
            sparse=SparseValues(indices=np.array([i, i + 7], dtype=np.uint32), values=np.ones(2, np.float32))
            if i % 2
            else None,
            metadata={"n": i, "even": i % 2 == 0, "tags": ["x", str(i)], "title": f"t{i}"},
        )
        for i in range(count)
    ]


@pytest.fixture
def store(server: BackgroundServer) -> PineconeStore:
    target = PineconeStore("dst", api_key="k", control_host=server.url, retry=FAST_RETRY, seed=1)
    target.create_like(SOURCE)
    return target


def test_create_like_copies_the_shape_and_tags(store: PineconeStore) -> None:
    description = store.describe()
    assert description.shape == SOURCE.shape
    assert description.tags == {"team": "search"}
    assert (description.cloud, description.region) == ("aws", "us-east-1")
    assert store.capabilities().can_list


def test_write_list_fetch_round_trip(store: PineconeStore) -> None:
    records = _records(250)
    ack = store.write("ns", records[:200])
    store.write(DEFAULT_NAMESPACE, records[200:])
    assert ack.count == 200 and ack.lsn is not None
    listed: list[str] = []
    cursor = None
    while True:
        page = store.list_ids("ns", cursor=cursor, limit=37)
        listed += page.ids
        cursor = page.cursor
        if cursor is None:
            break
    assert listed == sorted(r.id for r in records[:200])
    fetched = {r.id: r for r in store.fetch("ns", listed)}
    assert fetched == {r.id: r for r in records[:200]}
    default = {r.id: r for r in store.fetch(DEFAULT_NAMESPACE, [r.id for r in records[200:]])}
    assert default == {r.id: r for r in records[200:]}
    assert store.describe().namespace_counts == {"ns": 200, DEFAULT_NAMESPACE: 50}


def test_fetch_batches_respect_count_and_url_length() -> None:
    ids = [f"{'x' * 500}{i}" for i in range(100)] + [str(i) for i in range(2500)]
    batches = list(fetch_batches(ids, max_ids=1000, max_url_bytes=12_000))
    assert [i for b in batches for i in b] == ids
    assert all(len(b) <= 1000 for b in batches)
    assert all(sum(len(i) + 5 for i in b) <= 12_000 for b in batches)


def test_a_refused_batch_is_reported_not_retried(store: PineconeStore) -> None:
    big = Record(id="big", values=np.ones(4, np.float32), sparse=None, metadata={"text": "x" * 50_000})
    with pytest.raises(RecordsRejected) as refused:
        store.write("ns", [big])
    assert "40960" in refused.value.reason
    with pytest.raises(RecordsRejected) as non_ascii:
        store.write("ns", [Record(id="caf\u00e9", values=np.ones(4, np.float32), sparse=None, metadata={})])
    assert "ASCII" in str(non_ascii.value)


def test_transient_errors_are_retried_until_success(server: BackgroundServer, store: PineconeStore) -> None:
    store.describe()
    httpx.put(f"{server.url}/_admin/faults", json={"rate_503": 0.5, "rate_429": 0.2, "seed": 3})
    records = _records(60, seed=2)
    for start in range(0, 60, 10):
        store.write("flaky", records[start : start + 10])
    httpx.post(f"{server.url}/_admin/faults/reset")
    assert {r.id for r in store.fetch("flaky", [r.id for r in records])} == {r.id for r in records}
    counters = httpx.get(f"{server.url}/_admin/faults").json()["counters"]
    assert counters["requests"] > 0


def test_wrong_key_is_bad_input_and_never_shown() -> None:
    with BackgroundServer(ServerConfig(port=0, api_key="right-key")) as running:
        wrong = PineconeStore("any", api_key="wrong-key-value", control_host=running.url, retry=FAST_RETRY)
        with pytest.raises(UserError, match="refused the API key") as failed:
            wrong.describe()
        assert "wrong-key-value" not in str(failed.value)


def test_missing_index_is_bad_input_naming_it(server: BackgroundServer) -> None:
    missing = PineconeStore("nope", api_key="k", control_host=server.url, retry=FAST_RETRY)
    assert not missing.exists()
    with pytest.raises(UserError, match=r"index 'nope' at .* does not exist"):
        missing.describe()


def test_pod_index_cannot_list(server: BackgroundServer) -> None:
    httpx.post(
        f"{server.url}/indexes",
        json={
            "name": "pod",
            "dimension": 2,
            "metric": "cosine",
            "spec": {"pod": {"environment": "e", "pod_type": "p1.x1"}},
        },
        headers={"X-Pinecone-Api-Version": "2025-10"},
    )
    assert not PineconeStore("pod", api_key="k", control_host=server.url).capabilities().can_list


def test_random_shapes_survive(store: PineconeStore) -> None:
    rng = random.Random(5)
    ids = ["".join(rng.choices("ab/# -_.:", k=rng.randint(1, 40))) for _ in range(50)]
    records = [Record(id=i, values=np.ones(4, np.float32), sparse=None, metadata={}) for i in set(ids)]
    store.write("shapes", records)
    assert {r.id for r in store.fetch("shapes", [r.id for r in records])} == {r.id for r in records}


def test_waiting_for_freshness_sees_writes_made_under_a_visibility_delay() -> None:
    with BackgroundServer(ServerConfig(port=0)) as running:
        store = PineconeStore("fresh", api_key="k", control_host=running.url, retry=FAST_RETRY)
        store.create_like(SOURCE)
        store.describe()
        httpx.put(f"{running.url}/_admin/faults", json={"visibility_delay_ms": 700})
        records = _records(20, seed=4)
        ack = store.write("ns", records)
        assert ack.lsn is not None and store.written_lsns() == {"ns": ack.lsn}
        assert store.fetch("ns", [r.id for r in records]) == []  # not visible yet
        assert store.wait_until_indexed("ns", ack.lsn, timeout_seconds=0.1) is False
        assert store.wait_until_indexed("ns", ack.lsn, timeout_seconds=10) is True
        assert {r.id: r for r in store.fetch("ns", [r.id for r in records])} == {r.id: r for r in records}
