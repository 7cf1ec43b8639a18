"""Verify (library): after a real migration every level says equal; each corruption of the target is named
(ID, kind, part) at the levels that can see it; repair fixes it; renamed, merged, routed and filtered
migrations are compared against what they should have produced."""

from __future__ import annotations

import dataclasses
import random
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson
import pytest
from pinecone import Pinecone

from pinecone_migrator.engine.migrate.copy import CopyOptions
from pinecone_migrator.engine.migrate.run import run_migration
from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.engine.verify.digests import bucket_of
from pinecone_migrator.engine.verify.run import (
    Difference,
    JsonlDiffWriter,
    VerifyOptions,
    VerifyResult,
    read_diff,
    repair,
    verify,
)
from pinecone_migrator.errors import MigratorError
from pinecone_migrator.records import STAMP_KEYS, Record
from pinecone_migrator.server.runner import BackgroundServer
from pinecone_migrator.stores.base import Capabilities, IdPage, StoreDescription, WriteAck
from pinecone_migrator.stores.pinecone.store import PineconeStore

from ..helpers import dense_index, random_records

KEY = "k"
PER_NAMESPACE = 120
Found = set[tuple[str, str, str, tuple[str, ...]]]


@dataclasses.dataclass
class Pair:
    request: MigrationRequest
    source: PineconeStore
    target: PineconeStore

    def check(self, level: str = "full", **options: Any) -> VerifyResult:
        return verify(self.request, self.source, self.target, VerifyOptions(level=level, **options))  # type: ignore[arg-type]

    def record(self, namespace: str, record_id: str) -> Record:
        (found,) = self.target.fetch(namespace, [record_id])
        return found

    def put(self, namespace: str, record: Record) -> None:
        self.target.write(namespace, [record])


def load(pc: Pinecone, namespaces: dict[str, list[dict[str, Any]]]) -> None:
    index = dense_index(pc, "src", dimension=8, metric="dotproduct")
    for namespace, records in namespaces.items():
        index.upsert(vectors=records, namespace=namespace, batch_size=100)


def standard_source(pc: Pinecone) -> None:
    load(
        pc,
        {
            "alpha": random_records(PER_NAMESPACE, 8, random.Random(1), sparse=True, prefix="a-"),
            "beta": random_records(PER_NAMESPACE, 8, random.Random(2), sparse=True, prefix="b-"),
        },
    )


def migrated(server: BackgroundServer, tmp_path: Path, **request: Any) -> Pair:
    migration = MigrationRequest(
        source=Endpoint("src", server.url),
        target=Endpoint("dst", server.url),
        state_path=tmp_path / "ledger.sqlite",
        options=CopyOptions(page_size=50),
        **request,
    )
    source = PineconeStore("src", KEY, server.url)
    target = PineconeStore("dst", KEY, server.url)
    summary = run_migration(migration, source, target)
    assert summary.complete, summary.to_json()
    return Pair(migration, source, target)


@pytest.fixture
def pair(server: BackgroundServer, tmp_path: Path) -> Pair:
    standard_source(Pinecone(api_key=KEY, host=server.url))
    return migrated(server, tmp_path)


def found(result: VerifyResult) -> Found:
    return {(d.namespace, d.id, d.kind, d.parts) for d in result.differences()}


def test_every_level_says_equal_after_a_migration(pair: Pair) -> None:
    for level, options in [
        ("count", {}),
        ("digest", {}),
        ("full", {}),
        ("full", {"all_buckets": True}),
        ("sample", {"sample_size": 30, "seed": 1}),
    ]:
        result = pair.check(level, **options)
        assert result.equal and result.judged, (level, result.to_json())
        assert [n.namespace for n in result.namespaces] == ["alpha", "beta"]
        report = result.to_json()
        assert report["equal"] is True and report["missing"] == report["extra"] == report["different"] == 0
    digest = pair.check("digest")
    assert [(n.expected_count, n.actual_count) for n in digest.namespaces] == [
        (PER_NAMESPACE, PER_NAMESPACE)
    ] * 2
    assert digest.source_records == digest.target_records == 2 * PER_NAMESPACE
    alpha = digest.namespace("alpha")
    assert alpha.expected_digest == alpha.actual_digest and alpha.differing_buckets == []
    sample = pair.check("sample", sample_size=30, seed=1)
    assert sum(n.sampled or 0 for n in sample.namespaces) == 30


