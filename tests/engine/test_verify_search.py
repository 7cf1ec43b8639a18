"""verify --level search: a faithful copy searches the same; a changed vector shows in overlap and scores."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np

from pinecone_migrator.engine.migrate.copy import CopyOptions
from pinecone_migrator.engine.migrate.run import run_migration
from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.engine.verify.search import compare_search, sample_ids
from pinecone_migrator.records import Record
from pinecone_migrator.server.runner import BackgroundServer
from pinecone_migrator.stores.base import IndexShape, StoreDescription
from pinecone_migrator.stores.pinecone.store import PineconeStore

Pair = tuple[PineconeStore, PineconeStore, list[Record]]


def copied_pair(server: BackgroundServer, tmp_path: Path) -> Pair:
    source = PineconeStore("src", "k", server.url)
    source.create_like(
        StoreDescription(name="src", shape=IndexShape("dense", "dotproduct", 16), namespace_counts={})
    )
    rng = np.random.default_rng(5)
    records = [
        Record(
            id=f"r{i:04d}",
            values=rng.standard_normal(16, dtype=np.float32),
            sparse=None,
            metadata={"i": i},
        )
        for i in range(400)
    ]
    source.write("docs", records)
    target = PineconeStore("dst", "k", server.url)
    run_migration(
        MigrationRequest(
            source=Endpoint("src", server.url),
            target=Endpoint("dst", server.url),
            namespace_map=(("docs", "docs-v2"),),
            state_path=tmp_path / "ledger.sqlite",
            options=CopyOptions(),
        ),
        source,
        target,
    )
    return source, target, records


def test_a_faithful_copy_searches_the_same(server: BackgroundServer, tmp_path: Path) -> None:
    source, target, _ = copied_pair(server, tmp_path)
    result = compare_search(source, target, "docs", "docs-v2", queries=25, top_k=10)
    assert result.queries == 25 and result.equal
    assert (result.mean_overlap, result.min_overlap, result.max_score_difference) == (1.0, 1.0, 0.0)
    assert result.to_json()["equal"] is True


def test_changed_vectors_show_up_in_overlap_and_scores(server: BackgroundServer, tmp_path: Path) -> None:
    source, target, records = copied_pair(server, tmp_path)
    rng = np.random.default_rng(9)
    # A quarter of the target's vectors are replaced (as a wrong re-embedding or a lossy copy would).
    changed = [
        Record(id=r.id, values=rng.standard_normal(16, dtype=np.float32), metadata=r.metadata)
        for r in records[::4]
    ]
    target.write("docs-v2", changed)
    result = compare_search(source, target, "docs", "docs-v2", queries=40, top_k=10)
    assert not result.equal
    assert result.mean_overlap < 0.95 and result.max_score_difference > 1e-3
    assert result.examples and result.examples[0]["only_in_source"]


def test_sampling_is_uniform_and_says_when_the_listing_budget_cut_it_short(
    server: BackgroundServer, tmp_path: Path
) -> None:
    source, _, _ = copied_pair(server, tmp_path)
    ids, cut = sample_ids(source, "docs", 50, random.Random(1), list_budget=1_000)
    assert not cut and len(set(ids)) == 50 and max(ids) > "r0300"  # drawn from the whole namespace
    ids, cut = sample_ids(source, "docs", 50, random.Random(1), list_budget=100)
    assert cut and max(ids) < "r0100"


def test_a_store_that_cannot_search_leaves_the_search_level_unjudged(tmp_path: Path) -> None:
    from pinecone_migrator.engine.workflows import verify_search
    from pinecone_migrator.errors import ExitCode
    from pinecone_migrator.stores.memory import MemoryStore

    shape = IndexShape("dense", "cosine", 4)
    source, target = MemoryStore("a", shape), MemoryStore("b", shape)
    record = Record(id="r", values=np.ones(4, np.float32))
    source.write("ns", [record])
    target.write("ns", [record])
    request = MigrationRequest(
        source=Endpoint("a", None), target=Endpoint("b", None), state_path=tmp_path / "ledger.sqlite"
    )
    outcome = verify_search(request, source, target)
    assert outcome.unjudged is not None and "cannot run similarity searches" in outcome.unjudged
    assert outcome.comparisons == () and outcome.exit_code != ExitCode.OK
