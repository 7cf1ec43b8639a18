"""Resumable verify: an interrupted digest pass is continued from the ledger file and reaches exactly the
verdict and digests of an uninterrupted verify, fetching only what it had not fetched yet; a verdict clears
the saved progress; other settings start over; the walk's checkpoints survive a failing store."""

from __future__ import annotations

import random
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from pinecone import Pinecone

from pinecone_migrator.engine.ledger import Ledger
from pinecone_migrator.engine.pacing import AdaptiveLimit
from pinecone_migrator.engine.verify.buckets import STARTED_OVER_NOTE
from pinecone_migrator.engine.verify.digests import bucket_of
from pinecone_migrator.engine.verify.run import (
    VerifyCheckpoints,
    VerifyOptions,
    VerifyResult,
    verify,
    verify_fingerprint,
)
from pinecone_migrator.engine.walk import Position, Walker, fetching, listing
from pinecone_migrator.records import Record
from pinecone_migrator.server.runner import BackgroundServer

from ..helpers import random_records
from .test_verify import (
    KEY,
    PER_NAMESPACE,
    CountingStore,
    Pair,
    _one_ulp,
    found,
    load,
    migrated,
    standard_source,
)

# Options, and after how many source records to stop (scans side by side finish up to 3 batches each).
SHAPES: dict[str, tuple[dict[str, int], int]] = {
    "one scan at a time, one page per batch": ({"concurrency": 1, "page_size": 10, "fetch_size": 10}, 150),
    "scans side by side, batches of several pages": (
        {"concurrency": 3, "page_size": 7, "fetch_size": 20},
        40,
    ),
}


@pytest.fixture
def pair(server: BackgroundServer, tmp_path: Path) -> Pair:
    standard_source(Pinecone(api_key=KEY, host=server.url))
    return migrated(server, tmp_path)


def checkpoints(pair: Pair, options: VerifyOptions, restart: bool = False) -> VerifyCheckpoints:
    return VerifyCheckpoints(
        pair.request.ledger_path(), verify_fingerprint(pair.request, options), restart=restart
    )


def run(pair: Pair, options: VerifyOptions, *, stop_after: tuple[str, int] | None = None) -> VerifyResult:
    """A verify saving its progress in the migration's ledger, stopped once ``stop_after`` = (side, records
    fetched from that side) is reached."""
    stop = threading.Event()
    seen = {"source": 0, "target": 0}

    def progress(side: str, namespace: str, count: int) -> None:
        seen[side] += count
        if stop_after is not None and side == stop_after[0] and seen[side] >= stop_after[1]:
            stop.set()

    with checkpoints(pair, options) as saved:
        return verify(
            pair.request, pair.source, pair.target, options, stop=stop, progress=progress, checkpoints=saved
        )


def saved_scans(pair: Pair, options: VerifyOptions) -> list[tuple[str, str, bool]]:
    with checkpoints(pair, options) as saved:
        return saved.saved_scans()


def figures(result: VerifyResult) -> list[tuple[Any, ...]]:
    """Everything a verdict says per namespace, and the counters of records expected nowhere."""
    per_namespace = [
        (
            n.namespace,
            n.source_namespaces,
            n.expected_digest,
            n.actual_digest,
            n.differing_buckets,
            n.equal,
            dict(n.counts),
        )
        for n in result.namespaces
    ]
    return [*per_namespace, (result.filtered_out, result.unroutable, result.equal)]


def resumed_note(result: VerifyResult) -> str:
    return next(note for note in result.notes if note.startswith("resumed:"))


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_an_interrupted_verify_continues_where_it_stopped(pair: Pair, shape: str) -> None:
    shaped, stop_after = SHAPES[shape]
    options = VerifyOptions(level="digest", **shaped)
    uninterrupted = pair.check("digest")
    first = run(pair, options, stop_after=("source", stop_after))
    assert first.interrupted and not first.equal
    assert stop_after <= first.source_records < 2 * PER_NAMESPACE
    assert any(not complete for _, _, complete in saved_scans(pair, options))
    second = run(pair, options)
    assert second.equal and not second.interrupted, second.to_json()
    assert figures(second) == figures(uninterrupted)
    # Nothing fetched before the stop is fetched again, and nothing is left out.
    assert first.source_records + second.source_records == 2 * PER_NAMESPACE
    assert first.target_records + second.target_records == 2 * PER_NAMESPACE
    assert "resumed:" in resumed_note(second)
    assert saved_scans(pair, options) == []


