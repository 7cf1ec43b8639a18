"""Adaptive concurrency: halve on 429, grow back, never below one; a run through 429s still copies all."""

from __future__ import annotations

import random
import threading
from pathlib import Path

import httpx
from pinecone import Pinecone

from pinecone_migrator.engine.migrate.copy import CopyOptions
from pinecone_migrator.engine.migrate.run import run_migration
from pinecone_migrator.engine.pacing import AdaptiveLimit
from pinecone_migrator.engine.progress import NullProgress
from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.server.runner import BackgroundServer
from pinecone_migrator.stores.pinecone.store import PineconeStore, RetryPolicy

from ..helpers import dense_index, namespace_digest, random_records

PATIENT = RetryPolicy(attempts=60, base_seconds=0.01, max_seconds=0.05, budget_seconds=60)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_429_halves_once_per_cooldown_and_successes_grow_it_back() -> None:
    clock = Clock()
    changes: list[tuple[int, int]] = []
    limit = AdaptiveLimit(
        8, grow_after=3, cooldown_seconds=2.0, clock=clock, on_change=lambda a, b, _: changes.append((a, b))
    )
    limit.throttled()
    limit.throttled()  # same burst: counted once
    assert limit.limit == 4
    clock.now = 2.5
    limit.throttled()
    assert limit.limit == 2
    for _ in range(3):
        assert limit.acquire()
        limit.release()
    assert limit.limit == 3
    for _ in range(3 * 10):
        assert limit.acquire()
        limit.release()
    assert limit.limit == 8  # never above the configured concurrency
    assert changes[:3] == [(8, 4), (4, 2), (2, 3)]


def test_never_below_one_and_acquire_waits_for_a_slot() -> None:
    clock = Clock()
    limit = AdaptiveLimit(2, cooldown_seconds=0.0, clock=clock)
    for step in range(5):
        clock.now = float(step)
        limit.throttled()
    assert limit.limit == 1
    assert limit.acquire()
    stop = threading.Event()
    got: list[bool] = []
    waiter = threading.Thread(target=lambda: got.append(limit.acquire(stop)))
    waiter.start()
    waiter.join(0.3)
    assert waiter.is_alive() and not got  # no slot: waiting
    limit.release()
    waiter.join(2)
    assert got == [True]
    stop.set()
    assert limit.acquire(stop) is False  # full again, and stopping: gives up instead of waiting


class Recorder(NullProgress):
    def __init__(self) -> None:
        self.changes: list[tuple[int, int, str]] = []

    def concurrency_changed(self, old: int, new: int, reason: str) -> None:
        self.changes.append((old, new, reason))


def test_a_run_through_429s_slows_down_and_loses_nothing(server: BackgroundServer, tmp_path: Path) -> None:
    pc = Pinecone(api_key="k", host=server.url)
    index = dense_index(pc, "src", dimension=8)
    index.upsert(vectors=random_records(1_500, 8, random.Random(4)), namespace="ns", batch_size=500)
    source = PineconeStore("src", "k", server.url, retry=PATIENT, seed=1)
    target = PineconeStore("dst", "k", server.url, retry=PATIENT, seed=2)
    source.describe()
    httpx.put(f"{server.url}/_admin/faults", json={"rate_429": 0.3, "seed": 9})
    recorder = Recorder()
    summary = run_migration(
        MigrationRequest(
            source=Endpoint("src", server.url),
            target=Endpoint("dst", server.url),
            state_path=tmp_path / "ledger.sqlite",
            options=CopyOptions(concurrency=8, page_size=50),
        ),
        source,
        target,
        progress=recorder,
    )
    httpx.post(f"{server.url}/_admin/faults/reset")
    assert summary.complete and summary.copied == 1_500
    halvings = [(old, new) for old, new, reason in recorder.changes if new < old]
    assert halvings and halvings[0] == (8, 4)
    assert namespace_digest(target, "ns") == namespace_digest(source, "ns")
