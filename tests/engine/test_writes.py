"""Writes obey the target's limits: requests clamped to its capabilities, refused records isolated."""

from __future__ import annotations

import numpy as np
import pytest

from pinecone_migrator.engine.writes import delete_batches, request_limits, write_batches, write_in_batches
from pinecone_migrator.errors import UserError
from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import Capabilities, IndexShape
from pinecone_migrator.stores.memory import Faults, MemoryStore

SHAPE = IndexShape(vector_type="dense", metric="cosine", dimension=4)


def _records(count: int, text: str = "") -> list[Record]:
    return [Record(id=f"r{n:04d}", values=np.ones(4, np.float32), metadata={"t": text}) for n in range(count)]


def _store(**limits: int) -> MemoryStore:
    return MemoryStore("target", SHAPE, limits=Capabilities(**limits))  # type: ignore[arg-type]


def test_none_asks_for_the_targets_own_limits_and_a_request_never_exceeds_them() -> None:
    store = _store(max_write_records=10, max_write_bytes=5_000)
    assert request_limits(store) == (10, 5_000)
    assert request_limits(store, 1_000, 2_000_000) == (10, 5_000)  # asked for more: clamped
    assert request_limits(store, 3, 400) == (3, 400)  # asked for less: as asked


def test_batches_stay_within_the_target_limits_whatever_was_asked() -> None:
    store = _store(max_write_records=7, max_write_bytes=2_000)
    records = _records(50, "x" * 100)
    batches = write_batches(store, records, 1_000, 2_000_000)
    assert [r for batch in batches for r in batch] == records
    assert all(len(b) <= 7 and sum(store.request_size(r) for r in b) <= 2_000 for b in batches)
    # The memory store refuses requests over its limits as Pinecone does: every one is taken.
    taken = [
        r.id for written, dead in write_in_batches(store, "ns", records, 1_000, 2_000_000) for r in written
    ]
    assert taken == [r.id for r in records]
    assert store.describe().namespace_counts == {"ns": 50}


def test_a_record_alone_over_the_byte_limit_gets_its_own_request() -> None:
    store = _store(max_write_bytes=500)
    records = [*_records(2), Record(id="big", values=np.ones(4, np.float32), metadata={"t": "x" * 600})]
    assert [len(b) for b in write_batches(store, records)] == [2, 1]


def test_refused_records_become_dead_letters_and_the_rest_is_written() -> None:
    store = MemoryStore(
        "target", SHAPE, faults=Faults(refuse=lambda r: "odd" if r.id.endswith("3") else None)
    )
    results = list(write_in_batches(store, "ns", _records(20)))
    dead = [letter for _, letters in results for letter in letters]
    assert sorted(record_id for record_id, _, _ in dead) == ["r0003", "r0013"]
    assert store.describe().namespace_counts == {"ns": 18}


def test_a_read_only_store_refuses_writes() -> None:
    store = _store(max_write_records=0, max_delete_ids=0)
    with pytest.raises(UserError):
        list(write_in_batches(store, "ns", _records(2)))


def test_deletes_go_in_requests_the_target_takes() -> None:
    store = _store(max_delete_ids=3)
    list(write_in_batches(store, "ns", _records(10)))
    ids = [f"r{n:04d}" for n in range(10)]
    chunks = list(delete_batches(store, ids))
    assert [len(c) for c in chunks] == [3, 3, 3, 1]
    assert sum(store.delete("ns", chunk).count for chunk in chunks) == 10
    assert store.describe().namespace_counts == {}


def test_a_store_that_names_the_records_it_refused_is_not_bisected() -> None:
    """A store that wrote a batch but the records it names (Chroma, reading back numbers it would change)
    is written once: those records are the dead letters, the others count as written."""
    from collections.abc import Sequence

    from pinecone_migrator.errors import RecordsRejected
    from pinecone_migrator.stores.base import IndexShape, WriteAck
    from pinecone_migrator.stores.memory import MemoryStore

    class NamesRefusals(MemoryStore):
        writes = 0

        def write(self, namespace: str, records: Sequence[Record]) -> WriteAck:
            self.writes += 1
            odd = {r.id: "odd one out" for r in records if int(r.id) % 2}
            super().write(namespace, [r for r in records if r.id not in odd])
            if odd:
                raise RecordsRejected("upsert", "odd ones", records=odd)
            return WriteAck(len(records))

    store = NamesRefusals("t", IndexShape("dense", "cosine", 2))
    records = [Record(id=str(n), values=np.ones(2, np.float32)) for n in range(40)]
    [(written, dead)] = list(write_in_batches(store, "ns", records))
    assert store.writes == 1
    assert sorted(r.id for r in written) == sorted(str(n) for n in range(0, 40, 2))
    assert sorted(d[0] for d in dead) == sorted(str(n) for n in range(1, 40, 2))
    assert {d[2] for d in dead} == {"odd one out"}
    assert sorted(store.records("ns")) == sorted(str(n) for n in range(0, 40, 2))
