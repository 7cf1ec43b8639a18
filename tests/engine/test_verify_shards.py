"""Verify scans large namespaces as ID-prefix shards side by side: the same verdicts and digests as one scan
per namespace, differences still named ID by ID, and an interrupted sharded verify resumes shard by shard."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path

import pytest
from pinecone import Pinecone

from pinecone_migrator.engine.verify.run import VerifyOptions, verify
from pinecone_migrator.server.runner import BackgroundServer
from pinecone_migrator.stores.base import IdPage

from .test_verify import KEY, CountingStore, Pair, _one_ulp, found, migrated, standard_source
from .test_verify_resume import run, saved_scans


@pytest.fixture
def pair(server: BackgroundServer, tmp_path: Path) -> Pair:
    standard_source(Pinecone(api_key=KEY, host=server.url))
    return migrated(server, tmp_path)


class PrefixRecordingStore(CountingStore):
    """A real store that remembers the ID prefixes it was listed with."""

    def __init__(self, store: object) -> None:
        super().__init__(store)  # type: ignore[arg-type]
        self.prefixes: set[str] = set()
        self.lock = threading.Lock()

    def list_ids(
        self, namespace: str, *, prefix: str = "", cursor: str | None = None, limit: int = 100
    ) -> IdPage:
        with self.lock:
            self.prefixes.add(prefix)
        return super().list_ids(namespace, prefix=prefix, cursor=cursor, limit=limit)

    def fetch(self, namespace: str, ids: Sequence[str]) -> list:  # type: ignore[type-arg]
        with self.lock:
            return super().fetch(namespace, ids)


def digests(result: object) -> list[tuple[object, ...]]:
    return [(n.namespace, n.expected_digest, n.actual_digest, n.equal) for n in result.namespaces]  # type: ignore[attr-defined]


def test_sharded_scans_agree_with_whole_scans(pair: Pair) -> None:
    whole = verify(pair.request, pair.source, pair.target, VerifyOptions(level="digest", shards=1))
    source, target = PrefixRecordingStore(pair.source), PrefixRecordingStore(pair.target)
    sharded = verify(pair.request, source, target, VerifyOptions(level="digest", shards=4, page_size=10))
    assert whole.equal and sharded.equal
    assert digests(sharded) == digests(whole)
    assert sharded.source_records == whole.source_records == 240  # every record once, none twice
    # a-00000..a-00119 and b-...: shards such as "a-000", "a-001" were listed, on both sides
    assert len({p for p in source.prefixes if p.startswith("a-0")}) >= 2
    assert len({p for p in target.prefixes if p.startswith("b-0")}) >= 2


def test_a_sharded_full_verify_names_the_difference(pair: Pair) -> None:
    expected = _one_ulp(pair)
    result = verify(
        pair.request, pair.source, pair.target, VerifyOptions(level="full", shards=4, page_size=10)
    )
    assert not result.equal and found(result) == expected


def test_an_interrupted_sharded_verify_resumes_shard_by_shard(pair: Pair) -> None:
    options = VerifyOptions(level="digest", shards=4, page_size=10, fetch_size=10, concurrency=1)
    first = run(pair, options, stop_after=("source", 100))
    shards = saved_scans(pair, options)
    assert first.interrupted
    assert len([s for s in shards if s[:2] == ("source", "alpha")]) >= 2  # every shard on record
    second = run(pair, options)
    assert saved_scans(pair, options) == []
    assert second.equal and first.source_records + second.source_records == 240
    assert any(note.startswith("resumed:") for note in second.notes)
