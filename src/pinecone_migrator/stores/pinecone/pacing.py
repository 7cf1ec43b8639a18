"""Client-side pacing under Pinecone's published rate limits (``--rate-limits pinecone|off|auto``).

A :class:`RatePacer` keeps one token bucket per limit of :data:`~pinecone_migrator.limits.RATE_LIMITS` and
scope (per index, or per namespace): ``wait`` reserves the request's amount in every bucket of its
operation under one lock and sleeps until the last of them admits it. Reserving (tokens may go below zero)
instead of polling makes waiting threads go in the order they arrived, however many there are, and costs
one lock and one sleep per request. A request larger than a whole bucket passes once the bucket is full.

Why a little below the published rate (:data:`HEADROOM`) and only a tenth of a second of burst
(:data:`BURST_SECONDS`): if Pinecone's buckets hold about a second (as the local server's do), ours, which
spend at most a tenth of one at once and refill a little slower, leave the rest for requests that bunch up
on the way (network jitter, a busy CPU), so a run at the limit gets no 429s; and if Pinecone counts in
windows of a second instead, a small burst overshoots the first one least. Measured against the local
server, 0.95 with half a second and 0.98 with a tenth both ran at the limit without a 429.
A 429 anyway means the index allows less than published here (another client shares it, or Pinecone
enforces less): the operation's buckets for that scope slow to :data:`TIGHTEN` of their rate, at most once
per :data:`CALM_SECONDS` (a burst of 429s is one signal), never below :data:`FLOOR` of the published rate,
and grow back by :data:`RECOVERY_PER_SECOND` per second without 429s, up to the published rate.

Dedicated-read-nodes indexes have no read rate limits: :meth:`RatePacer.lift_reads` (called by the store
once its description says so) stops pacing list, fetch, query and fetch_by_metadata.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from urllib.parse import urlsplit

from ...errors import UserError
from ...limits import MB, RATE_LIMITS, RateLimit, Scope, Unit
from .transport import Pacer, Unpaced

log = logging.getLogger("pinecone_migrator.pacing")

MODES = ("auto", "pinecone", "off")
# Tests and benchmarks against a local server that enforces a fraction of the limits
# (`serve --rate-limit-scale F`) pace at the same fraction; not a user option.
SCALE_VARIABLE = "PINECONE_MIGRATOR_RATE_LIMIT_SCALE"
READ_OPERATIONS = frozenset({"list", "fetch", "query", "fetch_by_metadata"})

HEADROOM = 0.98
BURST_SECONDS = 0.1
TIGHTEN = 0.7
FLOOR = 0.1
CALM_SECONDS = 1.0
RECOVERY_PER_SECOND = 1.05
# An upsert body is the records' encodings (what the store counts) inside {"vectors":[...],"namespace":...}.
UPSERT_ENVELOPE_BYTES = 64

Clock = Callable[[], float]
Sleep = Callable[[float], None]


class Bucket:
    """One limit's tokens in one scope. ``ceiling`` is the most it ever refills per second."""

    def __init__(self, ceiling: float, now: float, *, full: bool = True) -> None:
        self.ceiling = ceiling
        self.rate = ceiling
        self.tokens = self.capacity if full else 0.0
        self.updated = now
        self.throttled_at = -math.inf

    @property
    def capacity(self) -> float:
        return self.rate * BURST_SECONDS

    def refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.updated)
        self.tokens = min(self.capacity, self.tokens + elapsed * self.rate)
        growing_since = max(self.updated, self.throttled_at + CALM_SECONDS)
        if self.rate < self.ceiling and now > growing_since:
            self.rate = min(self.ceiling, self.rate * RECOVERY_PER_SECOND ** (now - growing_since))
        self.updated = now

    def reserve(self, amount: float, now: float) -> float:
        """Take ``amount`` now; the seconds until the bucket admits it (0: at once)."""
        self.refill(now)
        missing = min(amount, self.capacity) - self.tokens
        self.tokens -= amount  # below zero: the requests after this one wait longer
        return max(0.0, missing / self.rate)

    def tighten(self, now: float) -> bool:
        """A 429: slow down, unless this is the same burst of 429s as the last time. True if it slowed."""
        self.refill(now)
        if now - self.throttled_at < CALM_SECONDS:
            return False
        self.throttled_at = now
        self.rate = max(self.ceiling * FLOOR, self.rate * TIGHTEN)
        self.tokens = min(self.tokens, self.capacity)
        return True


