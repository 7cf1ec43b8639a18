"""Faults and rate limits on demand, so that a client's retry and resume logic can be tested against failures.

Two independent mechanisms:

* :meth:`FaultInjector.before_request` runs for every request (except the admin endpoint) before routing: it
  adds latency and, with the configured probabilities, answers 429/500/503 or drops the connection.
* :meth:`FaultInjector.check_rate_limit` is called by the data plane once it knows the operation, namespace
  and size of a request: with ``rate_limits="pinecone"`` it answers 429 like Pinecone does above its published
  per-index limits (:data:`RATE_LIMITS`).

Everything runs on the server's single event loop, so no locks are needed.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum

from aiohttp import web

from ..limits import RATE_LIMITS, RateLimit, Scope, Unit
from .errors import ApiError, too_many_requests

Clock = Callable[[], float]


@dataclass
class FaultSettings:
    """What the server does wrong on purpose. Everything is off by default.

    The five ``rate_*``/``drop_rate`` fractions share one die roll per request, so each is the exact
    probability of its fault as long as they add up to at most 1 (the admin endpoint enforces that).
    """

    rate_429: float = 0.0  # fraction of requests answered 429 with a Retry-After header
    rate_429_no_retry_after: float = 0.0  # fraction answered 429 without Retry-After
    rate_500: float = 0.0
    rate_503: float = 0.0
    latency_ms: float = 0.0  # added to every request
    drop_rate: float = 0.0  # fraction of requests whose connection is closed without an answer
    visibility_delay_ms: float = 0.0  # writes become visible to reads only after this long
    rate_limits: str | None = None  # "pinecone": enforce Pinecone's published per-operation limits
    seed: int | None = None
    # Pinecone documents no Retry-After on rate-limit 429s; True adds one (time until the bucket has room).
    rate_limit_retry_after: bool = False
    # The limits enforced are this multiple of the published ones, so that a small machine (or a short test)
    # can reach them: 0.1 on two cores behaves at the limits as a fast client does at 1.
    rate_limit_scale: float = 1.0
    # Pause after every batch a bulk import or a restore job writes, so tests can watch progress and cancel.
    background_batch_delay_ms: float = 0.0


# Retry-After sent with injected 429s (seconds).
INJECTED_RETRY_AFTER_SECONDS = 1


class Fault(Enum):
    """What a die roll can inject; the values are the counter names."""

    DROP = "drop"
    TOO_MANY_REQUESTS = "429"
    TOO_MANY_REQUESTS_NO_RETRY_AFTER = "429_no_retry_after"
    INTERNAL = "500"
    UNAVAILABLE = "503"


def fault_rates(settings: FaultSettings) -> list[tuple[Fault, float]]:
    """The probability of every fault, in the order the die is read."""
    return [
        (Fault.DROP, settings.drop_rate),
        (Fault.TOO_MANY_REQUESTS, settings.rate_429),
        (Fault.TOO_MANY_REQUESTS_NO_RETRY_AFTER, settings.rate_429_no_retry_after),
        (Fault.INTERNAL, settings.rate_500),
        (Fault.UNAVAILABLE, settings.rate_503),
    ]


def injected_error(fault: Fault) -> ApiError:
    """The error answered for an injected HTTP fault, in Pinecone's codes."""
    if fault is Fault.TOO_MANY_REQUESTS:
        return too_many_requests("Injected fault: too many requests.", INJECTED_RETRY_AFTER_SECONDS)
    if fault is Fault.TOO_MANY_REQUESTS_NO_RETRY_AFTER:
        return too_many_requests("Injected fault: too many requests.")
    if fault is Fault.INTERNAL:
        return ApiError(500, "INTERNAL", "Injected fault: internal server error.")
    if fault is Fault.UNAVAILABLE:
        return ApiError(503, "UNAVAILABLE", "Injected fault: service unavailable.")
    raise ValueError(f"{fault} is not answered with an HTTP error")


class ConnectionDropped(web.HTTPException):
    """Raised once the transport is aborted, so that neither the handler nor any other middleware runs.

    It is an ``HTTPException`` (not an ``ApiError`` or a plain exception) because the errors middleware
    passes those through without logging an internal error; aiohttp then tries to write it, finds the
    transport closing and silently forgets the connection. Nothing reaches the client.
    """

    status_code = 500


def drop_connection(request: web.Request) -> ConnectionDropped:
    """Close the request's connection at once, without any HTTP response; returns the exception to raise.

    ``abort()`` discards anything buffered and closes the socket: the client sees the connection closed
    (or reset, when unread request bytes are still in flight) instead of a status line.
    """
    transport = request.transport
    if transport is not None:
        transport.abort()
    return ConnectionDropped()


# -- rate limits -------------------------------------------------------------------------------------------


# The value of FaultSettings.rate_limits that turns the limits on.
PINECONE_RATE_LIMITS = "pinecone"


@dataclass
class TokenBucket:
    """Holds at most one second of a limit; refills continuously."""

    capacity: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.capacity)
        self.updated = now

    def admits(self, amount: float) -> bool:
        """A request larger than the whole bucket passes once the bucket is full: never refused forever."""
        return self.tokens >= min(amount, self.capacity)

    def seconds_until_admitted(self, amount: float) -> float:
        return max(0.0, (min(amount, self.capacity) - self.tokens) / self.capacity)


BucketKey = tuple[str, str, str, Unit]  # index, operation, namespace ("" for per-index limits), unit