def _one_ulp(pair: Pair) -> Found:
    record = pair.record("alpha", "a-00007")
    assert record.values is not None
    values = record.values.copy()
    values[3] = np.nextafter(values[3], np.float32(np.inf), dtype=np.float32)
    pair.put("alpha", dataclasses.replace(record, values=values))
    return {("alpha", "a-00007", "different", ("values",))}


def _sparse_pair(pair: Pair) -> Found:
    record = next(
        r
        for r in pair.target.fetch("beta", ["b-00011", "b-00012", "b-00013", "b-00014"])
        if r.sparse and len(r.sparse) > 1
    )
    assert record.sparse is not None
    smaller = {"indices": record.sparse.indices[1:].tolist(), "values": record.sparse.values[1:].tolist()}
    pair.put("beta", dataclasses.replace(record, sparse=smaller))  # type: ignore[arg-type]
    return {("beta", record.id, "different", ("sparse",))}


def _metadata_value(pair: Pair) -> Found:
    record = pair.record("alpha", "a-00020")
    pair.put("alpha", dataclasses.replace(record, metadata={**record.metadata, "year": 1234}))
    return {("alpha", "a-00020", "different", ("metadata:year",))}


def _list_order(pair: Pair) -> Found:
    ids = [f"a-{i:05d}" for i in range(40, 60)]
    record = next(r for r in pair.target.fetch("alpha", ids) if len(r.metadata.get("tags", [])) > 1)  # type: ignore[arg-type]
    tags = list(record.metadata["tags"])  # type: ignore[arg-type]
    pair.put("alpha", dataclasses.replace(record, metadata={**record.metadata, "tags": tags[::-1]}))
    return {("alpha", record.id, "different", ("metadata:tags",))}


def _deleted(pair: Pair) -> Found:
    pair.target.delete("beta", ["b-00099"])
    return {("beta", "b-00099", "missing", ())}


def _extra(pair: Pair) -> Found:
    pair.put("alpha", Record(id="zz-extra", values=np.ones(8, dtype=np.float32), metadata={"x": "y"}))
    return {("alpha", "zz-extra", "extra", ())}


def _wrong_namespace(pair: Pair) -> Found:
    record = pair.record("alpha", "a-00033")
    pair.target.delete("alpha", ["a-00033"])
    pair.put("beta", record)
    return {("alpha", "a-00033", "missing", ()), ("beta", "a-00033", "extra", ())}


CORRUPTIONS = {
    "one float32 ulp": _one_ulp,
    "sparse pair dropped": _sparse_pair,
    "metadata value": _metadata_value,
    "metadata list order": _list_order,
    "record deleted": _deleted,
    "extra record": _extra,
    "record in the wrong namespace": _wrong_namespace,
}


@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_each_corruption_is_named_and_repaired(pair: Pair, corruption: str) -> None:
    wanted = CORRUPTIONS[corruption](pair)
    digest = pair.check("digest")
    assert not digest.equal
    for namespace in ("alpha", "beta"):
        buckets = sorted({bucket_of(i, 256) for ns, i, _, _ in wanted if ns == namespace})
        assert digest.namespace(namespace).differing_buckets == buckets, (namespace, digest.to_json())
    full = pair.check("full")
    assert found(full) == wanted and not full.equal
    # The sample level sees what is missing or different among the records it draws, never extras.
    sample = pair.check("sample", sample_size=10_000)
    assert found(sample) == {f for f in wanted if f[2] != "extra"}
    assert sample.equal == all(f[2] == "extra" for f in wanted)
    summary = repair(full, pair.request, pair.source, pair.target, delete_extra=True)
    kinds = [f[2] for f in wanted]
    assert (summary.rewritten, summary.deleted, summary.extra_left) == (
        len(kinds) - kinds.count("extra"),
        kinds.count("extra"),
        0,
    )
    assert pair.check("full").equal and pair.check("digest").equal


def test_target_namespaces_nothing_should_land_in_are_scanned_only_when_asked(pair: Pair) -> None:
    pair.put("stray", pair.record("alpha", "a-00002"))
    assert pair.check("full").equal
    result = pair.check("full", all_target_namespaces=True)
    assert found(result) == {("stray", "a-00002", "extra", ())}
    assert result.namespace("stray").source_namespaces == []


def test_count_level_sees_a_missing_record_but_not_a_changed_one(pair: Pair) -> None:
    _metadata_value(pair)
    assert pair.check("count").equal  # counts cannot see a changed value
    _deleted(pair)
    result = pair.check("count")
    assert not result.equal and result.judged
    assert (result.namespace("beta").expected_count, result.namespace("beta").actual_count) == (
        PER_NAMESPACE,
        PER_NAMESPACE - 1,
    )
    assert result.namespace("alpha").equal


