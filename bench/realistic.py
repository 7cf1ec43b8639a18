"""Throughput at real latency under Pinecone's published rate limits, scaled down for a 2-core machine.

Two local servers (source and target, ``serve --in-memory`` as child processes). The source is loaded with
latency and limits off; then both servers get ``latency_ms`` and ``rate_limits: pinecone`` with
``rate_limit_scale: F`` through ``PUT /_admin/faults``, and ``pinecone-migrator migrate`` runs with no
tuning flags (only hosts, keys, a state file, a report file and --quiet). Scenarios:

* a: one namespace of 200,000 records, dimension 768, ~1 KB metadata;
* b: 2,000 namespaces x 50 records, dimension 64, ~1 KB metadata;
* c: one namespace of 50,000 hybrid records (dotproduct), dimension 1536 + 100 sparse non-zeros, ~1 KB
  metadata.

For each, at every --latency-ms (20 and 80 by default), printed with its baseline from the same run:

* ours / allowed: records/s of the migrate process (wall clock, start-up included) over what the scaled
  limits allow for this very data. "Allowed" is computed from src/pinecone_migrator/limits.py: list and
  fetch per source index (list pages of 100 IDs; fetches of up to 1,000 IDs split by the REST store's
  12,000-byte URL bound, within one namespace), upsert requests and bytes per target namespace (requests of
  <= 1,000 records and <= 2 MB, bytes as our REST store encodes them). Namespaces are copied side by side,
  so per-namespace limits bind per namespace; the slowest operation is the bound, at its steady rate (the
  server's buckets start full, holding one second of tokens: a short run can beat "allowed" by that second).
* ours / naive: the original script's loop (one thread, the official SDK: list 100 IDs, fetch them, upsert
  them; a 429 is waited out and sent again), under the same latency and limits, measured on a subset
  (--naive-records) and its rate extrapolated (a single-threaded loop's rate does not depend on size).
* ours / naive at F = 1, projected: the naive loop waits on round trips, not on the limits, so scaling the
  limits down lowers our ceiling but not its rate; the goal's ratio is projected as (ours / allowed) x
  (allowed at F = 1) / naive, i.e. assuming ours keeps its fraction of the allowed rate at full limits.
* 429s the two servers answered during our run, and failed records: the target's count against the
  source's, dead letters and the CLI's exit code; the migrate process's peak RSS.
* with --limits-off-too: the same migration with the limits off, and once at 0 ms with --concurrency 16
  (this machine's own bound for the data: F is small enough when that is well above what F allows).

Two more measurements, limits off:

* transport: REST vs gRPC (``migrate --transport rest|grpc``, servers with ``--grpc-port 0``), dimension
  1536: records/s and the migrate process's CPU seconds (user + system, from wait4) per 10,000 records.
  Reported as not available while the CLI or the server lacks the flag.
* rss: peak RSS of the migrate process at 100,000 and 400,000 records (dimension 64, --rss-dimension).

Goals (issue 14): >= 85 % of allowed in a and c, >= 70 % in b, zero failed records, >= 10x naive at 80 ms,
gRPC CPU <= 0.5x REST's, peak RSS < 300 MB and flat. Quick look: --scenario a --records 20000
--latency-ms 80 (--records also sizes the transport run).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import random
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import pinecone_migrator
from bench.migrate_throughput import total_count
from pinecone_migrator.limits import MB, RATE_LIMITS, Unit
from pinecone_migrator.stores.base import Capabilities
from pinecone_migrator.stores.pinecone.rest import fetch_batches
from tests.serverproc import ServerProcess

HEADERS = {"Api-Key": "bench", "X-Pinecone-Api-Version": "2025-10"}
LIST_PAGE = Capabilities.max_list_page
MAX_UPSERT_RECORDS = Capabilities.max_write_records
MAX_UPSERT_BYTES = Capabilities.max_write_bytes
MAX_FETCH_IDS = Capabilities.max_fetch_ids
LOAD_BATCH_BYTES = 1_500_000  # loading requests stay well under the server's 2 MB
SPARSE_NONZEROS = 100
SPARSE_SPACE = 30_000  # a BM25-like vocabulary
NAIVE_GOAL = 10.0  # at 80 ms
NAIVE_GOAL_LATENCY_MS = 80.0
RSS_GOAL_MB = 300.0
RSS_FLAT = 1.15  # "flat": the larger run's peak within 15 % of the smaller one's
GRPC_CPU_GOAL = 0.5
OFF: dict[str, object] = {"rate_limits": "off"}
MIGRATE_TIMEOUT = [1800.0]  # seconds one migrate may take before it is killed (--timeout sets it)


@dataclass(frozen=True)
class Scenario:
    key: str
    title: str
    records: int
    dimension: int
    per_namespace: int  # records per namespace; == records for one namespace
    sparse: bool
    scale: float  # F: the servers enforce F x the published limits
    allowed_goal: float
    naive_records: int

    @property
    def metric(self) -> str:
        return "dotproduct" if self.sparse else "cosine"


SCENARIOS = {
    "a": Scenario(
        key="a",
        title="one namespace, dimension 768, ~1 KB metadata",
        records=200_000,
        dimension=768,
        per_namespace=200_000,
        sparse=False,
        scale=0.25,
        allowed_goal=0.85,
        naive_records=4_000,
    ),
    "b": Scenario(
        key="b",
        title="namespaces x 50 records, dimension 64, ~1 KB metadata",
        records=100_000,
        dimension=64,
        per_namespace=50,
        sparse=False,
        scale=0.2,  # at 0.25 the machine's own bound (2,350/s, loaded) was only 1.9x the allowed rate
        allowed_goal=0.70,
        naive_records=3_000,
    ),
    "c": Scenario(
        key="c",
        title="one namespace, dimension 1536 hybrid (+100 sparse), ~1 KB metadata",
        records=50_000,
        dimension=1536,
        per_namespace=50_000,
        sparse=True,
        scale=0.25,
        allowed_goal=0.85,
        naive_records=3_000,
    ),
}


# -- the data ------------------------------------------------------------------------------------------------


@dataclass
class NamespaceShape:
    """What migrating one namespace costs in requests and bytes, counted on the records as loaded."""

    records: int = 0
    upsert_bytes: int = 0
    upsert_requests: int = 0
    fetch_requests: int = 0
    _open_records: int = 0
    _open_bytes: int = 0
    ids: list[str] = field(default_factory=list)

    def add(self, record_id: str, size: int) -> None:
        """One record of ``size`` bytes in an upsert body, packed greedily as a writer packs requests."""
        self.records += 1
        self.upsert_bytes += size
        if self._open_records == 0 or (
            self._open_records >= MAX_UPSERT_RECORDS or self._open_bytes + size > MAX_UPSERT_BYTES
        ):
            self.upsert_requests += 1
            self._open_records = self._open_bytes = 0
        self._open_records += 1
        self._open_bytes += size
        self.ids.append(record_id)

    def close(self) -> None:
        self.fetch_requests = sum(1 for _ in fetch_batches(sorted(self.ids), MAX_FETCH_IDS))
        self.ids = []

    @property
    def list_requests(self) -> int:
        return max(1, math.ceil(self.records / LIST_PAGE))


def namespace_names(scenario: Scenario, records: int) -> list[str]:
    return [f"ns-{n:04d}" for n in range(max(1, math.ceil(records / scenario.per_namespace)))]


def record_batches(
    scenario: Scenario, records: int, seed: int = 7
) -> Iterator[tuple[str, list[tuple[str, bytes]]]]:
    """(namespace, [(id, encoded vector)]) batches of the scenario's records, encoded as our REST store
    encodes an upsert vector (orjson, float32 in its shortest form)."""
    rng = random.Random(seed)
    numbers = np.random.default_rng(seed)
    letters = string.ascii_letters + " "
    number = 0
    for namespace in namespace_names(scenario, records):
        remaining = min(scenario.per_namespace, records - number)
        while remaining > 0:
            chunk = min(remaining, 100)
            values = numbers.standard_normal((chunk, scenario.dimension)).astype(np.float32)
            batch: list[tuple[str, bytes]] = []
            for i in range(chunk):
                body: dict[str, Any] = {
                    "id": f"doc-{number:08d}",
                    "values": values[i],
                    "metadata": {
                        "text": "".join(rng.choices(letters, k=900)),
                        "source": "bench",
                        "page": number,
                        "tags": ["a", "b"],
                    },
                }
                if scenario.sparse:
                    indices = np.sort(numbers.choice(SPARSE_SPACE, SPARSE_NONZEROS, replace=False))
                    body["sparseValues"] = {
                        "indices": indices.astype(np.uint32),
                        "values": numbers.random(SPARSE_NONZEROS).astype(np.float32),
                    }
                batch.append((body["id"], orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)))
                number += 1
            remaining -= chunk
            yield namespace, batch


def upsert_bodies(
    batches: Iterator[tuple[str, list[tuple[str, bytes]]]], shapes: dict[str, NamespaceShape]
) -> Iterator[bytes]:
    for namespace, batch in batches:
        shape = shapes.setdefault(namespace, NamespaceShape())
        pending: list[bytes] = []
        size = 0
        for record_id, encoded in batch:
            shape.add(record_id, len(encoded) + 1)  # +1: the comma between vectors
            if pending and size + len(encoded) > LOAD_BATCH_BYTES:
                yield body_of(namespace, pending)
                pending, size = [], 0
            pending.append(encoded)
            size += len(encoded) + 1
        if pending:
            yield body_of(namespace, pending)


def body_of(namespace: str, encoded: list[bytes]) -> bytes:
    return b'{"vectors":[' + b",".join(encoded) + b'],"namespace":' + orjson.dumps(namespace) + b"}"


def create_index(url: str, name: str, dimension: int, metric: str) -> str:
    from pinecone import Pinecone, ServerlessSpec

    pc = Pinecone(api_key="bench", host=url)
    spec = ServerlessSpec(cloud="aws", region="us-east-1")
    pc.create_index(name=name, dimension=dimension, metric=metric, spec=spec)
    return str(pc.describe_index(name).host)


def host_of(url: str, name: str) -> str:
    from pinecone import Pinecone

    return str(Pinecone(api_key="bench", host=url).describe_index(name).host)


def delete_index(url: str, name: str) -> None:
    from pinecone import Pinecone

    Pinecone(api_key="bench", host=url).delete_index(name)


def load(url: str, name: str, scenario: Scenario, records: int) -> tuple[str, dict[str, NamespaceShape]]:
    """Create and fill the source index over REST (3 requests in flight); return its host and shape."""
    host = create_index(url, name, scenario.dimension, scenario.metric)
    shapes: dict[str, NamespaceShape] = {}
    with httpx.Client(headers=HEADERS, timeout=120) as client, ThreadPoolExecutor(3) as pool:
        in_flight: list[Future[httpx.Response]] = []
        for body in upsert_bodies(record_batches(scenario, records), shapes):
            in_flight.append(pool.submit(client.post, f"{host}/vectors/upsert", content=body))
            if len(in_flight) >= 6:
                in_flight.pop(0).result().raise_for_status()
        for future in in_flight:
            future.result().raise_for_status()
    for shape in shapes.values():
        shape.close()
    count, _ = total_count(host, records, wait=30)
    if count != records:
        raise SystemExit(f"benchmark failed: loaded {records:,} records but {name} holds {count:,}")
    return host, shapes


# -- the servers' settings and counters ----------------------------------------------------------------------


def set_faults(url: str, **settings: object) -> None:
    response = httpx.put(f"{url}/_admin/faults", json=settings, headers=HEADERS, timeout=30)
    if response.status_code != 200:
        raise SystemExit(f"benchmark failed: PUT /_admin/faults {settings} -> {response.text}")


def refusals(url: str) -> dict[str, int]:
    """The server's 429 counts so far: 'total' and per operation."""
    body = httpx.get(f"{url}/_admin/faults", headers=HEADERS, timeout=30).json()
    return {"total": int(body["counters"]["rate_limited"]), **body["rate_limited_by_operation"]}


