"""`make demo`: a local server, a source index of tens of thousands of records, a real migration, a check.

Everything runs on the local Pinecone-compatible server, in memory: nothing to configure.
"""

from __future__ import annotations

import random
import string
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from pinecone import Pinecone, ServerlessSpec
from rich.console import Console

from .engine.migrate.run import run_migration
from .engine.progress import NullProgress
from .engine.request import Endpoint, MigrationRequest
from .engine.verify.run import VerifyOptions, verify
from .engine.walk import record_pages
from .records import SetDigest, record_digest
from .server.context import ServerConfig
from .server.runner import BackgroundServer
from .stores.base import Store
from .stores.pinecone.store import PineconeStore

NAMESPACES = ("tenant-alpha", "tenant-beta", "__default__")
RECORDS_PER_NAMESPACE = 8_000
DIMENSION = 32


def demo_records(namespace: str, count: int, rng: random.Random) -> list[dict[str, Any]]:
    """Records shaped like a RAG corpus: chunk IDs, dense + sparse values, typed metadata."""
    records = []
    for i in range(count):
        document = i // 5
        indices = sorted(rng.sample(range(30_000), k=8))
        records.append(
            {
                "id": f"doc{document:04d}#chunk{i % 5}",
                "values": [rng.gauss(0, 1) for _ in range(DIMENSION)],
                "sparse_values": {"indices": indices, "values": [round(rng.random(), 4) for _ in indices]},
                "metadata": {
                    "tenant": namespace,
                    "document_id": f"doc{document:04d}",
                    "chunk": i % 5,
                    "year": rng.randint(2015, 2026),
                    "public": rng.random() < 0.7,
                    "tags": rng.sample(["finance", "legal", "hr", "eng", "sales"], k=2),
                    "text": " ".join("".join(rng.choices(string.ascii_lowercase, k=6)) for _ in range(12)),
                },
            }
        )
    return records


def run(out: Any = sys.stdout) -> None:
    live = out is sys.stdout and sys.stdout.isatty()  # the live display is for a terminal

    def say(text: str = "") -> None:
        print(text, file=out, flush=True)

    rng = random.Random(2026)
    with BackgroundServer(ServerConfig(port=0)) as server:
        say(f"Local Pinecone-compatible server on {server.url} (in memory)")
        pc = Pinecone(api_key="demo-key", host=server.url)
        pc.create_index(
            name="demo-source",
            dimension=DIMENSION,
            metric="dotproduct",
            spec=ServerlessSpec(cloud="aws", region="us-east-1"),
            tags={"env": "demo"},
        )
        description = pc.describe_index("demo-source")
        say(
            f"Created index {description.name!r}: dimension {description.dimension}, "
            f"metric {description.metric}, "
            f"vector type {description.vector_type}, host {description.host}"
        )
        assert description.host is not None, "a ready index always has a host"
        index = pc.index(host=description.host)
        started = time.perf_counter()
        total = 0
        for namespace in NAMESPACES:
            records = demo_records(namespace, RECORDS_PER_NAMESPACE, rng)
            for offset in range(0, len(records), 250):
                index.upsert(vectors=records[offset : offset + 250], namespace=namespace, show_progress=False)
            total += len(records)
        say(
            f"Upserted {total:,} records (dense + sparse + metadata) in {time.perf_counter() - started:.1f} s"
        )

        stats = index.describe_index_stats()
        say(f"\ndescribe_index_stats: {stats.total_vector_count:,} records, dimension {stats.dimension}")
        for name, summary in sorted(stats.namespaces.items()):
            say(f"  namespace {name!r:<16} {summary.vector_count:>6,} records")

        first_page = index.list_paginated(namespace="tenant-alpha", limit=5)
        say(
            "\nFirst IDs of 'tenant-alpha' (bytewise order): "
            + ", ".join(str(v.id) for v in first_page.vectors)
        )

        fetched = index.fetch(ids=["doc0000#chunk0"], namespace="tenant-alpha").vectors["doc0000#chunk0"]
        say(
            f"\nFetched {fetched.id}: {len(fetched.values)} dense values, "
            f"{len(fetched.sparse_values.indices) if fetched.sparse_values else 0} sparse pairs, "
            f"metadata keys {sorted(fetched.metadata or {})}"
        )

        result = index.query(
            vector=fetched.values,
            sparse_vector={"indices": fetched.sparse_values.indices, "values": fetched.sparse_values.values}
            if fetched.sparse_values
            else None,
            top_k=3,
            namespace="tenant-alpha",
            filter={"public": True, "year": {"$gte": 2020}},
            include_metadata=True,
        )
        say("\nHybrid query with filter {public: true, year >= 2020}, top 3:")
        for match in result.matches:
            metadata = match.metadata or {}
            say(
                f"  {match.id:<16} score {match.score:8.3f}  "
                f"year {metadata.get('year')}  tags {metadata.get('tags')}"
            )
        migrate_and_check(server.url, say, live)
        say("\nDone. Run `pinecone-migrator serve` to keep a server running for your own rehearsals.")


