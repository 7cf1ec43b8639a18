"""The one walk over an in-memory store: order, positions, resume, stop, failure, limits and 429s."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from pinecone_migrator.engine.pacing import AdaptiveLimit
from pinecone_migrator.engine.walk import (
    Position,
    Walker,
    fetching,
    id_pages,
    listing,
    matching_pages,
    record_pages,
    slowed_by_throttling,
)
from pinecone_migrator.errors import RemoteError
from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import Capabilities, IndexShape
from pinecone_migrator.stores.memory import Faults, MemoryStore

SHAPE = IndexShape(vector_type="dense", metric="cosine", dimension=4)


def _store(count: int, **kwargs: object) -> MemoryStore:
    store = MemoryStore("walked", SHAPE, **kwargs)  # type: ignore[arg-type]
    values = np.ones(4, np.float32)
    records = [Record(id=f"id-{n:05d}", values=values, metadata={"n": n}) for n in range(count)]
    for start in range(0, count, 500):
        store.write("ns", records[start : start + 500])
    store.calls.clear()
    return store


def _walker(pool: ThreadPoolExecutor, concurrency: int = 4, **kwargs: object) -> Walker:
    return Walker(pool, limit=AdaptiveLimit(concurrency), stop=threading.Event(), **kwargs)  # type: ignore[arg-type]


def test_every_record_is_handled_once_and_merged_in_listing_order() -> None:
    store = _store(1_234)
    merged: list[str] = []
    positions: list[Position] = []

    def slow_first(records: list[Record]) -> list[str]:
        if records and records[0].id == "id-00000":
            time.sleep(0.05)  # the first batch finishes last: its merge must still come first
        return [r.id for r in records]

    def merge(ids: list[str], position: Position) -> None:
        merged.extend(ids)
        positions.append(position)

    with ThreadPoolExecutor(4) as pool:
        outcome = _walker(pool).walk(
            listing(store, "ns", page_size=100), fetching(store, "ns", slow_first), merge
        )
    assert outcome.complete and outcome.listed == 1_234
    assert merged == [f"id-{n:05d}" for n in range(1_234)]
    assert positions[-1] == Position(None, 1_234)
    assert [p.listed for p in positions] == sorted(p.listed for p in positions)


def test_batches_coalesce_pages_up_to_the_batch_size_and_obey_the_store_limits() -> None:
    store = _store(1_000, limits=Capabilities(max_list_page=50, max_fetch_ids=200))
    sizes: list[int] = []
    with ThreadPoolExecutor(2) as pool:
        _walker(pool, batch_size=300).walk(
            listing(store, "ns", page_size=100), fetching(store, "ns", len), lambda n, _: sizes.append(n)
        )
    assert store.calls["list"] == 20  # 50 per page: the store's own limit, not the 100 asked for
    assert sizes == [300, 300, 300, 100]  # whole pages per batch, the end handed over with what is left
    assert store.calls["fetch"] == 7  # at most 200 IDs per fetch


def test_a_walk_continues_from_a_checkpoint_and_sees_only_what_follows() -> None:
    store = _store(500)
    checkpoints: list[tuple[Position, bool]] = []
    first: list[str] = []
    stop_after = threading.Event()

    with ThreadPoolExecutor(2) as pool:
        walker = _walker(pool, concurrency=1, checkpoint_seconds=0.0)

        def merge(ids: list[str], position: Position) -> None:
            first.extend(ids)
            if len(first) >= 200:
                walker.stop.set()
                stop_after.set()

        outcome = walker.walk(
            listing(store, "ns"), fetching(store, "ns", lambda rs: [r.id for r in rs]), merge,
            on_checkpoint=lambda p, done: checkpoints.append((p, done)),
        )  # fmt: skip
        assert not outcome.complete and stop_after.is_set()
        where, done = checkpoints[-1]
        assert not done and where.listed == len(first)
        rest: list[str] = []
        again = _walker(pool)
        outcome = again.walk(
            listing(store, "ns"), fetching(store, "ns", lambda rs: [r.id for r in rs]),
            lambda ids, _: rest.extend(ids), start=where,
        )  # fmt: skip
    assert outcome.complete and outcome.listed == 500
    assert first + rest == [f"id-{n:05d}" for n in range(500)]


def test_a_failed_batch_is_raised_and_nothing_after_it_is_merged() -> None:
    store = _store(
        800, faults=Faults(failing_calls=frozenset({("fetch", 3)}), operations=frozenset({"fetch"}))
    )
    merged: list[int] = []
    with ThreadPoolExecutor(4) as pool, pytest.raises(RemoteError):
        _walker(pool, concurrency=1).walk(
            listing(store, "ns"), fetching(store, "ns", len), lambda n, p: merged.append(p.listed)
        )
    assert merged == [100, 200]  # the third batch failed: the position never moves past it


def test_429s_halve_the_batches_in_flight_of_every_walk_sharing_the_limit() -> None:
    store = _store(2_000, faults=Faults(throttle_rate=0.3, operations=frozenset({"fetch"}), seed=3))
    changes: list[tuple[int, int]] = []
    limit = AdaptiveLimit(8, on_change=lambda old, new, _: changes.append((old, new)))
    with ThreadPoolExecutor(8) as pool, slowed_by_throttling(limit, store):
        walker = Walker(pool, limit=limit, stop=threading.Event())
        walker.walk(listing(store, "ns"), fetching(store, "ns", len), lambda n, p: None)
    assert store.throttled > 0 and changes and changes[0] == (8, 4)
    assert not store.heard  # the listener is removed when the walk's run ends


def test_sequential_pages() -> None:
    store = _store(250)
    assert [len(p) for p in id_pages(store, "ns")] == [100, 100, 50]
    assert sum(len(p) for p in record_pages(store, "ns", page_size=60)) == 250
    matched = [r.metadata["n"] for p in matching_pages(store, "ns", {"n": {"$lt": 5}}) for r in p]
    assert sorted(matched) == [0, 1, 2, 3, 4]
