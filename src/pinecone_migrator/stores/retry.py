"""How long to keep trying a remote call: jittered exponential backoff within a time budget."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass

REFUSED_STATUSES = frozenset({400, 413, 422})
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 12
    base_seconds: float = 0.5
    max_seconds: float = 30.0
    budget_seconds: float = 300.0

    def delays(self, rng: random.Random) -> Iterator[float]:
        """Full-jitter exponential backoff: random waits up to base·2^n, capped."""
        for attempt in range(self.attempts - 1):
            yield rng.uniform(0, min(self.max_seconds, self.base_seconds * 2**attempt))


# The first call of a run: a wrong host or key should fail within seconds, not after the long budget.
FIRST_CONTACT = RetryPolicy(attempts=3, base_seconds=0.5, max_seconds=2.0, budget_seconds=10.0)