def migrate_and_check(url: str, say: Any, live: bool) -> None:
    """Migrate demo-source to demo-target with the real engine, then compare every record on both sides."""
    with tempfile.TemporaryDirectory() as work:
        request = MigrationRequest(
            source=Endpoint("demo-source", url),
            target=Endpoint("demo-target", url),
            state_path=Path(work) / "ledger.sqlite",
        )
        source = PineconeStore("demo-source", "demo-key", url)
        target = PineconeStore("demo-target", "demo-key", url)
        say("\nMigrating demo-source -> demo-target (created with the source's shape)...")
        if live:
            from .cli.display import LiveProgress

            with LiveProgress(Console()).shown() as display:
                summary = run_migration(request, source, target, progress=display)
        else:
            summary = run_migration(request, source, target, progress=DemoProgress(say))
        for ns in summary.namespaces:
            expected = f"{ns.source_count:,}" if ns.source_count is not None else "?"
            say(f"  {ns.namespace:<14} copied {ns.copied:>6,} of {expected}, dead letters {ns.dead_letters}")
        rate = summary.copied / summary.elapsed_seconds if summary.elapsed_seconds else 0.0
        say(f"Migrated {summary.copied:,} records in {summary.elapsed_seconds:.1f} s ({rate:,.0f} records/s)")

        say("\nRecord-by-record comparison (verify --level full, every ID bucket compared ID by ID):")
        result = verify(request, source, target, VerifyOptions(level="full", all_buckets=True))
        for checked in result.namespaces:
            differences = {kind: n for kind, n in checked.counts.items() if n}
            verdict = "equal" if checked.equal else f"DIFFERENT {differences}"
            say(f"  {checked.namespace:<14} {checked.actual_count or 0:>6,} records  {verdict}")
        say("Target equals source." if result.equal else "Target differs from source!")


class DemoProgress(NullProgress):
    """A line every 5,000 records (the CLI's display is for TTYs; the demo also runs under make)."""

    def __init__(self, say: Any) -> None:
        self.say = say
        self.copied = 0
        self.next_report = 5_000
        self.lock = threading.Lock()

    def page_done(self, namespace: str, listed: int, copied: int, skipped: int, dead_letters: int) -> None:
        with self.lock:
            self.copied += copied
            if self.copied >= self.next_report:
                self.say(f"  {self.copied:>7,} records copied")
                self.next_report += 5_000


def namespace_digest(store: Store, namespace: str) -> SetDigest:
    """The set digest of every record a store holds in one namespace."""
    digest = SetDigest()
    for records in record_pages(store, namespace):
        for record in records:
            digest.add(record_digest(record))
    return digest


if __name__ == "__main__":
    run()
