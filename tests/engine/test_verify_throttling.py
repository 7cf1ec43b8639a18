"""Verify and repair slow down on 429 as a migration does: over stores that refuse fetches beyond a few at
once (as a rate-limited server does), the adaptive limit sends fewer requests than the same run without it,
and the verdict and the repair are the same."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.engine.verify.run import Difference, VerifyOptions, repair, verify
from pinecone_migrator.records import Record, record_digest
from pinecone_migrator.stores.base import IndexShape
from pinecone_migrator.stores.memory import Faults, MemoryStore

SHAPE = IndexShape(vector_type="dense", metric="cosine", dimension=4)
REQUEST = MigrationRequest(source=Endpoint("src", "memory://src"), target=Endpoint("dst", "memory://dst"))


def _crowded(name: str) -> MemoryStore:
    """Serves two fetches at a time and answers 429 to the rest (sent again a moment later)."""
    return MemoryStore(name, SHAPE, faults=Faults(room=2, operations=frozenset({"fetch"})))


def _sent(store: MemoryStore) -> int:
    return store.calls["fetch"] + store.refused["fetch"]


def _records(count: int) -> list[Record]:
    values = np.ones(4, np.float32)
    return [Record(id=f"id-{n:05d}", values=values, metadata={"n": n}) for n in range(count)]


def _digests(store: MemoryStore) -> dict[str, int]:
    return {record_id: record_digest(r) for record_id, r in store.records("ns").items()}


def _pair(count: int, copied: int) -> tuple[MemoryStore, MemoryStore]:
    source, target = _crowded("src"), _crowded("dst")
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
        with caplog.at_level(logging.INFO, logger="pinecone_migrator.engine.verify.walker"):
            result = verify(REQUEST, source, target, options)
        assert result.equal, result.to_json()
        requests[adaptive] = _sent(source) + _sent(target)
        assert not source.heard and not target.heard  # unwired once the verify is over
    assert requests[True] < 0.8 * requests[False], requests  # a clear saving, not noise
    assert "fetches in flight 8 -> 4: source: 429 too many requests: halving" in caplog.messages


def test_a_repair_through_429s_sends_fewer_requests_than_without_adapting() -> None:
    requests: dict[bool, int] = {}
    for adaptive in (False, True):
        source, target = _pair(800, 0)
        missing = [Difference("ns", f"id-{n:05d}", "missing", (), "ns") for n in range(800)]
        summary = repair(missing, REQUEST, source, target, fetch_size=20, concurrency=8, adaptive=adaptive)
        assert summary.rewritten == 800 and not summary.interrupted
        assert _digests(target) == _digests(source)
        requests[adaptive] = _sent(source)
    assert requests[True] < 0.8 * requests[False], requests  # a clear saving, not noise
