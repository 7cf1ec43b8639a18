"""Sweeping a pod-based index (which cannot list) with queries, against real local server processes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import numpy as np
import pytest
from pinecone import Pinecone, PodSpec, ServerlessSpec

from pinecone_migrator.engine.migrate.run import run_migration
from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.errors import UserError
from pinecone_migrator.filters import compile_filter
from pinecone_migrator.records import Record, SparseValues, digest_of
from pinecone_migrator.stores.pinecone.store import PineconeStore, RetryPolicy
from pinecone_migrator.stores.swept import (
    IncompleteSweep,
    SweepableStore,
    SweepInterrupted,
    SweptSource,
    choose_partitions,
)

from ..cliproc import SOURCE_KEY, TARGET_KEY
from ..helpers import namespace_digest
from ..serverproc import ServerProcess

FAST_RETRY = RetryPolicy(attempts=5, base_seconds=0.01, max_seconds=0.05, budget_seconds=5)
DIMENSION = 16
GENRES = ["drama", "comedy", "news", "sport", "music"]


def _dense_records(count: int, prefix: str, seed: int, metadata_every: int) -> list[Record]:
    rng = np.random.default_rng(seed)
    return [
        Record(
            id=f"{prefix}{i:05d}",
            values=rng.standard_normal(DIMENSION).astype(np.float32),
            metadata={"genre": GENRES[i % 5], "year": 1990 + i % 30} if i % metadata_every == 0 else {},
        )
        for i in range(count)
    ]


def _pod_index(server: ServerProcess, name: str, metric: str = "cosine") -> PineconeStore:
    pc = Pinecone(api_key=SOURCE_KEY, host=server.url)
    pc.create_index(name, dimension=DIMENSION, metric=metric, spec=PodSpec(environment="us-east-1-aws"))
    return PineconeStore(name, SOURCE_KEY, server.url, retry=FAST_RETRY)


def _load(store: PineconeStore, namespace: str, records: list[Record]) -> None:
    for start in range(0, len(records), 1000):
        store.write(namespace, records[start : start + 1000])


def _listed(source: SweptSource, namespace: str, prefix: str = "", limit: int = 100) -> list[str]:
    ids: list[str] = []
    cursor = None
    while True:
        page = source.list_ids(namespace, prefix=prefix, cursor=cursor, limit=limit)
        ids += page.ids
        cursor = page.cursor
        if cursor is None:
            return ids


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(None, "--api-key", SOURCE_KEY) as running:
        yield running


@pytest.fixture
def small_pod(server: ServerProcess) -> tuple[PineconeStore, list[Record]]:
    store = _pod_index(server, "small-pod")
    records = _dense_records(1_500, "s-", seed=3, metadata_every=3)
    _load(store, "a", records)
    return store, records


def test_pod_source_is_swept_completely_and_copied_record_for_record(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path
) -> None:
    source_server, target_server = servers
    pod = _pod_index(source_server, "pod-src")
    assert not pod.capabilities().can_list
    # More records than one query returns in "tenant-a" (with metadata on half: the sweep splits it by a
    # field), and a namespace without any metadata, reached by vectors alone.
    written = {
        "tenant-a": _dense_records(8_000, "doc#", seed=1, metadata_every=2),
        "__default__": _dense_records(4_000, "plain/", seed=2, metadata_every=10**9),
    }
    for namespace, records in written.items():
        _load(pod, namespace, records)

    swept = SweptSource(pod, tmp_path / "sweep.sqlite", top_k=1_000, seed=7)
    assert swept.capabilities().can_list and not swept.completeness("tenant-a").finished
    reports = {r.namespace: r for r in swept.sweep_all()}
    for namespace, records in written.items():
        report = reports[namespace]
        assert (report.expected, report.found, report.proven, report.finished) == (
            len(records),
            len(records),
            True,
            True,
        ), report
        assert swept.completeness(namespace) == report
        assert report.sweeps > len(records) // 1_000  # one query could not have returned them all
    assert _listed(swept, "tenant-a", limit=777) == sorted(r.id for r in written["tenant-a"])
    assert _listed(swept, "tenant-a", prefix="doc#001", limit=7) == [f"doc#001{i:02d}" for i in range(100)]
    assert _listed(swept, "__default__", prefix="nothing") == []

    target = PineconeStore("copy", TARGET_KEY, target_server.url, retry=FAST_RETRY)
    request = MigrationRequest(
        source=Endpoint("pod-src", source_server.url),
        target=Endpoint("copy", target_server.url),
        state_path=tmp_path / "migration.ledger",
    )
    summary = run_migration(request, swept, target)
    assert summary.complete and summary.copied == 12_000 and summary.dead_letters == 0
    assert target.describe().deployment_type == "managed"
    for namespace, records in written.items():
        assert namespace_digest(target, namespace) == digest_of(records)
    # Sweeping never wrote to the source.
    assert pod.describe().namespace_counts == {"tenant-a": 8_000, "__default__": 4_000}


def test_a_wrong_count_or_a_tiny_budget_leaves_completeness_unproven(
    small_pod: tuple[PineconeStore, list[Record]], tmp_path: Path
) -> None:
    store, records = small_pod
    claimed = SweptSource(store, tmp_path / "claimed.sqlite", expected={"a": 1_600}, patience=5, seed=1)
    report = claimed.sweep("a")
    assert (report.expected, report.found, report.proven, report.finished) == (1_600, 1_500, False, True)
    assert "found nothing new" in report.reason
    with pytest.raises(IncompleteSweep, match="1,500 of the 1,600"):
        claimed.list_ids("a")

    budget = SweptSource(
        store, tmp_path / "budget.sqlite", top_k=100, max_sweeps=3, require_proven=False, seed=1
    )
    report = budget.sweep("a")
    assert (report.sweeps, report.proven, report.finished) == (3, False, True)
    assert 100 <= report.found <= 300 and "budget" in report.reason
    listed = _listed(budget, "a")
    assert len(listed) == report.found and set(listed) <= {r.id for r in records}


class _StopAfter:
    """The store, setting ``stop`` once it has answered ``queries`` queries."""

    def __init__(self, store: PineconeStore, queries: int, stop: threading.Event) -> None:
        self.store, self.left, self.stop = store, queries, stop

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)

    def query_ids(self, namespace: str, **kwargs: Any) -> list[str]:
        self.left -= 1
        if self.left <= 0:
            self.stop.set()
        return self.store.query_ids(namespace, **kwargs)


def test_a_stopped_sweep_resumes_from_its_state_file(
    server: ServerProcess, small_pod: tuple[PineconeStore, list[Record]], tmp_path: Path
) -> None:
    store, records = small_pod
    state = tmp_path / "sweep.sqlite"
    stop = threading.Event()
    wrapped = cast(SweepableStore, _StopAfter(store, 2, stop))
    stopping = SweptSource(wrapped, state, top_k=100, stop=stop, seed=1)
    with pytest.raises(SweepInterrupted, match="the next sweep continues"):
        stopping.list_ids("a")
    interrupted = stopping.completeness("a")
    stopping.close()
    assert (interrupted.sweeps, interrupted.finished) == (2, False) and interrupted.found >= 100

    with SweptSource(store, state, top_k=100, seed=2) as resumed:
        report = resumed.sweep("a")
        assert report.proven and report.found == 1_500 and report.sweeps > 2
        assert _listed(resumed, "a") == sorted(r.id for r in records)
    with pytest.raises(UserError, match="belongs to source 'small-pod'"):
        SweptSource(_pod_index(server, "other-pod"), state)


def test_sparse_index_is_swept_from_the_indices_it_finds(server: ServerProcess, tmp_path: Path) -> None:
    pc = Pinecone(api_key=SOURCE_KEY, host=server.url)
    spec = ServerlessSpec(cloud="aws", region="us-east-1")
    pc.create_index("sparse", metric="dotproduct", vector_type="sparse", spec=spec)
    store = PineconeStore("sparse", SOURCE_KEY, server.url, retry=FAST_RETRY)
    rng = np.random.default_rng(5)
    records = []
    for i in range(2_000):
        indices = np.unique(rng.integers(0, 20_000, size=6)).astype(np.uint32)
        values = rng.uniform(0.1, 1.0, size=len(indices)).astype(np.float32)
        records.append(Record(id=f"sp-{i}", sparse=SparseValues(indices=indices, values=values)))
    _load(store, "a", records)
    report = SweptSource(store, tmp_path / "sparse.sqlite", top_k=200, seed=3).sweep("a")
    assert (report.found, report.proven) == (2_000, True), report


def test_partitions_cover_every_record_of_the_sample() -> None:
    sample: list[dict[str, Any]] = [
        {"genre": GENRES[i % 5], "year": 1990 + i % 30, "score": i / 100, "tags": ["x"]} for i in range(200)
    ]
    sample += [{"other": True}] * 20
    parts = choose_partitions(sample, expected=50_000, top_k=1_000, max_parts=64)
    assert parts and len(parts) <= 64
    predicates = [compile_filter(part) for part in parts]
    for metadata in sample:
        assert any(predicate(metadata) for predicate in predicates), metadata
    assert choose_partitions([{"id": str(i)} for i in range(100)], 10_000, 1_000, 64) == []
