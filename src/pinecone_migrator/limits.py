"""Pinecone's published rate limits per serverless index, in one table for everyone who needs them.

The local server enforces them (``serve --rate-limits pinecone``), the Pinecone store paces its requests
under them (``--rate-limits pinecone``) and ``plan`` estimates a migration's time from them. Source:
Pinecone's documentation of serverless rate limits, restated in ``pinecone-api/README.md`` ("Limits"); the
names are the data-plane operations as the server and the store call them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from types import MappingProxyType


class Scope(Enum):
    INDEX = "index"
    NAMESPACE = "namespace"


class Unit(Enum):
    REQUESTS = "requests"
    RECORDS = "records"
    BYTES = "bytes"
    READ_UNITS = "read units"


MB = 1024 * 1024  # as for the 2 MB upsert limit


@dataclass(frozen=True)
class RateLimit:
    """``per_second`` units of one kind per index or per namespace, as a token bucket holding one second."""

    per_second: float
    unit: Unit
    scope: Scope

    def describe(self) -> str:
        if self.unit is Unit.BYTES:
            amount = f"{self.per_second / MB:,g} MB"
        else:
            amount = f"{self.per_second:,g} {self.unit.value}"
        return f"{amount} per second per {self.scope.value}"


def _per_ns(per_second: float, unit: Unit = Unit.REQUESTS) -> RateLimit:
    return RateLimit(per_second, unit, Scope.NAMESPACE)


def _per_index(per_second: float, unit: Unit = Unit.REQUESTS) -> RateLimit:
    return RateLimit(per_second, unit, Scope.INDEX)


# Pinecone's published rate limits per serverless index, by the operation names the data plane passes.
# - query: Pinecone charges read units by namespace size; we count 1 read unit per query (approximation), so
#   the per-index 2,000 RU/s only bites when more than 20 namespaces are queried at full speed.
# - fetch_by_metadata: no published limit of its own; limited like fetch, in its own bucket.
# - update_by_metadata and delete_by_metadata share a published limit line; each has its own bucket here.
# - namespaces (list/describe/create/delete namespace): no published limit.
RATE_LIMITS: Mapping[str, tuple[RateLimit, ...]] = MappingProxyType(
    {
        "upsert": (_per_ns(100), _per_ns(50 * MB, Unit.BYTES)),
        "query": (_per_ns(100), _per_index(2_000, Unit.READ_UNITS)),
        "fetch": (_per_index(100),),
        "fetch_by_metadata": (_per_index(100),),
        "list": (_per_index(200),),
        "update": (_per_ns(100, Unit.RECORDS),),
        "update_by_metadata": (_per_ns(5),),
        "delete_by_metadata": (_per_ns(5),),
        "delete": (_per_ns(5_000, Unit.RECORDS),),
        "describe_index_stats": (_per_index(100),),
        "namespaces": (),
    }
)