@dataclass(frozen=True)
class PacingSettings:
    """What a pacer enforces, and what travels to a worker process that reopens the store.

    ``scale``: the multiple of the published limits (1 against Pinecone); ``share``: the fraction of them
    this process takes (worker processes scanning one index split it); ``reads_lifted``: a dedicated-read-
    nodes index, whose reads are not rate-limited; ``burst``: whether buckets start full (a worker
    process's do not: the index's buckets may just have been emptied by the process that started it)."""

    scale: float = 1.0
    share: float = 1.0
    reads_lifted: bool = False
    burst: bool = True

    def ceiling(self, limit: RateLimit) -> float:
        return limit.per_second * self.scale * self.share * HEADROOM


BucketKey = tuple[str, str, Unit]  # operation, namespace ("" for per-index limits), unit


class RatePacer:
    """Paces one index's requests under :data:`RATE_LIMITS`; shared by every thread of its store(s)."""

    def __init__(
        self,
        settings: PacingSettings | None = None,
        *,
        index: str = "",
        clock: Clock = time.monotonic,
        sleep: Sleep = time.sleep,
    ) -> None:
        self._settings = settings or PacingSettings()
        self.index = index
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._buckets: dict[BucketKey, Bucket] = {}
        self._travel_share = self._settings.share
        self._announced = False

    @property
    def settings(self) -> PacingSettings:
        return self._settings

    def wait(self, operation: str, namespace: str, *, records: int = 1, nbytes: int = 0) -> None:
        limits = RATE_LIMITS.get(operation)
        if limits is None:
            raise ValueError(f"unknown operation {operation!r}: expected one of {sorted(RATE_LIMITS)}")
        if not self._announced:
            self._announce()
        if self._settings.reads_lifted and operation in READ_OPERATIONS:
            return
        amounts = {
            Unit.REQUESTS: 1.0,
            Unit.RECORDS: float(records),
            Unit.BYTES: float(nbytes + UPSERT_ENVELOPE_BYTES + len(namespace)),
            Unit.READ_UNITS: 1.0,  # as the local server counts a query (see limits.py)
        }
        with self._lock:
            now = self._clock()
            delay = 0.0
            for limit in limits:
                bucket = self._bucket(operation, namespace, limit, now)
                delay = max(delay, bucket.reserve(amounts[limit.unit], now))
        if delay > 0:
            self._sleep(delay)

    def _announce(self) -> None:
        """Log the limits in force once, at the first request (when a command's logging is set up)."""
        with self._lock:
            if self._announced:
                return
            self._announced = True
        scale = self._settings.scale * self._settings.share
        scaled = "" if scale == 1 else f" (scaled by {scale:g})"
        log.info(
            "pacing index %r under Pinecone's published limits%s: %s", self.index, scaled, self.describe()
        )

    def throttled(self, operation: str, namespace: str) -> None:
        with self._lock:
            now = self._clock()
            slowed = [
                self._bucket(operation, namespace, limit, now).tighten(now)
                for limit in RATE_LIMITS.get(operation, ())
            ]
        if any(slowed):
            log.debug("index %r answered 429 to %s: pacing it slower for a while", self.index, operation)

    def rate(self, operation: str, namespace: str = "") -> float:
        """The rate (per second, of the operation's first limit) in force now; inf when not paced."""
        limits = RATE_LIMITS[operation]
        if not limits or (self._settings.reads_lifted and operation in READ_OPERATIONS):
            return math.inf
        with self._lock:
            now = self._clock()
            bucket = self._bucket(operation, namespace, limits[0], now)
            bucket.refill(now)
            return bucket.rate

    def lift_reads(self) -> None:
        """The index runs on dedicated read nodes: its reads have no rate limits."""
        if self._settings.reads_lifted:
            return
        self._settings = replace(self._settings, reads_lifted=True)
        log.info("index %r runs on dedicated read nodes: its reads are not paced (no read rate limits)",
                 self.index)  # fmt: skip

    def split(self, processes: int) -> None:
        """Copies of this pacer sent to ``processes`` worker processes (see :meth:`travelling`) each take
        that fraction of the limits, so that together they stay under them."""
        self._travel_share = self._settings.share / max(1, processes)

    def travelling(self) -> PacingSettings:
        """The settings a worker process's copy of the store paces with."""
        return replace(self._settings, share=self._travel_share, burst=False)

    def _bucket(self, operation: str, namespace: str, limit: RateLimit, now: float) -> Bucket:
        key = (operation, namespace if limit.scope is Scope.NAMESPACE else "", limit.unit)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(
                self._settings.ceiling(limit), now, full=self._settings.burst
            )
        return bucket

    def describe(self) -> str:
        """The limits in force, as the log line shows them: ``fetch 100/s per index, ...``."""
        parts = []
        for operation, limits in RATE_LIMITS.items():
            if limits and not (self._settings.reads_lifted and operation in READ_OPERATIONS):
                parts.append(f"{operation} {_amounts(limits, self._settings)}")
        return ", ".join(parts)


