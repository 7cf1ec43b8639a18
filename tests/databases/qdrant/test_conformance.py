"""A Qdrant collection (qdrant-client's local mode, in a temporary folder) passes the store conformance
suite."""

from __future__ import annotations

from dataclasses import replace

import pytest

from pinecone_migrator.records import Record
from pinecone_migrator.stores.base import IndexShape, Store
from pinecone_migrator.stores.qdrant import open_uri
from pinecone_migrator.stores.qdrant.mapping import point_id
from pinecone_migrator.stores.qdrant.schema import QDRANT
from pinecone_migrator.stores.qdrant.store import QdrantStore
from pinecone_migrator.stores.uri import parse
from tests.stores.conformance import SHAPE, SOURCE, Harness, StoreConformance, flat, listed

from .server import QdrantFolder


class QdrantHarness(Harness):
    room = QDRANT

    def __init__(self, folder: QdrantFolder) -> None:
        self.folder = folder

    def _store(self, name: str) -> QdrantStore:
        return open_uri(parse(self.folder.uri(name), side="target"))

    def filled(self, contents: dict[str, list[Record]], shape: IndexShape = SHAPE) -> Store:
        store = self._store(self.folder.new_name("filled"))
        store.create_like(replace(SOURCE, shape=shape))
        most = store.capabilities().max_write_records
        for namespace, records in contents.items():
            for start in range(0, len(records), most):
                store.write(namespace, records[start : start + most])
        return store

    def empty(self) -> Store:
        store = self._store(self.folder.new_name("empty"))
        store.create_like(SOURCE)
        return store

    def missing(self) -> Store:
        return self._store("never-created")


@pytest.fixture(scope="module")
def harness(qdrant_folder: QdrantFolder) -> Harness:
    return QdrantHarness(qdrant_folder)


class TestQdrantStore(StoreConformance):
    def test_list_walks_every_id_once(self, store: Store, contents: dict[str, list[Record]]) -> None:
        """Qdrant scrolls in point-ID order, its only stable order (``lists_bytewise`` False): every ID once,
        in the order of the points that hold them, whatever order they were written in."""
        assert not store.capabilities().lists_bytewise
        for namespace, records in contents.items():
            pages = listed(store, namespace, limit=7)
            assert all(len(page) <= 7 for page in pages)
            by_point = sorted((r.id for r in records), key=lambda record_id: point_id(namespace, record_id))
            assert flat(pages) == by_point
