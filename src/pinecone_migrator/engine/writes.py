"""Writing records to a target: size-aware batches within the target's own limits, and finding the records
a target refuses."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..errors import RecordsRejected
from ..records import Record
from ..stores.base import Store
from .pacing import AdaptiveLimit, paced

DeadLetter = tuple[str, str | None, str]  # (record id, target namespace, reason)


def request_limits(
    target: Store, max_records: int | None = None, max_bytes: int | None = None
) -> tuple[int, int]:
    """Records and bytes (by the target's ``request_size``) per write request: what was asked, never more
    than the target takes; None asks for the target's own limit."""
    caps = target.capabilities()
    records = caps.max_write_records if max_records is None else min(max_records, caps.max_write_records)
    size = caps.max_write_bytes if max_bytes is None else min(max_bytes, caps.max_write_bytes)
    return records, size


def write_batches(
    target: Store, records: Sequence[Record], max_records: int | None = None, max_bytes: int | None = None
) -> list[list[Record]]:
    """Split records into requests within both limits (see :func:`request_limits`); a record alone over the
    byte limit gets its own request."""
    most_records, most_bytes = request_limits(target, max_records, max_bytes)
    batches: list[list[Record]] = []
    batch: list[Record] = []
    size = 0
    for record in records:
        cost = target.request_size(record)
        if batch and (len(batch) >= most_records or size + cost > most_bytes):
            batches.append(batch)
            batch, size = [], 0
        batch.append(record)
        size += cost
    if batch:
        batches.append(batch)
    return batches


def write_or_isolate(
    target: Store, namespace: str, batch: list[Record], lane: AdaptiveLimit | None = None
) -> tuple[int, list[DeadLetter]]:
    """Write a batch (holding a slot of ``lane``); when the target refuses it, bisect to find the records at
    fault (dead letters)."""
    try:
        with paced(lane, len(batch)):
            target.write(namespace, batch)
        return len(batch), []
    except RecordsRejected as refused:
        named = refused.records
        if named and named.keys() <= {record.id for record in batch}:
            # the store wrote every other record of the batch and names the ones it refused
            return len(batch) - len(named), [(record_id, namespace, why) for record_id, why in named.items()]
        if len(batch) == 1:
            return 0, [(batch[0].id, namespace, refused.reason)]
    middle = len(batch) // 2
    left = write_or_isolate(target, namespace, batch[:middle], lane)
    right = write_or_isolate(target, namespace, batch[middle:], lane)
    return left[0] + right[0], left[1] + right[1]


def write_in_batches(
    target: Store,
    namespace: str,
    records: Sequence[Record],
    max_records: int | None = None,
    max_bytes: int | None = None,
    *,
    lane: AdaptiveLimit | None = None,
) -> Iterator[tuple[list[Record], list[DeadLetter]]]:
    """Write records in size-aware batches, each request holding a slot of ``lane``; for each batch, as soon
    as it is acknowledged, the records the target took and the dead letters of those it refused."""
    for batch in write_batches(target, records, max_records, max_bytes):
        _, dead = write_or_isolate(target, namespace, batch, lane)
        refused = {record_id for record_id, _, _ in dead}
        yield [r for r in batch if r.id not in refused], dead


def delete_batches(target: Store, ids: Sequence[str]) -> Iterator[Sequence[str]]:
    """The IDs in requests the target's delete takes (``max_delete_ids`` at a time)."""
    most = max(1, target.capabilities().max_delete_ids)
    for start in range(0, len(ids), most):
        yield ids[start : start + most]
