"""Planning a migration without writing anything: what would move, how big it is, how long it should take.

Sizes follow Pinecone's dedicated-read-nodes formula (ID + 4 × dimension + 9 × sparse non-zeros + metadata
bytes per record), estimated from a sample of each namespace. Time is the slowest of the published
per-index/per-namespace rate limits for the requests a migration sends (see the README's limits).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from itertools import islice

from ...records import Record, approx_bytes
from ...stores.base import Store
from ..walk import record_pages
from ..writes import request_limits
from .copy import CopyOptions

SHARD_BYTES = 250 * 10**9
SHARD_FILL = 0.8  # keep a dedicated shard under 80 % full
LIST_PER_SECOND = 200  # per index
FETCH_PER_SECOND = 100  # per index
UPSERT_PER_SECOND = 100  # per namespace
UPSERT_BYTES_PER_SECOND = 50 * 1024 * 1024  # per namespace
SAMPLE_PAGES = 2


@dataclass(frozen=True)
class NamespacePlan:
    source: str
    target: str
    records: int
    sampled: int
    bytes_per_record: float
    request_bytes_per_record: float
    upsert_requests: int

    @property
    def index_bytes(self) -> int:
        return round(self.records * self.bytes_per_record)


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
        return sum(math.ceil(n.records / self.page_size) for n in self.namespaces)

    @property
    def fetch_requests(self) -> int:
        return self.list_requests  # one fetch per listed page

    @property
    def upsert_requests(self) -> int:
        return sum(n.upsert_requests for n in self.namespaces)

    @property
    def estimated_seconds(self) -> float:
        """Lower bound under Pinecone's published limits: list and fetch are limited per index, upserts per
        target namespace (namespaces are copied side by side, so the busiest target namespace bounds the
        writes; every namespace of a fold or merge writes into the same one)."""
        reads = max(self.list_requests / LIST_PER_SECOND, self.fetch_requests / FETCH_PER_SECOND)
        requests: dict[str, int] = {}
        sent: dict[str, float] = {}
        for n in self.namespaces:
            requests[n.target] = requests.get(n.target, 0) + n.upsert_requests
            sent[n.target] = sent.get(n.target, 0.0) + n.records * n.request_bytes_per_record
        writes = max(
            (max(requests[t] / UPSERT_PER_SECOND, sent[t] / UPSERT_BYTES_PER_SECOND) for t in requests),
            default=0.0,
        )
        return max(reads, writes)

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
            "estimated_seconds": round(self.estimated_seconds, 1),
            "namespaces": [{**asdict(n), "index_bytes": n.index_bytes} for n in self.namespaces],
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
    ``as_written`` turns a source record into the one written (a fold's added field counts)."""
    sampled_bytes = 0
    sampled_request_bytes = 0
    sampled = 0
    for page in islice(record_pages(source, namespace, page_size=options.page_size), SAMPLE_PAGES):
        for found in page:
            record = found if as_written is None else as_written(found)
            sampled += 1
            sampled_bytes += approx_bytes(record)
            sampled_request_bytes += sizer.request_size(record)
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
    )
