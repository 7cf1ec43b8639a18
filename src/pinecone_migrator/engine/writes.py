"""Writing records to a target: size-aware batches, and finding the records a target refuses."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from ..errors import RecordsRejected
from ..records import Record
from ..stores.base import Store

DeadLetter = tuple[str, str | None, str]  # (record id, target namespace, reason)


def write_batches(
    records: Sequence[Record], max_records: int, max_bytes: int, size_of: Callable[[Record], int]
) -> list[list[Record]]:
    """Split records into requests within both limits (a record alone over the limit gets its own request)."""
    batches: list[list[Record]] = []
    batch: list[Record] = []
    size = 0
    for record in records:
        cost = size_of(record)
        if batch and (len(batch) >= max_records or size + cost > max_bytes):
            batches.append(batch)
            batch, size = [], 0
        batch.append(record)
        size += cost
    if batch:
        batches.append(batch)
    return batches


def write_or_isolate(target: Store, namespace: str, batch: list[Record]) -> tuple[int, list[DeadLetter]]:
    """Write a batch; when the target refuses it, bisect to find the records at fault (dead letters)."""
    try:
        target.write(namespace, batch)
        return len(batch), []
    except RecordsRejected as refused:
        if len(batch) == 1:
            return 0, [(batch[0].id, namespace, refused.reason)]
    middle = len(batch) // 2
    left = write_or_isolate(target, namespace, batch[:middle])
    right = write_or_isolate(target, namespace, batch[middle:])
    return left[0] + right[0], left[1] + right[1]


def write_in_batches(
    target: Store, namespace: str, records: Sequence[Record], max_records: int, max_bytes: int
) -> Iterator[tuple[list[Record], list[DeadLetter]]]:
    """Write records in size-aware batches; for each batch, as soon as it is acknowledged, the records the
    target took and the dead letters of those it refused."""
    for batch in write_batches(records, max_records, max_bytes, target.request_size):
        _, dead = write_or_isolate(target, namespace, batch)
        refused = {record_id for record_id, _, _ in dead}
        yield [r for r in batch if r.id not in refused], dead
