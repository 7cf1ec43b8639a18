"""Migrate with no tuning flags between two local servers with added latency: records/s, requests, peak RSS.

    PYTHONPATH=. .venv/bin/python -u bench/engine_latency.py --latency-ms 0 20 80
    # the same against another checkout (its engine, CLI and server):
    PYTHONPATH=/work/bench-before:/work/bench-before/src .venv/bin/python -u bench/engine_latency.py ...

Scenarios (small dimension, loading is not measured): ``big`` — a few large namespaces; ``tenants`` — many
small namespaces (one per tenant). The latency is set on both servers after loading (``/_admin/faults``),
so every list, fetch and upsert of the migration waits it. Fetch and list requests are the source server's
own counters; the migration runs as its own process, its peak RSS from wait4.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.migrate_throughput import measure_command
from tests.serverproc import ServerProcess

KEY = "bench"


def load(url: str, namespaces: int, per_namespace: int, dimension: int) -> None:
    """Create the source index and write its records straight through the data plane, 1,000 at a time."""
    from pinecone_migrator.engine.writes import write_batches
    from pinecone_migrator.records import Record
    from pinecone_migrator.stores.base import IndexShape, StoreDescription
    from pinecone_migrator.stores.pinecone.store import PineconeStore

    source = PineconeStore("source", KEY, url)
    shape = IndexShape("dense", "cosine", dimension)
    source.create_like(StoreDescription(name="source", shape=shape, namespace_counts={}))
    rng = np.random.default_rng(0)
    for n in range(namespaces):
        for start in range(0, per_namespace, 1_000):
            count = min(1_000, per_namespace - start)
            values = rng.random((count, dimension), dtype=np.float32)
            records = [
                Record(id=f"doc-{start + i:07d}", values=values[i], metadata={"n": start + i, "t": "x" * 200})
                for i in range(count)
            ]
            for request in write_batches(source, records):  # within the 2 MB an upsert takes
                source.write(f"ns-{n:05d}", request)


def set_latency(url: str, latency_ms: float) -> None:
    admin = httpx.Client(base_url=url, headers={"Api-Key": KEY})
    admin.post("/_admin/faults/reset").raise_for_status()
    admin.put("/_admin/faults", json={"latency_ms": latency_ms}).raise_for_status()


def requests_seen(url: str) -> int:
    counters = httpx.get(f"{url}/_admin/faults", headers={"Api-Key": KEY}).json()["counters"]
    return int(counters["requests"])


def run(
    scenario: str, namespaces: int, per_namespace: int, dimension: int, latency_ms: float, *extra: str
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with (
            ServerProcess(work / "source", "--api-key", KEY) as source,
            ServerProcess(work / "target", "--api-key", KEY) as target,
        ):
            load(source.url, namespaces, per_namespace, dimension)
            time.sleep(0.5)
            for server in (source, target):
                set_latency(server.url, latency_ms)
            command = [
                sys.executable, "-m", "pinecone_migrator", "migrate",
                "--source-index", "source", "--target-index", "migrated",
                "--source-host", source.url, "--target-host", target.url,
                "--source-api-key-env", "BENCH_SOURCE_KEY", "--target-api-key-env", "BENCH_TARGET_KEY",
                "--state", str(work / "ledger"), "--report", str(work / "report.json"), "--quiet", *extra,
            ]  # fmt: skip
            report = measure_command(command, work / "report.json", work / "log", "migrate", 900)
            total = namespaces * per_namespace
            if report["copied"] != total:
                raise SystemExit(f"benchmark failed: copied {report['copied']} of {total}")
            rate = total / report["wall_seconds"]
            print(
                f"{scenario:<8}{namespaces:>6} x {per_namespace:<7}{latency_ms:>6.0f} ms"
                f"{report['wall_seconds']:>9.1f} s{rate:>10,.0f}/s"
                f"{requests_seen(source.url):>10,}{requests_seen(target.url):>10,}"
                f"{report['peak_rss_mb']:>9.0f} MB",
                flush=True,
            )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 20.0, 80.0])
    parser.add_argument("--records", type=int, default=30_000, help="big: records over --namespaces")
    parser.add_argument("--namespaces", type=int, default=3)
    parser.add_argument("--tenants", type=int, default=400, help="tenants: namespaces of 50 records")
    parser.add_argument("--dimension", type=int, default=64)
    parser.add_argument("--scenarios", nargs="+", default=["big", "tenants"])
    parser.add_argument("--extra", nargs="*", default=[], help="more migrate flags (default: none)")
    args = parser.parse_args()
    print(
        f"{'scenario':<8}{'namespaces':>16}{'latency':>9}{'wall':>11}{'rate':>12}"
        f"{'src reqs':>10}{'dst reqs':>10}{'peak RSS':>12}  (dimension {args.dimension}, no tuning flags)"
    )
    for latency in args.latency_ms:
        if "big" in args.scenarios:
            run("big", args.namespaces, args.records // args.namespaces, args.dimension, latency, *args.extra)
        if "tenants" in args.scenarios:
            run("tenants", args.tenants, 50, args.dimension, latency, *args.extra)


if __name__ == "__main__":
    main()