def test_a_resumed_verify_still_sees_a_corrupted_target(pair: Pair) -> None:
    wanted = _one_ulp(pair)  # a-00007: among the first records of the target scan, saved before the stop
    digest = VerifyOptions(level="digest", concurrency=1, page_size=10, fetch_size=10)
    first = run(pair, digest, stop_after=("target", 60))
    assert first.interrupted and first.target_records < 2 * PER_NAMESPACE
    assert ("target", "alpha", False) in saved_scans(pair, digest)
    second = run(pair, digest)
    assert resumed_note(second) == "resumed: 2 scans reused, 1 continued"
    assert first.target_records + second.target_records == 2 * PER_NAMESPACE
    assert not second.equal and second.source_records == 0
    assert second.namespace("alpha").differing_buckets == [bucket_of("a-00007", 256)]
    assert second.namespace("beta").equal
    assert figures(second) == figures(pair.check("digest"))

    full = VerifyOptions(level="full", concurrency=1, page_size=10, fetch_size=10)
    run(pair, full, stop_after=("target", 60))
    resumed = run(pair, full)
    assert "resumed:" in resumed_note(resumed)
    assert found(resumed) == wanted and not resumed.equal


def test_a_verdict_clears_the_saved_progress(pair: Pair) -> None:
    options = VerifyOptions(level="digest", concurrency=1, page_size=10, fetch_size=10)
    run(pair, options, stop_after=("source", 30))
    assert saved_scans(pair, options)
    assert run(pair, options).equal
    assert saved_scans(pair, options) == []
    again = run(pair, options)
    assert again.equal and not any(n.startswith("resumed:") for n in again.notes)
    assert again.source_records == again.target_records == 2 * PER_NAMESPACE
    # The migration's own ledger in the same file is untouched by verify's tables.
    with Ledger(pair.request.ledger_path()) as ledger:
        assert [(u.namespace, u.done, u.copied) for u in ledger.namespaces()] == [
            ("alpha", True, PER_NAMESPACE),
            ("beta", True, PER_NAMESPACE),
        ]
    # A verify stopped in its ID pass keeps the digest scans: the next one reads no source again.
    full = VerifyOptions(level="full", concurrency=1, page_size=10, fetch_size=10, all_buckets=True)
    first = run(pair, full, stop_after=("source", 2 * PER_NAMESPACE + 10))
    assert first.interrupted and len(saved_scans(pair, full)) == 4
    second = run(pair, full)
    assert second.equal and resumed_note(second) == "resumed: 4 scans reused, 0 continued"
    assert saved_scans(pair, full) == []


def test_other_settings_start_over(pair: Pair) -> None:
    before = VerifyOptions(level="digest", concurrency=1, page_size=10, fetch_size=10)
    run(pair, before, stop_after=("source", 50))
    after = VerifyOptions(level="digest", concurrency=1, page_size=10, fetch_size=10, buckets=64)
    with checkpoints(pair, after) as saved:
        assert saved.started_over and saved.saved_scans() == []
    result = run(pair, after)
    assert result.equal and result.source_records == 2 * PER_NAMESPACE
    assert STARTED_OVER_NOTE not in result.notes  # told once, by the verify that found them
    run(pair, before, stop_after=("source", 50))
    with checkpoints(pair, after) as saved:
        result = verify(pair.request, pair.source, pair.target, after, checkpoints=saved)
    assert STARTED_OVER_NOTE in result.notes and result.equal
    # Asked to restart, the same settings start over without a word.
    run(pair, before, stop_after=("source", 50))
    with checkpoints(pair, before, restart=True) as saved:
        assert not saved.started_over and saved.saved_scans() == []
    # Checkpoints made for other settings are refused rather than mixed in.
    with checkpoints(pair, before) as saved, pytest.raises(ValueError, match="other settings"):
        verify(pair.request, pair.source, pair.target, after, checkpoints=saved)


