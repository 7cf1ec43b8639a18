"""Client-side pacing under Pinecone's published rate limits: the token-bucket arithmetic on an injected
clock, when pacing is on, and migrations against local servers that enforce a tenth of the limits."""

from __future__ import annotations

import json
import pickle
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pinecone import Pinecone, ServerlessSpec

from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.engine.verify.result import VerifyOptions
from pinecone_migrator.engine.workflows.verify import VerifySettings, verify_index
from pinecone_migrator.errors import UserError
from pinecone_migrator.records import Record
from pinecone_migrator.server.runner import BackgroundServer
from pinecone_migrator.stores.pinecone.pacing import (
    BURST_SECONDS,
    HEADROOM,
    SCALE_VARIABLE,
    PacingSettings,
    RatePacer,
    paces,
)
from pinecone_migrator.stores.pinecone.store import PineconeStore
from pinecone_migrator.stores.pinecone.transport import Unpaced
from pinecone_migrator.stores.registry import PineconeIndex, open_store, paced_rate, split_pacing
from tests.cliproc import SOURCE_KEY, TARGET_KEY, migrate
from tests.serverproc import ServerProcess

SCALE = 0.1  # the local servers below enforce a tenth of Pinecone's limits; the pacer is told the same


class FakeTime:
    """A clock that moves only when a paced thread sleeps."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def fake_pacer(scale: float = 1.0) -> tuple[RatePacer, FakeTime]:
    time_ = FakeTime()
    return RatePacer(PacingSettings(scale=scale), clock=time_.clock, sleep=time_.sleep), time_


# -- the arithmetic ----------------------------------------------------------------------------------------


def test_requests_go_at_the_published_rate_after_a_short_burst() -> None:
    pacer, fake = fake_pacer()
    rate = 100 * HEADROOM  # fetch: 100 requests/s per index
    for _ in range(1_000):
        pacer.wait("fetch", "any namespace")
    burst = rate * BURST_SECONDS
    assert fake.now == pytest.approx((1_000 - burst) / rate, rel=0.01)
    assert len(fake.slept) == 1_000 - int(burst)  # the burst went at once, then one sleep per request


def test_a_worker_process_s_pacer_starts_without_a_burst() -> None:
    """The process that started it may just have emptied the index's buckets."""
    fake = FakeTime()
    pacer = RatePacer(PacingSettings(burst=False), clock=fake.clock, sleep=fake.sleep)
    pacer.wait("list", "")
    assert fake.now == pytest.approx(1 / (200 * HEADROOM))


def test_a_request_larger_than_its_bucket_passes_once_the_bucket_is_full() -> None:
    pacer, fake = fake_pacer(scale=0.01)  # delete: 50 records/s per namespace here
    pacer.wait("delete", "ns", records=1_000)
    assert fake.now == 0  # a full bucket lets it through at once
    pacer.wait("delete", "ns", records=1)
    rate = 50 * HEADROOM
    assert fake.now == pytest.approx((1_000 - rate * BURST_SECONDS + 1) / rate)  # the debt is paid off first


def test_upserts_are_paced_by_requests_and_by_bytes_per_namespace() -> None:
    pacer, fake = fake_pacer()
    for _ in range(100):  # 50 MB/s per namespace: 100 requests of 2 MB take 4 s, not 1 s
        pacer.wait("upsert", "a", records=1_000, nbytes=2_000_000)
    assert fake.now == pytest.approx(
        100 * 2_000_000 / (50 * 1024 * 1024 * HEADROOM) - BURST_SECONDS, rel=0.02
    )
    started = fake.now
    pacer.wait("upsert", "b", records=1_000, nbytes=2_000_000)
    assert fake.now == started  # another namespace has buckets of its own


def test_a_429_tightens_only_its_own_bucket_and_it_recovers_slowly() -> None:
    pacer, fake = fake_pacer()
    fetch, listing, upsert = pacer.rate("fetch"), pacer.rate("list"), pacer.rate("upsert", "a")
    pacer.throttled("fetch", "a")
    pacer.throttled("fetch", "b")  # the same burst of 429s: one signal
    assert pacer.rate("fetch") == pytest.approx(0.7 * fetch)
    assert (pacer.rate("list"), pacer.rate("upsert", "a")) == (listing, upsert)
    pacer.throttled("upsert", "a")
    assert pacer.rate("upsert", "a") == pytest.approx(0.7 * upsert) and pacer.rate("upsert", "b") == upsert
    fake.now += 1.0
    assert pacer.rate("fetch") == pytest.approx(0.7 * fetch)  # no growth in the first calm second
    fake.now += 1.0
    assert pacer.rate("fetch") == pytest.approx(0.7 * fetch * 1.05, rel=1e-6)
    fake.now += 60.0
    assert pacer.rate("fetch") == fetch  # back at the published rate, not above
    for _ in range(30):
        fake.now += 1.0
        pacer.throttled("fetch", "")
    assert pacer.rate("fetch") == pytest.approx(0.1 * fetch)  # never below a tenth


