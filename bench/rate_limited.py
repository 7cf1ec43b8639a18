"""Migration under Pinecone's published rate limits: both local servers answer 429 above them.

The source is loaded with the limits off, then both servers switch them on (``PUT /_admin/faults``) and
``pinecone-migrator migrate`` copies the index. Reported side by side:

* ours: records/s of the migration, and how many requests the servers refused with 429;
* allowed: what the published limits allow for this data, from ``pinecone-migrator plan`` (the slowest of
  list and fetch per index, and upsert requests and bytes per namespace, namespaces side by side);
* unlimited: the same migration with the limits off, in the same run (this machine's own ceiling).

Target from the issue: zero failed records, and throughput within 80 % of what the limits allow — where the
machine itself is slower than the limits, of the unlimited rate instead (the limits cannot be the bound).
Small vectors by default (dimension 64), so that the limits, not this machine, are the bound.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.migrate_throughput import load_index, run_cli, run_migrate, total_count
from tests.serverproc import ServerProcess

TARGET = 0.8


def set_limits(url: str, on: bool) -> dict[str, Any]:
    body = {"rate_limits": "pinecone" if on else "off"}
    response = httpx.put(f"{url}/_admin/faults", json=body, headers={"Api-Key": "bench"}, timeout=30)
    response.raise_for_status()
    snapshot: dict[str, Any] = response.json()
    return snapshot


def refused(url: str) -> int:
    counters = httpx.get(f"{url}/_admin/faults", headers={"Api-Key": "bench"}, timeout=30).json()["counters"]
    return int(counters["rate_limited"])


def allowed_seconds(source_url: str, target_url: str, work: Path) -> float:
    """`plan`'s lower bound under the published limits for migrating source -> a new index."""
    body = run_cli("plan", source_url, target_url, "source", "planned", work, 300)
    return float(body["estimated_seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=60_000)
    parser.add_argument("--dimension", type=int, default=64)
    parser.add_argument("--namespaces", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=8, help="migrate --concurrency")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    print(
        f"rate-limited migrate bench: {args.records:,} records, dimension {args.dimension}, ~1 KB metadata, "
        f"{args.namespaces} namespaces, migrate --concurrency {args.concurrency}, {os.cpu_count()} CPUs",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with ServerProcess(work / "source") as source, ServerProcess(work / "target") as target:
            host, _ = load_index(
                source.url, "source", args.records, args.dimension, args.namespaces, 4, args.timeout
            )
            count, _ = total_count(host, args.records)
            print(f"loaded source: {count:,} records (limits off)", flush=True)
            allowed = args.records / allowed_seconds(source.url, target.url, work)
            free = run_migrate(
                source.url, target.url, "source", "unlimited", work, args.concurrency, args.timeout
            )
            for url in (source.url, target.url):
                set_limits(url, on=True)
            started = time.perf_counter()
            ours = run_migrate(
                source.url, target.url, "source", "limited", work, args.concurrency, args.timeout
            )
            seconds = time.perf_counter() - started
            throttled = refused(source.url) + refused(target.url)
            for url in (source.url, target.url):
                set_limits(url, on=False)
            copied, _ = total_count(_host(target.url, "limited"), args.records)
    rate = ours["copied"] / ours["elapsed_seconds"]
    bound = min(allowed, free["records_per_second"])
    print(
        f"limits on : {ours['copied']:,} copied in {seconds:.1f} s wall, {rate:,.0f} records/s by its "
        f"report; dead letters {ours['dead_letters']}; target holds {copied:,}; "
        f"{throttled:,} requests refused with 429",
        flush=True,
    )
    print(f"limits off: {free['records_per_second']:,.0f} records/s (this machine's own bound)", flush=True)
    print(f"allowed by the published limits (plan): {allowed:,.0f} records/s", flush=True)
    failed = ours["dead_letters"] or copied != args.records or not ours["complete"]
    ratio = rate / bound
    print(
        f"ours / min(allowed, limits off) = {ratio:.2f} (target >= {TARGET:.2f}: "
        f"{'met' if ratio >= TARGET else 'NOT met'}); failed records: {'SOME' if failed else 'none'}",
        flush=True,
    )
    if failed:
        raise SystemExit("benchmark failed: records were lost or refused under the rate limits")


def _host(url: str, index: str) -> str:
    from pinecone import Pinecone

    return str(Pinecone(api_key="bench", host=url).describe_index(index).host)


if __name__ == "__main__":
    main()
