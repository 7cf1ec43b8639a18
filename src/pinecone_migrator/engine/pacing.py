"""Adaptive concurrency: how many calls (or batches) are in flight, fewer when a store says 429, more while
more in flight brings more throughput.

A 429 halves the limit, at most once per cool-down so that one burst of refusals from requests already in
flight counts as one signal: two call durations, at most half a second (with two seconds a flood of 429s at
32 pages in flight took several seconds to be cut, and the run sent twice the refused requests — measured
against the local server at a fifth of Pinecone's fetch limit). The requests that were refused are retried
by the store while they hold their slot: a refused call keeps its records in memory anyway, and giving its
slot to another call would send more to a store that just asked for less.

Between 429s the limit moves in one of two ways:

* **fixed** (a user's ``--concurrency N``): every ``grow_after`` calls that finish add one back, up to N.
* **automatic** (no ``--concurrency``): it starts small and climbs while the measured completion rate
  (items per second, e.g. records) climbs with it — at 0 ms a few calls in flight keep the interpreter busy,
  at 80 ms it takes dozens (Little's law, measured instead of asked for). Each window of at least
  ``window_seconds`` the rate is compared with the rate before the last step up: a step that bought less
  than ``GAIN`` more is taken back and the limit holds there, probing upward again after a few quiet windows
  (less and less often while probes keep failing); a step that bought 50 % more is followed by a doubling.
  A window is at least ``window_seconds`` and four completions per slot. A limit that was not reached in a
  window (the work came slower than the slots freed) does not grow: a store pacing itself under its rate
  limits, or a listing that cannot feed more, never makes the limit run away. Latency that more than
  doubles without more throughput steps the limit down a quarter.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

ChangeListener = Callable[[int, int, str], None]  # (old limit, new limit, reason)

GAIN = 1.1  # a step up must raise the rate by 10 % to be kept (below that: noise or a plateau)
AUTOMATIC_START = 4  # what the old fixed default was: right for a store next door


class AdaptiveLimit:
    def __init__(
        self,
        maximum: int,
        *,
        automatic: bool = False,
        initial: int | None = None,
        grow_after: int = 20,
        cooldown_seconds: float = 0.5,
        window_seconds: float = 0.25,
        on_change: ChangeListener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if maximum < 1:
            raise ValueError("concurrency must be at least 1")
        self.maximum = maximum
        self.automatic = automatic
        self.grow_after = grow_after
        self.cooldown_seconds = cooldown_seconds
        self.window_seconds = window_seconds
        self._on_change = on_change
        self._clock = clock
        start = initial if initial is not None else (AUTOMATIC_START if automatic else maximum)
        self._limit = max(1, min(maximum, start))
        self._in_flight = 0
        self._successes = 0
        self._last_cut = float("-inf")
        self._call_seconds: float | None = None  # a moving average of how long a call takes
        self._condition = threading.Condition()
        # automatic mode: the window being measured, and what the last step up is judged against
        self._window_start = clock()
        self._window_items = 0.0
        self._window_done = 0
        self._window_seconds_busy = 0.0
        self._window_peak = 0
        self._window_waited = False
        self._window_throttled = False
        self._before_step: int | None = None  # the limit before the last step up, while it is judged
        self._baseline_rate: float | None = None
        self._baseline_latency: float | None = None
        self._quiet_windows = 0
        self._probe_every = 2
        self.peak = self._limit  # the highest the limit went (for tests and reports)

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for a free slot; False when ``stop`` was set while waiting."""
        with self._condition:
            while self._in_flight >= self._limit:
                self._window_waited = True
                if stop is not None and stop.is_set():
                    return False
                self._condition.wait(timeout=0.2)
            self._in_flight += 1
            self._window_peak = max(self._window_peak, self._in_flight)
            return True

    def release(self, items: float = 1.0, seconds: float | None = None) -> None:
        """A call finished (successfully or not; failures are counted by the store's 429 signal), having
        carried ``items`` (records, IDs) in ``seconds``."""
        change = None
        with self._condition:
            self._in_flight -= 1
            if seconds is not None:
                known = self._call_seconds
                self._call_seconds = seconds if known is None else 0.8 * known + 0.2 * seconds
            if self.automatic:
                change = self._measure(items, seconds)
            else:
                self._successes += 1
                if self._limit < self.maximum and self._successes >= self.grow_after:
                    change = (self._limit, self._limit + 1, "no 429 for a while: growing back")
                    self._set(self._limit + 1)
                    self._successes = 0
            self._condition.notify_all()
        if change is not None and self._on_change is not None:
            self._on_change(*change)

    @contextmanager
    def slot(self, items: float = 1.0) -> Iterator[None]:
        """Hold a slot for one call carrying ``items``; its duration is measured."""
        self.acquire()
        started = time.monotonic()
        try:
            yield
        finally:
            self.release(items, time.monotonic() - started)

    def throttled(self) -> None:
        """A store answered 429 (too many requests)."""
        change = None
        with self._condition:
            self._successes = 0
            self._window_throttled = True
            now = self._clock()
            if now - self._last_cut >= self._cooldown() and self._limit > 1:
                change = (self._limit, max(1, self._limit // 2))
                self._set(change[1])
                self._last_cut = now
                self._before_step = None
                self._baseline_rate = None
        if change is not None and self._on_change is not None:
            self._on_change(*change, "429 too many requests: halving")

    def _cooldown(self) -> float:
        """One burst of 429s is the answer to the calls in flight when it began, and those come back within
        about a call's duration: two of those (never more than ``cooldown_seconds``) count as one signal, as
        TCP cuts once per round trip. Until calls were timed, ``cooldown_seconds``."""
        if self._call_seconds is None:
            return self.cooldown_seconds
        return min(self.cooldown_seconds, max(0.02, 2 * self._call_seconds))

    # -- automatic mode ------------------------------------------------------------------------------------

    def _set(self, limit: int) -> None:
        self._limit = limit
        self.peak = max(self.peak, limit)

    def _measure(self, items: float, seconds: float | None) -> tuple[int, int, str] | None:
        self._window_items += items
        self._window_done += 1
        self._window_seconds_busy += seconds or 0.0
        now = self._clock()
        elapsed = now - self._window_start
        # A window holds a few completions per slot (less noise than a fixed time at 80 ms), or a few
        # seconds when the work trickles in.
        enough = self._window_done >= max(8, 4 * self._limit) or elapsed >= 12 * self.window_seconds
        if elapsed < self.window_seconds or self._window_done < 4 or not enough:
            return None
        rate = self._window_items / elapsed
        latency = self._window_seconds_busy / self._window_done
        saturated = self._window_waited or self._window_peak >= self._limit
        throttled = self._window_throttled
        self._window_start = now
        self._window_items = self._window_seconds_busy = 0.0
        self._window_done = self._window_peak = 0
        self._window_waited = self._window_throttled = False
        self._window_peak = self._in_flight
        return self._decide(rate, latency, saturated, throttled)

    def _decide(
        self, rate: float, latency: float, saturated: bool, throttled: bool
    ) -> tuple[int, int, str] | None:
        old = self._limit
        if throttled:  # halved already; judge from a fresh baseline
            self._before_step = None
            self._baseline_rate, self._baseline_latency = rate, latency
            return None
        baseline = self._baseline_rate
        if self._before_step is not None and baseline is not None:  # judging the last step up
            if rate >= baseline * GAIN:
                self._probe_every = 2
                doubling = rate >= baseline * 1.5  # far from the plateau: climb faster (as a slow start)
                return self._step_up(rate, latency, "more in flight, more throughput: growing", doubling)
            self._set(self._before_step)
            self._before_step = None
            self._quiet_windows = 0
            self._probe_every = min(self._probe_every * 2, 32)
            return (old, self._limit, "more in flight bought no throughput: holding")
        if not saturated:  # the work came slower than slots freed: more would change nothing
            self._baseline_rate, self._baseline_latency = rate, latency
            return None
        worse = baseline is not None and rate < baseline * 0.9
        slower = self._baseline_latency is not None and latency > 2 * self._baseline_latency
        if worse and slower and self._limit > 1:
            self._set(max(1, self._limit - max(1, self._limit // 4)))
            self._baseline_rate, self._baseline_latency = rate, latency
            return (old, self._limit, "latency rising without throughput: shrinking")
        self._quiet_windows += 1
        if baseline is None or self._quiet_windows >= self._probe_every:
            return self._step_up(rate, latency, "probing for more throughput")
        self._baseline_rate = (baseline + rate) / 2  # smoothed: one slow window is no reason to climb
        return None

    def _step_up(
        self, rate: float, latency: float, reason: str, doubling: bool = False
    ) -> tuple[int, int, str] | None:
        self._quiet_windows = 0
        self._baseline_rate, self._baseline_latency = rate, latency
        if self._limit >= self.maximum:
            self._before_step = None
            return None
        old = self._limit
        self._before_step = old
        self._set(min(self.maximum, old * 2 if doubling else old + max(1, old // 2)))
        return (old, self._limit, reason)


@contextmanager
def paced(lane: AdaptiveLimit | None, items: float = 1.0) -> Iterator[None]:
    """One call to a store, holding a slot of its lane when there is one (see :class:`Lanes`)."""
    if lane is None:
        yield
        return
    with lane.slot(items):
        yield


class Lanes:
    """The calls in flight to each store of a run, one :class:`AdaptiveLimit` per store: a source's fetches
    and a target's writes (or both sides' fetches in a verify) find their own levels, and a 429 slows only
    the store that said it."""

    def __init__(self, limits: dict[int, AdaptiveLimit]) -> None:
        self._limits = limits  # by id() of the store

    def of(self, store: object) -> AdaptiveLimit | None:
        return self._limits.get(id(store))

    def all(self) -> list[AdaptiveLimit]:
        return list(self._limits.values())


class RecordBudget:
    """Records in flight, all batches of a run together: a batch takes as many as it holds (one alone may
    take more than there is, so that nothing larger than the budget waits forever)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._used = 0
        self._condition = threading.Condition()

    def acquire(self, records: int, stop: threading.Event | None = None) -> bool:
        """Wait until ``records`` fit; False when ``stop`` was set while waiting."""
        with self._condition:
            while self._used and self._used + records > self.capacity:
                if stop is not None and stop.is_set():
                    return False
                self._condition.wait(timeout=0.2)
            self._used += records
            return True

    def release(self, records: int) -> None:
        with self._condition:
            self._used -= records
            self._condition.notify_all()
