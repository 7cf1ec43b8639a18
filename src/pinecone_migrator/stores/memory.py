"""An in-memory store that behaves as a Pinecone serverless index does, with faults on demand.

For tests and library users: the engine can be exercised without server processes, and its failure paths
(retryable errors, throttling, records a target refuses, slow calls) on purpose. Nothing in the CLI uses it.

What it keeps from Pinecone: IDs list in bytewise order (Python's ``str`` order is UTF-8 byte order) with an
opaque cursor that is ``None`` once nothing is left; list, fetch, write and delete refuse requests beyond
the declared limits as the local server does; a write is an upsert by ID and is refused whole when any
record in it cannot be stored (wrong shape, non-ASCII ID, metadata Pinecone cannot hold); metadata numbers
come back as float64; a namespace whose last record is deleted is gone; an update of a missing ID is
acknowledged and changes nothing.

It lives in one process: it cannot be pickled, so an engine part that hands stores to worker processes
(verify's scan workers) must run with threads over it.
"""

from __future__ import annotations

import base64
import bisect
import itertools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from ..errors import RecordsRejected, RemoteError, UserError
from ..filters import FilterError, compile_filter
from ..records import Record
from .base import Capabilities, IdPage, IndexShape, RecordPage, StoreDescription, WriteAck

MAX_ID_BYTES = 512
MAX_METADATA_BYTES = 40_960
FAULTY_OPERATIONS = frozenset({"list", "fetch", "fetch by metadata", "upsert", "delete", "update"})
_store_numbers = itertools.count(1)


@dataclass
class Faults:
    """What goes wrong, drawn from one seeded generator: the same calls in the same order fail the same way.

    ``failure_rate``: the fraction of calls that raise a retryable :class:`RemoteError` (503), as a store
    whose own retries gave up does. ``throttle_rate``: the fraction of calls that are throttled (429) once:
    the throttle listener hears it, and the call then succeeds, as after a store's own retry.
    ``refuse``: a reason to refuse a written record, or None; a write holding one raises
    :class:`RecordsRejected` and stores nothing. ``latency_seconds``: added to every call.
    ``operations``: the calls failures and throttles apply to. ``failing_calls``: calls that fail whatever
    the draw, as (operation, n) for the n-th call of that operation, counted from 1 (a failure exactly where
    a test needs it).
    ``room``: how many calls of ``operations`` the store serves at once, each for ``service_seconds``; a
    call arriving while the room is full is answered 429 (the throttle listener hears it) and sent again a
    moment later, as a store's own retry does — a rate limit that refuses more the more is sent at once.
    :attr:`MemoryStore.refused` counts those 429s by operation, so requests sent = calls + refused.
    """

    failure_rate: float = 0.0
    throttle_rate: float = 0.0
    refuse: Callable[[Record], str | None] | None = None
    latency_seconds: float = 0.0
    operations: frozenset[str] = FAULTY_OPERATIONS
    seed: int = 0
    failing_calls: frozenset[tuple[str, int]] = frozenset()
    room: int | None = None
    service_seconds: float = 0.01
    rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not 0 <= self.failure_rate + self.throttle_rate <= 1:
            raise ValueError("failure_rate + throttle_rate must lie in 0..1")
        if self.room is not None and self.room < 1:
            raise ValueError("room must be at least 1")
        self.rng = random.Random(self.seed)


