"""Migration throughput: `pinecone-migrator migrate` between two local servers, against a naive SDK loop.

Two servers run as separate processes (source and target), each persisting to a temporary data directory.
The source index (cosine, ~1 KB metadata per record, spread over several namespaces) is loaded by spawned
client processes with 100-record upserts (Pinecone's 2 MB cap); loading is not what is measured.

Measured in the same run, printed side by side:

* migrate (ours): the CLI as its own process (`python -m pinecone_migrator migrate ... --quiet --report`),
  wall time from launch to exit, and that process's peak RSS (from wait4, i.e. the kernel's ru_maxrss).
* naive loop: one thread with the official SDK, per namespace: list_paginated 100 IDs, fetch them, upsert
  them into another index on the target server. It is slow, so it runs over --naive-records records only
  and its rate is extrapolated.
* ceiling (target ingest): the target server's own ingest rate on a fresh index, 100-record upserts from
  --clients spawned client processes that start together (records generated beforehand), as in
  bench/server_throughput.py. No migration can write faster than the target accepts.

Targets from the issue: migrate >= 4x the naive loop, >= 50 % of the ceiling, peak RSS < 300 MB.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import queue as queue_module
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.server_throughput import make_records
from tests.serverproc import ServerProcess

BATCH = 100  # records per upsert: ~1.6 MB of JSON at dimension 768, under Pinecone's 2 MB cap
NAIVE_TARGET = 4.0  # migrate must be at least this many times the naive loop
CEILING_TARGET = 0.5  # and reach at least this fraction of the target's ingest rate
RSS_TARGET_MB = 300.0


def namespace_names(count: int) -> list[str]:
    return [f"ns-{n}" for n in range(count)]


def _load_worker(
    host: str, worker: int, first: int, count: int, dimension: int, namespaces: int, go: Any, queue: Any
) -> None:
    """Upsert records first..first+count, 100 at a time, the batches dealt round-robin over namespaces."""
    try:
        from pinecone import Pinecone

        index = Pinecone(api_key="bench").index(host=host)
        names = namespace_names(namespaces)
        queue.put(("ready", worker))
        go.wait()
        for offset in range(0, count, BATCH):
            start = first + offset
            batch = make_records(min(BATCH, count - offset), start, start, dimension)
            index.upsert(vectors=batch, namespace=names[(start // BATCH) % namespaces], show_progress=False)
    except BaseException as error:  # reported to the parent, which must not wait forever
        queue.put(("error", f"load worker {worker}: {error!r}"))
        return
    queue.put(("done", worker))


def _ingest_worker(
    host: str, worker: int, first: int, count: int, dimension: int, namespaces: int, go: Any, queue: Any
) -> None:
    """The same upserts as _load_worker, but with every record generated before the clock starts."""
    try:
        from pinecone import Pinecone

        index = Pinecone(api_key="bench").index(host=host)
        names = namespace_names(namespaces)
        batches = [
            (
                first + offset,
                make_records(min(BATCH, count - offset), first + offset, first + offset, dimension),
            )
            for offset in range(0, count, BATCH)
        ]
        queue.put(("ready", worker))
        go.wait()
        for start, batch in batches:
            index.upsert(vectors=batch, namespace=names[(start // BATCH) % namespaces], show_progress=False)
    except BaseException as error:
        queue.put(("error", f"ingest worker {worker}: {error!r}"))
        return
    queue.put(("done", worker))


def run_clients(target: Callable[..., None], jobs: list[tuple[Any, ...]], timeout: float) -> float:
    """Run spawned client processes that start together; return the seconds from go to the last one done."""
    # spawn, not fork: the parent holds SDK clients whose threads and sockets must not be forked.
    context = multiprocessing.get_context("spawn")
    queue: Any = context.Queue()
    go: Any = context.Event()
    processes = [context.Process(target=target, args=(*job, go, queue), daemon=True) for job in jobs]
    for process in processes:
        process.start()
    deadline = time.monotonic() + timeout
    ready = done = 0
    started = 0.0
    try:
        while done < len(processes):
            try:
                kind, value = queue.get(timeout=1.0)
            except queue_module.Empty:
                dead = [p for p in processes if p.exitcode not in (None, 0)]
                if dead:
                    raise SystemExit(
                        f"benchmark failed: a client process died (exit code {dead[0].exitcode})"
                    ) from None
                if time.monotonic() > deadline:
                    raise SystemExit(
                        f"benchmark failed: clients did not finish within {timeout:.0f} s"
                    ) from None
                continue
            if kind == "error":
                raise SystemExit(f"benchmark failed: {value}")
            if kind == "ready":
                ready += 1
                if ready == len(processes):
                    started = time.perf_counter()
                    go.set()
            else:
                done += 1
        elapsed = time.perf_counter() - started
    finally:
        for process in processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join(timeout=10)
    return elapsed


def split(total: int, parts: int) -> list[tuple[int, int]]:
    """(first, count) of `parts` contiguous ranges covering 0..total, in whole batches where possible."""
    batches = -(-total // BATCH)
    ranges = []
    first_batch = 0
    for part in range(parts):
        batch_count = batches // parts + (1 if part < batches % parts else 0)
        first = first_batch * BATCH
        count = min(batch_count * BATCH, total - first)
        if count > 0:
            ranges.append((first, count))
        first_batch += batch_count
    return ranges


def create_index(pc: Any, name: str, dimension: int) -> str:
    from pinecone import ServerlessSpec

    pc.create_index(
        name=name, dimension=dimension, metric="cosine", spec=ServerlessSpec(cloud="aws", region="us-east-1")
    )
    return str(pc.describe_index(name).host)


def load_index(
    url: str, name: str, records: int, dimension: int, namespaces: int, clients: int, timeout: float
) -> tuple[str, float]:
    """Create and fill an index; return its data-plane host and the loading rate (records/s)."""
    from pinecone import Pinecone

    host = create_index(Pinecone(api_key="bench", host=url), name, dimension)
    jobs = [
        (host, w, first, count, dimension, namespaces)
        for w, (first, count) in enumerate(split(records, clients))
    ]
    seconds = run_clients(_load_worker, jobs, timeout)
    return host, records / seconds


def total_count(host: str, expected: int | None = None, wait: float = 10.0) -> tuple[int, dict[str, int]]:
    """The index's record count (and per namespace), waiting up to `wait` s for it to reach `expected`."""
    from pinecone import Pinecone

    index = Pinecone(api_key="bench").index(host=host)
    deadline = time.monotonic() + wait
    while True:
        stats = index.describe_index_stats()
        per_namespace = {ns: int(summary.vector_count) for ns, summary in (stats.namespaces or {}).items()}
        total = int(stats.total_vector_count)
        if expected is None or total == expected or time.monotonic() > deadline:
            return total, per_namespace
        time.sleep(0.2)


