"""Planning a migration without writing anything: what would move, how big it is, how many requests it takes.

Sizes follow Pinecone's dedicated-read-nodes formula (ID + 4 × dimension + 9 × sparse non-zeros + metadata
bytes per record), estimated from a sample of each namespace. The time each way of moving it takes (a
streaming copy, a native backup and restore, an export and bulk import) is :mod:`.paths`'s.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import islice

from ...limits import RATE_LIMITS, Unit
from ...records import Record, approx_bytes
from ...stores.base import Store
from ..walk import record_pages
from ..writes import request_limits
from .copy import CopyOptions

SHARD_BYTES = 250 * 10**9
SHARD_FILL = 0.8  # keep a dedicated shard under 80 % full
SAMPLE_PAGES = 2


def published_rate(operation: str, unit: Unit = Unit.REQUESTS) -> float:
    """Pinecone's published limit of ``operation`` in ``unit`` per second (limits.py's table)."""
    return next(limit.per_second for limit in RATE_LIMITS[operation] if limit.unit is unit)


@dataclass(frozen=True)
class NamespacePlan:
    source: str
    target: str
    records: int
    sampled: int
    bytes_per_record: float
    request_bytes_per_record: float
    upsert_requests: int
    ids_per_fetch: float = 100.0  # IDs one fetch request carries, on average
    sample_ids: tuple[str, ...] = ()  # the sampled IDs (how many fit in a fetch depends on their length)

    @property
    def index_bytes(self) -> int:
        return round(self.records * self.bytes_per_record)

    @property
    def request_bytes(self) -> float:
        return self.records * self.request_bytes_per_record

    def list_requests(self, page_size: int) -> int:
        return math.ceil(self.records / page_size)

    @property
    def fetch_requests(self) -> int:
        return math.ceil(self.records / self.ids_per_fetch) if self.records else 0

    def to_json(self) -> dict[str, object]:
        body = asdict(self)
        del body["sample_ids"]
        return {**body, "ids_per_fetch": round(self.ids_per_fetch, 1), "index_bytes": self.index_bytes}


@dataclass(frozen=True)
class Plan:
    namespaces: list[NamespacePlan]
    page_size: int

    @property
    def records(self) -> int:
        return sum(n.records for n in self.namespaces)

    @property
    def index_bytes(self) -> int:
        return sum(n.index_bytes for n in self.namespaces)

    @property
    def dedicated_shards(self) -> int:
        return max(1, math.ceil(self.index_bytes / (SHARD_BYTES * SHARD_FILL)))

    @property
    def target_namespaces(self) -> list[str]:
        return sorted({n.target for n in self.namespaces})

    @property
    def list_requests(self) -> int:
        return sum(n.list_requests(self.page_size) for n in self.namespaces)

    @property
    def fetch_requests(self) -> int:
        return sum(n.fetch_requests for n in self.namespaces)

    @property
    def upsert_requests(self) -> int:
        return sum(n.upsert_requests for n in self.namespaces)

    @property
    def estimated_seconds(self) -> float:
        """Lower bound under Pinecone's published limits alone: list and fetch are limited per index,
        upserts per target namespace (namespaces are copied side by side, so the busiest target namespace
        bounds the writes; every namespace of a fold or merge writes into the same one)."""
        return max(self.read_seconds, self.write_seconds)

    @property
    def read_seconds(self) -> float:
        return max(self.list_requests / published_rate("list"), self.fetch_requests / published_rate("fetch"))

    @property
    def write_seconds(self) -> float:
        requests: dict[str, int] = {}
        sent: dict[str, float] = {}
        for n in self.namespaces:
            requests[n.target] = requests.get(n.target, 0) + n.upsert_requests
            sent[n.target] = sent.get(n.target, 0.0) + n.request_bytes
        return max(
            (
                max(
                    requests[t] / published_rate("upsert"),
                    sent[t] / published_rate("upsert", Unit.BYTES),
                )
                for t in requests
            ),
            default=0.0,
        )

    def to_json(self) -> dict[str, object]:
        return {
            "records": self.records,
            "index_bytes": self.index_bytes,
            "dedicated_shards": self.dedicated_shards,
            "target_namespaces": self.target_namespaces,
            "requests": {
                "list": self.list_requests,
                "fetch": self.fetch_requests,
                "upsert": self.upsert_requests,
            },
            "estimated_seconds": round(self.estimated_seconds, 3),
            "namespaces": [n.to_json() for n in self.namespaces],
        }


def plan_namespace(
    source: Store,
    namespace: str,
    target: str,
    records: int,
    options: CopyOptions,
    sizer: Store,
    as_written: Callable[[Record], Record] | None = None,
) -> NamespacePlan:
    """Estimate one namespace from a sample; ``sizer`` is the store whose request encoding is measured;
    ``as_written`` turns a source record into the one written (a fold's added field counts). A fetch is
    counted at the source's most IDs per request; :func:`.paths.fetch_split` narrows it to what the sampled
    IDs allow on the wire."""
    sampled_bytes = 0
    sampled_request_bytes = 0
    sample_ids: list[str] = []
    for page in islice(record_pages(source, namespace, page_size=options.page_size), SAMPLE_PAGES):
        for found in page:
            record = found if as_written is None else as_written(found)
            sample_ids.append(found.id)
            sampled_bytes += approx_bytes(record)
            sampled_request_bytes += sizer.request_size(record)
    sampled = len(sample_ids)
    request_bytes_per_record = sampled_request_bytes / sampled if sampled else 0.0
    upserts = 0
    if records:
        asked = (options.max_request_records, options.max_request_bytes)
        most_records, most_bytes = request_limits(sizer, *asked)
        by_bytes = math.ceil(records * request_bytes_per_record / most_bytes)
        upserts = max(by_bytes, math.ceil(records / most_records))
    return NamespacePlan(
        source=namespace,
        target=target,
        records=records,
        sampled=sampled,
        bytes_per_record=sampled_bytes / sampled if sampled else 0.0,
        request_bytes_per_record=request_bytes_per_record,
        upsert_requests=upserts,
        ids_per_fetch=float(source.capabilities().max_fetch_ids),
        sample_ids=tuple(sample_ids),
    )
