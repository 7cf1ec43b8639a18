"""REST vs gRPC: `pinecone-migrator migrate --transport rest|grpc` between two local servers, limits off.

Two servers (``serve --in-memory --grpc-port 0``, child processes); the source holds --records dense
records of --dimension with ~100 bytes of metadata each, loaded through our own store (not measured). Then
migrate runs as a child process, alternating transports over --rounds rounds (so a change in the machine's
load falls on both), each into a fresh target index that is deleted afterwards. Per run: records/s (wall
clock, start-up included) and the migrate process's CPU seconds (user + system, from wait4: this child
alone, not the servers) per 10,000 records. The medians are compared; the load average is printed before
and after, because two cores are shared with the servers.

    .venv/bin/python bench/grpc_vs_rest.py --records 20000 --dimension 1536 --rounds 2

--wire: the data plane alone, in this process (one server, 100 records a request, one at a time): CPU
seconds per 10,000 records fetched and written (sizing included, as the engine sizes every record) by the
REST transport, the gRPC transport (the SDK's channel), and, for comparison only, a raw gRPC client
(grpcio, messages encoded and parsed here, packed floats read with np.frombuffer): what the SDK's channel
costs by making a Python float of every value, both ways.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from pinecone_migrator.records import Record, checked_record
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
    peak_rss_mb: float
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


def migrate(
    source: str, target: str, name: str, transport: str, work: Path
) -> tuple[int, float, float, float]:
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
    return exit_code, wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # KB on Linux


def drop(url: str, name: str) -> None:
    from pinecone import Pinecone

    Pinecone(api_key=KEY, host=url).delete_index(name)


# -- --wire: the transports alone ----------------------------------------------------------------------------


def _varint(buf: memoryview, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = buf[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def _fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int]]:
    """(field number, start, end) of each length-delimited field (all that these messages hold here)."""
    pos = start
    while pos < end:
        tag, pos = _varint(buf, pos)
        length, pos = _varint(buf, pos)
        yield tag >> 3, pos, pos + length
        pos += length


def _plain(value: Any) -> Any:
    kind = value.WhichOneof("kind")
    if kind == "list_value":
        return [_plain(item) for item in value.list_value.values]
    return None if kind == "null_value" else getattr(value, kind)


def raw_fetched(raw: bytes) -> list[Record]:
    """A FetchResponse of dense vectors, parsed by hand: each record's values are a view of the message."""
    from google.protobuf import struct_pb2

    buf = memoryview(raw)
    records = []
    for number, start, end in _fields(buf, 0, len(raw)):
        if number != 1:  # vectors (a map: key 1, value 2)
            continue
        for entry_number, vector_start, vector_end in _fields(buf, start, end):
            if entry_number != 2:
                continue
            parts = {n: (a, b) for n, a, b in _fields(buf, vector_start, vector_end)}
            id_start, id_end = parts[1]
            values_start, values_end = parts[2]
            metadata: dict[str, Any] = {}
            if 3 in parts:
                fields = struct_pb2.Struct.FromString(buf[parts[3][0] : parts[3][1]]).fields
                metadata = {key: _plain(value) for key, value in fields.items()}
            values = np.frombuffer(raw, "<f4", (values_end - values_start) // 4, values_start)
            records.append(checked_record(str(buf[id_start:id_end], "utf-8"), values, metadata))
    return records


def _length_delimited(number: int, body: bytes) -> bytes:
    size, prefix = len(body), bytearray([number << 3 | 2])
    while size > 0x7F:
        prefix.append(size & 0x7F | 0x80)
        size >>= 7
    return bytes(prefix) + bytes([size]) + body


def raw_vector(record: Record) -> bytes:
    """One UpsertRequest.vectors entry (a dense record), encoded by hand."""
    from google.protobuf import struct_pb2

    assert record.values is not None
    metadata = struct_pb2.Struct()
    metadata.update(record.metadata)
    body = _length_delimited(1, record.id.encode()) + _length_delimited(2, record.values.tobytes())
    return _length_delimited(1, body + _length_delimited(3, metadata.SerializeToString()))


def wire(records: int, dimension: int) -> None:
    import grpc

    from pinecone_migrator.protocol import vector_service_pb2 as pb

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
    with ServerProcess(None, "--api-key", KEY, grpc=True) as server:
        shape = IndexShape(vector_type="dense", metric="cosine", dimension=dimension)
        stores = {}
        for transport in ("rest", "grpc"):
            stores[transport] = PineconeStore(f"wire-{transport}", KEY, server.url, transport=transport)
            stores[transport].create_like(StoreDescription(name="x", shape=shape, namespace_counts={}))
        channel = grpc.insecure_channel(
            stores["grpc"].transport.host,  # type: ignore[attr-defined]
            options=[("grpc.max_receive_message_length", 64 << 20)],
        )
        metadata = (("api-key", KEY),)
        raw_fetch = channel.unary_unary(
            "/VectorService/Fetch",
            request_serializer=pb.FetchRequest.SerializeToString,
            response_deserializer=None,
        )
        raw_upsert = channel.unary_unary(
            "/VectorService/Upsert",
            request_serializer=None,
            response_deserializer=pb.UpsertResponse.FromString,
        )
        print(f"load average before: {os.getloadavg()}", flush=True)
        for round_number in range(2):
            for transport in ("rest", "grpc", "raw grpc"):
                store = stores["grpc" if transport == "raw grpc" else transport]
                started = cpu()
                for batch in batches:
                    if transport == "raw grpc":
                        raw_upsert(b"".join(raw_vector(r) for r in batch) + b"\x12\x02ns", metadata=metadata)
                    else:
                        sum(store.request_size(r) for r in batch)
                        store.write("ns", batch)
                written = cpu()
                fetched: list[Record] = []
                for batch in batches:
                    ids = [r.id for r in batch]
                    if transport == "raw grpc":
                        request = pb.FetchRequest(ids=ids, namespace="ns")
                        fetched += raw_fetched(raw_fetch(request, metadata=metadata))
                    else:
                        fetched += store.fetch("ns", ids)
                done = cpu()
                assert sorted(fetched, key=lambda r: r.id) == [r for batch in batches for r in batch]
                per = 10_000 / records
                print(f"  round {round_number + 1} {transport:<9} write {(written - started) * per:5.2f}  "
                      f"fetch {(done - written) * per:5.2f}  CPU s/10k", flush=True)  # fmt: skip
        print(f"load average after: {os.getloadavg()}")
        for store in stores.values():
            store.close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--records", type=int, default=20_000)
    parser.add_argument("--dimension", type=int, default=1536)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--grpc-first", action="store_true", help="start the first round with gRPC")
    parser.add_argument("--wire", action="store_true", help="the transports alone, in this process")
    args = parser.parse_args()
    if args.wire:
        wire(args.records, args.dimension)
        return
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
                exit_code, wall, cpu, rss = migrate(source.url, target.url, name, transport, work)
                run = Run(transport, exit_code, wall, cpu, rss, count(target.url, name))
                runs.append(run)
                print(
                    f"  {transport:<5} exit {exit_code}  {run.copied:>7,} copied  "
                    f"{args.records / wall:>7,.0f} records/s  {cpu * 10_000 / args.records:6.2f} CPU s/10k  "
                    f"peak RSS {rss:,.0f} MB",
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