def run_migrate(
    source_url: str, target_url: str, source: str, target: str, work: Path, concurrency: int, timeout: float
) -> dict[str, Any]:
    """Run the migrate CLI as a child process; return its report plus wall time and peak RSS (MB)."""
    return run_cli(
        "migrate", source_url, target_url, source, target, work, timeout, "--concurrency", str(concurrency)
    )


def run_cli(
    verb: str,
    source_url: str,
    target_url: str,
    source: str,
    target: str,
    work: Path,
    timeout: float,
    *extra: str,
) -> dict[str, Any]:
    """Run `pinecone-migrator <verb>` between two indexes as a child process; return its report plus wall
    time and peak RSS (MB)."""
    report = work / f"{target}.{verb}.report.json"
    command = [
        sys.executable,
        "-m",
        "pinecone_migrator",
        verb,
        "--source-index",
        source,
        "--target-index",
        target,
        "--source-host",
        source_url,
        "--target-host",
        target_url,
        "--source-api-key-env",
        "BENCH_SOURCE_KEY",
        "--target-api-key-env",
        "BENCH_TARGET_KEY",
        "--state",
        str(work / f"{target}.state"),
        "--report",
        str(report),
        "--quiet",
        *extra,
    ]
    return measure_command(command, report, work / f"{target}.{verb}.log", verb, timeout)


def measure_command(command: list[str], report: Path, log: Path, verb: str, timeout: float) -> dict[str, Any]:
    """Run one CLI command (keys in BENCH_SOURCE_KEY / BENCH_TARGET_KEY); return its JSON report plus wall
    time and peak RSS (MB) of the process and of its whole tree."""
    env = {**os.environ, "BENCH_SOURCE_KEY": "bench", "BENCH_TARGET_KEY": "bench"}
    with log.open("w+b") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + timeout
        polled_hwm_kb = tree_kb = 0
        while True:
            # wait4 on this child alone gives its own ru_maxrss (RUSAGE_CHILDREN would be the max over all
            # children, servers and clients included); VmHWM polled meanwhile is only a cross-check.
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid == process.pid:
                seconds = time.perf_counter() - started
                process.returncode = os.waitstatus_to_exitcode(status)
                break
            try:
                for line in Path(f"/proc/{process.pid}/status").read_text().splitlines():
                    if line.startswith("VmHWM:"):
                        polled_hwm_kb = max(polled_hwm_kb, int(line.split()[1]))
            except (OSError, ValueError):
                pass
            tree_kb = max(tree_kb, tree_rss_kb(process.pid))
            if time.monotonic() > deadline:
                process.kill()
                process.wait(timeout=30)
                raise SystemExit(f"benchmark failed: {verb} did not finish within {timeout:.0f} s")
            time.sleep(0.2)
        output.seek(0)
        text = output.read().decode(errors="replace")
    if process.returncode != 0 or not report.exists():
        raise SystemExit(f"benchmark failed: {verb} exited with {process.returncode}:\n{text[-4000:]}")
    body: dict[str, Any] = orjson.loads(report.read_bytes())
    body["wall_seconds"] = seconds
    body["peak_rss_mb"] = max(usage.ru_maxrss, polled_hwm_kb) / 1024  # ru_maxrss is in KB on Linux
    # With worker processes (verify), the whole tree's resident memory, sampled every 0.2 s.
    body["peak_tree_rss_mb"] = max(tree_kb, usage.ru_maxrss, polled_hwm_kb) / 1024
    return body


