"""Verify and repair slow down on 429 as a migration does: over stores that refuse fetches beyond a few at
once (as a rate-limited server does), the adaptive limit sends fewer requests than the same run without it,
and the verdict and the repair are the same."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from pinecone_migrator.engine.migrate import Endpoint, MigrationRequest
from pinecone_migrator.engine.verify import Difference, VerifyOptions, repair, verify
from pinecone_migrator.records import Record, record_digest
from pinecone_migrator.stores.base import IndexShape
from pinecone_migrator.stores.memory import MemoryStore

SHAPE = IndexShape(vector_type="dense", metric="cosine", dimension=4)
REQUEST = MigrationRequest(source=Endpoint("src", "memory://src"), target=Endpoint("dst", "memory://dst"))
SERVICE_SECONDS = 0.01


class Crowded(MemoryStore):
    """Answers 429 to a fetch that arrives while ``room`` others are being served; the client hears it (the
    throttle listener) and sends the request again after a pause. ``requests`` counts every fetch sent."""

    def __init__(self, name: str, room: int) -> None:
        super().__init__(name, SHAPE)
        self.room = room
        self.requests = 0
        self.refused = 0
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
                self.refused += 1
                return False
            self.serving += 1
            return True


def _records(count: int) -> list[Record]:
    values = np.ones(4, np.float32)
    return [Record(id=f"id-{n:05d}", values=values, metadata={"n": n}) for n in range(count)]


def _digests(store: MemoryStore) -> dict[str, int]:
    return {record_id: record_digest(r) for record_id, r in store.records("ns").items()}


def _pair(count: int, copied: int) -> tuple[Crowded, Crowded]:
    source, target = Crowded("src", room=2), Crowded("dst", room=2)
    records = _records(count)
    for start in range(0, count, 500):
        source.write("ns", records[start : start + 500])
        if start < copied:
            target.write("ns", records[start : min(copied, start + 500)])
    return source, target


@pytest.mark.parametrize("level", ["digest", "sample"])
def test_a_verify_through_429s_sends_fewer_requests_than_without_adapting(
    level: str, caplog: pytest.LogCaptureFixture
) -> None:
    requests: dict[bool, int] = {}
    for adaptive in (False, True):
        source, target = _pair(2_000, 2_000)
        options = VerifyOptions(
            level=level,  # type: ignore[arg-type]
            concurrency=8,
            page_size=50,
            fetch_size=50,
            sample_size=1_000,
            processes=0,
            adaptive=adaptive,
        )
        with caplog.at_level(logging.INFO, logger="pinecone_migrator.engine.verify_walk"):
            result = verify(REQUEST, source, target, options)
        assert result.equal, result.to_json()
        requests[adaptive] = source.requests + target.requests
        assert source.listener is None and target.listener is None  # unwired once the verify is over
    assert requests[True] < requests[False]
    assert "fetches in flight 8 -> 4: 429 too many requests: halving" in caplog.messages


def test_a_repair_through_429s_sends_fewer_requests_than_without_adapting() -> None:
    requests: dict[bool, int] = {}
    for adaptive in (False, True):
        source, target = _pair(800, 0)
        missing = [Difference("ns", f"id-{n:05d}", "missing", (), "ns") for n in range(800)]
        summary = repair(missing, REQUEST, source, target, fetch_size=20, concurrency=8, adaptive=adaptive)
        assert summary.rewritten == 800 and not summary.interrupted
        assert _digests(target) == _digests(source)
        requests[adaptive] = source.requests
    assert requests[True] < requests[False]
