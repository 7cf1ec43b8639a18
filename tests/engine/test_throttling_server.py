"""429s from the local server's rate limits slow verify and sync down as they slow migrate: with the adaptive
limit the run sends fewer requests, and gets fewer 429s, than the same run at a fixed concurrency.

The server enforces a fifth of Pinecone's published limits (``rate_limit_scale``), so that two cores can
reach them: fetch 20 requests/s per index, list 40. Requests and refusals are the server's own counters.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from pinecone import Pinecone

from pinecone_migrator.engine.request import Endpoint, MigrationRequest
from pinecone_migrator.engine.sync.passes import SyncOptions, SyncPass
from pinecone_migrator.engine.sync.state import SyncState
from pinecone_migrator.engine.verify.run import VerifyOptions, verify
from pinecone_migrator.server.context import ServerConfig
from pinecone_migrator.server.runner import BackgroundServer
from pinecone_migrator.stores.pinecone.store import PineconeStore

from ..helpers import dense_index, random_records

KEY = "k"
COUNT = 2_000
CONCURRENCY = 32
PAGE = 20  # IDs per list page and per fetch: many small requests, so the limits bind
LIMITED = {"rate_limits": "pinecone", "rate_limit_scale": 0.2}


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundServer]:
    with BackgroundServer(ServerConfig(port=0, api_key=KEY)) as running:
        pc = Pinecone(api_key=KEY, host=running.url)
        records = random_records(COUNT, 8, random.Random(5))
        for name in ("src", "copy"):
            dense_index(pc, name).upsert(vectors=records, namespace="ns", batch_size=500)
        yield running


def _counted(server: BackgroundServer, run: Callable[[], Any]) -> dict[str, int]:
    """Run with the limits on; the server's request and 429 counts of that run."""
    with httpx.Client(base_url=server.url, headers={"Api-Key": KEY}) as admin:
        admin.post("/_admin/faults/reset").raise_for_status()
        admin.put("/_admin/faults", json=LIMITED).raise_for_status()
        try:
            run()
            counters = admin.get("/_admin/faults").json()["counters"]
        finally:
            admin.post("/_admin/faults/reset").raise_for_status()
    return {"requests": counters["requests"], "429": counters["rate_limited"]}


def _stores(server: BackgroundServer, target: str) -> tuple[PineconeStore, PineconeStore]:
    return PineconeStore("src", KEY, server.url), PineconeStore(target, KEY, server.url)


def _assert_adapting_saves(counts: dict[bool, dict[str, int]]) -> None:
    adaptive, fixed = counts[True], counts[False]
    assert fixed["429"] > 20, counts  # the fixed run did crowd the limits
    assert adaptive["429"] < 0.8 * fixed["429"], counts  # measured 0.3-0.65; without adapting 1.0-1.1
    assert adaptive["requests"] < fixed["requests"], counts


def test_verify_sends_fewer_requests_under_the_rate_limits_with_the_adaptive_limit(
    server: BackgroundServer,
) -> None:
    request = MigrationRequest(source=Endpoint("src", server.url), target=Endpoint("copy", server.url))
    counts: dict[bool, dict[str, int]] = {}
    for adaptive in (False, True):
        options = VerifyOptions(
            level="digest",
            concurrency=CONCURRENCY,
            page_size=PAGE,
            fetch_size=PAGE,
            processes=0,
            adaptive=adaptive,
        )

        def check(options: VerifyOptions = options) -> None:
            source, target = _stores(server, "copy")
            assert verify(request, source, target, options).equal

        counts[adaptive] = _counted(server, check)
    _assert_adapting_saves(counts)


def test_a_sync_pass_sends_fewer_requests_under_the_rate_limits_with_the_adaptive_limit(
    server: BackgroundServer, tmp_path: Path
) -> None:
    pc = Pinecone(api_key=KEY, host=server.url)
    counts: dict[bool, dict[str, int]] = {}
    for adaptive in (False, True):
        name = f"synced-{str(adaptive).lower()}"
        dense_index(pc, name)
        request = MigrationRequest(source=Endpoint("src", server.url), target=Endpoint(name, server.url))
        options = SyncOptions(concurrency=CONCURRENCY, page_size=PAGE, fetch_size=PAGE, adaptive=adaptive)

        def one_pass(request: MigrationRequest = request, options: SyncOptions = options) -> None:
            source, target = _stores(server, request.target.index)
            with SyncState(tmp_path / f"{request.target.index}.sqlite", {"mode": "ledger"}) as state:
                done = SyncPass(
                    request, options, source, target, state, threading.Event(), lambda *_: False
                ).run()
            assert (done.state, done.new) == ("done", COUNT)

        counts[adaptive] = _counted(server, one_pass)
    _assert_adapting_saves(counts)
