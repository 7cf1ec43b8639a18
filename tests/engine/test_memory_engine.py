"""The engine over in-memory stores with faults injected: no server process, every failure path on purpose."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from pinecone_migrator.engine.ledger import Ledger
from pinecone_migrator.engine.migrate.copy import CopyOptions
from pinecone_migrator.engine.migrate.run import run_migration
from pinecone_migrator.engine.migrate.summary import MigrationSummary
from pinecone_migrator.engine.progress import NullProgress
from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.errors import RemoteError
from pinecone_migrator.records import Record, SparseValues
from pinecone_migrator.stores.base import DEFAULT_NAMESPACE, IndexShape
from pinecone_migrator.stores.memory import Faults, MemoryStore

SHAPE = IndexShape(vector_type="dense", metric="dotproduct", dimension=8)
SIZES = {"tenant-a": 700, "tenant-b": 230, DEFAULT_NAMESPACE: 45}
MAX_RUNS = 60
DEADLINE_SECONDS = 30


def _records(namespace: str, count: int) -> list[Record]:
    rng = np.random.default_rng(len(namespace))
    return [
        Record(
            id=f"{namespace}/{n:04d}",
            values=rng.standard_normal(8).astype(np.float32),
            sparse=SparseValues(np.array([n, n + 9], np.uint32), np.array([0.5, 1.5], np.float32))
            if n % 4 == 0
            else None,
            metadata={"n": n, "spicy": n % 97 == 5, "tags": [namespace, str(n % 3)]},
        )
        for n in range(count)
    ]


def _too_spicy(record: Record) -> str | None:
    return "too spicy for this target" if record.metadata.get("spicy") is True else None


class Slowdowns(NullProgress):
    def __init__(self) -> None:
        self.changes: list[tuple[int, int]] = []

    def concurrency_changed(self, old: int, new: int, reason: str) -> None:
        self.changes.append((old, new))


def _migrate_until_done(
    request: MigrationRequest, source: MemoryStore, target: MemoryStore, progress: Slowdowns
) -> tuple[MigrationSummary, int]:
    """Run the migration again after each injected failure, as a user would; the ledger resumes it. A copy
    that never ends (a listing that never ends) is stopped at a deadline and fails the test."""
    stop = threading.Event()
    deadline = threading.Timer(DEADLINE_SECONDS, stop.set)
    deadline.start()
    try:
        for failures in range(MAX_RUNS):
            try:
                summary = run_migration(request, source, target, stop=stop, progress=progress)
            except RemoteError as failure:
                assert failure.retryable and failure.status == 503
                continue
            assert not summary.interrupted, f"not done within {DEADLINE_SECONDS} s"
            return summary, failures
    finally:
        deadline.cancel()
    raise AssertionError(f"not done after {MAX_RUNS} runs")


def _request(tmp_path: Path) -> MigrationRequest:
    return MigrationRequest(
        source=Endpoint("source", None),
        target=Endpoint("target", None),
        state_path=tmp_path / "ledger.sqlite",
        options=CopyOptions(concurrency=4, page_size=40),
    )


def _filled_source(faults: Faults) -> tuple[MemoryStore, dict[str, list[Record]]]:
    source = MemoryStore("source", SHAPE)
    written = {namespace: _records(namespace, count) for namespace, count in SIZES.items()}
    for namespace, records in written.items():
        source.write(namespace, records)
    source.faults = faults
    return source, written


def test_throttles_slow_the_copy_refused_records_are_dead_letters_and_a_failed_listing_resumes(
    tmp_path: Path,
) -> None:
    source, written = _filled_source(
        Faults(failure_rate=0.05, throttle_rate=0.05, operations=frozenset({"list"}), seed=1)
    )
    target = MemoryStore(
        "target", faults=Faults(throttle_rate=0.2, refuse=_too_spicy, latency_seconds=0.001, seed=2)
    )
    request = _request(tmp_path)
    progress = Slowdowns()

    summary, failures = _migrate_until_done(request, source, target, progress)

    # Namespaces are listed side by side: another listing may fail before the first failure is raised.
    assert summary.complete and summary.resumed and source.failed >= failures > 0
    assert target.throttled > 0 and any(new < old for old, new in progress.changes)
    spicy = {(ns, r.id) for ns, records in written.items() for r in records if _too_spicy(r)}
    assert summary.dead_letters == len(spicy) > 0
    assert target.describe().shape == SHAPE
    for namespace, records in written.items():
        assert target.records(namespace) == {r.id: r for r in records if (namespace, r.id) not in spicy}
    with Ledger(request.ledger_path(), read_only=True) as ledger:
        dead = ledger.dead_letters()
    assert {(ns, record_id) for ns, record_id, _, _ in dead} == spicy
    assert all("too spicy" in reason for _, _, _, reason in dead)


def test_a_page_that_failed_is_copied_when_the_run_resumes(tmp_path: Path) -> None:
    """A page whose fetch fails while later pages are in flight: the ledger's cursor stops before it, and
    the resumed run copies it (the engine used to commit the pages after it: records lost)."""
    # The first fetch fails while later pages are in flight (every call takes a little while).
    source, written = _filled_source(Faults(failing_calls=frozenset({("fetch", 1)}), latency_seconds=0.002))
    target = MemoryStore("target")
    request = _request(tmp_path)

    summary, failures = _migrate_until_done(request, source, target, Slowdowns())

    assert failures == 1 and summary.complete
    for namespace, records in written.items():
        assert target.records(namespace) == {r.id: r for r in records}, namespace
