"""migrate --verify batch: every written batch is read back (after waiting for visibility) and compared."""

from __future__ import annotations

import random
from pathlib import Path

import httpx
from pinecone import Pinecone

from pinecone_migrator.engine.migrate.copy import CopyOptions
from pinecone_migrator.engine.migrate.run import run_migration
from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.server.runner import BackgroundServer
from pinecone_migrator.stores.pinecone.store import PineconeStore

from ..helpers import dense_index, namespace_digest, random_records


def test_batches_are_read_back_after_the_target_shows_them(server: BackgroundServer, tmp_path: Path) -> None:
    pc = Pinecone(api_key="k", host=server.url)
    dense_index(pc, "src", dimension=8, metric="dotproduct").upsert(
        vectors=random_records(600, 8, random.Random(3), sparse=True), namespace="ns", batch_size=300
    )
    source = PineconeStore("src", "k", server.url)
    target = PineconeStore("dst", "k", server.url)
    source.describe()
    # Writes become visible 300 ms after they are acknowledged: reading back at once would find nothing.
    httpx.put(f"{server.url}/_admin/faults", json={"visibility_delay_ms": 300})
    summary = run_migration(
        MigrationRequest(
            source=Endpoint("src", server.url),
            target=Endpoint("dst", server.url),
            state_path=tmp_path / "ledger.sqlite",
            options=CopyOptions(page_size=100, read_back=True),
        ),
        source,
        target,
    )
    assert summary.complete and summary.copied == 600 and summary.dead_letters == 0, summary.to_json()
    assert (summary.read_back, summary.resent) == (600, 0)  # nothing had to be sent twice
    assert summary.to_json()["verify"] == {"level": "batch", "read_back_equal": 600, "resent": 0}
    httpx.post(f"{server.url}/_admin/faults/reset")
    assert namespace_digest(target, "ns") == namespace_digest(source, "ns")
