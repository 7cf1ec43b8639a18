"""REST vs gRPC: `pinecone-migrator migrate --transport rest|grpc` between two local servers, limits off.

Two servers (``serve --in-memory --grpc-port 0``, child processes); the source holds --records dense
records of --dimension with ~100 bytes of metadata each, loaded through our own store (not measured). Then
migrate runs as a child process, alternating transports over --rounds rounds (so a change in the machine's
load falls on both), each into a fresh target index that is deleted afterwards. Per run: records/s (wall
clock, start-up included) and the migrate process's CPU seconds (user + system, from wait4: this child
alone, not the servers) per 10,000 records. The medians are compared; the load average is printed before
and after, because two cores are shared with the servers. Each round also migrates a 10-record index per
transport: its CPU is the start-up, and the CPU per record beyond it is printed too. --baseline SRC adds a
third run per round: ``--transport grpc`` of another source tree (``git archive <commit> src | tar -x -C
DIR``, then DIR/src), e.g. the gRPC transport built on the SDK's channel before 1838072.

    .venv/bin/python bench/grpc_vs_rest.py --records 20000 --dimension 1536 --rounds 2

--wire: the data plane alone, in this process (one server, 100 records a request, one at a time): CPU
seconds per 10,000 records fetched and written (sizing included, as the engine sizes every record) by the
REST transport, the gRPC transport, and, for comparison, the official SDK's gRPC channel (``GrpcIndex``'s
native channel, called as the gRPC transport did before 1838072: values as memoryviews, fetched values
narrowed through ``array('f')``).
"""

from __future__ import annotations

import argparse
import array
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import IndexShape, StoreDescription
from pinecone_migrator.stores.pinecone.store import PineconeStore
from tests.serverproc import ServerProcess

KEY = "bench"
LOAD_BATCH = 100
STARTUP_RECORDS = 10  # a migrate this small costs its start-up (imports, describes, ledger) and little else


@dataclass(frozen=True)
class Run:
    transport: str
    exit_code: int
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    copied: int


def load(url: str, records: int, dimension: int, name: str = "src") -> None:
    store = PineconeStore(name, KEY, url)
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


def migrate(
    source: str,
    target: str,
    name: str,
    transport: str,
    work: Path,
    code: str | None = None,
    source_index: str = "src",
) -> tuple[int, float, float, float]:
    """One migrate; ``code``: a source tree (``src``) to run instead of this one."""
    command = [
        sys.executable, "-m", "pinecone_migrator", "migrate",
        "--source-index", source_index, "--target-index", name,
        "--source-host", source, "--target-host", target,
        "--source-api-key-env", "BENCH_KEY", "--target-api-key-env", "BENCH_KEY",
        "--state", str(work / f"{name}.state"), "--quiet",
        "--transport", transport, "--rate-limits", "off",
    ]  # fmt: skip
    environment = {**os.environ, "BENCH_KEY": KEY}
    if code is not None:
        environment["PYTHONPATH"] = code
    with (work / f"{name}.log").open("w+b") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=environment)
        _, status, usage = os.wait4(process.pid, 0)  # this child's own CPU, not the servers'
        wall = time.perf_counter() - started
        exit_code = os.waitstatus_to_exitcode(status)
        if exit_code != 0:
            output.seek(0)
            print(output.read().decode(errors="replace")[-2000:])
    return exit_code, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # KB on Linux


def drop(url: str, name: str) -> None:
    from pinecone import Pinecone

    Pinecone(api_key=KEY, host=url).delete_index(name)


# -- --wire: the transports alone ----------------------------------------------------------------------------


def sdk_channel(host: str) -> Any:
    """The official SDK's native gRPC channel to ``host`` (plaintext), its retries off."""
    from pinecone import RetryConfig
    from pinecone.grpc import GrpcIndex

    index = GrpcIndex(host=host, api_key=KEY, api_version="2025-10", secure=False, grpc_scheme="http",
                      retry_config=RetryConfig(max_retries=0))  # fmt: skip
    return index._channel


def sdk_write(channel: Any, batch: list[Record]) -> None:
    vectors = [
        {"id": r.id, "values": np.ascontiguousarray(r.values).data, "metadata": r.metadata} for r in batch
    ]
    channel.upsert(vectors, "ns")


def sdk_fetch(channel: Any, ids: list[str]) -> list[Record]:
    found = channel.fetch(ids, namespace="ns")
    return [
        Record(key, np.frombuffer(array.array("f", vector["values"]), dtype=np.float32),
               metadata=vector.get("metadata") or {})
        for key, vector in found.get("vectors", {}).items()
    ]  # fmt: skip


