"""Adaptive concurrency: fewer pages in flight when a store says 429, more again when it stops saying it.

Additive increase, multiplicative decrease (as TCP does): a 429 halves the limit, at most once per cool-down
so that one burst of refusals from requests already in flight counts as one signal (half a second: with
two seconds a flood of 429s at 32 pages in flight took several seconds to be cut, and the run sent twice the
refused requests — measured against the local server at a fifth of Pinecone's fetch limit); every
``grow_after`` pages that finish without a new 429 add one back, up to the configured concurrency. The
requests that were refused are retried by the store, so slowing down never drops a batch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

ChangeListener = Callable[[int, int, str], None]  # (old limit, new limit, reason)


class AdaptiveLimit:
    def __init__(
        self,
        maximum: int,
        *,
        grow_after: int = 20,
        cooldown_seconds: float = 0.5,
        on_change: ChangeListener | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if maximum < 1:
            raise ValueError("concurrency must be at least 1")
        self.maximum = maximum
        self.grow_after = grow_after
        self.cooldown_seconds = cooldown_seconds
        self._on_change = on_change
        self._clock = clock
        self._limit = maximum
        self._in_flight = 0
        self._successes = 0
        self._last_cut = float("-inf")
        self._condition = threading.Condition()

    @property
    def limit(self) -> int:
        return self._limit

    def acquire(self, stop: threading.Event | None = None) -> bool:
        """Wait for a free slot; False when ``stop`` was set while waiting."""
        with self._condition:
            while self._in_flight >= self._limit:
                if stop is not None and stop.is_set():
                    return False
                self._condition.wait(timeout=0.2)
            self._in_flight += 1
            return True

    def release(self) -> None:
        """A page finished (successfully or not; failures are counted by the store's 429 signal)."""
        change = None
        with self._condition:
            self._in_flight -= 1
            self._successes += 1
            if self._limit < self.maximum and self._successes >= self.grow_after:
                change = (self._limit, self._limit + 1)
                self._limit += 1
                self._successes = 0
            self._condition.notify_all()
        if change is not None and self._on_change is not None:
            self._on_change(*change, "no 429 for a while: growing back")

    def throttled(self) -> None:
        """A store answered 429 (too many requests)."""
        change = None
        with self._condition:
            self._successes = 0
            now = self._clock()
            if now - self._last_cut >= self.cooldown_seconds and self._limit > 1:
                change = (self._limit, max(1, self._limit // 2))
                self._limit = change[1]
                self._last_cut = now
        if change is not None and self._on_change is not None:
            self._on_change(*change, "429 too many requests: halving")