def refused_since(url: str, before: dict[str, int]) -> dict[str, int]:
    now = refusals(url)
    return {op: n - before.get(op, 0) for op, n in now.items() if n - before.get(op, 0)}


# -- what the limits allow -----------------------------------------------------------------------------------


def per_second(operation: str, unit: Unit) -> float:
    return next(limit.per_second for limit in RATE_LIMITS[operation] if limit.unit is unit)


@dataclass(frozen=True)
class Bound:
    what: str
    amount: str
    rate: str
    seconds: float


def allowed(shapes: dict[str, NamespaceShape], scale: float) -> tuple[float, list[Bound]]:
    """Seconds the scaled limits allow for this data (the slowest operation), with the arithmetic."""
    lists = sum(shape.list_requests for shape in shapes.values())
    fetches = sum(shape.fetch_requests for shape in shapes.values())
    list_rate = per_second("list", Unit.REQUESTS) * scale
    fetch_rate = per_second("fetch", Unit.REQUESTS) * scale
    upsert_rate = per_second("upsert", Unit.REQUESTS) * scale
    byte_rate = per_second("upsert", Unit.BYTES) * scale
    widest = max(shapes.values(), key=lambda s: s.upsert_bytes)
    busiest = max(shapes.values(), key=lambda s: s.upsert_requests)
    records = sum(shape.records for shape in shapes.values())
    ids_per_fetch = records / fetches
    several = f" in the largest of {len(shapes):,} namespaces" if len(shapes) > 1 else ""
    fetch_words = (
        f"{fetches:,} requests, {ids_per_fetch:,.0f} IDs each (<= {MAX_FETCH_IDS:,}, 12,000-byte URL)"
    )
    byte_words = (
        f"{widest.upsert_bytes / MB:,.1f} MB{several}, {widest.upsert_bytes / widest.records:,.0f} B/record"
    )
    bounds = [
        Bound(
            "list (per index)",
            f"{lists:,} requests of <= {LIST_PAGE} IDs",
            f"{list_rate:g}/s",
            lists / list_rate,
        ),
        Bound("fetch (per index)", fetch_words, f"{fetch_rate:g}/s", fetches / fetch_rate),
        Bound(
            "upsert requests (per namespace)",
            f"{busiest.upsert_requests:,} requests{several}",
            f"{upsert_rate:g}/s",
            busiest.upsert_requests / upsert_rate,
        ),
        Bound(
            "upsert bytes (per namespace)",
            byte_words,
            f"{byte_rate / MB:g} MB/s",
            widest.upsert_bytes / byte_rate,
        ),
    ]
    return max(bound.seconds for bound in bounds), bounds