def tree_rss_kb(pid: int) -> int:
    """Resident memory (KB) of a process and all its descendants, now."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(child) for child in (task / "children").read_text().split()]
        except (OSError, ValueError):
            continue  # gone meanwhile
    return total


def naive_loop(
    url: str, source_host: str, target: str, namespaces: int, records: int, dimension: int
) -> float:
    """The obvious single-threaded SDK copy: list 100 IDs, fetch them, upsert them; return records/s."""
    from pinecone import Pinecone

    pc = Pinecone(api_key="bench", host=url)
    destination = pc.Index(host=create_index(pc, target, dimension))
    source = Pinecone(api_key="bench").index(host=source_host)
    per_namespace = max(BATCH, records // namespaces)
    copied = 0
    started = time.perf_counter()
    for name in namespace_names(namespaces):
        token = None
        done_here = 0
        while done_here < per_namespace:
            page = source.list_paginated(namespace=name, limit=BATCH, pagination_token=token)
            ids = [item.id for item in page.vectors]
            if not ids:
                break
            fetched = source.fetch(ids=ids, namespace=name)
            destination.upsert(vectors=list(fetched.vectors.values()), namespace=name, show_progress=False)
            done_here += len(ids)
            token = page.pagination.next if page.pagination else None
            if not token:
                break
        copied += done_here
    seconds = time.perf_counter() - started
    count, _ = total_count(destination_host := str(pc.describe_index(target).host), copied)
    if count != copied:
        raise SystemExit(
            f"benchmark failed: the naive loop copied {copied} but {destination_host} holds {count}"
        )
    return copied / seconds


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=100_000, help="records in the source index")
    parser.add_argument("--dimension", type=int, default=768)
    parser.add_argument("--namespaces", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=4, help="migrate --concurrency")
    parser.add_argument("--naive-records", type=int, default=10_000, help="records the naive loop copies")
    parser.add_argument("--clients", type=int, default=4, help="client processes for loading and the ceiling")
    parser.add_argument(
        "--ceiling-records", type=int, default=20_000, help="records upserted to measure the target's ingest"
    )
    parser.add_argument(
        "--rss-scale",
        action="store_true",
        help="also migrate an index 4x smaller than --records and print both peak RSS values",
    )
    parser.add_argument("--timeout", type=float, default=3600, help="seconds allowed to each phase")
    args = parser.parse_args()
    if min(args.records, args.naive_records, args.ceiling_records, args.namespaces, args.clients) < 1:
        parser.error("counts must be positive")
    naive_records = min(args.naive_records, args.records)

    print(
        f"migrate throughput bench: {args.records:,} records, dimension {args.dimension}, ~1 KB metadata, "
        f"{args.namespaces} namespaces, migrate --concurrency {args.concurrency}, {os.cpu_count()} CPUs",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        with ServerProcess(work / "source") as source_server, ServerProcess(work / "target") as target_server:
            started = time.perf_counter()
            source_host, load_rate = load_index(
                source_server.url,
                "source",
                args.records,
                args.dimension,
                args.namespaces,
                args.clients,
                args.timeout,
            )
            source_count, per_namespace = total_count(source_host, args.records)
            if source_count != args.records:
                raise SystemExit(f"benchmark failed: source holds {source_count} of {args.records} records")
            print(
                f"loaded source: {source_count:,} records {per_namespace} "
                f"in {time.perf_counter() - started:.1f} s "
                f"({load_rate:,.0f} records/s, generation included; not measured)",
                flush=True,
            )
            small_host = None
            if args.rss_scale:
                small_records = max(BATCH, args.records // 4)
                small_host, _ = load_index(
                    source_server.url,
                    "source-small",
                    small_records,
                    args.dimension,
                    args.namespaces,
                    args.clients,
                    args.timeout,
                )
                print(f"loaded source-small: {small_records:,} records", flush=True)

            # The ceiling: the target server's ingest on a fresh index, before anything else lands on it.
            from pinecone import Pinecone

            target_pc = Pinecone(api_key="bench", host=target_server.url)
            ceiling_host = create_index(target_pc, "ceiling", args.dimension)
            ceiling_records = args.ceiling_records
            jobs = [
                (ceiling_host, w, first, count, args.dimension, args.namespaces)
                for w, (first, count) in enumerate(split(ceiling_records, args.clients))
            ]
            ceiling_rate = ceiling_records / run_clients(_ingest_worker, jobs, args.timeout)
            print(
                f"ceiling: {ceiling_records:,} records into a fresh target index, "
                f"{args.clients} client processes, 100-record upserts: {ceiling_rate:,.0f} records/s",
                flush=True,
            )
            try:
                target_pc.delete_index("ceiling")
            except Exception as error:  # not essential: only keeps the target server lean
                print(f"(could not delete the ceiling index: {error})")

            ours = run_migrate(
                source_server.url,
                target_server.url,
                "source",
                "migrated",
                work,
                args.concurrency,
                args.timeout,
            )
            target_host = str(target_pc.describe_index("migrated").host)
            target_count, target_namespaces = total_count(target_host, source_count)
            verdict = "OK" if target_count == source_count else "MISMATCH"
            print(
                f"migrate: {ours['copied']:,} copied in {ours['wall_seconds']:.1f} s wall "
                f"({ours['elapsed_seconds']:.1f} s by its report, "
                f"{ours['records_per_second']:,.0f} records/s); "
                f"target count {target_count:,} vs source {source_count:,}: {verdict} {target_namespaces}",
                flush=True,
            )
            if target_count != source_count or not ours.get("complete"):
                raise SystemExit("benchmark failed: the migration is not complete")
            small = None
            if small_host is not None:
                small = run_migrate(
                    source_server.url,
                    target_server.url,
                    "source-small",
                    "migrated-small",
                    work,
                    args.concurrency,
                    args.timeout,
                )

            naive_rate = naive_loop(
                target_server.url, source_host, "naive", args.namespaces, naive_records, args.dimension
            )
            print(
                f"naive loop: {naive_records:,} records copied at {naive_rate:,.0f} records/s; "
                f"extrapolated to {args.records:,} records: {args.records / naive_rate:,.0f} s",
                flush=True,
            )

    ours_rate = ours["copied"] / ours["wall_seconds"]
    print()
    print(f"{'measure':<28}{'records/s':>11}{'x naive':>9}{'x ceiling':>11}{'peak RSS MB':>13}")

    def row(label: str, rate: float, rss: float | None) -> None:
        rss_text = "-" if rss is None else f"{rss:.0f}"
        print(f"{label:<28}{rate:>11,.0f}{rate / naive_rate:>9.2f}{rate / ceiling_rate:>11.2f}{rss_text:>13}")

    row("migrate (ours)", ours_rate, ours["peak_rss_mb"])
    row("  by its report's clock", float(ours["records_per_second"]), None)
    row("naive loop (extrapolated)", naive_rate, None)
    row("ceiling (target ingest)", ceiling_rate, None)
    print()

    def verdict_text(ok: bool) -> str:
        return "met" if ok else "NOT met"

    print("targets from the issue:")
    print(
        f"  >= {NAIVE_TARGET:.0f}x naive: {ours_rate / naive_rate:.2f}x "
        f"-> {verdict_text(ours_rate >= NAIVE_TARGET * naive_rate)}"
    )
    print(
        f"  >= {CEILING_TARGET:.0%} of ceiling: {ours_rate / ceiling_rate:.0%} "
        f"-> {verdict_text(ours_rate >= CEILING_TARGET * ceiling_rate)}"
    )
    print(
        f"  peak RSS < {RSS_TARGET_MB:.0f} MB: {ours['peak_rss_mb']:.0f} MB "
        f"-> {verdict_text(ours['peak_rss_mb'] < RSS_TARGET_MB)}"
    )
    print(
        "notes: migrate's rate is copied records over the process's wall time (start-up and target creation "
        "included);\n  the naive loop copied "
        f"{naive_records:,} of {args.records:,} records and its rate is extrapolated; the ceiling is a fresh "
        "index on the\n  target server fed by "
        f"{args.clients} spawned client processes with 100-record upserts, records generated beforehand."
    )
    if small is not None:
        print(
            f"peak RSS by size: {small['copied']:,} records -> {small['peak_rss_mb']:.0f} MB; "
            f"{ours['copied']:,} records -> {ours['peak_rss_mb']:.0f} MB"
        )


if __name__ == "__main__":
    main()
