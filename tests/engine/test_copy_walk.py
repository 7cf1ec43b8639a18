"""The copy pipeline over in-memory stores: what the ledger keeps when a listing or a namespace fails, and
the copy with and without adapting to 429s."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from pinecone_migrator.engine.ledger import Ledger
from pinecone_migrator.engine.migrate.copy import CopyOptions
from pinecone_migrator.engine.migrate.run import run_migration
from pinecone_migrator.engine.progress import NullProgress
from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.errors import RemoteError
from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import Capabilities, IndexShape
from pinecone_migrator.stores.memory import Faults, MemoryStore

SHAPE = IndexShape(vector_type="dense", metric="cosine", dimension=4)


def _source(namespaces: dict[str, int]) -> MemoryStore:
    # one fetch per listed page of 40 (batches would otherwise fetch 400 IDs at once): failures land mid-run
    source = MemoryStore("source", SHAPE, limits=Capabilities(can_fetch_by_metadata=True, max_fetch_ids=40))
    for namespace, count in namespaces.items():
        values = np.ones(4, np.float32)
        source.write(namespace, [Record(id=f"{namespace}-{n:04d}", values=values) for n in range(count)])
    return source


def _request(tmp_path: Path, **options: object) -> MigrationRequest:
    return MigrationRequest(
        source=Endpoint("source", None),
        target=Endpoint("target", None),
        state_path=tmp_path / "ledger.sqlite",
        options=CopyOptions(page_size=40, shards=1, **options),  # type: ignore[arg-type]
    )


def test_a_failed_listing_keeps_the_pages_already_copied_and_the_run_resumes(tmp_path: Path) -> None:
    source = _source({"ns": 400})
    # calls 1-2 measure the list round trip; 3-5 list three pages, the sixth fails
    source.faults = Faults(failing_calls=frozenset({("list", 6)}), operations=frozenset({"list"}))
    target = MemoryStore("target", faults=Faults(latency_seconds=0.05))  # pages are in flight on failure
    request = _request(tmp_path, concurrency=4)
    with pytest.raises(RemoteError):
        run_migration(request, source, target)
    with Ledger(request.ledger_path(), read_only=True) as ledger:
        (unit,) = ledger.units()
    assert (unit.listed, unit.copied, unit.done) == (120, 120, False)  # the three pages listed first
    summary = run_migration(request, source, target)
    assert summary.complete and summary.copied_this_run == 280
    assert target.records("ns") == source.records("ns")


def test_a_failed_namespace_halts_the_others_and_only_it_notes_the_error(tmp_path: Path) -> None:
    source = _source({"a": 400, "b": 400})
    source.faults = Faults(
        failing_calls=frozenset({("fetch", 5)}), operations=frozenset({"fetch"}), latency_seconds=0.005
    )
    request = _request(tmp_path, concurrency=4)
    with pytest.raises(RemoteError):
        run_migration(request, source, MemoryStore("target"))
    with Ledger(request.ledger_path(), read_only=True) as ledger:
        units = list(ledger.units())
    errors = [unit.last_error for unit in units if unit.last_error]
    assert len(errors) == 1 and "injected failure" in errors[0]
    assert not any(unit.done for unit in units)


class Slowdowns(NullProgress):
    def __init__(self) -> None:
        self.changes: list[tuple[int, int]] = []

    def concurrency_changed(self, old: int, new: int, reason: str) -> None:
        self.changes.append((old, new))


@pytest.mark.parametrize("adaptive", [True, False])
def test_429s_halve_the_pages_in_flight_unless_adaptation_is_off(tmp_path: Path, adaptive: bool) -> None:
    source = _source({"ns": 800})
    target = MemoryStore(
        "target",
        faults=Faults(throttle_rate=0.5, operations=frozenset({"upsert"}), seed=2),
        limits=Capabilities(max_write_records=40),  # 20 writes, so that some are throttled
    )
    progress = Slowdowns()
    summary = run_migration(
        _request(tmp_path, concurrency=8, adaptive=adaptive), source, target, threading.Event(), progress
    )
    assert summary.complete and target.throttled > 0
    assert bool(progress.changes) == adaptive and (not adaptive or progress.changes[0] == (8, 4))
    assert target.records("ns") == source.records("ns")
