"""REST vs gRPC: `pinecone-migrator migrate --transport rest|grpc` between two local servers, limits off.

Two servers (``serve --in-memory --grpc-port 0``, child processes); the source holds --records dense
records of --dimension with ~100 bytes of metadata each, loaded through our own store (not measured). Then
migrate runs as a child process, alternating transports over --rounds rounds (so a change in the machine's
load falls on both), each into a fresh target index that is deleted afterwards. Per run: records/s (wall
clock, start-up included) and the migrate process's CPU seconds (user + system, from wait4: this child
alone, not the servers) per 10,000 records. The medians are compared; the load average is printed before
and after, because two cores are shared with the servers.

    .venv/bin/python bench/grpc_vs_rest.py --records 20000 --dimension 1536 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import IndexShape, StoreDescription
from pinecone_migrator.stores.pinecone.store import PineconeStore
from tests.serverproc import ServerProcess

KEY = "bench"
LOAD_BATCH = 100


@dataclass(frozen=True)
class Run:
    transport: str
    exit_code: int
    wall_seconds: float
    cpu_seconds: float
    copied: int


def load(url: str, records: int, dimension: int) -> None:
    store = PineconeStore("src", KEY, url)
    shape = IndexShape(vector_type="dense", metric="cosine", dimension=dimension)
    store.create_like(StoreDescription(name="src", shape=shape, namespace_counts={}))
    rng = np.random.default_rng(7)
    for start in range(0, records, LOAD_BATCH):
        count = min(LOAD_BATCH, records - start)
        block = rng.standard_normal((count, dimension)).astype(np.float32)
        store.write(
            "",
            [
                Record(
                    id=f"doc-{start + n:07d}",
                    values=block[n],
                    metadata={"title": f"title of document {start + n}", "year": 1990 + n % 35,
                              "score": float(n) / count, "tags": ["a", "b"][: n % 3]},
                )
                for n in range(count)
            ],
        )  # fmt: skip
    store.close()


def count(url: str, name: str) -> int:
    store = PineconeStore(name, KEY, url)
    try:
        return sum(store.describe().namespace_counts.values())
    finally:
        store.close()


def migrate(source: str, target: str, name: str, transport: str, work: Path) -> tuple[int, float, float]:
    command = [
        sys.executable, "-m", "pinecone_migrator", "migrate",
        "--source-index", "src", "--target-index", name,
        "--source-host", source, "--target-host", target,
        "--source-api-key-env", "BENCH_KEY", "--target-api-key-env", "BENCH_KEY",
        "--state", str(work / f"{name}.state"), "--quiet",
        "--transport", transport, "--rate-limits", "off",
    ]  # fmt: skip
    with (work / f"{name}.log").open("w+b") as output:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, stdout=output, stderr=subprocess.STDOUT, env={**os.environ, "BENCH_KEY": KEY}
        )
        _, status, usage = os.wait4(process.pid, 0)  # this child's own CPU, not the servers'
        wall = time.perf_counter() - started
        exit_code = os.waitstatus_to_exitcode(status)
        if exit_code != 0:
            output.seek(0)
            print(output.read().decode(errors="replace")[-2000:])
    return exit_code, wall, usage.ru_utime + usage.ru_stime


def drop(url: str, name: str) -> None:
    from pinecone import Pinecone

    Pinecone(api_key=KEY, host=url).delete_index(name)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--dimension", type=int, default=1536)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--grpc-first", action="store_true", help="start the first round with gRPC")
    args = parser.parse_args()
    print(f"load average before: {os.getloadavg()}", flush=True)
    runs: list[Run] = []
    with (
        tempfile.TemporaryDirectory() as folder,
        ServerProcess(None, "--api-key", KEY, grpc=True) as source,
        ServerProcess(None, "--api-key", KEY, grpc=True) as target,
    ):
        work = Path(folder)
        started = time.perf_counter()
        load(source.url, args.records, args.dimension)
        print(f"loaded {args.records:,} records of dimension {args.dimension} in "
              f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
        for round_number in range(args.rounds):
            order = ("rest", "grpc") if (round_number + args.grpc_first) % 2 == 0 else ("grpc", "rest")
            for transport in order:
                name = f"dst-{transport}-{round_number}"
                exit_code, wall, cpu = migrate(source.url, target.url, name, transport, work)
                run = Run(transport, exit_code, wall, cpu, count(target.url, name))
                runs.append(run)
                print(
                    f"  {transport:<5} exit {exit_code}  {run.copied:>7,} copied  "
                    f"{args.records / wall:>7,.0f} records/s  {cpu * 10_000 / args.records:6.2f} CPU s/10k",
                    flush=True,
                )
                drop(target.url, name)
    print(f"load average after: {os.getloadavg()}")
    medians = {}
    for transport in ("rest", "grpc"):
        mine = [r for r in runs if r.transport == transport]
        rate = statistics.median(args.records / r.wall_seconds for r in mine)
        cpu = statistics.median(r.cpu_seconds * 10_000 / args.records for r in mine)
        failed = [r for r in mine if r.exit_code != 0 or r.copied != args.records]
        medians[transport] = (rate, cpu)
        print(f"{transport:<5} median {rate:,.0f} records/s, {cpu:.2f} CPU s/10k ({len(failed)} failed runs)")
    (rest_rate, rest_cpu), (grpc_rate, grpc_cpu) = medians["rest"], medians["grpc"]
    print(f"gRPC / REST: records/s {grpc_rate / rest_rate:.2f}x, CPU per record {grpc_cpu / rest_cpu:.2f}x")


if __name__ == "__main__":
    main()