# -- running the CLI -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Run:
    exit_code: int
    wall_seconds: float
    cpu_seconds: float
    peak_rss_mb: float
    report: dict[str, Any]
    output: str


def migrate(
    source_url: str,
    target_url: str,
    source: str,
    target: str,
    work: Path,
    *extra: str,
    env: dict[str, str] | None = None,
) -> Run:
    """`pinecone-migrator migrate` as a child process with no tuning flags (plus ``extra``)."""
    report = work / f"{target}.report.json"
    command = [
        sys.executable, "-m", "pinecone_migrator", "migrate",
        "--source-index", source, "--target-index", target,
        "--source-host", source_url, "--target-host", target_url,
        "--source-api-key-env", "BENCH_KEY", "--target-api-key-env", "BENCH_KEY",
        "--state", str(work / f"{target}.state"), "--report", str(report), "--quiet", *extra,
    ]  # fmt: skip
    env = {**os.environ, "BENCH_KEY": "bench", **(env or {})}
    with (work / f"{target}.log").open("w+b") as output:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
        # wait4 on this child alone: its own CPU time and ru_maxrss, not the servers'.
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        while pid == 0 and time.perf_counter() - started < MIGRATE_TIMEOUT[0]:
            time.sleep(0.2)
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid == 0:
            process.kill()
            _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        text = output.read().decode(errors="replace")
        if pid == 0:
            text += f"\n(killed: migrate did not finish within {MIGRATE_TIMEOUT[0]:.0f} s, --timeout)"
    body: dict[str, Any] = orjson.loads(report.read_bytes()) if report.exists() else {}
    return Run(
        exit_code=process.returncode,
        wall_seconds=wall,
        cpu_seconds=usage.ru_utime + usage.ru_stime,
        peak_rss_mb=usage.ru_maxrss / 1024,  # KB on Linux
        report=body,
        output=text,
    )