def _amounts(limits: tuple[RateLimit, ...], settings: PacingSettings) -> str:
    """``100/s and 50 MB/s per namespace``; ``100/s per namespace and 2,000 read units/s per index``."""
    text = ""
    for position, limit in enumerate(limits):
        if position:
            text += " and "
        text += _amount(limit, settings)
        last = position == len(limits) - 1
        if last or limits[position + 1].scope is not limit.scope:
            text += f" per {limit.scope.value}"
    return text


def _amount(limit: RateLimit, settings: PacingSettings) -> str:
    per_second = limit.per_second * settings.scale * settings.share
    if limit.unit is Unit.BYTES:
        return f"{per_second / MB:,.3g} MB/s"
    unit = "" if limit.unit is Unit.REQUESTS else f" {limit.unit.value}"
    return f"{per_second:,.4g}{unit}/s"


# -- choosing a pacer --------------------------------------------------------------------------------------


def is_pinecone_cloud(host: str | None) -> bool:
    """Whether a control-plane (or index) host is Pinecone's own: None (the SDK default) or *.pinecone.io."""
    if host is None:
        return True
    name = urlsplit(host if "//" in host else f"//{host}").hostname or ""
    return name == "pinecone.io" or name.endswith(".pinecone.io")


def paces(mode: str, host: str | None) -> bool:
    """Whether ``--rate-limits mode`` paces requests to an index whose control plane is ``host``."""
    if mode not in MODES:
        raise UserError(f"--rate-limits {mode!r} is not one of {', '.join(MODES)}.")
    return mode == "pinecone" or (mode == "auto" and is_pinecone_cloud(host))


def scale_from_environment() -> float:
    text = os.environ.get(SCALE_VARIABLE, "").strip()
    if not text:
        return 1.0
    try:
        scale = float(text)
    except ValueError:
        scale = math.nan
    if not (0 < scale < math.inf):
        raise UserError(
            f"{SCALE_VARIABLE}={text!r} is not a positive number; set it to e.g. 0.1, or unset it."
        )
    return scale


_shared: dict[tuple[str | None, str, PacingSettings], RatePacer] = {}
_shared_lock = threading.Lock()


def pacer_for(mode: str, host: str | None, index: str, scale: float | None = None) -> Pacer:
    """The pacer of an index opened with ``--rate-limits mode``. Stores of the same index in one process
    share one pacer (a migrate's stores, a verify after it), since the limits are the index's; it logs the
    limits in force at its first request."""
    if not paces(mode, host):
        return Unpaced()
    settings = PacingSettings(scale=scale_from_environment() if scale is None else scale)
    with _shared_lock:
        key = (host, index, settings)
        pacer = _shared.get(key)
        if pacer is None:
            pacer = _shared[key] = RatePacer(settings, index=index)
    return pacer


def reopened(settings: PacingSettings | None, index: str) -> Pacer:
    """A worker process's pacer, from what travelled (None: unpaced)."""
    if settings is None:
        return Unpaced()
    return RatePacer(settings, index=index)


def travelling(pacer: Pacer) -> PacingSettings | None:
    """What of ``pacer`` travels to a worker process (None: it is not pacing)."""
    return pacer.travelling() if isinstance(pacer, RatePacer) else None


def lift_reads(pacer: Pacer) -> None:
    """The index runs on dedicated read nodes (learnt from its description)."""
    if isinstance(pacer, RatePacer):
        pacer.lift_reads()
