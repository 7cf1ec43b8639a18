"""Local server throughput: upsert ingest and fetch, through the official SDK, dimension 768, ~1 KB metadata.

The server runs as its own process (persisting to a temporary data directory, as by default); clients are
separate processes using the SDK, as a migration would. Printed beside each figure: the floor the project
set (upsert >= 10,000 records/s, fetch >= 20,000 records/s) and a same-run baseline: how fast this machine
merely parses (upsert) or renders (fetch) the same JSON with orjson in one process, the ceiling for any
Python JSON server on one core.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import string
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.serverproc import ServerProcess

DIMENSION = 768
UPSERT_FLOOR = 10_000
FETCH_FLOOR = 20_000


def make_records(count: int, start: int, seed: int, dimension: int = DIMENSION) -> list[dict[str, Any]]:
    """Records shaped like RAG chunks: random unit-scale values and ~1 KB of metadata."""
    rng = random.Random(seed)
    values = np.random.default_rng(seed).standard_normal((count, dimension)).astype(np.float32)
    return [
        {
            "id": f"doc-{start + i:08d}",
            "values": values[i].tolist(),
            "metadata": {
                "text": "".join(rng.choices(string.ascii_letters + " ", k=900)),
                "source": "bench",
                "page": start + i,
                "tags": ["a", "b"],
            },
        }
        for i in range(count)
    ]


def _upsert_worker(host: str, worker: int, per_worker: int, batch: int, queue: Any) -> None:
    from pinecone import Pinecone

    index = Pinecone(api_key="bench").index(host=host)
    records = make_records(per_worker, worker * per_worker, worker)
    queue.put(("ready", worker))
    started = time.perf_counter()
    try:
        for offset in range(0, per_worker, batch):
            index.upsert(vectors=records[offset : offset + batch], show_progress=False)
    except Exception as error:  # reported to the parent, which must not wait forever
        queue.put(("error", f"upsert worker {worker}: {error}"))
        return
    queue.put(("done", time.perf_counter() - started))


def _fetch_worker(host: str, worker: int, total: int, batch: int, rounds: int, queue: Any) -> None:
    from pinecone import Pinecone

    index = Pinecone(api_key="bench").index(host=host)
    rng = random.Random(worker)
    queue.put(("ready", worker))
    started = time.perf_counter()
    fetched = 0
    try:
        for _ in range(rounds):
            first = rng.randrange(0, max(1, total - batch))
            response = index.fetch(ids=[f"doc-{first + i:08d}" for i in range(batch)])
            fetched += len(response.vectors)
    except Exception as error:
        queue.put(("error", f"fetch worker {worker}: {error}"))
        return
    queue.put(("done", (time.perf_counter() - started, fetched)))


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system) a process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run_clients(
    server_pid: int, target: Any, args_per_worker: list[tuple[Any, ...]]
) -> tuple[list[Any], float]:
    """Run the client processes; return their results and the server's CPU use (cores) while they ran."""
    # spawn, not fork: the parent holds SDK clients whose threads and sockets must not be forked.
    context = multiprocessing.get_context("spawn")
    queue: Any = context.Queue()
    processes = [context.Process(target=target, args=(*a, queue)) for a in args_per_worker]
    for process in processes:
        process.start()
    results = []
    ready = 0
    cpu_start = wall_start = 0.0
    while len(results) < len(processes):
        kind, value = queue.get(timeout=900)
        if kind == "error":
            for process in processes:
                process.kill()
            raise SystemExit(f"benchmark failed: {value}")
        if kind == "ready":
            ready += 1
            if ready == len(processes):
                cpu_start, wall_start = cpu_seconds(server_pid), time.perf_counter()
        else:
            results.append(value)
    server_cores = (cpu_seconds(server_pid) - cpu_start) / (time.perf_counter() - wall_start)
    for process in processes:
        process.join()
    return results, server_cores