class MemoryStore:
    """One index held in memory. ``shape`` None: the index does not exist until :meth:`create_like`."""

    def __init__(
        self,
        name: str = "memory",
        shape: IndexShape | None = None,
        *,
        faults: Faults | None = None,
        limits: Capabilities | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.shape = shape
        self.faults = faults or Faults()
        self.limits = limits or Capabilities(can_fetch_by_metadata=True)
        self.tags = dict(tags or {})
        self.calls: Counter[str] = Counter()
        self.failed = 0
        self.throttled = 0
        self.refused: Counter[str] = Counter()
        self._serving = 0
        self.location = f"memory://{name}/{next(_store_numbers)}"
        self._namespaces: dict[str, dict[str, Record]] = {}
        self._sorted: dict[str, list[str]] = {}
        self._listener: Callable[[], None] | None = None
        self._lock = threading.Lock()

    # -- faults ----------------------------------------------------------------------------------------------

    def _call(self, operation: str) -> None:
        """Count the call and inject what :attr:`faults` asks for."""
        faults = self.faults
        if faults.latency_seconds:
            time.sleep(faults.latency_seconds)
        if faults.room is not None and operation in faults.operations:
            self._served_in_room(operation, faults.room, faults.service_seconds)
        with self._lock:
            self.calls[operation] += 1
            if operation not in faults.operations:
                return
            draw = faults.rng.random()
            failed = draw < faults.failure_rate or (operation, self.calls[operation]) in faults.failing_calls
            throttled = not failed and draw < faults.failure_rate + faults.throttle_rate
            self.failed += failed
            self.throttled += throttled
        if failed:
            raise RemoteError(operation, "injected failure [503]", status=503, retryable=True)
        listener = self._listener
        if throttled and listener is not None:
            listener()

    def _served_in_room(self, operation: str, room: int, seconds: float) -> None:
        pause = max(seconds, 0.001)
        while True:
            with self._lock:
                admitted = self._serving < room
                if admitted:
                    self._serving += 1
                else:
                    self.refused[operation] += 1
            if admitted:
                break
            listener = self._listener
            if listener is not None:
                listener()
            time.sleep(pause)
        try:
            time.sleep(seconds)
        finally:
            with self._lock:
                self._serving -= 1

    def set_throttle_listener(self, listener: Callable[[], None] | None) -> None:
        self._listener = listener

    @property
    def heard(self) -> bool:
        """Whether a throttle listener is set (a run must remove its own when it ends)."""
        return self._listener is not None

    # -- the store protocol ----------------------------------------------------------------------------------

    def exists(self) -> bool:
        return self.shape is not None

    def _shape(self) -> IndexShape:
        if self.shape is None:
            raise UserError(f"The in-memory index {self.name!r} does not exist: create it first.")
        return self.shape

    def describe(self) -> StoreDescription:
        shape = self._shape()
        with self._lock:
            counts = {namespace: len(records) for namespace, records in self._namespaces.items()}
        return StoreDescription(
            name=self.name,
            shape=shape,
            namespace_counts=counts,
            tags=dict(self.tags),
            deployment_type="memory",
            location=self.location,
        )

    def capabilities(self) -> Capabilities:
        return self.limits

    def create_like(
        self,
        source: StoreDescription,
        *,
        cloud: str | None = None,
        region: str | None = None,
        deletion_protection: bool = False,
        read_capacity: dict[str, Any] | None = None,
    ) -> None:
        if self.shape is not None:
            raise UserError(f"The in-memory index {self.name!r} exists already.")
        self.shape = source.shape
        self.tags = dict(source.tags)

    def list_ids(
        self, namespace: str, *, prefix: str = "", cursor: str | None = None, limit: int = 100
    ) -> IdPage:
        self._shape()
        self._check_limit("list", limit, self.limits.max_list_page)
        self._call("list")
        after = _decode_cursor("list", cursor, prefix)
        with self._lock:
            ids = self._ids(namespace)
        page = _page_after(ids, after, prefix, limit + 1)
        more = len(page) > limit
        page = page[:limit]
        return IdPage(ids=page, cursor=_encode_cursor(prefix, page[-1]) if more else None)

    def fetch(self, namespace: str, ids: Sequence[str]) -> list[Record]:
        self._shape()
        if len(ids) > self.limits.max_fetch_ids:
            most = self.limits.max_fetch_ids
            raise _bad_request("fetch", f"at most {most} IDs per request, got {len(ids)}")
        self._call("fetch")
        with self._lock:
            held = self._namespaces.get(namespace, {})
            return [_copy(held[i]) for i in dict.fromkeys(ids) if i in held]

    def fetch_by_metadata(
        self, namespace: str, metadata_filter: dict[str, Any], *, cursor: str | None = None, limit: int = 100
    ) -> RecordPage:
        self._shape()
        self._check_limit("fetch by metadata", limit, self.limits.max_fetch_ids)
        try:
            matches = compile_filter(metadata_filter)
        except FilterError as error:
            raise _bad_request("fetch by metadata", str(error)) from None
        self._call("fetch by metadata")
        after = _decode_cursor("fetch by metadata", cursor, "")
        found: list[Record] = []
        with self._lock:
            held = self._namespaces.get(namespace, {})
            for record_id in _page_after(self._ids(namespace), after, "", len(held)):
                if matches(held[record_id].metadata):
                    found.append(_copy(held[record_id]))
                    if len(found) > limit:
                        break
        more = len(found) > limit
        found = found[:limit]
        return RecordPage(records=found, cursor=_encode_cursor("", found[-1].id) if more else None)

    def request_size(self, record: Record) -> int:
        return len(orjson.dumps(record.to_json())) + 1

    def write(self, namespace: str, records: Sequence[Record]) -> WriteAck:
        shape = self._shape()
        self._check_write(records)
        self._call("upsert")
        stored = []
        for record in records:
            reason = _unstorable(record, shape) or (self.faults.refuse and self.faults.refuse(record))
            if reason:
                raise RecordsRejected("upsert", f"[400] record {record.id!r}: {reason}", 400)
            stored.append(_copy(record))
        with self._lock:
            held = self._namespaces.setdefault(namespace, {})
            held.update((record.id, record) for record in stored)
            self._sorted.pop(namespace, None)
        return WriteAck(count=len(records))

    def _check_write(self, records: Sequence[Record]) -> None:
        if not self.limits.can_write:
            raise UserError(f"{self.name} is read only here; it cannot be written to.")
        most = self.limits.max_write_records
        if len(records) > most:
            raise RecordsRejected("upsert", f"[400] {len(records)} records exceed {most} per request", 400)
        size = sum(self.request_size(record) for record in records)
        if size > self.limits.max_write_bytes:
            raise RecordsRejected(
                "upsert", f"[400] {size} bytes exceed {self.limits.max_write_bytes} per request", 400
            )

    def delete(self, namespace: str, ids: Sequence[str]) -> WriteAck:
        self._shape()
        if not self.limits.can_delete:
            raise UserError(f"{self.name} is read only here; records cannot be deleted from it.")
        most = self.limits.max_delete_ids
        if len(ids) > most:
            raise _bad_request("delete", f"at most {most} IDs per request, got {len(ids)}")
        if not ids:
            return WriteAck(count=0)
        self._call("delete")
        with self._lock:
            held = self._namespaces.get(namespace, {})
            for record_id in ids:
                held.pop(record_id, None)
            self._sorted.pop(namespace, None)
            if not held:
                self._namespaces.pop(namespace, None)
        return WriteAck(count=len(ids))

    def update_metadata(self, namespace: str, record_id: str, set_metadata: dict[str, Any]) -> WriteAck:
        self._shape()
        problem = _metadata_problem(set_metadata)
        if problem:
            raise _bad_request("update", problem)
        self._call("update")
        with self._lock:
            held = self._namespaces.get(namespace, {})
            record = held.get(record_id)
            if record is not None:
                merged = {**record.metadata, **set_metadata}
                held[record_id] = _copy(Record(record.id, record.values, record.sparse, merged))
        return WriteAck(count=1)

    # -- helpers ---------------------------------------------------------------------------------------------

    def _check_limit(self, operation: str, limit: int, most: int) -> None:
        if not 1 <= limit <= most:
            raise _bad_request(operation, f"limit must be between 1 and {most}, got {limit}")

    def _ids(self, namespace: str) -> list[str]:
        """The namespace's IDs in bytewise order (kept until the next write or delete); under the lock."""
        ids = self._sorted.get(namespace)
        if ids is None:
            ids = self._sorted[namespace] = sorted(self._namespaces.get(namespace, {}))
        return ids

    def records(self, namespace: str) -> dict[str, Record]:
        """Every record of a namespace by ID, bypassing faults (for tests' assertions)."""
        with self._lock:
            return {record_id: _copy(r) for record_id, r in self._namespaces.get(namespace, {}).items()}


def _page_after(ids: list[str], after: str | None, prefix: str, count: int) -> list[str]:
    """Up to ``count`` IDs starting with ``prefix`` that sort after ``after``; ``ids`` sorted, so the IDs
    with a prefix are one run of them, starting where the prefix itself would sort."""
    start = bisect.bisect_left(ids, prefix)
    if after is not None:
        start = max(start, bisect.bisect_right(ids, after))
    page: list[str] = []
    for position in range(start, len(ids)):
        if len(page) == count or not ids[position].startswith(prefix):
            break
        page.append(ids[position])
    return page


def _encode_cursor(prefix: str, last_id: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([prefix, last_id])).decode()


def _decode_cursor(operation: str, cursor: str | None, prefix: str) -> str | None:
    if not cursor:
        return None
    try:
        cursor_prefix, last_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
    except (ValueError, TypeError):
        cursor_prefix, last_id = None, None
    if cursor_prefix != prefix or not isinstance(last_id, str):
        raise _bad_request(operation, "invalid pagination token: pass back the cursor unchanged")
    return last_id


def _bad_request(operation: str, message: str) -> RemoteError:
    return RemoteError(operation, f"[400] {message}", status=400, retryable=False)


def _unstorable(record: Record, shape: IndexShape) -> str | None:
    """Why Pinecone would refuse this record in an index of ``shape`` (None: it would store it)."""
    id_bytes = record.id.encode("utf-8")
    if not record.id or not record.id.isascii() or len(id_bytes) > MAX_ID_BYTES:
        return f"an ID must be 1 to {MAX_ID_BYTES} ASCII characters"
    if shape.vector_type == "sparse":
        if record.values is not None or record.sparse is None:
            return "a sparse index takes sparse values and no dense values"
    elif record.dimension != shape.dimension:
        return f"dimension {record.dimension} does not match the index's {shape.dimension}"
    elif record.sparse is not None and shape.metric != "dotproduct":
        return "sparse values need the dotproduct metric"
    return _metadata_problem(record.metadata)


def _metadata_problem(metadata: Mapping[str, Any]) -> str | None:
    for key, value in metadata.items():
        if value is None or isinstance(value, (str, bool, int, float)):
            continue
        if not (isinstance(value, list) and all(isinstance(item, str) for item in value)):
            return f"metadata {key!r} must be a string, number, boolean or list of strings"
    if len(orjson.dumps(dict(metadata))) > MAX_METADATA_BYTES:
        return f"metadata larger than {MAX_METADATA_BYTES} bytes"
    return None


def _copy(record: Record) -> Record:
    """A record sharing nothing mutable with ``record``; metadata numbers as float64, nulls dropped."""
    metadata = {key: _stored(value) for key, value in record.metadata.items() if value is not None}
    return Record(record.id, record.values, record.sparse, metadata)


def _stored(value: Any) -> Any:
    if isinstance(value, (str, bool)):
        return value
    return list(value) if isinstance(value, list) else float(value)


__all__ = ["FAULTY_OPERATIONS", "Faults", "MemoryStore"]
