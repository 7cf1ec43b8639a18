"""429s slow migrate and sync down: through a crowded source, fewer requests than without adapting."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from pinecone_migrator.engine.migrate.copy import CopyOptions
from pinecone_migrator.engine.migrate.run import run_migration
from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.engine.sync.passes import SyncOptions, SyncPass
from pinecone_migrator.engine.sync.state import SyncState
from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import Capabilities, IndexShape
from pinecone_migrator.stores.memory import Faults, MemoryStore

SHAPE = IndexShape(vector_type="dense", metric="cosine", dimension=4)
COUNT = 2_000


def _crowded() -> MemoryStore:
    """A source that serves two fetches at a time and answers 429 to the rest (sent again a moment later); 50
    IDs per fetch, so that a run sends 40 of them."""
    source = MemoryStore(
        "source",
        SHAPE,
        faults=Faults(room=2, operations=frozenset({"fetch"})),
        limits=Capabilities(can_fetch_by_metadata=True, max_fetch_ids=50),
    )
    values = np.ones(4, np.float32)
    for start in range(0, COUNT, 500):
        source.write("ns", [Record(id=f"id-{n:05d}", values=values) for n in range(start, start + 500)])
    return source


def _sent(source: MemoryStore) -> int:
    return source.calls["fetch"] + source.refused["fetch"]


def _request(tmp_path: Path, adaptive: bool) -> MigrationRequest:
    return MigrationRequest(
        source=Endpoint("source", None),
        target=Endpoint("target", None),
        state_path=tmp_path / f"ledger-{adaptive}.sqlite",
        options=CopyOptions(concurrency=8, page_size=50, shards=1, adaptive=adaptive),
    )


def test_a_migration_through_429s_sends_fewer_requests_than_without_adapting(tmp_path: Path) -> None:
    requests: dict[bool, int] = {}
    for adaptive in (False, True):
        source, target = _crowded(), MemoryStore("target")
        summary = run_migration(_request(tmp_path, adaptive), source, target)
        assert summary.complete and summary.copied == COUNT
        assert target.records("ns") == source.records("ns")
        assert not source.heard  # unwired once the run is over
        requests[adaptive] = _sent(source)
    assert requests[True] < 0.8 * requests[False], requests  # a clear saving, not noise


def test_a_sync_pass_through_429s_sends_fewer_requests_than_without_adapting(tmp_path: Path) -> None:
    requests: dict[bool, int] = {}
    for adaptive in (False, True):
        source, target = _crowded(), MemoryStore("target")
        options = SyncOptions(concurrency=8, page_size=50, adaptive=adaptive)
        with SyncState(tmp_path / f"state-{adaptive}.sqlite", {"mode": "ledger"}) as state:
            request = _request(tmp_path, adaptive)
            record = SyncPass(
                request, options, source, target, state, threading.Event(), lambda *_: False
            ).run()
        assert record.state == "done" and record.new == COUNT
        assert target.records("ns") == source.records("ns")
        assert not source.heard
        requests[adaptive] = _sent(source)
    assert requests[True] < 0.8 * requests[False], requests  # a clear saving, not noise
