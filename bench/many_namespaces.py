"""Many small namespaces (one per tenant): copied one after another vs several at once.

PYTHONPATH=. .venv/bin/python -u bench/many_namespaces.py [--namespaces 200] [--per-namespace 50]
"""

from __future__ import annotations

import argparse
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--namespaces", type=int, default=200)
    parser.add_argument("--per-namespace", type=int, default=50)
    parser.add_argument("--latency-ms", type=int, default=20, help="added to every source request")
    args = parser.parse_args()
    total = args.namespaces * args.per_namespace
    print(
        f"namespace bench: {args.namespaces} namespaces x {args.per_namespace} records (dim 128), "
        f"concurrency 4, source latency {args.latency_ms} ms"
    )
    with tempfile.TemporaryDirectory() as work:
        root = Path(work)
        with (
            ServerProcess(root / "source", "--api-key", KEY) as source_server,
            ServerProcess(root / "target", "--api-key", KEY) as target_server,
        ):
            source = PineconeStore("src", KEY, source_server.url)
            shape = IndexShape("dense", "cosine", 128)
            source.create_like(StoreDescription(name="src", shape=shape, namespace_counts={}))
            rng = np.random.default_rng(0)
            for n in range(args.namespaces):
                records = [
                    Record(id=f"doc-{i}", values=rng.random(128, dtype=np.float32), metadata={"tenant": n})
                    for i in range(args.per_namespace)
                ]
                source.write(f"tenant-{n:05d}", records)
            faults = f"{source_server.url}/_admin/faults"
            httpx.put(
                faults, json={"latency_ms": args.latency_ms}, headers={"Api-Key": KEY}
            ).raise_for_status()
            print(f"{'mode':<40}{'seconds':>8}{'records/s':>11}")
            for mode in ("one namespace at a time", "several at once"):
                name = "dst-serial" if mode.startswith("one") else "dst-parallel"
                request = MigrationRequest(
                    source=Endpoint("src", source_server.url),
                    target=Endpoint(name, target_server.url),
                    # Mapping every namespace onto itself through --target-namespace is not possible; a
                    # map that sends two onto one forces one-at-a-time, as merges must be ordered.
                    namespace_map=(("tenant-00000", "tenant-00001"),) if mode.startswith("one") else (),
                    allow_merge=mode.startswith("one"),
                    state_path=root / f"{name}.sqlite",
                    options=CopyOptions(concurrency=4),
                )
                started = time.monotonic()
                summary = run_migration(request, source, PineconeStore(name, KEY, target_server.url))
                seconds = time.monotonic() - started
                assert summary.complete and summary.copied == total
                print(f"{mode:<40}{seconds:>8.1f}{total / seconds:>11,.0f}")


if __name__ == "__main__":
    main()