def test_repair_without_delete_extra_leaves_extras_and_reports_them(pair: Pair) -> None:
    wanted = _extra(pair) | _deleted(pair) | _one_ulp(pair)
    full = pair.check("full")
    assert found(full) == wanted
    summary = repair(full, pair.request, pair.source, pair.target)
    assert (summary.rewritten, summary.deleted, summary.extra_left) == (2, 0, 1)
    after = pair.check("full")
    assert found(after) == {("alpha", "zz-extra", "extra", ())} and not after.equal


def test_differences_stream_to_a_diff_file_and_repair_from_it(pair: Pair, tmp_path: Path) -> None:
    wanted = _wrong_namespace(pair) | _metadata_value(pair)
    path = tmp_path / "diff.jsonl"
    with JsonlDiffWriter(path) as writer:
        result = verify(
            pair.request, pair.source, pair.target, VerifyOptions(level="full"), on_difference=writer
        )
    first = orjson.loads(path.read_bytes().splitlines()[0])
    assert set(first) == {"namespace", "id", "kind", "parts", "source_namespace"}
    lines = list(read_diff(path))
    assert {(d.namespace, d.id, d.kind, d.parts) for d in lines} == wanted == found(result)
    assert Difference("alpha", "a-00033", "missing", (), "alpha") in lines
    summary = repair(read_diff(path), pair.request, pair.source, pair.target, delete_extra=True)
    assert (summary.rewritten, summary.deleted) == (2, 1)
    assert pair.check("full").equal


def test_full_level_in_rounds_and_with_few_buckets_finds_the_same(pair: Pair) -> None:
    wanted = _wrong_namespace(pair) | _one_ulp(pair) | _extra(pair) | _deleted(pair)
    assert found(pair.check("full", max_ids_in_memory=5)) == wanted
    assert found(pair.check("full", buckets=1)) == wanted
    assert found(pair.check("full", all_buckets=True)) == wanted
    kept = pair.check("full", keep_differences=0)
    assert kept.truncated and kept.count("missing") == 2 and not list(kept.differences())
    with pytest.raises(Exception, match="diff file"):
        repair(kept, pair.request, pair.source, pair.target)


def test_ignored_metadata_keys_are_not_compared(pair: Pair) -> None:
    record = pair.record("alpha", "a-00005")
    pair.put("alpha", dataclasses.replace(record, metadata={**record.metadata, "migrated_at": "2026-01-01"}))
    assert found(pair.check("full")) == {("alpha", "a-00005", "different", ("metadata:migrated_at",))}
    assert pair.check("full", ignore_metadata_keys=STAMP_KEYS).equal
    assert pair.check("full", ignore_metadata_keys=STAMP_KEYS, all_buckets=True).equal
    assert pair.check("sample", sample_size=1000, ignore_metadata_keys=STAMP_KEYS).equal


class CountingStore:
    """A real store, counting the list and fetch calls made through it."""

    def __init__(self, store: PineconeStore) -> None:
        self.store = store
        self.lists = 0
        self.fetched = 0

    def describe(self) -> StoreDescription:
        return self.store.describe()

    def capabilities(self) -> Capabilities:
        return self.store.capabilities()

    def list_ids(
        self, namespace: str, *, prefix: str = "", cursor: str | None = None, limit: int = 100
    ) -> IdPage:
        self.lists += 1
        return self.store.list_ids(namespace, prefix=prefix, cursor=cursor, limit=limit)

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        found = self.store.fetch(namespace, ids)
        self.fetched += len(found)
        return found

    def request_size(self, record: Record) -> int:
        return self.store.request_size(record)

    def write(self, namespace: str, records: Sequence[Record]) -> WriteAck:
        return self.store.write(namespace, records)

    def delete(self, namespace: str, ids: Sequence[str]) -> WriteAck:
        return self.store.delete(namespace, ids)


def test_a_stopped_verify_stops_reading_and_is_not_equal(pair: Pair) -> None:
    stop = threading.Event()
    stop.set()
    for level in ("digest", "full", "sample"):
        source, target = CountingStore(pair.source), CountingStore(pair.target)
        result = verify(pair.request, source, target, VerifyOptions(level=level), stop=stop)  # type: ignore[arg-type]
        assert result.interrupted and not result.equal
        assert (source.lists, target.lists, source.fetched, target.fetched) == (0, 0, 0, 0), level
    # Stopped after the first batch: each scan finishes the batches in flight, then reads no more.
    running = threading.Event()
    source, target = CountingStore(pair.source), CountingStore(pair.target)
    options = VerifyOptions(level="full", concurrency=1, page_size=10, fetch_size=10)
    result = verify(pair.request, source, target, options, stop=running, progress=lambda *_: running.set())
    assert result.interrupted and not result.equal and not result.judged
    assert 0 < source.fetched + target.fetched <= 4 * 10
    assert source.lists + target.lists <= 8


