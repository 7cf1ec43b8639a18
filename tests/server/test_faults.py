"""Fault injection (HTTP errors, latency, dropped connections), the admin endpoint and Pinecone's rate limits.

Faults fire before routing, so most tests probe ``GET /indexes`` whatever the control plane answers there.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from pinecone import Pinecone, PineconeConnectionError, RetryConfig

from pinecone_migrator.limits import RATE_LIMITS
from pinecone_migrator.server.admin import FAULTS_PATH, VALIDATORS
from pinecone_migrator.server.context import ServerConfig
from pinecone_migrator.server.errors import ApiError
from pinecone_migrator.server.faults import FaultInjector, FaultSettings
from pinecone_migrator.server.runner import BackgroundServer

PROBE = "/indexes"
DATA_PROBE = "/data/some-index/query"
FAULT_STATUSES = {429, 500, 503}


@contextmanager
def running(faults: FaultSettings | None = None, api_key: str | None = None) -> Iterator[BackgroundServer]:
    config = ServerConfig(port=0, api_key=api_key, faults=faults or FaultSettings())
    with BackgroundServer(config) as server:
        yield server


@contextmanager
def client(server: BackgroundServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.url, timeout=10) as http:
        yield http


# -- injected HTTP errors ----------------------------------------------------------------------------------


def within_bounds(observed: int, n: int, rate: float) -> bool:
    spread = 4 * math.sqrt(n * rate * (1 - rate))  # 4 standard deviations: p < 1e-4 of a false alarm
    return n * rate - spread <= observed <= n * rate + spread


def test_fault_fractions_are_within_statistical_bounds() -> None:
    n = 400
    with running(FaultSettings(rate_500=0.3, rate_503=0.2, seed=1234)) as server, client(server) as http:
        statuses = [http.get(PROBE).status_code for _ in range(n)]
        counters = server.state.faults.counters
    assert within_bounds(statuses.count(500), n, 0.3)
    assert within_bounds(statuses.count(503), n, 0.2)
    others = set(statuses) - {500, 503}
    assert len(others) == 1 and not others & FAULT_STATUSES
    assert (counters["500"], counters["503"]) == (statuses.count(500), statuses.count(503))
    assert counters["requests"] == n


def test_same_seed_repeats_the_same_faults() -> None:
    with running() as server, client(server) as http:

        def run() -> list[int]:
            http.put(FAULTS_PATH, json={"rate_503": 0.5, "seed": 7}).raise_for_status()
            return [http.get(PROBE).status_code for _ in range(40)]

        first, second = run(), run()
    assert first == second
    assert 503 in first and len(set(first)) == 2


@pytest.mark.parametrize(
    ("setting", "status", "code", "grpc_code", "retry_after", "counter"),
    [
        ("rate_429", 429, "RESOURCE_EXHAUSTED", 8, "1", "429"),
        ("rate_429_no_retry_after", 429, "RESOURCE_EXHAUSTED", 8, None, "429_no_retry_after"),
        ("rate_500", 500, "INTERNAL", 13, None, "500"),
        ("rate_503", 503, "UNAVAILABLE", 14, None, "503"),
    ],
)
def test_injected_errors_have_pinecone_shapes(
    setting: str, status: int, code: str, grpc_code: int, retry_after: str | None, counter: str
) -> None:
    faults = FaultSettings()
    setattr(faults, setting, 1.0)
    with running(faults) as server, client(server) as http:
        control = http.get(PROBE)
        data = http.post(DATA_PROBE, json={"topK": 1, "vector": [1.0]})
        counters = server.state.faults.counters
    for response in (control, data):
        assert response.status_code == status
        assert response.headers.get("Retry-After") == retry_after
    assert control.json()["status"] == status
    assert control.json()["error"]["code"] == code
    assert data.json()["code"] == grpc_code
    assert data.json()["details"] == []
    assert "Injected fault" in data.json()["message"]
    assert counters[counter] == 2
    assert sum(counters[name] for name in ("drop", "429", "429_no_retry_after", "500", "503")) == 2


# -- latency -----------------------------------------------------------------------------------------------


def test_latency_is_added_to_requests_but_not_to_admin() -> None:
    with running(FaultSettings(latency_ms=150)) as server, client(server) as http:
        http.get(FAULTS_PATH)  # warm the connection
        started = time.monotonic()
        http.get(PROBE)
        delayed = time.monotonic() - started
        started = time.monotonic()
        http.get(FAULTS_PATH)
        admin = time.monotonic() - started
        counters = server.state.faults.counters
    assert delayed >= 0.15
    assert admin < 0.15
    assert counters["delayed"] == 1


def test_latency_does_not_block_the_event_loop() -> None:
    concurrent, latency = 8, 0.3
    with running(FaultSettings(latency_ms=latency * 1000)) as server:

        def one(_: int) -> int:
            return httpx.get(server.url + PROBE, timeout=10).status_code

        started = time.monotonic()
        with ThreadPoolExecutor(concurrent) as pool:
            statuses = list(pool.map(one, range(concurrent)))
        elapsed = time.monotonic() - started
    assert FAULT_STATUSES.isdisjoint(statuses)
    assert latency <= elapsed < concurrent * latency / 2  # serialised sleeps would take 2.4 s


# -- dropped connections -----------------------------------------------------------------------------------


def test_drop_closes_the_connection_without_a_response_and_the_server_keeps_serving(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR)
    with running(FaultSettings(drop_rate=1.0)) as server, client(server) as http:
        with pytest.raises(httpx.TransportError):
            http.get(PROBE)
        with pytest.raises(httpx.TransportError):  # also while a large body is still being sent
            http.post("/data/some-index/vectors/upsert", content=b"x" * 3_000_000)
        http.put(FAULTS_PATH, json={"drop_rate": 0.0}).raise_for_status()
        after = http.get(PROBE)
        counters = server.state.faults.counters
    assert after.status_code not in FAULT_STATUSES
    assert counters["drop"] == 2
    assert counters["requests"] == 3
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # e.g. no "internal error" logged


def test_sdk_sees_a_connection_error_on_drop() -> None:
    with running(FaultSettings(drop_rate=1.0)) as server:
        pc = Pinecone(
            api_key="k", host=server.url, retry_config=RetryConfig(max_retries=1, backoff_factor=0.01)
        )
        with pytest.raises(PineconeConnectionError):
            pc.list_indexes()
        assert server.state.faults.counters["drop"] >= 1


# -- admin endpoint ----------------------------------------------------------------------------------------


def test_admin_put_changes_behaviour_live_and_get_reports_counters() -> None:
    with running() as server, client(server) as http:
        assert http.get(PROBE).status_code not in FAULT_STATUSES
        changed = http.put(FAULTS_PATH, json={"rate_503": 1.0, "visibility_delay_ms": 250})
        assert changed.status_code == 200
        assert changed.json()["settings"]["rate_503"] == 1.0
        assert http.get(PROBE).status_code == 503
        shown = http.get(FAULTS_PATH).json()
        live = server.config.faults
        assert live is server.state.faults.settings
        assert (live.rate_503, live.visibility_delay_ms) == (1.0, 250)
    assert shown["settings"]["visibility_delay_ms"] == 250
    assert shown["counters"]["requests"] == 2
    assert shown["counters"]["503"] == 1


def test_admin_reset_turns_everything_off_and_zeroes_counters() -> None:
    faults = FaultSettings(rate_500=1.0, latency_ms=10, rate_limits="pinecone", seed=3)
    with running(faults) as server, client(server) as http:
        assert http.get(PROBE).status_code == 500
        reset = http.post(f"{FAULTS_PATH}/reset")
        after = http.get(PROBE)
        shown = http.get(FAULTS_PATH).json()
        live = server.config.faults
    assert reset.status_code == 200
    assert after.status_code not in FAULT_STATUSES
    assert live == FaultSettings()
    assert shown["settings"] == dataclasses.asdict(FaultSettings())
    assert shown["counters"]["500"] == 0
    assert shown["counters"]["requests"] == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", "JSON object"),
        ("[1, 2]", "JSON object"),
        ('{"rate_500": 0.1, "rate_600": 0.2}', "Unknown fault settings ['rate_600']"),
        ('{"rate_500": 1.5}', "rate_500 must be a fraction between 0 and 1"),
        ('{"rate_500": "0.3"}', "rate_500 must be a finite number"),
        ('{"drop_rate": true}', "drop_rate must be a finite number"),
        ('{"latency_ms": -1}', "latency_ms must be between 0 and"),
        ('{"rate_limits": "aws"}', 'rate_limits must be "pinecone", "off" or null'),
        ('{"seed": 1.5}', "seed must be an integer or null"),
        ('{"rate_limit_retry_after": 1}', "rate_limit_retry_after must be true or false"),
        ('{"rate_500": 0.6, "rate_503": 0.6}', "fault rates add up to more than 1"),
    ],
)
def test_admin_rejects_bad_input_with_a_clear_message(body: str, message: str) -> None:
    with running() as server, client(server) as http:
        response = http.put(FAULTS_PATH, content=body, headers={"Content-Type": "application/json"})
        live = server.config.faults
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "INVALID_ARGUMENT"
    assert message in error["message"]
    assert live == FaultSettings()  # nothing half-applied


def test_admin_rate_sum_counts_settings_already_live() -> None:
    with running(FaultSettings(rate_429=0.7)) as server, client(server) as http:
        response = http.put(FAULTS_PATH, json={"rate_500": 0.4})
        accepted = http.put(FAULTS_PATH, json={"rate_429": 0.5, "rate_500": 0.5, "rate_limits": "off"})
        live = server.config.faults
    assert response.status_code == 400
    assert accepted.status_code == 200
    assert (live.rate_429, live.rate_500, live.rate_limits) == (0.5, 0.5, None)


def test_admin_needs_the_api_key_and_is_exempt_from_faults() -> None:
    with running(FaultSettings(drop_rate=1.0), api_key="secret") as server, client(server) as http:
        anonymous = http.get(FAULTS_PATH)
        keyed = http.get(FAULTS_PATH, headers={"Api-Key": "secret"})
    assert anonymous.status_code == 401
    assert keyed.status_code == 200
    assert keyed.json()["settings"]["drop_rate"] == 1.0


def test_admin_validates_every_setting() -> None:
    assert set(VALIDATORS) == {f.name for f in dataclasses.fields(FaultSettings)}


# -- rate limits -------------------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def limited(clock: FakeClock) -> FaultInjector:
    return FaultInjector(FaultSettings(rate_limits="pinecone"), clock=clock)


def refused(injector: FaultInjector, *args: Any, **kwargs: Any) -> ApiError | None:
    try:
        injector.check_rate_limit(*args, **kwargs)
    except ApiError as error:
        return error
    return None


def admitted_in_a_row(injector: FaultInjector, *args: Any, **kwargs: Any) -> int:
    """How many calls pass before the first refusal (capped, so an unlimited operation ends)."""
    for count in range(100_000):
        if refused(injector, *args, **kwargs) is not None:
            return count
    return 100_000


def test_101st_upsert_in_a_second_is_refused_for_that_namespace_only(
    limited: FaultInjector, clock: FakeClock
) -> None:
    for _ in range(100):
        limited.check_rate_limit("idx", "upsert", "ns1")
    error = refused(limited, "idx", "upsert", "ns1")
    assert error is not None
    assert (error.status, error.code) == (429, "RESOURCE_EXHAUSTED")
    assert error.message == "Request rate limit exceeded for upsert: 100 requests per second per namespace"
    assert "Retry-After" not in error.headers
    assert refused(limited, "idx", "upsert", "ns2") is None
    assert refused(limited, "other-idx", "upsert", "ns1") is None
    clock.now += 1.0
    assert refused(limited, "idx", "upsert", "ns1") is None
    assert limited.counters["rate_limited"] == 1
    assert limited.rate_limited_by_operation == {"upsert": 1}


def test_refused_requests_take_no_tokens(limited: FaultInjector, clock: FakeClock) -> None:
    assert admitted_in_a_row(limited, "idx", "upsert", "ns") == 100
    for _ in range(20):
        assert refused(limited, "idx", "upsert", "ns") is not None
    clock.now += 0.5
    assert admitted_in_a_row(limited, "idx", "upsert", "ns") == 50


def test_a_request_refused_by_one_limit_takes_nothing_from_the_others(
    limited: FaultInjector, clock: FakeClock
) -> None:
    assert refused(limited, "idx", "upsert", "ns", nbytes=50 * 1024 * 1024) is None  # bytes bucket empty
    for _ in range(60):
        assert refused(limited, "idx", "upsert", "ns", nbytes=1) is not None  # refused for bytes
    clock.now += 0.02  # 1 MB and 2 requests of refill: the request bucket is full again
    assert admitted_in_a_row(limited, "idx", "upsert", "ns", nbytes=1) == 100


def test_upsert_bytes_limit(limited: FaultInjector, clock: FakeClock) -> None:
    two_mb = 2 * 1024 * 1024
    assert admitted_in_a_row(limited, "idx", "upsert", "ns", nbytes=two_mb) == 25
    error = refused(limited, "idx", "upsert", "ns", nbytes=two_mb)
    assert error is not None
    assert error.message == "Request rate limit exceeded for upsert: 50 MB per second per namespace"
    clock.now += 0.05  # 2.5 MB of refill
    assert refused(limited, "idx", "upsert", "ns", nbytes=two_mb) is None
    assert refused(limited, "idx", "upsert", "other", nbytes=two_mb) is None


def test_oversized_request_passes_on_a_full_bucket_and_then_costs_its_size(
    limited: FaultInjector, clock: FakeClock
) -> None:
    huge = 60 * 1024 * 1024
    assert refused(limited, "idx", "upsert", "ns", nbytes=huge) is None  # 10 MB in debt now
    clock.now += 0.1  # 5 MB of refill
    assert refused(limited, "idx", "upsert", "ns", nbytes=1) is not None
    clock.now += 1.0
    assert refused(limited, "idx", "upsert", "ns", nbytes=huge) is not None  # 45 MB: not full yet
    clock.now += 0.1
    assert refused(limited, "idx", "upsert", "ns", nbytes=huge) is None


def test_delete_records_limit(limited: FaultInjector, clock: FakeClock) -> None:
    assert admitted_in_a_row(limited, "idx", "delete", "ns", records=1000) == 5
    error = refused(limited, "idx", "delete", "ns", records=1)
    assert error is not None
    assert error.message == "Request rate limit exceeded for delete: 5,000 records per second per namespace"
    assert refused(limited, "idx", "delete", "other", records=1000) is None
    clock.now += 1.0
    assert refused(limited, "idx", "delete", "ns", records=1000) is None


def test_query_read_units_are_limited_per_index(limited: FaultInjector) -> None:
    for namespace in range(20):
        assert admitted_in_a_row(limited, "idx", "query", f"ns{namespace}") == 100
    error = refused(limited, "idx", "query", "ns-fresh")
    assert error is not None
    assert error.message == "Request rate limit exceeded for query: 2,000 read units per second per index"
    assert refused(limited, "other-idx", "query", "ns-fresh") is None


# Pinecone's published table, restated here independently of RATE_LIMITS: operation, amount per call,
# calls admitted in one second, per namespace (True) or per index (False).
PUBLISHED = [
    ("upsert", {}, 100, True),
    ("query", {}, 100, True),
    ("fetch", {"records": 1000}, 100, False),
    ("fetch_by_metadata", {}, 100, False),
    ("list", {}, 200, False),
    ("update", {}, 100, True),
    ("update", {"records": 10}, 10, True),
    ("update_by_metadata", {}, 5, True),
    ("delete_by_metadata", {}, 5, True),
    ("delete", {"records": 100}, 50, True),
    ("describe_index_stats", {}, 100, False),
]


@pytest.mark.parametrize(("operation", "amount", "per_second", "per_namespace"), PUBLISHED)
def test_published_limits(
    limited: FaultInjector,
    clock: FakeClock,
    operation: str,
    amount: dict[str, int],
    per_second: int,
    per_namespace: bool,
) -> None:
    assert admitted_in_a_row(limited, "idx", operation, "a", **amount) == per_second
    assert (refused(limited, "idx", operation, "b", **amount) is None) == per_namespace
    assert refused(limited, "other-idx", operation, "a", **amount) is None
    clock.now += 1.0
    assert admitted_in_a_row(limited, "idx", operation, "a", **amount) == per_second


def test_every_limited_operation_is_in_the_published_table() -> None:
    assert {op for op, limits in RATE_LIMITS.items() if limits} == {row[0] for row in PUBLISHED}


def test_namespace_operations_are_not_limited(limited: FaultInjector) -> None:
    assert admitted_in_a_row(limited, "idx", "namespaces", "ns") == 100_000


def test_limits_are_off_unless_asked_for(clock: FakeClock) -> None:
    injector = FaultInjector(FaultSettings(), clock=clock)
    assert admitted_in_a_row(injector, "idx", "update_by_metadata", "ns") == 100_000


def test_unknown_operation_is_a_programming_error(clock: FakeClock) -> None:
    with pytest.raises(ValueError, match="unknown operation 'upsert_records'"):
        FaultInjector(FaultSettings(), clock=clock).check_rate_limit("idx", "upsert_records", "ns")


def test_rate_limit_retry_after_when_asked_for(limited: FaultInjector, clock: FakeClock) -> None:
    limited.update({"rate_limit_retry_after": True})
    assert admitted_in_a_row(limited, "idx", "update_by_metadata", "ns") == 5
    error = refused(limited, "idx", "update_by_metadata", "ns")
    assert error is not None
    assert error.headers == {"Retry-After": "1"}