def create_bench_index(url: str, name: str = "bench") -> str:
    """Create a dense cosine index of the bench's dimension on a local server; return its data-plane host."""
    from pinecone import Pinecone, ServerlessSpec

    pc = Pinecone(api_key="bench", host=url)
    pc.create_index(
        name=name, dimension=DIMENSION, metric="cosine", spec=ServerlessSpec(cloud="aws", region="us-east-1")
    )
    return str(pc.describe_index(name).host)


def json_baselines(batch: int) -> tuple[float, float]:
    """Records/s of orjson alone: parsing an upsert body as the SDK sends it, rendering a fetch response."""
    records = make_records(batch, 0, 99)
    body = orjson.dumps({"vectors": records, "namespace": ""})
    started = time.perf_counter()
    for _ in range(5):
        orjson.loads(body)
    parse_rate = 5 * batch / (time.perf_counter() - started)
    arrays = [np.asarray(r["values"], dtype=np.float32) for r in records]
    started = time.perf_counter()
    for _ in range(5):
        orjson.dumps(
            {
                "vectors": {
                    r["id"]: {"id": r["id"], "values": a, "metadata": r["metadata"]}
                    for r, a in zip(records, arrays, strict=True)
                }
            },
            option=orjson.OPT_SERIALIZE_NUMPY,
        )
    render_rate = 5 * batch / (time.perf_counter() - started)
    return parse_rate, render_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=40_000, help="records upserted in total")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--fetch-rounds", type=int, default=15, help="fetch requests per client")
    args = parser.parse_args()

    per_worker = args.records // args.clients
    total = per_worker * args.clients
    parse_rate, render_rate = json_baselines(1000)
    print(f"server throughput bench: dimension {DIMENSION}, ~1 KB metadata, {args.clients} client processes")
    print(
        f"{'measure':<40}{'records/s':>10}{'floor':>8}{'x floor':>8}{'json-only':>10}{'x json':>7}"
        f"{'server cores':>13}"
    )

    def row(label: str, rate: float, floor: int, baseline: float, cores: float) -> None:
        print(
            f"{label:<40}{rate:>10,.0f}{floor:>8,}{rate / floor:>8.2f}"
            f"{baseline:>10,.0f}{rate / baseline:>7.2f}{cores:>13.2f}"
        )

    with tempfile.TemporaryDirectory() as data_dir:
        # Pinecone caps an upsert at 2 MB; 1,000 records of this size are ~10 MB of JSON, so this phase
        # lifts the cap (a bench-only knob) to measure the 1,000-record requests the issue asks for.
        with ServerProcess(Path(data_dir) / "a", "--max-upsert-bytes", str(64 * 1024 * 1024)) as server:
            host = create_bench_index(server.url)
            pid = server.pid
            jobs = [(host, w, per_worker, 1000) for w in range(args.clients)]
            results, cores = run_clients(pid, _upsert_worker, jobs)
            row("upsert, 1,000-record requests", total / max(results), UPSERT_FLOOR, parse_rate, cores)
            jobs = [(host, w, total, 1000, args.fetch_rounds) for w in range(args.clients)]
            results, cores = run_clients(pid, _fetch_worker, jobs)
            rate = sum(r[1] for r in results) / max(r[0] for r in results)
            row("fetch, 1,000 IDs per request", rate, FETCH_FLOOR, render_rate, cores)
        # The same ingest with requests that respect Pinecone's 2 MB cap (100 records, ~1.6 MB each here).
        with ServerProcess(Path(data_dir) / "b") as server:
            host = create_bench_index(server.url)
            jobs = [(host, w, per_worker, 100) for w in range(args.clients)]
            results, cores = run_clients(server.pid, _upsert_worker, jobs)
            row("upsert, 100-record requests (< 2 MB)", total / max(results), UPSERT_FLOOR, parse_rate, cores)


if __name__ == "__main__":
    main()
