"""A --filter gives the same target whether the source evaluates it (fetch_by_metadata) or we do."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from pinecone import Pinecone

from pinecone_migrator.engine.ledger import Ledger
from pinecone_migrator.engine.migrate.copy import CopyOptions
from pinecone_migrator.engine.migrate.run import run_migration
from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.server.runner import BackgroundServer
from pinecone_migrator.stores.pinecone.store import PineconeStore

from ..helpers import as_plain, dense_index, expected, random_records

FILTER = {"$or": [{"year": {"$lt": 2000}}, {"published": True, "tags": {"$nin": ["a"]}}]}


def matches(metadata: dict[str, object]) -> bool:
    year, tags = metadata["year"], metadata["tags"]
    assert isinstance(year, int) and isinstance(tags, list)
    return year < 2000 or (metadata["published"] is True and "a" not in tags)


@pytest.mark.parametrize("server_side", [True, False])
def test_both_filter_paths_copy_exactly_the_matching_records(
    server: BackgroundServer, tmp_path: Path, server_side: bool
) -> None:
    pc = Pinecone(api_key="k", host=server.url)
    records = random_records(700, 8, random.Random(11))
    dense_index(pc, "src", dimension=8).upsert(vectors=records, namespace="ns", batch_size=350)
    summary = run_migration(
        MigrationRequest(
            source=Endpoint("src", server.url),
            target=Endpoint("dst", server.url),
            filter=FILTER,
            state_path=tmp_path / "ledger.sqlite",
            options=CopyOptions(page_size=64, server_side_filter=server_side),
        ),
        PineconeStore("src", "k", server.url),
        PineconeStore("dst", "k", server.url),
    )
    want = {r["id"]: expected(r) for r in records if matches(r["metadata"])}
    assert 0 < len(want) < len(records)
    target = pc.index(host=pc.describe_index("dst").host)
    ids = [item.id for page in target.list(namespace="ns") for item in page.vectors]
    got = {v.id: as_plain(v) for v in target.fetch(ids=ids, namespace="ns").vectors.values()} if ids else {}
    assert got == want
    (ns,) = summary.namespaces
    assert ns.copied == len(want) and ns.done
    with Ledger(tmp_path / "ledger.sqlite") as ledger:  # how far the target's writes went, for freshness
        assert ledger.written_lsns()["ns"] >= 1
    if server_side:
        assert (ns.listed, ns.skipped) == (len(want), 0)  # only matching records were transferred
    else:
        assert (ns.listed, ns.skipped) == (len(records), len(records) - len(want))
