"""How long to keep trying a remote call: jittered exponential backoff within a time budget."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from ...errors import MigratorError, RecordsRejected, RemoteError

REFUSED_STATUSES = frozenset({400, 413, 422})
RETRYABLE_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# The key is wrong or lacks a permission: asking again with the same key cannot help.
DENIED_STATUSES = frozenset({401, 403})

# What a 401/403 from an index host becomes: (status, server message, host) -> the error to raise.
Denied = Callable[[int, str, str], MigratorError]


def failure_of(
    operation: str,
    status: int,
    message: str,
    host: str,
    *,
    denied: Denied,
    refusable: bool,
    retry_after: float | None,
) -> MigratorError:
    """What a data-plane answer with an error status means, whichever transport it came by: a refused key,
    records refused for their content (``refusable``: writes), or a remote failure worth retrying or not."""
    if status in DENIED_STATUSES:
        return denied(status, message, host)
    if refusable and status in REFUSED_STATUSES:
        return RecordsRejected(operation, message, status)
    return RemoteError(
        operation, message, status=status, retryable=status in RETRYABLE_STATUSES, retry_after=retry_after
    )


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 12
    base_seconds: float = 0.5
    max_seconds: float = 30.0
    budget_seconds: float = 300.0

    def delay(self, retry: int, rng: random.Random) -> float | None:
        """Full-jitter exponential backoff: a random wait up to base·2^retry, capped; None once the
        attempts are used up."""
        if retry >= self.attempts - 1:
            return None
        return rng.uniform(0, min(self.max_seconds, self.base_seconds * 2**retry))

    def delays(self, rng: random.Random) -> Iterator[float]:
        retry = 0
        while (wait := self.delay(retry, rng)) is not None:
            yield wait
            retry += 1


# Until a host has answered once, a connection failure most likely means a wrong host: fail within seconds,
# not after the long budget. (A host that answers with 429/5xx is the right one, busy: the long budget.)
FIRST_CONTACT = RetryPolicy(attempts=3, base_seconds=0.5, max_seconds=2.0, budget_seconds=10.0)
