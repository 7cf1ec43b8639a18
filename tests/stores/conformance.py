"""The store conformance suite: one set of tests every store must pass (in the spirit of rclone's fstests).

A store joins by a :class:`Harness` (how to make one holding given records, and an empty one to write
into) and one line: ``class TestMyStore(StoreConformance)`` with a ``harness`` fixture. Where a store
legitimately differs from a Pinecone index, the suite learns it from the store itself (its capabilities
and abilities: ``can_write`` False means it cannot be written, ``can_delete`` False that it cannot delete,
``lists_bytewise`` False that it lists in written order, :class:`Finishes` that writes are readable once
finished) and then checks the difference (a refused write, a refused delete, file order) instead of
skipping the test. What the store holds exactly is its room (:mod:`pinecone_migrator.stores.fidelity`): the
data the suite writes and expects is what a Pinecone index holds, put through the changes that room makes
(a store without sparse vectors gets records without them, a record it refuses is left out).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pytest

from pinecone_migrator.errors import MigratorError, RecordsRejected, RemoteError, UserError
from pinecone_migrator.records import Metadata, Record, SparseValues
from pinecone_migrator.stores import fidelity
from pinecone_migrator.stores.base import (
    DEFAULT_NAMESPACE,
    FetchesByMetadata,
    Finishes,
    IndexShape,
    Store,
    StoreDescription,
    UpdatesMetadata,
)

SHAPE = IndexShape(vector_type="dense", metric="dotproduct", dimension=4)
SPARSE_SHAPE = IndexShape(vector_type="sparse", metric="dotproduct", dimension=None)
SOURCE = StoreDescription(name="conformance", shape=SHAPE, namespace_counts={}, tags={"suite": "conformance"})
# More than any store's list page (Pinecone 100, files 1,000), so that a page at the limit is full.
WIDE = 1_001
ORDER_IDS = ["B", "a", "a#1", "a/b", "a0", "aa", "b~", "~", "A-1", "0", "9z", "a-", "a."]
MAX_PAGES = 2_000  # more than any listing here needs: a cursor that never ends fails, not hangs
EDGE_FLOATS = np.array([1 / 3, 1.4e-45, 3.4028235e38, -0.0], dtype=np.float32)


def _dense(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(4).astype(np.float32)


def _sparse(indices: list[int], values: list[float]) -> SparseValues:
    return SparseValues(np.array(indices, dtype=np.uint32), np.array(values, dtype=np.float32))


def exact_record() -> Record:
    """Every part at its edge: float32 values that do not survive a float64 detour unless kept exact, sparse
    pairs up to the largest index, and each metadata type."""
    return Record(
        id="exact",
        values=EDGE_FLOATS,
        sparse=SparseValues(
            indices=np.array([0, 7, 2**32 - 1], dtype=np.uint32),
            values=np.array([0.1, -2.5, 1e-7], dtype=np.float32),
        ),
        metadata={
            "title": 'Zoë\'s \u2603 "quoted"\n text',
            "fraction": 0.1,
            "large": 2.0**53 + 2,
            "count": 3,
            "flag": True,
            "off": False,
            "tags": ["b", "a", "a", "\u00e9"],
        },
    )


def dataset() -> dict[str, list[Record]]:
    """What the read tests list and fetch: IDs that sort differently bytewise than by case or length,
    a namespace wider than a list page, and the default namespace."""
    main = [exact_record()]
    main += [
        Record(id=record_id, values=_dense(n), metadata={"n": n, "flag": n % 2 == 0})
        for n, record_id in enumerate(ORDER_IDS)
    ]
    main += [
        Record(
            id=f"doc#{n}",
            values=_dense(100 + n),
            sparse=_sparse([n, n + 1], [1.0, 0.5]) if n % 3 == 0 else None,
            metadata={"n": n, "flag": n % 2 == 0, "tags": [f"t{n % 4}"]},
        )
        for n in range(12)
    ]
    wide = [Record(id=f"w{n:05d}", values=_dense(1_000 + n)) for n in range(WIDE)]
    default = [Record(id="only", values=_dense(7), metadata={"where": "default"})]
    return {"main": main, "wide": wide, DEFAULT_NAMESPACE: default}


class Harness:
    """How the suite gets stores of one kind."""

    # The kinds of index the store can hold (a pod index, which a swept source reads, cannot be sparse).
    shapes: ClassVar[tuple[IndexShape, ...]] = (SHAPE, SPARSE_SHAPE)
    # What a store of this kind created like the suite's source holds (its room() must say the same).
    room: ClassVar[fidelity.Room] = fidelity.PINECONE

    def held(self, records: Sequence[Record], shape: IndexShape = SHAPE) -> list[Record]:
        """Of records a Pinecone index holds, what such a store holds: changed by its room, refused out."""
        return fidelity.between(shape, fidelity.PINECONE, self.room).held(records)

    def filled(self, contents: dict[str, list[Record]], shape: IndexShape = SHAPE) -> Store:
        """A store of ``shape`` holding exactly ``contents`` (namespace -> records)."""
        raise NotImplementedError

    def empty(self) -> Store | None:
        """A new store of :data:`SHAPE` holding nothing, to write into; None when the kind cannot be written
        (its capabilities must then say so)."""
        raise NotImplementedError

    def missing(self) -> Store:
        """A store naming something that does not exist."""
        raise NotImplementedError


def settle(store: Store) -> None:
    """Make what was written readable: a store that must be finished (an export) is finished."""
    if isinstance(store, Finishes):
        store.finish()


def listed(store: Store, namespace: str, *, prefix: str = "", limit: int = 7) -> list[list[str]]:
    """Every page of a listing, following cursors."""
    pages: list[list[str]] = []
    cursor = None
    while len(pages) < MAX_PAGES:
        page = store.list_ids(namespace, prefix=prefix, cursor=cursor, limit=limit)
        pages.append(page.ids)
        cursor = page.cursor
        if cursor is None:
            return pages
    raise AssertionError(f"the listing of {namespace!r} did not end within {MAX_PAGES} pages")


def flat(pages: Sequence[Sequence[str]]) -> list[str]:
    return [record_id for page in pages for record_id in page]


def by_id(records: Sequence[Record]) -> dict[str, Record]:
    return {record.id: record for record in records}


def _bytewise(ids: Sequence[str]) -> list[str]:
    return sorted(ids, key=lambda record_id: record_id.encode("utf-8"))


def _number(record: Record, key: str) -> float:
    value = record.metadata.get(key)
    return float(value) if isinstance(value, (int, float)) else float("-inf")


class StoreConformance:
    """The suite. A subclass provides a ``harness`` fixture (module scope: the filled store is made once)."""

    @pytest.fixture(scope="module")
    @classmethod
    def contents(cls, harness: Harness) -> dict[str, list[Record]]:
        return {namespace: harness.held(records) for namespace, records in dataset().items()}

    @pytest.fixture(scope="module")
    @classmethod
    def store(cls, harness: Harness, contents: dict[str, list[Record]]) -> Store:
        """The filled store; read tests must leave it as it is."""
        return harness.filled(contents)

    @pytest.fixture
    def fresh(self, harness: Harness) -> Store | None:
        """An empty store to write into; None for a kind that cannot be written (the write tests then have
        nothing to write into, and :meth:`test_an_unwritable_store_says_so` checks that it refuses)."""
        return harness.empty()

    def test_an_unwritable_store_says_so(self, harness: Harness, store: Store) -> None:
        if harness.empty() is not None:
            assert store.capabilities().can_write
            return
        caps = store.capabilities()
        assert not caps.can_write and not caps.can_delete, "a store that cannot be written must declare it"
        with pytest.raises(UserError):
            store.write("main", [Record(id="new", values=_dense(0))])
        with pytest.raises(UserError):
            store.delete("main", ["a"])
        assert store.fetch("main", ["new"]) == [] and len(store.fetch("main", ["a"])) == 1

    # -- describe and capabilities ---------------------------------------------------------------------------

    def test_describe_gives_shape_and_counts(self, store: Store, contents: dict[str, list[Record]]) -> None:
        assert store.exists()
        description = store.describe()
        assert description.shape == SHAPE
        assert description.namespace_counts == {ns: len(records) for ns, records in contents.items()}

    def test_a_missing_store_says_so(self, harness: Harness) -> None:
        missing = harness.missing()
        assert not missing.exists()
        with pytest.raises(UserError):
            missing.describe()

    def test_the_room_is_the_harness_s(self, harness: Harness, store: Store) -> None:
        assert fidelity.room_of(store) == harness.room

    def test_capabilities_are_usable_and_match_abilities(self, store: Store) -> None:
        caps = store.capabilities()
        assert caps.can_list
        assert caps.max_list_page >= 1 and caps.max_fetch_ids >= 1 and caps.max_write_records >= 0
        assert caps.max_write_bytes > 0
        if caps.can_fetch_by_metadata:
            assert isinstance(store, FetchesByMetadata)

    # -- listing ---------------------------------------------------------------------------------------------

    def test_list_walks_every_id_once(self, store: Store, contents: dict[str, list[Record]]) -> None:
        bytewise = store.capabilities().lists_bytewise
        for namespace, records in contents.items():
            pages = listed(store, namespace, limit=7)
            assert all(len(page) <= 7 for page in pages)
            ids = flat(pages)
            written = [record.id for record in records]
            assert ids == (_bytewise(written) if bytewise else written)

    def test_list_resumes_from_a_cursor(self, store: Store) -> None:
        everything = flat(listed(store, "main", limit=5))
        first = store.list_ids("main", limit=5)
        assert first.cursor is not None and first.ids == everything[:5]
        # A cursor is kept (in a ledger) and used again later, maybe more than once.
        again = store.list_ids("main", cursor=first.cursor, limit=5)
        assert store.list_ids("main", cursor=first.cursor, limit=5) == again
        rest = [again.ids]
        cursor = again.cursor
        for _ in range(MAX_PAGES):
            if cursor is None:
                break
            page = store.list_ids("main", cursor=cursor, limit=5)
            rest.append(page.ids)
            cursor = page.cursor
        assert everything[:5] + flat(rest) == everything

    def test_list_by_prefix(self, store: Store, contents: dict[str, list[Record]]) -> None:
        for prefix in ("doc#1", "a", "~", "a/"):
            wanted = [r.id for r in contents["main"] if r.id.startswith(prefix)]
            assert sorted(flat(listed(store, "main", prefix=prefix, limit=2))) == sorted(wanted), prefix
        assert flat(listed(store, "main", prefix="nothing-starts-so")) == []

    def test_list_of_an_unknown_namespace_is_empty(self, store: Store) -> None:
        assert store.list_ids("no-such-namespace").ids == []
        assert store.list_ids("no-such-namespace").cursor is None

    def test_a_page_at_the_limit_is_full(self, store: Store) -> None:
        most = store.capabilities().max_list_page
        page = store.list_ids("wide", limit=most)
        assert len(page.ids) == min(most, WIDE)
        assert (page.cursor is None) == (most >= WIDE)

    def test_a_cursor_from_elsewhere_is_refused_or_read_as_a_position(
        self, store: Store, contents: dict[str, list[Record]]
    ) -> None:
        """A cursor the store never gave: refused as an error of the library's own (not retryable), or, where
        a cursor is simply the last ID listed, a page of real IDs after it."""
        strange = "a0-not-a-cursor"
        try:
            page = store.list_ids("main", cursor=strange)
        except MigratorError as refused:
            assert not (isinstance(refused, RemoteError) and refused.retryable)
            return
        assert set(page.ids) <= {r.id for r in contents["main"]}
        if store.capabilities().lists_bytewise:
            assert all(record_id.encode() > strange.encode() for record_id in page.ids)

    # -- fetching --------------------------------------------------------------------------------------------

    def test_fetch_is_exact(self, store: Store, contents: dict[str, list[Record]]) -> None:
        for namespace, records in contents.items():
            fetched = by_id(store.fetch(namespace, [r.id for r in records[:500]]))
            assert fetched == by_id(records[:500])
        if by_id(contents["main"]).get("exact") != exact_record():
            return  # the store does not hold it unchanged: compared above as it holds it
        exact = by_id(store.fetch("main", ["exact"]))["exact"]
        assert exact.values is not None and exact.values.dtype == np.float32
        assert exact.values.tobytes() == EDGE_FLOATS.tobytes()  # -0.0 and the subnormal included
        assert exact.sparse is not None
        assert exact.sparse.indices.tolist() == [0, 7, 2**32 - 1]
        assert exact.sparse.values.tobytes() == np.array([0.1, -2.5, 1e-7], dtype=np.float32).tobytes()
        metadata = exact.metadata
        assert metadata["title"] == exact_record().metadata["title"]
        for key, number in (("fraction", 0.1), ("large", 2.0**53 + 2), ("count", 3.0)):
            value = metadata[key]
            # Exactly the float64 written (0.1 through float32 would differ); never a bool. An int written
            # may come back as int (files keep JSON's 3) or float (Pinecone's 3.0): the digest is the same.
            assert isinstance(value, (int, float)) and not isinstance(value, bool), key
            assert float(value) == number, key
        assert metadata["flag"] is True and metadata["off"] is False
        assert metadata["tags"] == ["b", "a", "a", "\u00e9"]

    def test_fetch_returns_what_exists_once(self, store: Store) -> None:
        fetched = store.fetch("main", ["a", "missing", "doc#3", "a", "also-missing"])
        assert sorted(r.id for r in fetched) == ["a", "doc#3"]
        assert store.fetch("no-such-namespace", ["a"]) == []
        assert store.fetch("main", []) == []

    def test_fetch_at_the_limit(self, store: Store, contents: dict[str, list[Record]]) -> None:
        most = store.capabilities().max_fetch_ids
        wide = [r.id for r in contents["wide"]]
        asked = (wide + [f"absent-{n}" for n in range(most)])[:most]
        assert sorted(r.id for r in store.fetch("wide", asked)) == sorted(set(asked) & set(wide))

    def test_fetch_by_metadata_where_able(self, store: Store, contents: dict[str, list[Record]]) -> None:
        if not store.capabilities().can_fetch_by_metadata:
            return  # the store says it cannot (the engine then filters what it lists)
        assert isinstance(store, FetchesByMetadata)
        found: list[Record] = []
        cursor = None
        for _ in range(MAX_PAGES):
            page = store.fetch_by_metadata("main", {"flag": True, "n": {"$gte": 2}}, cursor=cursor, limit=2)
            assert len(page.records) <= 2
            found += page.records
            cursor = page.cursor
            if cursor is None:
                break
        wanted = [r for r in contents["main"] if r.metadata.get("flag") is True and _number(r, "n") >= 2]
        assert by_id(found) == by_id(wanted) and len(found) == len(wanted)

    def test_a_sparse_index_where_able(self, harness: Harness) -> None:
        if SPARSE_SHAPE not in harness.shapes:
            return  # the harness says the kind holds no sparse index
        written = {
            "sparse": [
                Record(id=f"s{n:02d}", sparse=_sparse([n, 2**32 - 1 - n], [n / 7, -1.5]), metadata={"n": n})
                for n in range(12)
            ],
            # what every sparse store holds: small indices, values above zero
            "small": [
                Record(id=f"t{n:02d}", sparse=_sparse([n, 1_000 + n], [n + 0.25, 1.5])) for n in range(3)
            ],
            DEFAULT_NAMESPACE: [Record(id="one", sparse=_sparse([5], [0.25]))],
        }
        contents = {ns: harness.held(records, SPARSE_SHAPE) for ns, records in written.items()}
        contents = {ns: records for ns, records in contents.items() if records}
        store = harness.filled(contents, SPARSE_SHAPE)
        description = store.describe()
        assert description.shape == SPARSE_SHAPE
        assert description.namespace_counts == {ns: len(records) for ns, records in contents.items()}
        assert (
            description.namespace_counts["small"] == 3
            and description.namespace_counts[DEFAULT_NAMESPACE] == 1
        )
        for namespace, records in contents.items():
            assert sorted(flat(listed(store, namespace, limit=5))) == sorted(r.id for r in records)
            fetched = store.fetch(namespace, [r.id for r in records])
            assert by_id(fetched) == by_id(records) and all(r.values is None for r in fetched)

    # -- writing ---------------------------------------------------------------------------------------------

    def test_write_acknowledges_and_stores(self, harness: Harness, fresh: Store | None) -> None:
        if fresh is None:
            return
        assert fidelity.room_of(fresh) == harness.room
        records = [exact_record()]
        records += [Record(id=f"r{n}", values=_dense(n), metadata={"n": n}) for n in range(30)]
        records = harness.held(records)
        acks = [fresh.write("ns", records[:10]), fresh.write("ns", records[10:])]
        assert [ack.count for ack in acks] == [10, len(records) - 10]
        settle(fresh)
        assert sorted(flat(listed(fresh, "ns", limit=8))) == sorted(r.id for r in records)
        assert by_id(fresh.fetch("ns", [r.id for r in records])) == by_id(records)
        assert fresh.describe().namespace_counts == {"ns": len(records)}

    def test_write_is_an_upsert_by_id(self, fresh: Store | None) -> None:
        if fresh is None:
            return
        first = Record(id="same", values=_dense(1), metadata={"version": 1, "gone": "soon"})
        second = Record(id="same", values=_dense(2), metadata={"version": 2})
        fresh.write("ns", [first, Record(id="other", values=_dense(3))])
        fresh.write("ns", [second])
        settle(fresh)
        assert by_id(fresh.fetch("ns", ["same", "other"]))["same"] == second
        assert sorted(flat(listed(fresh, "ns"))) == ["other", "same"]

    def test_a_full_request_at_the_limits_is_taken(self, fresh: Store | None) -> None:
        if fresh is None:
            return
        caps = fresh.capabilities()
        records = [Record(id=f"full-{n:05d}", values=_dense(n)) for n in range(caps.max_write_records)]
        assert sum(fresh.request_size(r) for r in records) <= caps.max_write_bytes
        assert fresh.write("ns", records).count == caps.max_write_records
        settle(fresh)
        assert fresh.describe().namespace_counts == {"ns": caps.max_write_records}

    def test_request_size_grows_with_the_record(self, store: Store) -> None:
        small = Record(id="s", values=_dense(1))
        large = Record(id="s", values=_dense(1), metadata={"text": "x" * 1_000})
        assert 0 < store.request_size(small) < store.request_size(large)

    def test_a_record_of_the_wrong_shape_is_refused(self, fresh: Store | None) -> None:
        if fresh is None:
            return
        wrong = Record(id="wrong", values=np.ones(3, np.float32))
        with pytest.raises(RecordsRejected):
            fresh.write("ns", [Record(id="fine", values=_dense(1)), wrong])
            settle(fresh)

    def test_delete(self, fresh: Store | None) -> None:
        if fresh is None:
            return
        records = [Record(id=f"d{n}", values=_dense(n)) for n in range(4)]
        fresh.write("ns", records)
        if not fresh.capabilities().can_delete:
            with pytest.raises(UserError):
                fresh.delete("ns", ["d0"])
            settle(fresh)
            assert len(fresh.fetch("ns", ["d0"])) == 1
            return
        assert fresh.delete("ns", ["d0", "d2", "never-there"]).count == 3
        assert fresh.delete("ns", []).count == 0
        settle(fresh)
        assert sorted(flat(listed(fresh, "ns"))) == ["d1", "d3"]
        assert sorted(r.id for r in fresh.fetch("ns", [r.id for r in records])) == ["d1", "d3"]
        fresh.delete("ns", ["d1", "d3"])
        assert fresh.describe().namespace_counts == {}

    def test_a_full_delete_at_the_limit_is_taken(self, fresh: Store | None) -> None:
        if fresh is None or not fresh.capabilities().can_delete:
            return
        most = fresh.capabilities().max_delete_ids
        fresh.write("ns", [Record(id="kept", values=_dense(1)), Record(id="gone-0", values=_dense(2))])
        assert fresh.delete("ns", [f"gone-{n}" for n in range(most)]).count == most
        settle(fresh)
        assert flat(listed(fresh, "ns")) == ["kept"]

    def test_update_metadata_where_able(self, harness: Harness, fresh: Store | None) -> None:
        if fresh is None or not isinstance(fresh, UpdatesMetadata) or not harness.room.sparse:
            return
        metadata: Metadata = {"kept": "as it was", "changed": "before"}
        original = Record(id="u", values=_dense(1), sparse=_sparse([3], [0.5]), metadata=metadata)
        fresh.write("ns", [original])
        assert fresh.update_metadata("ns", "u", {"migrated": True, "changed": "after"}).count == 1
        updated = fresh.fetch("ns", ["u"])[0]
        assert updated.metadata == {"kept": "as it was", "changed": "after", "migrated": True}
        assert updated == Record("u", original.values, original.sparse, updated.metadata)
