"""ID-prefix shards: found by probing, covering every ID exactly once, copied in parallel and resumable."""

from __future__ import annotations

import random
import sqlite3
import threading
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pinecone import Pinecone

from pinecone_migrator.engine.migrate.copy import CopyOptions
from pinecone_migrator.engine.migrate.run import run_migration
from pinecone_migrator.engine.migrate.shards import discover_prefixes
from pinecone_migrator.engine.progress import NullProgress
from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.records import Record, SetDigest, record_digest
from pinecone_migrator.server.runner import BackgroundServer
from pinecone_migrator.stores.base import IndexShape, StoreDescription
from pinecone_migrator.stores.pinecone.store import PineconeStore

SHAPE = StoreDescription(
    name="src", shape=IndexShape("dense", "cosine", 4), namespace_counts={}, cloud="aws", region="us-east-1"
)


def store_with(server: BackgroundServer, name: str, ids: list[str], namespace: str = "ns") -> PineconeStore:
    store = PineconeStore(name, "k", server.url)
    if not store.exists():
        store.create_like(SHAPE)
    rng = np.random.default_rng(len(ids))
    records = [Record(id=i, values=rng.random(4, dtype=np.float32) + 0.1, metadata={"i": i}) for i in ids]
    for start in range(0, len(records), 500):
        store.write(namespace, records[start : start + 500])
    return store


def listed_under(store: PineconeStore, prefix: str, namespace: str = "ns") -> list[str]:
    found: list[str] = []
    cursor = None
    while True:
        page = store.list_ids(namespace, prefix=prefix, cursor=cursor, limit=100)
        found += page.ids
        cursor = page.cursor
        if cursor is None:
            return found


def test_uuid_like_ids_split_by_first_character(server: BackgroundServer) -> None:
    rng = random.Random(1)
    ids = [f"{rng.getrandbits(64):016x}" for _ in range(400)]
    store = store_with(server, "uuids", ids)
    prefixes = discover_prefixes(store, "ns", wanted=4)
    assert prefixes == sorted({i[0] for i in ids})


def test_shared_prefixes_are_descended_and_an_id_equal_to_a_prefix_is_kept(server: BackgroundServer) -> None:
    ids = [f"doc-{n:05d}" for n in range(300)]
    assert discover_prefixes(store_with(server, "docs", ids), "ns", wanted=3) == [
        "doc-000",
        "doc-001",
        "doc-002",
    ]
    # With "doc-0" itself an ID, "doc-0" is never split (its children would not cover it): one prefix
    # only, so no sharding.
    assert discover_prefixes(store_with(server, "docs2", [*ids, "doc-0"]), "ns", wanted=3) == []
    assert discover_prefixes(store_with(server, "empty", []), "ns", wanted=4) == []


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sets(
        st.text(alphabet="ab/#-_ .~", min_size=1, max_size=6),
        min_size=1,
        max_size=60,
    ),
    st.integers(min_value=2, max_value=12),
)
def test_prefixes_cover_every_id_exactly_once(server: BackgroundServer, ids: set[str], wanted: int) -> None:
    name = f"p{abs(hash((frozenset(ids), wanted))) % 10**9}"
    store = store_with(server, name, sorted(ids))
    prefixes = discover_prefixes(store, "ns", wanted=wanted)
    if not prefixes:
        return
    assert all(not a.startswith(b) for a in prefixes for b in prefixes if a != b)  # disjoint
    covered = [i for p in prefixes for i in listed_under(store, p)]
    assert sorted(covered) == sorted(ids)


def digest(store: PineconeStore, namespace: str) -> SetDigest:
    result = SetDigest()
    for batch_start in range(0, 10**9, 1000):
        ids = listed_under(store, "", namespace)[batch_start : batch_start + 1000]
        if not ids:
            return result
        for record in store.fetch(namespace, ids):
            result.add(record_digest(record))
    return result


class StopAfter(NullProgress):
    def __init__(self, stop: threading.Event, pages: int) -> None:
        self.stop, self.left = stop, pages

    def page_done(self, namespace: str, listed: int, copied: int, skipped: int, dead_letters: int) -> None:
        self.left -= 1
        if self.left <= 0:
            self.stop.set()


def test_sharded_copy_stops_resumes_and_then_picks_up_ids_outside_the_shards(
    server: BackgroundServer, tmp_path: Path
) -> None:
    rng = random.Random(7)
    ids = sorted({f"{rng.choice('0123456789abcdef')}{rng.getrandbits(40):x}" for _ in range(3_000)})
    source = store_with(server, "src", ids)
    target = PineconeStore("dst", "k", server.url)
    request = MigrationRequest(
        source=Endpoint("src", server.url),
        target=Endpoint("dst", server.url),
        state_path=tmp_path / "ledger.sqlite",
        options=CopyOptions(concurrency=4, page_size=50, shards=4),
    )
    stop = threading.Event()
    first = run_migration(request, source, target, stop, progress=StopAfter(stop, 12))
    assert first.interrupted and not first.complete
    with sqlite3.connect(tmp_path / "ledger.sqlite") as ledger:
        shards = [row[0] for row in ledger.execute("SELECT prefix FROM units WHERE prefix != '' ORDER BY 1")]
    assert shards == sorted({i[0] for i in ids})
    # The source grows meanwhile, with IDs under a first character no shard covers.
    store_with(server, "src", [f"zz-late-{n}" for n in range(40)])
    second = run_migration(request, source, target)
    assert second.complete and second.resumed
    (ns,) = second.namespaces
    assert ns.copied >= len(ids) + 40  # pages in flight at the stop may have been copied twice
    assert digest(target, "ns") == digest(source, "ns")


def test_small_namespaces_are_not_sharded_by_default(server: BackgroundServer, tmp_path: Path) -> None:
    pc = Pinecone(api_key="k", host=server.url)
    source = store_with(server, "small", [f"{c}{n}" for c in "abc" for n in range(50)])
    run_migration(
        MigrationRequest(
            source=Endpoint("small", server.url),
            target=Endpoint("small-copy", server.url),
            state_path=tmp_path / "ledger.sqlite",
        ),
        source,
        PineconeStore("small-copy", "k", server.url),
    )
    with sqlite3.connect(tmp_path / "ledger.sqlite") as ledger:
        assert ledger.execute("SELECT prefix FROM units").fetchall() == [("",)]
    assert pc.describe_index("small-copy").dimension == 4
