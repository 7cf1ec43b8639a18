"""What verify is asked (:class:`VerifyOptions`) and what it answers (:class:`VerifyResult`)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from ...errors import UserError
from ...records import SetDigest
from .diff import KINDS, Difference, Kind

Level = Literal["count", "digest", "full", "sample"]
LEVELS: tuple[Level, ...] = ("count", "digest", "full", "sample")

# Scans side by side when the concurrency is automatic: each waits on its own list round trips.
AUTOMATIC_SCANS = 8

# (side: "source" | "target", namespace, records fetched in this batch): for a progress display.
VerifyProgress = Callable[[str, str, int], None]


@dataclass(frozen=True)
class VerifyOptions:
    """How verify reads. ``adaptive`` (default True): a 429 from either store halves the fetches in
    flight, which grow back once the 429s stop, as in a migration; False leaves the stores' throttle signal
    unheard, and exists so that a test can compare the requests sent with and without adaptation."""

    level: Level = "digest"
    sample_size: int = 100  # level "sample": how many source IDs to draw
    buckets: int = 256  # per target namespace, digests are kept per bucket of IDs
    ignore_metadata_keys: frozenset[str] = frozenset()  # e.g. records.STAMP_KEYS
    all_buckets: bool = False  # level "full": compare every bucket ID by ID, not only those that differ
    # Namespace scans side by side, and fetches in flight per scan; None: automatic (fetches in flight find
    # their level per store, as in a migration; AUTOMATIC_SCANS scans side by side).
    concurrency: int | None = None
    page_size: int = 100  # IDs per list call
    fetch_size: int = 1_000  # IDs per fetch (10 list pages, the most a fetch takes): fewer requests
    keep_differences: int | None = None  # per namespace and kind, how many the result lists (None: all)
    max_ids_in_memory: int = 1_000_000  # level "full": ID maps held at once; beyond, several rounds
    all_target_namespaces: bool = False  # also scan target namespaces nothing should land in
    freshness_timeout_seconds: float = 120.0
    seed: int | None = None  # level "sample": repeatable draws
    # ID-prefix shards scanned side by side per namespace: None = automatic (large namespaces on a slow
    # link), 1 = never, N = look for N.
    shards: int | None = None
    shard_min_records: int | None = None  # None: from the measured list round trip (see migrate/shards.py)
    # Worker processes for the digest scans: None = automatic (from 50,000 records, up to 4 or the CPUs),
    # 0 or 1 = threads in this process only.
    processes: int | None = None
    adaptive: bool = True

    @property
    def batches_in_flight(self) -> int | None:
        """Fetches in flight per scan: as many records in memory as ``concurrency`` list pages would be
        (None when automatic: the memory budget decides)."""
        if self.concurrency is None:
            return None
        return max(1, -(-self.concurrency * self.page_size // self.fetch_size))

    @property
    def scans_at_once(self) -> int:
        return self.concurrency or AUTOMATIC_SCANS

    def __post_init__(self) -> None:
        if self.level not in LEVELS:
            raise UserError(f"Unknown verify level {self.level!r}; choose one of {', '.join(LEVELS)}.")
        if not 1 <= self.buckets <= 65_536:
            raise UserError("The number of digest buckets must lie between 1 and 65,536.")
        concurrency = 1 if self.concurrency is None else self.concurrency
        if self.sample_size < 1 or concurrency < 1 or self.page_size < 1 or self.fetch_size < 1:
            raise UserError("Sample size, concurrency, page size and fetch size must be at least 1.")


@dataclass
class NamespaceVerification:
    """The verdict for one target namespace."""

    namespace: str  # in the target
    source_namespaces: list[str]  # that (can) feed it
    expected_count: int | None = None
    actual_count: int | None = None
    expected_digest: SetDigest | None = None
    actual_digest: SetDigest | None = None
    differing_buckets: list[int] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)
    different: list[Difference] = field(default_factory=list)
    missing_sources: dict[str, str] = field(default_factory=dict)  # missing ID -> its source namespace
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    sampled: int | None = None  # level "sample": records compared
    judged: bool = True  # False: this level cannot tell (see note)
    truncated: bool = False  # more differences were found than kept in the lists (counts are exact)
    note: str | None = None

    @property
    def equal(self) -> bool:
        if not self.judged or self.differing_buckets or any(self.counts.values()):
            return False
        if self.expected_count is not None and self.expected_count != self.actual_count:
            return False
        return (
            self.expected_digest is None
            or self.actual_digest is None
            or self.expected_digest == self.actual_digest
        )

    def differences(self) -> Iterator[Difference]:
        for record_id in self.missing:
            yield Difference(self.namespace, record_id, "missing", (), self.missing_sources.get(record_id))
        yield from (Difference(self.namespace, i, "extra") for i in self.extra)
        yield from self.different

    def add(self, difference: Difference, keep: int | None) -> None:
        """Count a difference, and list it unless ``keep`` of its kind are listed already."""
        kind = difference.kind
        self.counts[kind] += 1
        if keep is not None and self.counts[kind] > keep:
            self.truncated = True
        elif kind == "missing":
            self.missing.append(difference.id)
            if difference.source_namespace is not None:
                self.missing_sources[difference.id] = difference.source_namespace
        elif kind == "extra":
            self.extra.append(difference.id)
        else:
            self.different.append(difference)

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "namespace": self.namespace,
            "source_namespaces": self.source_namespaces,
            "equal": self.equal,
            "judged": self.judged,
            "expected_count": self.expected_count,
            "actual_count": self.actual_count,
        }
        if self.expected_digest is not None and self.actual_digest is not None:
            body["expected_digest"] = self.expected_digest.to_json()
            body["actual_digest"] = self.actual_digest.to_json()
            body["differing_buckets"] = self.differing_buckets
        if self.sampled is not None:
            body["sampled"] = self.sampled
        if any(self.counts.values()):
            body["counts"] = dict(self.counts)
            body["missing"] = self.missing
            body["extra"] = self.extra
            body["different"] = [{"id": d.id, "parts": list(d.parts)} for d in self.different]
            body["truncated"] = self.truncated
        if self.note:
            body["note"] = self.note
        return body


@dataclass
class VerifyResult:
    level: Level
    buckets: int
    namespaces: list[NamespaceVerification] = field(default_factory=list)
    elapsed_seconds: float = 0.0
    interrupted: bool = False
    source_records: int = 0  # fetched from the source
    target_records: int = 0  # fetched from the target
    filtered_out: int = 0  # source records the filter leaves out (not expected anywhere)
    unroutable: int = 0  # source records the routing places nowhere (dead letters of a migration)
    freshness: dict[str, bool | None] = field(default_factory=dict)  # per target namespace waited for
    notes: list[str] = field(default_factory=list)
    unjudged: str | None = None  # why this level cannot judge this migration at all
    # The accepted changes of the pair the source was compared through: "equal" is equal up to these.
    compared_through: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        """True only when the level could judge, every namespace was found equal, and nothing stopped it."""
        return self.judged and not self.interrupted and all(n.equal for n in self.namespaces)

    @property
    def judged(self) -> bool:
        return self.unjudged is None and all(n.judged for n in self.namespaces)

    @property
    def truncated(self) -> bool:
        return any(n.truncated for n in self.namespaces)

    def count(self, kind: Kind) -> int:
        return sum(n.counts[kind] for n in self.namespaces)

    def namespace(self, name: str) -> NamespaceVerification:
        return next(n for n in self.namespaces if n.namespace == name)

    def differences(self) -> Iterator[Difference]:
        for result in self.namespaces:
            yield from result.differences()

    def to_json(self) -> dict[str, Any]:
        seconds = self.elapsed_seconds
        return {
            "level": self.level,
            "equal": self.equal,
            "judged": self.judged,
            "interrupted": self.interrupted,
            "buckets": self.buckets,
            "missing": self.count("missing"),
            "extra": self.count("extra"),
            "different": self.count("different"),
            "source_records": self.source_records,
            "target_records": self.target_records,
            "filtered_out": self.filtered_out,
            "unroutable": self.unroutable,
            "elapsed_seconds": round(seconds, 3),
            "records_per_second": round(max(self.source_records, self.target_records) / seconds, 1)
            if seconds
            else None,
            "freshness": self.freshness,
            "notes": self.notes,
            **({"compared_through_changes": self.compared_through} if self.compared_through else {}),
            "unjudged": self.unjudged,
            "namespaces": [n.to_json() for n in self.namespaces],
        }