def test_sixty_four_threads_share_the_rate_in_the_order_they_came() -> None:
    pacer = RatePacer(PacingSettings(scale=0.5))  # fetch: 47.5 requests/s on the real clock
    admitted: list[float] = []
    lock = threading.Lock()

    def work() -> None:
        for _ in range(2):
            pacer.wait("fetch", "")
            with lock:
                admitted.append(time.monotonic())

    threads = [threading.Thread(target=work) for _ in range(64)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rate = 50 * HEADROOM
    least = (128 - rate * BURST_SECONDS) / rate
    assert least * 0.95 <= time.monotonic() - started <= least * 1.3
    in_any_second = max(sum(1 for t in admitted if start <= t < start + 1.0) for start in admitted)
    assert in_any_second <= rate * (1 + BURST_SECONDS) + 1


def test_the_limits_in_force_are_logged_once_at_the_first_request(caplog: pytest.LogCaptureFixture) -> None:
    store = open_store(PineconeIndex("logged", "http://127.0.0.1:5080", api_key="secret-key-1",
                                     rate_limits="pinecone", rate_limit_scale=0.5))  # fmt: skip
    with caplog.at_level("INFO", logger="pinecone_migrator.pacing"):
        for _ in range(3):
            store.pacer.wait("list", "")
    lines = [r.getMessage() for r in caplog.records if r.name == "pinecone_migrator.pacing"]
    assert len(lines) == 1 and "secret-key-1" not in lines[0]
    assert lines[0].startswith("pacing index 'logged' under Pinecone's published limits (scaled by 0.5): ")
    assert "fetch 50/s per index" in lines[0] and "upsert 50/s and 25 MB/s per namespace" in lines[0]


# -- when pacing is on -------------------------------------------------------------------------------------


def test_auto_paces_pinecone_s_cloud_and_nothing_else() -> None:
    assert paces("auto", None) and paces("auto", "https://api.pinecone.io")
    assert paces("auto", "https://docs-a1b2c3.svc.aped-4627-b74a.pinecone.io")
    assert not paces("auto", "http://127.0.0.1:5080") and not paces("auto", "https://pinecone.io.example.com")
    assert paces("pinecone", "http://127.0.0.1:5080") and not paces("off", None)
    with pytest.raises(UserError, match="--rate-limits 'fast' is not one of auto, pinecone, off"):
        paces("fast", None)


def test_the_registry_gives_each_mode_its_pacer(monkeypatch: pytest.MonkeyPatch) -> None:
    local, cloud = "http://127.0.0.1:5080", "https://api.pinecone.io"
    assert isinstance(open_store(PineconeIndex("a", local, api_key="k")).pacer, Unpaced)
    assert isinstance(open_store(PineconeIndex("a", cloud, api_key="k", rate_limits="off")).pacer, Unpaced)
    paced = open_store(PineconeIndex("a", cloud, api_key="k")).pacer
    assert isinstance(paced, RatePacer) and paced.settings == PacingSettings(scale=1.0)
    monkeypatch.setenv(SCALE_VARIABLE, "0.25")
    forced = open_store(PineconeIndex("a", local, api_key="k", rate_limits="pinecone")).pacer
    assert isinstance(forced, RatePacer) and forced.settings.scale == 0.25
    given = open_store(PineconeIndex("a", local, api_key="k", rate_limits="pinecone", rate_limit_scale=0.5))
    assert isinstance(given.pacer, RatePacer) and given.pacer.settings.scale == 0.5
    assert paced_rate(given, "list") == pytest.approx(200 * 0.5 * HEADROOM)
    assert paced_rate(open_store(PineconeIndex("a", local, api_key="k")), "list") is None
    monkeypatch.setenv(SCALE_VARIABLE, "fast")
    with pytest.raises(UserError, match=f"{SCALE_VARIABLE}='fast' is not a positive number"):
        open_store(PineconeIndex("a", local, api_key="k", rate_limits="pinecone"))


def test_the_pacing_travels_to_a_worker_process_split_among_the_workers() -> None:
    store = open_store(PineconeIndex("travel", "http://127.0.0.1:5080", api_key="k", rate_limits="pinecone",
                                    rate_limit_scale=0.2))  # fmt: skip
    split_pacing(store, 4)  # what a verify starting four scan workers does
    copy = pickle.loads(pickle.dumps(store))
    assert isinstance(copy, PineconeStore) and isinstance(copy.pacer, RatePacer)
    assert copy.pacer.settings == PacingSettings(scale=0.2, share=0.25, burst=False)
    assert copy.pacer.rate("list") == pytest.approx(200 * 0.2 * 0.25 * HEADROOM)
    assert isinstance(store.pacer, RatePacer) and store.pacer.settings.share == 1  # this process: all of it
    unpaced = open_store(PineconeIndex("travel", "http://127.0.0.1:5080", api_key="k"))
    assert isinstance(pickle.loads(pickle.dumps(unpaced)).pacer, Unpaced)


# -- against local servers that enforce a tenth of the limits ----------------------------------------------

NAMESPACES = {"tenant-a": 10_000, "tenant-b": 10_000}


@pytest.fixture
def limited_servers() -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """A source and a target project, each answering 429 above a tenth of Pinecone's limits."""
    limits = ("--rate-limits", "pinecone", "--rate-limit-scale", str(SCALE))
    with (
        ServerProcess(None, "--api-key", SOURCE_KEY, *limits) as source,
        ServerProcess(None, "--api-key", TARGET_KEY, *limits) as target,
    ):
        yield source, target


def faults(server: ServerProcess, key: str, changes: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = {"Api-Key": key}
    if changes is not None:
        httpx.put(f"{server.url}/_admin/faults", json=changes, headers=headers).raise_for_status()
    answer = httpx.get(f"{server.url}/_admin/faults", headers=headers)
    answer.raise_for_status()
    result: dict[str, Any] = answer.json()
    return result


def load(server: ServerProcess, key: str, name: str, namespaces: dict[str, int]) -> None:
    """An index with ``namespaces`` of dimension-8 records, written with the server's limits off."""
    faults(server, key, {"rate_limits": None})
    pc = Pinecone(api_key=key, host=server.url)
    pc.create_index(name, dimension=8, metric="cosine", spec=ServerlessSpec(cloud="aws", region="us-east-1"))
    index = pc.index(host=str(pc.describe_index(name).host))
    rng = np.random.default_rng(7)
    for namespace, count in namespaces.items():
        values = rng.random((count, 8), dtype=np.float32).tolist()
        vectors = [(f"{namespace}-{n:06d}", values[n]) for n in range(count)]
        for start in range(0, count, 1_000):
            index.upsert(vectors=vectors[start : start + 1_000], namespace=namespace)
    faults(server, key, {"rate_limits": "pinecone"})


def rate_limited(servers: tuple[ServerProcess, ServerProcess]) -> int:
    source, target = servers
    return int(faults(source, SOURCE_KEY)["counters"]["rate_limited"]) + int(
        faults(target, TARGET_KEY)["counters"]["rate_limited"]
    )


def allowed_seconds(namespaces: dict[str, int]) -> float:
    """The least time the scaled limits allow to list (100 IDs a page, per index), fetch (1,000 IDs a
    request, per index) and upsert (1,000 records a request, per namespace) these namespaces."""
    pages = sum(-(-count // 100) for count in namespaces.values())
    fetches = sum(-(-count // 1_000) for count in namespaces.values())
    upserts = max(-(-count // 1_000) for count in namespaces.values())
    return max(pages / (200 * SCALE), fetches / (100 * SCALE), upserts / (100 * SCALE))


def run_migrate(
    servers: tuple[ServerProcess, ServerProcess], tmp_path: Path, target: str, mode: str
) -> dict[str, Any]:
    """``migrate --rate-limits mode`` of every namespace of "src" into ``target``: its JSON summary, and the
    429s both servers answered meanwhile (``rate_limited``)."""
    before = rate_limited(servers)
    done = migrate(*servers, tmp_path / target, "--source-index", "src", "--target-index", target,
                   "--rate-limits", mode, "--concurrency", "8", "--yes", "--log-format", "json")  # fmt: skip
    assert isinstance(done, subprocess.CompletedProcess) and done.returncode == 0, str(done.stderr)[-2000:]
    summary: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    summary["rate_limited"] = rate_limited(servers) - before
    return summary


def test_a_paced_migration_runs_at_the_limits_without_429s_and_an_unpaced_one_gets_many(
    limited_servers: tuple[ServerProcess, ServerProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SCALE_VARIABLE, str(SCALE))  # the child process paces at the servers' scale
    load(limited_servers[0], SOURCE_KEY, "src", NAMESPACES)
    paced = run_migrate(limited_servers, tmp_path, "paced", "pinecone")
    unpaced = run_migrate(limited_servers, tmp_path, "unpaced", "off")
    assert paced["copied"] == unpaced["copied"] == sum(NAMESPACES.values())
    assert paced["rate_limited"] <= 2
    assert unpaced["rate_limited"] >= 20
    assert allowed_seconds(NAMESPACES) / paced["elapsed_seconds"] >= 0.85


def test_verify_s_worker_processes_share_the_limits_instead_of_each_taking_them_all(
    limited_servers: tuple[ServerProcess, ServerProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two scan processes per verify: each paces at half the index's limits, so together they stay under
    them (each at the full rate drew 19-35 429s in the same setup)."""
    monkeypatch.setenv(SCALE_VARIABLE, str(SCALE))
    load(limited_servers[0], SOURCE_KEY, "src", NAMESPACES)
    run_migrate(limited_servers, tmp_path, "dst", "off")
    source, target = limited_servers
    request = MigrationRequest(
        Endpoint("src", source.url), Endpoint("dst", target.url), state_path=tmp_path / "verify.sqlite"
    )
    stores = [
        open_store(
            PineconeIndex(name, server.url, api_key=key, rate_limits="pinecone", rate_limit_scale=SCALE)
        )
        for name, server, key in (("src", source, SOURCE_KEY), ("dst", target, TARGET_KEY))
    ]
    before = rate_limited(limited_servers)
    outcome = verify_index(request, *stores, VerifySettings(VerifyOptions(processes=2)))
    assert outcome.final.equal
    assert rate_limited(limited_servers) - before <= 2


def test_a_429_slows_the_bucket_it_names(server: BackgroundServer) -> None:
    """The store tells its pacer about 429s: paced at the published fetch rate against a server that allows
    a tenth of it, fetches slow down; listing, which got no 429, keeps its rate."""
    pc = Pinecone(api_key="key", host=server.url)
    pc.create_index(
        "tight", dimension=4, metric="cosine", spec=ServerlessSpec(cloud="aws", region="us-east-1")
    )
    store = open_store(PineconeIndex("tight", server.url, api_key="key", rate_limits="pinecone",
                                     rate_limit_scale=1.0))  # fmt: skip
    assert isinstance(store.pacer, RatePacer)
    store.write("ns", [Record(id="r", values=np.ones(4, np.float32))])
    httpx.put(f"{server.url}/_admin/faults", json={"rate_limits": "pinecone", "rate_limit_scale": 0.1})
    fetch, listing = store.pacer.rate("fetch"), store.pacer.rate("list")
    for _ in range(30):
        assert [r.id for r in store.fetch("ns", ["r"])] == ["r"]
    assert httpx.get(f"{server.url}/_admin/faults").json()["rate_limited_by_operation"]["fetch"] > 0
    assert store.pacer.rate("fetch") <= 0.7 * fetch
    assert store.pacer.rate("list") == listing


DEDICATED = {
    "mode": "Dedicated",
    "dedicated": {"node_type": "t1", "scaling": "Manual", "manual": {"shards": 1, "replicas": 1}},
}


def timed(calls: int, call: Any) -> float:
    started = time.monotonic()
    for _ in range(calls):
        call()
    return time.monotonic() - started


def test_a_dedicated_read_nodes_index_is_not_paced_on_reads(server: BackgroundServer) -> None:
    """Dedicated read nodes have no read rate limits: once the store has described the index, its lists and
    fetches go as fast as the server answers, while its writes (and an on-demand index's reads) are paced."""
    pc = Pinecone(api_key="key", host=server.url)
    for name, capacity in (("drn", DEDICATED), ("on-demand", None)):
        spec = ServerlessSpec(cloud="aws", region="us-east-1", read_capacity=capacity)
        pc.create_index(name, dimension=4, metric="cosine", spec=spec)
    scale = 0.02  # list: 3.8 requests/s; fetch 1.9/s; upsert 1.9/s per namespace
    stores = {
        name: open_store(
            PineconeIndex(name, server.url, api_key="key", rate_limits="pinecone", rate_limit_scale=scale)
        )
        for name in ("drn", "on-demand")
    }
    records = [Record(id="r", values=np.ones(4, np.float32))]
    writes = {name: timed(4, lambda s=store: s.write("ns", records)) for name, store in stores.items()}
    reads = {
        name: timed(8, lambda s=store: (s.list_ids("ns"), s.fetch("ns", ["r"])))
        for name, store in stores.items()
    }
    rate = 100 * scale * HEADROOM  # fetch and upsert; a bucket smaller than one request lets one through
    assert reads["on-demand"] >= (8 - 1) / rate * 0.95
    assert reads["drn"] < 0.5  # 16 requests to a local server
    assert paced_rate(stores["drn"], "list") is None and paced_rate(stores["drn"], "upsert", "ns") is not None
    assert min(writes.values()) >= (4 - 1) / rate * 0.95
