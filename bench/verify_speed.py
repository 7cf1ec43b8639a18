"""Verify speed: `pinecone-migrator verify --level digest` beside `migrate` of the same pair, in one run.

Two local servers as separate processes (source, target); the source is loaded (dimension 768, ~1 KB
metadata, 3 namespaces), migrated with the CLI, then verified with the CLI (digest level, then full level).
Each command runs as its own child process; peak RSS is that of its whole process tree (verify scans in
worker processes from 50,000 records), sampled every 0.2 s. Rates are source records per second of each
command's wall time (start-up included).

Target from the issue: verify digest at least as fast as migrate.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.migrate_throughput import load_index, run_cli, run_migrate, total_count
from tests.serverproc import ServerProcess


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--dimension", type=int, default=768)
    parser.add_argument("--namespaces", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--timeout", type=float, default=3600)
    args = parser.parse_args()
    print(
        f"verify speed bench: {args.records:,} records, dimension {args.dimension}, ~1 KB metadata, "
        f"{args.namespaces} namespaces, --concurrency {args.concurrency}, {os.cpu_count()} CPUs",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with ServerProcess(work / "source") as source, ServerProcess(work / "target") as target:
            started = time.perf_counter()
            host, _ = load_index(
                source.url, "source", args.records, args.dimension, args.namespaces, 4, args.timeout
            )
            count, _ = total_count(host, args.records)
            print(f"loaded source: {count:,} records in {time.perf_counter() - started:.1f} s", flush=True)
            migrated = run_migrate(
                source.url, target.url, "source", "copy", work, args.concurrency, args.timeout
            )
            concurrency = ("--concurrency", str(args.concurrency))
            digest = run_cli(
                "verify", source.url, target.url, "source", "copy", work, args.timeout, *concurrency
            )
            full = run_cli(
                "verify", source.url, target.url, "source", "copy", work, args.timeout, "--level", "full",
                *concurrency,
            )  # fmt: skip
    migrate_rate = migrated["copied"] / migrated["wall_seconds"]
    rows = [("migrate", migrate_rate, migrated["wall_seconds"], migrated["peak_tree_rss_mb"], "")]
    for name, body in (("verify --level digest", digest), ("verify --level full", full)):
        verdict = body["verify"]
        if not verdict["equal"]:
            raise SystemExit(f"benchmark failed: {name} did not find the copy equal: {verdict}")
        rate = verdict["source_records"] / body["wall_seconds"]
        rows.append((name, rate, body["wall_seconds"], body["peak_tree_rss_mb"], "equal"))
    print(f"\n{'command':<24}{'records/s':>11}{'x migrate':>11}{'seconds':>9}{'tree RSS MB':>13}  verdict")
    for name, rate, seconds, rss, verdict in rows:
        print(f"{name:<24}{rate:>11,.0f}{rate / migrate_rate:>11.2f}{seconds:>9.1f}{rss:>13.0f}  {verdict}")
    ratio = rows[1][1] / migrate_rate
    print(
        f"\ntarget: verify digest >= migrate: {ratio:.2f}x -> {'met' if ratio >= 1 else 'NOT met'} "
        "(verify reads both sides: twice the records fetched, no writes)",
        flush=True,
    )


if __name__ == "__main__":
    main()
