"""Verify's digest scans in worker processes: the same verdicts and digests as threads, every fetched record
counted in the parent, differences named, stops passed on and progress resumable, errors arriving whole."""

from __future__ import annotations

import pickle
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pinecone import Pinecone

from pinecone_migrator.engine.verify.run import VerifyOptions, verify
from pinecone_migrator.errors import RecordsRejected, RemoteError
from pinecone_migrator.server.context import ServerConfig
from pinecone_migrator.server.runner import BackgroundServer
from pinecone_migrator.stores.pinecone.retry import RetryPolicy
from pinecone_migrator.stores.pinecone.store import PineconeStore

from .test_verify import KEY, Pair, _one_ulp, found, migrated, standard_source
from .test_verify_resume import run


@pytest.fixture
def pair(server: BackgroundServer, tmp_path: Path) -> Pair:
    standard_source(Pinecone(api_key=KEY, host=server.url))
    return migrated(server, tmp_path)


def verdict(result: object) -> list[tuple[object, ...]]:
    return [(n.namespace, n.expected_digest, n.actual_digest, n.equal) for n in result.namespaces]  # type: ignore[attr-defined]


def test_worker_processes_agree_with_threads(pair: Pair) -> None:
    threads = verify(pair.request, pair.source, pair.target, VerifyOptions(level="digest", processes=0))
    seen = {"source": 0, "target": 0}

    def progress(side: str, namespace: str, count: int) -> None:
        seen[side] += count

    workers = verify(
        pair.request, pair.source, pair.target, VerifyOptions(level="digest", processes=2), progress=progress
    )
    assert threads.equal and workers.equal and verdict(workers) == verdict(threads)
    assert workers.source_records == workers.target_records == 240 and seen == {"source": 240, "target": 240}


def test_worker_processes_find_the_difference(pair: Pair) -> None:
    expected = _one_ulp(pair)
    result = verify(pair.request, pair.source, pair.target, VerifyOptions(level="full", processes=2))
    assert not result.equal and found(result) == expected


@pytest.fixture
def slow_server() -> Iterator[BackgroundServer]:
    config = ServerConfig(port=0)
    config.faults.latency_ms = 25
    with BackgroundServer(config) as running:
        yield running


def test_a_stop_reaches_the_workers_and_the_verify_resumes(
    slow_server: BackgroundServer, tmp_path: Path
) -> None:
    standard_source(Pinecone(api_key=KEY, host=slow_server.url))
    pair = migrated(slow_server, tmp_path)
    options = VerifyOptions(level="digest", processes=2, page_size=10, fetch_size=10, concurrency=1)
    first = run(pair, options, stop_after=("source", 60))
    assert first.interrupted and first.source_records < 240  # the workers stopped part way
    second = run(pair, options)
    assert second.equal and first.source_records + second.source_records == 240
    assert any(note.startswith("resumed:") for note in second.notes)


def test_a_failure_in_a_worker_arrives_whole(pair: Pair, server: BackgroundServer) -> None:
    for error in (
        RemoteError("fetch", "503 Service Unavailable", status=503, retryable=True),
        RecordsRejected("upsert", "metadata too large", status=400),
    ):
        copy = pickle.loads(pickle.dumps(error))
        assert type(copy) is type(error) and str(copy) == str(error) and copy.status == error.status
    # once the workers have fetched a page, every request fails: a worker's fetch gives up and raises
    quick = RetryPolicy(attempts=2, base_seconds=0.05, budget_seconds=2.0)
    source = PineconeStore("src", KEY, server.url, retry=quick)
    target = PineconeStore("dst", KEY, server.url, retry=quick)
    broken = threading.Event()

    def progress(side: str, namespace: str, count: int) -> None:
        if not broken.is_set():
            broken.set()
            httpx.put(f"{server.url}/_admin/faults", json={"rate_500": 1.0}, headers={"Api-Key": KEY})

    options = VerifyOptions(level="digest", processes=2, page_size=10, fetch_size=10)
    try:
        with pytest.raises(RemoteError, match="failed") as raised:
            verify(pair.request, source, target, options, progress=progress)
        assert raised.value.status == 500 and raised.value.retryable
    finally:
        httpx.post(f"{server.url}/_admin/faults/reset", headers={"Api-Key": KEY})