@pytest.mark.parametrize("stop_after", [("source", 60), ("target", 50)])
def test_metadata_routing_resumes(
    server: BackgroundServer, tmp_path: Path, stop_after: tuple[str, int]
) -> None:
    records = random_records(150, 8, random.Random(4), prefix="m-")
    for n, record in enumerate(records):
        if n % 5:
            record["metadata"]["tenant"] = ["t1", "t2"][n % 2]
    load(Pinecone(api_key=KEY, host=server.url), {"shared": records})
    pair = migrated(server, tmp_path, namespace_from_metadata="tenant")  # no fallback: 30 unroutable
    options = VerifyOptions(level="full", concurrency=2, page_size=10, fetch_size=20)
    uninterrupted = pair.check("full")
    assert uninterrupted.unroutable == 30
    first = run(pair, options, stop_after=stop_after)
    assert first.interrupted
    second = run(pair, options)
    assert second.equal and "resumed:" in resumed_note(second)
    assert figures(second) == figures(uninterrupted)
    assert first.source_records + second.source_records == 150
    assert [n.namespace for n in second.namespaces] == ["t1", "t2"]


def test_a_filtered_migration_resumes_with_the_same_counts(server: BackgroundServer, tmp_path: Path) -> None:
    standard_source(Pinecone(api_key=KEY, host=server.url))
    pair = migrated(server, tmp_path, filter={"year": {"$gte": 2010}})
    options = VerifyOptions(level="digest", concurrency=1, page_size=10, fetch_size=10)
    uninterrupted = pair.check("digest")
    run(pair, options, stop_after=("source", 70))
    second = run(pair, options)
    assert second.equal and figures(second) == figures(uninterrupted)
    assert second.filtered_out == uninterrupted.filtered_out > 0


class FailingStore(CountingStore):
    """A real store whose fetches fail after ``fetches`` calls, like a connection that went away."""

    def __init__(self, pair: Pair, fetches: int) -> None:
        super().__init__(pair.source)
        self.left = fetches

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        self.left -= 1
        if self.left < 0:
            raise ConnectionError("gone")
        return super().fetch(namespace, ids)


@pytest.mark.parametrize(
    ("page_size", "fetch_size", "keep"), [(10, 10, False), (7, 20, False), (5, 12, True)]
)
def test_a_scan_failing_midway_continues_from_its_last_checkpoint(
    pair: Pair, page_size: int, fetch_size: int, keep: bool
) -> None:
    """Checkpoints taken during the scan (not only at its end) hold exactly the IDs before their cursor,
    batches spanning several list pages and an ID filter included."""
    keep_id = (lambda i: bucket_of(i, 3) != 0) if keep else None
    wanted = [f"a-{i:05d}" for i in range(PER_NAMESPACE)]
    wanted = [i for i in wanted if keep_id is None or keep_id(i)]
    merged: list[str] = []
    saved: list[tuple[str | None, int, bool, list[str]]] = []

    def scan(store: CountingStore, start: Position | None) -> None:
        with ThreadPoolExecutor(3) as pool:
            walker = Walker(
                pool,
                limit=AdaptiveLimit(3),
                stop=threading.Event(),
                in_flight=3,
                batch_size=fetch_size,
                checkpoint_seconds=0.0,
            )
            walker.walk(
                listing(store, "alpha", page_size=page_size),  # type: ignore[arg-type]
                fetching(store, "alpha", lambda records: [r.id for r in records]),  # type: ignore[arg-type]
                lambda ids, _: merged.extend(ids),
                keep=keep_id,
                start=start,
                on_checkpoint=lambda at, done: saved.append((at.cursor, at.listed, done, list(merged))),
            )

    with pytest.raises(ConnectionError):
        scan(FailingStore(pair, 3), None)
    cursor, listed, complete, before = saved[-1]
    assert not complete and cursor is not None and 0 < len(before) < len(wanted)
    assert before == wanted[: len(before)]
    merged[:] = before
    rest = CountingStore(pair.source)
    scan(rest, Position(cursor, listed))
    assert merged == wanted and rest.fetched == len(wanted) - len(before)
    assert saved[-1][:3] == (None, PER_NAMESPACE, True)
