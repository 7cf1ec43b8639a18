"""ID-prefix shards vs one listing, against a source that answers like a remote index (injected latency).

    PYTHONPATH=. .venv/bin/python -u bench/shard_listing.py [--records 20000] [--latency-ms 0 20]

Prints, per source latency, records/s with sharding off, forced on, and automatic (what migrate does).
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from pinecone_migrator.engine.migrate.copy import CopyOptions
from pinecone_migrator.engine.migrate.run import run_migration
from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import IndexShape, StoreDescription
from pinecone_migrator.stores.pinecone.store import PineconeStore
from tests.serverproc import ServerProcess

KEY = "bench-key"
MODES = {"off": 1, "on": 8, "auto": None}


def load(store: PineconeStore, count: int) -> None:
    store.create_like(
        StoreDescription(name="src", shape=IndexShape("dense", "cosine", 128), namespace_counts={})
    )
    rng, ids = np.random.default_rng(0), random.Random(0)
    records = [
        Record(
            id=f"{ids.getrandbits(64):016x}",
            values=rng.random(128, dtype=np.float32),
            metadata={"t": "x" * 200},
        )
        for _ in range(count)
    ]
    for start in range(0, count, 500):
        store.write("ns", records[start : start + 500])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--latency-ms", type=int, nargs="+", default=[0, 20])
    args = parser.parse_args()
    print(f"shard bench: {args.records:,} records (dim 128), one namespace, concurrency 8")
    print(f"{'source latency':>15} {'sharding':>9} {'seconds':>8} {'records/s':>10}")
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        with (
            ServerProcess(root / "source", "--api-key", KEY) as source_server,
            ServerProcess(root / "target", "--api-key", KEY) as target_server,
        ):
            source = PineconeStore("src", KEY, source_server.url)
            load(source, args.records)
            for latency in args.latency_ms:
                httpx.put(
                    f"{source_server.url}/_admin/faults",
                    json={"latency_ms": latency},
                    headers={"Api-Key": KEY},
                ).raise_for_status()
                for mode, shards in MODES.items():
                    name = f"dst-{latency}-{mode}"
                    request = MigrationRequest(
                        source=Endpoint("src", source_server.url),
                        target=Endpoint(name, target_server.url),
                        state_path=root / f"{name}.sqlite",
                        options=CopyOptions(concurrency=8, shards=shards, shard_min_records=1_000),
                    )
                    started = time.monotonic()
                    summary = run_migration(request, source, PineconeStore(name, KEY, target_server.url))
                    seconds = time.monotonic() - started
                    assert summary.complete and summary.copied == args.records
                    print(f"{latency:>12} ms {mode:>9} {seconds:>8.1f} {summary.copied / seconds:>10,.0f}")


if __name__ == "__main__":
    main()
