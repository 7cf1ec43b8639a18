"""Stamp mode over in-memory stores: every way of finding unstamped records, a pacer shared by threads, and
429s that slow the stamping down as they slow migrate."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.engine.sync.stamping import Pacer, StampOptions, StampPass, reset_stamps
from pinecone_migrator.engine.sync.state import PassRecord, SyncState
from pinecone_migrator.filters import compile_filter
from pinecone_migrator.records import Record, SparseValues
from pinecone_migrator.stores.base import Capabilities, IndexShape
from pinecone_migrator.stores.memory import Faults, MemoryStore

SHAPE = IndexShape(vector_type="dense", metric="dotproduct", dimension=4)
FAST = 1_000_000.0  # stamps per second: pacing out of the way


class PodLike(MemoryStore):
    """A source that cannot list nor fetch by metadata, only query with a filter (a pod-based index)."""

    def query_ids(
        self,
        namespace: str,
        *,
        top_k: int,
        vector: Any = None,
        sparse: SparseValues | None = None,
        metadata_filter: dict[str, Any] | None = None,
    ) -> list[str]:
        matches = compile_filter(metadata_filter or {})
        return [r.id for r in self.records(namespace).values() if matches(r.metadata)][:top_k]


def _source(count: int, store: type[MemoryStore] = MemoryStore, **kwargs: Any) -> MemoryStore:
    source = store("src", SHAPE, **kwargs)
    rng = np.random.default_rng(7)
    records = [
        Record(f"id-{n:05d}", rng.standard_normal(4).astype(np.float32), None, {"n": n, "kind": "doc"})
        for n in range(count)
    ]
    for start in range(0, count, 500):
        source.write("ns", records[start : start + 500])
    return source


def _stamp(
    tmp_path: Path, source: MemoryStore, target: MemoryStore, options: StampOptions | None = None
) -> PassRecord:
    request = MigrationRequest(source=Endpoint("src", None), target=Endpoint("dst", None), namespaces=("ns",))
    with SyncState(tmp_path / "state.sqlite", {"mode": "stamp"}) as state:
        return StampPass(
            request, options or StampOptions(stamps_per_second=FAST), source, target, state, threading.Event()
        ).run()


def _unstamped(record: Record) -> Record:
    metadata = {k: v for k, v in record.metadata.items() if k not in ("migrated", "migrated_at")}
    return Record(record.id, record.values, record.sparse, metadata)


def _assert_copied_and_stamped(source: MemoryStore, target: MemoryStore, count: int) -> None:
    held, copied = source.records("ns"), target.records("ns")
    assert len(held) == len(copied) == count
    assert all(r.metadata["migrated"] is True for r in held.values())
    assert {i: _unstamped(r).metadata for i, r in held.items()} == {i: r.metadata for i, r in copied.items()}


@pytest.mark.parametrize(
    "limits",
    [Capabilities(can_fetch_by_metadata=True), Capabilities(can_fetch_by_metadata=False)],
    ids=["filtered-by-the-store", "listed-and-filtered-here"],
)
def test_a_pass_copies_and_stamps_every_record_and_the_next_finds_nothing(
    tmp_path: Path, limits: Capabilities
) -> None:
    source, target = _source(730, limits=limits), MemoryStore("dst")
    first = _stamp(tmp_path, source, target)
    assert (first.state, first.listed, first.new, first.dead) == ("done", 730, 730, 0)
    _assert_copied_and_stamped(source, target, 730)
    assert "fetch by metadata" in source.calls if limits.can_fetch_by_metadata else "list" in source.calls
    again = _stamp(tmp_path, source, target)
    assert (again.listed, again.new) == (0, 0)
    removed = reset_stamps(source, ["ns"], threading.Event(), lambda ns, n: None)
    assert removed == 730 and all("migrated" not in r.metadata for r in source.records("ns").values())


def test_a_source_that_only_queries_is_swept_until_no_unstamped_record_is_left(tmp_path: Path) -> None:
    source = _source(2_500, PodLike, limits=Capabilities(can_list=False, can_fetch_by_metadata=False))
    refused = "id-01234"
    target = MemoryStore("dst", faults=Faults(refuse=lambda r: "no" if r.id == refused else None))
    # 1,000 IDs per query: the later queries find the rest only because the records found first were stamped
    # before them; the refused record is never stamped, and seen again, ends the sweep.
    done = _stamp(tmp_path, source, target)
    assert (done.state, done.new, done.dead) == ("done", 2_499, 1)
    assert "list" not in source.calls
    unstamped = [r.id for r in source.records("ns").values() if "migrated" not in r.metadata]
    assert unstamped == [refused] and len(target.records("ns")) == 2_499


def _waits(pacer: Pacer, stop: threading.Event, times: int) -> None:
    for _ in range(times):
        pacer.wait(stop)


def test_one_pacer_keeps_the_rate_of_every_thread_sharing_it() -> None:
    pacer, stop = Pacer(200.0), threading.Event()
    started = time.monotonic()
    threads = [threading.Thread(target=_waits, args=(pacer, stop, 10)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert time.monotonic() - started >= 29 / 200 * 0.95  # 30 calls: 29 intervals, whatever the threads


def test_429s_slow_the_stamping_down_so_fewer_requests_are_sent(tmp_path: Path) -> None:
    sent: dict[bool, int] = {}
    for adaptive in (True, False):
        # a target that writes three batches at a time and answers 429 to more (sent again a moment later)
        target = MemoryStore(
            "dst", faults=Faults(room=3, service_seconds=0.03, operations=frozenset({"upsert"}))
        )
        source = _source(4_000)
        done = _stamp(
            tmp_path / str(adaptive),
            source,
            target,
            StampOptions(stamps_per_second=FAST, concurrency=4, adaptive=adaptive),
        )
        assert (done.state, done.new) == ("done", 4_000)
        _assert_copied_and_stamped(source, target, 4_000)
        sent[adaptive] = target.refused["upsert"]
    assert sent[True] < sent[False] / 2, sent  # half the 429s, or fewer
