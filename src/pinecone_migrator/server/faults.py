"""Faults and rate limits on demand (placeholder: settings only, behaviour being written)."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web


@dataclass
class FaultSettings:
    """What the server does wrong on purpose. Everything is off by default."""

    rate_429: float = 0.0  # fraction of requests answered 429 with a Retry-After header
    rate_429_no_retry_after: float = 0.0  # fraction answered 429 without Retry-After
    rate_500: float = 0.0
    rate_503: float = 0.0
    latency_ms: float = 0.0  # added to every request
    drop_rate: float = 0.0  # fraction of requests whose connection is closed without an answer
    visibility_delay_ms: float = 0.0  # writes become visible to reads only after this long
    rate_limits: str | None = None  # "pinecone": enforce Pinecone's published per-operation limits
    seed: int | None = None


class FaultInjector:
    def __init__(self, settings: FaultSettings) -> None:
        self.settings = settings

    async def before_request(self, request: web.Request) -> None:
        return None

    def check_rate_limit(self, index: str, operation: str, namespace: str, records: int = 1, nbytes: int = 0) -> None:
        """Raise a 429 ApiError when the operation exceeds Pinecone's published rate limits (if enforced)."""
        return None