def test_a_failing_store_raises_instead_of_judging(pair: Pair) -> None:
    missing = PineconeStore("no-such-index", KEY, str(pair.request.target.host))
    with pytest.raises(MigratorError):
        verify(pair.request, pair.source, missing)


def test_renamed_namespaces(server: BackgroundServer, tmp_path: Path) -> None:
    standard_source(Pinecone(api_key=KEY, host=server.url))
    pair = migrated(server, tmp_path, namespace_map=(("alpha", "alpha-v2"),))
    for level in ("count", "digest", "full", "sample"):
        result = pair.check(level)
        assert result.equal, (level, result.to_json())
        assert [n.namespace for n in result.namespaces] == ["alpha-v2", "beta"]
    pair.target.delete("alpha-v2", ["a-00001"])
    assert found(pair.check("full")) == {("alpha-v2", "a-00001", "missing", ())}
    assert not pair.check("count").equal


def test_merged_namespaces_expect_the_later_record(server: BackgroundServer, tmp_path: Path) -> None:
    # The same IDs in both namespaces: the migration copies "alpha" then "beta", so beta's records stay.
    load(
        Pinecone(api_key=KEY, host=server.url),
        {
            "alpha": random_records(80, 8, random.Random(1), prefix="r-"),
            "beta": random_records(60, 8, random.Random(2), prefix="r-"),
        },
    )
    pair = migrated(server, tmp_path, target_namespace="all", allow_merge=True)
    for level in ("digest", "full", "sample"):
        result = pair.check(level, sample_size=200)
        assert result.equal, (level, result.to_json())
    digest = pair.check("digest")
    assert digest.namespace("all").expected_count == 80 and digest.namespace("all").source_namespaces == [
        "alpha",
        "beta",
    ]
    count = pair.check("count")
    assert not count.judged and not count.equal and "cannot judge" in count.namespaces[0].note  # type: ignore[operator]
    # r-00010 came from beta; putting alpha's version there is a difference, to be repaired from beta.
    (from_alpha,) = pair.source.fetch("alpha", ["r-00010"])
    pair.put("all", from_alpha)
    full = pair.check("full")
    assert [(d.id, d.kind, d.source_namespace) for d in full.differences()] == [
        ("r-00010", "different", "beta")
    ]
    assert pair.check("sample", sample_size=200).count("different") == 1
    # Without knowing where it came from (e.g. an older diff file), repair takes the merge's winner too.
    anonymous = [dataclasses.replace(d, source_namespace=None) for d in full.differences()]
    assert repair(anonymous, pair.request, pair.source, pair.target).rewritten == 1
    assert pair.check("full").equal


def test_metadata_routing_with_fallback(server: BackgroundServer, tmp_path: Path) -> None:
    records = random_records(150, 8, random.Random(4), prefix="m-")
    for n, record in enumerate(records):
        if n % 5:
            record["metadata"]["tenant"] = ["t1", "t2"][n % 2]
    load(Pinecone(api_key=KEY, host=server.url), {"shared": records})
    pair = migrated(server, tmp_path, namespace_from_metadata="tenant", fallback_namespace="misc")
    for level in ("digest", "full", "sample"):
        result = pair.check(level, sample_size=500)
        assert result.equal, (level, result.to_json())
        assert [n.namespace for n in result.namespaces] == ["misc", "t1", "t2"]
    digest = pair.check("digest")
    assert [n.expected_count for n in digest.namespaces] == [30, 60, 60]
    count = pair.check("count")
    assert not count.judged and not count.equal
    # m-00001 is routed to t2; in t1 it is in the wrong namespace.
    record = pair.record("t2", "m-00001")
    pair.target.delete("t2", ["m-00001"])
    pair.put("t1", record)
    wanted = {("t2", "m-00001", "missing", ()), ("t1", "m-00001", "extra", ())}
    assert found(pair.check("full")) == wanted
    assert pair.check("digest").namespace("t1").differing_buckets == [bucket_of("m-00001", 256)]
    assert found(pair.check("sample", sample_size=500)) == {("t2", "m-00001", "missing", ())}
    repair(pair.check("full"), pair.request, pair.source, pair.target, delete_extra=True)
    assert pair.check("full").equal