def wire(records: int, dimension: int, rounds: int) -> None:
    def cpu() -> float:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime + usage.ru_stime

    rng = np.random.default_rng(3)
    block = rng.standard_normal((records, dimension)).astype(np.float32)
    batches = [
        [Record(f"doc-{n:07d}", block[n], metadata={"title": f"t {n}", "year": 2000 + n % 20, "tags": ["a"]})
         for n in range(start, min(start + 100, records))]
        for start in range(0, records, 100)
    ]  # fmt: skip
    expected = [r for batch in batches for r in batch]
    per = 10_000 / records
    results: dict[str, list[tuple[float, float]]] = {}
    with ServerProcess(None, "--api-key", KEY, grpc=True) as server:
        shape = IndexShape(vector_type="dense", metric="cosine", dimension=dimension)
        stores = {}
        for transport in ("rest", "grpc"):
            stores[transport] = PineconeStore(f"wire-{transport}", KEY, server.url, transport=transport)
            stores[transport].create_like(StoreDescription(name="x", shape=shape, namespace_counts={}))
        channel = sdk_channel(stores["grpc"].transport.host)  # type: ignore[attr-defined]
        print(f"load average before: {os.getloadavg()}", flush=True)
        for round_number in range(rounds):
            for transport in ("rest", "grpc", "sdk grpc"):
                store = stores["grpc" if transport == "sdk grpc" else transport]
                started = cpu()
                for batch in batches:
                    if transport == "sdk grpc":
                        sdk_write(channel, batch)
                    else:
                        sum(store.request_size(r) for r in batch)
                        store.write("ns", batch)
                written = cpu()
                fetched: list[Record] = []
                for batch in batches:
                    ids = [r.id for r in batch]
                    fetched += sdk_fetch(channel, ids) if transport == "sdk grpc" else store.fetch("ns", ids)
                done = cpu()
                assert sorted(fetched, key=lambda r: r.id) == expected
                results.setdefault(transport, []).append(((written - started) * per, (done - written) * per))
                print(f"  round {round_number + 1} {transport:<9} write {(written - started) * per:5.2f}  "
                      f"fetch {(done - written) * per:5.2f}  CPU s/10k", flush=True)  # fmt: skip
        print(f"load average after: {os.getloadavg()}")
        for store in stores.values():
            store.close()
    medians = {
        transport: tuple(statistics.median(run[part] for run in runs) for part in (0, 1))
        for transport, runs in results.items()
    }
    rest_write, rest_fetch = medians["rest"]
    for transport, (write, fetch) in medians.items():
        print(f"{transport:<9} median write {write:5.2f} ({write / rest_write:.2f}x REST)  "
              f"fetch {fetch:5.2f} ({fetch / rest_fetch:.2f}x REST)  "
              f"both {(write + fetch) / (rest_write + rest_fetch):.2f}x REST")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--dimension", type=int, default=1536)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--grpc-first", action="store_true", help="start the first round with gRPC")
    parser.add_argument("--wire", action="store_true", help="the transports alone, in this process")
    parser.add_argument("--baseline", metavar="SRC", help="also --transport grpc of this source tree")
    args = parser.parse_args()
    if args.wire:
        wire(args.records, args.dimension, args.rounds)
        return
    print(f"load average before: {os.getloadavg()}", flush=True)
    runs: list[Run] = []
    startup: dict[str, list[float]] = {"rest": [], "grpc": [], "baseline": []}
    with (
        tempfile.TemporaryDirectory() as folder,
        ServerProcess(None, "--api-key", KEY, grpc=True) as source,
        ServerProcess(None, "--api-key", KEY, grpc=True) as target,
    ):
        work = Path(folder)
        started = time.perf_counter()
        load(source.url, args.records, args.dimension)
        load(source.url, STARTUP_RECORDS, args.dimension, "tiny")
        print(f"loaded {args.records:,} records of dimension {args.dimension} in "
              f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
        for round_number in range(args.rounds):
            order = ["rest", "grpc"] if (round_number + args.grpc_first) % 2 == 0 else ["grpc", "rest"]
            if args.baseline:
                order.insert(1, "baseline")
            for label in order:
                transport = "rest" if label == "rest" else "grpc"
                code = args.baseline if label == "baseline" else None
                name = f"dst-{label}-{round_number}"
                exit_code, wall, cpu, rss = migrate(source.url, target.url, name, transport, work, code)
                run = Run(label, exit_code, wall, cpu, rss, count(target.url, name))
                runs.append(run)
                print(
                    f"  {label:<8} exit {exit_code}  {run.copied:>7,} copied  "
                    f"{args.records / wall:>7,.0f} records/s  {cpu * 10_000 / args.records:6.2f} CPU s/10k  "
                    f"peak RSS {rss:,.0f} MB",
                    flush=True,
                )
                drop(target.url, name)
                tiny = f"tiny-{label}-{round_number}"
                startup[label].append(migrate(source.url, target.url, tiny, transport, work, code, "tiny")[2])
                drop(target.url, tiny)
    print(f"load average after: {os.getloadavg()}")
    medians = {}
    for label in ("rest", "grpc", "baseline"):
        mine = [r for r in runs if r.transport == label]
        if not mine:
            continue
        rate = statistics.median(args.records / r.wall_seconds for r in mine)
        cpu = statistics.median(r.cpu_seconds * 10_000 / args.records for r in mine)
        fixed = statistics.median(startup[label])
        beyond = statistics.median((r.cpu_seconds - fixed) * 10_000 / args.records for r in mine)
        failed = [r for r in mine if r.exit_code != 0 or r.copied != args.records]
        medians[label] = (rate, cpu, beyond)
        print(f"{label:<8} median {rate:,.0f} records/s, {cpu:.2f} CPU s/10k ({len(failed)} failed runs); "
              f"start-up {fixed:.2f} CPU s (a migrate of {STARTUP_RECORDS} records), {beyond:.2f} CPU s/10k "
              "beyond it")  # fmt: skip
    rest_rate, rest_cpu, rest_beyond = medians["rest"]
    for label in ("grpc", "baseline"):
        if label in medians:
            rate, cpu, beyond = medians[label]
            print(f"{label} / REST: records/s {rate / rest_rate:.2f}x, CPU per record {cpu / rest_cpu:.2f}x, "
                  f"beyond start-up {beyond / rest_beyond:.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
