"""429s slow migrate and sync down: through a crowded source, fewer requests than without adapting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from pinecone_migrator.engine.copy import CopyOptions
from pinecone_migrator.engine.migrate import Endpoint, MigrationRequest, run_migration
from pinecone_migrator.engine.sync import SyncOptions, SyncPass
from pinecone_migrator.engine.sync_state import SyncState
from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import IndexShape
from pinecone_migrator.stores.memory import MemoryStore

SHAPE = IndexShape(vector_type="dense", metric="cosine", dimension=4)
SERVICE_SECONDS = 0.01
COUNT = 2_000


class Crowded(MemoryStore):
    """Answers 429 to a fetch that arrives while ``room`` others are being served; the client hears it (the
    throttle listener) and sends the request again after a pause. ``requests`` counts every fetch sent."""

    def __init__(self, room: int) -> None:
        super().__init__("source", SHAPE)
        values = np.ones(4, np.float32)
        for start in range(0, COUNT, 500):
            self.write("ns", [Record(id=f"id-{n:05d}", values=values) for n in range(start, start + 500)])
        self.room = room
        self.requests = 0
        self.serving = 0
        self.listener: Callable[[], None] | None = None
        self.gate = threading.Lock()

    def set_throttle_listener(self, listener: Callable[[], None] | None) -> None:
        self.listener = listener

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        while not self._admitted():
            if self.listener is not None:
                self.listener()
            time.sleep(SERVICE_SECONDS)
        try:
            time.sleep(SERVICE_SECONDS)
            return super().fetch(namespace, ids)
        finally:
            with self.gate:
                self.serving -= 1

    def _admitted(self) -> bool:
        with self.gate:
            self.requests += 1
            if self.serving >= self.room:
                return False
            self.serving += 1
            return True


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
        source, target = Crowded(room=2), MemoryStore("target")
        summary = run_migration(_request(tmp_path, adaptive), source, target)
        assert summary.complete and summary.copied == COUNT
        assert target.records("ns") == source.records("ns")
        assert source.listener is None  # unwired once the run is over
        requests[adaptive] = source.requests
    assert requests[True] < requests[False]


def test_a_sync_pass_through_429s_sends_fewer_requests_than_without_adapting(tmp_path: Path) -> None:
    requests: dict[bool, int] = {}
    for adaptive in (False, True):
        source, target = Crowded(room=2), MemoryStore("target")
        options = SyncOptions(concurrency=8, page_size=50, adaptive=adaptive)
        with SyncState(tmp_path / f"state-{adaptive}.sqlite", {"mode": "ledger"}) as state:
            request = _request(tmp_path, adaptive)
            record = SyncPass(
                request, options, source, target, state, threading.Event(), lambda *_: False
            ).run()
        assert record.state == "done" and record.new == COUNT
        assert target.records("ns") == source.records("ns")
        assert source.listener is None
        requests[adaptive] = source.requests
    assert requests[True] < requests[False]
