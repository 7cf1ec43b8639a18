"""Export and import speed: `export` to local Parquet and `import` back, beside `migrate`, in one run.

Two local servers as separate processes (source, target); the source is loaded (dimension 768, ~1 KB
metadata, 3 namespaces). Then, each command a child process: `migrate` source -> target index, `export`
source -> a local folder (Parquet, 10,000 rows per file), `import` that folder -> a new target index.
Rates are records per second of each command's wall time (start-up included); peak RSS is of the command's
process tree. A second, 4x smaller export shows whether memory depends on the record count.

Targets from the issue: export and import each >= migrate's rate; peak RSS < 300 MB, independent of count.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.migrate_throughput import load_index, measure_command, run_migrate, total_count
from tests.serverproc import ServerProcess

CLI = [sys.executable, "-m", "pinecone_migrator"]


def export(
    url: str, index: str, folder: Path, work: Path, concurrency: int, timeout: float
) -> dict[str, Any]:
    report = work / f"export-{folder.name}.json"
    command = [
        *CLI, "export", "--source-index", index, "--source-host", url, "--source-api-key-env",
        "BENCH_SOURCE_KEY", "--to", str(folder), "--state", str(work / f"export-{folder.name}.state"),
        "--report", str(report), "--quiet", "--concurrency", str(concurrency),
    ]  # fmt: skip
    return measure_command(command, report, work / f"export-{folder.name}.log", "export", timeout)


def import_(
    url: str, folder: Path, index: str, work: Path, concurrency: int, timeout: float
) -> dict[str, Any]:
    report = work / f"import-{index}.json"
    command = [
        *CLI, "import", "--from", str(folder), "--target-index", index, "--target-host", url,
        "--target-api-key-env", "BENCH_TARGET_KEY", "--state", str(work / f"import-{index}.state"),
        "--report", str(report), "--quiet", "--concurrency", str(concurrency),
    ]  # fmt: skip
    return measure_command(command, report, work / f"import-{index}.log", "import", timeout)


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


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
        f"export/import bench: {args.records:,} records, dimension {args.dimension}, ~1 KB metadata, "
        f"{args.namespaces} namespaces, --concurrency {args.concurrency}, {os.cpu_count()} CPUs",
        flush=True,
    )
    small_records = max(args.records // 4, 1)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with ServerProcess(work / "source") as source, ServerProcess(work / "target") as target:
            started = time.perf_counter()
            for index, records in (("source", args.records), ("small", small_records)):
                host, _ = load_index(
                    source.url, index, records, args.dimension, args.namespaces, 4, args.timeout
                )
                total_count(host, records)
            print(f"loaded sources in {time.perf_counter() - started:.1f} s", flush=True)
            migrated = run_migrate(
                source.url, target.url, "source", "copy", work, args.concurrency, args.timeout
            )
            exported = export(source.url, "source", work / "out", work, args.concurrency, args.timeout)
            size = folder_bytes(work / "out")
            imported = import_(target.url, work / "out", "restored", work, args.concurrency, args.timeout)
            small = export(source.url, "small", work / "out-small", work, args.concurrency, args.timeout)
    migrate_rate = migrated["copied"] / migrated["wall_seconds"]
    rows = [
        ("migrate", migrated, args.records),
        ("export (Parquet)", exported, args.records),
        ("import (Parquet)", imported, args.records),
        (f"export, {small_records:,} records", small, small_records),
    ]
    print(f"\n{'command':<28}{'records/s':>11}{'x migrate':>11}{'seconds':>9}{'tree RSS MB':>13}")
    for name, body, expected in rows:
        if body["copied"] != expected:
            raise SystemExit(f"benchmark failed: {name} copied {body['copied']:,} of {expected:,}")
        rate = body["copied"] / body["wall_seconds"]
        print(
            f"{name:<28}{rate:>11,.0f}{rate / migrate_rate:>11.2f}{body['wall_seconds']:>9.1f}"
            f"{body['peak_tree_rss_mb']:>13.0f}"
        )
    print(f"\nParquet written: {size / 1e6:,.1f} MB ({size / args.records:,.0f} bytes per record)")
    export_ratio = exported["copied"] / exported["wall_seconds"] / migrate_rate
    import_ratio = imported["copied"] / imported["wall_seconds"] / migrate_rate
    peak = max(exported["peak_tree_rss_mb"], imported["peak_tree_rss_mb"])
    print(
        f"targets: export >= migrate {export_ratio:.2f}x -> {'met' if export_ratio >= 1 else 'NOT met'}; "
        f"import >= migrate {import_ratio:.2f}x -> {'met' if import_ratio >= 1 else 'NOT met'}; "
        f"peak RSS {peak:.0f} MB < 300 -> {'met' if peak < 300 else 'NOT met'}; export RSS at "
        f"{args.records:,} vs {small_records:,} records: {exported['peak_tree_rss_mb']:.0f} vs "
        f"{small['peak_tree_rss_mb']:.0f} MB",
        flush=True,
    )


if __name__ == "__main__":
    main()