def test_routing_without_fallback_expects_nothing_of_unroutable_records(
    server: BackgroundServer, tmp_path: Path
) -> None:
    records = random_records(50, 8, random.Random(5), prefix="u-")
    for n, record in enumerate(records):
        if n % 5:
            record["metadata"]["tenant"] = "t1"
    load(Pinecone(api_key=KEY, host=server.url), {"shared": records})
    pair = migrated(server, tmp_path, namespace_from_metadata="tenant")
    result = pair.check("full")
    assert result.equal and result.unroutable == 10 and [n.namespace for n in result.namespaces] == ["t1"]


def test_routing_scans_the_fallback_namespace_even_when_nothing_falls_back(
    server: BackgroundServer, tmp_path: Path
) -> None:
    records = random_records(30, 8, random.Random(6), prefix="f-")
    for record in records:
        record["metadata"]["tenant"] = "t1"
    load(Pinecone(api_key=KEY, host=server.url), {"shared": records})
    pair = migrated(server, tmp_path, namespace_from_metadata="tenant", fallback_namespace="misc")
    assert pair.check("full").equal
    pair.put("misc", pair.record("t1", "f-00003"))
    assert found(pair.check("full")) == {("misc", "f-00003", "extra", ())}


def test_verify_waits_for_the_targets_writes_to_be_visible(server: BackgroundServer, tmp_path: Path) -> None:
    standard_source(Pinecone(api_key=KEY, host=server.url))
    httpx.put(f"{server.url}/_admin/faults", json={"visibility_delay_ms": 1500})
    try:
        pair = migrated(server, tmp_path)
        lsns = pair.target.written_lsns()
        result = verify(pair.request, pair.source, pair.target, target_lsns=lsns)
        assert result.equal and result.freshness == {"alpha": True, "beta": True}, result.to_json()
        wanted = _deleted(pair) | _extra(pair)
        # Read at once, the target still shows its old state; waiting for its writes shows the truth.
        assert pair.check("full").equal
        after = verify(
            pair.request,
            pair.source,
            pair.target,
            VerifyOptions(level="full"),
            target_lsns=pair.target.written_lsns(),
        )
        assert found(after) == wanted
        summary = repair(after, pair.request, pair.source, pair.target, delete_extra=True)
        assert summary.fresh == {"alpha": True, "beta": True}
        assert pair.check("full").equal
    finally:
        httpx.post(f"{server.url}/_admin/faults/reset")


def test_a_filter_compares_only_the_matching_records(server: BackgroundServer, tmp_path: Path) -> None:
    standard_source(Pinecone(api_key=KEY, host=server.url))
    pair = migrated(server, tmp_path, filter={"year": {"$gte": 2010}})
    matching = {
        ns: {
            r.id
            for r in pair.source.fetch(ns, [f"{ns[0]}-{i:05d}" for i in range(PER_NAMESPACE)])
            if r.metadata["year"] >= 2010
        }  # type: ignore[operator]
        for ns in ("alpha", "beta")
    }
    for level in ("digest", "full", "sample"):
        result = pair.check(level, sample_size=500)
        assert result.equal, (level, result.to_json())
    digest = pair.check("digest")
    assert [n.expected_count for n in digest.namespaces] == [len(matching["alpha"]), len(matching["beta"])]
    assert digest.filtered_out == 2 * PER_NAMESPACE - len(matching["alpha"]) - len(matching["beta"])
    assert not pair.check("count").judged
    # A matching record changed, a matching one deleted, a non-matching one copied in after all.
    changed, deleted = sorted(matching["alpha"])[:2]
    outsider = next(f"b-{i:05d}" for i in range(PER_NAMESPACE) if f"b-{i:05d}" not in matching["beta"])
    record = pair.record("alpha", changed)
    pair.put("alpha", dataclasses.replace(record, metadata={**record.metadata, "title": "changed"}))
    pair.target.delete("alpha", [deleted])
    pair.target.write("beta", pair.source.fetch("beta", [outsider]))
    wanted = {
        ("alpha", changed, "different", ("metadata:title",)),
        ("alpha", deleted, "missing", ()),
        ("beta", outsider, "extra", ()),
    }
    assert found(pair.check("full")) == wanted
    repair(pair.check("full"), pair.request, pair.source, pair.target, delete_extra=True)
    assert pair.check("full").equal
