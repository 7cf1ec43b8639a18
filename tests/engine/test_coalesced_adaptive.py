"""Coalesced fetches (the IDs of several list pages in one fetch) and calls in flight finding their level."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest

from pinecone_migrator.engine.ledger import Ledger
from pinecone_migrator.engine.migrate.copy import CopyOptions
from pinecone_migrator.engine.migrate.run import run_migration
from pinecone_migrator.engine.pacing import AdaptiveLimit
from pinecone_migrator.engine.progress import NullProgress
from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.engine.sync.passes import SyncOptions, SyncPass
from pinecone_migrator.engine.sync.state import SyncState
from pinecone_migrator.engine.verify.run import VerifyOptions, verify
from pinecone_migrator.engine.verify.walker import known_pages
from pinecone_migrator.engine.walk import fetch_all, run_walker
from pinecone_migrator.errors import RemoteError
from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import IndexShape
from pinecone_migrator.stores.memory import Faults, MemoryStore

SHAPE = IndexShape(vector_type="dense", metric="cosine", dimension=4)


def _source(namespaces: dict[str, int], **kwargs: object) -> MemoryStore:
    source = MemoryStore("source", SHAPE, **kwargs)  # type: ignore[arg-type]
    values = np.ones(4, np.float32)
    for namespace, count in namespaces.items():
        for start in range(0, count, 1_000):
            ids = range(start, min(count, start + 1_000))
            source.write(namespace, [Record(id=f"{namespace}-{n:05d}", values=values) for n in ids])
    source.calls.clear()
    return source


def _request(tmp_path: Path, **options: object) -> MigrationRequest:
    return MigrationRequest(
        source=Endpoint("source", None),
        target=Endpoint("target", None),
        state_path=tmp_path / "ledger.sqlite",
        options=CopyOptions(shards=1, **options),  # type: ignore[arg-type]
    )


def test_a_fetch_takes_the_ids_of_ten_list_pages_in_migrate_sync_and_verify(tmp_path: Path) -> None:
    source = _source({"ns": 3_500})
    target = MemoryStore("target")
    summary = run_migration(_request(tmp_path), source, target)
    assert summary.complete and target.records("ns") == source.records("ns")
    assert source.calls["list"] >= 35  # 100 IDs per list page...
    assert source.calls["fetch"] == 4  # ...but 1,000 per fetch (was 35, one per page)

    source.calls.clear()
    synced = MemoryStore("synced")
    request = MigrationRequest(source=Endpoint("source", None), target=Endpoint("synced", None))
    with SyncState(tmp_path / "sync.sqlite", {"mode": "ledger"}) as state:
        done = SyncPass(
            request, SyncOptions(), source, synced, state, threading.Event(), lambda *_: False
        ).run()
    assert done.new == 3_500 and source.calls["fetch"] == 4

    source.calls.clear()
    target.calls.clear()
    checked = verify(_request(tmp_path), source, target, VerifyOptions(level="digest", processes=0))
    assert checked.equal and source.calls["fetch"] == 4 and target.calls["fetch"] == 4


def test_a_batch_spans_pages_and_the_ledger_never_passes_one_that_was_not_written(tmp_path: Path) -> None:
    source = _source({"ns": 3_500})
    # the second write request fails: the batch holding IDs 1,000-1,999 (pages 11-20) is not acknowledged
    target = MemoryStore(
        "target", faults=Faults(failing_calls=frozenset({("upsert", 2)}), operations=frozenset({"upsert"}))
    )
    request = _request(tmp_path, concurrency=1)
    with pytest.raises(RemoteError):
        run_migration(request, source, target)
    with Ledger(request.ledger_path(), read_only=True) as ledger:
        (unit,) = ledger.units()
    assert (unit.listed, unit.copied, unit.done) == (1_000, 1_000, False)  # ten pages: one whole batch
    assert sorted(target.records("ns")) == [f"ns-{n:05d}" for n in range(1_000)]
    target.faults = Faults()
    again = run_migration(request, source, target)
    assert again.complete and again.copied_this_run == 2_500  # from the cursor after the first batch
    assert target.records("ns") == source.records("ns")


class Changes(NullProgress):
    def __init__(self) -> None:
        self.limits: list[int] = []

    def concurrency_changed(self, old: int, new: int, reason: str) -> None:
        self.limits.append(new)


def _timed_fetches(lane_limit: int | None, latency: float, batches: int) -> tuple[float, int]:
    """Fetch ``batches`` batches of 100 IDs through a run's walker from a store that answers after
    ``latency``; records/s and the highest the source's lane went."""
    source = _source({"ns": 100}, faults=Faults(latency_seconds=latency))
    ids = [f"ns-{n % 100:05d}" for n in range(100 * batches)]
    started = time.monotonic()
    with run_walker(
        (source,), threading.Event(), concurrency=lane_limit, batch_size=100, dimension=4
    ) as walker:
        lane = walker.lane(source)
        assert lane is not None
        walker.walk(
            known_pages(ids, 100),
            lambda chunk: len(fetch_all(source, "ns", chunk, lane=lane)),
            lambda *_: None,
        )
    return 100 * batches / (time.monotonic() - started), lane.peak


def test_calls_in_flight_grow_under_latency_beyond_the_old_default_of_four() -> None:
    fixed_rate, fixed_peak = _timed_fetches(4, 0.05, 250)
    automatic_rate, automatic_peak = _timed_fetches(None, 0.05, 250)
    assert fixed_peak == 4
    assert automatic_peak >= 16, automatic_peak  # measured 32-64
    assert automatic_rate > 1.5 * fixed_rate, (automatic_rate, fixed_rate)  # measured 2-3x


def test_the_limit_holds_when_more_in_flight_brings_no_more_throughput() -> None:
    """A store that serves six calls at a time and queues the rest (as one pacing itself under its rate
    limits does, without a 429): the throughput plateaus at six, and so must the limit, not run to 64."""
    served = threading.Semaphore(6)
    limit = AdaptiveLimit(64, automatic=True)

    def call() -> None:
        with limit.slot(100), served:
            time.sleep(0.02)

    deadline = time.monotonic() + 4.0

    def repeat() -> None:
        while time.monotonic() < deadline:
            call()

    workers = [threading.Thread(target=repeat) for _ in range(64)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert limit.peak <= 18, limit.peak  # a probe or two above the plateau, taken back
    assert limit.limit <= 12, limit.limit


def test_a_migration_without_flags_copies_many_small_namespaces_side_by_side(tmp_path: Path) -> None:
    """60 namespaces of 100 records behind 30 ms round trips: automatic beats a fixed 4 clearly."""
    rates: dict[str, float] = {}
    for mode, concurrency in (("fixed", 4), ("automatic", None)):
        source = _source({f"t{n:03d}": 100 for n in range(60)}, faults=Faults(latency_seconds=0.03))
        target = MemoryStore("target", faults=Faults(latency_seconds=0.03))
        changes = Changes()
        request = MigrationRequest(
            source=Endpoint("source", None),
            target=Endpoint("target", None),
            state_path=tmp_path / f"{mode}.sqlite",
            options=CopyOptions(concurrency=concurrency),
        )
        summary = run_migration(request, source, target, progress=changes)
        assert summary.complete and summary.copied == 6_000
        rates[mode] = summary.copied / summary.elapsed_seconds
    assert rates["automatic"] > 2 * rates["fixed"], rates
