"""Sync passes over in-memory stores: one walk per namespace, counts merged in order, 429s slow a pass."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.engine.sync.passes import SyncOptions, SyncPass
from pinecone_migrator.engine.sync.state import PassRecord, SyncState
from pinecone_migrator.records import MetadataValue, Record
from pinecone_migrator.stores.base import IndexShape
from pinecone_migrator.stores.memory import Faults, MemoryStore

SHAPE = IndexShape(vector_type="dense", metric="cosine", dimension=4)
REQUEST = MigrationRequest(source=Endpoint("source", None), target=Endpoint("target", None))
LONG_AGO = time.time() - 10_000


def _record(n: int, **metadata: MetadataValue) -> Record:
    return Record(id=f"id-{n:05d}", values=np.full(4, n + 1, np.float32), metadata={"n": n, **metadata})


def _source(count: int) -> MemoryStore:
    source = MemoryStore("source", SHAPE)
    source.write("ns", [_record(n, updated=LONG_AGO) for n in range(count)])
    return source


def _pass(options: SyncOptions, source: MemoryStore, target: MemoryStore, state: SyncState) -> PassRecord:
    return SyncPass(REQUEST, options, source, target, state, threading.Event(), lambda *_: False).run()


def test_passes_copy_what_is_new_changed_and_gone(tmp_path: Path) -> None:
    source, target = _source(450), MemoryStore("target")
    options = SyncOptions(
        detect_updates=True, propagate_deletes=True, max_delete_fraction=0.5, page_size=40, concurrency=3
    )
    with SyncState(tmp_path / "state.sqlite", {"mode": "ledger"}) as state:
        first = _pass(options, source, target, state)
        assert (first.state, first.new, first.updated, first.listed) == ("done", 450, 0, 450)
        assert target.records("ns") == source.records("ns")
        source.write("ns", [_record(7, updated=LONG_AGO, note="changed"), _record(99_999)])
        source.delete("ns", ["id-00010", "id-00011"])
        second = _pass(options, source, target, state)
        assert (second.new, second.updated, second.deleted, second.listed) == (1, 1, 2, 449)
        assert _pass(options, source, target, state).new == 0
    assert target.records("ns") == source.records("ns")


def test_updated_field_walks_only_the_records_above_the_watermark(tmp_path: Path) -> None:
    source, target = _source(300), MemoryStore("target")
    options = SyncOptions(updated_field="updated", lookback_seconds=0, page_size=50, metadata_page=30)
    with SyncState(tmp_path / "state.sqlite", {"mode": "ledger"}) as state:
        assert _pass(options, source, target, state).new == 300
        now = time.time() + 60
        source.write("ns", [_record(n, updated=now, note="changed") for n in range(100, 105)])
        second = _pass(options, source, target, state)
    assert (second.new, second.updated, second.lag_seconds) == (0, 5, 0.0)
    assert target.records("ns") == source.records("ns")


@pytest.mark.parametrize("adaptive", [True, False])
@pytest.mark.parametrize("throttled", ["source", "target"])
def test_429s_from_either_store_slow_a_pass_unless_adaptation_is_off(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, adaptive: bool, throttled: str
) -> None:
    source, target = _source(600), MemoryStore("target")
    operation = "fetch" if throttled == "source" else "upsert"
    (source if throttled == "source" else target).faults = Faults(
        throttle_rate=0.5, operations=frozenset({operation}), seed=4
    )
    options = SyncOptions(page_size=20, concurrency=8, adaptive=adaptive)
    with (
        caplog.at_level(logging.INFO, logger="pinecone_migrator.sync"),
        SyncState(tmp_path / "state.sqlite", {"mode": "ledger"}) as state,
    ):
        record = _pass(options, source, target, state)
    assert record.new == 600 and source.throttled + target.throttled > 0
    halvings = [r for r in caplog.records if "429 too many requests" in r.getMessage()]
    assert bool(halvings) == adaptive
    assert source._listener is None and target._listener is None
    assert target.records("ns") == source.records("ns")
