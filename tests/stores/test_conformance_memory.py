"""The in-memory store passes the conformance suite, enforces its limits and injects the faults asked for."""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pytest

from pinecone_migrator.errors import RecordsRejected, RemoteError
from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import Capabilities, IndexShape
from pinecone_migrator.stores.memory import Faults, MemoryStore

from .conformance import SHAPE, SOURCE, Harness, StoreConformance


class MemoryHarness(Harness):
    def filled(self, contents: dict[str, list[Record]], shape: IndexShape = SHAPE) -> MemoryStore:
        store = MemoryStore("filled", shape)
        for namespace, records in contents.items():
            for start in range(0, len(records), 1_000):
                store.write(namespace, records[start : start + 1_000])
        return store

    def empty(self) -> MemoryStore:
        store = MemoryStore("empty")
        store.create_like(SOURCE)
        return store

    def missing(self) -> MemoryStore:
        return MemoryStore("missing")


@pytest.fixture(scope="module")
def harness() -> Harness:
    return MemoryHarness()


class TestMemoryStore(StoreConformance):
    pass


# -- what only the memory store has: its limits enforced, and faults on demand -------------------------------


def _store(**options: Any) -> MemoryStore:
    return MemoryStore("m", SHAPE, **options)


def _record(n: int) -> Record:
    return Record(id=f"r{n:04d}", values=np.full(4, n, np.float32), metadata={"n": n})


def test_requests_beyond_the_limits_are_refused_as_pinecone_refuses_them() -> None:
    store = _store(
        limits=Capabilities(
            max_write_records=3, max_write_bytes=400, max_delete_ids=2, max_fetch_ids=2, max_list_page=2
        )
    )
    with pytest.raises(RecordsRejected, match="4 records exceed 3"):
        store.write("ns", [_record(n) for n in range(4)])
    with pytest.raises(RecordsRejected, match="bytes exceed 400"):
        store.write("ns", [Record(id="big", values=np.ones(4, np.float32), metadata={"t": "x" * 400})])
    assert store.write("ns", [_record(n) for n in range(3)]).count == 3
    for call in (
        lambda: store.list_ids("ns", limit=3),
        lambda: store.list_ids("ns", limit=0),
        lambda: store.fetch("ns", ["a", "b", "c"]),
        lambda: store.delete("ns", ["a", "b", "c"]),
    ):
        with pytest.raises(RemoteError) as refused:
            call()
        assert refused.value.status == 400 and not refused.value.retryable
    assert store.describe().namespace_counts == {"ns": 3}


def test_injected_failures_throttles_and_latency() -> None:
    heard: list[int] = []
    store = _store(faults=Faults(failure_rate=1.0, operations=frozenset({"upsert"})))
    store.set_throttle_listener(lambda: heard.append(1))
    with pytest.raises(RemoteError) as failed:
        store.write("ns", [_record(1)])
    assert failed.value.retryable and failed.value.status == 503 and store.failed == 1
    assert store.records("ns") == {} and store.list_ids("ns").ids == []  # a failed write wrote nothing

    store.faults = Faults(throttle_rate=1.0, latency_seconds=0.02)
    started = time.monotonic()
    assert store.write("ns", [_record(1)]).count == 1  # throttled, then served
    assert time.monotonic() - started >= 0.02
    assert heard == [1] and store.throttled == 1

    store.faults = Faults(failing_calls=frozenset({("fetch", 2)}))
    store.fetch("ns", ["r0001"])
    with pytest.raises(RemoteError):
        store.fetch("ns", ["r0001"])
    assert len(store.fetch("ns", ["r0001"])) == 1
    assert store.calls["fetch"] == 3


def test_a_refusal_rule_refuses_the_whole_write() -> None:
    store = _store(faults=Faults(refuse=lambda r: "odd" if r.metadata["n"] == 3 else None))
    with pytest.raises(RecordsRejected, match=r"r0003.*odd"):
        store.write("ns", [_record(2), _record(3)])
    assert store.records("ns") == {}
    store.write("ns", [_record(2)])
    assert list(store.records("ns")) == ["r0002"]


def test_what_is_stored_shares_nothing_with_the_caller() -> None:
    store = _store()
    record = Record(id="r", values=np.ones(4, np.float32), metadata={"tags": ["a"]})
    store.write("ns", [record])
    record.metadata["tags"].append("changed after the write")  # type: ignore[union-attr]
    fetched = store.fetch("ns", ["r"])[0]
    fetched.metadata["tags"].append("changed after the fetch")  # type: ignore[union-attr]
    assert store.fetch("ns", ["r"])[0].metadata == {"tags": ["a"]}