def cli_has(verb: str, flag: str) -> bool:
    helped = subprocess.run(
        [sys.executable, "-m", "pinecone_migrator", verb, "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    return flag in helped.stdout


# -- the naive loop ------------------------------------------------------------------------------------------


def naive_loop(
    url: str, source_host: str, target: str, scenario: Scenario, namespaces: list[str], budget: int
) -> tuple[int, float]:
    """The original script's loop over ``namespaces`` until ``budget`` records: (copied, records/s)."""
    from pinecone import Pinecone

    destination_host = create_index(url, target, scenario.dimension, scenario.metric)
    destination = Pinecone(api_key="bench").Index(host=destination_host)
    source = Pinecone(api_key="bench").Index(host=source_host)
    copied = 0
    started = time.perf_counter()
    for namespace in namespaces:
        token = None
        while copied < budget:
            page = patiently(
                source.list_paginated, namespace=namespace, limit=LIST_PAGE, pagination_token=token
            )
            ids = [item.id for item in page.vectors]
            if not ids:
                break
            fetched = patiently(source.fetch, ids=ids, namespace=namespace)
            vectors = list(fetched.vectors.values())
            patiently(destination.upsert, vectors=vectors, namespace=namespace, show_progress=False)
            copied += len(ids)
            token = page.pagination.next if page.pagination else None
            if not token:
                break
        if copied >= budget:
            break
    seconds = time.perf_counter() - started
    count, _ = total_count(destination_host, copied)
    if count != copied:
        raise SystemExit(f"benchmark failed: the naive loop copied {copied:,} but its target holds {count:,}")
    return copied, copied / seconds


def patiently(call: Any, **kwargs: Any) -> Any:
    """A 429 is waited out and the request sent again (the original script would have stopped)."""
    from pinecone.exceptions import PineconeApiException

    while True:
        try:
            return call(**kwargs)
        except PineconeApiException as error:
            if getattr(error, "status_code", getattr(error, "status", None)) != 429:
                raise
            time.sleep(0.5)


# -- scenarios -----------------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


@dataclass(frozen=True)
class Way:
    """How ours is run: with no flags at all, or as it would run against Pinecone's cloud."""

    label: str
    flags: tuple[str, ...] = ()
    env: tuple[tuple[str, str], ...] = ()


PLAIN = Way("no flags")


def paced_like_the_cloud(scale: float) -> Way:
    """Against Pinecone's cloud `--rate-limits auto` paces at the published limits; against a local host it
    is off. This way asks for the pacing and, through the variable the store reads for tests and benchmarks
    (stores/pinecone/pacing.py), paces at F x the limits, as the servers enforce."""
    return Way(
        "paced as on the cloud",
        ("--rate-limits", "pinecone"),
        (("PINECONE_MIGRATOR_RATE_LIMIT_SCALE", f"{scale:g}"),),
    )


@dataclass(frozen=True)
class Measured:
    """One migration under the servers' current latency and limits."""

    run: Run
    copied: int
    refused: dict[str, int]  # "source total", "source fetch", ... "target upsert"

    @property
    def rate(self) -> float:
        return self.copied / self.run.wall_seconds

    @property
    def dead_letters(self) -> int:
        return int(self.run.report.get("dead_letters") or 0)

    @property
    def total_429(self) -> int:
        return sum(n for key, n in self.refused.items() if key.endswith("total"))


def set_conditions(
    source: ServerProcess, target: ServerProcess, latency: float, limits: dict[str, object]
) -> None:
    for url in (source.url, target.url):
        set_faults(url, latency_ms=latency, **limits)


def ours(
    source: ServerProcess, target: ServerProcess, records: int, name: str, work: Path, way: Way, *flags: str
) -> Measured:
    """Migrate the source into a new index ``name`` on the target; count it, then delete it."""
    before = (refusals(source.url), refusals(target.url))
    run = migrate(source.url, target.url, "source", name, work, *way.flags, *flags, env=dict(way.env))
    refused = {
        **{f"source {op}": n for op, n in refused_since(source.url, before[0]).items()},
        **{f"target {op}": n for op, n in refused_since(target.url, before[1]).items()},
    }
    try:
        copied, _ = total_count(host_of(target.url, name), records)
        delete_index(target.url, name)
    except Exception as error:  # no target index: the run failed before creating it
        copied = 0
        print(f"  (could not count {name}: {error})")
    return Measured(run, copied, refused)


def naive(
    target: ServerProcess, source_host: str, scenario: Scenario, records: int, name: str
) -> tuple[int, float]:
    budget = min(records, scenario.naive_records)
    copied, rate = naive_loop(
        target.url, source_host, name, scenario, namespace_names(scenario, records), budget
    )
    delete_index(target.url, name)
    return copied, rate


def run_scenario(
    scenario: Scenario,
    records: int,
    latencies: list[float],
    scale: float,
    work: Path,
    ways: list[Way],
    limits_off_too: bool,
) -> list[str]:
    """Load, then migrate and run the naive loop at each latency; print as it goes; return summary lines."""
    namespaces = namespace_names(scenario, records)
    work = work / scenario.key
    work.mkdir()
    print(
        f"\n== scenario {scenario.key}: {records:,} records, {len(namespaces):,} namespace(s) of "
        f"<= {min(records, scenario.per_namespace):,}, {scenario.title}; limits x F = {scale:g}",
        flush=True,
    )
    summary: list[str] = []
    limits: dict[str, object] = {"rate_limits": "pinecone", "rate_limit_scale": scale}
    with ServerProcess(None) as source, ServerProcess(None) as target:
        started = time.perf_counter()
        source_host, shapes = load(source.url, "source", scenario, records)
        print(f"loaded {records:,} records in {time.perf_counter() - started:.0f} s (latency and limits off)")
        seconds, bounds = allowed(shapes, scale)
        allowed_rate = records / seconds
        full_rate = records / allowed(shapes, 1.0)[0]
        print(f"allowed by the published limits x {scale:g} (src/pinecone_migrator/limits.py):")
        for bound in bounds:
            print(f"  {bound.what:<32} {bound.amount} / {bound.rate} = {bound.seconds:,.1f} s")
        print(
            f"  slowest: {seconds:,.1f} s -> {allowed_rate:,.0f} records/s allowed "
            f"(at F = 1: {full_rate:,.0f}); the server's buckets start full, a one-second head start"
        )
        for latency in latencies:
            print(f"-- latency {latency:g} ms, limits x {scale:g}")
            set_conditions(source, target, latency, limits)
            naive_copied, naive_rate = naive(target, source_host, scenario, records, f"naive-{latency:g}ms")
            print(
                f"  naive: {naive_copied:,} records at {naive_rate:,.0f} records/s "
                f"(measured on {naive_copied:,}, extrapolated to all {records:,} as a rate)"
            )
            for number, way in enumerate(ways):
                m = ours(source, target, records, f"ours-{latency:g}ms-{number}", work, way)
                line = scenario_line(
                    scenario, records, latency, scale, way, m, allowed_rate, full_rate, naive_rate
                )
                print(
                    f"  ours, {way.label}: {m.copied:,} of {records:,} records in {m.run.wall_seconds:.1f} s "
                    f"wall ({float(m.run.report.get('records_per_second') or 0):,.0f}/s by its report's "
                    "clock); "
                    f"CPU {m.run.cpu_seconds:.1f} s; 429s by operation: {m.refused or 'none'}"
                )
                print("  " + line, flush=True)
                if m.run.exit_code != 0:
                    print("  migrate output (tail):\n" + m.run.output[-2000:])
                summary.append(line)
            if limits_off_too:
                set_conditions(source, target, latency, OFF)
                free = ours(source, target, records, f"free-{latency:g}ms", work, PLAIN)
                line = (
                    f"{scenario.key} @ {latency:g} ms, limits off, no flags: ours {free.rate:,.0f}/s = "
                    f"{free.rate / allowed_rate:.1f}x what F = {scale:g} allows"
                )
                print("  " + line, flush=True)
                summary.append(line)
        if limits_off_too:
            # The machine's own bound for this data: no latency, no limits, many pages in flight (the one run
            # with a tuning flag; it measures the machine, not the defaults). F is right when this is well
            # above what F allows.
            set_conditions(source, target, 0.0, OFF)
            machine = ours(source, target, records, "machine", work, PLAIN, "--concurrency", "16")
            clock = float(machine.run.report.get("records_per_second") or 0.0)
            line = (
                f"{scenario.key} machine bound (0 ms, limits off, --concurrency 16): "
                f"{machine.rate:,.0f}/s wall, {clock:,.0f}/s by its report's clock = "
                f"{clock / allowed_rate:.1f}x what F = {scale:g} allows"
            )
            print("  " + line, flush=True)
            summary.append(line)
    return summary


def scenario_line(
    scenario: Scenario,
    records: int,
    latency: float,
    scale: float,
    way: Way,
    m: Measured,
    allowed_rate: float,
    full_rate: float,
    naive_rate: float,
) -> str:
    """One run's figures, each with its baseline and goal."""
    ok = m.copied == records and m.dead_letters == 0 and m.run.exit_code == 0
    of_allowed = m.rate / allowed_rate
    # The naive loop waits on round trips, not on the limits: scaling the limits by F lowers our ceiling but
    # not its rate. At F = 1 ours would be capped at full_rate; assuming it keeps the same fraction of what is
    # allowed, ours / naive there is of_allowed * full_rate / naive.
    projected = of_allowed * full_rate / naive_rate
    naive_words = f"/ naive {naive_rate:,.0f}/s = {m.rate / naive_rate:.1f}x"
    if latency >= NAIVE_GOAL_LATENCY_MS:
        met = verdict(projected >= NAIVE_GOAL)
        naive_words += f" (at F = 1, projected: {projected:.1f}x; goal >= {NAIVE_GOAL:g}x: {met})"
    return (
        f"{scenario.key} @ {latency:g} ms, F = {scale:g}, {way.label}: ours {m.rate:,.0f}/s / allowed "
        f"{allowed_rate:,.0f}/s = {of_allowed:.1%} (goal >= {scenario.allowed_goal:.0%}: "
        f"{verdict(of_allowed >= scenario.allowed_goal)}); {naive_words}; 429s {m.total_429}; "
        f"failed {records - m.copied} (exit {m.run.exit_code}, dead letters {m.dead_letters}: "
        f"{verdict(ok)}); peak RSS {m.run.peak_rss_mb:.0f} MB (goal < {RSS_GOAL_MB:.0f}: "
        f"{verdict(m.run.peak_rss_mb < RSS_GOAL_MB)})"
    )


def run_transport(records: int, latency: float, work: Path) -> list[str]:
    """REST vs gRPC, limits off, dimension 1536: records/s and CPU seconds per 10,000 records."""
    scenario = Scenario("t", "dimension 1536, ~1 KB metadata", records, 1536, records, False, 1.0, 0.0, 0)
    print(
        f"\n== transport: {records:,} records, {scenario.title}, latency {latency:g} ms, limits off",
        flush=True,
    )
    missing = [
        what
        for what, ok in (
            ("migrate --transport", cli_has("migrate", "--transport")),
            ("serve --grpc-port", cli_has("serve", "--grpc-port")),
        )
        if not ok
    ]
    grpc_args = () if missing else ("--grpc-port", "0")
    transports = ["rest"] if missing else ["rest", "grpc"]
    runs: dict[str, Run] = {}
    start_up: dict[str, Run] = {}
    failed: list[str] = []
    with ServerProcess(None, *grpc_args) as source, ServerProcess(None, *grpc_args) as target:
        load(source.url, "source", scenario, records)
        load(source.url, "tiny", dataclasses.replace(scenario, records=100, per_namespace=100), 100)
        for url in (source.url, target.url):
            set_faults(url, latency_ms=latency, rate_limits="off")
        for transport in transports:
            extra = ("--transport", transport) if not missing else ()
            # A 100-record migration: the CPU any run spends starting up, taken off to compare the records.
            start_up[transport] = migrate(source.url, target.url, "tiny", f"tiny-{transport}", work, *extra)
            delete_index(target.url, f"tiny-{transport}")
            run = migrate(source.url, target.url, "source", transport, work, *extra)
            copied, _ = total_count(host_of(target.url, transport), records)
            if run.exit_code != 0 or copied != records:
                print(f"  {transport}: exit code {run.exit_code}, {copied:,} of {records:,}:")
                print(run.output[-2000:])
                failed.append(f"{transport} copied {copied:,} of {records:,}, exit code {run.exit_code}")
            runs[transport] = run
            delete_index(target.url, transport)
    print(
        f"  {'':<6}{'records/s':>11}{'CPU s / 10k':>13}{'start-up CPU s':>16}{'net CPU s / 10k':>17}"
        f"{'peak RSS MB':>13}"
    )
    figures: dict[str, tuple[float, float, float]] = {}
    for transport in transports:
        run, fixed = runs[transport], start_up[transport].cpu_seconds
        rate, gross = records / run.wall_seconds, run.cpu_seconds * 10_000 / records
        net = (run.cpu_seconds - fixed) * 10_000 / records
        figures[transport] = (rate, gross, net)
        label = "REST" if transport == "rest" else "gRPC"
        print(f"  {label:<6}{rate:>11,.0f}{gross:>13.2f}{fixed:>16.2f}{net:>17.2f}{run.peak_rss_mb:>13.0f}")
    if missing:
        rate, gross, net = figures["rest"]
        line = (
            f"transport: REST {rate:,.0f}/s, {gross:.2f} CPU s/10k ({net:.2f} net of start-up); "
            f"gRPC transport not available ({' and '.join(missing)} missing)"
        )
        print("  " + line)
        return [line]
    (rest_rate, rest_gross, rest_net), (grpc_rate, grpc_gross, grpc_net) = figures["rest"], figures["grpc"]
    line = (
        f"transport @ {latency:g} ms: gRPC/REST records/s {grpc_rate / rest_rate:.2f}x ({grpc_rate:,.0f} vs "
        f"{rest_rate:,.0f}); CPU s/10k {grpc_gross / rest_gross:.2f}x ({grpc_gross:.2f} vs "
        f"{rest_gross:.2f}), net of start-up {grpc_net / rest_net:.2f}x ({grpc_net:.2f} vs {rest_net:.2f}; "
        f"goal <= {GRPC_CPU_GOAL}x: {verdict(grpc_net <= GRPC_CPU_GOAL * rest_net)})"
        + (f"; FAILED: {'; '.join(failed)}" if failed else "; failed records 0")
    )
    print("  " + line, flush=True)
    return [line]


def run_rss(sizes: list[int], dimension: int, latency: float, work: Path) -> list[str]:
    """Peak RSS of migrate at each size, limits off."""
    print(
        f"\n== rss: {', '.join(f'{s:,}' for s in sizes)} records, dimension {dimension}, ~1 KB metadata, "
        f"latency {latency:g} ms, limits off",
        flush=True,
    )
    peaks: list[tuple[int, Run]] = []
    with ServerProcess(None) as source, ServerProcess(None) as target:
        for size in sizes:
            scenario = Scenario("r", "rss", size, dimension, size, False, 1.0, 0.0, 0)
            load(source.url, f"rss-{size}", scenario, size)
            for url in (source.url, target.url):
                set_faults(url, latency_ms=latency, rate_limits="off")
            run = migrate(source.url, target.url, f"rss-{size}", f"copy-{size}", work)
            copied, _ = total_count(host_of(target.url, f"copy-{size}"), size)
            print(
                f"  {size:>9,} records: peak RSS {run.peak_rss_mb:.0f} MB, "
                f"{size / run.wall_seconds:,.0f} records/s, exit code {run.exit_code}, "
                f"target holds {copied:,}",
                flush=True,
            )
            if run.exit_code != 0:
                print("  migrate output (tail):\n" + run.output[-2000:])
            peaks.append((size, run))
            for url in (source.url, target.url):
                set_faults(url, latency_ms=0)
            delete_index(source.url, f"rss-{size}")
            delete_index(target.url, f"copy-{size}")
    smallest, largest = peaks[0][1].peak_rss_mb, peaks[-1][1].peak_rss_mb
    ok = max(run.peak_rss_mb for _, run in peaks) < RSS_GOAL_MB and largest <= RSS_FLAT * smallest
    line = (
        "peak RSS: "
        + " vs ".join(f"{size:,} -> {run.peak_rss_mb:.0f} MB" for size, run in peaks)
        + f" ({largest / smallest:.2f}x; goal < {RSS_GOAL_MB:.0f} MB and <= {RSS_FLAT}x: {verdict(ok)})"
    )
    print("  " + line, flush=True)
    return [line]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--scenario",
        action="append",
        choices=["a", "b", "c", "transport", "rss"],
        help="run only these (repeatable; default: all)",
    )
    parser.add_argument("--records", type=int, help="records per scenario (b: 50 per namespace)")
    parser.add_argument("--latency-ms", type=float, action="append", help="repeatable; default 20 and 80")
    parser.add_argument("--scale", type=float, help="F for every scenario (default: each scenario's own)")
    parser.add_argument(
        "--naive-records", type=int, help="records the naive loop copies (default: 3,000-4,000)"
    )
    parser.add_argument(
        "--ours",
        choices=["plain", "paced", "both"],
        default="both",
        help="plain: migrate with no flags (no client pacing against a local host); paced: as against "
        "Pinecone's cloud, where --rate-limits auto paces (here: --rate-limits pinecone at F x the limits)",
    )
    parser.add_argument(
        "--limits-off-too",
        action="store_true",
        help="also migrate with the limits off at each latency, and once at 0 ms with --concurrency 16 (the "
        "machine's own bound: F leaves it headroom when that is well above what F allows)",
    )
    parser.add_argument(
        "--transport-records", type=int, default=50_000, help="more records: less start-up CPU in each 10k"
    )
    parser.add_argument("--rss-records", type=int, nargs=2, default=[100_000, 400_000], metavar="N")
    parser.add_argument("--rss-dimension", type=int, default=64)
    parser.add_argument(
        "--timeout", type=float, default=MIGRATE_TIMEOUT[0], help="seconds allowed to one migrate"
    )
    args = parser.parse_args()
    MIGRATE_TIMEOUT[0] = args.timeout
    chosen = args.scenario or ["a", "b", "c", "transport", "rss"]
    latencies = args.latency_ms or [20.0, 80.0]
    print(
        f"realistic bench: scenarios {', '.join(chosen)}; "
        f"latency {', '.join(f'{x:g}' for x in latencies)} ms; "
        f"{os.cpu_count()} CPUs; load average {', '.join(f'{x:.1f}' for x in os.getloadavg())}; "
        f"code: {Path(pinecone_migrator.__file__).parent}",
        flush=True,
    )
    summary: list[str] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for key in chosen:
            if key in SCENARIOS:
                scenario = SCENARIOS[key]
                if args.naive_records:
                    scenario = dataclasses.replace(scenario, naive_records=args.naive_records)
                records = args.records or scenario.records
                scale = args.scale or scenario.scale
                ways = {"plain": [PLAIN], "paced": [paced_like_the_cloud(scale)]}.get(
                    args.ours, [PLAIN, paced_like_the_cloud(scale)]
                )
                if not cli_has("migrate", "--rate-limits"):
                    ways = [PLAIN]
                summary += run_scenario(scenario, records, latencies, scale, work, ways, args.limits_off_too)
            elif key == "transport":
                summary += run_transport(args.records or args.transport_records, latencies[0], work)
            else:
                summary += run_rss(args.rss_records, args.rss_dimension, latencies[0], work)
    print(f"\nsummary (load average at the end {', '.join(f'{x:.1f}' for x in os.getloadavg())}):")
    for line in summary:
        print("  " + line)


if __name__ == "__main__":
    main()