class RateLimiter:
    """Token buckets for :data:`RATE_LIMITS`, created on first use."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.buckets: dict[BucketKey, TokenBucket] = {}

    def clear(self) -> None:
        self.buckets.clear()

    def acquire(
        self,
        index: str,
        operation: str,
        namespace: str,
        amounts: Mapping[Unit, float],
        scale: float = 1.0,
    ) -> tuple[RateLimit, float] | None:
        """Take the amounts from every bucket of the operation, or none of them.

        Returns the first limit that refuses (and the seconds until it would admit) or None when admitted.
        A refused request takes nothing, so a client that backs off is not punished for its refused tries.
        """
        now = self.clock()
        taken: list[tuple[TokenBucket, float]] = []
        for limit in RATE_LIMITS[operation]:
            bucket = self._bucket(index, operation, namespace, limit, now, scale)
            amount = amounts.get(limit.unit, 0)
            if not bucket.admits(amount):
                return limit, bucket.seconds_until_admitted(amount)
            taken.append((bucket, amount))
        for bucket, amount in taken:
            bucket.tokens -= amount  # may go below zero for an oversized request: later ones wait longer
        return None

    def _bucket(
        self, index: str, operation: str, namespace: str, limit: RateLimit, now: float, scale: float
    ) -> TokenBucket:
        key = (index, operation, namespace if limit.scope is Scope.NAMESPACE else "", limit.unit)
        bucket = self.buckets.get(key)
        per_second = limit.per_second * scale
        if bucket is None or bucket.capacity != per_second:
            bucket = self.buckets[key] = TokenBucket(per_second, per_second, now)
        else:
            bucket.refill(now)
        return bucket


# -- the injector ------------------------------------------------------------------------------------------


def _zero_counters() -> dict[str, int]:
    counters = {"requests": 0, "delayed": 0}
    counters.update({fault.value: 0 for fault in Fault})
    counters["rate_limited"] = 0
    return counters


class FaultInjector:
    """Applies a live :class:`FaultSettings` (the admin endpoint edits the very same object) and counts.

    ``counters`` counts requests seen by :meth:`before_request`, delayed requests, every injected fault and
    rate-limit refusals; ``rate_limited_by_operation`` splits the latter by operation.
    """

    def __init__(self, settings: FaultSettings, clock: Clock = time.monotonic) -> None:
        self.settings = settings
        self.rng = random.Random(settings.seed)
        self.limiter = RateLimiter(clock)
        self.counters = _zero_counters()
        self.rate_limited_by_operation: dict[str, int] = {}

    # -- control (admin endpoint, tests) --

    def update(self, changes: Mapping[str, object]) -> None:
        """Apply already validated changes to the live settings; a given ``seed`` restarts the dice."""
        for name, value in changes.items():
            setattr(self.settings, name, value)
        if "seed" in changes:
            self.rng.seed(self.settings.seed)

    def reset(self) -> None:
        """All faults and limits off, counters and buckets empty, dice unseeded."""
        for settings_field in dataclasses.fields(FaultSettings):
            setattr(self.settings, settings_field.name, settings_field.default)
        self.rng.seed(None)
        self.limiter.clear()
        self.counters = _zero_counters()
        self.rate_limited_by_operation = {}

    def snapshot(self) -> dict[str, object]:
        """Settings and counters, as the admin endpoint shows them."""
        return {
            "settings": dataclasses.asdict(self.settings),
            "counters": dict(self.counters),
            "rate_limited_by_operation": dict(self.rate_limited_by_operation),
        }

    # -- per request --

    async def before_request(self, request: web.Request) -> None:
        """Delay, then maybe fail the request (raises ApiError) or drop its connection (ConnectionDropped)."""
        if await self.before_call() is Fault.DROP:
            raise drop_connection(request)

    async def before_call(self) -> Fault | None:
        """Any transport's share: count, delay, then raise the injected error or return DROP (which only
        the transport can carry out); None when the call goes ahead."""
        self.counters["requests"] += 1
        if self.settings.latency_ms > 0:
            self.counters["delayed"] += 1
            await asyncio.sleep(self.settings.latency_ms / 1000.0)
        fault = self.roll()
        if fault is None:
            return None
        self.counters[fault.value] += 1
        if fault is Fault.DROP:
            return fault
        raise injected_error(fault)

    def roll(self) -> Fault | None:
        """One die roll per request, read against the cumulative fault rates."""
        rates = fault_rates(self.settings)
        if not any(rate > 0 for _, rate in rates):
            return None  # keeps the dice untouched while faults are off
        point = self.rng.random()
        for fault, rate in rates:
            if point < rate:
                return fault
            point -= rate
        return None

    def check_rate_limit(
        self, index: str, operation: str, namespace: str, records: int = 1, nbytes: int = 0
    ) -> None:
        """Raise a 429 ApiError when the operation exceeds Pinecone's published rate limits (if enforced).

        ``records`` counts the records an update or delete touches, ``nbytes`` the size of an upsert body.
        An operation missing from :data:`RATE_LIMITS` is a programming error and raises ValueError even
        while limits are off.
        """
        if operation not in RATE_LIMITS:
            raise ValueError(f"unknown operation {operation!r}: expected one of {sorted(RATE_LIMITS)}")
        if self.settings.rate_limits != PINECONE_RATE_LIMITS:
            return
        amounts = {Unit.REQUESTS: 1, Unit.RECORDS: records, Unit.BYTES: nbytes, Unit.READ_UNITS: 1}
        refused = self.limiter.acquire(index, operation, namespace, amounts, self.settings.rate_limit_scale)
        if refused is None:
            return
        limit, wait = refused
        self.counters["rate_limited"] += 1
        self.rate_limited_by_operation[operation] = self.rate_limited_by_operation.get(operation, 0) + 1
        message = f"Request rate limit exceeded for {operation}: {limit.describe()}"
        if self.settings.rate_limit_scale != 1.0:
            message += f" (this server enforces {self.settings.rate_limit_scale:g} times that)"
        raise too_many_requests(message, wait if self.settings.rate_limit_retry_after else None)
