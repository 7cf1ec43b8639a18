"""With ``--rate-limits pinecone`` a flood of data-plane requests gets 429s at Pinecone's published rates."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
from pinecone import Pinecone

from pinecone_migrator.server.context import ServerConfig
from pinecone_migrator.server.runner import BackgroundServer
from tests.serverproc import ServerProcess

from ..helpers import dense_index


def test_fetch_flood_is_limited_to_100_requests_per_second() -> None:
    config = ServerConfig(port=0)
    config.faults.rate_limits = "pinecone"
    with BackgroundServer(config) as running:
        index = dense_index(Pinecone(api_key="k", host=running.url), "flood", dimension=2)
        index.upsert(vectors=[{"id": "a", "values": [1, 0]}])
        host = running.url + "/data/flood"
        statuses: list[int] = []
        with httpx.Client(headers={"Api-Key": "k"}) as http:
            started = time.monotonic()
            for _ in range(300):
                response = http.get(f"{host}/vectors/fetch", params={"ids": ["a"]})
                statuses.append(response.status_code)
                if response.status_code == 429:
                    body = response.json()
                    assert body["code"] == 8
                    assert "fetch" in body["message"] and "100" in body["message"]
            elapsed = time.monotonic() - started
        admitted = statuses.count(200)
        assert set(statuses) <= {200, 429}
        assert statuses.count(429) > 0
        # a full bucket (100) plus what refills while the flood lasts, never more
        assert 100 <= admitted <= 100 + 100 * elapsed + 2
        # other operations have their own buckets: a list still passes
        assert httpx.get(f"{host}/vectors/list", headers={"Api-Key": "k"}).status_code == 200


def test_limits_can_be_switched_on_while_running() -> None:
    with BackgroundServer(ServerConfig(port=0)) as running:
        index = dense_index(Pinecone(api_key="k", host=running.url), "switch", dimension=2)
        host = running.url + "/data/switch"
        with httpx.Client(headers={"Api-Key": "k"}) as http:
            body = {"filter": {"x": 1}}
            assert all(http.post(f"{host}/vectors/delete", json=body).status_code == 200 for _ in range(20))
            assert (
                http.put(f"{running.url}/_admin/faults", json={"rate_limits": "pinecone"}).status_code == 200
            )
            statuses = [http.post(f"{host}/vectors/delete", json=body).status_code for _ in range(20)]
        # delete by metadata: 5 requests per second per namespace
        assert statuses.count(200) <= 7 and statuses.count(429) >= 13
        assert index.describe_index_stats().total_vector_count == 0


def test_a_scale_enforces_that_fraction_of_the_published_limits() -> None:
    with BackgroundServer(ServerConfig(port=0)) as running:
        index = dense_index(Pinecone(api_key="k", host=running.url), "scaled", dimension=2)
        index.upsert(vectors=[{"id": "a", "values": [1, 0]}])
        host = running.url + "/data/scaled"
        with httpx.Client(headers={"Api-Key": "k"}) as http:
            settings = {"rate_limits": "pinecone", "rate_limit_scale": 0.1}
            assert http.put(f"{running.url}/_admin/faults", json=settings).status_code == 200
            started = time.monotonic()
            responses = [http.get(f"{host}/vectors/fetch", params={"ids": ["a"]}) for _ in range(40)]
            elapsed = time.monotonic() - started
            refused = [r for r in responses if r.status_code == 429]
            assert "100 requests per second" in refused[0].json()["message"]
            assert "enforces 0.1 times that" in refused[0].json()["message"]
            bad = http.put(f"{running.url}/_admin/faults", json={"rate_limit_scale": 0})
            assert bad.status_code == 400 and "rate_limit_scale" in bad.text
        # a full bucket of 10 fetches plus what refills (10 per second) while the 40 requests last
        assert 10 <= 40 - len(refused) <= 10 + 10 * elapsed + 2


def test_serve_rate_limit_scale_enforces_a_fraction_of_the_limits_from_the_command_line() -> None:
    with ServerProcess(None, "--rate-limits", "pinecone", "--rate-limit-scale", "0.1") as running:
        dense_index(Pinecone(api_key="k", host=running.url), "scaled", dimension=2)
        host = running.url + "/data/scaled"
        with httpx.Client(headers={"Api-Key": "k"}) as http:
            started = time.monotonic()
            responses = [http.get(f"{host}/vectors/fetch", params={"ids": ["a"]}) for _ in range(20)]
            elapsed = time.monotonic() - started
        statuses = [r.status_code for r in responses]
        # 0.1 x 100 fetches per second: a bucket of 10, refilled at 10 per second
        assert statuses[:10] == [200] * 10
        assert 429 in statuses and statuses.count(200) <= 10 + 10 * elapsed + 1
        refused = responses[statuses.index(429)].json()["message"]
        assert "100 requests per second" in refused and "enforces 0.1 times that" in refused


def test_serve_refuses_a_scale_that_is_not_positive() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pinecone_migrator", "serve", "--in-memory", "--rate-limit-scale", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--rate-limit-scale" in result.stderr and "x>0" in result.stderr


def test_serve_refuses_a_scale_without_the_limits_it_would_scale() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "pinecone_migrator", "serve", "--in-memory", "--rate-limit-scale", "0.1"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "--rate-limit-scale 0.1 scales the limits of --rate-limits pinecone" in result.stderr
    assert "add --rate-limits pinecone" in result.stderr
